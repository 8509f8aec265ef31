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
from xent.serving.limits import InputSize
from xent.serving.limits import RequestLimits
from xent.serving.limits import check_counts
from xent.serving.limits import check_request_size
from xent.serving.registry import Registry
from xent.serving.signatures import DEFAULT_SIGNATURE
from xent.serving.signatures import TensorSpec
from xent.serving.signatures import check_input_names
from xent.serving.signatures import check_inputs

__all__ = [
    "GrpcServer",
    "array_to_tensor",
    "status_response",
    "tensor_size",
    "tensor_to_array",
]

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


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(
        self, registry: Registry, executor: futures.Executor, limits: RequestLimits
    ):
        self._registry = registry
        self._executor = executor
        self._limits = limits

    async def Predict(self, request, context):  # noqa: N802 - the proto's names
        try:
            return await self._predict(request, context.time_remaining())
        except ServingError as err:
            await context.abort(grpc.StatusCode[err.code.name], err.message)
        except Exception:  # noqa: BLE001 - never a traceback to the client
            logger.exception("Internal error answering a gRPC request")
            await context.abort(grpc.StatusCode.INTERNAL, "Internal error")

    async def GetModelMetadata(self, request, context):  # noqa: N802
        return await _answer(context, self._metadata, request)

    async def _predict(
        self, request: predict_pb2.PredictRequest, client_timeout: float | None
    ):
        name, version = _model_spec(request.model_spec)
        servable = self._registry.servable(name, version)
        signature = servable.signature(
            request.model_spec.signature_name or DEFAULT_SIGNATURE
        )
        spec = signature.spec
        check_input_names(request.inputs.keys(), spec)
        # Sizes first: nothing is allocated for a request over the limits.
        check_request_size(
            {
                key: tensor_size(proto, spec.inputs[key])
                for key, proto in request.inputs.items()
            },
            self._limits,
        )
        inputs = {
            key: tensor_to_array(proto, spec.inputs[key])
            for key, proto in request.inputs.items()
        }
        check_inputs(inputs, spec)
        check_counts(inputs, spec.name, self._limits)
        wanted = list(request.output_filter) or sorted(spec.outputs)
        for key in wanted:
            if key not in spec.outputs:
                raise ServingError.invalid(
                    f"Output {key!r} in output_filter is not an output of "
                    f"signature {spec.name!r}: {sorted(spec.outputs)}"
                )
        timeouts = [t for t in (self._limits.timeout_s, client_timeout) if t]
        outputs = await self._run(signature.run, inputs, min(timeouts, default=None))
        response = predict_pb2.PredictResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.model_spec.signature_name = spec.name
        for key in wanted:
            response.outputs[key].CopyFrom(array_to_tensor(outputs[key]))
        return response

    async def _run(self, run: Callable, inputs, timeout_s: float | None) -> dict:
        """Runs the model off the event loop: through the batcher's queue when
        batching is on, else on the executor's threads.

        Raises:
            ServingError: DEADLINE_EXCEEDED when no answer came within
                `timeout_s` (a call still queued in the batcher never runs).
        """
        loop = asyncio.get_running_loop()
        submit = getattr(run, "submit", None)
        if submit is None:
            answer = loop.run_in_executor(self._executor, run, inputs)
        else:
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

            submit(inputs, done, timeout_s)
        try:
            return await asyncio.wait_for(answer, timeout_s)
        except asyncio.TimeoutError:  # Not TimeoutError before Python 3.11.
            raise ServingError.deadline_exceeded(
                f"No answer from the model within {timeout_s:g} s (the "
                "server's deadline or the client's)"
            ) from None

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
        limits: The most work one request may ask for.

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
        limits: RequestLimits | None = None,
    ):
        limits = RequestLimits() if limits is None else limits
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
                _PredictionService(registry, self._executor, limits), server
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
