"""TensorFlow Serving's gRPC API on the real `tensorflow-serving-api` protos.

`tensorflow.serving.PredictionService`: `Predict` and `GetModelMetadata`
(`Classify`, `Regress` and `MultiInference` answer UNIMPLEMENTED);
`tensorflow.serving.ModelService`: `GetModelStatus`. A TF Serving client
(`prediction_service_pb2_grpc.PredictionServiceStub`) works unchanged.
Errors use TF Serving's codes: NOT_FOUND for an unknown model or version,
INVALID_ARGUMENT for a request that does not fit the signature,
FAILED_PRECONDITION for an unknown signature.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent import futures

import grpc
import numpy as np
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from xent.serving.errors import ServingError
from xent.serving.registry import Registry
from xent.serving.signatures import DEFAULT_SIGNATURE
from xent.serving.signatures import TensorSpec
from xent.serving.signatures import check_input_names
from xent.serving.signatures import check_inputs

__all__ = ["GrpcServer", "array_to_tensor", "status_response", "tensor_to_array"]

logger = logging.getLogger("xent.serving")

_SIGNATURE_DEF = "signature_def"
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


def status_response(
    registry: Registry, name: str, version: int | None
) -> get_model_status_pb2.GetModelStatusResponse:
    """The GetModelStatusResponse of `name` (one version, or all of them).

    Raises:
        ServingError: NOT_FOUND for an unknown model or version.
    """
    response = get_model_status_pb2.GetModelStatusResponse()
    for status in registry.status(name, version):
        entry = response.model_version_status.add()
        entry.version = status.version
        entry.status.SetInParent()
        if status.available:
            entry.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
        else:
            entry.state = get_model_status_pb2.ModelVersionStatus.END
            entry.status.error_code = 2  # error_codes.UNKNOWN
            entry.status.error_message = status.error or ""
    return response


def tensor_to_array(proto: tensor_pb2.TensorProto, spec: TensorSpec) -> np.ndarray:
    """The array of an input TensorProto, which must have the input's dtype.

    Raises:
        ServingError: INVALID_ARGUMENT naming the input.
    """
    import tensorflow as tf

    expected = types_pb2.DataType.Value(spec.datatype_name)
    if proto.dtype != expected:
        raise ServingError.invalid(
            f"Input {spec.name!r} has dtype {types_pb2.DataType.Name(proto.dtype)}, "
            f"expected {spec.datatype_name}"
        )
    try:
        return tf.make_ndarray(proto)
    except (ValueError, TypeError) as err:
        raise ServingError.invalid(
            f"Input {spec.name!r} is not a valid TensorProto: {err}"
        ) from None


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


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, registry: Registry):
        self._registry = registry

    def Predict(self, request, context):  # noqa: N802 - the proto's names
        return _answer(context, self._predict, request)

    def GetModelMetadata(self, request, context):  # noqa: N802
        return _answer(context, self._metadata, request)

    def _predict(self, request: predict_pb2.PredictRequest):
        name, version = _model_spec(request.model_spec)
        servable = self._registry.servable(name, version)
        signature = servable.signature(
            request.model_spec.signature_name or DEFAULT_SIGNATURE
        )
        spec = signature.spec
        check_input_names(request.inputs.keys(), spec)
        inputs = {
            key: tensor_to_array(proto, spec.inputs[key])
            for key, proto in request.inputs.items()
        }
        check_inputs(inputs, spec)
        wanted = list(request.output_filter) or sorted(spec.outputs)
        for key in wanted:
            if key not in spec.outputs:
                raise ServingError.invalid(
                    f"Output {key!r} in output_filter is not an output of "
                    f"signature {spec.name!r}: {sorted(spec.outputs)}"
                )
        outputs = signature.run(inputs)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.model_spec.signature_name = spec.name
        for key in wanted:
            response.outputs[key].CopyFrom(array_to_tensor(outputs[key]))
        return response

    def _metadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest):
        name, version = _model_spec(request.model_spec)
        fields = list(request.metadata_field)
        if not fields:
            raise ServingError.invalid(
                "GetModelMetadataRequest must specify at least one metadata_field"
            )
        for field in fields:
            if field != _SIGNATURE_DEF:
                raise ServingError.invalid(
                    f"Metadata field {field} is not supported; only "
                    f"{_SIGNATURE_DEF!r} is"
                )
        servable = self._registry.servable(name, version)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.metadata[_SIGNATURE_DEF].Pack(servable.signature_defs)
        return response


class _ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, registry: Registry):
        self._registry = registry

    def GetModelStatus(self, request, context):  # noqa: N802 - the proto's names
        def status(request):
            name, version = _model_spec(request.model_spec)
            return status_response(self._registry, name, version)

        return _answer(context, status, request)


def _model_spec(spec) -> tuple[str, int | None]:
    if not spec.name:
        raise ServingError.invalid("model_spec.name is required")
    if spec.version_label:
        raise ServingError.invalid(
            f"Unrecognized servable version label: {spec.version_label}"
        )
    return spec.name, spec.version.value if spec.HasField("version") else None


def _answer(context: grpc.ServicerContext, method: Callable, request):
    try:
        return method(request)
    except ServingError as err:
        context.abort(grpc.StatusCode[err.code.name], err.message)
    except Exception:  # noqa: BLE001 - never a traceback to the client
        logger.exception("Internal error answering a gRPC request")
        context.abort(grpc.StatusCode.INTERNAL, "Internal error")


class GrpcServer:
    """The gRPC API on `host:port` (port 0 picks a free port).

    Args:
        registry: The models to serve.
        host: Address to listen on; loopback by default.
        port: TCP port; 0 for any free port (see `port`).
        max_message_bytes: Largest accepted request message.
        max_workers: Threads answering requests (requests waiting for a
            batch hold one each).

    Raises:
        OSError: When the address cannot be bound.
    """

    def __init__(
        self,
        registry: Registry,
        host: str = "127.0.0.1",
        port: int = 8500,
        max_message_bytes: int = 16 << 20,
        max_workers: int = 32,
    ):
        self._server = grpc.server(
            futures.ThreadPoolExecutor(
                max_workers=max_workers, thread_name_prefix="xent-grpc"
            ),
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                # Without this a second server could silently share the port.
                ("grpc.so_reuseport", 0),
            ],
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            _PredictionService(registry), self._server
        )
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(
            _ModelService(registry), self._server
        )
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            self.port = self._server.add_insecure_port(address)
        except RuntimeError as err:
            raise OSError(f"cannot listen on {address}: {err}") from None
        if not self.port:
            raise OSError(f"cannot listen on {address}")

    def start(self) -> None:
        """Starts answering."""
        self._server.start()

    def stop(self, grace_s: float = 30.0) -> threading.Event:
        """Refuses new calls at once; calls in flight may go on for `grace_s`.

        Returns:
            An event set once every call finished (or was cancelled when the
            grace period ended).
        """
        return self._server.stop(grace_s)
