"""Click logs prepared once into TFRecord shards by a tensorflow-datasets builder.

`ClickLogBuilder` is a `tfds.core.GeneratorBasedBuilder` for local files (or
a tfds catalog data set): its `ClickLogConfig` carries the file(s), the
`ClickSchema` and the split settings, and its `_generate_examples` streams the
rows a chunk at a time with `xent.ctr.columnar` (vectorized; the rows, values
and bad-row reports of `xent.ctr.readers`). The shards are written once, under

    <data_dir>/xent_click_log/<key>/<version>/

where `key` is a SHA-256 of the file bytes (streamed), the schema and the
split settings, and `data_dir` defaults to `$XENT_CACHE`, else
`~/.cache/xent/ctr`. A later call with the same key reads the shards without
parsing. The training split's value counts and numeric statistics, the
positives per split and the skipped rows are computed in the same streaming
pass and saved next to the shards (the value counts as arrays in
`value_counts.arrow`, the rest in `metadata.json`: `_Metadata`, a tfds
`Metadata`), so cached runs get them too.

Rows are assigned to splits by a seeded hash of their line number (see
`split_codes`). tfds generates the splits one at a time; the training split's
turn reads the file once and sets the validation and test rows aside (in an
Arrow file in a scratch folder) with their malformed rows, which are
reported in those splits' turns: every split's rows, and the order of the
reports, are those of one pass per split.

A stored tfds example is a block of up to 1024 consecutive rows of a split,
packed into a few byte strings (`_block_example`): tfds encodes and
serializes examples in Python, which per value would cost more than parsing.
The tfds writer shuffles the blocks; the train stream shuffles files and
blocks and permutes the rows of windows of about `shuffle_buffer` rows,
reshuffled each epoch, all with vectorized ops.

The builder class is not registered in the tfds catalog
(`skip_registration=True`): it is only used through `load_click_data` and
`load_tfds_clicks`.

Preparing speaks xent's language: one line says what is prepared and where
it is cached, a live bar (on a terminal) counts the rows of each split and a
line per split gives its rows and seconds; tfds's own "Downloading and
preparing dataset Unknown size" lines, its example-counted bars and its
"custom data configuration" warning are left out. The lines go where the
run's progress goes (`xent.progress.current()`: nothing under `xent train
--quiet`); `verbose=False` prints nothing, `verbose=True` prints even then.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import tensorflow as tf
import tensorflow_datasets as tfds

from xent import progress
from xent.bad_rows import BadRows
from xent.bad_rows import ReadError
from xent.bad_rows import build_rejecter
from xent.bad_rows import check_file
from xent.bad_rows import check_policy
from xent.ctr.click_schema import ClickData
from xent.ctr.click_schema import ClickSchema
from xent.ctr.click_schema import as_column_names
from xent.ctr.columnar import ColumnChunk
from xent.ctr.columnar import build_column_chunk
from xent.ctr.columnar import iter_chunks
from xent.ctr.columnar import iter_row_chunks
from xent.ctr.tfds_source import TFDS_PRESETS
from xent.ctr.tfds_source import TfdsSource
from xent.ctr.tfds_source import infer_tfds_roles
from xent.ctr.tfds_source import tfds_rows
from xent.ctr.train_stats import VALUE_COUNT_CAPACITY
from xent.ctr.train_stats import TrainStats
from xent.ctr.train_stats import check_capacity
from xent.data.counts import read_counts
from xent.data.counts import write_counts

__all__ = [
    "SPLITS",
    "TFDS_PRESETS",
    "ClickLogBuilder",
    "ClickLogConfig",
    "TfdsSource",
    "default_cache_dir",
    "file_digest",
    "load_click_data",
    "load_tfds_clicks",
    "split_codes",
    "split_of_line",
]

SPLITS = ("train", "validation", "test")
_FORMAT_VERSION = 3  # Bump when the prepared content changes for the same key.
_VALUE_COUNTS_FILE = "value_counts.arrow"
_BLOCK_ROWS = 1024  # Rows per stored example: tfds encodes examples in Python.
_MASK64 = (1 << 64) - 1


def default_cache_dir() -> Path:
    """`$XENT_CACHE`, else `~/.cache/xent/ctr`."""
    root = os.environ.get("XENT_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "xent" / "ctr"


def file_digest(path: str | PathLike[str], chunk_size: int = 1 << 20) -> str:
    """The SHA-256 of a file's bytes (hex), read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _splitmix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function of uint64s (arithmetic modulo 2**64)."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def split_codes(
    lines: np.ndarray, seed: int, validation_fraction: float, test_fraction: float
) -> np.ndarray:
    """The split of the rows on `lines`, as indices into `SPLITS`.

    A row's split comes from a seeded hash of its line number, uniform in
    `[0, 1)`: `u = splitmix64(splitmix64(seed) ^ line) / 2**64`; `u <
    test_fraction` is test, `u < test_fraction + validation_fraction`
    validation, else train (pass `test_fraction=0` when a test file is given).

    Args:
        lines: The rows' 1-based line numbers (or example indices + 1).
        seed: The split seed.
        validation_fraction: Probability of validation.
        test_fraction: Probability of test.

    Returns:
        An int8 array: 0 train, 1 validation, 2 test.
    """
    key = _splitmix64(np.array([seed & _MASK64], np.uint64))
    u = _splitmix64(key ^ np.asarray(lines).astype(np.uint64)) / 2.0**64
    codes = np.zeros(u.shape, np.int8)
    codes[u < test_fraction + validation_fraction] = 1
    codes[u < test_fraction] = 2
    return codes


