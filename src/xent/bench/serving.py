"""The `serving` benchmark: single-row requests, direct call vs REST vs gRPC.

It times single-row requests to a small CTR-like model: the `serving_default`
signature called in this process, and the same export served by `xent serve`
(a subprocess on 127.0.0.1) over REST and gRPC, with batching off and on; see
`run_serving`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import tempfile
import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from xent.bench.machine import machine_info
from xent.bench.serve_process import ServeProcess

__all__ = [
    "ServingConfig",
    "build_serving_config",
    "latency_summary",
    "run_serving",
]

_CTR_CATEGORICAL = ("site", "app", "device")
_CTR_NUMERIC = ("f0", "f1", "f2", "f3")
_CTR_VOCABULARY = 50
_PREDICT_PATH = "/v1/models/ctr:predict"


@dataclasses.dataclass(frozen=True)
class ServingConfig:
    """Configuration of the `serving` benchmark.

    Attributes:
        requests: Timed sequential single-row requests (one client) per path.
        clients: Concurrent clients (threads of the benchmark process).
        requests_per_client: Timed requests of each concurrent client.
        warmup: Untimed requests of each client first.
        max_batch_size: `xent serve --max-batch-size` of the batching server
            (the other server runs with 1: batching off).
        batch_timeout_ms: `xent serve --batch-timeout-ms` of the batching
            server.
        overhead_goal_ms: Goal: p50 latency of one client over REST or gRPC
            without batching, minus the p50 of the direct call, at most this.
        throughput_goal: Goal: rows per second with batching and `clients`
            concurrent clients, at least this.
        seed: Seed of the model weights and of the rows.
        quick: Whether this is the shrunk smoke-test configuration.
    """

    requests: int = 2000
    clients: int = 16
    requests_per_client: int = 250
    warmup: int = 50
    max_batch_size: int = 64
    batch_timeout_ms: float = 0.0
    overhead_goal_ms: float = 1.0
    throughput_goal: float = 2000.0
    seed: int = 0
    quick: bool = False

    def __post_init__(self):
        for arg in ("requests", "clients", "requests_per_client", "max_batch_size"):
            if getattr(self, arg) < 1:
                raise ValueError(
                    f"Invalid value for argument `{arg}`. Expected a positive "
                    f"integer. Received: {arg}={getattr(self, arg)!r}"
                )
        if self.warmup < 0 or self.batch_timeout_ms < 0:
            raise ValueError(
                "Invalid value for argument `warmup`/`batch_timeout_ms`. Expected "
                f"values >= 0. Received: warmup={self.warmup}, "
                f"batch_timeout_ms={self.batch_timeout_ms}"
            )


def build_serving_config(quick: bool = False) -> ServingConfig:
    """Returns the `serving` configuration, shrunk to seconds if `quick`.

    Args:
        quick: Whether to shrink the request counts to a smoke test.

    Returns:
        2,000 sequential requests per path and 16 clients x 250 requests
        (quick: 40 and 4 x 10).
    """
    config = ServingConfig()
    if not quick:
        return config
    return dataclasses.replace(
        config, requests=40, clients=4, requests_per_client=10, warmup=5, quick=True
    )


def latency_summary(seconds: Sequence[float], elapsed: float) -> dict:
    """Latency percentiles of single-row requests and the rows per second.

    Args:
        seconds: The latency of each request.
        elapsed: Wall time of all of them (concurrent requests overlap).

    Returns:
        `p50_ms`, `p99_ms`, `mean_ms` and `rows_per_s`.

    Raises:
        ValueError: For no latencies or a non-positive `elapsed`.

    >>> s = latency_summary([0.001, 0.002, 0.003], elapsed=0.006)
    >>> s["p50_ms"], s["rows_per_s"]
    (2.0, 500.0)
    """
    if not len(seconds) or not elapsed > 0:
        raise ValueError(
            "Invalid value for arguments `seconds`/`elapsed`. Expected latencies "
            f"and elapsed > 0. Received {len(seconds)} latencies, elapsed={elapsed}"
        )
    ms = 1e3 * np.asarray(seconds, "float64")
    p50, p99 = np.percentile(ms, [50, 99])
    return {
        "p50_ms": float(p50),
        "p99_ms": float(p99),
        "mean_ms": float(ms.mean()),
        "rows_per_s": float(len(ms) / elapsed),
    }


def _build_ctr_model(seed: int) -> keras.Model:
    """A small CTR-like model on raw `[batch]` features: strings and floats in,
    P(click) out (the input layout of the CTR pipeline's export)."""
    keras.utils.set_random_seed(seed)
    inputs, parts = {}, []
    for name in _CTR_CATEGORICAL:
        inputs[name] = keras.Input((), name=name, dtype="string")
        vocabulary = [f"{name}_{i}" for i in range(_CTR_VOCABULARY)]
        ids = keras.layers.StringLookup(vocabulary=vocabulary)(inputs[name])
        parts.append(keras.layers.Embedding(_CTR_VOCABULARY + 1, 8)(ids))
    for name in _CTR_NUMERIC:
        inputs[name] = keras.Input((), name=name)
        parts.append(keras.layers.Reshape((1,))(inputs[name]))
    hidden = keras.layers.Dense(32, activation="relu")(
        keras.layers.Concatenate()(parts)
    )
    out = keras.layers.Dense(1, activation="sigmoid")(hidden)
    return keras.Model(inputs, out)


def _ctr_rows(n: int, seed: int) -> list[dict[str, Any]]:
    """`n` single rows `{input: value}` (TF Serving's row format)."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        row: dict[str, Any] = {
            name: f"{name}_{rng.integers(0, _CTR_VOCABULARY + 5)}"
            for name in _CTR_CATEGORICAL
        }
        row.update({name: float(rng.normal()) for name in _CTR_NUMERIC})
        rows.append(row)
    return rows


def _serve_process(base: Path, max_batch_size: int, batch_timeout_ms: float):
    """`xent serve` started in a subprocess (`wait_ready` before use)."""
    return ServeProcess(
        base,
        "--poll-seconds",
        "0",
        "--max-batch-size",
        str(max_batch_size),
        "--batch-timeout-ms",
        str(batch_timeout_ms),
        wait=False,
    )


def _direct_client(fn, rows: list[dict]) -> Callable[[int], Any]:
    """Calls the signature in process with row `i` (tensors in, NumPy out)."""
    import tensorflow as tf

    specs = fn.structured_input_signature[1]

    def call(i: int):
        row = rows[i % len(rows)]
        feed = {k: tf.constant([v], dtype=specs[k].dtype) for k, v in row.items()}
        return {k: v.numpy() for k, v in fn(**feed).items()}

    return call


def _rest_client(port: int, bodies: list[bytes]) -> Callable[[int], Any]:
    """POSTs row `i` on one keep-alive connection; parses the answer."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}

    def call(i: int):
        conn.request("POST", _PREDICT_PATH, bodies[i % len(bodies)], headers)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"REST answered {response.status}: {data[:200]!r}")
        return json.loads(data)

    return call


