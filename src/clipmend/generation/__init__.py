"""Image generators by name, the requests they answer and the shared image store."""
