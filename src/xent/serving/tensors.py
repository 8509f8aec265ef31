"""TensorFlow's TensorProto to and from NumPy arrays, bounded before allocating.

Decodes what `tf.make_ndarray` decodes for the dtypes a signature input can
have (TF's short-list shorthand included) without TensorFlow: the gRPC front
end and the warm-up replay (`xent.serving.warmup`) share it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.framework import types_pb2

from xent.serving.errors import ServingError
from xent.serving.limits import InputSize
from xent.serving.limits import RequestLimits
from xent.serving.limits import check_counts
from xent.serving.limits import check_request_size
from xent.serving.signatures import SignatureSpec
from xent.serving.signatures import TensorSpec
from xent.serving.signatures import check_input_names
from xent.serving.signatures import check_inputs

__all__ = [
    "array_to_tensor",
    "decode_tensor_inputs",
    "tensor_size",
    "tensor_to_array",
]

_NUMPY_DATATYPES = {
    np.dtype(np.float16): types_pb2.DT_HALF,
    np.dtype(np.float32): types_pb2.DT_FLOAT,
    np.dtype(np.float64): types_pb2.DT_DOUBLE,
    np.dtype(np.int8): types_pb2.DT_INT8,
    np.dtype(np.int16): types_pb2.DT_INT16,
    np.dtype(np.int32): types_pb2.DT_INT32,
    np.dtype(np.int64): types_pb2.DT_INT64,
    np.dtype(np.uint8): types_pb2.DT_UINT8,
    np.dtype(np.uint16): types_pb2.DT_UINT16,
    np.dtype(np.uint32): types_pb2.DT_UINT32,
    np.dtype(np.uint64): types_pb2.DT_UINT64,
    np.dtype(np.bool_): types_pb2.DT_BOOL,
}


def tensor_size(proto: tensor_pb2.TensorProto, spec: TensorSpec) -> InputSize:
    """What an input TensorProto expands to, from its shape alone.

    Nothing is allocated: the shape, not the values sent, says how large the
    array is (TF's shorthand repeats the last value up to the shape), so it
    is what `check_request_size` must see first.

    Args:
        proto: The input.
        spec: The signature's input it is sent to.

    Returns:
        Its shape and, for strings, the bytes they expand to.

    Raises:
        ServingError: INVALID_ARGUMENT naming the input for a dtype other
            than the input's, an unknown rank or a negative dimension.
    """
    _check_dtype(proto, spec)
    if proto.tensor_shape.unknown_rank:
        raise ServingError.invalid(
            f"Input {spec.name!r} has an unknown rank; send its shape"
        )
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    if min(shape, default=0) < 0:
        raise ServingError.invalid(
            f"Input {spec.name!r} has a negative dimension: {list(shape)}"
        )
    string_bytes = 0
    if proto.dtype == types_pb2.DT_STRING:
        values = proto.string_val
        size = math.prod(shape)
        string_bytes = sum(len(v) for v in values)
        if 0 < len(values) < size:
            string_bytes += (size - len(values)) * len(values[-1])
    return InputSize(shape, string_bytes)


def tensor_to_array(proto: tensor_pb2.TensorProto, spec: TensorSpec) -> np.ndarray:
    """The array of an input TensorProto, which must have the input's dtype.

    Decodes what `tf.make_ndarray` decodes for the dtypes a signature input
    can have (a tenth of its time for small tensors), TF's short-list
    shorthand included: fewer values than the shape holds repeat the last one
    (no value: zeros). Call `check_request_size` on `tensor_size` first: the
    array is allocated at its full size.

    Raises:
        ServingError: INVALID_ARGUMENT naming the input.
    """
    shape = tensor_size(proto, spec).shape
    size = math.prod(shape)
    invalid = f"Input {spec.name!r} is not a valid TensorProto"
    if proto.dtype == types_pb2.DT_STRING:
        if proto.tensor_content:
            raise ServingError.invalid(f"{invalid}: strings go in string_val")
        values = list(proto.string_val)
        if len(values) > size:
            raise ServingError.invalid(_too_many(invalid, len(values), shape))
        array = np.empty(size, dtype=object)
        array[: len(values)] = values
        array[len(values) :] = values[-1] if values else b""
        return array.reshape(shape)
    field, wire, dtype = _VALUE_FIELDS[proto.dtype]
    if proto.tensor_content:
        expected = size * dtype.itemsize
        if len(proto.tensor_content) != expected:
            raise ServingError.invalid(
                f"{invalid}: {len(proto.tensor_content)} bytes of tensor_content "
                f"for shape {list(shape)}, expected {expected}"
            )
        return (
            np.frombuffer(proto.tensor_content, dtype=dtype.newbyteorder("<"))
            .astype(dtype, copy=False)
            .reshape(shape)
        )
    values = np.array(list(getattr(proto, field)), dtype=wire)
    if len(values) > size:
        raise ServingError.invalid(_too_many(invalid, len(values), shape))
    if proto.dtype == types_pb2.DT_HALF:
        values = values.astype(np.uint16).view(np.float16)
    elif dtype.kind in "iu" and values.size and wire != dtype:
        info = np.iinfo(dtype)
        if values.min() < info.min or values.max() > info.max:
            raise ServingError.invalid(
                f"{invalid}: values outside [{info.min}, {info.max}] for "
                f"{spec.datatype_name}"
            )
    array = np.empty(size, dtype=dtype)
    array[: len(values)] = values
    array[len(values) :] = values[-1] if len(values) else 0
    return array.reshape(shape)


def _check_dtype(proto: tensor_pb2.TensorProto, spec: TensorSpec) -> None:
    if spec.numpy_dtype is None or spec.dtype == "string":
        expected = types_pb2.DT_STRING if spec.dtype == "string" else None
    else:
        expected = _NUMPY_DATATYPES.get(spec.numpy_dtype)
    if expected is None:
        raise ServingError.invalid(
            f"Input {spec.name!r} has dtype {spec.dtype}, which this server "
            "cannot decode"
        )
    if proto.dtype != expected:
        raise ServingError.invalid(
            f"Input {spec.name!r} has dtype {_datatype_name(proto.dtype)}, "
            f"expected {spec.datatype_name}"
        )


def _datatype_name(value: int) -> str:
    try:
        return types_pb2.DataType.Name(value)
    except ValueError:
        return f"{value} (not a DataType)"


def _too_many(invalid: str, count: int, shape: tuple) -> str:
    return f"{invalid}: {count} values for shape {list(shape)}"


# DataType -> (value field, its NumPy type, the input's NumPy type).
_VALUE_FIELDS = {
    types_pb2.DT_HALF: ("half_val", np.int32, np.dtype(np.float16)),
    types_pb2.DT_FLOAT: ("float_val", np.float32, np.dtype(np.float32)),
    types_pb2.DT_DOUBLE: ("double_val", np.float64, np.dtype(np.float64)),
    types_pb2.DT_INT8: ("int_val", np.int32, np.dtype(np.int8)),
    types_pb2.DT_INT16: ("int_val", np.int32, np.dtype(np.int16)),
    types_pb2.DT_INT32: ("int_val", np.int32, np.dtype(np.int32)),
    types_pb2.DT_INT64: ("int64_val", np.int64, np.dtype(np.int64)),
    types_pb2.DT_UINT8: ("int_val", np.int32, np.dtype(np.uint8)),
    types_pb2.DT_UINT16: ("int_val", np.int32, np.dtype(np.uint16)),
    types_pb2.DT_UINT32: ("uint32_val", np.uint32, np.dtype(np.uint32)),
    types_pb2.DT_UINT64: ("uint64_val", np.uint64, np.dtype(np.uint64)),
    types_pb2.DT_BOOL: ("bool_val", np.bool_, np.dtype(np.bool_)),
}


def array_to_tensor(array: np.ndarray) -> tensor_pb2.TensorProto:
    """A TensorProto of `array` (numbers as raw `tensor_content`, like TF).

    Args:
        array: Numbers, booleans, or an object array of bytes (strings).

    Returns:
        The proto.
    """
    proto = tensor_pb2.TensorProto()
    for size in array.shape:
        proto.tensor_shape.dim.add().size = size
    if array.dtype.kind in "OSU":
        proto.dtype = types_pb2.DT_STRING
        proto.string_val.extend(
            v.encode("utf-8") if isinstance(v, str) else v for v in array.reshape(-1)
        )
        return proto
    proto.dtype = _NUMPY_DATATYPES[array.dtype]
    proto.tensor_content = (
        np.ascontiguousarray(array)
        .astype(array.dtype.newbyteorder("<"), copy=False)
        .tobytes()
    )
    return proto


def decode_tensor_inputs(
    protos: Mapping[str, tensor_pb2.TensorProto],
    spec: SignatureSpec,
    limits: RequestLimits,
) -> dict[str, np.ndarray]:
    """The checked arrays of a PredictRequest's `inputs` for signature `spec`.

    Sizes are checked first: nothing is allocated for inputs over `limits`.

    Raises:
        ServingError: INVALID_ARGUMENT naming the input at fault.
    """
    check_input_names(protos.keys(), spec)
    check_request_size(
        {key: tensor_size(proto, spec.inputs[key]) for key, proto in protos.items()},
        limits,
    )
    inputs = {
        key: tensor_to_array(proto, spec.inputs[key]) for key, proto in protos.items()
    }
    check_inputs(inputs, spec)
    check_counts(inputs, spec.name, limits)
    return inputs