def split_of_line(
    line: int, seed: int, validation_fraction: float, test_fraction: float
) -> str:
    """The split of the row on `line`: `"train"`, `"validation"` or `"test"`
    (see `split_codes`)."""
    code = split_codes(np.array([line]), seed, validation_fraction, test_fraction)
    return SPLITS[int(code[0])]


# ---------------------------------------------------------------------------
# The builder.


@dataclasses.dataclass(eq=False, repr=False)
class ClickLogConfig(tfds.core.BuilderConfig):
    """What to prepare: the source, its schema and the split settings.

    Attributes:
        schema: The columns.
        train_path: The click log (all rows without `test_path`).
        test_path: Optional file of test rows.
        tfds_source: A catalog data set instead of files.
        validation_fraction: See `split_of_line`.
        test_fraction: See `split_of_line` (unused with `test_path`).
        seed: The split seed.
        on_bad_rows: As in `readers.iter_rows`.
        max_bad_rows: As in `readers.iter_rows`, over all splits.
        value_count_capacity: Distinct values per column counted exactly
            (`xent.ctr.train_stats.ValueCounts`).
    """

    schema: ClickSchema | None = None
    train_path: str | None = None
    test_path: str | None = None
    tfds_source: TfdsSource | None = None
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0
    on_bad_rows: str = "fail"
    max_bad_rows: int = 100
    value_count_capacity: int = VALUE_COUNT_CAPACITY

    def __repr__(self) -> str:
        source = self.train_path or (self.tfds_source and self.tfds_source.name)
        return f"ClickLogConfig(name={self.name!r}, source={source!r})"


class _LocalInfo(tfds.core.DatasetInfo):
    """The `DatasetInfo` of a local click log: never looked up in tfds's GCS
    bucket. tfds does that for a data set not prepared yet, and first makes
    an empty temporary folder for the files it would fetch, which it never
    removes: one left in the temporary directory per new log."""

    def initialize_from_bucket(self) -> None:
        pass


class _Metadata(tfds.core.Metadata):
    """tfds's metadata dict: the value counts (`xent.data.counts.Counts`, up
    to millions of values per column) in the Arrow file
    `value_counts.arrow`, the rest in `metadata.json`. As JSON the counts of
    a 1M-row Criteo-layout log took 4 s to write and 1.5 s to read."""

    def save_metadata(self, data_dir: str) -> None:
        rest = {key: value for key, value in self.items() if key != "value_counts"}
        write_counts(
            os.path.join(data_dir, _VALUE_COUNTS_FILE), self.get("value_counts", {})
        )
        with tf.io.gfile.GFile(os.path.join(data_dir, "metadata.json"), "w") as f:
            f.write(json.dumps(rest))

    def load_metadata(self, data_dir: str) -> None:
        with tf.io.gfile.GFile(os.path.join(data_dir, "metadata.json")) as f:
            loaded = json.load(f)
        loaded["value_counts"] = read_counts(os.path.join(data_dir, _VALUE_COUNTS_FILE))
        self.clear()
        self.update(loaded)


class ClickLogBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Writes a click log's train/validation/test splits as TFRecord shards.

    An example is a block of up to 1024 rows, packed (`_block_example`);
    the streams of `load_click_data` unpack it into the schema's columns:
    `tf.string` for categorical and multi-value columns, `float32` for numeric
    ones and `int64` labels. `info.metadata` holds `rows` and `positives` (per
    split), `value_counts`, `bounded_value_counts` and `numeric_stats` (train
    split) and `bad_rows`, as `ClickData` describes them.
    """

    name = "xent_click_log"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}

    def __init__(
        self,
        *,
        shown: progress.Progress | None = None,
        scratch_dir: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Args: `shown`: where the preparing line, the split lines and the
        row bars go (default: nothing); `scratch_dir`: where the validation
        and test rows wait while the training pass reads the file (default: a
        temporary folder); `kwargs`: as `tfds.core.GeneratorBasedBuilder`."""
        self.shown = shown or progress.Progress(enabled=False)
        self.scratch_dir = scratch_dir
        super().__init__(**kwargs)

    # tfds prints these (to stdout, in its words) around a preparation; the
    # two hooks are tfds internals, checked by tests/xent/ctr/test_builder.py.
    def _log_download_bytes(self) -> None:
        config = self.builder_config
        if config.tfds_source is not None:
            source = config.tfds_source
            what = f"tfds:{source.name}[{source.split}]"
        else:
            what = config.train_path + (
                f" and {config.test_path}" if config.test_path else ""
            )
        self.shown.line(
            f"preparing {what} once into {self.data_dir} (later runs with the "
            "same data, columns and split settings read it from there)"
        )

    def _log_download_done(self) -> None:
        pass

    def _info(self) -> tfds.core.DatasetInfo:
        schema = self.builder_config.schema
        return _LocalInfo(
            builder=self,
            description="A click log prepared by xent.ctr.",
            features=tfds.features.FeaturesDict(_block_features(schema)),
            metadata=_Metadata(),
        )

    def _split_generators(self, dl_manager: Any) -> dict[str, Any]:
        del dl_manager  # Local files; nothing to download.
        self._bad_rows = BadRows()
        metadata = self.info.metadata
        metadata.clear()
        metadata.update(
            rows={},
            positives={},
            value_counts={},
            bounded_value_counts={},
            numeric_stats={},
            bad_rows=self._bad_rows.to_dict(),
        )
        self._set_aside: dict[str, _SetAside] = {}
        return {split: self._generate_examples(split) for split in SPLITS}

    def _split_codes(self, lines: np.ndarray) -> np.ndarray:
        config = self.builder_config
        test_fraction = 0.0 if config.test_path is not None else config.test_fraction
        fractions = config.validation_fraction, test_fraction
        return split_codes(lines, config.seed, *fractions)

    def _reject(self, path: str) -> Callable[[int, str], None]:
        config = self.builder_config
        return build_rejecter(
            path, config.on_bad_rows, config.max_bad_rows, self._bad_rows
        )

    def _chunks(self, split: str) -> Iterator[ColumnChunk]:
        config = self.builder_config
        schema = config.schema
        code = SPLITS.index(split)
        if config.tfds_source is not None:
            rows = tfds_rows(
                config.tfds_source,
                schema,
                lambda n: int(self._split_codes(np.array([n]))[0]) == code,
            )
            return iter_row_chunks(schema, rows)
        if split == "test" and config.test_path is not None:
            path = config.test_path
            return (chunk for _, chunk in iter_chunks(path, schema, self._reject(path)))
        if split == "train":
            return self._read_train_file()
        aside = self._set_aside.pop(split, None)
        if aside is not None and aside.complete:
            return aside.chunks(self._reject(config.train_path))
        # Not set aside by a whole training pass (tfds began with this split).
        path = config.train_path
        chunks = iter_chunks(
            path,
            schema,
            self._reject(path),
            groups=lambda lines: np.where(self._split_codes(lines) == code, 0, -1),
        )
        return (chunk for _, chunk in chunks)

    def _read_train_file(self) -> Iterator[ColumnChunk]:
        """The training rows of the file, in one pass that sets aside the
        validation (and test) rows and bad rows for their splits' turn."""
        config = self.builder_config
        path = config.train_path
        policy = self._reject(path)
        if self.scratch_dir is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="xent-click-log-")
            self.scratch_dir = self._scratch.name
        aside = [
            _SetAside(Path(self.scratch_dir) / f"{split}.arrows")
            for split in SPLITS[1:]
        ]
        self._set_aside = dict(zip(SPLITS[1:], aside, strict=True))

        def reject(line: int, reason: str) -> None:
            code = int(self._split_codes(np.array([line]))[0])
            if code == 0:
                policy(line, reason)
            else:  # Reported in the split's turn, in the same order.
                aside[code - 1].events.append((line, reason))

        chunks = iter_chunks(path, config.schema, reject, groups=self._split_codes)
        try:
            for code, chunk in _prefetched(chunks):
                if code == 0:
                    yield chunk
                else:
                    aside[code - 1].write(chunk)
        finally:
            for part in aside:
                part.close()
        for part in aside:
            part.complete = True

    def _generate_examples(self, split: str) -> Iterator[tuple[int, dict[str, Any]]]:
        config = self.builder_config
        schema = config.schema
        stats = None
        if split == "train":
            stats = TrainStats(schema, config.seed, config.value_count_capacity)
        rows = positives = 0
        start = time.perf_counter()
        # Counted in rows, not tfds blocks.
        with self.shown.bar(unit="row") as bar:
            for block in self._blocks(split, stats):
                n = len(block)
                rows += n
                positives += int(block.label.sum())
                bar.add(n)
                yield int(block.lines[0]) if n else 0, _block_example(block, schema)
        self.shown.line(
            f"  {split}: {rows:,} rows in {time.perf_counter() - start:.1f} s"
        )
        metadata = self.info.metadata
        metadata["rows"][split] = rows
        metadata["positives"][split] = positives
        metadata["bad_rows"] = self._bad_rows.to_dict()
        if stats is not None:
            metadata["value_counts"] = stats.value_counts()
            metadata["bounded_value_counts"] = stats.bounded_counts()
            metadata["numeric_stats"] = stats.numeric_stats()

    def _blocks(self, split: str, stats: TrainStats | None) -> Iterator[ColumnChunk]:
        """Blocks of `_BLOCK_ROWS` consecutive rows of a split (the last one
        shorter); an empty split gives one empty block (tfds needs an
        example)."""
        pending: list[ColumnChunk] = []
        size = 0
        empty = True
        for chunk in self._chunks(split):
            if stats is not None:
                stats.add(chunk)
            start = 0
            while size + len(chunk) - start >= _BLOCK_ROWS:
                stop = start + _BLOCK_ROWS - size
                empty = False
                yield ColumnChunk.concat([*pending, chunk.slice(start, stop)])
                pending, size, start = [], 0, stop
            if start < len(chunk):
                pending.append(chunk.slice(start, len(chunk)))
                size += len(chunk) - start
        if pending:
            yield ColumnChunk.concat(pending)
        elif empty:
            yield build_column_chunk(self.builder_config.schema, [])


