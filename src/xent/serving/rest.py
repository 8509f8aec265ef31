"""TensorFlow Serving's REST API v1 over the standard library's HTTP server.

    GET  /v1/models/{name}[/versions/{v}]                 model status
    GET  /v1/models/{name}[/versions/{v}]/metadata        signature defs
    POST /v1/models/{name}[/versions/{v}]:predict         predict

Answers are JSON; errors are `{"error": "..."}` with 400 for a bad request
and 404 for an unknown model or version (TF Serving's codes), 500 with
"Internal error" for a bug (the traceback goes to the log, never to the
client). Bodies larger than `max_body_bytes` are refused with 400 before
they are read (chunked bodies as soon as the chunks announced exceed it).
HTTP/1.1 keep-alive; one thread per connection; HEAD wherever GET works.

Parsing is strict where lenient parsers let requests be smuggled or read
differently by a proxy: `Content-Length` is decimal digits only (no `+5`,
`1_0`, repeats or lists), a body with both `Content-Length` and
`Transfer-Encoding` is refused, chunk sizes are hexadecimal digits only (no
`0x`, sign or `_`), each chunk ends with CRLF, header names are tokens. A
request must arrive within `header_timeout_s` of its first byte (headers)
and its body within `body_timeout_s`, however slowly the bytes trickle in;
past that it is answered 408 and its connection closed (checked by one
reaper thread), so slow clients cannot hold the connection slots.

`RestServer.stop` drains: it stops accepting connections, closes idle
keep-alive connections, lets requests in flight finish (each then closes its
connection) and returns when none is left or the grace period is over.
"""

from __future__ import annotations

import contextlib
import http.server
import logging
import re
import socket
import socketserver
import threading
import time
import urllib.parse
from http import HTTPStatus

from google.protobuf import json_format

from xent.serving.batching import Batcher
from xent.serving.errors import ServingError
from xent.serving.grpc_server import status_response
from xent.serving.limits import RequestLimits
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
_MAX_LINE = 65536
_DECIMAL = re.compile(r"[0-9]{1,18}")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,15}")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_REAP_INTERVAL_S = 0.25
_MAX_HEADERS = 100
_DISCARD_LIMIT = 64 << 20


def status_json(registry: Registry, name: str, version: int | None) -> dict:
    """The GetModelStatusResponse of `name` as TF Serving prints it in JSON."""
    return _proto_json(status_response(registry, name, version))


def metadata_json(registry: Registry, name: str, version: int | None) -> dict:
    """The REST metadata answer: model spec and signature defs."""
    servable = registry.servable(name, version)
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


class _BodyTooLargeError(Exception):
    pass


class _Headers(dict):
    """Request headers by lower-case name; `get` takes any case."""

    def get(self, name: str, default=None):
        return super().get(name.lower(), default)


