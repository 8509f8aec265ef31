"""Fuzz tests of `xent.ctr.readers`: random bytes, and valid rows among bad ones.

Two properties for every format (csv, tsv, criteo, avazu, one-hot and
multi-value libsvm):

* random bytes never raise anything but `ReadError`, whose message is one
  line naming the file;
* a file of valid rows mixed with malformed ones (wrong number of fields,
  unparsable numbers, bad `idx:val` tokens, invalid labels, bad `hour`
  values, lines that are not UTF-8), with blank lines, CRLF or LF endings and
  an optional byte-order mark: with `"skip"` every valid row comes out with
  the same values in the same order, the skipped count is the number of
  malformed rows and the reasons name their lines; with `"fail"` reading
  stops at the first malformed line.

Malformed rows never hold a `"` at the start of a field: in a CSV file that
opens a quoted field running over the next lines (RFC 4180), so the lines
after it are part of that field, not rows. The number of examples comes from
the Hypothesis profile in `tests/conftest.py` (60; `HYPOTHESIS_PROFILE=
thorough` runs 1500).
"""

import dataclasses
import datetime
import math

import pytest
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tests.xent.rows import assert_same_rows
from tests.xent.rows import not_a_number
from xent.ctr import readers
from xent.ctr.readers import CRITEO_CATEGORICAL
from xent.ctr.readers import CRITEO_NUMERIC
from xent.ctr.readers import BadRows
from xent.ctr.readers import ClickSchema
from xent.ctr.readers import ReadError
from xent.data.columns import MISSING_VALUES

# The spellings the module docstring documents, and their labels.
_LABELS = [
    ("0", 0),
    ("1", 1),
    ("-1", 0),
    ("+1", 1),
    ("1.0", 1),
    ("0.0", 0),
    ("true", 1),
    ("FALSE", 0),
    ("True", 1),
]
_MISSING = list(MISSING_VALUES)  # All of them: text never spells one.
_CRITEO_COLUMNS = ("label", *CRITEO_NUMERIC, *CRITEO_CATEGORICAL)


@dataclasses.dataclass
class _Case:
    """A file's lines, the rows a reader must yield, the malformed lines."""

    schema: ClickSchema
    suffix: str
    lines: list[bytes]
    expected: list[dict]
    bad_lines: list[int]


def _write(folder, case_or_bytes, suffix=".csv", newline=b"\n", bom=False):
    path = folder / f"data{suffix}"
    if isinstance(case_or_bytes, bytes):
        path.write_bytes(case_or_bytes)
    else:
        body = newline.join(case_or_bytes) + newline
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + body)
    return path


# ---------------------------------------------------------------------------
# Value strategies.


def _text(exclude: str, min_size: int = 1) -> st.SearchStrategy[str]:
    """Field text as a reader keeps it: no delimiter, no surrounding spaces."""
    return st.text(
        st.characters(codec="utf-8", exclude_characters=exclude + '"\r\n'),
        min_size=min_size,
        max_size=8,
    ).filter(lambda v: v == v.strip() and v not in _MISSING)


def _category(delimiter: str) -> st.SearchStrategy[tuple[str, str]]:
    """`(field, value read)`: text, or a missing token read as `""`."""
    return st.one_of(
        _text(delimiter).map(lambda v: (v, v)),
        st.sampled_from(_MISSING).map(lambda v: (v, "")),
    )


_NUMBER = st.one_of(
    st.floats(allow_nan=False).map(lambda x: (repr(x), x)),
    st.integers(-(10**12), 10**12).map(lambda i: (str(i), float(i))),
    st.sampled_from(_MISSING).map(lambda v: (v, math.nan)),
)


def _not_a_number(delimiter: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(["abc", "1_000", "1.2.3", "0x10", "1e", "--1", "١٢x"]),
        _text(delimiter).filter(not_a_number),
    )


def _bad_label(delimiter: str) -> st.SearchStrategy[str]:
    valid = {spelling.lower() for spelling, _ in _LABELS} | {"-1.0", "+1.0"}
    return st.one_of(
        st.sampled_from(["2", "yes", "0.5", "-", "clicked", "01", ""]),
        _text(delimiter).filter(lambda v: v.lower() not in valid),
    )


def _not_utf8(draw, line: bytes) -> bytes:
    """`line` with a byte that cannot occur in UTF-8 text inserted."""
    at = draw(st.integers(0, len(line)))
    return line[:at] + draw(st.sampled_from([b"\xff", b"\xfe", b"\xc0"])) + line[at:]