def _prefetched(items: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """`items`, produced by a thread up to `depth` ahead: parsing (Arrow,
    outside the GIL) overlaps with counting and writing the previous chunk.
    An exception of `items` is raised here, in its place."""
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                ready.put((item, None))
        except BaseException as err:  # noqa: BLE001 - raised by the consumer.
            ready.put((done, err))
            return
        ready.put((done, None))

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            item, err = ready.get()
            if err is not None:
                raise err
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # Unblock a producer waiting on a full queue.
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.1)
        thread.join()


class _SetAside:
    """The rows and bad rows of a split, set aside while the training pass
    reads the file: the rows in an Arrow IPC stream file, the `(line,
    reason)`s of the bad rows in memory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.complete = False  # Whether the training pass read the whole file.
        self.events: list[tuple[int, str]] = []
        self.file: Any = None
        self.writer: Any = None

    def write(self, chunk: ColumnChunk) -> None:
        batch = chunk.to_record_batch()
        if self.writer is None:
            self.file = pa.OSFile(str(self.path), "wb")
            self.writer = pa.ipc.new_stream(self.file, batch.schema)
        self.writer.write_batch(batch)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.file.close()
            self.writer = self.file = None

    def chunks(self, reject: Callable[[int, str], None]) -> Iterator[ColumnChunk]:
        """Reports the bad rows to `reject`, then yields the rows (once)."""
        for line, reason in self.events:
            reject(line, reason)
        if not self.path.exists():
            return
        try:
            with pa.memory_map(str(self.path)) as source:
                for batch in pa.ipc.open_stream(source):
                    yield ColumnChunk.from_record_batch(batch)
        finally:
            self.path.unlink()


# A block is stored as a few byte strings, not one tf.train.Feature value per
# row and column: tfds serializes examples in Python, one value at a time
# (about 6 ms per block of 1024 Criteo rows, 160,000 rows/s at best, against
# 0.1 ms packed). The strings of a block are one blob, column after column,
# with their byte lengths in the narrowest of uint8/16/32; numbers, labels
# are raw little-endian arrays. About 260 bytes per Criteo row.
_LENGTH_TYPES = {1: np.uint8, 2: np.uint16, 4: np.uint32}  # By byte width.


def _block_features(schema: ClickSchema) -> dict[str, tfds.features.Tensor]:
    """The tfds features of a stored block (see `_block_example`)."""
    raw = tfds.features.Encoding.BYTES
    features = {
        "label": tfds.features.Tensor(shape=(None,), dtype=tf.uint8, encoding=raw)
    }
    if schema.categorical or schema.multi_value:
        features["strings"] = tfds.features.Tensor(shape=(), dtype=tf.string)
        features["string_lengths"] = tfds.features.Tensor(shape=(), dtype=tf.string)
    if schema.numeric:
        features["numeric"] = tfds.features.Tensor(
            shape=(None,), dtype=tf.float32, encoding=raw
        )
    return features


def _block_example(block: ColumnChunk, schema: ClickSchema) -> dict[str, Any]:
    """A block as a tfds example: `label` (uint8 [n]), `strings` (the UTF-8
    values of the string columns, column after column, concatenated),
    `string_lengths` (their byte lengths: one byte giving the width `w` of
    each, 1, 2 or 4, then `columns * n` unsigned little-endian integers of
    `w` bytes) and `numeric` (float32 [columns * n], column after column)."""
    example: dict[str, Any] = {"label": block.label.astype(np.uint8)}
    columns = schema.categorical + schema.multi_value
    if columns:
        blobs, lengths = [], []
        for column in columns:
            blob, offsets = _string_buffers(block.strings[column])
            blobs.append(blob)
            lengths.append(np.diff(offsets))
        example["strings"] = b"".join(blobs)
        example["string_lengths"] = _pack_lengths(np.concatenate(lengths))
    if schema.numeric:
        example["numeric"] = np.concatenate(
            [block.numbers[column] for column in schema.numeric]
        ).astype(np.float32)
    return example


def _pack_lengths(lengths: np.ndarray) -> bytes:
    top = int(lengths.max(initial=0))
    width = 1 if top < 1 << 8 else 2 if top < 1 << 16 else 4
    packed = lengths.astype(np.dtype(_LENGTH_TYPES[width]).newbyteorder("<"))
    return bytes([width]) + packed.tobytes()


def _string_buffers(values: pa.Array) -> tuple[bytes, np.ndarray]:
    """The UTF-8 bytes of an Arrow string array's values, and their offsets."""
    _, offsets, data = values.buffers()
    offsets = np.frombuffer(
        offsets, np.int32, count=len(values) + 1, offset=4 * values.offset
    )
    if data is None:
        return b"", offsets
    return np.frombuffer(data, np.uint8)[offsets[0] : offsets[-1]].tobytes(), offsets