class RestServer:
    """The REST API on `host:port` (port 0 picks a free port).

    Args:
        registry: The models to serve.
        host: Address to listen on; loopback by default.
        port: TCP port; 0 for any free port (see `port`).
        max_body_bytes: Largest accepted request body.
        max_connections: Most open connections; more are answered 503.
        idle_timeout_s: An idle keep-alive connection is closed after this.
        limits: The most work one request may ask for.
        header_timeout_s: Longest time from the first byte of a request to
            the end of its headers.
        body_timeout_s: Longest time to receive a request body.

    Raises:
        OSError: When the address cannot be bound.
    """

    def __init__(
        self,
        registry: Registry,
        host: str = "127.0.0.1",
        port: int = 8501,
        max_body_bytes: int = 16 << 20,
        max_connections: int = 512,
        idle_timeout_s: float = 60.0,
        limits: RequestLimits | None = None,
        header_timeout_s: float = 10.0,
        body_timeout_s: float = 30.0,
    ):
        self.registry = registry
        self.limits = RequestLimits() if limits is None else limits
        self.header_timeout_s = header_timeout_s
        self.body_timeout_s = body_timeout_s
        self._reaper_stop = threading.Event()
        self._reaper: threading.Thread | None = None
        self.max_body_bytes = max_body_bytes
        self.max_connections = max_connections
        self.idle_timeout_s = idle_timeout_s
        self._lock = threading.Condition()
        self._handlers: dict[_Handler, bool] = {}  # handler -> busy
        self._draining = False
        self._thread: threading.Thread | None = None
        server_class = _IPv6Server if ":" in host else _Server
        self._httpd = server_class((host, port), _Handler)
        self._httpd.app = self

    @property
    def port(self) -> int:
        """The bound port."""
        return self._httpd.server_address[1]

    def start(self) -> None:
        """Serves in a background thread."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="xent-rest",
            daemon=True,
        )
        self._thread.start()
        self._reaper = threading.Thread(
            target=self._reap, name="xent-rest-reaper", daemon=True
        )
        self._reaper.start()

    def _reap(self) -> None:
        """Answers 408 to connections past their header or body deadline."""
        while not self._reaper_stop.wait(_REAP_INTERVAL_S):
            now = time.monotonic()
            with self._lock:
                handlers = list(self._handlers)
            for handler in handlers:
                handler.expire(now)

    def stop(self, grace_s: float = 30.0) -> bool:
        """Stops accepting, closes idle connections, waits for requests in flight.

        Returns:
            Whether every request finished within `grace_s`.
        """
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()
        deadline = time.monotonic() + grace_s
        with self._lock:
            self._draining = True
            for handler, busy in self._handlers.items():
                if not busy:
                    handler.wake()
            while self._handlers:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
        self._reaper_stop.set()
        return True

    # Connection bookkeeping, called by the handlers.
    def _open(self, handler: _Handler) -> bool:
        with self._lock:
            if self._draining or len(self._handlers) >= self.max_connections:
                return False
            self._handlers[handler] = False
            return True

    def _close(self, handler: _Handler) -> None:
        with self._lock:
            self._handlers.pop(handler, None)
            self._lock.notify_all()

    def _busy(self, handler: _Handler, busy: bool) -> bool:
        """Marks a connection busy or idle; returns whether we are draining."""
        with self._lock:
            if handler in self._handlers:
                self._handlers[handler] = busy
            return self._draining


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    app: RestServer

    def server_bind(self):
        # HTTPServer.server_bind resolves the host name (getfqdn): skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        logger.debug("Connection from %s failed", client_address, exc_info=True)


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "xent-serving"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _Server

    # ------------------------------------------------------------------
    # Connection life cycle.
    # ------------------------------------------------------------------
    def setup(self):
        self.timeout = self.server.app.idle_timeout_s
        self._deadline_lock = threading.Lock()
        self._deadline: float | None = None
        self._timed_out = False
        super().setup()

    def _arm(self, seconds: float) -> None:
        """Starts a phase (headers, body) that must end within `seconds`."""
        with self._deadline_lock:
            self._deadline = time.monotonic() + seconds

    def _disarm(self) -> None:
        """Ends the phase.

        Raises:
            OSError: When the reaper already answered 408.
        """
        with self._deadline_lock:
            self._deadline = None
            if self._timed_out:
                raise OSError("request timed out")

    def expire(self, now: float) -> None:
        """Answers 408 and closes when the current phase is past its deadline
        (called by the reaper thread; the handler's thread is blocked in a
        read, which the shutdown ends)."""
        with self._deadline_lock:
            if self._deadline is None or now < self._deadline:
                return
            self._deadline = None
            self._timed_out = True
        body = error_body("Timed out reading the request")
        try:
            self.wfile.write(
                b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json"
                b"\r\nConnection: close\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def handle(self):
        app = self.server.app
        if not app._open(self):
            self.close_connection = True
            self._send(503, error_body("The server is busy or shutting down"))
            return
        try:
            super().handle()
        finally:
            app._close(self)

    def wake(self) -> None:
        """Ends an idle keep-alive wait (the server is draining)."""
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RD)

    def handle_one_request(self):
        app = self.server.app
        try:
            # Idle until the first byte; then the headers have a deadline.
            if not self.rfile.peek(1):
                self.close_connection = True
                return
        except OSError:  # Idle timeout, reset, or woken to drain.
            self.close_connection = True
            return
        app._busy(self, True)
        try:
            self._arm(app.header_timeout_s)
            self.raw_requestline = self.rfile.readline(_MAX_LINE + 1)
            if len(self.raw_requestline) > _MAX_LINE:
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                return
            if not self.parse_request():
                return
            self._disarm()
            handler = getattr(self, f"_do_{self.command}", None)
            if handler is None:
                self.close_connection = True
                self._send(405, error_body(f"Method {self.command} is not supported"))
                return
            handler()
        except OSError:
            self.close_connection = True
        finally:
            with self._deadline_lock:
                self._deadline = None
            if app._busy(self, False):
                self.close_connection = True

    def parse_request(self) -> bool:
        """Parses the request line and headers (sets `command`, `path`, ...).

        The checks of `BaseHTTPRequestHandler.parse_request`, with the
        headers read into a plain dict rather than through the `email`
        package, which took most of the server's Python time per request.
        """
        self.command = None
        self.request_version = "HTTP/0.9"
        self.close_connection = True
        line = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = line
        words = line.split()
        if len(words) != 3 or not words[2].startswith("HTTP/"):
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request line {line[:100]!r}")
            return False
        command, path, version = words
        try:
            major, minor = (int(v) for v in version[5:].split(".", 1))
        except ValueError:
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request version {version!r}")
            return False
        if major >= 2:
            self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED)
            return False
        if path.startswith("//"):
            path = "/" + path.lstrip("/")
        self.command, self.path, self.request_version = command, path, version
        headers = _Headers()
        for _ in range(_MAX_HEADERS + 1):
            raw = self.rfile.readline(_MAX_LINE + 1)
            if len(raw) > _MAX_LINE:
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
                return False
            if raw in (b"\r\n", b"\n", b""):
                break
            name, colon, value = str(raw, "iso-8859-1").partition(":")
            name = name.lower()
            if not colon or not _TOKEN.fullmatch(name):
                self.send_error(
                    HTTPStatus.BAD_REQUEST, f"Bad header line {raw[:100]!r}"
                )
                return False
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        else:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
            return False
        self.headers = headers
        connection = headers.get("connection", "").lower()
        self.close_connection = connection == "close" or (
            (major, minor) < (1, 1) and connection != "keep-alive"
        )
        expects = headers.get("expect", "").lower() == "100-continue"
        if expects and (major, minor) >= (1, 1):
            return self.handle_expect_100()
        return True

    def handle_expect_100(self):
        # Refuse an oversized body before the client sends it.
        try:
            self._content_length()
        except ServingError as err:
            self.close_connection = True
            self._send(400, error_body(err.message))
            return False
        except _BodyTooLargeError as err:
            self.close_connection = True
            self._send(400, error_body(str(err)))
            return False
        return super().handle_expect_100()

    def send_error(self, code, message=None, explain=None):
        # Protocol-level errors (bad request line, headers): JSON, no HTML.
        self.close_connection = True
        try:
            text = message or HTTPStatus(code).phrase
        except ValueError:
            text = str(code)
        self._send(int(code), error_body(text))

    def log_message(self, format, *args):  # noqa: A002 - the base signature
        logger.debug("%s - %s", self.address_string(), format % args)

    # ------------------------------------------------------------------
    # Requests.
    # ------------------------------------------------------------------
    def _do_GET(self):  # noqa: N802 - http.server's naming
        self._dispatch("GET")

    def _do_POST(self):  # noqa: N802
        self._dispatch("POST")

    def _do_HEAD(self):  # noqa: N802
        self._dispatch("GET", head=True)

    def _dispatch(self, method: str, head: bool = False) -> None:
        path = self.path.split("?", 1)[0]
        try:
            # Read a body even where none is expected: the next request on
            # this connection starts after it.
            self._arm(self.server.app.body_timeout_s)
            try:
                body = self._read_body()
            finally:
                self._disarm()  # Raises OSError if the reaper answered 408.
            if body is None:
                return
            status, answer = self._route(method, path, body)
        except ServingError as err:
            status, answer = err.code.http_status, error_body(err.message)
        except _BodyTooLargeError as err:
            self.close_connection = True
            self._send(400, error_body(str(err)))
            self._discard_input()
            return
        except Exception as err:  # noqa: BLE001 - never a traceback to the client
            if isinstance(err, OSError) and self._timed_out:
                raise  # Answered 408 already.
            logger.exception("Internal error answering %s %s", method, path)
            status, answer = 500, error_body("Internal error")
        self._send(status, answer, head)

    def _route(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        registry = self.server.app.registry
        match = _MODEL_PATH.fullmatch(path)
        if match is None:
            if path.lower().startswith("/v1/"):
                raise ServingError.invalid(f"Malformed request: {method} {path}")
            raise ServingError.not_found(f"Not found: {method} {path}")
        name = urllib.parse.unquote(match["name"])
        version = None if match["version"] is None else int(match["version"])
        suffix = (match["suffix"] or "").lower()
        if match["label"] is not None:
            registry.status(name)  # An unknown model is a 404 first.
            raise ServingError.invalid(
                "Unrecognized servable version label: "
                f"{urllib.parse.unquote(match['label'])}"
            )
        if method == "GET" and suffix == "":
            return 200, dumps(status_json(registry, name, version))
        if method == "GET" and suffix == "/metadata":
            return 200, dumps(metadata_json(registry, name, version))
        if method == "POST" and suffix == ":predict":
            return 200, self._predict(name, version, body)
        if method == "POST" and suffix in (":classify", ":regress"):
            raise ServingError.invalid(
                f"{suffix[1:]} is not supported by this server; use :predict"
            )
        raise ServingError.invalid(f"Malformed request: {method} {path}")

    def _predict(self, name: str, version: int | None, body: bytes) -> bytes:
        app = self.server.app
        servable = app.registry.servable(name, version)
        request = parse_json_body(body)
        signature = servable.signature(request_signature_name(request))
        decoded = decode_predict_request(request, signature.spec, app.limits)
        run = signature.run
        if isinstance(run, Batcher):
            outputs = run(decoded.inputs, app.limits.timeout_s)
        else:  # A call already running cannot be interrupted: no deadline.
            outputs = run(decoded.inputs)
        return dumps(encode_predict_response(outputs, decoded.row_format))

    # ------------------------------------------------------------------
    # Bodies and answers.
    # ------------------------------------------------------------------
    def _content_length(self) -> int:
        limit = self.server.app.max_body_bytes
        raw = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding") is not None:
            if raw is not None:
                raise ServingError.invalid(
                    "A request may not have both Content-Length and Transfer-Encoding"
                )
            return 0
        if raw is None:
            return 0
        if not _DECIMAL.fullmatch(raw):
            raise ServingError.invalid(f"Invalid Content-Length: {raw[:40]!r}")
        length = int(raw)
        if length > limit:
            raise _BodyTooLargeError(
                f"Request body of {length} bytes exceeds the limit of {limit} bytes"
            )
        return length

    def _read_body(self) -> bytes | None:
        """The request body (None when the connection broke)."""
        encoding = self.headers.get("Transfer-Encoding")
        if encoding is not None:
            if self.headers.get("Content-Length") is not None:
                self.close_connection = True
                self._content_length()  # Raises.
            if encoding.strip().lower() != "chunked":
                self.close_connection = True
                raise ServingError.invalid(
                    f"Unsupported Transfer-Encoding: {encoding!r}"
                )
            return self._read_chunked()
        try:
            length = self._content_length()
        except ServingError:
            self.close_connection = True
            raise
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            self.close_connection = True
            return None
        return body

    def _read_chunked(self) -> bytes | None:
        limit = self.server.app.max_body_bytes
        parts, total = [], 0
        while True:
            line = self.rfile.readline(_MAX_LINE + 1)
            digits = line.split(b";", 1)[0].rstrip(b" \t\r\n")
            if not _CHUNK_SIZE.fullmatch(digits):
                self.close_connection = True
                if not line:
                    return None
                raise ServingError.invalid(
                    f"Malformed chunked body: chunk size {digits[:20]!r}"
                )
            size = int(digits, 16)
            if size == 0:
                while self.rfile.readline(_MAX_LINE + 1) not in (b"\r\n", b"\n", b""):
                    pass  # Trailers.
                return b"".join(parts)
            total += size
            if total > limit:
                raise _BodyTooLargeError(
                    f"Request body of more than {limit} bytes exceeds the limit of "
                    f"{limit} bytes"
                )
            chunk = self.rfile.read(size)
            end = self.rfile.readline(_MAX_LINE + 1)
            if len(chunk) < size or not end:
                self.close_connection = True
                return None
            if end not in (b"\r\n", b"\n"):
                self.close_connection = True
                raise ServingError.invalid(
                    "Malformed chunked body: no CRLF after a chunk"
                )
            parts.append(chunk)

    def _discard_input(self) -> None:
        """Reads what the client still sends after a refused body (briefly).

        Closing a socket with unread input makes the kernel reset the
        connection, and the client could miss the 400 it was sent.
        """
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.5)
            end, read = time.monotonic() + 2.0, 0
            while time.monotonic() < end and read < _DISCARD_LIMIT:
                chunk = self.rfile.read1(65536)
                if not chunk:
                    break
                read += len(chunk)
        except OSError:
            pass

    def _send(self, status: int, body: bytes, head: bool = False) -> None:
        if self._timed_out:  # The reaper answered 408 already.
            raise OSError("request timed out")
        if self.server.app._draining:
            self.close_connection = True
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        head_text = (
            f"HTTP/1.1 {status} {phrase}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            + ("Connection: close\r\n" if self.close_connection else "")
            + "\r\n"
        )
        self.wfile.write(head_text.encode("latin-1") + (b"" if head else body))
