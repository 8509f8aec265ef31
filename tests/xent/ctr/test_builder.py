"""Tests of `xent.ctr.builder`: preparing click logs into cached TFRecord shards."""

import collections
import contextlib
import functools
import json
import math
import pathlib
import re
import tempfile
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from xent.ctr import builder
from xent.ctr import columnar
from xent.ctr import readers
from xent.ctr.readers import ClickSchema
from xent.ctr.readers import ReadError
from xent.data.counts import Counts
from xent.data.counts import read_counts

SCHEMA = ClickSchema(
    "click", categorical=("site", "slot"), numeric=("price",), multi_value=("tags",)
)


def _write_log(path, n=400, start=0):
    """A click log, and its rows as iter_rows should yield them."""
    lines = ["click,site,slot,price,tags"]
    rows = []
    for i in range(start, start + n):
        click = int(i % 4 == 0)
        site = "" if i % 9 == 0 else f"s{i % 13}"
        missing = i % 10 == 0
        price = -3.0 + i * 0.125 if i % 5 else float(i % 700)  # Exact in float32.
        tags = ["a|b", "b", "", "c|a|a"][i % 4]
        lines.append(f"{click},{site},{i % 3},{'' if missing else price},{tags}")
        rows.append(
            {
                "click": click,
                "site": site,
                "slot": str(i % 3),
                "price": math.nan if missing else price,
                "tags": tags,
            }
        )
    path.write_text("\n".join(lines) + "\n")
    return path, rows


def _key(row):
    """A hashable row with NaN made comparable."""
    return tuple(
        (k, None if isinstance(v, float) and math.isnan(v) else v)
        for k, v in sorted(row.items())
    )


def _rows_of(dataset, schema):
    rows = []
    for features, labels in dataset:
        columns = {k: v.numpy() for k, v in features.items()}
        for i, label in enumerate(labels.numpy().tolist()):
            row = {schema.label: label}
            for column in schema.categorical + schema.multi_value:
                row[column] = columns[column][i].decode("utf-8")
            for column in schema.numeric:
                row[column] = float(columns[column][i])
            rows.append(row)
    return rows


@pytest.fixture
def log(tmp_path):
    return _write_log(tmp_path / "clicks.csv")


def test_streams_have_dtypes_shapes_and_all_rows(tmp_path, log):
    path, expected = log
    data = builder.load_click_data(path, SCHEMA, batch_size=32, data_dir=tmp_path / "c")
    assert data.name == "clicks.csv" and data.schema == SCHEMA
    assert sum(data.rows.values()) == 400
    assert all(n > 0 for n in data.rows.values())
    all_rows = []
    for split in builder.SPLITS:
        dataset = data.streams[split]()
        features, labels = dataset.element_spec
        assert labels == tf.TensorSpec([None], tf.int64)
        assert features == {
            "site": tf.TensorSpec([None], tf.string),
            "slot": tf.TensorSpec([None], tf.string),
            "price": tf.TensorSpec([None], tf.float32),
            "tags": tf.TensorSpec([None], tf.string),
        }
        sizes = [int(batch[1].shape[0]) for batch in dataset]
        assert sum(sizes) == data.rows[split]
        assert all(s == 32 for s in sizes[:-1]) and 0 < sizes[-1] <= 32
        rows = _rows_of(dataset, SCHEMA)
        assert sum(r["click"] for r in rows) == data.positives[split]
        all_rows += rows
    assert collections.Counter(map(_key, all_rows)) == collections.Counter(
        map(_key, expected)
    )
    assert data.bad_rows == {"count": 0, "examples": []}
    assert str(tmp_path / "c") in data.cache_dir
    assert (tmp_path / data.cache_dir / "metadata.json").exists()


