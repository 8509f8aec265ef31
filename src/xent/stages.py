"""The typed data that the runner and the task plug-ins hand each other.

    task.build_inputs(config)               -> Prepared (raw splits)
    SupervisedTask: preprocess once         -> Prepared.features
    task.evaluate_model(model, ...)         -> Evaluation

A split is one kind of thing whatever its size: `Split` has a row count, can
make `tf.data` datasets of batched `(x, y)`, map its inputs through a Keras
model, predict, and give a sample as arrays. `ArraySplit` holds arrays in
memory; `StreamSplit` streams batches from disk (files prepared by
`xent.ctr.builder`). Code that uses a split calls these methods and never asks
which kind it has.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any
from typing import Generic
from typing import TypeVar

import keras
import numpy as np

__all__ = [
    "ArraySplit",
    "BaselineData",
    "Evaluation",
    "Prepared",
    "Split",
    "Splits",
    "StreamSplit",
    "Validated",
    "materialize",
    "preprocessed",
    "predict_arrays",
    "reshuffle_cached",
    "row_bytes",
]

_PREDICT_BATCH = 4096
_JOIN_SEED = 1  # The order in which a joined stream draws its two streams' batches.

S = TypeVar("S")


def predict_arrays(model: keras.Model, x: Any, batch_size: int = _PREDICT_BATCH):
    """`model.predict` in batches, as arrays (a dict of arrays for dict outputs).

    String inputs go through `tf.data` (Keras' array adapter rejects bytes
    arrays).
    """
    if isinstance(x, dict) and any(
        np.asarray(v).dtype.kind in "SUO" for v in x.values()
    ):
        import tensorflow as tf

        x = tf.data.Dataset.from_tensor_slices(x).batch(batch_size)
        out = model.predict(x, verbose=0)
    else:
        out = model.predict(x, batch_size=batch_size, verbose=0)
    if isinstance(out, dict):
        return {k: np.asarray(v) for k, v in out.items()}
    return np.asarray(out)


def materialize(dataset, max_rows: int | None = None) -> tuple[Any, np.ndarray]:
    """The first `max_rows` rows (all with None; whole batches) of a batched
    `(x, y)` dataset, as arrays: `x` a dict of arrays or one array, `y` 1-D."""
    xs, ys, n = [], [], 0
    for x, y in dataset:
        xs.append(x)
        ys.append(np.asarray(y))
        n += len(ys[-1])
        if max_rows is not None and n >= max_rows:
            break
    if isinstance(xs[0], dict):
        x = {k: np.concatenate([np.asarray(b[k]) for b in xs]) for k in xs[0]}
    else:
        x = np.concatenate([np.asarray(b) for b in xs])
    return x, np.concatenate(ys).reshape(-1)


class Split:
    """One split of a task's data: rows of `(x, y)`, in memory or streamed.

    `x` is a dict of columns or one array; `y` holds class ids (one per row).
    """

    rows: int

    def map_inputs(self, model: keras.Model) -> Split:
        """The split with `x` replaced by `model(x)` (e.g. a preprocessor)."""
        raise NotImplementedError

    def arrays(self, max_rows: int | None = None) -> tuple[Any, np.ndarray]:
        """`(x, y)` as arrays: a streamed split gives its first `max_rows`
        rows (whole batches); an in-memory split is returned whole."""
        raise NotImplementedError

    def head(self, rows: int) -> dict[str, np.ndarray]:
        """The columns of the first `rows` rows (at least one batch of a
        stream), for example requests."""
        raise NotImplementedError

    def training_data(
        self,
        targets: Callable[[np.ndarray], np.ndarray],
        batch_size: int,
        seed: int,
        distributed: bool,
    ):
        """A `tf.data` dataset of batched `(x, targets(y))`, reshuffled every
        iteration from `seed` (a stream shuffles itself), ready for a
        `tf.distribute` strategy when `distributed`."""
        raise NotImplementedError

    def validation_data(
        self,
        targets: Callable[[np.ndarray], np.ndarray],
        batch_size: int,
        seed: int,
        distributed: bool,
    ):
        """Validation data for `fit`: `(x, targets(y))` arrays, or a batched
        dataset in order when `distributed` or when the split is streamed."""
        raise NotImplementedError

    def feature_shape(self):
        """The shape of one row of `x` (a dict of shapes for dict inputs)."""
        raise NotImplementedError

    def predict(
        self, model: keras.Model, extra_column: str | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """`(y, model outputs, values of x[extra_column] or None)` over all
        rows, in order."""
        raise NotImplementedError

    def joined(self, other: Split) -> Split:
        """One split of this split's rows and `other`'s (of the same kind and
        columns), e.g. training and validation rows for `train.refit`. Its
        training data mixes the two (see the subclasses)."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class ArraySplit(Split):
    """A split held in memory.

    Attributes:
        x: A dict of column arrays, or one array (e.g. images).
        y: Class ids, `[rows]`.
    """

    x: Any
    y: np.ndarray

    @property
    def rows(self) -> int:
        return len(self.y)

    def map_inputs(self, model: keras.Model) -> ArraySplit:
        return ArraySplit(predict_arrays(model, self.x), self.y)

    def arrays(self, max_rows: int | None = None) -> tuple[Any, np.ndarray]:
        return self.x, self.y

    def head(self, rows: int) -> dict[str, np.ndarray]:
        return {k: np.asarray(v)[:rows] for k, v in self.x.items()}

    def training_data(self, targets, batch_size: int, seed: int, distributed: bool):
        from xent import distribute as distribute_lib

        # Shuffled with the run's seed rather than Keras' own shuffling: the
        # order of every epoch is then fixed, in a resumed run too, and
        # tf.distribute shards it (same global batches on every worker).
        return distribute_lib.array_dataset(
            self.x, targets(self.y), batch_size, shuffle=True, seed=seed
        )

    def validation_data(self, targets, batch_size: int, seed: int, distributed: bool):
        from xent import distribute as distribute_lib

        if not distributed:
            return self.x, targets(self.y)
        return distribute_lib.array_dataset(
            self.x, targets(self.y), batch_size, shuffle=False, seed=seed
        )

    def feature_shape(self):
        if isinstance(self.x, dict):
            return {k: np.asarray(v).shape[1:] for k, v in self.x.items()}
        return self.x.shape[1:]

    def predict(self, model, extra_column=None):
        extra = None if extra_column is None else np.asarray(self.x[extra_column])
        return np.asarray(self.y), predict_arrays(model, self.x), extra

    def joined(self, other: ArraySplit) -> ArraySplit:
        """The rows of both, this split's first (`training_data` shuffles
        them together)."""

        def join(a, b):
            return np.concatenate([np.asarray(a), np.asarray(b)])

        if isinstance(self.x, dict):
            if set(self.x) != set(other.x):
                raise ValueError(
                    f"Cannot join splits with different columns: {sorted(self.x)} "
                    f"and {sorted(other.x)}"
                )
            x = {k: join(v, other.x[k]) for k, v in self.x.items()}
        else:
            x = join(self.x, other.x)
        return ArraySplit(x, join(self.y, other.y))


