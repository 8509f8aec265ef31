"""Distribution strategies for the runner: `default`, `mirrored`, `multi_worker`.

`train.strategy` (or `xent train --strategy`) picks one:

* `default`: no `tf.distribute` strategy; Keras trains in this process.
* `mirrored`: `tf.distribute.MirroredStrategy`, one replica per local GPU
  (one replica, the CPU, on a machine without one).
* `multi_worker`: `tf.distribute.MultiWorkerMirroredStrategy`, synchronous
  data-parallel training over the cluster in the `TF_CONFIG` environment
  variable (one process per worker, every worker runs the same command).

Semantics shared by the runner and the supervised tasks:

* `train.batch_size` is the **global** batch: each step, every one of the N
  replicas computes the loss on `batch_size / N` rows and the gradients are
  summed across replicas after Keras scales each replica's mean loss by
  `1 / N`, so a step is the step of one process on the whole batch (up to
  float summation order, and a last partial batch whose replicas get unequal
  rows: Keras then averages the replica means).
* In-memory data becomes a `tf.data` pipeline (`array_dataset`): shuffled
  with the run's seed, so every worker builds the same sequence of global
  batches, and sharded with `AutoShardPolicy.DATA`: worker `i` keeps its
  slice of every global batch. Streams read from files are sharded the same
  way (`shard_by_data`). FILE sharding would read less per worker but
  changes which rows share a batch with the number of workers.
* Only the chief writes run artefacts (the report, TensorBoard logs,
  checkpoints, the export); the other workers run the same steps (saving and
  evaluating may use collective ops, so every worker takes part) into a
  scratch directory that is removed at the end: the Keras multi-worker
  pattern.

`ParameterServerStrategy` is refused (see `build_distribution`): Keras 3's
`Model.fit` drives steps with `strategy.run` on
`strategy.experimental_distribute_dataset` batches and never creates a
`ClusterCoordinator`, so it cannot schedule steps on parameter-server
workers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

import numpy as np

from xent.config import ConfigError

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

__all__ = [
    "STRATEGIES",
    "Distribution",
    "array_dataset",
    "build_distribution",
    "is_chief",
    "prepare_model",
    "shard_by_data",
    "weights_digest",
]

STRATEGIES = ("default", "mirrored", "multi_worker")
"""Values of `train.strategy`."""

_TF_CONFIG_EXAMPLE = (
    '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
    '"task": {"type": "worker", "index": 0}}'
)


@dataclasses.dataclass(frozen=True)
class Distribution:
    """Where this process stands in a run.

    Attributes:
        name: The `train.strategy` value.
        strategy: The `tf.distribute.Strategy`; the model and its optimizer
            must be created in its `scope()`.
        num_workers: Processes training in sync (1 without a cluster).
        worker_index: This process's index among them (the chief is 0).
        is_chief: Whether this process writes the run's artefacts.
    """

    name: str
    strategy: Any
    num_workers: int = 1
    worker_index: int = 0
    is_chief: bool = True

    @property
    def num_replicas(self) -> int:
        """Replicas in sync over all workers (the global batch is split N ways)."""
        return int(self.strategy.num_replicas_in_sync)

    def scope(self):
        """The strategy's scope (a no-op context for `default`)."""
        import contextlib

        if self.name == "default":
            return contextlib.nullcontext()
        return self.strategy.scope()


def is_chief(task_type: str | None, task_id: int | None, jobs: Mapping) -> bool:
    """Whether a task of a `TF_CONFIG` cluster is its chief.

    The chief is the `chief` task when the cluster has one, otherwise worker 0
    (the `tf.distribute` convention); a process without a cluster is its own
    chief.

    >>> is_chief("worker", 0, {"worker": ["a:1", "b:1"]})
    True
    >>> is_chief("worker", 0, {"chief": ["c:1"], "worker": ["a:1"]})
    False
    """
    if not task_type:
        return True
    if task_type == "chief":
        return True
    return task_type == "worker" and "chief" not in jobs and int(task_id or 0) == 0


