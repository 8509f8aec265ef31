"""An exported CTR model on serving inputs it never saw in training.

Unknown category strings must score exactly as the out-of-vocabulary id
does, and NaN or infinite numbers exactly as a missing number (NaN), with
finite probabilities. The model is small and untrained, with random weights
so that every input changes the score (the checks are not vacuous).
"""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from xent.ctr import features as features_lib
from xent.ctr.specs import DenseFeat
from xent.models.ctr import CTRModelConfig
from xent.models.ctr import build_ctr_model
from xent.pipelines.ctr import CTRConfig
from xent.pipelines.ctr import CTRTask
from xent.stages import ArraySplit
from xent.stages import Prepared
from xent.stages import Splits


@pytest.fixture(scope="module")
def serve(tmp_path_factory):
    """The exported model's `serving_default` on `{column: list}` rows."""
    columns = {
        "site": np.array(["a"] * 10 + ["b"] * 8 + ["rare"], dtype=object),
        "price": np.array([1.0, 2.5, np.nan, 40.0] * 4 + [3.0, 0.5, 7.0]),
        "tags": np.array(["x|y", "y", "", "x"] * 4 + ["x", "y", "x|y"], dtype=object),
    }
    counts, stats = features_lib.stats_from_arrays(
        columns, ["site"], ["price"], ["tags"]
    )
    pre, specs, _ = features_lib.build_ctr_preprocessor(
        ["site"],
        ["price"],
        counts,
        stats,
        features_lib.FeatureConfig(min_count=5, numeric_transform="bucketize"),
        multi_value=["tags"],
    )
    specs = [
        spec
        if isinstance(spec, DenseFeat)
        else dataclasses.replace(spec, embedding_dim=4)
        for spec in specs
    ]
    model = build_ctr_model(specs, CTRModelConfig(kind="deepfm", hidden=(8,)))
    rng = np.random.default_rng(0)
    for weight in model.weights:
        weight.assign(rng.normal(0, 0.5, weight.shape).astype("float32"))
    data = Prepared(
        name="tiny",
        summary={},
        splits=Splits(*[ArraySplit(columns, np.zeros(19, "int64"))] * 3),
        class_names=("no_click", "click"),
        preprocessor=pre,
    )
    export = CTRTask().export_model(
        model, CTRConfig(), data, tmp_path_factory.mktemp("saved"), {}
    )
    fn = tf.saved_model.load(str(export)).signatures["serving_default"]

    def call(rows: dict) -> np.ndarray:
        feed = {
            "site": tf.constant(rows["site"], tf.string),
            "price": tf.constant(rows["price"], tf.float32),
            "tags": tf.constant(rows["tags"], tf.string),
        }
        return fn(**feed)["probabilities"].numpy().reshape(-1)

    return call


def test_unknown_categories_score_as_out_of_vocabulary(serve):
    # "rare" was seen once, below min_count: the out-of-vocabulary id.
    sites = ["rare", "never-seen", "ZZZ", "\u2603", "a ", "A", "a"]
    p = serve({"site": sites, "price": [2.0] * 7, "tags": ["x"] * 7})
    assert np.all(np.isfinite(p)) and np.all((p > 0) & (p < 1))
    np.testing.assert_array_equal(p[1:6], np.full(5, p[0]))
    assert p[6] != p[0]  # A known value scores differently.
    tags = ["q", "q|r|s", "zz|", "x", "x|q"]
    p = serve({"site": ["a"] * 5, "price": [2.0] * 5, "tags": tags})
    assert np.all(np.isfinite(p))
    np.testing.assert_array_equal(p[1:3], np.full(2, p[0]))
    assert p[3] != p[0] and p[4] != p[3]


def test_nan_and_infinite_numbers_score_as_missing(serve):
    prices = [np.nan, np.inf, -np.inf, 2.0, 1e30, -1e30]
    p = serve({"site": ["b"] * 6, "price": prices, "tags": ["y"] * 6})
    assert np.all(np.isfinite(p)) and np.all((p > 0) & (p < 1))
    np.testing.assert_array_equal(p[1:3], np.full(2, p[0]))
    assert p[3] != p[0]  # A number scores differently from a missing one.
    assert p[4] != p[0] and p[5] != p[0]  # Huge but finite: clipped, not missing.
