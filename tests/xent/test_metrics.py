"""`xent.metrics`: checked against scikit-learn's exact `roc_auc_score`."""

import keras
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from xent.metrics import LogitAUC


def _sure(seed=0, n=6000):
    """Labels and the logits of a sure network: a third of the rows beyond
    |logit| 9 (mostly right), the rest spread, some of them wrong."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 1 / 3).astype("float32")
    z = rng.normal(0, 3, n) + 4.0 * (2 * y - 1)
    sure = rng.random(n) < 1 / 3
    z[sure] = (2 * y[sure] - 1) * rng.uniform(9, 16, sure.sum())
    wrong = sure & (rng.random(n) < 0.02)
    z[wrong] = -z[wrong]
    return y, z.astype("float32")


def _weak(seed=0, n=20000):
    """Labels and logits within about +-1 of their mean (AUC about 0.6)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(-1.5, 0.5, n).astype("float32")
    y = (rng.random(n) < 1 / (1 + np.exp(-1.2 * z))).astype("float32")
    return y, z


def _result(metric, y, z, batch=None):
    batch = batch or len(y)
    for start in range(0, len(y), batch):
        metric.update_state(y[start : start + batch], z[start : start + batch])
    return float(metric.result())


@pytest.mark.parametrize("data", [_sure, _weak])
@pytest.mark.parametrize("seed", [0, 1])
def test_logit_auc_is_the_exact_auc(data, seed):
    y, z = data(seed)
    exact = roc_auc_score(y, z)
    assert _result(LogitAUC(), y, z) == pytest.approx(exact, abs=2e-5)
    # Accumulated over batches, as in training.
    assert _result(LogitAUC(), y, z, batch=256) == pytest.approx(exact, abs=2e-5)


def test_keras_auc_from_logits_misreads_a_sure_network():
    # Why LogitAUC exists: the sigmoid of |logit| > 7 fills the end buckets.
    y, z = _sure()
    exact = roc_auc_score(y, z)
    keras_auc = keras.metrics.AUC(from_logits=True, num_thresholds=1000)
    assert abs(_result(keras_auc, y, z) - exact) > 5e-4
    assert abs(_result(LogitAUC(), y, z) - exact) < 2e-5


def test_logit_auc_takes_bfloat16_logits_and_column_shapes():
    y, z = _sure()
    exact = roc_auc_score(y, z.astype("float32"))
    got = _result(LogitAUC(), y[:, None], keras.ops.cast(z[:, None], "bfloat16"))
    # bfloat16 rounds the logits (ties), not the order of distinct ones.
    assert got == pytest.approx(exact, abs=2e-3)


def test_logit_auc_round_trips_its_config():
    metric = LogitAUC(num_thresholds=500, scale=2.5, name="val_rank")
    again = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert isinstance(again, LogitAUC)
    assert (again.scale, again.num_thresholds, again.name) == (2.5, 500, "val_rank")
    y, z = _weak()
    assert _result(again, y, z) == pytest.approx(_result(metric, y, z), abs=1e-7)


@pytest.mark.parametrize("scale", [0, -1.0, float("nan")])
def test_logit_auc_names_a_bad_scale(scale):
    with pytest.raises(ValueError, match="argument `scale`"):
        LogitAUC(scale=scale)


@pytest.mark.parametrize("argument", [{"from_logits": True}, {"thresholds": [0.5]}])
def test_logit_auc_refuses_what_it_sets_itself(argument):
    with pytest.raises(ValueError, match=f"remove `{next(iter(argument))}`"):
        LogitAUC(**argument)