def _read_tf_config(environ: Mapping[str, str]) -> dict:
    text = environ.get("TF_CONFIG", "").strip()
    if not text:
        raise ConfigError(
            "train.strategy=multi_worker needs the TF_CONFIG environment "
            "variable (the cluster and this process's task), e.g. "
            f"TF_CONFIG='{_TF_CONFIG_EXAMPLE}'; use train.strategy=mirrored or "
            "default for one process"
        )
    try:
        tf_config = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"TF_CONFIG is not valid JSON: {err}") from None
    cluster = tf_config.get("cluster") if isinstance(tf_config, dict) else None
    task = tf_config.get("task") if isinstance(tf_config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise ConfigError(
            "TF_CONFIG must be a JSON object with `cluster` and `task`, e.g. "
            f"{_TF_CONFIG_EXAMPLE}; received {text!r}"
        )
    if "ps" in cluster:
        raise ConfigError(
            "TF_CONFIG names parameter servers (a `ps` job), but Keras 3 "
            "Model.fit does not support ParameterServerStrategy (no "
            "ClusterCoordinator); train.strategy=multi_worker takes `chief` and "
            "`worker` jobs only (README: Distributed training)"
        )
    unknown = sorted(set(cluster) - {"chief", "worker"})
    if unknown:
        raise ConfigError(
            f"TF_CONFIG has unsupported job(s) {unknown}; train.strategy="
            "multi_worker takes `chief` and `worker` jobs (the chief evaluates)"
        )
    kind = task.get("type")
    index = task.get("index")
    if kind not in cluster or not isinstance(index, int):
        raise ConfigError(
            f"TF_CONFIG task {task!r} is not in the cluster {sorted(cluster)}: "
            "expected {'type': <job>, 'index': <int>}"
        )
    if not 0 <= index < len(cluster[kind]):
        raise ConfigError(
            f"TF_CONFIG task index {index} is out of range for the "
            f"{len(cluster[kind])} `{kind}` task(s)"
        )
    return tf_config


def build_distribution(
    name: str, environ: Mapping[str, str] | None = None
) -> Distribution:
    """Creates the strategy named by `train.strategy`.

    Call it before any other TensorFlow op of the process:
    `MultiWorkerMirroredStrategy` configures the collective ops of the eager
    context, which TensorFlow allows only at start-up.

    Args:
        name: One of `STRATEGIES`.
        environ: Where `TF_CONFIG` is read (default `os.environ`).

    Returns:
        The `Distribution` of this process.

    Raises:
        ConfigError: For an unknown name; for `multi_worker` without a valid
            `TF_CONFIG`, or with a `ps` (parameter server) job; or when
            TensorFlow was already initialized.
    """
    if name not in STRATEGIES:
        raise ConfigError(
            f"Invalid value for `train.strategy`: expected one of "
            f"{list(STRATEGIES)}, received {name!r}"
        )
    import tensorflow as tf

    if name == "default":
        return Distribution(name, tf.distribute.get_strategy())
    if name == "mirrored":
        return Distribution(name, tf.distribute.MirroredStrategy())
    tf_config = _read_tf_config(os.environ if environ is None else environ)
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as err:
        raise ConfigError(
            "train.strategy=multi_worker must be set up before TensorFlow "
            f"runs any op in this process (start a fresh process): {err}"
        ) from None
    jobs = tf_config["cluster"]
    kind, index = tf_config["task"]["type"], tf_config["task"]["index"]
    members = [("chief", i) for i in range(len(jobs.get("chief", [])))]
    members += [("worker", i) for i in range(len(jobs.get("worker", [])))]
    return Distribution(
        name,
        strategy,
        num_workers=len(members),
        worker_index=members.index((kind, index)),
        is_chief=is_chief(kind, index, jobs),
    )


def prepare_model(model: keras.Model, dist: Distribution) -> None:
    """Lets Keras 3 `fit` and `evaluate` a model under multi-worker training.

    Keras 3.15's TensorFlow trainer has two steps that fail in
    `MultiWorkerMirroredStrategy`'s multi-worker mode
    (keras-team/keras#20585, #20329: "Attempt to convert a value
    (PerReplica ...)"); this fixes both on `model` only, and is a no-op for
    one worker:

    * before the first epoch it builds the model from one batch averaged
      across workers with `strategy.reduce("MEAN", (x, y))`, which fails on
      the structure. The batch is only used for its shapes and dtypes, so
      this worker's local slice is used instead.
    * after every step it reduces each metric value with
      `strategy.reduce("MEAN", value, axis=0)`, which fails on a scalar.
      Train and test steps here return each value as a `[1]` tensor, which
      that call reduces to the mean over the replicas. (Epoch logs are read
      from the metric variables in cross-replica context, which sums their
      state over all workers, so the logged epoch metrics are global.)
    """
    if dist.num_workers <= 1:
        return
    # Imported here like Keras in this module: `xent._compat` imports Keras.
    from xent._compat import replace_symbolic_build

    replace_symbolic_build(model, _build_from_local_batch)
    for name, method in (
        ("train_step", _vector_logs(model.train_step)),
        ("test_step", _vector_logs(model.test_step)),
    ):
        object.__setattr__(model, name, method)


def _build_from_local_batch(self, iterator=None, data_batch=None):
    import keras
    import tensorflow as tf

    from xent._compat import symbolic_build

    strategy = self.distribute_strategy

    def local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    if iterator is not None:
        for _, _, batches in iterator:
            data_batch = keras.tree.map_structure(local, next(batches))
            break
    with strategy.scope():
        symbolic_build(self, data_batch)


def _vector_logs(step):
    import keras

    def vector_step(data):
        return keras.tree.map_structure(
            lambda v: keras.ops.reshape(v, (1,)), step(data)
        )

    return vector_step


def array_dataset(
    x: Any,
    y: np.ndarray,
    batch_size: int,
    shuffle: bool,
    seed: int,
) -> tf.data.Dataset:
    """In-memory `(x, y)` as a `tf.data` pipeline that `tf.distribute` shards.

    Args:
        x: An array or a dict of arrays (the model's features).
        y: Targets, one row per example.
        batch_size: The global batch size.
        shuffle: Reshuffle every epoch (training data).
        seed: Shuffle seed; the same on every worker, so that all workers
            agree on the global batches and each keeps its own slice.

    Returns:
        A batched `tf.data.Dataset` of `(x, y)` with `AutoShardPolicy.DATA`.
    """
    import tensorflow as tf

    # Batches are gathered from the arrays by index: shuffling the examples
    # themselves one by one took 10-30x longer per epoch than the model's
    # own steps for a CTR log of 1.6M rows.
    tensors = tf.nest.map_structure(tf.constant, (x, y))
    n = len(y)
    if shuffle:
        # A new permutation every epoch, from `seed`: the same on every worker.
        order = (
            tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
            .take(1)
            .map(
                lambda s: tf.random.experimental.stateless_shuffle(
                    tf.range(n, dtype=tf.int64),
                    seed=tf.stack([s, tf.constant(seed, tf.int64)]),
                )
            )
            .flat_map(lambda p: tf.data.Dataset.from_tensor_slices(p).batch(batch_size))
        )
    else:
        order = tf.data.Dataset.range(n).batch(batch_size)
    dataset = order.map(
        lambda i: tf.nest.map_structure(lambda t: tf.gather(t, i), tensors),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    ).prefetch(tf.data.AUTOTUNE)
    batches = -(-n // batch_size)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(batches))
    return shard_by_data(dataset)


def shard_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """`dataset` with `AutoShardPolicy.DATA`: every worker reads all of it and
    keeps its slice of each (global) batch."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    return dataset.with_options(options)


def weights_digest(model: keras.Model) -> str:
    """SHA-256 of a model's weights (values, dtypes and shapes, in order):
    equal on every worker after synchronous training."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        array = np.ascontiguousarray(weight)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
