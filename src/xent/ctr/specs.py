"""Declarative feature specs for CTR models (after DeepCTR's `SparseFeat`/`DenseFeat`).

A spec says what one model input is; the preprocessor (`xent.ctr.features`)
produces exactly these inputs from raw columns, and the models in
`xent.models.ctr` consume them. The model inputs, by spec type:

* `SparseFeat`: int64 `[batch]` ids in `[0, vocabulary_size)`; id 0 is the
  out-of-vocabulary (and rare-value) bucket.
* `VarLenSparseFeat`: int64 `[batch, max_len]` ids in `[0, vocabulary_size)`;
  id 0 is padding (masked out), id 1 the out-of-vocabulary bucket.
* `DenseFeat`: float32 `[batch, dimension]` (already transformed and
  standardized; missing values are 0 with a separate indicator column).
"""

from __future__ import annotations

import dataclasses

__all__ = ["DenseFeat", "FeatureSpec", "SparseFeat", "VarLenSparseFeat", "check_specs"]


@dataclasses.dataclass(frozen=True)
class SparseFeat:
    """A single-valued categorical field.

    Attributes:
        name: Input name (the raw column name, sanitized).
        vocabulary_size: Number of ids, the OOV bucket (id 0) included.
        embedding_dim: Embedding width for models that embed it.
        hashed: Whether ids come from hashing (no vocabulary) rather than a
            lookup table.
    """

    name: str
    vocabulary_size: int
    embedding_dim: int = 16
    hashed: bool = False


@dataclasses.dataclass(frozen=True)
class VarLenSparseFeat:
    """A multi-valued categorical field (e.g. `genres` = `Comedy|Drama`).

    Attributes:
        name: Input name.
        vocabulary_size: Number of ids, padding (0) and OOV (1) included.
        max_len: Values kept per row (padded with 0).
        embedding_dim: Embedding width.
        combiner: How embeddings of the values are pooled: `mean` or `sum`.
    """

    name: str
    vocabulary_size: int
    max_len: int
    embedding_dim: int = 16
    combiner: str = "mean"


@dataclasses.dataclass(frozen=True)
class DenseFeat:
    """Numeric columns.

    Attributes:
        name: Input name.
        dimension: Number of float columns in this input.
    """

    name: str
    dimension: int = 1


FeatureSpec = SparseFeat | VarLenSparseFeat | DenseFeat


def check_specs(specs) -> tuple:
    """Validates a sequence of specs; returns it as a tuple.

    Raises:
        ValueError: On an empty list, duplicate names or invalid sizes, naming
            the feature.
    """
    specs = tuple(specs)
    if not specs:
        raise ValueError("Invalid value for argument specs: no features")
    seen = set()
    for spec in specs:
        if not isinstance(spec, (SparseFeat, VarLenSparseFeat, DenseFeat)):
            raise ValueError(f"Invalid feature spec: {spec!r}")
        if spec.name in seen:
            raise ValueError(f"Duplicate feature name {spec.name!r}")
        seen.add(spec.name)
        if isinstance(spec, DenseFeat):
            if spec.dimension < 1:
                raise ValueError(f"Feature {spec.name!r}: dimension must be >= 1")
            continue
        if spec.vocabulary_size < 1:
            raise ValueError(f"Feature {spec.name!r}: vocabulary_size must be >= 1")
        if spec.embedding_dim < 1:
            raise ValueError(f"Feature {spec.name!r}: embedding_dim must be >= 1")
        if isinstance(spec, VarLenSparseFeat):
            if spec.max_len < 1:
                raise ValueError(f"Feature {spec.name!r}: max_len must be >= 1")
            if spec.combiner not in ("mean", "sum"):
                raise ValueError(
                    f"Feature {spec.name!r}: combiner must be 'mean' or 'sum', "
                    f"received {spec.combiner!r}"
                )
    return specs
