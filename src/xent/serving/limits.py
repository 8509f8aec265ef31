"""Limits on the work one request may cause, checked before allocating (pure).

A request is small on the wire but can ask for a lot: a TensorProto with one
`float_val` and the shape `[20000000, 1]` means "repeat this value 20
million times" (TensorFlow's short-list shorthand), and `{"count": 300000}`
sent to a GAN's `sample(count, seed)` signature makes the model generate
300,000 images. The decoders compute what each input expands to from its
shape alone, and these checks refuse it (INVALID_ARGUMENT, HTTP 400, naming
the input) before any array is allocated:

* elements of one input (`max_input_elements`) and of all inputs of the
  request (`max_request_elements`);
* bytes of the strings of the request, every repeated value counted
  (`max_string_bytes`);
* the value of scalar integer inputs that say how many rows the model makes
  (`count_inputs`, at most `max_sample_count`);
* nesting deeper than `MAX_RANK` (JSON lists, TensorProto dimensions).

`deadline_s` bounds how long a request waits for the model; it is enforced
by the batcher and the front ends.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np

from xent.serving.errors import ServingError

__all__ = [
    "MAX_RANK",
    "InputSize",
    "RequestLimits",
    "check_counts",
    "check_request_size",
]

# Most dimensions of an input (NumPy's own limit is 64; TF Serving models
# rarely exceed 5). Deeper JSON nesting is refused before it is walked.
MAX_RANK = 32


@dataclasses.dataclass(frozen=True)
class RequestLimits:
    """The most work one request may ask for (see the module docstring).

    Attributes:
        max_input_elements: Most elements (product of the shape) of one input.
        max_request_elements: Most elements of all inputs of one request.
        max_string_bytes: Most bytes of all the strings of one request, each
            repeated value counted every time.
        max_sample_count: Largest value of a `count_inputs` scalar.
        count_inputs: Names of scalar integer inputs that set how many rows
            the model makes, like `count` of the GAN export's `sample`
            signature (`xent.gan.export`).
        deadline_s: Longest wait of a request for the model, queue included;
            0 for none. A model call already running is not interrupted.
    """

    max_input_elements: int = 1 << 22
    max_request_elements: int = 1 << 23
    max_string_bytes: int = 64 << 20
    max_sample_count: int = 1024
    count_inputs: tuple[str, ...] = ("count",)
    deadline_s: float = 30.0

    def __post_init__(self):
        for arg in (
            "max_input_elements",
            "max_request_elements",
            "max_string_bytes",
            "max_sample_count",
        ):
            value = getattr(self, arg)
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"Invalid value for argument {arg}. Expected an integer >= 1. "
                    f"Received: {value!r}"
                )
        if not self.deadline_s >= 0:
            raise ValueError(
                "Invalid value for argument deadline_s. Expected a number >= 0. "
                f"Received: {self.deadline_s!r}"
            )
        object.__setattr__(self, "count_inputs", tuple(self.count_inputs))

    @property
    def timeout_s(self) -> float | None:
        """`deadline_s`, or None when there is no deadline."""
        return self.deadline_s or None


@dataclasses.dataclass(frozen=True)
class InputSize:
    """What one input expands to, known before it is decoded.

    Attributes:
        shape: Its dimensions.
        string_bytes: Bytes of its strings (0 for numbers), repeats counted.
    """

    shape: tuple[int, ...]
    string_bytes: int = 0

    @property
    def elements(self) -> int:
        """The number of elements (exact, however large)."""
        return math.prod(self.shape)


def check_request_size(sizes: Mapping[str, InputSize], limits: RequestLimits) -> None:
    """Refuses a request whose inputs expand beyond `limits`.

    Args:
        sizes: What each input expands to, by input name.
        limits: The limits.

    Raises:
        ServingError: INVALID_ARGUMENT naming the input at fault.

    >>> check_request_size({"x": InputSize((20000000, 1))}, RequestLimits())
    Traceback (most recent call last):
    ...
    xent.serving.errors.ServingError: Input 'x' of shape [20000000, 1] has \
20000000 elements, more than the limit of 4194304 per input
    """
    total = strings = 0
    for name, size in sizes.items():
        if len(size.shape) > MAX_RANK:
            raise ServingError.invalid(
                f"Input {name!r} has {len(size.shape)} dimensions, more than "
                f"the limit of {MAX_RANK}"
            )
        elements = size.elements
        if elements > limits.max_input_elements:
            raise ServingError.invalid(
                f"Input {name!r} of shape {_shape_text(size.shape)} has "
                f"{elements} elements, more than the limit of "
                f"{limits.max_input_elements} per input"
            )
        total += elements
        if total > limits.max_request_elements:
            raise ServingError.invalid(
                f"The inputs have more than {limits.max_request_elements} "
                f"elements together (the limit per request), reached at input "
                f"{name!r} of shape {_shape_text(size.shape)}"
            )
        strings += size.string_bytes
        if strings > limits.max_string_bytes:
            raise ServingError.invalid(
                f"The strings of the request hold more than "
                f"{limits.max_string_bytes} bytes (the limit per request), "
                f"reached at input {name!r} ({size.string_bytes} bytes)"
            )


def check_counts(
    inputs: Mapping[str, np.ndarray], signature_name: str, limits: RequestLimits
) -> None:
    """Refuses a `count_inputs` scalar outside `[0, max_sample_count]`.

    Args:
        inputs: The decoded inputs.
        signature_name: Their signature (for the message).
        limits: The limits.

    Raises:
        ServingError: INVALID_ARGUMENT naming the input.
    """
    for name in limits.count_inputs:
        array = inputs.get(name)
        if array is None or array.ndim != 0 or array.dtype.kind not in "iu":
            continue
        value = int(array)
        if not 0 <= value <= limits.max_sample_count:
            raise ServingError.invalid(
                f"Input {name!r} is {value}; signature {signature_name!r} makes that "
                f"many rows, and this server allows 0 to "
                f"{limits.max_sample_count} (--max-sample-count)"
            )


def _shape_text(dims) -> str:
    return "[" + ", ".join(str(d) for d in dims) + "]"
