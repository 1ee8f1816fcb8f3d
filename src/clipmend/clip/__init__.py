"""CLIP: loading a model, and its zero-shot pick of each failure's background."""
