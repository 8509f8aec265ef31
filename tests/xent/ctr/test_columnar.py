"""Tests of `xent.ctr.columnar`: chunked, vectorized reading of click logs.

The reference is the row reader, `xent.ctr.readers.iter_numbered_rows`:
for random files of valid rows, malformed rows, blank lines, quotes,
missing-value tokens, surrounding and non-ASCII spaces, CRLF, lone CR,
byte-order marks and bytes that are not UTF-8, `iter_chunks` (vectorized
and line by line, with chunks of a few bytes so that rows and quoted fields
straddle them) must give the same rows with the same values, the same
malformed-row reasons in the same order and the same errors.
"""

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from xent.bad_rows import BadRows
from xent.bad_rows import ReadError
from xent.bad_rows import build_rejecter
from xent.ctr import columnar
from xent.ctr import readers
from xent.ctr.readers import ClickSchema

_EVERY = 10**9  # Skip every malformed row and keep every reason.


def _reference(path, schema, policy, keep):
    """`(rows, reasons, error)` of the row reader."""
    counts = BadRows(max_examples=_EVERY)
    rows, error = [], None
    try:
        for line, row in readers.iter_numbered_rows(
            path, schema, policy, _EVERY, bad_rows=counts, keep=keep
        ):
            rows.append((line, _comparable(row)))
    except ReadError as err:
        error = str(err)
    return rows, counts.examples, error


def _chunked(path, schema, policy, groups, **kwargs):
    """`(rows by group, reasons, error)` of `iter_chunks`."""
    counts = BadRows(max_examples=_EVERY)
    reject = build_rejecter(str(path), policy, _EVERY, counts)
    rows, error = {}, None
    try:
        for group, chunk in columnar.iter_chunks(
            path, schema, reject, groups=groups, **kwargs
        ):
            rows.setdefault(group, []).extend(_chunk_rows(chunk, schema))
    except ReadError as err:
        error = str(err)
    return rows, counts.examples, error


def _chunk_rows(chunk, schema):
    columns = {c: v.to_pylist() for c, v in chunk.strings.items()}
    columns |= {c: v.tolist() for c, v in chunk.numbers.items()}
    columns[schema.label] = chunk.label.tolist()
    lines = chunk.lines.tolist()
    return [
        (line, _comparable({c: values[i] for c, values in columns.items()}))
        for i, line in enumerate(lines)
    ]


def _comparable(row):
    """A row with its value types, NaN made equal to itself."""
    return tuple(
        sorted(
            (k, type(v).__name__, "nan" if v != v else v)  # noqa: PLR0124
            for k, v in row.items()
        )
    )


def _assert_same_reading(path, schema, groups_seed, chunk_bytes):
    """`iter_chunks` reads `path` as `iter_numbered_rows` does, per group."""

    def groups(lines):
        # -1 (passed over), 0 or 1, from the line number.
        return (np.asarray(lines) * 7 + groups_seed) % 5 % 3 - 1

    def keep(line):
        return groups(line) >= 0

    for policy in ("skip", "fail"):
        rows, reasons, error = _reference(path, schema, policy, keep)
        for vectorized in (True, False):
            found = _chunked(
                path,
                schema,
                policy,
                groups,
                chunk_bytes=chunk_bytes,
                vectorized=vectorized,
            )
            got_rows, got_reasons, got_error = found
            assert got_error == error, (vectorized, policy)
            assert got_reasons == reasons, (vectorized, policy)
            if error is None:
                for group in (0, 1):
                    expected = [r for r in rows if groups(r[0]) == group]
                    assert got_rows.get(group, []) == expected, (vectorized, group)


# ---------------------------------------------------------------------------
# Random files.

# `str.strip` removes these; Arrow's ASCII trim does not.
_PYTHON_ONLY_SPACES = [
    c for c in map(chr, range(0x110000)) if c.isspace() and c not in " \t\n\v\f\r"
]
_MISSING = ["", "?", "NA", "N/A", "NaN", "nan", "null", "None", " NA "]
_LABELS = ["0", "1", "-1", "+1", "1.0", "0.0", "true", "FALSE", " 1", "1 ", "2", ""]
_NUMBERS = [
    "0",
    "1",
    "-1",
    "2.5",
    "-0.125",
    "1e5",
    "1E-3",
    ".5",
    "5.",
    "+3",
    " 7 ",
    "007",
    "1e400",
    "1e-400",
    "123456789012345678901234567890",
    "inf",
    "-Infinity",
    "nan",
    "1_000",
    "abc",
    "0x10",
    "\u0663",
    "1.2.3",
]
_WORDS = ["a", "b", "s1", "x y", " pad ", "\u00e9t\u00e9", "a|b", "|a||b|", "N", "n"]


