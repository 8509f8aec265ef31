"""Fuzz tests of `xent.data.tabular`'s CSV reader.

* Random bytes never raise anything but `ReadError` (from `read_csv`) or a
  `ValueError` (from `load_csv`: too few classes, a split that cannot be
  made), with a one-line message; `read_csv`'s names the file.
* Valid rows mixed with malformed ones (wrong number of fields, a line that
  is not UTF-8, a missing label, a non-number in a numeric column, a label
  that is not one of `class_names`), blank lines, LF or CRLF endings and an
  optional byte-order mark: with `"skip"` every valid row comes out with the
  same values in the same order, the skipped count is the number of
  malformed rows and the reasons name their lines; with `"fail"` reading
  stops at the first malformed line.

Fields never start with `"` (a quoted field may run over several lines).
The number of examples comes from the Hypothesis profile in
`tests/conftest.py`.
"""

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tests.xent.rows import not_a_number
from xent.bad_rows import BadRows
from xent.bad_rows import ReadError
from xent.data import csv_table
from xent.data import tabular
from xent.data.columns import MISSING_VALUES

_MISSING = list(MISSING_VALUES)
_CLASSES = ("no", "yes")


@dataclasses.dataclass
class _Case:
    lines: list[bytes]
    x: list[float]
    c: list[str]
    y: list[str]
    good_lines: list[int]
    bad_lines: list[int]
    class_names: tuple[str, ...] | None


def _text() -> st.SearchStrategy[str]:
    """A field as the reader keeps it: no comma or quote, stripped, not missing."""
    return st.text(
        st.characters(codec="utf-8", exclude_characters=',"\r\n'),
        min_size=1,
        max_size=8,
    ).filter(lambda v: v == v.strip() and v not in _MISSING)


def _float32(text: str) -> float:
    with np.errstate(over="ignore"):
        return float(np.float32(float(text)))


_NUMBER = st.one_of(
    st.floats(allow_nan=False).map(repr),
    st.integers(-(10**9), 10**9).map(str),
).map(lambda t: (t, _float32(t)))
_MAYBE_NUMBER = _NUMBER | st.sampled_from(_MISSING).map(lambda v: (v, math.nan))
_CATEGORY = _text().map(lambda v: (v, v)) | st.sampled_from(_MISSING).map(
    lambda v: (v, "")
)


@st.composite
def _case(draw):
    class_names = draw(st.sampled_from([None, _CLASSES]))
    if class_names is None:
        label = _text()
        bad_label = st.sampled_from(_MISSING)
    else:  # `encode_labels` takes yes/no in any case.
        label = st.sampled_from(["no", "yes", "NO", "Yes"])
        bad_label = st.sampled_from(["maybe", "2", "y", "", "NA"])

    @st.composite
    def valid(draw):
        x, x_value = draw(_MAYBE_NUMBER)
        c, c_value = draw(_CATEGORY)
        y = draw(label)
        return f"{x},{c},{y}", (x_value, c_value, y)

    @st.composite
    def bad(draw):
        text, _ = draw(valid())
        fields = text.split(",")
        kind = draw(st.sampled_from(["count", "number", "label", "encoding"]))
        if kind == "count":
            n = draw(st.integers(1, 6).filter(lambda n: n != 3))
            fields = (fields * 2)[:n]
            if n == 1 and not fields[0].strip():
                fields = ["x"]
        elif kind == "number":
            fields[0] = draw(_text().filter(not_a_number))
        elif kind == "label":
            fields[2] = draw(bad_label)
        line = ",".join(fields).encode("utf-8")
        if kind == "encoding":
            at = draw(st.integers(0, len(line)))
            line = line[:at] + draw(st.sampled_from([b"\xff", b"\xc0"])) + line[at:]
        return line

    lines = [b"x,c,y"]
    case = _Case(lines, [], [], [], [], [], class_names)
    kinds = draw(
        st.lists(st.sampled_from(["valid", "valid", "bad", "blank"]), max_size=25)
    )
    for kind in kinds:
        if kind == "valid":
            text, (x, c, y) = draw(valid())
            lines.append(text.encode("utf-8"))
            case.x.append(x)
            case.c.append(c)
            case.y.append(y)
            case.good_lines.append(len(lines))
        elif kind == "bad":
            lines.append(draw(bad()))
            case.bad_lines.append(len(lines))
        else:
            lines.append(draw(st.sampled_from([b"", b"  ", b"\t"])))
    return case


def _read(path, case, policy, max_bad_rows=100, bad_rows=None):
    return csv_table.read_csv(
        path,
        "y",
        categorical=["c"],
        numeric=["x"],
        class_names=case.class_names,
        on_bad_rows=policy,
        max_bad_rows=max_bad_rows,
        bad_rows=bad_rows,
    )


def test_valid_rows_survive_among_malformed_rows(tmp_path_factory):
    path = tmp_path_factory.mktemp("mixed") / "data.csv"

    @settings(deadline=None)
    @given(case=_case(), newline=st.sampled_from([b"\n", b"\r\n"]), bom=st.booleans())
    def check(case, newline, bom):
        body = newline.join(case.lines) + newline
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + body)
        counts = BadRows()
        if not case.good_lines:
            with pytest.raises(ReadError, match="no data rows"):
                _read(path, case, "skip", len(case.bad_lines), counts)
        else:
            table = _read(path, case, "skip", len(case.bad_lines), counts)
            np.testing.assert_array_equal(table.features["x"], case.x)
            assert table.features["x"].dtype == np.float32
            assert table.features["c"].tolist() == case.c
            assert table.labels.tolist() == case.y
            assert table.lines.tolist() == case.good_lines
        assert counts.count == len(case.bad_lines)
        for message, line in zip(counts.examples, case.bad_lines, strict=False):
            assert message.startswith(f"{path}:{line}: "), message
        if case.bad_lines:
            with pytest.raises(ReadError) as err:
                _read(path, case, "fail")
            assert str(err.value).startswith(f"{path}:{case.bad_lines[0]}: ")

    check()


_PIECES = st.sampled_from(
    [b",", b'"', b"\n", b"\r", b"\r\n", b" ", b"x", b"y", b"c", b"0", b"1",
     b"1.5", b"NA", b"nan", b"a", b"\xff", b"\xe9", b"\xef\xbb\xbf", b"\x00"]
)  # fmt: skip
_BYTES = st.one_of(
    st.binary(max_size=300), st.lists(_PIECES, max_size=80).map(b"".join)
)


def test_random_bytes_raise_only_documented_errors(tmp_path_factory):
    path = tmp_path_factory.mktemp("bytes") / "data.csv"

    @settings(deadline=None)
    @given(data=_BYTES, policy=st.sampled_from(["fail", "skip"]))
    def check(data, policy):
        path.write_bytes(data)
        try:
            csv_table.read_csv(path, "y", on_bad_rows=policy)
        except ReadError as err:
            assert str(path) in str(err)
            assert "\n" not in str(err) and "\r" not in str(err), str(err)
        try:
            tabular.load_csv(path, "y", on_bad_rows=policy)
        except ValueError as err:
            assert "\n" not in str(err) and "\r" not in str(err), str(err)

    check()
