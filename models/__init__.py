"""Model builders; every model outputs logits (no final activation)."""

from xent.models.cnn import build_small_cnn
from xent.models.ctr import CTRModelConfig
from xent.models.ctr import build_ctr_model
from xent.models.mlp import build_mlp

__all__ = ["CTRModelConfig", "build_ctr_model", "build_mlp", "build_small_cnn"]
