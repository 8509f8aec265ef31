"""xent: Keras 3 pipelines sharing one numerically careful cross-entropy loss."""

__version__ = "0.1.0"
