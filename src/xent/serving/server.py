"""The model server: the registry, the REST and gRPC APIs, and a clean stop.

    from xent.serving.server import ModelServer, ServerConfig

    with ModelServer(ServerConfig("saved_models", rest_port=0)) as server:
        print(server.rest_port)          # http://127.0.0.1:<port>/v1/models/...

`serve` runs one until SIGTERM or SIGINT (`xent serve`), then drains: no new
connections or calls are accepted, requests in flight finish (up to
`grace_seconds`), queued batches are answered, and it returns 0.

The server keeps Prometheus metrics (`xent.serving.metrics`, REST path
`/monitoring/prometheus/metrics`), answers gRPC health checks, and can log a
sample of its requests (`request_log`). The models come from `model_base`
or from a TF Serving model config file (`model_config_file`).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import signal
import threading
from pathlib import Path

from xent.serving.batching import BatchingOptions
from xent.serving.dispatch import CallRecorder
from xent.serving.limits import RequestLimits
from xent.serving.metrics import ServingMetrics
from xent.serving.model_config import ModelConfigFile
from xent.serving.registry import Registry
from xent.serving.request_log import RequestLog

__all__ = ["ModelServer", "ServerConfig", "serve"]

logger = logging.getLogger("xent.serving")


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    """Settings of a `ModelServer`.

    Attributes:
        model_base: The model base directory (`<model>/<version>/`); None
            with `model_config_file`.
        host: Address to listen on; loopback by default. Any other address
            exposes the models to whoever can reach it (logged as a warning).
        rest_port: REST API port; 0 for any free port, None for no REST API.
        grpc_port: gRPC API port; 0 for any free port, None for no gRPC API.
        max_batch_size: Most rows merged into one model call; 1 turns
            batching off.
        batch_timeout_ms: Longest wait of a request for others to join its
            batch; 0 merges only the requests that queued meanwhile.
        poll_seconds: How often the base path is scanned for new and removed
            versions; 0 turns hot reload off.
        max_body_bytes: Largest REST request body and gRPC request message.
        grace_seconds: How long a stop waits for requests in flight.
        grpc_workers: Threads running the model for gRPC calls when batching
            is off (the calls themselves are answered on one event loop).
        max_input_elements: Most elements one input of a request may expand
            to (its shape, TF's repeat-the-last-value shorthand included).
        max_request_elements: Most elements of all inputs of one request.
        max_string_bytes: Most bytes of the strings of one request.
        max_sample_count: Largest value of a scalar integer input named
            `count` (the GAN export's `sample(count, seed)` signature makes
            that many images).
        deadline_seconds: Longest wait of a request for the model (queued
            requests past it are answered DEADLINE_EXCEEDED, HTTP 504, and
            never run); 0 for none.
        header_timeout_seconds: Longest time from the first byte of a REST
            request to the end of its headers (then 408).
        body_timeout_seconds: Longest time to receive a REST request body
            (then 408).
        max_connections: Most open REST connections (one more is answered
            503 and closed).
        idle_timeout_seconds: An idle REST keep-alive connection is closed
            after this.
        model_config_file: A TF Serving `ModelServerConfig` text file listing
            the models (instead of `model_base`).
        model_config_file_poll_wait_seconds: How often the config file is
            checked for changes; 0 reads it once.
        request_log: A file to append sampled requests to (JSON lines);
            None for none.
        request_log_sample_rate: The share of requests logged, in [0, 1].
    """

    model_base: Path | None
    host: str = "127.0.0.1"
    rest_port: int | None = 8501
    grpc_port: int | None = 8500
    max_batch_size: int = 64
    batch_timeout_ms: float = 0.0
    poll_seconds: float = 1.0
    max_body_bytes: int = 16 << 20
    grace_seconds: float = 30.0
    grpc_workers: int = 32
    max_input_elements: int = RequestLimits.max_input_elements
    max_request_elements: int = RequestLimits.max_request_elements
    max_string_bytes: int = RequestLimits.max_string_bytes
    max_sample_count: int = RequestLimits.max_sample_count
    deadline_seconds: float = RequestLimits.deadline_s
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    max_connections: int = 256
    idle_timeout_seconds: float = 60.0
    model_config_file: Path | None = None
    model_config_file_poll_wait_seconds: float = 0.0
    request_log: Path | None = None
    request_log_sample_rate: float = 1.0

    def __post_init__(self):
        for arg in ("model_base", "model_config_file", "request_log"):
            if getattr(self, arg) is not None:
                object.__setattr__(self, arg, Path(getattr(self, arg)))
        if (self.model_base is None) == (self.model_config_file is None):
            raise ValueError(
                "Invalid value for arguments model_base and model_config_file. "
                "Expected exactly one of them. Received: "
                f"{self.model_base!r} and {self.model_config_file!r}"
            )
        if not 0.0 <= self.request_log_sample_rate <= 1.0:
            raise ValueError(
                "Invalid value for argument request_log_sample_rate. Expected a "
                f"number in [0, 1]. Received: {self.request_log_sample_rate!r}"
            )
        for arg in ("rest_port", "grpc_port"):
            port = getattr(self, arg)
            if port is not None and not (isinstance(port, int) and 0 <= port < 65536):
                raise ValueError(
                    f"Invalid value for argument {arg}. Expected a port number "
                    f"in [0, 65535] or None. Received: {port!r}"
                )
        if self.rest_port is not None and self.rest_port == self.grpc_port != 0:
            raise ValueError(
                "Invalid value for arguments rest_port and grpc_port. Expected "
                f"two different ports. Received: {self.rest_port} for both"
            )
        positive = {
            "max_batch_size": self.max_batch_size >= 1,
            "batch_timeout_ms": self.batch_timeout_ms >= 0,
            "poll_seconds": self.poll_seconds >= 0,
            "max_body_bytes": self.max_body_bytes >= 1,
            "grace_seconds": self.grace_seconds >= 0,
            "grpc_workers": self.grpc_workers >= 1,
            "deadline_seconds": self.deadline_seconds >= 0,
            "header_timeout_seconds": self.header_timeout_seconds > 0,
            "body_timeout_seconds": self.body_timeout_seconds > 0,
            "max_connections": self.max_connections >= 1,
            "idle_timeout_seconds": self.idle_timeout_seconds > 0,
            "model_config_file_poll_wait_seconds": (
                self.model_config_file_poll_wait_seconds >= 0
            ),
        }
        for arg, ok in positive.items():
            if not ok:
                bound = ">= 0" if arg.endswith(("_ms", "_seconds")) else ">= 1"
                raise ValueError(
                    f"Invalid value for argument {arg}. Expected a number "
                    f"{bound}. Received: {getattr(self, arg)!r}"
                )
        self.limits  # noqa: B018 - RequestLimits checks the other limits.

    @property
    def limits(self) -> RequestLimits:
        """The limits on the work of one request."""
        return RequestLimits(
            max_input_elements=self.max_input_elements,
            max_request_elements=self.max_request_elements,
            max_string_bytes=self.max_string_bytes,
            max_sample_count=self.max_sample_count,
            deadline_s=self.deadline_seconds,
        )

    @property
    def batching(self) -> BatchingOptions:
        """The batching options of every signature."""
        return BatchingOptions(self.max_batch_size, self.batch_timeout_ms / 1e3)


class ModelServer:
    """Serves every model under `config.model_base` over REST and gRPC.

    Args:
        config: The settings.

    Attributes:
        metrics: The server's Prometheus metrics.

    Raises:
        ValueError: When the model base path is not a directory, or the
            model config file cannot be read or parsed.
    """

    def __init__(self, config: ServerConfig):
        model_configs = None
        if config.model_config_file is not None:
            model_configs = ModelConfigFile(
                config.model_config_file, config.model_config_file_poll_wait_seconds
            ).models
        elif not config.model_base.is_dir():
            raise ValueError(f"Model base path {config.model_base} is not a directory")
        self.config = config
        self.metrics = ServingMetrics()
        batching = dataclasses.replace(
            config.batching, on_batch=self.metrics.observe_batch
        )
        self.registry = Registry(
            config.model_base, batching, model_configs=model_configs
        )
        self._request_log = None
        self._rest = None
        self._grpc = None
        self._started = False

    @property
    def rest_port(self) -> int | None:
        """The bound REST port (None without a REST API or before `start`)."""
        return None if self._rest is None else self._rest.port

    @property
    def grpc_port(self) -> int | None:
        """The bound gRPC port (None without a gRPC API or before `start`)."""
        return None if self._grpc is None else self._grpc.port

    def start(self) -> None:
        """Binds the ports, loads the models, then answers requests.

        Raises:
            OSError: When a port cannot be bound.
        """
        from xent.serving.grpc_server import GrpcServer
        from xent.serving.rest import RestServer

        config = self.config
        if config.request_log is not None and self._request_log is None:
            self._request_log = RequestLog(
                config.request_log, config.request_log_sample_rate
            )
        if not _is_loopback(config.host):
            logger.warning(
                "Listening on %s, not a loopback address: anyone who can reach "
                "this host can call the models",
                config.host,
            )
        try:
            if config.rest_port is not None:
                self._rest = RestServer(
                    self.registry,
                    config.host,
                    config.rest_port,
                    max_body_bytes=config.max_body_bytes,
                    limits=config.limits,
                    header_timeout_s=config.header_timeout_seconds,
                    body_timeout_s=config.body_timeout_seconds,
                    max_connections=config.max_connections,
                    idle_timeout_s=config.idle_timeout_seconds,
                    recorder=self._recorder("REST"),
                    metrics=self.metrics,
                    max_workers=config.grpc_workers,
                )
            if config.grpc_port is not None:
                self._grpc = GrpcServer(
                    self.registry,
                    config.host,
                    config.grpc_port,
                    max_message_bytes=config.max_body_bytes,
                    max_workers=config.grpc_workers,
                    limits=config.limits,
                    recorder=self._recorder("GRPC"),
                )
        except OSError:
            if self._rest is not None:
                self._rest.stop(0)
                self._rest = None
            raise
        self.registry.start(self._poll_seconds())
        models = self.registry.models()
        source = config.model_base or config.model_config_file
        if not models:
            logger.warning(
                "No model version found under %s yet%s",
                source,
                f"; it is scanned every {config.poll_seconds:g} s"
                if config.poll_seconds
                else "",
            )
        host = f"[{config.host}]" if ":" in config.host else config.host
        if self._rest is not None:
            self._rest.start()
            logger.info(
                "REST API listening on http://%s:%d/v1/models", host, self._rest.port
            )
        if self._grpc is not None:
            self._grpc.start()
            logger.info("gRPC API listening on %s:%d", host, self._grpc.port)
        batching = config.batching
        logger.info(
            "Serving %s from %s; batching %s",
            ", ".join(f"{n} {v}" for n, v in models.items()) or "no model",
            source,
            f"up to {batching.max_batch_size} rows, wait up to "
            f"{config.batch_timeout_ms:g} ms"
            if batching.enabled
            else "off",
        )
        self._started = True

    def stop(self, grace_s: float | None = None) -> bool:
        """Drains and stops (see the module docstring); safe to call twice.

        Args:
            grace_s: How long requests in flight may take; default
                `config.grace_seconds`.

        Returns:
            Whether every request in flight finished in time.
        """
        grace = self.config.grace_seconds if grace_s is None else grace_s
        drained = True
        grpc_done = None
        if self._grpc is not None:
            # Refuses new calls at once; the calls in flight go on.
            grpc_done = self._grpc.stop(grace)
            self._grpc = None
        if self._rest is not None:
            drained = self._rest.stop(grace)
            self._rest = None
        if grpc_done is not None:
            drained = grpc_done.wait(grace + 5.0) and drained
        self.registry.close()
        if self._request_log is not None:
            self._request_log.close()
            self._request_log = None
        if self._started:
            logger.info("Stopped%s", "" if drained else " (grace period over)")
            self._started = False
        return drained

    def _recorder(self, entrypoint: str) -> CallRecorder:
        return CallRecorder(self.metrics, self._request_log, entrypoint)

    def _poll_seconds(self) -> float:
        """The scan interval: the shorter of the two polls that are on."""
        polls = [self.config.poll_seconds]
        if self.config.model_config_file is not None:
            polls.append(self.config.model_config_file_poll_wait_seconds)
        return min((p for p in polls if p > 0), default=0.0)

    def __enter__(self) -> ModelServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(config: ServerConfig) -> int:
    """Runs a server until SIGTERM or SIGINT, then drains it (`xent serve`).

    Must be called from the main thread (signal handlers).

    Args:
        config: The settings.

    Returns:
        0 once stopped.

    Raises:
        ValueError: For a base path that is not a directory.
        OSError: When a port cannot be bound.
    """
    server = ModelServer(config)
    stop = threading.Event()

    def on_signal(signum, frame):
        logger.info(
            "Received %s: finishing the requests in flight", signal.Signals(signum).name
        )
        stop.set()

    previous = {
        sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        server.start()
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