def _unpack_lengths(packed: tf.Tensor) -> tf.Tensor:
    """The int32 lengths `_pack_lengths` packed."""
    width = tf.io.decode_raw(tf.strings.substr(packed, 0, 1), tf.uint8)[0]
    body = tf.strings.substr(packed, 1, tf.strings.length(packed) - 1)
    return tf.switch_case(
        tf.cast(width, tf.int32) // 2,  # Widths 1, 2, 4: branches 0, 1, 2.
        [
            lambda: tf.cast(tf.io.decode_raw(body, tf.uint8), tf.int32),
            lambda: tf.cast(tf.io.decode_raw(body, tf.uint16), tf.int32),
            lambda: tf.io.decode_raw(body, tf.int32),  # Lengths < 2**31.
        ],
    )


def _unpack_block(
    example: dict[str, tf.Tensor], schema: ClickSchema
) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
    """`(features, label)` of a stored block (see `_block_example`)."""
    label = tf.cast(example["label"], tf.int64)
    n = tf.shape(label)[0]
    features = {}
    # Columns by tf.gather, not slicing: a slice shares the block's buffer,
    # and tf.data's rebatch then logs "Tensor RefCount not reliable if buf_
    # points to a SubBuffer" for each.
    columns = schema.categorical + schema.multi_value
    if columns:
        lengths = _unpack_lengths(example["string_lengths"])
        starts = tf.cumsum(lengths, exclusive=True)
        values = tf.strings.substr(example["strings"], starts, lengths)
        values = tf.reshape(values, [len(columns), n])
        features |= {column: tf.gather(values, i) for i, column in enumerate(columns)}
    if schema.numeric:
        numbers = tf.reshape(example["numeric"], [len(schema.numeric), n])
        features |= {
            column: tf.gather(numbers, i) for i, column in enumerate(schema.numeric)
        }
    return {column: features[column] for column in schema.features}, label


# ---------------------------------------------------------------------------
# Loading.


def _check_fractions(
    validation_fraction: float, test_fraction: float, batch_size: int
) -> None:
    for argument, value in (
        ("validation_fraction", validation_fraction),
        ("test_fraction", test_fraction),
    ):
        if not 0.0 <= value < 1.0:
            raise ValueError(
                f"Invalid value for argument {argument}. Expected a fraction in "
                f"[0, 1). Received: {argument}={value!r}"
            )
    if validation_fraction + test_fraction >= 1.0:
        raise ValueError(
            "Invalid values for arguments validation_fraction and test_fraction: "
            f"their sum {validation_fraction + test_fraction} leaves no training "
            "rows"
        )
    if batch_size < 1:
        raise ValueError(
            f"Invalid value for argument batch_size. Expected an integer >= 1. "
            f"Received: batch_size={batch_size!r}"
        )