def _field(values, delimiter):
    """A field: mostly from `values`, sometimes odd text."""
    odd = st.text(
        st.characters(
            codec="utf-8",
            exclude_characters=delimiter + "\r\n",
            include_characters=_PYTHON_ONLY_SPACES[:6] + ['"', "\ufeff"],
        ),
        max_size=4,
    )
    return st.one_of(
        st.sampled_from(values),
        st.sampled_from(_MISSING),
        st.sampled_from(_PYTHON_ONLY_SPACES).map(lambda c: f"{c}v{c}"),
        odd,
    )


@st.composite
def _delimited_file(draw, delimiter, roles, header):
    """A delimited file of valid and malformed rows, blank lines, quotes."""
    fields = {
        "label": _field(_LABELS, delimiter),
        "numeric": _field(_NUMBERS, delimiter),
        "categorical": _field(_WORDS, delimiter),
        "hour": st.sampled_from(["14102100", "14102123", "14023010", "1410", ""]),
        "id": st.integers(0, 10**20).map(str),
    }
    width = len(roles)
    lines = [delimiter.join(name for name, _ in roles).encode()] if header else []
    for _ in range(draw(st.integers(1, 25))):
        kind = draw(st.sampled_from(["plain", "plain", "plain", "odd", "other"]))
        if kind == "other":
            line = draw(
                st.sampled_from(
                    [
                        b"",
                        b"  ",
                        b"\t",
                        b'"',
                        delimiter.encode() * (width - 1),
                        b"1" + delimiter.encode() + b"x",
                        b"\xff\xfe",
                        b'1,"a\nb",2',
                    ]
                )
            )
        else:
            values = []
            for _, role in roles:
                if kind == "plain" and role in ("numeric", "categorical", "label"):
                    pick = {"numeric": ["1", "2.5", "", "-3"], "label": ["0", "1"]}
                    values.append(draw(st.sampled_from(pick.get(role, ["a", "bb"]))))
                else:
                    values.append(draw(fields[role]))
            if delimiter == "," and draw(st.booleans()):
                i = draw(st.integers(0, width - 1))
                values[i] = '"' + values[i].replace('"', '""') + '"'
            line = delimiter.join(values).encode()
        lines.append(line)
    endings = draw(st.lists(st.sampled_from([b"\n", b"\r\n", b"\r"]), min_size=1))
    body = b"".join(line + endings[i % len(endings)] for i, line in enumerate(lines))
    if not draw(st.booleans()):
        body = body.rstrip(b"\r\n")
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + body


_FORMATS = {
    "csv": (
        ClickSchema(
            "click",
            categorical=("site",),
            numeric=("price",),
            multi_value=("tags",),
            format="csv",
        ),
        ",",
        [
            ("click", "label"),
            ("site", "categorical"),
            ("price", "numeric"),
            ("tags", "categorical"),
        ],
        True,
    ),
    "tsv": (
        ClickSchema(
            "click",
            categorical=("site",),
            numeric=("price",),
            format="tsv",
            columns=("click", "site", "price"),
            header=False,
        ),
        "\t",
        [("click", "label"), ("site", "categorical"), ("price", "numeric")],
        False,
    ),
    "criteo": (
        ClickSchema(
            "label",
            categorical=("C1", "C2"),
            numeric=("I1", "I2"),
            format="criteo",
            columns=("label", "I1", "I2", "C1", "C2"),
            header=False,
        ),
        "\t",
        [
            ("label", "label"),
            ("I1", "numeric"),
            ("I2", "numeric"),
            ("C1", "categorical"),
            ("C2", "categorical"),
        ],
        False,
    ),
    "avazu": (
        ClickSchema(
            "click",
            categorical=("hour_of_day", "weekday", "C1"),
            numeric=(),
            format="avazu",
        ),
        ",",
        [("id", "id"), ("click", "label"), ("hour", "hour"), ("C1", "categorical")],
        True,
    ),
    "threshold": (
        ClickSchema(
            "rating",
            categorical=("user",),
            numeric=(),
            format="csv",
            label_threshold=2.0,
        ),
        ",",
        [("rating", "numeric"), ("user", "categorical")],
        True,
    ),
}