@dataclasses.dataclass(frozen=True)
class StreamSplit(Split):
    """A split streamed from disk in batches.

    Once its inputs are preprocessed (`map_inputs`), a split whose batches
    fit in `cache_bytes` is kept in memory after its first pass, so later
    epochs (and validation passes) do not read and preprocess the file
    again. A cached training stream reshuffles itself every epoch from the
    cached batches (`reshuffle_cached`).

    Attributes:
        make: Returns a new `tf.data` dataset of batched `(x, y)` (a training
            stream reshuffles itself on every iteration).
        rows: The split's row count.
        cache_bytes: Memory for the preprocessed split; 0 never caches. A
            split whose inputs are strings (not yet preprocessed) is never
            cached.
    """

    make: Callable[[], Any]
    rows: int
    cache_bytes: int = 0

    def map_inputs(self, model: keras.Model) -> StreamSplit:
        make = self.make

        def stream():
            import tensorflow as tf

            return make().map(
                lambda x, y: (model(x), y), num_parallel_calls=tf.data.AUTOTUNE
            )

        return dataclasses.replace(self, make=stream)

    def cached(self) -> bool:
        """Whether the preprocessed split is kept in memory after one pass."""
        size = row_bytes(self.make().element_spec)
        return size is not None and 0 < size * self.rows <= self.cache_bytes

    def map_columns(self, fn: Callable[[dict], dict]) -> StreamSplit:
        """The split with `x` replaced by `fn(x)` (a traced dict transform)."""
        make = self.make
        return dataclasses.replace(
            self, make=lambda: make().map(lambda x, y: (fn(x), y))
        )

    def arrays(self, max_rows: int | None = None) -> tuple[Any, np.ndarray]:
        return materialize(self.make(), max_rows)

    def head(self, rows: int) -> dict[str, np.ndarray]:
        x, _ = next(iter(self.make()))
        return {k: np.asarray(v)[:rows] for k, v in x.items()}

    def training_data(self, targets, batch_size: int, seed: int, distributed: bool):
        dataset = self.make()
        if self.cached() and not distributed:
            dataset = reshuffle_cached(_own_buffers(dataset).cache(), batch_size, seed)
        return self._targets(dataset, distributed)

    def validation_data(self, targets, batch_size: int, seed: int, distributed: bool):
        dataset = self.make()
        if self.cached() and not distributed:
            dataset = dataset.cache()  # Read in order: never re-batched.
        dataset = self._targets(dataset, distributed)
        if distributed:
            return dataset
        import tensorflow as tf

        # Keras warns "Your input ran out of data" after every validation
        # pass over a dataset of unknown length: count its batches once (the
        # stream is in order, so every pass has as many; the count fills a
        # cache).
        batches = int(dataset.reduce(np.int64(0), lambda n, _: n + 1))
        return dataset.apply(tf.data.experimental.assert_cardinality(batches))

    @staticmethod
    def _targets(dataset, distributed: bool):
        from xent import distribute as distribute_lib

        dataset = dataset.map(_binary_targets)
        return distribute_lib.shard_by_data(dataset) if distributed else dataset

    def feature_shape(self):
        spec = self.make().element_spec[0]
        if isinstance(spec, dict):
            return {k: tuple(v.shape[1:]) for k, v in spec.items()}
        return tuple(spec.shape[1:])

    def predict(self, model, extra_column=None):
        ys, outs, extras = [], [], []
        for x, y in self.make():
            outs.append(np.asarray(model(x, training=False)))
            ys.append(np.asarray(y))
            if extra_column is not None:
                extras.append(np.asarray(x[extra_column]))
        extra = np.concatenate(extras) if extras else None
        return np.concatenate(ys).reshape(-1), np.concatenate(outs), extra

    def joined(self, other: StreamSplit) -> StreamSplit:
        """The batches of both streams, drawn at random in proportion to
        their rows (`tf.data.Dataset.sample_from_datasets`, seeded), so that
        neither split's rows come last in an epoch; a cached join is also
        reshuffled across batches every epoch (`reshuffle_cached`)."""
        first, second = self.make, other.make
        share = self.rows / max(self.rows + other.rows, 1)

        def make():
            import tensorflow as tf

            return tf.data.Dataset.sample_from_datasets(
                [first(), second()],
                weights=[share, 1.0 - share],
                seed=_JOIN_SEED,
                stop_on_empty_dataset=False,
            )

        return StreamSplit(make, self.rows + other.rows, self.cache_bytes)


