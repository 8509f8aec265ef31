"""Signatures and the REST JSON formats of TensorFlow Serving (pure functions).

A signature takes named tensors and returns named tensors; `TensorSpec` and
`SignatureSpec` describe them without TensorFlow. This module turns a REST
predict body into NumPy arrays that match a signature, and the signature's
outputs back into the JSON TensorFlow Serving answers with:

* Row format: `{"instances": [...]}`, one element per example (an object
  `{input: value}`, or the bare value when the signature has one input);
  answered with `{"predictions": [...]}`, one element per example (an object
  `{output: value}`, or the bare value when the signature has one output).
* Columnar format: `{"inputs": {input: batch}}` (or the bare batch for one
  input); answered with `{"outputs": {output: batch}}` (or the bare batch).
* Binary strings are `{"b64": "<base64>"}`; string outputs whose name ends in
  `_bytes` are answered that way too (and any output that is not UTF-8).
* `NaN`, `Infinity` and `-Infinity` are accepted and written as such.

Every check raises `ServingError` (INVALID_ARGUMENT, HTTP 400) with a message
that names the input at fault, among them the limits of `xent.serving.limits`
(checked on the shape of the nested lists before they become arrays);
nothing here does I/O.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from xent.serving.errors import Code
from xent.serving.errors import ServingError
from xent.serving.limits import MAX_RANK
from xent.serving.limits import InputSize
from xent.serving.limits import RequestLimits
from xent.serving.limits import check_counts
from xent.serving.limits import check_request_size

__all__ = [
    "DEFAULT_SIGNATURE",
    "PredictRequest",
    "SignatureSpec",
    "TensorSpec",
    "check_input_names",
    "check_inputs",
    "decode_predict_request",
    "dumps",
    "encode_predict_response",
    "error_body",
    "parse_json_body",
    "request_signature_name",
]

DEFAULT_SIGNATURE = "serving_default"

# TensorFlow dtype name -> (NumPy dtype, DataType enum name).
_DTYPES: dict[str, tuple[Any, str]] = {
    "float16": (np.float16, "DT_HALF"),
    "float32": (np.float32, "DT_FLOAT"),
    "float64": (np.float64, "DT_DOUBLE"),
    "int8": (np.int8, "DT_INT8"),
    "int16": (np.int16, "DT_INT16"),
    "int32": (np.int32, "DT_INT32"),
    "int64": (np.int64, "DT_INT64"),
    "uint8": (np.uint8, "DT_UINT8"),
    "uint16": (np.uint16, "DT_UINT16"),
    "uint32": (np.uint32, "DT_UINT32"),
    "uint64": (np.uint64, "DT_UINT64"),
    "bool": (np.bool_, "DT_BOOL"),
    "string": (np.object_, "DT_STRING"),
}
_KIND_NAMES = {
    "b": "booleans",
    "i": "integers",
    "u": "integers",
    "f": "non-integer numbers",
    "U": "strings",
    "O": "null, objects or mixed values",
}


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One input or output of a signature.

    Attributes:
        name: The signature's key of the tensor (its alias).
        dtype: TensorFlow dtype name: `"float32"`, `"int64"`, `"string"`...
        shape: The dimensions, None for any size; None for an unknown rank.
    """

    name: str
    dtype: str
    shape: tuple[int | None, ...] | None

    @property
    def batched(self) -> bool:
        """Whether dimension 0 is the (free) batch dimension."""
        return bool(self.shape) and self.shape[0] is None

    @property
    def numpy_dtype(self) -> np.dtype | None:
        """The NumPy dtype (object for strings), None if REST cannot carry it."""
        entry = _DTYPES.get(self.dtype)
        return None if entry is None else np.dtype(entry[0])

    @property
    def datatype_name(self) -> str:
        """TensorFlow's `DataType` name, e.g. `DT_FLOAT`."""
        entry = _DTYPES.get(self.dtype)
        return entry[1] if entry else self.dtype

    def describe_shape(self) -> str:
        """The shape as TF Serving prints it: `[-1, 1]` (-1 for any size)."""
        if self.shape is None:
            return "<unknown rank>"
        return _shape_text(-1 if d is None else d for d in self.shape)


@dataclasses.dataclass(frozen=True)
class SignatureSpec:
    """The inputs and outputs of one signature.

    Attributes:
        name: The signature key, e.g. `serving_default`.
        inputs: Input specs by name.
        outputs: Output specs by name.
    """

    name: str
    inputs: Mapping[str, TensorSpec]
    outputs: Mapping[str, TensorSpec]

    @property
    def batchable(self) -> bool:
        """Whether requests can be merged along dimension 0 (all batched)."""
        return all(s.batched for s in (*self.inputs.values(), *self.outputs.values()))


