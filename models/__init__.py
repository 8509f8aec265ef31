"""Model builders; every model outputs logits (no final activation)."""

from xent.models.cnn import build_small_cnn
from xent.models.mlp import build_mlp

__all__ = ["build_mlp", "build_small_cnn"]
