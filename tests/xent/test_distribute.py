"""`xent.distribute`: strategy names and TF_CONFIG checks, the chief rule,
the sharded tf.data pipeline and the weights digest. (Multi-worker training
itself runs in `tests/pipelines/test_distributed.py`: it needs fresh
processes.)"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from xent import distribute
from xent.config import ConfigError


def _tf_config(cluster, kind="worker", index=0) -> dict:
    return {
        "TF_CONFIG": json.dumps(
            {"cluster": cluster, "task": {"type": kind, "index": index}}
        )
    }


def test_unknown_strategy_is_an_error_naming_the_key():
    with pytest.raises(ConfigError, match=r"train\.strategy.*'ps'"):
        distribute.build_distribution("ps")


def test_unknown_strategy_in_a_config_is_an_error_naming_the_key():
    from tests.pipelines.conftest import load_task

    with pytest.raises(ConfigError, match=r"train\.strategy.*multi_worker"):
        load_task("binary", ["train.strategy=parameter_server"])


def test_default_strategy_is_one_chief_replica():
    dist = distribute.build_distribution("default")
    assert (dist.num_workers, dist.worker_index, dist.is_chief) == (1, 0, True)
    assert dist.num_replicas == 1


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "needs the TF_CONFIG environment variable"),
        ({"TF_CONFIG": "{not json"}, "not valid JSON"),
        ({"TF_CONFIG": '{"cluster": {}}'}, "`cluster` and `task`"),
        (
            _tf_config({"chief": ["a:1"], "ps": ["b:1"], "worker": ["c:1"]}, "chief"),
            "does not support ParameterServerStrategy",
        ),
        (_tf_config({"worker": ["a:1"], "evaluator": ["b:1"]}), "unsupported job"),
        (_tf_config({"worker": ["a:1", "b:1"]}, index=2), "out of range"),
        (_tf_config({"worker": ["a:1"]}, kind="chief"), "is not in the cluster"),
    ],
)
def test_multi_worker_needs_a_valid_tf_config(environ, message):
    with pytest.raises(ConfigError, match=message):
        distribute.build_distribution("multi_worker", environ=environ)


@pytest.mark.parametrize(
    ("task_type", "task_id", "jobs", "chief"),
    [
        (None, None, {}, True),
        ("worker", 0, {"worker": ["a", "b"]}, True),
        ("worker", 1, {"worker": ["a", "b"]}, False),
        ("chief", 0, {"chief": ["c"], "worker": ["a"]}, True),
        ("worker", 0, {"chief": ["c"], "worker": ["a"]}, False),
    ],
)
def test_the_chief_is_the_chief_task_or_else_worker_zero(
    task_type, task_id, jobs, chief
):
    assert distribute.is_chief(task_type, task_id, jobs) is chief


def _epoch(dataset):
    return [keras.tree.map_structure(np.asarray, batch) for batch in dataset]


def test_array_dataset_is_the_same_global_batches_in_every_process():
    x = {"a": np.arange(10, dtype="int64"), "b": np.arange(10.0, dtype="float32")}
    y = np.arange(10, dtype="float32").reshape(-1, 1)
    first = distribute.array_dataset(x, y, batch_size=4, shuffle=True, seed=3)
    second = distribute.array_dataset(x, y, batch_size=4, shuffle=True, seed=3)
    policy = first.options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.DATA
    epoch_1, epoch_2 = _epoch(first), _epoch(first)
    assert [len(y) for _, y in epoch_1] == [4, 4, 2]  # the global batch size
    rows = np.concatenate([y for _, y in epoch_1]).ravel()
    assert sorted(rows) == list(range(10))  # every row once per epoch
    # Same seed, same order (another worker); reshuffled every epoch.
    assert all(
        np.array_equal(y1, y2)
        for (_, y1), (_, y2) in zip(epoch_1, _epoch(second), strict=True)
    )
    assert not np.array_equal(rows, np.concatenate([y for _, y in epoch_2]).ravel())
    # Features stay aligned with their labels.
    assert all(np.array_equal(x["a"], y.ravel()) for x, y in epoch_1)


def test_array_dataset_without_shuffle_keeps_the_order():
    x = np.arange(6, dtype="float32").reshape(6, 1)
    batches = _epoch(distribute.array_dataset(x, x, 4, shuffle=False, seed=0))
    assert np.concatenate([b for b, _ in batches]).ravel().tolist() == list(range(6))


def _small_model():
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(2)(inputs))


def test_weights_digest_is_equal_for_equal_weights_only():
    keras.utils.set_random_seed(0)
    model, other = _small_model(), _small_model()
    other.set_weights(model.get_weights())
    assert distribute.weights_digest(model) == distribute.weights_digest(other)
    weights = other.get_weights()
    weights[1] = weights[1] + np.float32(1e-7)
    other.set_weights(weights)
    assert distribute.weights_digest(model) != distribute.weights_digest(other)


def test_prepare_model_leaves_a_single_worker_model_alone():
    model = _small_model()
    distribute.prepare_model(model, distribute.build_distribution("default"))
    assert {"train_step", "test_step", "_maybe_symbolic_build"}.isdisjoint(vars(model))
