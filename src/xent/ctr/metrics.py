"""CTR evaluation: ranking, log loss, normalized entropy, calibration, GAUC,
and, when the true click probabilities are known, the exact decomposition

    E[log loss] = H(p, q) = H(p) + KL(p || q)

into the Bayes log loss H(p) (no model can do better) and the model's excess
cross-entropy KL(p || q). AUC comes from scikit-learn (`roc_auc_score`);
log loss, entropies, normalized entropy and calibration from `xent.information`,
their one home; the rest are defined here in float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm

from xent import information

__all__ = [
    "calibration_buckets",
    "ctr_metrics",
    "group_auc",
    "truth_metrics",
]


def _check(y: Any, prob: Any, scores: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """0/1 labels and float64 probabilities (or, with `scores`, any finite
    ranking scores) of the same rows."""
    y = np.asarray(y).reshape(-1)
    q = np.asarray(prob, dtype="float64").reshape(-1)
    what = "ranking scores" if scores else "probabilities"
    if y.shape != q.shape:
        raise ValueError(f"Labels and {what} differ in length: {y.size} vs {q.size}")
    if y.size == 0:
        raise ValueError("No rows to evaluate")
    if scores and not np.all(np.isfinite(q)):
        raise ValueError("Invalid ranking scores: NaN or inf")
    if not scores and (not np.all(np.isfinite(q)) or np.any((q < 0) | (q > 1))):
        raise ValueError("Invalid predicted probabilities: NaN, inf or outside [0, 1]")
    if not np.all(np.isin(y, (0, 1))):
        raise ValueError("Invalid labels: expected 0/1 clicks")
    return y.astype("int64"), q


def group_auc(y: Any, prob: Any, groups: Any) -> tuple[float | None, int]:
    """Size-weighted mean AUC over groups (e.g. users), as in DIN (Zhou et al. 2018).

    `prob` may be any finite scores (e.g. logits): only their order counts.
    Groups whose rows are all clicks or all non-clicks have no AUC and are
    dropped. Returns `(gauc, groups_used)`; gauc is None if no group has both
    classes.
    """
    y, q = _check(y, prob, scores=True)
    g = np.asarray(groups).reshape(-1)
    if g.size != y.size:
        raise ValueError(f"Groups and labels differ in length: {g.size} vs {y.size}")
    order = np.argsort(g, kind="stable")
    g, y, q = g[order], y[order], q[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    ends = np.r_[starts[1:], g.size]
    total, weight, used = 0.0, 0, 0
    for s, e in zip(starts, ends, strict=True):
        ys = y[s:e]
        pos = ys.sum()
        if pos == 0 or pos == ys.size:
            continue
        total += (e - s) * skm.roc_auc_score(ys, q[s:e])
        weight += e - s
        used += 1
    return (total / weight if weight else None), used


def truth_metrics(y: Any, prob: Any, p_true: Any) -> dict[str, float]:
    """Metrics against known click probabilities.

    Returns:
        `bayes_log_loss` = mean H(p); `expected_log_loss` = mean H(p, q), the
        model's log loss in expectation over the clicks; `excess_log_loss` =
        mean KL(p || q) (summed term by term; equal to their difference)
        (nats per row); q is clipped with `information.clip_probabilities`;
        `excess_log_loss_pct` = 100 * excess / bayes; `oracle_auc` = AUC of p
        on the drawn clicks; `oracle_log_loss` = log loss of p on the drawn
        clicks (the Bayes log loss plus sampling noise).
    """
    y, q = _check(y, prob)
    p = np.asarray(p_true, dtype="float64").reshape(-1)
    if p.shape != q.shape:
        raise ValueError("p_true and prob differ in length")
    d = information.binary_decomposition(p, q)
    bayes, excess = d.entropy, d.kl_divergence
    return {
        "bayes_log_loss": bayes,
        "expected_log_loss": d.cross_entropy,
        "excess_log_loss": excess,
        "excess_log_loss_pct": 100.0 * excess / bayes if bayes > 0 else None,
        "oracle_auc": float(skm.roc_auc_score(y, p)) if 0 < y.sum() < y.size else None,
        "oracle_log_loss": information.binary_log_loss(y, p),
    }


def calibration_buckets(y: Any, prob: Any, buckets: int = 20) -> dict[str, list]:
    """Predicted vs observed CTR in equal-count buckets of the predictions.

    Equal-count (quantile) buckets suit CTR, where most predictions crowd
    near the base rate. Returns lists `mean_predicted`, `observed`, `count`.
    """
    y, q = _check(y, prob)
    order = np.argsort(q, kind="stable")
    parts = np.array_split(order, min(buckets, y.size))
    return {
        "mean_predicted": [float(q[i].mean()) for i in parts if i.size],
        "observed": [float(y[i].mean()) for i in parts if i.size],
        "count": [int(i.size) for i in parts if i.size],
    }


def ctr_metrics(
    y: Any,
    prob: Any,
    background_ctr: float,
    groups: Any = None,
    p_true: Any = None,
    scores: Any = None,
) -> dict[str, Any]:
    """The CTR report's `metrics.test`.

    Args:
        y: Clicks (0/1).
        prob: Predicted click probabilities.
        background_ctr: The training split's CTR, for normalized entropy.
        groups: Optional group key per row (e.g. user) for `gauc`.
        p_true: Optional true click probabilities (synthetic data).
        scores: Optional ranking scores of the rows, e.g. the logits of
            `prob`: `auc` and `gauc` rank them instead of `prob`. In
            float64 the probability of a logit above about 37 rounds to
            exactly 1, so very sure rows would tie.

    Returns:
        `auc`, `log_loss`, `normalized_entropy` (log loss / H(background CTR),
        He et al. 2014), `calibration` (mean predicted / observed CTR),
        `observed_ctr`, `mean_predicted_ctr`, `rows`, `calibration_buckets`,
        `gauc` and `gauc_groups` when `groups` is given, and the
        `truth_metrics` when `p_true` is given.
    """
    y, q = _check(y, prob)
    ranked = q if scores is None else _check(y, scores, scores=True)[1]
    if not 0 < background_ctr < 1:
        raise ValueError(
            f"Invalid background CTR {background_ctr!r}: the training split "
            "needs both clicks and non-clicks"
        )
    both = 0 < y.sum() < y.size
    log_loss = information.binary_log_loss(y, q)
    out: dict[str, Any] = {
        "rows": int(y.size),
        "auc": float(skm.roc_auc_score(y, ranked)) if both else None,
        "log_loss": log_loss,
        "normalized_entropy": information.normalized_entropy(log_loss, background_ctr),
        "observed_ctr": float(y.mean()),
        "mean_predicted_ctr": float(q.mean()),
        "calibration": information.calibration(y, q),
        "calibration_buckets": calibration_buckets(y, q),
    }
    if groups is not None:
        out["gauc"], out["gauc_groups"] = group_auc(y, ranked, groups)
    if p_true is not None:
        out.update(truth_metrics(y, q, p_true))
    return out
