"""TensorFlow Serving's REST API v1 on aiohttp's HTTP/1.1 server.

    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]              model status
    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata     signature defs
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict      predict
    GET  /monitoring/prometheus/metrics          Prometheus metrics (`metrics`)

Answers are JSON; errors are `{"error": "..."}` with TF Serving's codes: 400
for a bad request, 404 for an unknown model or version, 500 with "Internal
error" for a bug (the traceback goes to the log, never to the client). HEAD
works wherever GET does.

The HTTP layer is aiohttp's (its llhttp parser and keep-alive handling);
this module adds what a model server exposed to clients needs on top:

* a body larger than `max_body_bytes` is answered 413 as soon as that is
  known: from `Content-Length` (before `100 Continue`), else while reading,
  chunked bodies and gzip/deflate bodies (`Content-Encoding`) included: the
  decompressed size counts, so a gzip bomb stops at the limit;
* request lines or header fields over 8190 bytes, or more than 100 header
  fields, are answered 431; malformed framing (`Content-Length: +5`, both
  `Content-Length` and `Transfer-Encoding`, bad chunk sizes...) 400;
* a request's headers must arrive within `header_timeout_s` of its first
  byte (of the connection's opening for the first request) and its body
  within `body_timeout_s`, else 408 and the connection is closed: slow
  clients cannot hold the connection slots; idle keep-alive connections are
  closed after `idle_timeout_s`;
* at most `max_connections` connections are open; one more is answered 503
  and closed at once;
* `stop` drains: it stops accepting, closes idle connections, lets requests
  in flight finish (each then closes its connection) within the grace period.

The event loop runs in its own thread. JSON is decoded on the loop (on a
worker thread for bodies over 64 KiB); the model runs on the batcher's
thread or on a pool of threads (`xent.serving.dispatch.run_signature`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import threading
import time
import urllib.parse
from concurrent import futures

from aiohttp import HttpVersion
from aiohttp import HttpVersion11
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.http_exceptions import LineTooLong
from google.protobuf import json_format

from xent.serving.dispatch import CallRecorder
from xent.serving.dispatch import run_signature
from xent.serving.errors import ServingError
from xent.serving.grpc_server import status_response
from xent.serving.limits import RequestLimits
from xent.serving.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from xent.serving.metrics import METRICS_PATH
from xent.serving.metrics import ServingMetrics
from xent.serving.registry import Registry
from xent.serving.signatures import decode_predict_request
from xent.serving.signatures import dumps
from xent.serving.signatures import encode_predict_response
from xent.serving.signatures import error_body
from xent.serving.signatures import parse_json_body
from xent.serving.signatures import request_signature_name

__all__ = ["RestServer", "metadata_json", "status_json"]

logger = logging.getLogger("xent.serving")

_MODEL_PATH = re.compile(
    r"/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>[0-9]+)|/labels/(?P<label>[^/:]+))?"
    r"(?P<suffix>/metadata|:[A-Za-z]+)?",
    re.IGNORECASE,
)
_MAX_LINE = 8190
_MAX_HEADERS = 100
_BACKLOG = 128
_LINGER_S = 2.0
_INLINE_BODY = 64 << 10
_SERVER = "xent-serving"
_OK = "OK"
# The HTTP version a request named (it is answered as HTTP/1.1).
_SENT_VERSION = web.RequestKey("xent_http_version", HttpVersion)


def status_json(
    registry: Registry, name: str, version: int | None, label: str | None = None
) -> dict:
    """The GetModelStatusResponse of `name` as TF Serving prints it in JSON."""
    return _proto_json(status_response(registry, name, version, label))


def metadata_json(
    registry: Registry, name: str, version: int | None, label: str | None = None
) -> dict:
    """The REST metadata answer: model spec and signature defs."""
    servable = registry.servable(name, version, label)
    return {
        "model_spec": {
            "name": servable.name,
            "signature_name": "",
            "version": str(servable.version),
        },
        "metadata": {"signature_def": _proto_json(servable.signature_defs)},
    }


def _proto_json(message) -> dict:
    return json_format.MessageToDict(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
    )


class _HttpError(Exception):
    """An answer decided by the HTTP layer (413, 408, ...), not the API."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class RestServer:
    """The REST API on `host:port` (port 0 picks a free port).

    Args:
        registry: The models to serve.
        host: Address to listen on; loopback by default.
        port: TCP port; 0 for any free port (see `port`).
        max_body_bytes: Largest accepted request body (decompressed).
        max_connections: Most open connections; one more is answered 503.
        idle_timeout_s: An idle keep-alive connection is closed after this.
        limits: The most work one request may ask for.
        header_timeout_s: Longest time from the first byte of a request to
            the end of its headers.
        body_timeout_s: Longest time to receive a request body.
        recorder: Records the calls (metrics, request log); None for none.
        metrics: Served at `/monitoring/prometheus/metrics`; None: 404.
        max_workers: Threads running the model when batching is off.

    Raises:
        OSError: When the address cannot be bound.
    """

    def __init__(
        self,
        registry: Registry,
        host: str = "127.0.0.1",
        port: int = 8501,
        max_body_bytes: int = 16 << 20,
        max_connections: int = 256,
        idle_timeout_s: float = 60.0,
        limits: RequestLimits | None = None,
        header_timeout_s: float = 10.0,
        body_timeout_s: float = 30.0,
        recorder: CallRecorder | None = None,
        metrics: ServingMetrics | None = None,
        max_workers: int = 32,
    ):
        self.registry = registry
        self.limits = RequestLimits() if limits is None else limits
        self.max_body_bytes = max_body_bytes
        self.max_connections = max_connections
        self.idle_timeout_s = idle_timeout_s
        self.header_timeout_s = header_timeout_s
        self.body_timeout_s = body_timeout_s
        self._recorder = recorder or CallRecorder(None, None, "REST")
        self._metrics = metrics
        self._executor = futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="xent-rest"
        )
        self._connections: set[_Connection] = set()  # Touched on the loop only.
        self._draining = False
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.create_server((host, port), family=family, backlog=_BACKLOG)
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._manager: web.Server | None = None

    @property
    def port(self) -> int:
        """The bound port."""
        return self._sock.getsockname()[1]

    def start(self) -> None:
        """Serves on the event loop's thread."""

        async def create():
            self._manager = web.Server(
                self._handle, request_factory=self._request, loop=self._loop
            )
            self._server = await self._loop.create_server(
                self._protocol, sock=self._sock
            )

        self._loop.run_until_complete(create())
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="xent-rest-loop", daemon=True
        )
        self._thread.start()

    def stop(self, grace_s: float = 30.0) -> bool:
        """Stops accepting, closes idle connections, waits for requests in flight.

        Returns:
            Whether every request finished within `grace_s`.
        """
        if self._thread is None:
            self._sock.close()
            self._loop.close()
            self._executor.shutdown(wait=False)
            return True
        future = asyncio.run_coroutine_threadsafe(self._drain(grace_s), self._loop)
        try:
            drained = future.result(grace_s + 5.0)
        except futures.TimeoutError:
            drained = False
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)
        if not self._thread.is_alive():
            self._loop.close()
        self._thread = None
        self._executor.shutdown(wait=False)
        return drained

    async def _drain(self, grace_s: float) -> bool:
        self._draining = True
        self._server.close()
        for connection in list(self._connections):
            connection.close_if_idle()
        deadline = self._loop.time() + grace_s
        while self._connections and self._loop.time() < deadline:
            await asyncio.sleep(0.05)
        drained = not self._connections
        for connection in list(self._connections):
            connection.force_close()
        # Connection tasks still waiting (a lingering read of a refused body,
        # a handler past the grace period) end here, not with the loop.
        tasks = asyncio.all_tasks() - {asyncio.current_task()}
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        return drained

    # ------------------------------------------------------------------
    # Connections (called on the loop).
    # ------------------------------------------------------------------
    def _protocol(self) -> _Connection:
        return _Connection(
            self,
            self._manager,
            loop=self._loop,
            keepalive_timeout=self.idle_timeout_s,
            max_line_size=_MAX_LINE,
            max_field_size=_MAX_LINE,
            max_headers=_MAX_HEADERS,
            lingering_time=_LINGER_S,
            access_log=None,
        )

    def admit(self, connection: _Connection) -> bool:
        """Counts a new connection in; False when full or draining."""
        if self._draining or len(self._connections) >= self.max_connections:
            return False
        self._connections.add(connection)
        return True

    def release(self, connection: _Connection) -> None:
        """Counts a closed connection out."""
        self._connections.discard(connection)

    # ------------------------------------------------------------------
    # Requests.
    # ------------------------------------------------------------------
    def _request(self, message, payload, protocol, writer, task) -> web.BaseRequest:
        """The request, answered as HTTP/1.1 whatever version it names (an
        HTTP/1.0 request is answered with `Connection: close` unless it asks
        for keep-alive; HTTP/2 and later are answered 505)."""
        sent = message.version
        if sent != HttpVersion11:
            message = message._replace(version=HttpVersion11)
        request = web.BaseRequest(message, payload, protocol, writer, task, self._loop)
        request[_SENT_VERSION] = sent
        return request

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        connection = request.protocol
        connection.begin_request()
        try:
            response = await self._respond(request)
        finally:
            connection.end_request()
        if self._draining:
            response.force_close()
        return response

    async def _respond(self, request: web.BaseRequest) -> web.StreamResponse:
        method = request.method
        path = request.raw_path.split("?", 1)[0]
        if path.startswith("//"):
            path = "/" + path.lstrip("/")
        try:
            sent = request[_SENT_VERSION]
            if sent >= (2, 0):
                raise _HttpError(505, f"HTTP/{sent[0]} is not supported")
            if method not in ("GET", "HEAD", "POST"):
                raise _HttpError(405, f"Method {method} is not supported")
            body = await self._read_body(request)
        except _HttpError as err:
            return _json(err.status, error_body(err.message), close=True)
        if method == "GET" or method == "HEAD":
            if path == METRICS_PATH and self._metrics is not None:
                return web.Response(
                    body=self._metrics.exposition(),
                    headers={"Content-Type": METRICS_CONTENT_TYPE, "Server": _SERVER},
                )
            method = "GET"
        return await self._api(method, path, body)

    async def _read_body(self, request: web.BaseRequest) -> bytes:
        """The body (decompressed), at most `max_body_bytes`, within the
        body timeout.

        Raises:
            _HttpError: 413, 408, or 400 for a malformed body.
        """
        limit = self.max_body_bytes
        length = request.content_length
        if length is not None and length > limit:
            raise _too_large(f"Request body of {length} bytes", limit)
        if request.headers.get("Expect", "").lower() == "100-continue":
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        parts, total = [], 0
        try:
            async with asyncio.timeout(self.body_timeout_s):
                while chunk := await request.content.readany():
                    total += len(chunk)
                    if total > limit:
                        raise _too_large(
                            f"Request body of more than {limit} bytes", limit
                        )
                    parts.append(chunk)
        except TimeoutError:
            raise _HttpError(408, "Timed out reading the request body") from None
        except (web.RequestPayloadError, HttpProcessingError) as err:
            raise _HttpError(400, f"Malformed request body: {_cause(err)}") from None
        return b"".join(parts)

    async def _api(self, method: str, path: str, body: bytes) -> web.Response:
        start = time.perf_counter()
        api, name, version, answer = "", "", None, b""
        try:
            api, name, version, label = self._route(method, path)
            answer = await self._call(api, name, version, label, body)
            status_name, status = _OK, 200
        except ServingError as err:
            status_name, status = err.code.name, err.code.http_status
            answer = error_body(err.message)
        except Exception:  # noqa: BLE001 - never a traceback to the client
            logger.exception("Internal error answering %s %s", method, path)
            status_name, status, answer = "INTERNAL", 500, error_body("Internal error")
        if api:
            self._recorder.record(
                api,
                name,
                version,
                status_name,
                time.perf_counter() - start,
                lambda: (
                    body.decode("utf-8", "replace"),
                    answer.decode("utf-8", "replace"),
                ),
            )
        return _json(status, answer)

    def _route(self, method: str, path: str) -> tuple[str, str, int | None, str | None]:
        """(API, model, version, label) of a request path.

        Raises:
            ServingError: NOT_FOUND or INVALID_ARGUMENT for other paths.
        """
        match = _MODEL_PATH.fullmatch(path)
        if match is None:
            if path.lower().startswith("/v1/"):
                raise ServingError.invalid(f"Malformed request: {method} {path}")
            raise ServingError.not_found(f"Not found: {method} {path}")
        name = urllib.parse.unquote(match["name"])
        version = None if match["version"] is None else int(match["version"])
        label = match["label"] and urllib.parse.unquote(match["label"])
        suffix = (match["suffix"] or "").lower()
        if method == "GET" and suffix == "":
            return "GetModelStatus", name, version, label
        if method == "GET" and suffix == "/metadata":
            return "GetModelMetadata", name, version, label
        if method == "POST" and suffix == ":predict":
            return "predict", name, version, label
        if method == "POST" and suffix in (":classify", ":regress"):
            raise ServingError.invalid(
                f"{suffix[1:]} is not supported by this server; use :predict"
            )
        raise ServingError.invalid(f"Malformed request: {method} {path}")

    async def _call(
        self, api: str, name: str, version: int | None, label: str | None, body: bytes
    ) -> bytes:
        if api == "GetModelStatus":
            return dumps(status_json(self.registry, name, version, label))
        if api == "GetModelMetadata":
            return dumps(metadata_json(self.registry, name, version, label))
        servable = self.registry.servable(name, version, label)
        if len(body) > _INLINE_BODY:  # Keep the loop free for other clients.
            decoded, signature = await self._loop.run_in_executor(
                self._executor, self._decode, servable, body
            )
        else:
            decoded, signature = self._decode(servable, body)
        self._recorder.count_run(name, signature.run)
        outputs = await run_signature(
            signature.run, decoded.inputs, self.limits.timeout_s, self._executor
        )
        return dumps(encode_predict_response(outputs, decoded.row_format))

    def _decode(self, servable, body: bytes):
        request = parse_json_body(body)
        signature = servable.signature(request_signature_name(request))
        return decode_predict_request(request, signature.spec, self.limits), signature


