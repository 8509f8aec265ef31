"""Raw label values to class names and class ids.

Mapping labels to class ids (`infer_class_names`): integer labels in numeric
order (so 0/1 map to 0/1 and -1/1 to 0/1); `false`/`true` or `no`/`yes` in any
case to 0/1; any other labels in sorted string order.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence

__all__ = ["build_class_id_function", "infer_class_names"]

_BOOLEAN_PAIRS = (("false", "true"), ("no", "yes"))


def _as_int(value: str) -> int | None:
    if "_" in value:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _label_kind(class_names: Sequence[str]) -> str:
    """`"integer"`, `"boolean"` or `"string"`: how raw labels are normalized."""
    if all(_as_int(c) is not None and str(_as_int(c)) == c for c in class_names):
        return "integer"
    if tuple(class_names) in _BOOLEAN_PAIRS:
        return "boolean"
    return "string"


def _normalize_label(value: str, kind: str) -> str:
    if kind == "integer":
        number = _as_int(value)
        return value if number is None else str(number)
    if kind == "boolean":
        return value.lower()
    return value


def infer_class_names(labels: Sequence[str]) -> tuple[str, ...]:
    """The class names of raw label values, in class-id order.

    Integer labels sort numerically and are named by their canonical
    spelling (`"01"` -> `"1"`); `false`/`true` and `no`/`yes` (any case)
    become `("false", "true")` / `("no", "yes")`; other labels sort as
    strings.

    >>> infer_class_names(["1", "0", "1"])
    ('0', '1')
    >>> infer_class_names(["TRUE", "false"])
    ('false', 'true')
    >>> infer_class_names(["10", "9", "-1"])
    ('-1', '9', '10')

    Args:
        labels: Raw label values (not missing).

    Returns:
        The distinct labels as class names.
    """
    distinct = set(labels)
    numbers = {_as_int(v) for v in distinct}
    if None not in numbers:
        return tuple(str(n) for n in sorted(numbers))
    lowered = tuple(sorted({v.lower() for v in distinct}))
    if lowered in _BOOLEAN_PAIRS:
        return lowered
    return tuple(sorted(distinct))


def build_class_id_function(class_names: Sequence[str]) -> Callable[[str], int | None]:
    """`label -> class id` (or `None`), normalizing as `infer_class_names` does.

    So `"01"` is class `"1"` and `"TRUE"` class `"true"`.

    Args:
        class_names: The class names in class-id order.

    Returns:
        `class_id_of(label) -> int | None`.
    """
    kind = _label_kind(class_names)
    index = {name: i for i, name in enumerate(class_names)}
    return lambda value: index.get(_normalize_label(value, kind))
