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

import asyncio
import contextlib
import logging
import math
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

    Strings and the common number types are decoded here (a tenth of the
    time of `tf.make_ndarray` for small tensors); other protos, and protos
    that rely on TF's rules for short value lists, go to `tf.make_ndarray`.

    Raises:
        ServingError: INVALID_ARGUMENT naming the input.
    """
    expected = types_pb2.DataType.Value(spec.datatype_name)
    if proto.dtype != expected:
        raise ServingError.invalid(
            f"Input {spec.name!r} has dtype {types_pb2.DataType.Name(proto.dtype)}, "
            f"expected {spec.datatype_name}"
        )
    array = _decode_common(proto)
    if array is not None:
        return array
    import tensorflow as tf

    try:
        return tf.make_ndarray(proto)
    except (ValueError, TypeError) as err:
        raise ServingError.invalid(
            f"Input {spec.name!r} is not a valid TensorProto: {err}"
        ) from None


_VALUE_FIELDS = {
    types_pb2.DT_FLOAT: ("float_val", np.dtype("<f4")),
    types_pb2.DT_DOUBLE: ("double_val", np.dtype("<f8")),
    types_pb2.DT_INT32: ("int_val", np.dtype("<i4")),
    types_pb2.DT_INT64: ("int64_val", np.dtype("<i8")),
    types_pb2.DT_BOOL: ("bool_val", np.dtype(np.bool_)),
}


def _decode_common(proto: tensor_pb2.TensorProto) -> np.ndarray | None:
    """The array of a string or number proto with one value per element.

    Returns None for anything else (unknown rank, negative sizes, other
    dtypes, value lists shorter than the shape), which `tf.make_ndarray`
    then decodes or refuses.
    """
    if proto.tensor_shape.unknown_rank:
        return None
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    if min(shape, default=0) < 0:
        return None
    size = math.prod(shape)
    if proto.dtype == types_pb2.DT_STRING:
        if proto.tensor_content or len(proto.string_val) != size:
            return None
        array = np.empty(size, dtype=object)
        array[:] = list(proto.string_val)
        return array.reshape(shape)
    field = _VALUE_FIELDS.get(proto.dtype)
    if field is None:
        return None
    name, dtype = field
    if proto.tensor_content:
        if len(proto.tensor_content) != size * dtype.itemsize:
            return None
        return np.frombuffer(proto.tensor_content, dtype=dtype).reshape(shape)
    values = getattr(proto, name)
    if len(values) != size:
        return None
    return np.array(list(values), dtype=dtype).reshape(shape)


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
    def __init__(self, registry: Registry, executor: futures.Executor):
        self._registry = registry
        self._executor = executor

    async def Predict(self, request, context):  # noqa: N802 - the proto's names
        try:
            return await self._predict(request)
        except ServingError as err:
            await context.abort(grpc.StatusCode[err.code.name], err.message)
        except Exception:  # noqa: BLE001 - never a traceback to the client
            logger.exception("Internal error answering a gRPC request")
            await context.abort(grpc.StatusCode.INTERNAL, "Internal error")

    async def GetModelMetadata(self, request, context):  # noqa: N802
        return await _answer(context, self._metadata, request)

    async def _predict(self, request: predict_pb2.PredictRequest):
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
        outputs = await self._run(signature.run, inputs)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.model_spec.signature_name = spec.name
        for key in wanted:
            response.outputs[key].CopyFrom(array_to_tensor(outputs[key]))
        return response

    async def _run(self, run: Callable, inputs) -> dict:
        """Runs the model off the event loop: through the batcher's queue when
        batching is on, else on the executor's threads."""
        loop = asyncio.get_running_loop()
        submit = getattr(run, "submit", None)
        if submit is None:
            return await loop.run_in_executor(self._executor, run, inputs)
        answer = loop.create_future()

        def done(result, error):
            def settle():
                if answer.done():  # The call was cancelled meanwhile.
                    return
                if error is not None:
                    answer.set_exception(error)
                else:
                    answer.set_result(result)

            with contextlib.suppress(RuntimeError):  # The loop is closed.
                loop.call_soon_threadsafe(settle)

        submit(inputs, done)
        return await answer

    async def _metadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest):
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

    async def GetModelStatus(self, request, context):  # noqa: N802 - the proto's names
        async def status(request):
            name, version = _model_spec(request.model_spec)
            return status_response(self._registry, name, version)

        return await _answer(context, status, request)


