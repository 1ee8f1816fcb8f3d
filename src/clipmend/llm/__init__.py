"""LLM backends by name, parsing their answers, and the de-duplicated backgrounds per class."""
