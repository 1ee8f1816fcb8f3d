"""Backbones by name (timm, open_clip, official checkpoints), their features, the paper's zoo."""