def _grpc_client(port: int, requests: list) -> Callable[[int], Any]:
    """Calls Predict with row `i` on one channel; decodes the probabilities."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

    def call(i: int):
        response = stub.Predict(requests[i % len(requests)], timeout=60)
        return tf.make_ndarray(response.outputs["probabilities"])

    return call


def _time_grpc_streams(
    port: int, requests: list, clients: int, count: int, warmup: int
) -> dict:
    """Like `_time_clients` for gRPC, with `clients` concurrent request streams
    on one `grpc.aio` channel in one thread (how a Python client keeps many
    calls in flight: a thread per call costs more CPU than the server does)."""
    import asyncio

    import grpc
    import numpy as np
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    async def main() -> dict:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            latencies: list[float] = []

            async def stream(k: int, calls: int, timed: bool) -> None:
                for i in range(calls):
                    start = time.perf_counter()
                    response = await stub.Predict(
                        requests[(i * clients + k) % len(requests)], timeout=60
                    )
                    proto = response.outputs["probabilities"]
                    np.frombuffer(proto.tensor_content, np.float32)
                    if timed:
                        latencies.append(time.perf_counter() - start)

            await asyncio.gather(*(stream(k, warmup, False) for k in range(clients)))
            start = time.perf_counter()
            await asyncio.gather(*(stream(k, count, True) for k in range(clients)))
            return latency_summary(latencies, time.perf_counter() - start)

    return asyncio.run(main())


def _time_clients(
    make_client: Callable[[], Callable[[int], Any]],
    clients: int,
    requests: int,
    warmup: int,
) -> dict:
    """Runs `clients` threads of `requests` timed calls each (after `warmup`)."""
    calls = [make_client() for _ in range(clients)]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []
    start_line = threading.Barrier(clients + 1)

    def work(k: int) -> None:
        call, mine = calls[k], latencies[k]
        try:
            for i in range(warmup):
                call(i + k)
        except BaseException as err:  # noqa: BLE001 - raised below
            errors.append(err)
        start_line.wait()
        if errors:
            return
        try:
            for i in range(requests):
                start = time.perf_counter()
                call(i * clients + k)
                mine.append(time.perf_counter() - start)
        except BaseException as err:  # noqa: BLE001 - raised below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    start_line.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return latency_summary([s for mine in latencies for s in mine], elapsed)


def _serving_table(cases: Sequence[Mapping[str, Any]]) -> dict:
    columns = [
        "path",
        "batching",
        "clients x requests",
        "p50 ms",
        "p99 ms",
        "rows/s",
        "server CPU ms/request",
        "p50 overhead ms",
        "goal",
        "goal met",
    ]
    rows = [
        [
            c["path"],
            c["batching"],
            f"{c['clients']} x {c['requests']}",
            c["p50_ms"],
            c["p99_ms"],
            f"{c['rows_per_s']:.0f}",
            (
                "-"
                if c["server_cpu_ms_per_request"] is None
                else c["server_cpu_ms_per_request"]
            ),
            "-" if c["p50_overhead_ms"] is None else c["p50_overhead_ms"],
            c["goal"] or "-",
            "-" if c["meets_goal"] is None else c["meets_goal"],
        ]
        for c in cases
    ]
    return {"columns": columns, "rows": rows}


def run_serving(config: ServingConfig) -> dict:
    """Times single-row requests: direct call, REST and gRPC (writes no report).

    A small CTR-like model (three string fields through `StringLookup` and
    `Embedding`, four float fields, one hidden layer) is exported with
    `xent.export.export_classifier` into a temporary directory; two `xent
    serve` subprocesses serve it on 127.0.0.1, one with batching off
    (`--max-batch-size 1`) and one with `config.max_batch_size` and
    `config.batch_timeout_ms`. Each path is timed with one client (sequential
    requests) and with `config.clients` concurrent clients. Clients are
    threads of this process; the latency of a request includes building it
    (direct call: the tensors) and decoding the answer.

    Args:
        config: The benchmark configuration.

    Returns:
        The report dict: `benchmark`, `title`, `goal`, `notes`, `quick`,
        `machine`, `config`, `cases` (one dict per path, batching and client
        count) and `table` (for `render_readme`).
    """
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    from xent.export import export_classifier

    machine = machine_info()
    rows = _ctr_rows(256, config.seed + 1)
    bodies = [json.dumps({"instances": [row]}).encode() for row in rows]
    grpc_requests = []
    for row in rows:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "ctr"
        for name, value in row.items():
            dtype = tf.string if name in _CTR_CATEGORICAL else tf.float32
            request.inputs[name].CopyFrom(tf.make_tensor_proto([value], dtype=dtype))
        grpc_requests.append(request)

    cases = []
    with tempfile.TemporaryDirectory(prefix="xent-bench-serving-") as tmp:
        base = Path(tmp)
        export_classifier(
            _build_ctr_model(config.seed),
            base / "ctr",
            class_names=["no_click", "click"],
            metadata={"benchmark": "serving"},
            example_instances=rows[:1],
        )
        servers = {
            "off": _serve_process(base, 1, 0.0),
            "on": _serve_process(base, config.max_batch_size, config.batch_timeout_ms),
        }
        try:
            fn = tf.saved_model.load(str(base / "ctr" / "1")).signatures[
                "serving_default"
            ]
            for server in servers.values():
                server.wait_ready(600.0)
            runs = [("direct", "-", None, functools.partial(_direct_client, fn, rows))]
            for batching, server in servers.items():
                runs += [
                    (
                        "REST",
                        batching,
                        server,
                        functools.partial(_rest_client, server.rest_port, bodies),
                    ),
                    (
                        "gRPC",
                        batching,
                        server,
                        functools.partial(
                            _grpc_client, server.grpc_port, grpc_requests
                        ),
                    ),
                ]
            for path, batching, server, make_client in runs:
                for clients, requests in (
                    (1, config.requests),
                    (config.clients, config.requests_per_client),
                ):
                    cpu_before = server.cpu_seconds() if server else None
                    if path == "gRPC" and clients > 1:
                        summary = _time_grpc_streams(
                            server.grpc_port,
                            grpc_requests,
                            clients,
                            requests,
                            config.warmup,
                        )
                    else:
                        summary = _time_clients(
                            make_client, clients, requests, config.warmup
                        )
                    cpu_after = server.cpu_seconds() if server else None
                    # Warm-up requests are counted too: CPU per request.
                    served = clients * (requests + config.warmup)
                    cases.append(
                        {
                            "path": path,
                            "batching": batching,
                            "clients": clients,
                            "requests": requests,
                            **summary,
                            "server_cpu_ms_per_request": (
                                None
                                if cpu_before is None or cpu_after is None
                                else 1e3 * (cpu_after - cpu_before) / served
                            ),
                        }
                    )
        finally:
            for server in servers.values():
                server.stop()

    direct_p50 = cases[0]["p50_ms"]
    for case in cases:
        sequential = case["clients"] == 1
        served = case["path"] != "direct"
        case["p50_overhead_ms"] = (
            case["p50_ms"] - direct_p50 if served and sequential else None
        )
        case["goal"], case["meets_goal"] = None, None
        if served and sequential and case["batching"] == "off":
            case["goal"] = f"overhead <= {config.overhead_goal_ms:g} ms"
            case["meets_goal"] = case["p50_overhead_ms"] <= config.overhead_goal_ms
        elif served and not sequential and case["batching"] == "on":
            case["goal"] = f">= {config.throughput_goal:.0f} rows/s"
            case["meets_goal"] = case["rows_per_s"] >= config.throughput_goal
    machine["load_average_after"] = machine_info()["load_average"]
    return {
        "benchmark": "serving",
        "title": "Serving: single-row CTR requests, direct call vs REST vs gRPC",
        "goal": (
            f"p50 overhead over the direct in-process call <= "
            f"{config.overhead_goal_ms:g} ms without batching; >= "
            f"{config.throughput_goal:.0f} rows/s with batching and "
            f"{config.clients} concurrent clients."
        ),
        "notes": [
            "One row per request to a small CTR-like export (3 string fields "
            "through StringLookup + Embedding, 4 floats, all `[batch]`; Dense "
            "32, sigmoid). "
            "`direct`: `serving_default` called in the benchmark process "
            "(tensors built from the row, outputs fetched as NumPy). REST and "
            "gRPC: `xent serve` in a subprocess on 127.0.0.1; REST requests on "
            "keep-alive connections with the JSON answer parsed, gRPC with the "
            "real `tensorflow-serving-api` stub and the probabilities decoded.",
            f"Batching `off`: `--max-batch-size 1`; `on`: `--max-batch-size "
            f"{config.max_batch_size} --batch-timeout-ms "
            f"{config.batch_timeout_ms:g}` (merges the requests that queued "
            "while the model was busy).",
            "Clients run in the benchmark process, on the same cores as the "
            "server, so concurrent numbers include the clients' own CPU time: "
            "direct and REST clients are threads; the 16 concurrent gRPC "
            "clients are request streams on one `grpc.aio` channel (a "
            "thread per synchronous gRPC client costs about as much CPU as the "
            "server's own work per call). `p50 overhead` = p50 of the path "
            "minus p50 of the sequential direct call; rows/s = timed "
            "requests / wall time. "
            "`server CPU ms/request`: user + system CPU time of the `xent "
            "serve` process (all its threads) per request, from /proc; less "
            "sensitive than wall times to other processes on the machine.",
        ],
        "quick": config.quick,
        "machine": machine,
        "config": dataclasses.asdict(config),
        "cases": cases,
        "table": _serving_table(cases),
    }