@st.composite
def _mixed_lines(draw, valid_row, bad_row, header=None, first_valid=False):
    """Lines of valid rows, malformed rows and blank lines, in random order.

    Returns `(lines, expected rows, numbers of the malformed lines)`.
    """
    lines = [] if header is None else [header.encode("utf-8")]
    expected, bad_lines = [], []
    # At least one row: a file without any is an error of its own.
    kinds = draw(
        st.lists(
            st.sampled_from(["valid", "valid", "bad", "blank"]), max_size=25
        ).filter(lambda kinds: set(kinds) - {"blank"})
    )
    if first_valid:
        kinds = ["valid", *kinds]
    for kind in kinds:
        if kind == "valid":
            text, row = draw(valid_row)
            lines.append(text.encode("utf-8"))
            expected.append(row)
        elif kind == "bad":
            lines.append(draw(bad_row))
            bad_lines.append(len(lines))
        else:
            lines.append(draw(st.sampled_from([b"", b"  "])))
    return lines, expected, bad_lines


@st.composite
def _bad_fields(draw, valid_row, delimiter, width, replace):
    """A malformed delimited row from a valid one: a wrong field count, a
    field replaced by `replace[i]` (a strategy), or a byte that is not UTF-8."""
    text, _ = draw(valid_row)
    fields = text.split(delimiter)
    kind = draw(st.sampled_from(["count", "field", "encoding"]))
    if kind == "count":
        n = draw(st.integers(1, width + 3).filter(lambda n: n != width))
        fields = (fields + fields)[:n] if n > width else fields[:n]
        if n == 1 and not fields[0].strip():
            fields = ["x"]
    elif kind == "field":
        i = draw(st.sampled_from(sorted(replace)))
        fields[i] = draw(replace[i])
    line = delimiter.join(fields).encode("utf-8")
    return _not_utf8(draw, line) if kind == "encoding" else line


# ---------------------------------------------------------------------------
# Cases per format.


@st.composite
def _csv_case(draw, delimiter=","):
    fmt = "csv" if delimiter == "," else "tsv"
    schema = ClickSchema("click", categorical=("site",), numeric=("price",), format=fmt)
    category = _category(delimiter)

    @st.composite
    def valid(draw):
        label, y = draw(st.sampled_from(_LABELS))
        site, site_value = draw(category)
        price, price_value = draw(_NUMBER)
        row = {"click": y, "site": site_value, "price": price_value}
        return delimiter.join([label, site, price]), row

    bad = _bad_fields(
        valid(),
        delimiter,
        3,
        {0: _bad_label(delimiter), 2: _not_a_number(delimiter)},
    )
    header = delimiter.join(["click", "site", "price"])
    lines, expected, bad_lines = draw(_mixed_lines(valid(), bad, header))
    return _Case(schema, f".{fmt}", lines, expected, bad_lines)


@st.composite
def _criteo_case(draw):
    schema = ClickSchema(
        "label",
        categorical=CRITEO_CATEGORICAL,
        numeric=CRITEO_NUMERIC,
        format="criteo",
        columns=_CRITEO_COLUMNS,
        header=False,
    )
    hex_value = st.one_of(
        st.text("0123456789abcdef", min_size=8, max_size=8),
        st.just(""),
    )

    @st.composite
    def valid(draw):
        label, y = draw(st.sampled_from(_LABELS[:2]))
        numbers = [draw(_NUMBER) for _ in CRITEO_NUMERIC]
        categories = [draw(hex_value) for _ in CRITEO_CATEGORICAL]
        row = {"label": y}
        row |= {c: v for c, (_, v) in zip(CRITEO_NUMERIC, numbers, strict=True)}
        row |= dict(zip(CRITEO_CATEGORICAL, categories, strict=True))
        fields = [label, *(t for t, _ in numbers), *categories]
        return "\t".join(fields), row

    bad = _bad_fields(valid(), "\t", 40, {0: _bad_label("\t"), 5: _not_a_number("\t")})
    # Header-less: the first line decides the layout, so it is a valid row.
    lines, expected, bad_lines = draw(_mixed_lines(valid(), bad, first_valid=True))
    return _Case(schema, ".txt", lines, expected, bad_lines)


