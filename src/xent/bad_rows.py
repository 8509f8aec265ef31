"""Malformed rows in data files: the fail/skip policy, its count, the lines.

Every file reader (`xent.ctr.readers` for click logs, `xent.data.tabular`
for classification CSV files) applies one policy to a malformed row (wrong
number of fields, an unparsable number, an invalid label, a line that is not
UTF-8, ...):

* `"fail"` (the default): raise `ReadError("file:line: reason")` at the
  first one;
* `"skip"`: drop it, count it in a `BadRows` (with the first reasons as
  `"file:line: reason"`), and raise once more than `max_bad_rows` were
  skipped.

Problems that are not one row (a missing or empty file, a header that lacks a
column, a first line that is not UTF-8) always raise `ReadError`.

`Lines` reads a file's lines for the readers: decoded one by one, so that a
line that is not UTF-8 is reported by its number (or skipped) without losing
the rest of the file.

>>> counts = BadRows()
>>> reject = build_rejecter("clicks.csv", "skip", 10, counts)
>>> reject(3, "expected 3 fields, found 4")
>>> counts.to_dict()
{'count': 1, 'examples': ['clicks.csv:3: expected 3 fields, found 4']}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "ON_BAD_ROWS",
    "BadRows",
    "Lines",
    "ReadError",
    "build_rejecter",
    "check_file",
    "check_policy",
    "csv_records",
]

ON_BAD_ROWS = ("fail", "skip")
"""Values of the `on_bad_rows` arguments and config fields."""

_UTF16_MARKS = (b"\xff\xfe", b"\xfe\xff")


class ReadError(ValueError):
    """A data file cannot be read; the message names the file (and line)."""


@dataclasses.dataclass
class BadRows:
    """Malformed rows skipped while reading (filled in by the readers).

    Attributes:
        count: Rows skipped so far.
        examples: The first `max_examples` reasons, as `"file:line: reason"`.
        max_examples: How many reasons to keep.
    """

    count: int = 0
    examples: list[str] = dataclasses.field(default_factory=list)
    max_examples: int = 5

    def add(self, message: str) -> None:
        """Counts one skipped row and keeps its reason if among the first."""
        self.count += 1
        if len(self.examples) < self.max_examples:
            self.examples.append(message)

    def to_dict(self) -> dict[str, Any]:
        """`{"count": n, "examples": [...]}`."""
        return {"count": self.count, "examples": list(self.examples)}


def check_config_bound(max_bad_rows: int) -> None:
    """Refuses a negative `data.max_bad_rows` (a config field).

    Raises:
        ValueError: Naming the field.
    """
    if max_bad_rows < 0:
        raise ValueError(
            "Invalid value for data.max_bad_rows: expected an integer >= 0, "
            f"received {max_bad_rows!r}"
        )


def check_policy(on_bad_rows: str, max_bad_rows: int) -> None:
    """Raises `ValueError` naming the argument if the policy is invalid."""
    if on_bad_rows not in ON_BAD_ROWS:
        raise ValueError(
            f"Invalid value for argument on_bad_rows. Expected one of "
            f"{list(ON_BAD_ROWS)}. Received: on_bad_rows={on_bad_rows!r}"
        )
    if isinstance(max_bad_rows, bool) or not isinstance(max_bad_rows, int):
        raise ValueError(
            f"Invalid value for argument max_bad_rows. Expected an integer >= 0. "
            f"Received: max_bad_rows={max_bad_rows!r}"
        )
    if max_bad_rows < 0:
        raise ValueError(
            f"Invalid value for argument max_bad_rows. Expected an integer >= 0. "
            f"Received: max_bad_rows={max_bad_rows!r}"
        )


def check_file(path: str) -> None:
    """Raises `ReadError` if `path` is missing or a directory."""
    file = Path(path)
    if not file.exists():
        raise ReadError(f"Data file not found: {path}")
    if file.is_dir():
        raise ReadError(f"Data file {path} is a directory")


def build_rejecter(
    path: str, on_bad_rows: str, max_bad_rows: int, bad_rows: BadRows
) -> Callable[[int, str], None]:
    """The function a reader calls with `(line, reason)` for a malformed row.

    Args:
        path: The file, for the messages.
        on_bad_rows: `"fail"` or `"skip"`.
        max_bad_rows: With `"skip"`, the most rows that may be skipped.
        bad_rows: Receives the skipped rows (shared by several files to bound
            them together).

    Returns:
        `reject(line, reason)`: raises `ReadError("path:line: reason")` with
        `"fail"`; with `"skip"` counts the row and raises `ReadError` once
        more than `max_bad_rows` rows were skipped.
    """

    def reject(line: int, reason: str) -> None:
        message = f"{path}:{line}: {reason}"
        if on_bad_rows == "fail":
            raise ReadError(message)
        bad_rows.add(message)
        if bad_rows.count > max_bad_rows:
            raise ReadError(
                f"{path}: more than max_bad_rows={max_bad_rows} malformed rows "
                f"were skipped; the first: {bad_rows.examples}"
            )

    return reject


class Lines:
    """The decoded lines of a file, with the 1-based number of the last one.

    Lines end at `\\n`, `\\r\\n` or a lone `\\r` (as Python's universal
    newlines and the `csv` module read them) and keep their ending. A leading
    byte-order mark is dropped. A line that is not UTF-8 goes to `on_bad`
    with its number and reason and is not yielded; with `strict_first`, the
    first non-blank line (a header, or what decides the layout) raises
    `ReadError` instead.

    Attributes:
        path: The file.
        line: The number of the line yielded last (0 before the first).
        read: The number of the line read last, yielded or sent to `on_bad`
            (past `line` when the lines after it were not UTF-8).
        rejected: How many lines went to `on_bad` (they are rows, if bad).
    """

    def __init__(
        self,
        path: str,
        on_bad: Callable[[int, str], None],
        strict_first: bool = False,
    ) -> None:
        self.path = path
        self.on_bad = on_bad
        self.strict_first = strict_first
        self.line = 0
        self.read = 0
        self.rejected = 0

    def __iter__(self) -> Iterator[str]:
        with open(self.path, "rb") as file:
            yield from self.decode(_physical_lines(file))

    def decode(
        self, pieces: Iterable[bytes], number: int = 0, offset: int = 0
    ) -> Iterator[str]:
        """The text of raw lines (with their endings), as `__iter__` gives it.

        Args:
            pieces: Consecutive lines of the file, as bytes with their endings
                (e.g. `chunk.splitlines(keepends=True)` of whole lines).
            number: The number of the line before the first piece (0 at the
                start of the file).
            offset: The byte offset of the first piece in the file.

        Yields:
            The decoded lines; `line` is the number of the line yielded last.
        """
        seen_text = False
        for raw in pieces:
            number += 1
            self.read = number
            start, offset = offset, offset + len(raw)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                reason = _not_utf8_reason(raw, number, start, err)
                if self.strict_first and not seen_text:
                    raise ReadError(f"{self.path}:{number}: {reason}") from None
                self.rejected += 1
                self.on_bad(number, reason)
                continue
            if number == 1 and text.startswith("\ufeff"):
                text = text[1:]
            seen_text = seen_text or bool(text.strip())
            self.line = number
            yield text


def _physical_lines(file: Iterable[bytes]) -> Iterator[bytes]:
    """The lines of a binary file with their endings: a line ends at `\\n`,
    `\\r\\n` or a lone `\\r` (as `bytes.splitlines` splits)."""
    for chunk in file:
        # Binary files split at b"\n" only; a lone b"\r" ends a line too.
        yield from chunk.splitlines(keepends=True) if b"\r" in chunk else (chunk,)


def _not_utf8_reason(
    raw: bytes, number: int, offset: int, err: UnicodeDecodeError
) -> str:
    """Why the line `raw` (line `number`, at byte `offset`) is a bad row."""
    if number == 1 and raw.startswith(_UTF16_MARKS):
        return (
            "not UTF-8 text: the file starts with a UTF-16 byte-order mark (save "
            "it as UTF-8)"
        )
    return (
        f"not UTF-8 text ({err.reason} at byte {err.start + 1} of the line; byte "
        f"offset {offset + err.start} in the file)"
    )


def csv_records(reader: Iterator[list[str]], on_error: Callable[[Exception], None]):
    """The records of a `csv.reader`, going on after a malformed line.

    `csv.reader` raises `csv.Error` for a malformed line and resumes at the
    next one; each error goes to `on_error` (which raises to stop, or returns
    to skip the line).
    """
    import csv

    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            on_error(err)
            continue
        yield record
