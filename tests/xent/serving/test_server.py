"""`xent serve` as a process: load, bad requests under load, SIGTERM drain;
plus the settings and the command line's errors."""

import collections
import http.client
import json
import signal
import socket
import threading
import time

import grpc
import numpy as np
import pytest

from tests.xent.serving.conftest import MAX_BODY
from tests.xent.serving.conftest import ROWS
from tests.xent.serving.conftest import Rest
from xent.bench.serve_process import ServeProcess
from xent.cli import main
from xent.serving.server import ServerConfig

PREDICT = "/v1/models/ctr:predict"
CLIENTS = 16
REQUESTS = 2000
# Every BAD_EVERY-th request of a client is a bad one, answered 400 (the
# oversized body, the last one, 413).
BAD_EVERY = 50
BAD_BODIES = [
    b"{malformed",
    json.dumps({"instances": [{**ROWS[0], "age": ["old"]}]}).encode(),
    json.dumps({"instances": [{**ROWS[0], "age": [1.0, 2.0]}]}).encode(),
    json.dumps({"instances": [{**ROWS[0], "agee": [1.0]}]}).encode(),
    b'{"instances": [' + b"1," * (MAX_BODY // 2) + b"1]}",  # Oversized.
]


@pytest.fixture(scope="module")
def served(ctr_base):
    process = ServeProcess(ctr_base, "--max-body-bytes", str(MAX_BODY))
    yield process
    assert process.stop() == 0


def _run_clients(client) -> float:
    """Runs `client(k)` for k < CLIENTS in threads; the wall time in seconds."""
    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def _percentiles(seconds):
    p50, p99 = np.percentile(np.asarray(seconds) * 1e3, [50, 99])
    return p50, p99


@pytest.mark.slow  # 32,000 requests (~12 s); the other tests check each answer.
def test_rest_load_16_clients_x_2000_requests(served, ctr_reference, capsys):
    bodies = [json.dumps({"instances": [row]}).encode() for row in ROWS]
    expected = ctr_reference[2]["probabilities"][:, 0]
    statuses: collections.Counter = collections.Counter()
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client(k):
        rest = Rest(served.rest_port)
        mine, seen = [], collections.Counter()
        for i in range(REQUESTS):
            if i % BAD_EVERY == BAD_EVERY - 1:
                which = (i // BAD_EVERY + k) % len(BAD_BODIES)
                status, _ = rest.post(PREDICT, BAD_BODIES[which])
                expected_status = 413 if which == len(BAD_BODIES) - 1 else 400
                seen[("bad", status == expected_status)] += 1
                continue
            row = (i + k) % len(ROWS)
            start = time.perf_counter()
            status, body = rest.post(PREDICT, bodies[row])
            mine.append(time.perf_counter() - start)
            seen[("good", status)] += 1
            if status != 200:
                failures.append(f"{status}: {body}")
            elif abs(body["predictions"][0]["probabilities"][0] - expected[row]) > 1e-6:
                failures.append(f"wrong prediction for row {row}: {body}")
        rest.close()
        with lock:
            latencies.extend(mine)
            statuses.update(seen)

    elapsed = _run_clients(client)

    bad = CLIENTS * (REQUESTS // BAD_EVERY)
    assert statuses == {("good", 200): CLIENTS * REQUESTS - bad, ("bad", True): bad}
    assert not failures, failures[:5]
    p50, p99 = _percentiles(latencies)
    with capsys.disabled():
        print(
            f"\nREST load: {CLIENTS} clients x {REQUESTS} requests in {elapsed:.1f} s "
            f"({CLIENTS * REQUESTS / elapsed:.0f} req/s), p50 {p50:.2f} ms, "
            f"p99 {p99:.2f} ms, {bad} bad requests answered 400 or 413, no 5xx"
        )


def test_grpc_load_16_clients(served, ctr_reference, capsys):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    requests = []
    for row in ROWS:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "ctr"
        for key, value in row.items():
            dtype = tf.string if key == "site" else tf.float32
            request.inputs[key].CopyFrom(tf.make_tensor_proto([value], dtype=dtype))
        requests.append(request)
    expected = ctr_reference[2]["probabilities"][:, 0]
    per_client = 300
    codes: collections.Counter = collections.Counter()
    latencies: list[float] = []
    lock = threading.Lock()

    def client(k):
        mine, seen = [], collections.Counter()
        with grpc.insecure_channel(f"127.0.0.1:{served.grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            for i in range(per_client):
                row = (i + k) % len(ROWS)
                start = time.perf_counter()
                try:
                    response = stub.Predict(requests[row], timeout=60)
                except grpc.RpcError as err:
                    seen[err.code()] += 1
                    continue
                mine.append(time.perf_counter() - start)
                got = tf.make_ndarray(response.outputs["probabilities"])[0, 0]
                seen["ok" if abs(got - expected[row]) <= 1e-6 else "wrong"] += 1
        with lock:
            latencies.extend(mine)
            codes.update(seen)

    elapsed = _run_clients(client)
    assert codes == {"ok": CLIENTS * per_client}
    p50, p99 = _percentiles(latencies)
    with capsys.disabled():
        print(
            f"\ngRPC load: {CLIENTS} clients x {per_client} requests in "
            f"{elapsed:.1f} s, p50 {p50:.2f} ms, p99 {p99:.2f} ms"
        )


def test_sigterm_lets_requests_in_flight_finish(ctr_base, ctr_reference):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    # Each request waits 3 s for its batch to fill: it is in flight when the
    # signal comes.
    process = ServeProcess(
        ctr_base, "--batch-timeout-ms", "3000", "--poll-seconds", "0"
    )
    channel = grpc.insecure_channel(f"127.0.0.1:{process.grpc_port}")
    try:
        rest = http.client.HTTPConnection("127.0.0.1", process.rest_port, timeout=60)
        rest.request("POST", PREDICT, json.dumps({"instances": ROWS}))
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "ctr"
        for key in ROWS[0]:
            dtype = tf.string if key == "site" else tf.float32
            value = [row[key] for row in ROWS]
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value, dtype=dtype))
        grpc.channel_ready_future(channel).result(timeout=60)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        pending = stub.Predict.future(request, timeout=60)
        time.sleep(1.0)  # Both requests reach the server and wait.
        assert not pending.done()
        process.proc.send_signal(signal.SIGTERM)
        process.wait_for("Received SIGTERM")
        assert _refuses_connections(process.rest_port, within=1.5)
        assert not pending.done()  # Still waiting for its batch.

        response = rest.getresponse()
        assert response.status == 200
        body = json.loads(response.read())
        grpc_outputs = pending.result()
        assert process.proc.wait(60) == 0
    finally:
        channel.close()
        process.stop()
    got = np.array([p["probabilities"] for p in body["predictions"]])
    np.testing.assert_allclose(got, ctr_reference[2]["probabilities"])
    np.testing.assert_allclose(
        tf.make_ndarray(grpc_outputs.outputs["probabilities"]),
        ctr_reference[2]["probabilities"],
    )
    log = "".join(process.lines)
    assert "Stopped" in log and "grace period over" not in log


def _refuses_connections(port: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
        except (ConnectionRefusedError, ConnectionResetError):
            # A reset: the listening socket closed with this connection still
            # in its backlog. Either way no new connection is served.
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


# ---------------------------------------------------------------------------
# Settings and command line.
# ---------------------------------------------------------------------------
def test_defaults_are_loopback_and_tf_serving_ports():
    config = ServerConfig("saved_models")
    assert (config.host, config.rest_port, config.grpc_port) == (
        "127.0.0.1",
        8501,
        8500,
    )


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"rest_port": 70000}, "rest_port"),
        ({"grpc_port": -1}, "grpc_port"),
        ({"rest_port": 9000, "grpc_port": 9000}, "rest_port and grpc_port"),
        ({"max_batch_size": 0}, "max_batch_size"),
        ({"batch_timeout_ms": -1}, "batch_timeout_ms"),
        ({"poll_seconds": -1}, "poll_seconds"),
        ({"max_body_bytes": 0}, "max_body_bytes"),
    ],
)
def test_config_is_checked(kwargs, argument):
    with pytest.raises(ValueError, match=f"Invalid value for argument[s]? {argument}"):
        ServerConfig("saved_models", **kwargs)


