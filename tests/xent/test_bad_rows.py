"""Tests of `xent.bad_rows`: the policy, its count, and the line reader."""

import pytest

from xent.bad_rows import BadRows
from xent.bad_rows import Lines
from xent.bad_rows import ReadError
from xent.bad_rows import build_rejecter
from xent.bad_rows import check_policy


def test_skip_counts_keeps_the_first_reasons_and_is_bounded():
    counts = BadRows(max_examples=2)
    reject = build_rejecter("f.csv", "skip", 3, counts)
    for line in (2, 5, 9):
        reject(line, f"reason {line}")
    assert counts.to_dict() == {
        "count": 3,
        "examples": ["f.csv:2: reason 2", "f.csv:5: reason 5"],
    }
    with pytest.raises(ReadError, match=r"^f\.csv: more than max_bad_rows=3 "):
        reject(11, "reason 11")
    assert counts.count == 4


def test_fail_raises_at_the_first_row():
    counts = BadRows()
    with pytest.raises(ReadError, match=r"^f\.csv:7: bad$"):
        build_rejecter("f.csv", "fail", 100, counts)(7, "bad")
    assert counts.count == 0


@pytest.mark.parametrize(
    ("on_bad_rows", "max_bad_rows", "argument"),
    [
        ("drop", 1, "on_bad_rows"),
        ("skip", -1, "max_bad_rows"),
        ("skip", 1.5, "max_bad_rows"),
    ],
)
def test_invalid_policies_name_the_argument(on_bad_rows, max_bad_rows, argument):
    with pytest.raises(ValueError, match=f"Invalid value for argument {argument}"):
        check_policy(on_bad_rows, max_bad_rows)


def test_lines_end_at_lf_crlf_or_cr_and_skip_bytes_that_are_not_utf8(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"\xef\xbb\xbfa\r\nb\rc\xff\nd\n\ne")
    bad = []
    lines = Lines(str(path), lambda n, reason: bad.append((n, reason)))
    seen = [(text, lines.line) for text in lines]
    assert seen == [("a\r\n", 1), ("b\r", 2), ("d\n", 4), ("\n", 5), ("e", 6)]
    assert lines.rejected == 1
    assert bad == [
        (
            3,
            "not UTF-8 text (invalid start byte at byte 2 of the line; byte offset "
            "9 in the file)",
        )
    ]


def test_a_first_line_that_is_not_utf8_can_be_strict(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"\n  \nx\xff\ny\n")
    with pytest.raises(ReadError, match=r"f\.txt:3: not UTF-8 text"):
        list(Lines(str(path), lambda n, r: None, strict_first=True))
    assert list(Lines(str(path), lambda n, r: None)) == ["\n", "  \n", "y\n"]