def _own_buffers(dataset):
    """The dataset with every tensor copied into a buffer of its own.

    A batch cut out of a larger one (`rebatch`) shares that buffer; when a
    cached stream later concatenates such slices (`reshuffle_cached`),
    TensorFlow 2.21 logs "Tensor RefCount not reliable if buf_ points to a
    SubBuffer" for each, thousands of lines per epoch. The copy is made once,
    on the pass that fills the cache.
    """
    import tensorflow as tf

    def copy(*element):
        return tf.nest.map_structure(lambda t: tf.raw_ops.DeepCopy(x=t), element)

    return dataset.map(copy, num_parallel_calls=tf.data.AUTOTUNE)


def row_bytes(element_spec) -> int | None:
    """Bytes per row of a batched dataset's elements (the leading axis is
    the batch); None when an element is a string or has an unknown size."""
    import tensorflow as tf

    total = 0
    for spec in tf.nest.flatten(element_spec):
        if spec.dtype == tf.string or not spec.shape[1:].is_fully_defined():
            return None
        total += spec.shape[1:].num_elements() * spec.dtype.size
    return total


_RESHUFFLE_WINDOW = 64  # Cached batches whose rows are permuted together.


def reshuffle_cached(cached, batch_size: int, seed: int):
    """A cached training stream in a new order every iteration.

    The batches of the first pass (already shuffled by the stream) are
    shuffled as wholes (all of them in the buffer), joined into windows of
    `_RESHUFFLE_WINDOW` batches, and each window's rows are permuted and
    gathered into batches of `batch_size`: each epoch mixes rows across
    batches, reproducibly from `seed` and the iteration count (like the
    file stream, see `xent.backup.skip_epochs`). Every batch is a gather,
    a buffer of its own (see `_own_buffers`).

    Args:
        cached: The `cache()`d dataset of batched `(x, y)`, each tensor in
            a buffer of its own.
        batch_size: Rows per batch of the result.
        seed: The shuffle seed.
    """
    import tensorflow as tf

    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

    def cut(window, seed_pair):
        rows = tf.shape(tf.nest.flatten(window)[0])[0]
        order = tf.random.experimental.stateless_shuffle(tf.range(rows), seed=seed_pair)

        def take(start):
            rows_of_batch = order[start : start + batch_size]
            return tf.nest.map_structure(lambda t: tf.gather(t, rows_of_batch), window)

        starts = tf.range(0, rows, batch_size)
        return tf.data.Dataset.from_tensor_slices(starts).map(take)

    # A buffer larger than the batch count holds them all (a full shuffle).
    batches = cached.shuffle(1 << 20, seed=seed, reshuffle_each_iteration=True)
    windows = batches.rebatch(_RESHUFFLE_WINDOW * batch_size)
    return tf.data.Dataset.zip(windows, seeds).flat_map(cut)


