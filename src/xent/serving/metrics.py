"""Prometheus metrics with TF Serving's names, one registry per server.

Served at `GET /monitoring/prometheus/metrics` (TF Serving's default path)
in the Prometheus text format, through `prometheus_client` with a
`CollectorRegistry` of the server's own (never the process-global one):

* `:tensorflow:serving:request_count` (labels `model_name`, `status`): every
  model API call over REST and gRPC, `status` a canonical code name ("OK",
  "INVALID_ARGUMENT", ...). A counter: `prometheus_client` writes its samples
  as `:tensorflow:serving:request_count_total` (and `..._created`), the
  Prometheus naming rule for counters, where TF Serving writes the bare name.
* `:tensorflow:serving:request_latency` (labels `model_name`, `API`,
  `entrypoint`): a histogram of the wall time in microseconds, TF Serving's
  buckets (10 us times 1.8^k, 33 buckets); `API` is "predict",
  "GetModelMetadata" or "GetModelStatus", `entrypoint` "REST" or "GRPC".
* `:tensorflow:serving:batching:processed_batch_size` (labels
  `model_name`, `op_name` = the signature): rows per batched model call.
* `:tensorflow:core:graph_runs` (label `model_name`): model calls that
  answered a request (a merged batch counts once).

TF Serving's own exporter turns its `/tensorflow/serving/...` names into
these by replacing `/` with `:`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Histogram
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE", "METRICS_PATH", "ServingMetrics"]

METRICS_PATH = "/monitoring/prometheus/metrics"
CONTENT_TYPE = CONTENT_TYPE_LATEST
# TF Serving: monitoring::Buckets::Exponential(10, 1.8, 33), in microseconds.
_LATENCY_BUCKETS = tuple(10.0 * 1.8**k for k in range(33))
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServingMetrics:
    """The metrics of one server (see the module docstring)."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self._requests = Counter(
            ":tensorflow:serving:request_count",
            "The total number of requests.",
            ["model_name", "status"],
            registry=self.registry,
        )
        self._latency = Histogram(
            ":tensorflow:serving:request_latency",
            "Distribution of wall time (in microseconds) for Tensorflow Serving "
            "request.",
            ["model_name", "API", "entrypoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._batch_size = Histogram(
            ":tensorflow:serving:batching:processed_batch_size",
            "Tracks the batch size distribution on processing by model_name.",
            ["model_name", "op_name"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self._graph_runs = Counter(
            ":tensorflow:core:graph_runs",
            "The number of graph executions used to collect "
            "/tensorflow/core/graph_run_time_usecs",
            ["model_name"],
            registry=self.registry,
        )

    def record_request(
        self, model_name: str, api: str, entrypoint: str, status: str, seconds: float
    ) -> None:
        """Counts one model API call and its latency.

        Args:
            model_name: The model asked for.
            api: "predict", "GetModelMetadata" or "GetModelStatus".
            entrypoint: "REST" or "GRPC".
            status: The canonical code name of the answer ("OK", ...).
            seconds: Its wall time.
        """
        self._requests.labels(model_name, status).inc()
        self._latency.labels(model_name, api, entrypoint).observe(seconds * 1e6)

    def record_graph_run(self, model_name: str) -> None:
        """Counts one model call not merged by a batcher."""
        self._graph_runs.labels(model_name).inc()

    def observe_batch(self, model_name: str, signature: str, rows: int) -> None:
        """Records a batched model call of `rows` rows (`BatchingOptions.on_batch`)."""
        self._batch_size.labels(model_name, signature).observe(rows)
        self._graph_runs.labels(model_name).inc()

    def exposition(self) -> bytes:
        """The metrics in the Prometheus text format."""
        return generate_latest(self.registry)