def _cache_key(parts: dict[str, Any]) -> str:
    text = json.dumps(
        {**parts, "format_version": _FORMAT_VERSION}, sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class _DropCustomConfigWarning(logging.Filter):
    """Drops tfds's "Using custom data configuration" warning: every click
    log is a custom configuration of the builder, by design."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Using custom data configuration")


class _DropDtypeNotice(logging.Filter):
    """Drops tfds 4.9's "`FeatureConnector.dtype` is deprecated" notice: its
    own `Tensor.decode_example` reads `.dtype` when it decodes a
    bytes-encoded feature (our packed blocks), so every prepared file read
    logged it, whatever the caller does."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "FeatureConnector.dtype` is deprecated" not in str(record.msg)


@contextlib.contextmanager
def _absl_filter(drop: logging.Filter) -> Iterator[None]:
    """`drop` on absl's logger (where tfds logs) for the block."""
    absl_logger = logging.getLogger("absl")
    absl_logger.addFilter(drop)
    try:
        yield
    finally:
        absl_logger.removeFilter(drop)


@contextlib.contextmanager
def _tfds_quiet() -> Iterator[None]:
    """Without tfds's example-counted bars and its custom-config warning."""
    tfds.display_progress_bar(False)
    try:
        with _absl_filter(_DropCustomConfigWarning()):
            yield
    finally:
        tfds.display_progress_bar(True)


def _prepare(
    config: ClickLogConfig,
    data_dir: str | PathLike[str] | None,
    verbose: bool | None,
):
    root = Path(data_dir) if data_dir is not None else default_cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    shown = progress.current()
    if verbose is not None:
        shown = dataclasses.replace(shown, enabled=verbose)
    with (
        _tfds_quiet(),
        tempfile.TemporaryDirectory(prefix=".xent-preparing-", dir=root) as scratch,
    ):
        builder = ClickLogBuilder(
            config=config, data_dir=str(root), shown=shown, scratch_dir=scratch
        )
        builder.download_and_prepare(download_dir=str(root / "downloads"))
    return builder


def _empty_rows(schema: ClickSchema) -> tf.data.Dataset:
    features = {c: tf.zeros([0], tf.string) for c in schema.categorical}
    features |= {c: tf.zeros([0], tf.float32) for c in schema.numeric}
    features |= {c: tf.zeros([0], tf.string) for c in schema.multi_value}
    return tf.data.Dataset.from_tensor_slices((features, tf.zeros([0], tf.int64)))


def _click_data(
    builder: ClickLogBuilder,
    name: str,
    schema: ClickSchema,
    seed: int,
    batch_size: int,
    shuffle_buffer: int,
) -> ClickData:
    metadata = dict(builder.info.metadata)
    rows = {split: int(metadata["rows"].get(split, 0)) for split in SPLITS}

    def split_label(example: dict[str, tf.Tensor]):
        return _unpack_block(example, schema)

    def permute(batch, seed_pair):
        features, labels = batch
        order = tf.random.experimental.stateless_shuffle(
            tf.range(tf.shape(labels)[0]), seed=seed_pair
        )
        return tf.nest.map_structure(lambda t: tf.gather(t, order), batch)

    def stream(split: str) -> Callable[[], tf.data.Dataset]:
        def make() -> tf.data.Dataset:
            if rows[split] == 0:
                return _empty_rows(schema).batch(batch_size)
            train = split == "train"
            with _absl_filter(_DropDtypeNotice()):  # tfds traces its decoder here
                dataset = builder.as_dataset(
                    split=split,
                    shuffle_files=train,
                    read_config=tfds.ReadConfig(
                        shuffle_seed=seed, shuffle_reshuffle_each_iteration=True
                    ),
                ).map(split_label, num_parallel_calls=tf.data.AUTOTUNE)
            if train:
                # Shuffle blocks, then permute the rows of windows of about
                # `shuffle_buffer` rows: vectorized, unlike a per-row buffer.
                blocks = max(1, -(-shuffle_buffer // _BLOCK_ROWS))
                seeds = tf.data.Dataset.random(
                    seed=seed, rerandomize_each_iteration=True
                ).batch(2)
                dataset = dataset.shuffle(
                    blocks, seed=seed, reshuffle_each_iteration=True
                ).rebatch(blocks * _BLOCK_ROWS)
                dataset = tf.data.Dataset.zip(dataset, seeds).map(
                    permute, num_parallel_calls=tf.data.AUTOTUNE
                )
            return dataset.rebatch(batch_size).prefetch(tf.data.AUTOTUNE)

        return make

    return ClickData(
        name=name,
        schema=schema,
        rows=rows,
        positives={s: int(metadata["positives"].get(s, 0)) for s in SPLITS},
        streams={split: stream(split) for split in SPLITS},
        value_counts=metadata["value_counts"],
        bounded_value_counts=metadata["bounded_value_counts"],
        numeric_stats=metadata["numeric_stats"],
        bad_rows=metadata["bad_rows"],
        cache_dir=str(builder.data_dir),
    )


def load_click_data(
    path: str | PathLike[str],
    schema: ClickSchema,
    test_path: str | PathLike[str] | None = None,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    batch_size: int = 1024,
    data_dir: str | PathLike[str] | None = None,
    on_bad_rows: str = "fail",
    max_bad_rows: int = 100,
    shuffle_buffer: int = 100_000,
    verbose: bool | None = None,
    value_count_capacity: int = VALUE_COUNT_CAPACITY,
) -> ClickData:
    """Prepares a click log once into TFRecord shards and streams it.

    The first call parses the file(s) (the rows `iter_rows` reads, a chunk at
    a time: `xent.ctr.columnar`) through the tensorflow-datasets builder
    `xent.ctr.builder.ClickLogBuilder` and writes the shards and the training
    statistics; later calls with the same file
    content (SHA-256 of the bytes), schema and split settings read the cached
    shards without parsing. The cache lives in
    `data_dir/xent_click_log/<hash>/<version>/`; `data_dir` defaults to
    `$XENT_CACHE`, else `~/.cache/xent/ctr`.

    Splits are assigned per row by a seeded hash of the row's line number, so
    they are random (not contiguous blocks of a time-ordered file),
    deterministic for a seed and stable whatever rows are skipped. Without
    `test_path`, a row is test with probability `test_fraction` and
    validation with probability `validation_fraction` (both fractions of all
    rows); with `test_path`, that file is the test split and a row of `path`
    is validation with probability `validation_fraction`.

    Args:
        path: The click log (training rows, and all rows without `test_path`).
        schema: Its columns (e.g. from `infer_schema`); also used for
            `test_path`.
        test_path: Optional file of test rows.
        validation_fraction: See above; in `[0, 1)`.
        test_fraction: See above; in `[0, 1)`, unused with `test_path`.
        seed: Split and shuffle seed.
        batch_size: Rows per batch of the streams.
        data_dir: The cache root (see above).
        on_bad_rows: `"fail"` or `"skip"` (see `iter_rows`).
        max_bad_rows: See `iter_rows`; counts all files and splits together.
        shuffle_buffer: Rows in the train stream's shuffle buffer.
        verbose: When preparing, log one line naming the file and the
            cache folder, a line per split with its rows and seconds, and
            (on a terminal) a live bar of the rows; None (the default) does
            as the run's progress setting says (`xent.progress.current()`).
        value_count_capacity: Distinct values per column whose training
            counts are kept exactly; a column with more is counted in
            bounded memory (see `xent.ctr.train_stats` and
            `ClickData.bounded_value_counts`).

    Returns:
        The prepared data.

    Raises:
        ReadError: As `iter_rows`, while preparing.
        ValueError: On invalid fractions, batch size, policy or capacity.
    """
    _check_fractions(
        validation_fraction, 0.0 if test_path else test_fraction, batch_size
    )
    check_policy(on_bad_rows, max_bad_rows)
    check_capacity(value_count_capacity)
    if not isinstance(schema, ClickSchema) or schema.format == "tfds":
        raise ValueError(
            f"Invalid value for argument schema. Expected a ClickSchema of a file "
            f"format. Received: schema={schema!r}"
        )
    path = str(path)
    paths = [path] + ([str(test_path)] if test_path is not None else [])
    for file in paths:
        check_file(file)
    key = _cache_key(
        {
            "files": [file_digest(file) for file in paths],
            "has_test_file": test_path is not None,
            "schema": schema.to_dict(),
            "validation_fraction": validation_fraction,
            "test_fraction": 0.0 if test_path else test_fraction,
            "seed": seed,
            "on_bad_rows": on_bad_rows,
            "max_bad_rows": max_bad_rows,
            "value_count_capacity": value_count_capacity,
        }
    )
    config = ClickLogConfig(
        name=key,
        description=f"{path} (test: {test_path})",
        schema=schema,
        train_path=path,
        test_path=None if test_path is None else str(test_path),
        validation_fraction=validation_fraction,
        test_fraction=test_fraction,
        seed=seed,
        on_bad_rows=on_bad_rows,
        max_bad_rows=max_bad_rows,
        value_count_capacity=value_count_capacity,
    )
    builder = _prepare(config, data_dir, verbose)
    return _click_data(
        builder, Path(path).name, schema, seed, batch_size, shuffle_buffer
    )


def load_tfds_clicks(
    name: str,
    label_key: str | None = None,
    label_threshold: float | None = None,
    categorical: Sequence[str] | None = None,
    numeric: Sequence[str] | None = None,
    multi_value: Sequence[str] | None = None,
    separator: str = "|",
    split: str = "train",
    tfds_data_dir: str | PathLike[str] | None = None,
    download: bool = False,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    batch_size: int = 1024,
    data_dir: str | PathLike[str] | None = None,
    shuffle_buffer: int = 100_000,
    verbose: bool | None = None,
) -> ClickData:
    """A tfds catalog data set prepared as click data.

    The catalog split is read once per output split (rows assigned by
    `split_of_line` of the example index + 1) and written like a file's
    rows. Values become strings as follows: bytes are decoded as UTF-8,
    booleans are `"true"`/`"false"`, integers of a `ClassLabel` feature are
    the class names (e.g. genre names) and other integers their decimal
    spelling, floats `format(x, "g")`. List features are joined by
    `separator`.

    Columns: for a name in `TFDS_PRESETS`, unless another `label_key` is
    given, the preset's label, threshold and columns are the defaults (roles
    given as arguments replace the preset's). Otherwise `label_key` is
    required and, when no role is given, every flat feature gets one: float
    scalars numeric, string/integer/bool scalars categorical, 1-D string or
    integer lists multi-value (others are ignored); when a role is given,
    only the columns given are read.

    The cache key holds the name, the source's version, data folder and
    split size, the schema and the split settings (not the data bytes):
    use another `data_dir` after changing a catalog data set in place (e.g.
    for tests with `tfds.testing.mock_data`).

    >>> data = load_tfds_clicks("tfds:movielens/100k-ratings")  # doctest: +SKIP

    Args:
        name: The catalog name (a `tfds:` prefix is allowed).
        label_key: The label feature.
        label_threshold: `label = value >= threshold`.
        categorical: Scalar features read as strings.
        numeric: Scalar features read as float32.
        multi_value: List features joined by `separator`.
        separator: The multi-value separator.
        split: The catalog split to read.
        tfds_data_dir: Where the catalog data set is stored.
        download: Whether tfds may download and prepare it.
        validation_fraction: As in `load_click_data`.
        test_fraction: As in `load_click_data`.
        seed: Split and shuffle seed.
        batch_size: Rows per batch.
        data_dir: The cache root.
        shuffle_buffer: Rows in the train stream's shuffle buffer.
        verbose: As in `load_click_data`.

    Returns:
        The prepared data, named after the catalog name.

    Raises:
        ReadError: On an unknown feature name or a missing label key.
    """
    _check_fractions(validation_fraction, test_fraction, batch_size)
    name = name.removeprefix("tfds:")
    preset = TFDS_PRESETS.get(name)
    if preset is not None and label_key not in (None, preset.label_key):
        preset = None  # Another label: the preset's columns do not apply.
    buckets = preset.buckets if preset is not None else ()
    if preset is not None:
        label_key = preset.label_key
        if label_threshold is None:
            label_threshold = preset.label_threshold
    roles = {
        "categorical": as_column_names("categorical", categorical),
        "numeric": as_column_names("numeric", numeric),
        "multi_value": as_column_names("multi_value", multi_value),
    }
    source_builder = tfds.builder(
        name, data_dir=None if tfds_data_dir is None else str(tfds_data_dir)
    )
    features = source_builder.info.features
    if label_key is None:
        raise ReadError(
            f"tfds:{name}: pass label_key, one of the features {sorted(features)}"
        )
    if label_key not in features:
        raise ReadError(
            f"tfds:{name}: unknown label feature {label_key!r}; the features are "
            f"{sorted(features)}"
        )
    if all(value is None for value in roles.values()):
        if preset is not None:
            roles = {
                "categorical": preset.categorical,
                "numeric": preset.numeric,
                "multi_value": preset.multi_value,
            }
        else:
            found = infer_tfds_roles(features, label_key)
            roles = dict(
                zip(("categorical", "numeric", "multi_value"), found, strict=True)
            )
    roles = {role: columns or () for role, columns in roles.items()}
    derived = {bucket[0] for bucket in buckets}
    for role, columns in roles.items():
        unknown = [c for c in columns if c not in features and c not in derived]
        if unknown:
            raise ReadError(
                f"tfds:{name}: {role} names unknown feature(s) {unknown}; the "
                f"features are {sorted(features)}"
            )
    buckets = tuple(b for b in buckets if b[0] in roles["categorical"])
    schema = ClickSchema(
        label=label_key,
        separator=separator,
        format="tfds",
        label_threshold=label_threshold,
        **roles,
    )
    source = TfdsSource(
        name=name,
        split=split,
        data_dir=None if tfds_data_dir is None else str(tfds_data_dir),
        download=download,
        buckets=buckets,
    )
    try:
        size = int(source_builder.info.splits[split].num_examples)
    except (KeyError, ValueError):
        size = None
    key = _cache_key(
        {
            "tfds": dataclasses.asdict(source),
            "version": str(source_builder.version),
            "source_dir": str(source_builder.data_dir),
            "size": size,
            "schema": schema.to_dict(),
            "validation_fraction": validation_fraction,
            "test_fraction": test_fraction,
            "seed": seed,
        }
    )
    config = ClickLogConfig(
        name=key,
        description=f"tfds:{name}[{split}]",
        schema=schema,
        tfds_source=source,
        validation_fraction=validation_fraction,
        test_fraction=test_fraction,
        seed=seed,
    )
    builder = _prepare(config, data_dir, verbose)
    return _click_data(builder, name, schema, seed, batch_size, shuffle_buffer)