def _model_spec(spec) -> tuple[str, int | None]:
    if not spec.name:
        raise ServingError.invalid("model_spec.name is required")
    if spec.version_label:
        raise ServingError.invalid(
            f"Unrecognized servable version label: {spec.version_label}"
        )
    return spec.name, spec.version.value if spec.HasField("version") else None


async def _answer(context: grpc.aio.ServicerContext, method: Callable, request):
    try:
        return await method(request)
    except ServingError as err:
        await context.abort(grpc.StatusCode[err.code.name], err.message)
    except Exception:  # noqa: BLE001 - never a traceback to the client
        logger.exception("Internal error answering a gRPC request")
        await context.abort(grpc.StatusCode.INTERNAL, "Internal error")


class GrpcServer:
    """The gRPC API on `host:port` (port 0 picks a free port).

    The `grpc.aio` server runs on an event loop in its own thread (a third
    less CPU per call than the thread-per-call server); requests are decoded
    on the loop, and the model runs on the batcher's thread (batching on) or
    on a pool of `max_workers` threads (batching off).

    Args:
        registry: The models to serve.
        host: Address to listen on; loopback by default.
        port: TCP port; 0 for any free port (see `port`).
        max_message_bytes: Largest accepted request message.
        max_workers: Threads running the model when batching is off.

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
        self._executor = futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="xent-grpc"
        )
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._stopped: threading.Event | None = None
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

        async def create():
            server = grpc.aio.server(
                options=[
                    ("grpc.max_receive_message_length", max_message_bytes),
                    # Without this a second server could silently share the port.
                    ("grpc.so_reuseport", 0),
                ],
            )
            prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
                _PredictionService(registry, self._executor), server
            )
            model_service_pb2_grpc.add_ModelServiceServicer_to_server(
                _ModelService(registry), server
            )
            try:
                bound = server.add_insecure_port(address)
            except RuntimeError as err:
                raise OSError(f"cannot listen on {address}: {err}") from None
            if not bound:
                raise OSError(f"cannot listen on {address}")
            return server, bound

        try:
            self._server, self.port = self._loop.run_until_complete(create())
        except BaseException:
            self._loop.close()
            self._executor.shutdown(wait=False)
            raise

    def start(self) -> None:
        """Starts answering."""
        self._loop.run_until_complete(self._server.start())
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="xent-grpc-loop", daemon=True
        )
        self._thread.start()

    def stop(self, grace_s: float = 30.0) -> threading.Event:
        """Refuses new calls at once; calls in flight may go on for `grace_s`.

        Returns:
            An event set once every call finished (or was cancelled when the
            grace period ended).
        """
        if self._stopped is not None:
            return self._stopped
        stopped = self._stopped = threading.Event()
        if self._thread is None:  # Never started.
            self._loop.run_until_complete(self._server.stop(None))
            self._finish()
            stopped.set()
            return stopped

        async def shut_down():
            try:
                await self._server.stop(grace_s)
            finally:
                self._loop.call_soon(self._loop.stop)

        future = asyncio.run_coroutine_threadsafe(shut_down(), self._loop)
        # Wait until the server no longer accepts calls, as the thread
        # server's stop did: the grace period runs in the background.
        refused = threading.Event()
        self._loop.call_soon_threadsafe(refused.set)
        refused.wait(5.0)

        def join():
            self._thread.join()
            with contextlib.suppress(Exception):
                future.result(0)
            self._finish()
            stopped.set()

        threading.Thread(target=join, name="xent-grpc-stop", daemon=True).start()
        return stopped

    def _finish(self) -> None:
        self._loop.close()
        self._executor.shutdown(wait=False)
