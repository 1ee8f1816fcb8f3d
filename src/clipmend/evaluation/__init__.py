"""Accuracy tables, failure IoU and CLIP's assignment accuracy."""
