"""Demo world: Fashion-MNIST objects composited onto named procedural backgrounds."""