def test_statistics_match_numpy_on_the_train_rows(tmp_path, log):
    path, _ = log
    data = builder.load_click_data(path, SCHEMA, data_dir=tmp_path / "c", seed=3)
    train = _rows_of(data.streams["train"](), SCHEMA)
    assert len(train) == data.rows["train"]
    for column in ("site", "slot"):
        assert data.value_counts[column] == collections.Counter(
            r[column] for r in train
        )
    tags = collections.Counter(t for r in train for t in r["tags"].split("|") if t)
    assert data.value_counts["tags"] == tags
    assert set(data.value_counts) == {"site", "slot", "tags"}

    x = np.array([r["price"] for r in train], dtype=np.float64)
    finite = x[np.isfinite(x)]
    logs = np.sign(finite) * np.log1p(np.abs(finite))
    stats = data.numeric_stats["price"]
    assert stats["count"] == finite.size and stats["missing"] == x.size - finite.size
    assert stats["mean"] == pytest.approx(finite.mean(), rel=1e-12)
    assert stats["std"] == pytest.approx(finite.std(), rel=1e-12)
    assert (stats["min"], stats["max"]) == (finite.min(), finite.max())
    assert stats["log1p_mean"] == pytest.approx(logs.mean(), rel=1e-12)
    assert stats["log1p_std"] == pytest.approx(logs.std(), rel=1e-12)
    np.testing.assert_allclose(
        stats["quantiles"], np.quantile(finite, np.linspace(0, 1, 33)), rtol=1e-12
    )


def test_preparing_leaves_nothing_in_the_temporary_directory(
    tmp_path, log, monkeypatch
):
    # tfds makes an empty folder there for GCS lookups of a new data set.
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    path, _ = log
    data = builder.load_click_data(path, SCHEMA, data_dir=tmp_path / "c")
    assert data.rows["train"] > 0
    assert list(temp.iterdir()) == []


def test_second_call_reads_the_cache(tmp_path, log, monkeypatch):
    path, _ = log
    first = builder.load_click_data(path, SCHEMA, data_dir=tmp_path / "c")

    def fail(self, split):
        raise AssertionError("the file was parsed again")

    with monkeypatch.context() as patch:
        patch.setattr(builder.ClickLogBuilder, "_generate_examples", fail)
        patch.setattr(builder, "iter_chunks", fail)
        second = builder.load_click_data(path, SCHEMA, data_dir=tmp_path / "c")
    assert second.cache_dir == first.cache_dir
    assert (second.rows, second.positives) == (first.rows, first.positives)
    assert second.value_counts == first.value_counts
    # The counts are kept as arrays in an Arrow file, not in the JSON.
    assert all(isinstance(c, Counts) for c in second.value_counts.values())
    folder = pathlib.Path(second.cache_dir)
    assert set(read_counts(folder / "value_counts.arrow")) == set(first.value_counts)
    assert "value_counts" not in json.loads((folder / "metadata.json").read_text())
    assert second.numeric_stats == first.numeric_stats
    assert list(map(_key, _rows_of(second.streams["validation"](), SCHEMA))) == list(
        map(_key, _rows_of(first.streams["validation"](), SCHEMA))
    )
    # Another seed, or changed content under the same name, is another cache.
    other_seed = builder.load_click_data(path, SCHEMA, data_dir=tmp_path / "c", seed=1)
    assert other_seed.cache_dir != first.cache_dir
    _write_log(path, n=401)
    changed = builder.load_click_data(path, SCHEMA, data_dir=tmp_path / "c")
    assert changed.cache_dir != first.cache_dir
    assert sum(changed.rows.values()) == 401


def test_cache_root_from_environment(tmp_path, log, monkeypatch):
    path, _ = log
    monkeypatch.setenv("XENT_CACHE", str(tmp_path / "env"))
    assert builder.default_cache_dir() == tmp_path / "env"
    data = builder.load_click_data(path, SCHEMA)
    assert data.cache_dir.startswith(str(tmp_path / "env" / "xent_click_log"))


def test_test_file_is_the_test_split(tmp_path, log):
    path, train_rows = log
    test_path, test_rows = _write_log(tmp_path / "test.csv", n=57, start=1000)
    data = builder.load_click_data(
        path, SCHEMA, test_path=test_path, validation_fraction=0.2, data_dir=tmp_path
    )
    assert data.rows["test"] == 57
    test = _rows_of(data.streams["test"](), SCHEMA)
    assert list(map(_key, test)) == list(map(_key, test_rows))  # In file order.
    rest = _rows_of(data.streams["train"](), SCHEMA)
    rest += _rows_of(data.streams["validation"](), SCHEMA)
    assert collections.Counter(map(_key, rest)) == collections.Counter(
        map(_key, train_rows)
    )
    assert 40 < data.rows["validation"] < 120


