"""Streaming readers of click logs: CSV/TSV, Criteo, Avazu and libSVM/libFM.

A click log is a file of rows with a binary label (click or not) and feature
columns in three roles, described by a `ClickSchema`:

* categorical: one string per row (`""` when missing), e.g. hashed ids;
* numeric: one float per row (NaN when missing);
* multi-value: several categories in one field joined by `separator` (e.g.
  `Comedy|Drama`), kept as that one string.

`infer_schema` (`xent.ctr.sniffing`) sniffs the format, the header and the
roles from the start of a file; `iter_rows` streams the rows of a file as dicts
(the file is never read whole), through `xent.ctr.delimited` or
`xent.ctr.libsvm`; `xent.ctr.builder.load_click_data` prepares a file once into TFRecord
shards (through a tensorflow-datasets builder) and returns batched
`tf.data` streams plus the training-split statistics a CTR preprocessor needs.

Formats (`FORMATS`):

* `csv` / `tsv`: delimited text, UTF-8 (a byte-order mark is ignored), parsed
  with the `csv` module (`tsv` without quoting). With a header row columns
  are found by name (so a test file may order them differently); without
  one, by position in `ClickSchema.columns`.
* `criteo`: `label`, `I1..I13` (numeric), `C1..C26` (categorical). The real
  files are tab-separated without a header; a comma-separated file with a
  header (as in the shared samples) is read too: the delimiter and the header
  are detected per file.
* `avazu`: comma-separated with a header; `click` is the label, `id` is
  dropped, and `hour` (`YYMMDDHH`) becomes two categorical columns,
  `hour_of_day` (`"00"`..`"23"`) and `weekday` (`"0"`..`"6"`, Monday = 0).
  Every other column is categorical and read as the exact string (the 20-digit
  ids are never parsed as numbers).
* `libsvm` (also libFM): `label idx:val idx:val ...`, whitespace-separated.
  If every sampled line has the same number of tokens and every value is 1
  (one-hot fields by position, as in Frappe), field `k` is the categorical
  column `f{k}` whose value is the index string (the names can be given with
  `categorical=`). Otherwise the row has one multi-value column `features`:
  the indices joined by `separator`. The values are not kept: an index is
  present when its value is non-zero (a token with value 0 is dropped, any
  other value, e.g. a tf-idf weight, is read as presence); in the one-hot
  layout a value other than 1 is a malformed row.

Values:

* A field equal (after stripping whitespace) to one of `MISSING_VALUES` is
  missing.
* Labels: `0`/`1`, `-1`/`1` (`+1`), `true`/`false` (any case), and the same
  numbers written as floats (`1.0`); or, with `ClickSchema.label_threshold`,
  any number, the label being `value >= threshold` (e.g. a rating >= 4).
* Numbers are parsed with Python's `float` (digit separators `_` are
  rejected); `inf` is kept as a value.

Lines end at `\n`, `\r\n` or a lone `\r`. Malformed rows (wrong number of
fields, unparsable number, bad `idx:val` token, invalid or missing label, bad
`hour`, a line that is not UTF-8 or that the `csv` module rejects) follow the
policy of `xent.bad_rows`: they raise `ReadError` naming `file:line` by
default (`on_bad_rows="fail"`); with `"skip"` they are dropped and counted in
a `BadRows`, and reading fails once more than `max_bad_rows` were skipped. A
missing or empty file, a header that lacks a column and a first line of a
delimited file that is not UTF-8 (it decides the delimiter and the header)
always raise `ReadError`.

>>> schema = ClickSchema(label="click", categorical=("site",), numeric=("price",))
>>> schema.features
('site', 'price')
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from os import PathLike
from typing import Any

from xent.bad_rows import BadRows
from xent.bad_rows import Lines
from xent.bad_rows import ReadError
from xent.bad_rows import build_rejecter
from xent.bad_rows import check_file
from xent.bad_rows import check_policy
from xent.ctr.click_schema import CRITEO_CATEGORICAL
from xent.ctr.click_schema import CRITEO_NUMERIC
from xent.ctr.click_schema import FORMATS
from xent.ctr.click_schema import ClickData
from xent.ctr.click_schema import ClickSchema
from xent.ctr.delimited import delimited_rows
from xent.ctr.libsvm import libsvm_rows
from xent.ctr.sniffing import infer_schema
from xent.data.columns import MISSING_VALUES

# The reader API in one place: the names other modules use are re-exported.
__all__ = [
    "CRITEO_CATEGORICAL",
    "CRITEO_NUMERIC",
    "FORMATS",
    "MISSING_VALUES",
    "BadRows",
    "ClickData",
    "ClickSchema",
    "ReadError",
    "infer_schema",
    "iter_numbered_rows",
    "iter_rows",
]


def _rejecter(
    path: str,
    on_bad_rows: str,
    max_bad_rows: int,
    bad_rows: BadRows,
    keep: Callable[[int], bool] | None,
) -> Callable[[int, str], None]:
    reject = build_rejecter(path, on_bad_rows, max_bad_rows, bad_rows)
    if keep is None:
        return reject

    def reject_kept(line: int, reason: str) -> None:
        if keep(line):  # Else another pass (split) owns this line.
            reject(line, reason)

    return reject_kept


def iter_rows(
    path: str | PathLike[str],
    schema: ClickSchema,
    on_bad_rows: str = "fail",
    max_bad_rows: int = 100,
    header: bool | None = None,
    bad_rows: BadRows | None = None,
) -> Iterator[dict[str, Any]]:
    """Streams the rows of a click log as dicts.

    The file is read line by line, never whole. Each row is
    `{schema.label: 0 or 1, categorical: str, numeric: float, multi_value:
    str}` with exactly the schema's columns.

    >>> for row in iter_rows("clicks.csv", schema):  # doctest: +SKIP
    ...     row["click"], row["site"]

    Args:
        path: The file.
        schema: Its columns and format (e.g. from `infer_schema`).
        on_bad_rows: `"fail"` to raise on the first malformed row, `"skip"`
            to drop malformed rows.
        max_bad_rows: With `"skip"`, reading fails when more rows than this
            were skipped.
        header: Whether the file starts with a header row; `None` uses
            `schema.header` (which may itself be `None`: detected).
        bad_rows: If given, receives the count and first reasons of the
            skipped rows (also when the iteration fails).

    Yields:
        One dict per row, in file order.

    Raises:
        ReadError: If the file is missing or empty, lacks a column the schema
            reads, or (`"fail"`) has a malformed row, or (`"skip"`) has more
            than `max_bad_rows` of them. Messages are `"file:line: reason"`.
    """
    for _, row in iter_numbered_rows(
        path, schema, on_bad_rows, max_bad_rows, header, bad_rows, None
    ):
        yield row


def iter_numbered_rows(
    path: str | PathLike[str],
    schema: ClickSchema,
    on_bad_rows: str = "fail",
    max_bad_rows: int = 100,
    header: bool | None = None,
    bad_rows: BadRows | None = None,
    keep: Callable[[int], bool] | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """`iter_rows` with line numbers; only rows whose line `keep` accepts.

    Malformed rows on lines that `keep` rejects are not reported either, so
    that several passes with disjoint `keep`s report each line once (the
    splits of `xent.ctr.builder`).

    Args:
        path: As in `iter_rows`.
        schema: As in `iter_rows`.
        on_bad_rows: As in `iter_rows`.
        max_bad_rows: As in `iter_rows`.
        header: As in `iter_rows`.
        bad_rows: As in `iter_rows`.
        keep: `keep(line)` says whether to read the row on `line`; `None`
            reads every row.

    Yields:
        `(line, row)`, in file order.

    Raises:
        ReadError: As `iter_rows`.
    """
    path = str(path)
    check_policy(on_bad_rows, max_bad_rows)
    check_file(path)
    if schema.format == "tfds":
        raise ReadError(f"{path}: a schema of format 'tfds' cannot read files")
    bad_rows = BadRows() if bad_rows is None else bad_rows
    reject = _rejecter(path, on_bad_rows, max_bad_rows, bad_rows, keep)
    # The first line of a delimited file decides the delimiter and the header.
    lines = Lines(path, reject, strict_first=schema.format != "libsvm")
    if header is None:
        header = schema.header
    if schema.format == "libsvm":
        rows = libsvm_rows(path, schema, lines, reject, keep)
    else:
        rows = delimited_rows(path, schema, lines, reject, keep, header)
    yield from rows