@st.composite
def _avazu_case(draw):
    columns = ("id", "click", "hour", "C1", "site_id")
    schema = ClickSchema(
        "click",
        categorical=("hour_of_day", "weekday", "C1", "site_id"),
        numeric=(),
        format="avazu",
        columns=columns,
    )
    category = _category(",")

    @st.composite
    def valid(draw):
        label, y = draw(st.sampled_from(_LABELS))
        day = draw(st.dates(datetime.date(2000, 1, 1), datetime.date(2099, 12, 31)))
        hour = draw(st.integers(0, 23))
        c1, c1_value = draw(category)
        site, site_value = draw(category)
        row_id = str(draw(st.integers(0, 10**20)))
        row = {
            "click": y,
            "hour_of_day": f"{hour:02d}",
            "weekday": str(day.weekday()),
            "C1": c1_value,
            "site_id": site_value,
        }
        fields = [row_id, label, f"{day:%y%m%d}{hour:02d}", c1, site]
        return ",".join(fields), row

    bad_hour = st.one_of(
        st.sampled_from(["14102199", "14023010", "1410210", "abcdefgh", "141021 0"]),
        _text(",").filter(lambda v: not (len(v) == 8 and v.isdigit())),
    )
    bad = _bad_fields(valid(), ",", 5, {1: _bad_label(","), 2: bad_hour})
    lines, expected, bad_lines = draw(_mixed_lines(valid(), bad, ",".join(columns)))
    return _Case(schema, ".csv", lines, expected, bad_lines)


_SPACE = st.sampled_from([" ", "  ", "\t"])
_INDEX = st.integers(0, 10**6).map(str)
_BAD_TOKEN = st.sampled_from(
    ["3", "a:1", ":1", "3:", "3:x", "-3:1", "3:1:1", "\u0663:1", "3:1_0", "3.5:1"]
)


@st.composite
def _libsvm_line(draw, label, tokens):
    space = draw(_SPACE)
    return space.join([label, *tokens])


@st.composite
def _one_hot_case(draw):
    width = 3
    schema = ClickSchema(
        "label",
        categorical=tuple(f"f{i}" for i in range(width)),
        numeric=(),
        format="libsvm",
    )

    @st.composite
    def valid(draw):
        label, y = draw(st.sampled_from(_LABELS))
        indices = [draw(_INDEX) for _ in range(width)]
        values = [draw(st.sampled_from(["1", "1.0", "1e0"])) for _ in range(width)]
        tokens = [f"{i}:{v}" for i, v in zip(indices, values, strict=True)]
        row = {"label": y} | {f"f{k}": i for k, i in enumerate(indices)}
        return draw(_libsvm_line(label, tokens)), row

    @st.composite
    def bad(draw):
        text, _ = draw(valid())
        tokens = text.split()
        kind = draw(st.sampled_from(["width", "token", "value", "label", "utf8"]))
        if kind == "width":
            n = draw(st.integers(0, width + 2).filter(lambda n: n != width))
            tokens = tokens[:1] + [f"{draw(_INDEX)}:1" for _ in range(n)]
        elif kind == "token":
            tokens[draw(st.integers(1, width))] = draw(_BAD_TOKEN)
        elif kind == "value":
            value = draw(st.sampled_from(["0", "0.5", "2", "-1", "nan", "inf"]))
            tokens[draw(st.integers(1, width))] = f"7:{value}"
        elif kind == "label":
            tokens[0] = draw(_bad_label(" ").filter(lambda v: v.split() == [v]))
        line = " ".join(tokens).encode("utf-8")
        return _not_utf8(draw, line) if kind == "utf8" else line

    lines, expected, bad_lines = draw(_mixed_lines(valid(), bad()))
    return _Case(schema, ".libsvm", lines, expected, bad_lines)


@st.composite
def _multi_value_case(draw):
    schema = ClickSchema(
        "label",
        categorical=(),
        numeric=(),
        multi_value=("features",),
        format="libsvm",
    )
    value = st.one_of(
        st.floats().map(repr),
        st.sampled_from(["1", "0", "-0", "0.0", "2.5", "1e-3"]),
    )

    @st.composite
    def valid(draw):
        label, y = draw(st.sampled_from(_LABELS))
        pairs = draw(st.lists(st.tuples(_INDEX, value), max_size=6))
        tokens = [f"{i}:{v}" for i, v in pairs]
        # A token is present when its value is not 0 (NaN is not 0).
        present = [i for i, v in pairs if float(v) != 0.0]
        row = {"label": y, "features": "|".join(present)}
        return draw(_libsvm_line(label, tokens)), row

    @st.composite
    def bad(draw):
        text, _ = draw(valid())
        tokens = text.split()
        kind = draw(st.sampled_from(["token", "label", "utf8"]))
        if kind == "token":
            at = draw(st.integers(1, len(tokens)))
            tokens.insert(at, draw(_BAD_TOKEN))
        elif kind == "label":
            tokens[0] = draw(_bad_label(" ").filter(lambda v: v.split() == [v]))
        line = " ".join(tokens).encode("utf-8")
        return _not_utf8(draw, line) if kind == "utf8" else line

    lines, expected, bad_lines = draw(_mixed_lines(valid(), bad()))
    return _Case(schema, ".libsvm", lines, expected, bad_lines)


_CASES = {
    "csv": _csv_case(","),
    "tsv": _csv_case("\t"),
    "criteo": _criteo_case(),
    "avazu": _avazu_case(),
    "libsvm_one_hot": _one_hot_case(),
    "libsvm_multi_value": _multi_value_case(),
}


