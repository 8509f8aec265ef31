"""Argument checks shared by the model builders.

Each raises a `ValueError` naming the argument, in the Keras form
`Invalid value for argument `arg`. Expected ... Received: arg=...`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["check_positive_int", "check_positive_ints", "check_rate"]


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def check_positive_int(arg: str, value: Any) -> None:
    """Checks that `value` is an int >= 1 (not a bool).

    Args:
        arg: The argument's name, for the error message.
        value: The value to check.

    Raises:
        ValueError: If `value` is not a positive int, naming `arg`.

    >>> check_positive_int("units", 0)
    Traceback (most recent call last):
    ...
    ValueError: Invalid value for argument `units`. Expected a positive integer. Received: units=0
    """  # noqa: E501
    if not _is_positive_int(value):
        raise ValueError(
            f"Invalid value for argument `{arg}`. Expected a positive integer. "
            f"Received: {arg}={value!r}"
        )


def check_positive_ints(arg: str, values: Sequence[Any]) -> None:
    """Checks that every one of `values` is an int >= 1 (not a bool).

    Args:
        arg: The argument's name, for the error message.
        values: The values to check (an empty sequence passes).

    Raises:
        ValueError: If one value is not a positive int, naming `arg`.
    """
    if not all(_is_positive_int(v) for v in values):
        raise ValueError(
            f"Invalid value for argument `{arg}`. Expected a sequence of "
            f"positive integers. Received: {arg}={values!r}"
        )


def check_rate(arg: str, value: float) -> None:
    """Checks that `value` is a rate in [0, 1) (dropout, for instance).

    Args:
        arg: The argument's name, for the error message.
        value: The value to check.

    Raises:
        ValueError: If `value` is outside [0, 1), naming `arg`.
    """
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(
            f"Invalid value for argument `{arg}`. Expected a float in [0, 1). "
            f"Received: {arg}={value!r}"
        )
