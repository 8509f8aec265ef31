"""TensorFlow Serving's gRPC API on the real `tensorflow-serving-api` protos.

`tensorflow.serving.PredictionService`: `Predict` and `GetModelMetadata`
(`Classify`, `Regress` and `MultiInference` answer UNIMPLEMENTED);
`tensorflow.serving.ModelService`: `GetModelStatus`; `grpc.health.v1.Health`
(SERVING while at least one model version is available, for the whole server
"" and for both services by name). A TF Serving client
(`prediction_service_pb2_grpc.PredictionServiceStub`) works unchanged;
`ModelSpec.version_label` names a version through the model config's labels.
Errors use TF Serving's codes: NOT_FOUND for an unknown model or version,
INVALID_ARGUMENT for a request that does not fit the signature or an unknown
label, FAILED_PRECONDITION for an unknown signature.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent import futures

import grpc
from google.protobuf import text_format
from grpc_health.v1 import health
from grpc_health.v1 import health_pb2
from grpc_health.v1 import health_pb2_grpc
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from xent.serving.dispatch import CallRecorder
from xent.serving.dispatch import run_signature
from xent.serving.errors import ServingError
from xent.serving.limits import RequestLimits
from xent.serving.registry import Registry
from xent.serving.signatures import DEFAULT_SIGNATURE
from xent.serving.tensors import array_to_tensor
from xent.serving.tensors import decode_tensor_inputs
from xent.serving.tensors import tensor_size
from xent.serving.tensors import tensor_to_array

__all__ = [
    "HEALTH_SERVICES",
    "GrpcServer",
    "array_to_tensor",
    "status_response",
    "tensor_size",
    "tensor_to_array",
]

logger = logging.getLogger("xent.serving")

_SIGNATURE_DEF = "signature_def"
_OK = "OK"
# The names a health check may ask about ("" is the whole server).
HEALTH_SERVICES = (
    "",
    "tensorflow.serving.PredictionService",
    "tensorflow.serving.ModelService",
)
# gRPC messages logged in the request log are skipped past this size.
_MAX_LOGGED_MESSAGE = 1 << 20


def status_response(
    registry: Registry, name: str, version: int | None, label: str | None = None
) -> get_model_status_pb2.GetModelStatusResponse:
    """The GetModelStatusResponse of `name` (one version, or all of them).

    Raises:
        ServingError: NOT_FOUND for an unknown model or version;
            INVALID_ARGUMENT for an unknown label.
    """
    response = get_model_status_pb2.GetModelStatusResponse()
    for status in registry.status(name, version, label):
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


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(
        self,
        registry: Registry,
        executor: futures.Executor,
        limits: RequestLimits,
        recorder: CallRecorder,
    ):
        self._registry = registry
        self._executor = executor
        self._limits = limits
        self._recorder = recorder

    async def Predict(self, request, context):  # noqa: N802 - the proto's names
        timeout = context.time_remaining()
        return await _answer(
            context, self._recorder, "predict", self._predict, request, timeout
        )

    async def GetModelMetadata(self, request, context):  # noqa: N802
        return await _answer(
            context, self._recorder, "GetModelMetadata", self._metadata, request
        )

    async def _predict(
        self, request: predict_pb2.PredictRequest, client_timeout: float | None
    ):
        name, version, label = _model_spec(request.model_spec)
        servable = self._registry.servable(name, version, label)
        signature = servable.signature(
            request.model_spec.signature_name or DEFAULT_SIGNATURE
        )
        spec = signature.spec
        inputs = decode_tensor_inputs(request.inputs, spec, self._limits)
        wanted = list(request.output_filter) or sorted(spec.outputs)
        for key in wanted:
            if key not in spec.outputs:
                raise ServingError.invalid(
                    f"Output {key!r} in output_filter is not an output of "
                    f"signature {spec.name!r}: {sorted(spec.outputs)}"
                )
        timeouts = [t for t in (self._limits.timeout_s, client_timeout) if t]
        self._recorder.count_run(name, signature.run)
        outputs = await run_signature(
            signature.run, inputs, min(timeouts, default=None), self._executor
        )
        response = predict_pb2.PredictResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.model_spec.signature_name = spec.name
        for key in wanted:
            response.outputs[key].CopyFrom(array_to_tensor(outputs[key]))
        return response

    async def _metadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest):
        name, version, label = _model_spec(request.model_spec)
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
        servable = self._registry.servable(name, version, label)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.metadata[_SIGNATURE_DEF].Pack(servable.signature_defs)
        return response


class _ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, registry: Registry, recorder: CallRecorder):
        self._registry = registry
        self._recorder = recorder

    async def GetModelStatus(self, request, context):  # noqa: N802 - the proto's names
        async def status(request):
            name, version, label = _model_spec(request.model_spec)
            return status_response(self._registry, name, version, label)

        return await _answer(context, self._recorder, "GetModelStatus", status, request)


def _model_spec(spec) -> tuple[str, int | None, str | None]:
    if not spec.name:
        raise ServingError.invalid("model_spec.name is required")
    if spec.HasField("version"):
        return spec.name, spec.version.value, None
    return spec.name, None, spec.version_label or None


async def _answer(
    context: grpc.aio.ServicerContext,
    recorder: CallRecorder,
    api: str,
    method: Callable,
    request,
    *args,
):
    """Answers `method(request, *args)`; errors become status codes, and the
    call is recorded (metrics, request log)."""
    start = time.perf_counter()
    response, status, message = None, _OK, ""
    try:
        response = await method(request, *args)
    except ServingError as err:
        status, message = err.code.name, err.message
    except Exception:  # noqa: BLE001 - never a traceback to the client
        logger.exception("Internal error answering a gRPC %s request", api)
        status, message = "INTERNAL", "Internal error"
    version = None
    if status == _OK and api != "GetModelStatus":
        version = response.model_spec.version.value
    recorder.record(
        api,
        request.model_spec.name,
        version,
        status,
        time.perf_counter() - start,
        lambda: (_message_text(request), _message_text(response) or message),
    )
    if status != _OK:
        await context.abort(grpc.StatusCode[status], message)
    return response


def _message_text(message) -> str:
    if message is None:
        return ""
    if message.ByteSize() > _MAX_LOGGED_MESSAGE:
        return f"<{type(message).__name__} of {message.ByteSize()} bytes>"
    return text_format.MessageToString(message, as_one_line=True)


class _Health:
    """The health service, SERVING while a model version is available."""

    def __init__(self, registry: Registry, loop: asyncio.AbstractEventLoop):
        self.servicer = health.aio.HealthServicer()
        self._registry = registry
        self._loop = loop
        self._serving: bool | None = None

    def update(self) -> None:
        """Sets the status from the registry (any thread; a registry listener)."""
        serving = bool(self._registry.models())
        if serving == self._serving:
            return
        self._serving = serving
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )

        async def set_all():
            for service in HEALTH_SERVICES:
                await self.servicer.set(service, status)

        if not self._loop.is_closed():
            asyncio.run_coroutine_threadsafe(set_all(), self._loop)


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
        recorder: Records the calls (metrics, request log); None for none.

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
        recorder: CallRecorder | None = None,
    ):
        limits = RequestLimits() if limits is None else limits
        recorder = recorder or CallRecorder(None, None, "GRPC")
        self._executor = futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="xent-grpc"
        )
        self._loop = asyncio.new_event_loop()
        self._health = _Health(registry, self._loop)
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
                _PredictionService(registry, self._executor, limits, recorder), server
            )
            model_service_pb2_grpc.add_ModelServiceServicer_to_server(
                _ModelService(registry, recorder), server
            )
            health_pb2_grpc.add_HealthServicer_to_server(self._health.servicer, server)
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
        registry.add_listener(self._health.update)

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
                await self._health.servicer.enter_graceful_shutdown()
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