@dataclasses.dataclass(frozen=True)
class PredictRequest:
    """A decoded REST predict body.

    Attributes:
        inputs: One array per signature input, with the input's dtype.
        row_format: True for `instances` (answer `predictions`), False for
            `inputs` (answer `outputs`).
    """

    inputs: dict[str, np.ndarray]
    row_format: bool


# --------------------------------------------------------------------------
# JSON.
# --------------------------------------------------------------------------
def parse_json_body(body: bytes) -> dict:
    """Parses a request body: a JSON object; NaN and +-Infinity are accepted.

    Args:
        body: The raw body (UTF-8, or UTF-16/32 with a BOM).

    Returns:
        The object.

    Raises:
        ServingError: INVALID_ARGUMENT for malformed JSON or a non-object.

    >>> parse_json_body(b'{"inputs": [NaN, Infinity]}')
    {'inputs': [nan, inf]}
    """
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as err:
        # JSONDecodeError and UnicodeDecodeError are ValueErrors.
        reason = "nested too deeply" if isinstance(err, RecursionError) else err
        raise ServingError.invalid(f"JSON Parse error: {reason}") from None
    if not isinstance(value, dict):
        raise ServingError.invalid(
            f"JSON Value is not an object: the body is a {_json_type(value)}"
        )
    return value


def dumps(value: Any) -> bytes:
    """Compact JSON as bytes; NaN and infinities written as TF Serving does."""
    return json.dumps(value, separators=(",", ":"), allow_nan=True).encode()


def error_body(message: str) -> bytes:
    """The REST error body `{"error": message}`."""
    return dumps({"error": message})


def request_signature_name(body: Mapping[str, Any]) -> str:
    """The `signature_name` of a predict body (default `serving_default`).

    Raises:
        ServingError: INVALID_ARGUMENT when it is not a string.
    """
    name = body.get("signature_name", DEFAULT_SIGNATURE)
    if not isinstance(name, str):
        raise ServingError.invalid(
            f"'signature_name' must be a string. Received a {_json_type(name)}"
        )
    return name or DEFAULT_SIGNATURE


# --------------------------------------------------------------------------
# Requests.
# --------------------------------------------------------------------------
def decode_predict_request(
    body: Mapping[str, Any],
    spec: SignatureSpec,
    limits: RequestLimits | None = None,
) -> PredictRequest:
    """Turns a REST predict body into arrays checked against `spec`.

    Args:
        body: The parsed body, with `instances` (row format) or `inputs`
            (columnar format).
        spec: The signature it is sent to.
        limits: The most work the request may ask for; `RequestLimits()`
            by default.

    Returns:
        The arrays and the format of the answer.

    Raises:
        ServingError: INVALID_ARGUMENT naming the input: missing or unknown
            inputs, values of the wrong type, shapes that do not match the
            signature, different batch sizes, or more than `limits` allow.
    """
    limits = RequestLimits() if limits is None else limits
    if ("instances" in body) == ("inputs" in body):
        raise ServingError.invalid(
            "Expected exactly one of 'instances' (row format) or 'inputs' "
            f"(columnar format) in the body. Received the keys {sorted(body)}"
        )
    row_format = "instances" in body
    columns = _row_columns(body, spec) if row_format else _columnar(body, spec)
    check_request_size(
        {
            name: InputSize(_leading_shape(value, name))
            for name, value in columns.items()
        },
        limits,
    )
    arrays = {
        name: _to_array(value, spec.inputs[name], row_format)
        for name, value in columns.items()
    }
    if row_format:
        for name, array in arrays.items():
            expected = spec.inputs[name].shape
            if (
                expected
                and expected[0] is None
                and not _shape_matches(array.shape[1:], expected[1:])
            ):
                raise ServingError.invalid(
                    f"Input {name!r} has shape {_shape_text(array.shape[1:])} "
                    f"in each instance, expected {_shape_text(expected[1:])} "
                    f"(signature {spec.name!r} takes shape "
                    f"{spec.inputs[name].describe_shape()}, -1: any size)"
                )
    strings = {
        name: InputSize(array.shape, sum(len(v) for v in array.flat))
        for name, array in arrays.items()
        if array.dtype == object
    }
    check_request_size(strings, limits)
    check_inputs(arrays, spec)
    check_counts(arrays, spec.name, limits)
    return PredictRequest(arrays, row_format)