def _binary_targets(x, y):
    """Streams are click logs: the targets are a float column of 0/1."""
    import tensorflow as tf

    return x, tf.reshape(tf.cast(y, "float32"), (-1, 1))


@dataclasses.dataclass(frozen=True)
class Splits(Generic[S]):
    """The three splits of a run."""

    train: S
    validation: S
    test: S

    def items(self) -> list[tuple[str, S]]:
        return [
            ("train", self.train),
            ("validation", self.validation),
            ("test", self.test),
        ]

    def map(self, fn: Callable[[S], Any]) -> Splits:
        return Splits(fn(self.train), fn(self.validation), fn(self.test))


@dataclasses.dataclass(frozen=True)
class BaselineData:
    """Numeric matrices for the scikit-learn baselines.

    Attributes:
        x_train: Training features `[n, d]`.
        y_train: Training class ids.
        x_test: Test features.
        y_test: Test class ids.
        x_validation: Validation features, or None.
        y_validation: Validation class ids, or None.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_validation: np.ndarray | None = None
    y_validation: np.ndarray | None = None

    def joined(self) -> BaselineData:
        """The baselines' data with the validation rows among the training
        rows (as the networks of `train.refit` learn); unchanged without
        validation rows."""
        if self.x_validation is None or self.y_validation is None:
            return self
        return BaselineData(
            np.concatenate([self.x_train, self.x_validation]),
            np.concatenate([self.y_train, self.y_validation]),
            self.x_test,
            self.y_test,
        )


@dataclasses.dataclass(frozen=True)
class Prepared(Generic[S]):
    """A task's data, ready for the runner.

    Attributes:
        name: Data set name for the report.
        summary: JSON-serializable description for the report's `dataset`
            section (rows per split, balance, features, ...).
        splits: The raw splits: `x` is what the serving model takes (a dict
            of columns or an array).
        class_names: Class names in class-id order.
        preprocessor: Keras model mapping raw inputs to model features (None
            for tasks without one, such as the GAN).
        features: The splits after the preprocessor (set by the supervised
            stages; None before).
        baseline: Matrices for the scikit-learn baselines, or None.
        metadata: Extra export metadata (feature schema, label mapping).
        state: The task's own typed values (e.g. the CTR task's feature
            specs and the true click probabilities of a synthetic log); the
            task that made it is the only reader.
    """

    name: str
    summary: dict
    splits: Splits[Split]
    class_names: tuple[str, ...]
    preprocessor: keras.Model | None = None
    features: Splits[Split] | None = None
    baseline: BaselineData | None = None
    metadata: dict = dataclasses.field(default_factory=dict)
    state: S | None = None


def preprocessed(data: Prepared) -> Prepared:
    """`data` with its `features`: each raw split through its preprocessor."""
    pre = data.preprocessor
    return dataclasses.replace(
        data, features=data.splits.map(lambda split: split.map_inputs(pre))
    )


@dataclasses.dataclass(frozen=True)
class Validated:
    """After `train.refit`, the networks trained without the validation rows,
    with the data they were trained on (their inputs come from its
    preprocessing): what is fitted on held-out validation predictions after
    training (CTR Platt scaling, the tabular nearest-neighbour head) is
    fitted on them.

    Attributes:
        model: The first networks (their ensemble, where there is one).
        data: Their data, preprocessed (`features` set).
    """

    model: keras.Model
    data: Prepared


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """What a task's evaluation hands to the report.

    Attributes:
        metrics: `metrics.test` of the report (JSON-serializable).
        plots: PNG bytes keyed by file name, in display order.
        sections: Extra top-level report sections (e.g. `curves`).
    """

    metrics: dict
    plots: dict[str, bytes] = dataclasses.field(default_factory=dict)
    sections: dict = dataclasses.field(default_factory=dict)