@pytest.mark.parametrize("name", sorted(_FORMATS))
def test_chunks_read_random_files_as_the_row_reader(name, tmp_path_factory):
    folder = tmp_path_factory.mktemp(name)
    schema, delimiter, roles, header = _FORMATS[name]

    @settings(deadline=None)
    @given(
        data=_delimited_file(delimiter, roles, header),
        groups_seed=st.integers(0, 4),
        chunk_bytes=st.sampled_from([1, 7, 40, 1 << 16]),
    )
    def check(data, groups_seed, chunk_bytes):
        path = folder / "data.txt"
        path.write_bytes(data)
        _assert_same_reading(path, schema, groups_seed, chunk_bytes)

    check()


_CRITEO_ROW = b"0\t1\t1\ta\ta\n"
_AVAZU_ROW = b"0,0,14102100,a\n"
# Files found by the random files above, each with an open quote that reads
# to the end of the file, past a last line that is not UTF-8; the line
# numbers the row reader reports, in its order.
_QUOTED_TO_THE_END = {
    # The layout's first row is the quote: the chunks read the last line
    # again and rejected it twice.
    "first_row": (
        "criteo",
        b'"\n' + _CRITEO_ROW * 3 + b"\n" + _CRITEO_ROW * 6 + b"\n\xff\xfe",
        0,
        [":13", ":12"],
    ),
    # (A CI run.) The quote is on line 12 and the row ends on line 14: the
    # row reader reports line 15, read while it read that row, before the
    # row; the chunks sorted their reports by line.
    "later_row": (
        "avazu",
        b"id,click,hour,C1\n" + _AVAZU_ROW * 10 + b'"\n' + _AVAZU_ROW * 2 + b"\xff\xfe",
        1,
        [":15", ":14"],
    ),
}


@pytest.mark.parametrize("chunk_bytes", [1, 1 << 16])
@pytest.mark.parametrize("case", sorted(_QUOTED_TO_THE_END))
def test_a_row_quoted_to_the_end_past_a_line_not_utf8(tmp_path, case, chunk_bytes):
    name, data, groups_seed, expected = _QUOTED_TO_THE_END[case]
    path = tmp_path / "data.txt"
    path.write_bytes(data)
    schema = _FORMATS[name][0]
    _assert_same_reading(path, schema, groups_seed, chunk_bytes)
    _, reasons, _ = _reference(path, schema, "skip", lambda line: True)
    assert [reason.split(": ")[0][-3:] for reason in reasons] == expected


@pytest.mark.parametrize("multi_value", [False, True])
def test_libsvm_chunks_are_the_row_readers_rows(tmp_path, multi_value):
    path = tmp_path / "data.libsvm"
    lines = [f"{i % 2} {i % 5}:1 {10 + i % 3}:1" for i in range(300)]
    lines[7] = "1 3:1"
    lines[50] = "x 1:1 2:1"
    path.write_text("\n".join(lines) + "\n")
    schema = (
        ClickSchema("label", (), (), multi_value=("features",), format="libsvm")
        if multi_value
        else ClickSchema("label", ("f0", "f1"), (), format="libsvm")
    )
    _assert_same_reading(path, schema, 3, 1 << 16)


def test_a_large_file_is_read_in_many_vectorized_chunks(tmp_path):
    rng = np.random.default_rng(0)
    n = 20_000
    price = np.round(rng.normal(size=n), 3).astype(str)
    price[rng.random(n) < 0.1] = ""
    site = np.char.add("s", rng.integers(0, 50, n).astype(str))
    labels = rng.integers(0, 2, n)
    lines = [f"{y}\t{s}\t{p}" for y, s, p in zip(labels, site, price, strict=True)]
    lines[123] = "1\ts"  # A malformed row among vectorized chunks.
    path = tmp_path / "big.tsv"
    path.write_text("\n".join(lines) + "\n")
    schema = ClickSchema(
        "y",
        categorical=("site",),
        numeric=("price",),
        format="tsv",
        columns=("y", "site", "price"),
        header=False,
    )
    _assert_same_reading(path, schema, 1, 4096)


def test_python_only_spaces_are_stripped_like_the_row_reader(tmp_path):
    path = tmp_path / "spaces.csv"
    rows = [f"1,{c}v{c},{c}2{c}" for c in _PYTHON_ONLY_SPACES]
    path.write_text("y,site,price\n" + "\n".join(rows) + "\n", encoding="utf-8")
    schema = ClickSchema("y", categorical=("site",), numeric=("price",))
    _assert_same_reading(path, schema, 0, 1 << 16)
    rows, reasons, error = _chunked(path, schema, "fail", None)
    assert error is None and reasons == []
    sites = [dict((k, v) for k, _, v in row) for _, row in rows[0]]
    assert {row["site"] for row in sites} == {"v"}