# ---------------------------------------------------------------------------
# The properties.


@pytest.mark.parametrize("name", sorted(_CASES))
def test_valid_rows_survive_among_malformed_rows(name, tmp_path_factory):
    folder = tmp_path_factory.mktemp(name)

    @settings(deadline=None)
    @given(
        case=_CASES[name],
        newline=st.sampled_from([b"\n", b"\r\n"]),
        bom=st.booleans(),
    )
    def check(case, newline, bom):
        path = _write(folder, case.lines, case.suffix, newline, bom)
        counts = BadRows()
        rows = list(
            readers.iter_rows(
                path,
                case.schema,
                on_bad_rows="skip",
                max_bad_rows=len(case.bad_lines),
                bad_rows=counts,
            )
        )
        assert_same_rows(rows, case.expected)
        assert counts.count == len(case.bad_lines)
        for message, line in zip(counts.examples, case.bad_lines, strict=False):
            assert message.startswith(f"{path}:{line}: "), message
        if case.bad_lines:
            first = case.bad_lines[0]
            with pytest.raises(ReadError) as err:
                list(readers.iter_rows(path, case.schema, on_bad_rows="fail"))
            assert str(err.value).startswith(f"{path}:{first}: ")
            if len(case.bad_lines) > 1:
                with pytest.raises(ReadError, match="more than max_bad_rows"):
                    list(
                        readers.iter_rows(
                            path,
                            case.schema,
                            on_bad_rows="skip",
                            max_bad_rows=len(case.bad_lines) - 1,
                        )
                    )
        else:
            rows = list(readers.iter_rows(path, case.schema, on_bad_rows="fail"))
            assert_same_rows(rows, case.expected)

    check()


_SCHEMAS = [
    ClickSchema("click", categorical=("site",), numeric=("price",)),
    ClickSchema(
        "click",
        categorical=("site",),
        numeric=("price",),
        format="tsv",
        columns=("click", "site", "price"),
    ),
    ClickSchema(
        "label",
        categorical=CRITEO_CATEGORICAL,
        numeric=CRITEO_NUMERIC,
        format="criteo",
        columns=_CRITEO_COLUMNS,
    ),
    ClickSchema(
        "click",
        categorical=("hour_of_day", "weekday", "site"),
        numeric=(),
        format="avazu",
    ),
    ClickSchema("label", categorical=("f0", "f1"), numeric=(), format="libsvm"),
    ClickSchema(
        "label", categorical=(), numeric=(), multi_value=("features",), format="libsvm"
    ),
]

# Bytes that make structure: delimiters, quotes, line ends, tokens, bad UTF-8.
_PIECES = st.sampled_from(
    [
        b",",
        b"\t",
        b" ",
        b":",
        b'"',
        b"\n",
        b"\r",
        b"\r\n",
        b"|",
        b"0",
        b"1",
        b"-1",
        b"7:1",
        b"1.5",
        b"nan",
        b"inf",
        b"click",
        b"hour",
        b"label",
        b"site",
        b"price",
        b"14102100",
        b"\xff",
        b"\xe9",
        b"\xef\xbb\xbf",
        b"\x00",
        b"\\",
    ]
)
_BYTES = st.one_of(
    st.binary(max_size=300),
    st.lists(_PIECES, max_size=80).map(b"".join),
)


def _read_all(path, schema, policy):
    return list(readers.iter_rows(path, schema, on_bad_rows=policy))


def _only_read_errors(path, function, *args, **kwargs):
    try:
        function(*args, **kwargs)
    except ReadError as err:
        message = str(err)
        assert str(path) in message, message
        assert "\n" not in message and "\r" not in message, message


def test_random_bytes_raise_only_read_errors(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bytes")

    @settings(deadline=None)
    @given(
        data=_BYTES,
        suffix=st.sampled_from([".csv", ".libsvm", ".txt"]),
        policy=st.sampled_from(["fail", "skip"]),
    )
    # Found by this test: a libsvm line without idx:val tokens, a lone \r in
    # the first line, a file whose only column is the label.
    @example(data=b"\n:", suffix=".libsvm", policy="fail")
    @example(data=b'\ri"n\\n"\x00\nnn0" 0|i0', suffix=".txt", policy="fail")
    @example(data=b"click\n\x00", suffix=".csv", policy="fail")
    def check(data, suffix, policy):
        path = _write(folder, data, suffix)
        for fmt in readers.FORMATS:
            _only_read_errors(path, readers.infer_schema, path, fmt, on_bad_rows=policy)
        for schema in _SCHEMAS:
            _only_read_errors(path, _read_all, path, schema, policy)

    check()
