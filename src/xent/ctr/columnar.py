"""Click logs read into columns, a chunk of lines at a time.

`iter_chunks` streams the rows of a click log as `ColumnChunk`s (the rows of
about 16 MiB of the file as NumPy and Arrow columns) for `xent.ctr.builder`,
sorted into groups of lines (the splits) in one pass. It yields the rows and
values, and reports the malformed rows with the messages, that
`xent.ctr.readers.iter_numbered_rows` yields and reports one row at a time,
in the same order; only faster.

Delimited files (csv, tsv, criteo, avazu) take a vectorized path: the lines
of a chunk are split with `bytes` methods, the lines of a group are parsed
into string columns by Arrow's CSV reader (without quoting), and
`pyarrow.compute` kernels strip the fields (ASCII whitespace), map the
missing-value tokens, look up binary labels and parse decimal numbers (once
per distinct field). The values these kernels do not cover (e.g. `inf`, a
label ` TRUE `, an Avazu `hour`) are converted one distinct value at a time
by the row reader's functions (`xent.ctr.delimited`); a row whose value does
not convert is converted again by the row converter, which gives the reason
of the first bad field, and a line with the wrong number of fields (or a
blank one) goes through the row reader too. So every value and every message
comes from the row reader's rules.

A chunk the vectorized path cannot read exactly as the `csv` module does is
read line by line by the row reader (`DelimitedRows`): one that is not all
UTF-8, holds a `"` in a quoting format (csv, avazu, comma-separated criteo),
a NUL byte or a byte-order mark, whitespace that `str.strip` removes but
Arrow does not (`\\x1c`-`\\x1f`, non-ASCII spaces), or a line longer than
the `csv` module's field size limit. A quoted field running over the
chunk's end moves the lines of its row to the next chunk.

libSVM files and tfds catalog rows are read row by row and gathered into
chunks (`build_column_chunk`).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import itertools
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from operator import methodcaller
from os import PathLike
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from xent.bad_rows import Lines
from xent.bad_rows import ReadError
from xent.bad_rows import check_file
from xent.ctr.click_schema import BINARY_LABELS
from xent.ctr.click_schema import ClickSchema
from xent.ctr.click_schema import RowError
from xent.ctr.click_schema import build_label_parser
from xent.ctr.delimited import DelimitedLayout
from xent.ctr.delimited import DelimitedRows
from xent.ctr.delimited import delimited_reader
from xent.ctr.delimited import number_value
from xent.ctr.delimited import read_layout
from xent.ctr.delimited import split_hour
from xent.ctr.libsvm import libsvm_rows
from xent.data.columns import MISSING_VALUES

__all__ = [
    "CHUNK_BYTES",
    "ColumnChunk",
    "build_column_chunk",
    "iter_chunks",
    "iter_row_chunks",
]

CHUNK_BYTES = 1 << 24
"""Bytes of the file read per chunk (whole lines: a chunk ends at a line end).
A 10M-row Criteo-layout file prepared in 52 s with 16 MiB, 56 s with 4 MiB:
fewer chunks, less Python per row while the reading thread and the counting
and writing one share the interpreter."""
_ROW_CHUNK = 65_536  # Rows per chunk of the row-by-row readers.

# `str.strip` removes these, Arrow's ASCII trim does not: \x1c-\x1f and the
# non-ASCII spaces, in UTF-8 (checked against `str.isspace` by
# tests/xent/ctr/test_columnar.py). Substring tests are much faster than a
# regular expression over a chunk.
_ASCII_ONLY_PYTHON_SPACES = (b"\x1c", b"\x1d", b"\x1e", b"\x1f")
_PYTHON_ONLY_SPACES = _ASCII_ONLY_PYTHON_SPACES + tuple(
    chr(c).encode("utf-8")
    for c in (0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F)
    + (0x205F, 0x3000)
)
_SPACE_LEAD_BYTES = (b"\xc2", b"\xe1", b"\xe2", b"\xe3")  # Of the non-ASCII ones.
# Decimal numbers: Arrow's cast and Python's `float` both round them
# correctly, so they agree; other spellings (inf, 1_000, ...) go to `float`.
_DECIMAL = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_MISSING = pa.array(MISSING_VALUES, pa.string())
# The first bytes of the missing-value tokens: one-byte searches are fast.
_MISSING_FIRST_BYTES = tuple(
    {token[:1].encode("ascii") for token in MISSING_VALUES} - {b""}
)
_BINARY_SPELLINGS = pa.array(list(BINARY_LABELS), pa.string())
_BINARY_VALUES = np.array(list(BINARY_LABELS.values()), np.int64)


@dataclasses.dataclass(frozen=True)
class ColumnChunk:
    """Consecutive rows of a click log, as columns.

    Attributes:
        lines: The rows' line numbers (int64, increasing).
        label: The 0/1 labels (int64).
        strings: The categorical and multi-value columns (Arrow string
            arrays of the values as read, `""` when missing).
        numbers: The numeric columns (float64, NaN when missing).
    """

    lines: np.ndarray
    label: np.ndarray
    strings: dict[str, pa.Array]
    numbers: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.label)

    def slice(self, start: int, stop: int) -> ColumnChunk:
        """The rows `start:stop` (no copy of the strings)."""
        return ColumnChunk(
            self.lines[start:stop],
            self.label[start:stop],
            {c: v.slice(start, stop - start) for c, v in self.strings.items()},
            {c: v[start:stop] for c, v in self.numbers.items()},
        )

    def take(self, rows: np.ndarray) -> ColumnChunk:
        """The rows where the boolean array `rows` is true."""
        mask = pa.array(rows, pa.bool_())
        return ColumnChunk(
            self.lines[rows],
            self.label[rows],
            {c: v.filter(mask) for c, v in self.strings.items()},
            {c: v[rows] for c, v in self.numbers.items()},
        )

    def to_record_batch(self) -> pa.RecordBatch:
        """The chunk as an Arrow record batch (`from_record_batch` inverts)."""
        columns = {"lines": self.lines, "label": self.label}
        columns |= {f"string:{c}": v for c, v in self.strings.items()}
        columns |= {f"number:{c}": v for c, v in self.numbers.items()}
        return pa.RecordBatch.from_pydict(columns)

    @staticmethod
    def from_record_batch(batch: pa.RecordBatch) -> ColumnChunk:
        """The chunk `to_record_batch` gave."""
        columns = dict(zip(batch.schema.names, batch.columns, strict=True))
        return ColumnChunk(
            columns.pop("lines").to_numpy(),
            columns.pop("label").to_numpy(),
            {
                name.removeprefix("string:"): values
                for name, values in columns.items()
                if name.startswith("string:")
            },
            {
                name.removeprefix("number:"): values.to_numpy()
                for name, values in columns.items()
                if name.startswith("number:")
            },
        )

    @staticmethod
    def concat(chunks: Sequence[ColumnChunk]) -> ColumnChunk:
        """The rows of `chunks` (at least one), in order."""
        if len(chunks) == 1:
            return chunks[0]
        first = chunks[0]
        return ColumnChunk(
            np.concatenate([c.lines for c in chunks]),
            np.concatenate([c.label for c in chunks]),
            {
                name: pa.concat_arrays([c.strings[name] for c in chunks])
                for name in first.strings
            },
            {
                name: np.concatenate([c.numbers[name] for c in chunks])
                for name in first.numbers
            },
        )


def build_column_chunk(
    schema: ClickSchema, rows: Sequence[tuple[int, dict[str, Any]]]
) -> ColumnChunk:
    """The `(line, row dict)` rows of a row reader as a `ColumnChunk`."""
    return ColumnChunk(
        np.fromiter((line for line, _ in rows), np.int64, len(rows)),
        np.fromiter((row[schema.label] for _, row in rows), np.int64, len(rows)),
        {
            c: pa.array([row[c] for _, row in rows], pa.string())
            for c in schema.categorical + schema.multi_value
        },
        {
            c: np.fromiter((row[c] for _, row in rows), np.float64, len(rows))
            for c in schema.numeric
        },
    )


def iter_chunks(
    path: str | PathLike[str],
    schema: ClickSchema,
    reject: Callable[[int, str], None],
    header: bool | None = None,
    groups: Callable[[np.ndarray], np.ndarray] | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    vectorized: bool = True,
) -> Iterator[tuple[int, ColumnChunk]]:
    """The rows of a click log, a chunk at a time, sorted into groups.

    The rows, values and malformed rows are those of
    `xent.ctr.readers.iter_numbered_rows` (see the module docstring). With
    `groups`, one pass reads the rows of several line filters (the splits of
    `xent.ctr.builder`): the rows of a group come in file order, as
    `iter_numbered_rows` with `keep(line) = groups(line) == group` gives
    them.

    >>> reject = build_rejecter("clicks.csv", "skip", 100, BadRows())  # doctest: +SKIP
    >>> for _, chunk in iter_chunks("clicks.csv", schema, reject):  # doctest: +SKIP
    ...     chunk.label.mean()

    Args:
        path: The file.
        schema: Its columns and format (e.g. from `infer_schema`).
        reject: Gets `(line, reason)` for each malformed row of a group, in
            line order, as `iter_numbered_rows` gives them to its policy:
            usually `xent.bad_rows.build_rejecter(path, on_bad_rows,
            max_bad_rows, bad_rows)`.
        header: As in `iter_numbered_rows`.
        groups: `groups(lines)`, an integer array, gives the group of each
            of the line numbers `lines` (int64), or -1 to pass the line over;
            `None` puts every row in group 0.
        chunk_bytes: Bytes read per chunk.
        vectorized: False reads every chunk line by line (for tests).

    Yields:
        `(group, ColumnChunk)`; chunks without rows are not yielded.

    Raises:
        ReadError: As `iter_numbered_rows`, and whatever `reject` raises.
    """
    path = str(path)
    check_file(path)
    if schema.format == "tfds":
        raise ReadError(f"{path}: a schema of format 'tfds' cannot read files")
    group_of = _Groups(groups)
    keep_line = None if groups is None else group_of.keeps
    if keep_line is not None:
        reject = _kept_only(reject, keep_line)
    if header is None:
        header = schema.header
    if schema.format == "libsvm":
        lines = Lines(path, reject)
        rows = libsvm_rows(path, schema, lines, reject, keep_line)
        for chunk in iter_row_chunks(schema, rows):
            yield from group_of.split(chunk)
        return
    lines = Lines(path, reject, strict_first=True)
    layout, _ = read_layout(path, schema, lines, header)
    reader = _ChunkReader(path, schema, layout, reject, group_of, vectorized)
    reader.rejected = lines.rejected
    if layout.first_row is not None:
        records = [(layout.first_row, layout.first_number)]
        rows = list(reader.converter.rows(records, reject, keep_line))
        yield from group_of.split(build_column_chunk(schema, rows))
    with open(path, "rb") as file:
        # After every line the layout read: its first row's, and the lines
        # that were not UTF-8 after them (a quoted first row open to the end
        # of the file reads them), which were rejected there.
        for number, offset, chunk, final in _line_chunks(
            file, lines.read, chunk_bytes, reader
        ):
            yield from reader.read(chunk, number, offset, final)
    reader.converter.check_end(reader.rejected)


def iter_row_chunks(
    schema: ClickSchema, rows: Iterable[tuple[int, dict[str, Any]]]
) -> Iterator[ColumnChunk]:
    """The `(line, row dict)`s of a row reader, gathered into chunks."""
    rows = iter(rows)
    while batch := list(itertools.islice(rows, _ROW_CHUNK)):
        yield build_column_chunk(schema, batch)


class _Groups:
    """The groups of line numbers (see `iter_chunks`)."""

    def __init__(self, groups: Callable[[np.ndarray], np.ndarray] | None) -> None:
        self.groups = groups
        self.block = -1
        self.codes = np.zeros(0, np.int64)

    def __call__(self, lines: np.ndarray) -> np.ndarray:
        if self.groups is None:
            return np.zeros(len(lines), np.int64)
        return np.asarray(self.groups(lines), np.int64)

    def keeps(self, line: int) -> bool:
        """Whether `line` is in a group (from blocks of 65,536 lines)."""
        block = line >> 16
        if block != self.block:
            self.block = block
            self.codes = self(np.arange(block << 16, (block + 1) << 16))
        return bool(self.codes[line & 0xFFFF] >= 0)

    def split(self, chunk: ColumnChunk) -> Iterator[tuple[int, ColumnChunk]]:
        """`(group, its rows)` of a chunk of rows in groups."""
        if not len(chunk):
            return
        codes = self(chunk.lines)
        present = np.unique(codes)
        if len(present) == 1:
            yield int(present[0]), chunk
            return
        for group in present.tolist():
            yield group, chunk.take(codes == group)


def _kept_only(
    reject: Callable[[int, str], None], keep: Callable[[int], bool]
) -> Callable[[int, str], None]:
    def reject_kept(line: int, reason: str) -> None:
        if keep(line):  # Else no group reads this line.
            reject(line, reason)

    return reject_kept


def _line_chunks(
    file: Any, skip: int, chunk_bytes: int, reader: _ChunkReader
) -> Iterator[tuple[int, int, bytes, bool]]:
    """`(number of the line before the chunk, byte offset, chunk, final)`:
    whole lines after the first `skip` ones. After each chunk, `reader`
    says how many of its lines it read (`lines_read`); the bytes of the
    others (`carry`, an unfinished quoted row) start the next chunk."""
    number = offset = 0
    pending = b""
    final = False
    while not final:
        data = file.read(chunk_bytes)
        final = not data
        if final:
            chunk, pending = pending, b""
        else:
            # After the last line end; a final b"\r" may be half of b"\r\n".
            cut = max(data.rfind(b"\n"), data.rfind(b"\r", 0, len(data) - 1)) + 1
            if cut == 0:
                pending += data
                continue
            chunk = b"".join((pending, memoryview(data)[:cut]))
            pending = data[cut:]
        if skip:
            pieces = chunk.splitlines(keepends=True)
            head = pieces[:skip]
            skip -= len(head)
            number += len(head)
            skipped = sum(map(len, head))
            offset += skipped
            chunk = chunk[skipped:]
        if not chunk:
            continue
        reader.carry = 0
        yield number, offset, chunk, final
        number += reader.lines_read
        if reader.carry:  # The lines of an unfinished quoted row: read again.
            used = len(chunk) - reader.carry
            pending = chunk[used:] + pending
            offset += used
            final = False
        else:
            offset += len(chunk)


class _ChunkReader:
    """Reads chunks of a delimited file: vectorized, else line by line.

    Attributes:
        converter: The row reader's converter (`DelimitedRows`).
        rejected: Lines that were not UTF-8 (for `converter.check_end`).
        lines_read: Set by `read`: the lines of the chunk it read.
        carry: Set by `read`: the bytes at the chunk's end to read again with
            the next chunk (0: none).
    """

    def __init__(
        self,
        path: str,
        schema: ClickSchema,
        layout: DelimitedLayout,
        reject: Callable[[int, str], None],
        groups: _Groups,
        vectorized: bool,
    ) -> None:
        self.path = path
        self.schema = schema
        self.layout = layout
        self.reject = reject
        self.groups = groups
        self.vectorized = vectorized
        self.converter = DelimitedRows(path, schema, layout)
        self.rejected = 0
        self.carry = 0
        self.lines_read = 0
        delimiter = layout.delimiter
        self.delimiter = delimiter.encode("ascii")
        self.quoting = delimiter != "\t"  # `delimited_reader`'s dialects.
        positions = self.converter.positions
        self.label_parser = build_label_parser(schema.label, schema.label_threshold)
        used = sorted(
            {positions.label}
            | {i for _, i in positions.strings + positions.numbers}
            | ({positions.hour} if positions.hour is not None else set())
        )
        self.used = used
        width = len(layout.names)
        self.csv_options = (
            pa_csv.ReadOptions(
                column_names=[f"f{i}" for i in range(width)],
                use_threads=True,
                block_size=1 << 20,
            ),
            {
                "delimiter": delimiter,
                "quote_char": False,
                "escape_char": False,
                "newlines_in_values": False,
                "ignore_empty_lines": False,
            },
            pa_csv.ConvertOptions(
                column_types={f"f{i}": pa.string() for i in used},
                include_columns=[f"f{i}" for i in used],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=[],
                check_utf8=False,  # Checked per chunk.
            ),
        )

    def read(
        self, chunk: bytes, number: int, offset: int, final: bool
    ) -> list[tuple[int, ColumnChunk]]:
        """The `(group, rows)` of a chunk (its first line is `number + 1`, at
        byte `offset`); rejects its malformed rows, in line order."""
        text = self._plain_text(chunk) if self.vectorized else None
        if text is not None:
            found = self._vectorized(text, number)
            if found is not None:
                parts, events = found
                self._report(events)
                return parts
        return self._line_by_line(chunk, number, offset, final)

    def _report(
        self, events: list[tuple[int, str]], places: list[int] | None = None
    ) -> None:
        """Rejects `events` in the order of their `places` (by default their
        own lines), those of one place as given."""
        keys = places if places is not None else [line for line, _ in events]
        for i in sorted(range(len(events)), key=keys.__getitem__):
            self.reject(*events[i])

    def _plain_text(self, chunk: bytes) -> bytes | None:
        """The chunk with `\\n` line ends, if the vectorized path reads it as
        the `csv` module does; else None."""
        if not chunk.isascii():
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError:
                return None
            if b"\xef\xbb\xbf" in chunk:
                return None
        if _has_python_only_space(chunk):
            return None
        if b"\x00" in chunk or (self.quoting and b'"' in chunk):
            return None
        if b"\r" in chunk:
            # A lone \r ends a line too (as `bytes.splitlines` splits).
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        return chunk

    def _vectorized(
        self, text: bytes, number: int
    ) -> tuple[list[tuple[int, ColumnChunk]], list[tuple[int, str]]] | None:
        """The `(group, rows)` and the `(line, reason)`s of the malformed
        rows, or None if a value is not read as the row reader reads it (then
        the chunk is read line by line)."""
        lines = text.split(b"\n")
        if text.endswith(b"\n"):
            lines.pop()
        if lines and max(map(len, lines)) > csv.field_size_limit():
            return None  # The `csv` module refuses a field this long.
        self.lines_read = len(lines)
        delimiter = self.delimiter
        if not self.converter.any_row and (
            delimiter in text or text.translate(None, b" \t\n\x0b\x0c\r")
        ):
            self.converter.any_row = True  # A line that is not blank.
        numbers = np.arange(number + 1, number + 1 + len(lines), dtype=np.int64)
        codes = self.groups(numbers)
        cleaning = _Cleaning.of(text, delimiter)
        events: list[tuple[int, str]] = []
        parts = []
        for group in np.unique(codes).tolist():
            if group < 0:
                continue
            chosen = codes == group
            # Python bools: compress tests numpy ones ten times slower.
            group_lines = list(itertools.compress(lines, chosen.tolist()))
            rows = self._rows(group_lines, numbers[chosen], cleaning, events)
            if rows is None:
                return None
            if len(rows):
                parts.append((group, rows))
        return parts, events

    def _rows(
        self,
        lines: list[bytes],
        numbers: np.ndarray,
        cleaning: _Cleaning,
        events: list[tuple[int, str]],
    ) -> ColumnChunk | None:
        """The rows of lines (adding the malformed ones to `events`), or
        None (see `_vectorized`)."""
        converter = self.converter
        table = self._parse(lines)
        if table is None:
            # Wrong field counts and blank lines: the row reader's verdict.
            counts = np.fromiter(
                map(methodcaller("count", self.delimiter), lines), np.int64, len(lines)
            )
            regular = counts == converter.width - 1
            split = self.layout.delimiter
            records = [
                (lines[i].decode("utf-8").split(split), int(numbers[i]))
                for i in np.flatnonzero(~regular).tolist()
            ]
            if any(True for _ in converter.rows(records, _collector(events), None)):
                return None  # Cannot happen: a wrong field count is bad.
            lines = list(itertools.compress(lines, regular.tolist()))
            numbers = numbers[regular]
            if not lines:
                return _empty_chunk(self.schema)
            table = self._parse(lines)
            if table is None:
                return None  # Cannot happen: the lines have the right width.
        return self._convert(table, numbers, events, cleaning)

    def _parse(self, lines: list[bytes]) -> pa.Table | None:
        """The lines' fields as Arrow string columns; None if a line has the
        wrong number of fields (or is blank)."""
        read_options, parse_options, convert_options = self.csv_options
        invalid = []

        def on_invalid(row: Any) -> str:
            invalid.append(row)
            return "skip"

        data = b"\n".join(lines) + b"\n"
        if data.startswith(b"\n") or b"\n\n" in data:
            return None  # Arrow reads an empty line as a row of empty fields.
        table = pa_csv.read_csv(
            pa.py_buffer(data),
            read_options=read_options,
            parse_options=pa_csv.ParseOptions(
                **parse_options, invalid_row_handler=on_invalid
            ),
            convert_options=convert_options,
        )
        if invalid or table.num_rows != len(lines):
            return None
        return table

    def _convert(
        self,
        table: pa.Table,
        numbers: np.ndarray,
        events: list[tuple[int, str]],
        cleaning: _Cleaning,
    ) -> ColumnChunk | None:
        schema = self.schema
        positions = self.converter.positions
        n = table.num_rows
        raw = {i: table.column(f"f{i}").combine_chunks() for i in self.used}
        bad = np.zeros(n, bool)  # Rows with a value that does not convert.
        label, label_bad = _by_distinct_value(raw[positions.label], self._labels)
        bad |= label_bad
        strings: dict[str, pa.Array] = {}
        for column, i in positions.strings:
            strings[column] = cleaning.strings(raw[i])
        numeric: dict[str, np.ndarray] = {}
        for column, i in positions.numbers:
            numeric[column], column_bad = _by_distinct_value(
                raw[i], functools.partial(_numbers, column, i)
            )
            bad |= column_bad
        if positions.hour is not None:
            hours, hour_bad = _hours(raw[positions.hour])
            bad |= hour_bad
            for column in positions.derived:
                strings[column] = hours[column]
        strings = {c: strings[c] for c in schema.categorical + schema.multi_value}
        if bad.any():
            convert = self.converter.convert
            width = self.converter.width
            for row in np.flatnonzero(bad).tolist():
                fields = [""] * width
                for i, values in raw.items():
                    fields[i] = values[row].as_py()
                try:
                    convert(fields)
                except RowError as err:
                    events.append((int(numbers[row]), str(err)))
                else:
                    return None  # Cannot happen: the value did not convert.
            return ColumnChunk(numbers, label, strings, numeric).take(~bad)
        return ColumnChunk(numbers, label, strings, numeric)

    def _line_by_line(
        self, chunk: bytes, number: int, offset: int, final: bool
    ) -> list[tuple[int, ColumnChunk]]:
        """The `(group, rows)` of a chunk read as `delimited_rows` reads it;
        sets `carry` when the chunk ends inside a row (a quoted field).

        The `csv` module splits the records; when the chunk has no whitespace
        that only `str.strip` removes, the records of the right width are
        then converted as columns (`_convert`), else row by row."""
        pieces = chunk.splitlines(keepends=True)
        kept = self.groups(np.arange(number + 1, number + 1 + len(pieces))) >= 0

        def keep_line(line: int) -> bool:
            return bool(kept[line - number - 1])

        events: list[tuple[int, str]] = []
        collect = _collector(events, keep_line)
        lines = Lines(self.path, collect)
        feeder = _Feeder(lines.decode(pieces, number, offset))
        reader = delimited_reader(feeder, self.layout.delimiter)
        converter = self.converter
        width = converter.width
        as_columns = self.vectorized and not _has_python_only_space(chunk)
        rows: list[tuple[int, dict[str, Any]]] = []
        records: list[list[str]] = []  # Of the right width, on kept lines.
        numbers: list[int] = []
        # The row reader reports as it reads: a line that fails while a
        # record is read (e.g. not UTF-8, inside a quoted field) before the
        # record's own problem, though the record ends on an earlier line.
        # So each event is reported in the place of the record it was read
        # with: `places[i]` is the line on which that record ended.
        places: list[int] = []
        done = number  # The line on which the last record ended.
        while True:
            mark = len(events)
            places += [done] * (mark - len(places))  # Those of the last record.
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as err:  # As `csv_records`.
                collect(lines.line, f"malformed line: {err}")
                done = lines.line
                continue
            if feeder.exhausted and not final:
                # The chunk ends inside this record: read it with the next.
                del events[mark:]
                self.carry = len(chunk) - sum(map(len, pieces[: done - number]))
                break
            done = lines.line
            if as_columns and len(fields) == width and kept[done - number - 1]:
                converter.any_row = True
                records.append(fields)
                numbers.append(done)
            else:
                rows.extend(converter.rows([(fields, done)], collect, keep_line))
        self.lines_read = done - number if self.carry else len(pieces)
        self.rejected += lines.rejected
        parts = list(self.groups.split(build_column_chunk(self.schema, rows)))
        if records:
            parts += self._records(records, np.array(numbers, np.int64), events)
        # Events read after the last record, and those of the records
        # converted as columns (reported on the record's line): their own.
        places += [line for line, _ in events[len(places) :]]
        self._report(events, places)
        return parts

    def _records(
        self,
        records: list[list[str]],
        numbers: np.ndarray,
        events: list[tuple[int, str]],
    ) -> list[tuple[int, ColumnChunk]]:
        """The `(group, rows)` of records of the right width, converted as
        columns (adding the malformed rows to `events`)."""
        codes = self.groups(numbers)
        # A [records, width] object array: its columns come out faster than
        # by zip(*records), which the garbage collector slows down.
        fields = np.array(records, dtype=object)
        cleaning = _Cleaning(strip=True, missing=True)
        parts = []
        for group in np.unique(codes).tolist():
            chosen = codes == group
            picked = fields[chosen]
            table = pa.table({f"f{i}": _string_array(picked[:, i]) for i in self.used})
            mark = len(events)
            rows = self._convert(table, numbers[chosen], events, cleaning)
            if rows is None:  # Cannot happen; converted row by row then.
                del events[mark:]
                pairs = zip(picked.tolist(), numbers[chosen].tolist(), strict=True)
                found = self.converter.rows(pairs, _collector(events), None)
                rows = build_column_chunk(self.schema, list(found))
            if len(rows):
                parts.append((group, rows))
        return parts

    def _labels(self, values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """The labels of distinct label fields, and which do not convert."""
        threshold = self.schema.label_threshold
        if threshold is None:
            found = pc.index_in(values, value_set=_BINARY_SPELLINGS)
            fast = pc.is_valid(found).to_numpy(zero_copy_only=False)
            label = np.zeros(len(values), np.int64)
            label[fast] = _BINARY_VALUES[
                found.filter(pa.array(fast)).to_numpy(zero_copy_only=False)
            ]
        else:
            trimmed = pc.ascii_trim_whitespace(values)
            fast = pc.match_substring_regex(trimmed, _DECIMAL).to_numpy(
                zero_copy_only=False
            )
            label = (_cast(trimmed, fast) >= threshold).astype(np.int64)
        return _convert_rest(values, fast, label, self.label_parser)


def _has_python_only_space(chunk: bytes) -> bool:
    """Whether the chunk holds whitespace that `str.strip` removes and
    Arrow's ASCII trim keeps."""
    if any(space in chunk for space in _ASCII_ONLY_PYTHON_SPACES):
        return True
    if chunk.isascii() or not any(lead in chunk for lead in _SPACE_LEAD_BYTES):
        return False
    return any(space in chunk for space in _PYTHON_ONLY_SPACES)