def test_chunk_batches_round_trip_and_select_rows():
    chunk = columnar.ColumnChunk(
        np.array([3, 5, 9]),
        np.array([1, 0, 1]),
        {"site": pa.array(["a", "", "c"])},
        {"price": np.array([1.5, math.nan, -2.0])},
    )
    again = columnar.ColumnChunk.from_record_batch(chunk.to_record_batch())
    assert again.lines.tolist() == [3, 5, 9] and again.label.tolist() == [1, 0, 1]
    assert again.strings["site"].to_pylist() == ["a", "", "c"]
    np.testing.assert_array_equal(again.numbers["price"], chunk.numbers["price"])
    picked = chunk.take(np.array([True, False, True]))
    assert picked.lines.tolist() == [3, 9]
    assert picked.strings["site"].to_pylist() == ["a", "c"]
    joined = columnar.ColumnChunk.concat([chunk.slice(0, 1), chunk.slice(2, 3)])
    assert joined.strings["site"].to_pylist() == ["a", "c"]
    assert joined.numbers["price"].tolist() == [1.5, -2.0]


def test_a_byte_order_mark_after_the_first_line_is_a_character(tmp_path):
    # Only the file's first line loses a byte-order mark; Arrow's reader
    # would drop one at the start of any buffer.
    path = tmp_path / "marks.csv"
    bom = b"\xef\xbb\xbf"
    path.write_bytes(bom + b"y,site\n" + bom + b"1,a\n0," + bom + b"b\n1,c\n")
    schema = ClickSchema("y", categorical=("site",), numeric=())
    _assert_same_reading(path, schema, 0, 1 << 16)
    rows, reasons, _ = _chunked(path, schema, "skip", None)
    assert [line for line, _ in rows[0]] == [3, 4]
    marked = "\ufeff1"
    assert reasons == [
        f"{path}:2: label column 'y' has the value {marked!r}; expected a binary "
        "label (0/1, -1/1 or true/false) or a label_threshold"
    ]


def test_long_fields_and_the_csv_field_size_limit(tmp_path):
    path = tmp_path / "long.csv"
    limit = 131_072  # The `csv` module's default field size limit.
    fields = ["a" * 300, "b" * 70_000, "c" * (limit + 1), "d"]
    path.write_text("y,site\n" + "".join(f"1,{f}\n" for f in fields))
    schema = ClickSchema("y", categorical=("site",), numeric=())
    _assert_same_reading(path, schema, 0, 1 << 16)
    _assert_same_reading(path, schema, 0, 1 << 20)
    rows, reasons, _ = _chunked(path, schema, "skip", None)
    assert [line for line, _ in rows[0]] == [2, 3, 5]
    assert len(reasons) == 1 and reasons[0].startswith(f"{path}:4: malformed line")


# Bytes that make structure: delimiters, quotes, line ends, labels, numbers,
# missing tokens, spaces, bad UTF-8, byte-order marks, NUL.
_PIECES = st.sampled_from(
    [
        b",",
        b"\t",
        b" ",
        b'"',
        b"\n",
        b"\r",
        b"\r\n",
        b"|",
        b"0",
        b"1",
        b"-1",
        b"1.5",
        b"NA",
        b"nan",
        b"inf",
        b"click",
        b"site",
        b"price",
        b"tags",
        b"hour",
        b"14102100",
        b"\xff",
        b"\xc2\xa0",
        b"\xef\xbb\xbf",
        b"\x00",
        b"\x1c",
        b"7:1",
    ]
)


@pytest.mark.parametrize("name", sorted(_FORMATS))
def test_chunks_read_random_bytes_as_the_row_reader(name, tmp_path_factory):
    folder = tmp_path_factory.mktemp(name)
    schema, *_ = _FORMATS[name]

    @settings(deadline=None)
    @given(
        data=st.one_of(
            st.binary(max_size=200), st.lists(_PIECES, max_size=80).map(b"".join)
        ),
        chunk_bytes=st.sampled_from([1, 13, 1 << 16]),
    )
    def check(data, chunk_bytes):
        path = folder / "data.txt"
        path.write_bytes(data)
        _assert_same_reading(path, schema, 2, chunk_bytes)

    check()
