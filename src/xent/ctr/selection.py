"""Choosing a CTR model for a click log on its validation split.

With `model.kind: auto` (the default for files) the CTR task trains each
candidate on the training split, with the run's training settings and early
stopping on the validation AUC, and keeps the one with the best validation
AUC. The test split is never looked at. The candidates:

- `deepfm`: DeepFM (`xent.models.ctr`).
- `deepfm_cross`: DeepFM with the two single-valued categorical fields of
  most distinct training values crossed (Wide & Deep's crossed column, e.g.
  user x item): it can memorize pairs seen in training, which on small
  logs is often most of the signal, and costs nothing when pairs do not
  repeat (they then fall to the out-of-vocabulary id).
- `finalmlp`: FinalMLP (Mao et al., 2023), two gated MLP streams with a
  bilinear fusion.
- `finalmlp_cross`: FinalMLP with the same crossed pair as `deepfm_cross`
  (on Frappe the search, `xent tune ctr`, found it best on validation).

A candidate is a small change of the run's config, so that every other
setting (embedding width, regularization, training) is the user's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

__all__ = ["AUTO", "CANDIDATES", "Candidate", "candidates", "top_fields"]

AUTO = "auto"
CANDIDATES = ("deepfm", "deepfm_cross", "finalmlp", "finalmlp_cross")


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One model to try.

    Attributes:
        name: The candidate's name in the report.
        config: The run's config with the candidate's model and crosses.
    """

    name: str
    config: object


def top_fields(categorical_summary: Mapping[str, Mapping], k: int = 2) -> list[str]:
    """The `k` categorical columns with the most distinct training values
    (ties by name), from the preprocessor summary's `categorical` section
    (`xent.ctr.features.top_columns`)."""
    from xent.ctr.features import top_columns

    return top_columns({c: s["distinct"] for c, s in categorical_summary.items()}, k)


def candidates(config, categorical_summary: Mapping[str, Mapping]) -> list[Candidate]:
    """The candidates for `config` (whose `model.kind` is `auto`).

    Args:
        config: The CTR config.
        categorical_summary: `{column: {"distinct": n, ...}}` of the
            single-valued categorical columns.

    Returns:
        The candidates in `CANDIDATES` order, the `_cross` ones only when
        there are two categorical fields and no crosses were configured
        (`features.crosses`, `features.cross_top`).
    """
    pair = top_fields(categorical_summary)
    crossed = config.features.crosses or config.features.cross_top
    cross = len(pair) == 2 and not crossed
    found = []
    for kind in ("deepfm", "finalmlp"):
        plain = _with(config, dataclasses.replace(config.model, kind=kind))
        found.append(Candidate(kind, plain))
        if cross:
            features = dataclasses.replace(config.features, crosses=(tuple(pair),))
            found.append(
                Candidate(
                    f"{kind}_cross", dataclasses.replace(plain, features=features)
                )
            )
    return found


def _with(config, model):
    return dataclasses.replace(config, model=model)