def check_inputs(inputs: Mapping[str, np.ndarray], spec: SignatureSpec) -> int | None:
    """Checks input names, dtypes, shapes and batch sizes against `spec`.

    Args:
        inputs: One array per input (strings as an object array of bytes).
        spec: The signature.

    Returns:
        The batch size (size of dimension 0 of the batched inputs), or None
        when no input has a batch dimension.

    Raises:
        ServingError: INVALID_ARGUMENT naming the input at fault.
    """
    check_input_names(inputs.keys(), spec)
    batch: dict[str, int] = {}
    for name, array in inputs.items():
        input_spec = spec.inputs[name]
        expected = input_spec.numpy_dtype
        if expected is None or array.dtype != expected:
            raise ServingError.invalid(
                f"Input {name!r} has dtype {array.dtype.name}, expected "
                f"{input_spec.dtype} ({input_spec.datatype_name})"
            )
        if not _shape_matches(array.shape, input_spec.shape):
            raise ServingError.invalid(
                f"Input {name!r} has shape {_shape_text(array.shape)}, expected "
                f"{input_spec.describe_shape()} (-1: any size) in signature "
                f"{spec.name!r}"
            )
        if input_spec.batched:
            batch[name] = array.shape[0]
    if len(set(batch.values())) > 1:
        sizes = ", ".join(f"{n!r} has {b}" for n, b in batch.items())
        raise ServingError.invalid(
            f"Inputs have different batch sizes (dimension 0): {sizes}"
        )
    return next(iter(batch.values()), None)


def check_input_names(names, spec: SignatureSpec, where: str = "") -> None:
    """Checks that `names` are exactly the inputs of `spec`.

    Args:
        names: The input names of a request.
        spec: The signature.
        where: Added to the message after the input, e.g. " in instance 3".

    Raises:
        ServingError: INVALID_ARGUMENT naming the first unknown or missing input.
    """
    unknown = sorted(set(names) - set(spec.inputs))
    missing = sorted(set(spec.inputs) - set(names))
    if unknown or missing:
        if unknown:
            problem = f"Unknown input {unknown[0]!r}"
        else:
            problem = f"Missing input {missing[0]!r}"
        raise ServingError.invalid(
            f"{problem}{where}: signature {spec.name!r} takes the inputs "
            f"{sorted(spec.inputs)}"
        )


def _is_named(value: Any, spec: SignatureSpec) -> bool:
    """Whether `value` is `{input: value}` rather than one `{"b64": ...}`."""
    if not isinstance(value, dict):
        return False
    return not (value.keys() == {"b64"} and "b64" not in spec.inputs)


def _row_columns(body: Mapping[str, Any], spec: SignatureSpec) -> dict[str, list]:
    instances = body["instances"]
    if not isinstance(instances, list) or not instances:
        received = (
            "an empty list"
            if isinstance(instances, list)
            else f"a {_json_type(instances)}"
        )
        raise ServingError.invalid(
            f"'instances' must be a non-empty list of examples. Received {received}"
        )
    named = [_is_named(instance, spec) for instance in instances]
    if all(named):
        for i, instance in enumerate(instances):
            check_input_names(instance.keys(), spec, f" in instance {i}")
        return {name: [inst[name] for inst in instances] for name in spec.inputs}
    if len(spec.inputs) == 1 and not any(named):
        return {next(iter(spec.inputs)): instances}
    raise ServingError.invalid(
        f"Every instance must be an object {{input name: value}} with the "
        f"inputs {sorted(spec.inputs)} of signature {spec.name!r}"
        + (" (a bare value only works for a single input)" if any(named) else "")
    )


def _columnar(body: Mapping[str, Any], spec: SignatureSpec) -> dict[str, Any]:
    inputs = body["inputs"]
    if _is_named(inputs, spec):
        check_input_names(inputs.keys(), spec)
        return dict(inputs)
    if len(spec.inputs) == 1:
        return {next(iter(spec.inputs)): inputs}
    raise ServingError.invalid(
        f"'inputs' must be an object {{input name: batch}} with the inputs "
        f"{sorted(spec.inputs)} of signature {spec.name!r}. Received a "
        f"{_json_type(inputs)}"
    )


def _to_array(value: Any, spec: TensorSpec, row_format: bool) -> np.ndarray:
    """The JSON value of one input as an array of the input's dtype."""
    what = f"Input {spec.name!r}"
    if spec.dtype == "string":
        flat: list[bytes] = []
        shape = _collect_strings(value, flat, spec.name, 0)
        if shape is None:
            raise ServingError.invalid(_ragged(spec.name, row_format))
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
        return array.reshape(shape)
    dtype = spec.numpy_dtype
    if dtype is None:
        raise ServingError.invalid(
            f"{what} has dtype {spec.dtype}, which the REST API cannot carry; use gRPC"
        )
    try:
        array = np.asarray(value)
    except (ValueError, OverflowError):
        raise ServingError.invalid(_ragged(spec.name, row_format)) from None
    kind = array.dtype.kind
    if dtype.kind == "b":
        ok = kind == "b"
    elif dtype.kind in "iu":
        ok = kind in "iu"
    else:
        ok = kind in "iuf"
    if not ok and not (array.size == 0 and kind == "f"):  # [] parses as float64
        raise ServingError.invalid(
            f"{what} expects {spec.dtype} values; received "
            f"{_KIND_NAMES.get(kind, array.dtype.name)}"
        )
    if dtype.kind in "iu" and array.size:
        info = np.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            raise ServingError.invalid(
                f"{what} expects {spec.dtype} values; received values outside "
                f"[{info.min}, {info.max}]"
            )
    return array.astype(dtype, copy=False)