def _json(status: int, body: bytes, close: bool = False) -> web.Response:
    response = web.Response(
        status=status,
        body=body,
        content_type="application/json",
        headers={"Server": _SERVER},
    )
    if close:
        response.force_close()
    return response


def _too_large(what: str, limit: int) -> _HttpError:
    return _HttpError(413, f"{what} exceeds the limit of {limit} bytes")


def _cause(err: BaseException) -> str:
    cause = err.__cause__ or err
    message = getattr(cause, "message", None) or str(cause)
    return " ".join(str(message).split())[:200]


class _Connection(web.RequestHandler):
    """aiohttp's connection protocol plus the connection limit, the header
    deadline and JSON answers to protocol errors (see the module docstring)."""

    def __init__(self, app: RestServer, manager: web.Server, **kwargs):
        super().__init__(manager, **kwargs)
        self._app = app
        self._event_loop = kwargs["loop"]
        self._deadline: asyncio.TimerHandle | None = None
        self._in_request = False
        self._admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._app.admit(self):
            transport.write(_raw_answer(503, "The server is busy or shutting down"))
            transport.close()
            return
        self._admitted = True
        super().connection_made(transport)
        self._arm()  # The first request's headers are due from the opening.

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self._admitted:
            return
        self._admitted = False
        self._disarm()
        self._app.release(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if data and self._deadline is None and not self._in_request:
            self._arm()  # The first byte of a request: its headers are due.
        super().data_received(data)

    def begin_request(self) -> None:
        """The headers are in: the handler runs (and times the body)."""
        self._in_request = True
        self._disarm()

    def end_request(self) -> None:
        """The handler answered."""
        self._in_request = False

    def close_if_idle(self) -> None:
        """Closes the connection unless a request is being handled (drain)."""
        if not self._in_request:
            self.force_close()

    def _arm(self) -> None:
        self._deadline = self._event_loop.call_later(
            self._app.header_timeout_s, self._headers_timed_out
        )

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_timed_out(self) -> None:
        self._deadline = None
        if self._in_request or self.transport is None:
            return
        self.transport.write(_raw_answer(408, "Timed out reading the request headers"))
        self.force_close()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A protocol error found by the parser: JSON, no traceback."""
        if isinstance(exc, LineTooLong) or (
            isinstance(exc, BadHttpMessage) and "Too many headers" in str(exc)
        ):
            status, message = (
                431,
                (
                    f"Request header fields too large (at most {_MAX_HEADERS} fields "
                    f"of {_MAX_LINE} bytes)"
                ),
            )
        elif status == 400 and exc is not None and "version" in str(exc).lower():
            status = 505
        text = message or (str(exc) if exc is not None else "Bad request")
        text = text.removesuffix(" ^")  # llhttp's pointer under the bad byte.
        logger.debug("Protocol error from %s: %s", request.remote, text)
        return _json(status, error_body(" ".join(text.split())[:300]), close=True)


def _raw_answer(status: int, message: str) -> bytes:
    """A whole HTTP answer, for connections that have no request object."""
    phrase = {408: "Request Timeout", 503: "Service Unavailable"}[status]
    body = json.dumps({"error": message}).encode()
    return (
        f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