def _string_array(values: Sequence[str]) -> pa.Array:
    """An Arrow string array of Python strings."""
    text = "\x00".join(values)
    if text.count("\x00") != len(values) - 1:  # A value holds a NUL (or none).
        return pa.array(values, pa.string())
    # Joined and split by Arrow: twice as fast as `pa.array` of the strings.
    joined = pa.array([text.encode("utf-8")], pa.binary())
    return pc.list_flatten(pc.split_pattern(joined, b"\x00")).cast(pa.string())


class _Feeder:
    """An iterator of lines that remembers whether it ran out."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines = lines
        self.exhausted = False

    def __iter__(self) -> _Feeder:
        return self

    def __next__(self) -> str:
        try:
            return next(self.lines)
        except StopIteration:
            self.exhausted = True
            raise


def _collector(
    events: list[tuple[int, str]], keep: Callable[[int], bool] | None = None
) -> Callable[[int, str], None]:
    """A `reject` that keeps the `(line, reason)`s of the lines `keep` accepts."""

    def collect(line: int, reason: str) -> None:
        if keep is None or keep(line):
            events.append((line, reason))

    return collect


def _empty_chunk(schema: ClickSchema) -> ColumnChunk:
    return build_column_chunk(schema, [])


def _cast(values: pa.Array, fast: np.ndarray) -> np.ndarray:
    """The decimal strings `values[fast]` as float64 (0 elsewhere)."""
    number = np.zeros(len(values), np.float64)
    if fast.any():
        number[fast] = pc.cast(values.filter(pa.array(fast)), pa.float64()).to_numpy()
    return number


def _numbers(
    column: str, position: int, values: pa.Array
) -> tuple[np.ndarray, np.ndarray]:
    """The numbers of distinct numeric fields, and which do not convert."""
    trimmed = pc.ascii_trim_whitespace(values)
    missing = pc.is_in(trimmed, value_set=_MISSING).to_numpy(zero_copy_only=False)
    fast = pc.match_substring_regex(trimmed, _DECIMAL).to_numpy(zero_copy_only=False)
    number = _cast(trimmed, fast)
    number[missing] = np.nan
    return _convert_rest(
        values, fast | missing, number, lambda v: number_value(column, position, v)
    )


def _by_distinct_value(
    raw: pa.Array, convert: Callable[[pa.Array], tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """`convert` (of an array of fields, to values and failures) applied to
    each distinct field once: `(values, failed)` per row."""
    encoded = pc.dictionary_encode(raw)
    values, failed = convert(encoded.dictionary)
    index = encoded.indices.to_numpy(zero_copy_only=False)
    return values[index], failed[index]


def _convert_rest(
    values: pa.Array,
    done: np.ndarray,
    converted: np.ndarray,
    convert: Callable[[str], Any],
) -> tuple[np.ndarray, np.ndarray]:
    """`converted`, with the values not `done` converted by the row reader's
    `convert`; and where that raised `RowError`."""
    failed = np.zeros(len(values), bool)
    if done.all():
        return converted, failed
    converted = converted.copy()
    for k in np.flatnonzero(~done).tolist():
        try:
            converted[k] = convert(values[k].as_py())
        except RowError:
            failed[k] = True
    return converted, failed


class _Cleaning:
    """How a chunk's string fields are cleaned: stripped, missing tokens
    mapped to `""`; each step only when the chunk's bytes call for it."""

    def __init__(self, strip: bool, missing: bool) -> None:
        self.strip = strip
        self.missing = missing

    @classmethod
    def of(cls, text: bytes, delimiter: bytes) -> _Cleaning:
        """For a chunk with `\\n` line ends (no other `str.strip` spaces)."""
        spaces = [s for s in (b" ", b"\t", b"\x0b", b"\x0c") if s != delimiter]
        strip = any(space in text for space in spaces)
        missing = any(first in text for first in _MISSING_FIRST_BYTES)
        return cls(strip, missing)

    def strings(self, raw: pa.Array) -> pa.Array:
        """A categorical or multi-value column as the row reader reads it."""
        values = pc.ascii_trim_whitespace(raw) if self.strip else raw
        if self.missing:
            values = pc.if_else(pc.is_in(values, value_set=_MISSING), "", values)
        return values


def _hours(raw: pa.Array) -> tuple[dict[str, pa.Array], np.ndarray]:
    """Avazu's `hour_of_day` and `weekday`, and the rows whose hour is bad."""
    distinct = pc.unique(raw)
    parts: dict[str, list[str]] = {"hour_of_day": [], "weekday": []}
    failed = []
    for value in distinct.to_pylist():
        try:
            hour_of_day, weekday = split_hour(value)
        except RowError:
            hour_of_day = weekday = ""
            failed.append(True)
        else:
            failed.append(False)
        parts["hour_of_day"].append(hour_of_day)
        parts["weekday"].append(weekday)
    index = pc.index_in(raw, value_set=distinct)
    hours = {c: pa.array(v, pa.string()).take(index) for c, v in parts.items()}
    bad = np.asarray(failed, bool)[index.to_numpy(zero_copy_only=False)]
    return hours, bad