def _ragged(name: str, row_format: bool) -> str:
    if row_format:
        return f"Input {name!r} has instances of different shapes"
    return (
        f"Input {name!r} is not a rectangular array (nested lists of different lengths)"
    )


def _leading_shape(value: Any, name: str) -> tuple[int, ...]:
    """The shape of nested lists, read along their first elements.

    It is the shape of the array they make when they are rectangular (and
    decoding refuses them when they are not); walking it costs nothing.

    Raises:
        ServingError: INVALID_ARGUMENT when nested deeper than `MAX_RANK`.
    """
    shape: list[int] = []
    while isinstance(value, list):
        if len(shape) == MAX_RANK:
            raise ServingError.invalid(_too_deep(name))
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return tuple(shape)


def _too_deep(name: str) -> str:
    return f"Input {name!r} is nested more than {MAX_RANK} lists deep"


def _collect_strings(value: Any, flat: list, name: str, depth: int) -> tuple | None:
    """Appends the strings of nested lists to `flat`; returns their shape.

    Returns None for nested lists of different lengths.
    """
    if isinstance(value, str):
        try:
            flat.append(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise ServingError.invalid(
                f"Input {name!r} holds a string that is not valid Unicode (a "
                'lone surrogate such as \\ud800); send bytes as {"b64": ...}'
            ) from None
        return ()
    if isinstance(value, list):
        if depth == MAX_RANK:
            raise ServingError.invalid(_too_deep(name))
        shapes = {_collect_strings(v, flat, name, depth + 1) for v in value}
        if len(shapes) > 1 or None in shapes:
            return None
        return (len(value), *(shapes.pop() if shapes else ()))
    if isinstance(value, dict) and value.keys() == {"b64"}:
        encoded = value["b64"]
        try:
            flat.append(base64.b64decode(encoded, validate=True))
        except (TypeError, ValueError, binascii.Error):
            raise ServingError.invalid(
                f"Input {name!r}: 'b64' must hold a base64 string. Received: "
                f"{str(encoded)[:40]!r}"
            ) from None
        return ()
    raise ServingError.invalid(
        f'Input {name!r} expects strings (or {{"b64": ...}}); received a '
        f"{_json_type(value)}"
    )


# --------------------------------------------------------------------------
# Responses.
# --------------------------------------------------------------------------
def encode_predict_response(
    outputs: Mapping[str, np.ndarray], row_format: bool
) -> dict[str, Any]:
    """The JSON-ready REST answer for the signature's `outputs`.

    Args:
        outputs: The arrays returned by the signature, by output name.
        row_format: Whether the request used `instances`.

    Returns:
        `{"predictions": [...]}` (row format) or `{"outputs": ...}`.

    Raises:
        ServingError: INVALID_ARGUMENT when the row format is asked for and
            the outputs do not share a batch dimension.
    """
    names = sorted(outputs)
    columns = {name: _to_json(outputs[name], name) for name in names}
    if not row_format:
        return {"outputs": columns[names[0]] if len(names) == 1 else columns}
    sizes = {name: (outputs[name].shape or (None,))[0] for name in names}
    if None in sizes.values() or len(set(sizes.values())) > 1:
        raise ServingError(
            Code.INVALID_ARGUMENT,
            f"The outputs have no common batch dimension ({sizes}); send the "
            "request in the columnar format ('inputs') instead",
        )
    if len(names) == 1:
        return {"predictions": columns[names[0]]}
    n = next(iter(sizes.values()))
    return {
        "predictions": [{name: columns[name][i] for name in names} for i in range(n)]
    }


def _to_json(array: np.ndarray, name: str) -> Any:
    if array.dtype.kind not in "OSU":
        return array.tolist()
    as_b64 = name.endswith("_bytes")

    def convert(value):
        if isinstance(value, list):
            return [convert(v) for v in value]
        if isinstance(value, str):
            value = value.encode("utf-8")
        if not as_b64:
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                pass
        return {"b64": base64.b64encode(value).decode("ascii")}

    return convert(array.tolist())


# --------------------------------------------------------------------------
# Helpers.
# --------------------------------------------------------------------------
def _shape_matches(shape: tuple[int, ...], expected: tuple | None) -> bool:
    if expected is None:
        return True
    return len(shape) == len(expected) and all(
        e is None or e == s for s, e in zip(shape, expected, strict=True)
    )


def _shape_text(dims) -> str:
    return "[" + ", ".join(str(d) for d in dims) + "]"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