@pytest.fixture(autouse=True)
def _restore_serving_logger():
    """`xent serve` configures the `xent.serving` logger: undo it after a test."""
    import logging

    logger = logging.getLogger("xent.serving")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_cli_missing_base_is_one_line_exit_2(tmp_path, capsys):
    assert main(["serve", "--model-base", str(tmp_path / "missing")]) == 2
    line = _one_error_line(capsys)
    assert line.startswith("xent serve: error: Model base path")
    assert "is not a directory" in line


def test_cli_busy_port_is_one_line_exit_2(tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        argv = ["serve", "--model-base", str(tmp_path), "--port", str(port)]
        assert main([*argv, "--grpc-port", "0", "--poll-seconds", "0"]) == 2
    line = _one_error_line(capsys)
    assert line.startswith("xent serve: error: cannot start the server")


def test_cli_bad_setting_is_one_line_exit_2(tmp_path, capsys):
    argv = ["serve", "--model-base", str(tmp_path), "--max-batch-size", "0"]
    assert main(argv) == 2
    assert "max_batch_size" in _one_error_line(capsys)


@pytest.mark.parametrize(
    ("flag", "key"),
    [
        ("--max-sample-count", "max_sample_count"),
        ("--max-input-elements", "max_input_elements"),
        ("--deadline-seconds", "deadline_seconds"),
    ],
)
def test_cli_request_limits_reach_the_server_config(tmp_path, capsys, flag, key):
    # A value the config refuses shows that the flag reached it.
    argv = ["serve", "--model-base", str(tmp_path), flag, "-1"]
    assert main(argv) == 2
    assert key in _one_error_line(capsys)
