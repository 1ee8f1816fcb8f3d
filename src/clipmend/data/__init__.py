"""Data sets by name: image indexes, splits, image references and batches."""
