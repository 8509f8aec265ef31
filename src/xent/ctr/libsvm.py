"""libSVM / libFM click logs: `label idx:val idx:val ...` rows.

`libsvm_rows` streams a file's rows as `(line, row dict)` for
`xent.ctr.readers.iter_rows`, in the one-hot layout (one categorical column
per field) or as one multi-value column; `parse_libsvm_token` is shared with
the schema inference (`xent.ctr.sniffing`). See `xent.ctr.readers`.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

from xent.bad_rows import Lines
from xent.bad_rows import ReadError
from xent.ctr.click_schema import ClickSchema
from xent.ctr.click_schema import RowError
from xent.ctr.click_schema import build_label_parser
from xent.data.columns import parse_float

__all__ = ["libsvm_rows", "parse_libsvm_token"]


def parse_libsvm_token(token: str) -> tuple[str, float]:
    """`idx:val` as `(idx, val)`.

    Raises:
        RowError: Naming the token, when it is not `digits:number`.
    """
    idx, colon, value = token.partition(":")
    if not colon or not idx.isdigit() or not idx.isascii():
        raise RowError(f"bad token {token!r}: expected idx:val")
    if value == "1":
        return idx, 1.0
    number = parse_float(value)
    if number is None:
        raise RowError(f"bad token {token!r}: expected idx:val")
    return idx, number


def libsvm_rows(
    path: str,
    schema: ClickSchema,
    lines: Lines,
    reject: Callable[[int, str], None],
    keep: Callable[[int], bool] | None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    parse_label = build_label_parser(schema.label, schema.label_threshold)
    label_name = schema.label
    if (
        schema.numeric
        or len(schema.multi_value) > 1
        or (schema.multi_value and schema.categorical)
    ):
        raise ReadError(
            f"{path}: a libsvm schema has either one-hot categorical fields or "
            f"one multi-value column; got categorical={list(schema.categorical)}, "
            f"numeric={list(schema.numeric)}, multi_value={list(schema.multi_value)}"
        )
    fields = schema.categorical
    width = len(fields)
    multi = schema.multi_value[0] if schema.multi_value else None
    join = schema.separator.join
    seen_any = False
    for text in lines:
        number = lines.line
        tokens = text.split()
        if not tokens:
            continue
        seen_any = True
        if keep is not None and not keep(number):
            continue
        try:
            row: dict[str, Any] = {label_name: parse_label(tokens[0])}
            if multi is None:
                if len(tokens) - 1 != width:
                    raise RowError(
                        f"expected {width} idx:val tokens (one per field), found "
                        f"{len(tokens) - 1}"
                    )
                for name, token in zip(fields, tokens[1:], strict=True):
                    idx, number_value = parse_libsvm_token(token)
                    if number_value != 1.0:
                        raise RowError(
                            f"field {name!r} has the value "
                            f"{token.partition(':')[2]!r} in {token!r}; one-hot "
                            "fields take the value 1"
                        )
                    row[name] = idx
            else:
                present = []
                for token in tokens[1:]:
                    idx, number_value = parse_libsvm_token(token)
                    if number_value != 0.0:
                        present.append(idx)
                row[multi] = join(present)
        except RowError as err:
            reject(number, str(err))
            continue
        yield number, row
    if not seen_any and not lines.rejected:
        raise ReadError(f"{path} is empty")