def test_split_assignment_is_seeded_and_per_row():
    lines = range(1, 20_001)
    splits = [builder.split_of_line(n, 0, 0.1, 0.2) for n in lines]
    counts = collections.Counter(splits)
    assert abs(counts["test"] / 20_000 - 0.2) < 0.015
    assert abs(counts["validation"] / 20_000 - 0.1) < 0.015
    assert splits == [builder.split_of_line(n, 0, 0.1, 0.2) for n in lines]
    reseeded = [builder.split_of_line(n, 1, 0.1, 0.2) for n in lines]
    assert np.mean([a == b for a, b in zip(splits, reseeded, strict=True)]) < 0.8
    # Not contiguous blocks: test rows are spread over the file.
    test_lines = [n for n, s in zip(lines, splits, strict=True) if s == "test"]
    assert min(test_lines) < 100 and max(test_lines) > 19_900


def _splitmix64(z):
    """SplitMix64's output function on Python integers (the reference)."""
    mask = (1 << 64) - 1
    z = (z + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def test_split_codes_are_the_seeded_splitmix64_of_the_line():
    def reference(line, seed, validation_fraction, test_fraction):
        u = _splitmix64(_splitmix64(seed & ((1 << 64) - 1)) ^ line) / 2.0**64
        if u < test_fraction:
            return 2
        return 1 if u < test_fraction + validation_fraction else 0

    rng = np.random.default_rng(0)
    lines = np.concatenate(
        [np.arange(1, 3001), rng.integers(1, 2**62, 3000), [2**63 - 1]]
    )
    for seed, fractions in [(0, (0.1, 0.2)), (7, (0.3, 0.0)), (-5, (0.25, 0.25))]:
        codes = builder.split_codes(lines, seed, *fractions)
        expected = [reference(int(n), seed, *fractions) for n in lines]
        assert codes.tolist() == expected
        assert [
            builder.split_of_line(int(n), seed, *fractions) for n in lines[:50]
        ] == [builder.SPLITS[c] for c in expected[:50]]


def _mixed_log(tmp_path, fmt, n=3000):
    """A click log of mostly valid rows and, every so often, a malformed row,
    a blank line, a quoted field, a missing value, spaces or a CRLF; and its
    schema."""
    rng = np.random.default_rng(1)
    odd = [
        "{y},{site},x,{tags}",  # A number that is not one.
        "7,{site},1.5,{tags}",  # A label that is not one.
        "{y},{site}",  # Too few fields.
        "",  # A blank line.
        '{y},"{site},q",NA,{tags}',  # A quoted field (csv only).
        "{y}, {site} , 2.5 ,{tags}",  # Spaces.
        "{y},\u00a0{site},inf,{tags}",  # A non-ASCII space; inf.
        "{y},null,?,{tags}",  # Missing values.
        "{y},{site},1_000,{tags}",  # Not a number to the readers.
    ]
    lines = []
    for i in range(n):
        y, site = int(rng.random() < 0.3), f"s{int(rng.zipf(1.5)) % 200}"
        tags = ["a|b", "", "c", "b||a"][i % 4]
        if i % 37 == 5:
            text = odd[(i // 37) % len(odd)]
        else:
            price = "" if i % 10 == 0 else f"{rng.normal():.4f}"
            text = "{y},{site}," + price + ",{tags}"
        lines.append(text.format(y=y, site=site, tags=tags))
    schema = ClickSchema(
        "click", categorical=("site",), numeric=("price",), multi_value=("tags",)
    )
    if fmt == "tsv":
        lines = [line.replace(",", "\t").replace('"', "") for line in lines]
        schema = ClickSchema(
            "click",
            categorical=("site",),
            numeric=("price",),
            multi_value=("tags",),
            format="tsv",
            columns=("click", "site", "price", "tags"),
            header=False,
        )
    else:
        lines.insert(0, "click,site,price,tags")
    body = "\n".join(lines).encode("utf-8").replace(b"\n", b"\r\n", 100) + b"\n"
    body = body.replace(b"s13,", b"s13\xff,", 1)  # A line that is not UTF-8.
    path = tmp_path / f"mixed.{fmt}"
    path.write_bytes(body)
    return path, schema


def _every_row(data):
    """Each split's rows in stream order, NaN comparable."""
    return {
        split: list(map(_key, _rows_of(data.streams[split](), data.schema)))
        for split in builder.SPLITS
    }


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_prepared_data_is_the_same_read_vectorized_or_line_by_line(
    tmp_path, monkeypatch, fmt
):
    path, schema = _mixed_log(tmp_path, fmt)
    options = {"on_bad_rows": "skip", "max_bad_rows": 1000, "seed": 5}
    prepared = {}
    for vectorized in (True, False):
        with monkeypatch.context() as patch:
            # Small chunks: most are vectorized, those with a quote, a
            # non-ASCII space or a bad byte are read line by line.
            chunks = functools.partial(
                columnar.iter_chunks, chunk_bytes=2048, vectorized=vectorized
            )
            patch.setattr(builder, "iter_chunks", chunks)
            prepared[vectorized] = builder.load_click_data(
                path, schema, data_dir=tmp_path / str(vectorized), **options
            )
    fast, slow = prepared[True], prepared[False]
    assert fast.rows == slow.rows and fast.positives == slow.positives
    assert fast.bad_rows == slow.bad_rows and fast.bad_rows["count"] > 20
    assert fast.value_counts == slow.value_counts
    assert fast.numeric_stats == slow.numeric_stats
    assert fast.bounded_value_counts == slow.bounded_value_counts == {}
    assert _every_row(fast) == _every_row(slow)
    # Both are the row reader's rows, split by line.
    expected = collections.defaultdict(list)
    for line, row in readers.iter_numbered_rows(
        path, schema, "skip", 1000, bad_rows=readers.BadRows()
    ):
        row["price"] = float(np.float32(row["price"]))  # As stored.
        expected[builder.split_of_line(line, 5, 0.1, 0.1)].append(_key(row))
    for split, rows in _every_row(fast).items():
        assert collections.Counter(rows) == collections.Counter(expected[split])


def test_bad_rows_are_reported_split_by_split_in_line_order(tmp_path):
    path = tmp_path / "bad.csv"
    lines = [f"{i % 2},s,{i}" for i in range(400)]
    bad = [3, 40, 77, 150, 151, 230, 300, 371]
    for i in bad:
        lines[i] = f"{i % 2},s,bad{i}"
    path.write_text("y,site,price\n" + "\n".join(lines) + "\n")
    schema = ClickSchema("y", categorical=("site",), numeric=("price",))
    numbers = [i + 2 for i in bad]  # Line numbers: the header is line 1.

    def turn(line):  # Splits are prepared train, validation, test.
        return builder.SPLITS.index(builder.split_of_line(line, 0, 0.3, 0.3))

    order = sorted(numbers, key=lambda line: (turn(line), line))
    assert order != numbers  # The file mixes the splits' bad rows.
    data = builder.load_click_data(
        path,
        schema,
        validation_fraction=0.3,
        test_fraction=0.3,
        data_dir=tmp_path,
        on_bad_rows="skip",
        max_bad_rows=100,
    )
    assert data.bad_rows["count"] == len(bad)
    assert data.bad_rows["examples"] == [
        f"{path}:{line}: column 'price' (field 3) is numeric but has the value "
        f"'bad{line - 2}'"
        for line in order[:5]
    ]
    first_train = min(line for line in numbers if turn(line) == 0)
    with pytest.raises(ReadError, match=re.escape(f"{path}:{first_train}: ")):
        builder.load_click_data(
            path, schema, validation_fraction=0.3, test_fraction=0.3, data_dir=tmp_path
        )
    with pytest.raises(
        ReadError, match=re.escape(f"the first: {data.bad_rows['examples'][:4]}")
    ):
        builder.load_click_data(
            path,
            schema,
            validation_fraction=0.3,
            test_fraction=0.3,
            data_dir=tmp_path,
            on_bad_rows="skip",
            max_bad_rows=3,
        )


@pytest.mark.parametrize("longest", [255, 300, 70_000])
def test_strings_of_any_length_round_trip(tmp_path, longest):
    # Lengths are stored in 1, 2 or 4 bytes, by the block's longest string.
    values = ["", "é", "日本", "x" * longest, "a|b"]
    path = tmp_path / "strings.csv"
    lines = [f"{i % 2},{values[i % 5]},{values[(i + 1) % 5]}" for i in range(40)]
    path.write_text("y,site,tags\n" + "\n".join(lines) + "\n", encoding="utf-8")
    schema = ClickSchema("y", categorical=("site",), numeric=(), multi_value=("tags",))
    data = builder.load_click_data(
        path, schema, data_dir=tmp_path, validation_fraction=0.0, test_fraction=0.0
    )
    rows = _rows_of(data.streams["train"](), schema)
    expected = [
        {"y": i % 2, "site": values[i % 5], "tags": values[(i + 1) % 5]}
        for i in range(40)
    ]
    assert collections.Counter(map(_key, rows)) == collections.Counter(
        map(_key, expected)
    )


def test_value_counts_of_a_column_with_many_values_are_bounded(tmp_path):
    rng = np.random.default_rng(0)
    users = rng.zipf(1.3, 6000) % 5000
    lines = [f"{i % 2},u{u},s{i % 3}" for i, u in enumerate(users)]
    path = tmp_path / "users.csv"
    path.write_text("y,user,site\n" + "\n".join(lines) + "\n")
    schema = ClickSchema("y", categorical=("user", "site"), numeric=())
    data = builder.load_click_data(
        path, schema, data_dir=tmp_path, value_count_capacity=300
    )
    train = _rows_of(data.streams["train"](), schema)
    exact = collections.Counter(row["user"] for row in train)
    assert len(exact) > 300
    bound = data.bounded_value_counts["user"]
    floor = bound["max_undercount"]
    counts = data.value_counts["user"]
    assert bound["capacity"] == 300 and bound["kept"] == len(counts) <= 300
    for value, count in counts.items():
        assert count <= exact[value] <= count + floor
    assert {v for v, n in exact.items() if n > floor} <= set(counts)
    assert data.value_counts["site"] == collections.Counter(r["site"] for r in train)
    assert set(data.bounded_value_counts) == {"user"}
    with pytest.raises(ValueError, match="value_count_capacity"):
        builder.load_click_data(path, schema, data_dir=tmp_path, value_count_capacity=1)


def test_train_stream_is_reshuffled_each_epoch(tmp_path, log):
    path, _ = log
    data = builder.load_click_data(
        path, SCHEMA, data_dir=tmp_path, batch_size=64, shuffle_buffer=100
    )
    dataset = data.streams["train"]()
    epoch_1 = [_key(r) for r in _rows_of(dataset, SCHEMA)]
    epoch_2 = [_key(r) for r in _rows_of(dataset, SCHEMA)]
    assert epoch_1 != epoch_2
    assert collections.Counter(epoch_1) == collections.Counter(epoch_2)
    fresh = [_key(r) for r in _rows_of(data.streams["train"](), SCHEMA)]
    assert fresh == epoch_1  # Seeded: a fresh stream starts the same way.
    validation = data.streams["validation"]()
    once = list(map(_key, _rows_of(validation, SCHEMA)))
    assert once == list(map(_key, _rows_of(validation, SCHEMA)))


def test_bad_rows_skipped_or_failing(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "click,site,slot,price,tags\n"
        + "".join(f"{i % 2},s,1,{'x' if i in (3, 30) else i},a\n" for i in range(60))
    )
    with pytest.raises(ReadError, match=re.escape(f"{path}:5: column 'price'")):
        builder.load_click_data(path, SCHEMA, data_dir=tmp_path / "c")
    data = builder.load_click_data(
        path, SCHEMA, data_dir=tmp_path / "c", on_bad_rows="skip", max_bad_rows=2
    )
    assert sum(data.rows.values()) == 58
    assert data.bad_rows["count"] == 2
    assert sorted(data.bad_rows["examples"]) == sorted(
        f"{path}:{line}: column 'price' (field 4) is numeric but has the value 'x'"
        for line in (5, 32)
    )
    with pytest.raises(ReadError, match="more than max_bad_rows=1"):
        builder.load_click_data(
            path, SCHEMA, data_dir=tmp_path / "c", on_bad_rows="skip", max_bad_rows=1
        )


def test_empty_split_and_argument_checks(tmp_path, log):
    path, _ = log
    data = builder.load_click_data(
        path, SCHEMA, validation_fraction=0.0, test_fraction=0.0, data_dir=tmp_path
    )
    assert data.rows == {"train": 400, "validation": 0, "test": 0}
    assert list(data.streams["test"]()) == []
    assert data.streams["test"]().element_spec == data.streams["train"]().element_spec
    with pytest.raises(ValueError, match="validation_fraction"):
        builder.load_click_data(
            path, SCHEMA, validation_fraction=1.0, data_dir=tmp_path
        )
    with pytest.raises(ValueError, match="leaves no training rows"):
        builder.load_click_data(
            path, SCHEMA, validation_fraction=0.5, test_fraction=0.5, data_dir=tmp_path
        )
    with pytest.raises(ReadError, match="not found"):
        builder.load_click_data(tmp_path / "nope.csv", SCHEMA, data_dir=tmp_path)


def test_libsvm_file_through_the_builder(tmp_path):
    path = tmp_path / "data.libfm"
    lines = [f"{1 if i % 3 else -1} {i % 5}:1 {10 + i % 4}:1" for i in range(100)]
    path.write_text("\n".join(lines) + "\n")
    schema = readers.infer_schema(path, categorical=["user", "item"])
    data = builder.load_click_data(path, schema, data_dir=tmp_path, batch_size=1000)
    assert sum(data.rows.values()) == 100
    assert sum(data.positives.values()) == sum(1 for i in range(100) if i % 3)
    train = _rows_of(data.streams["train"](), schema)
    assert data.value_counts["user"] == collections.Counter(r["user"] for r in train)


# ---------------------------------------------------------------------------
# tfds catalog data sets (mocked: no download)


@contextlib.contextmanager
def _mock_catalog(**kwargs):
    """`tfds.testing.mock_data` for catalog data sets; xent's builder stays real.

    mock_data patches every `DatasetBuilder`; the patches are undone here for
    `ClickLogBuilder`, which then prepares and reads real shards.
    """
    core = tfds.core.dataset_builder
    names = [
        (core.DatasetBuilder, "__init__"),
        (core.DatasetBuilder, "download_and_prepare"),
        (core.DatasetBuilder, "as_dataset"),
        (core.FileReaderBuilder, "_as_dataset"),
    ]
    originals = {name: getattr(cls, name) for cls, name in names}
    with tfds.testing.mock_data(**kwargs), contextlib.ExitStack() as stack:
        for cls, name in names:
            mocked = getattr(cls, name)

            def dispatch(self, *args, _mocked=mocked, _name=name, **kw):
                if isinstance(self, builder.ClickLogBuilder):
                    return originals[_name](self, *args, **kw)
                return _mocked(self, *args, **kw)

            stack.enter_context(mock.patch.object(cls, name, dispatch))
        yield


def _movielens_examples(n):
    rng = np.random.default_rng(0)
    genres = [list(rng.choice(19, size=1 + i % 3, replace=False)) for i in range(n)]
    return {
        "movie_id": np.array([f"m{i % 7}".encode() for i in range(n)]),
        "movie_title": np.array([b"title"] * n),
        "movie_genres": genres,
        "user_id": np.array([f"u{i % 5}".encode() for i in range(n)]),
        "user_rating": (np.arange(n) % 5 + 1).astype(np.float32),
        "timestamp": np.arange(n, dtype=np.int64),
        "user_gender": np.array([i % 3 == 0 for i in range(n)]),
        "bucketized_user_age": np.full(n, 25.0, np.float32),
        "user_occupation_label": np.zeros(n, np.int64),
        "user_occupation_text": np.array([b"writer", b"artist"] * (n // 2)),
        "user_zip_code": np.array([b"55455"] * n),
        "raw_user_age": (np.arange(n) % 60 + 10).astype(np.float32),
    }


def test_tfds_movielens_with_known_examples(tmp_path):
    n = 80
    examples = _movielens_examples(n)

    def as_dataset(self, split, **kwargs):
        columns = dict(examples)
        columns["movie_genres"] = tf.ragged.constant(columns["movie_genres"], tf.int64)
        return tf.data.Dataset.from_tensor_slices(columns)

    with _mock_catalog(as_dataset_fn=as_dataset):
        data = builder.load_tfds_clicks(
            "tfds:movielens/100k-ratings", data_dir=tmp_path, batch_size=16
        )
        genre_names = (
            tfds.builder("movielens/100k-ratings")
            .info.features["movie_genres"]
            .feature.names
        )
    schema = data.schema
    assert data.name == "movielens/100k-ratings"
    assert schema.label == "user_rating" and schema.label_threshold == 4.0
    assert schema.categorical == (
        "user_id",
        "movie_id",
        "user_gender",
        "user_occupation_text",
        "user_zip_code",
        "user_age_bucket",
    )
    assert schema.multi_value == ("movie_genres",) and schema.numeric == ()

    def bucket(age):
        if age < 18:
            return "<18"
        return f">={max(b for b in (18, 25, 35, 45, 50, 56) if b <= age)}"

    expected = [
        {
            "user_rating": int(examples["user_rating"][i] >= 4),
            "user_id": f"u{i % 5}",
            "movie_id": f"m{i % 7}",
            "user_gender": "true" if i % 3 == 0 else "false",
            "user_occupation_text": ["writer", "artist"][i % 2],
            "user_zip_code": "55455",
            "user_age_bucket": bucket(i % 60 + 10),
            "movie_genres": "|".join(
                genre_names[g] for g in examples["movie_genres"][i]
            ),
        }
        for i in range(n)
    ]
    rows = []
    for split in builder.SPLITS:
        rows += _rows_of(data.streams[split](), schema)
    assert sum(data.rows.values()) == n
    assert sum(data.positives.values()) == sum(r["user_rating"] for r in expected)
    assert collections.Counter(map(_key, rows)) == collections.Counter(
        map(_key, expected)
    )


def test_tfds_mock_data_random_examples(tmp_path):
    with _mock_catalog(num_examples=50):
        data = builder.load_tfds_clicks(
            "movielens/100k-ratings",
            label_key="user_gender",  # Random booleans: both classes.
            data_dir=tmp_path,
            validation_fraction=0.2,
            test_fraction=0.2,
        )
    assert sum(data.rows.values()) == 50
    assert data.schema.label == "user_gender"
    assert "user_gender" not in data.schema.categorical
    # Generic roles: floats numeric, strings and ints categorical, lists multi.
    assert "raw_user_age" in data.schema.numeric
    assert "user_id" in data.schema.categorical
    assert data.schema.multi_value == ("movie_genres",)
    features, labels = next(iter(data.streams["train"]()))
    assert labels.dtype == tf.int64 and features["raw_user_age"].dtype == tf.float32
    with _mock_catalog(num_examples=5), pytest.raises(ReadError, match="unknown label"):
        builder.load_tfds_clicks(
            "movielens/100k-ratings", label_key="x", data_dir=tmp_path
        )


# ---------------------------------------------------------------------------
# The shared real data (skipped when ../shared/datasets is absent)


@pytest.mark.shared_data
def test_frappe_test_file_prepared_and_cached(shared_datasets, tmp_path):
    path = shared_datasets / "frappe" / "frappe.test.libfm"
    schema = readers.infer_schema(path)
    assert len(schema.categorical) == 10
    data = builder.load_click_data(path, schema, data_dir=tmp_path)
    assert sum(data.rows.values()) == 28_860
    assert sum(data.positives.values()) == 9_536
    again = builder.load_click_data(path, schema, data_dir=tmp_path)
    assert again.rows == data.rows and again.cache_dir == data.cache_dir
    batches = sum(1 for _ in data.streams["validation"]())
    assert batches == math.ceil(data.rows["validation"] / 1024)


def test_reading_a_prepared_file_logs_no_tfds_dtype_notice(tmp_path):
    """tfds 4.9 decodes bytes-encoded features (the packed blocks) through a
    deprecated `.dtype` and logged a notice for every prepared file read. A
    fresh process: absl logs the notice only the first 10 times per process."""
    import subprocess
    import sys
    import textwrap

    path, _ = _write_log(tmp_path / "log.csv", n=50)
    script = textwrap.dedent(f"""
        from xent.ctr import builder
        from xent.ctr.readers import ClickSchema
        schema = ClickSchema("click", categorical=("site", "slot"), numeric=("price",))
        data = builder.load_click_data(
            {str(path)!r}, schema, data_dir={str(tmp_path / "cache")!r},
            verbose=False, batch_size=16,
        )
        for split in ("train", "validation"):
            next(iter(data.streams[split]()))
        print("read")
    """)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "read"
    assert "is deprecated" not in out.stderr
