"""Prometheus metrics with TF Serving's names, gRPC health checks and the
sampled request log."""

import json
import shutil
import time

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.xent.serving.conftest import ROWS
from tests.xent.serving.conftest import Rest
from tests.xent.serving.conftest import start_server
from xent.serving.request_log import RequestLog
from xent.serving.request_log import RequestRecord

PREDICT = "/v1/models/ctr:predict"
METRICS = "/monitoring/prometheus/metrics"


@pytest.fixture(scope="module")
def logged(ctr_base, tmp_path_factory):
    log = tmp_path_factory.mktemp("log") / "requests.jsonl"
    server = start_server(ctr_base, request_log=log, request_log_sample_rate=1.0)
    yield server, log
    server.stop(5.0)


def _samples(port: int) -> dict:
    """`{(sample name, sorted labels): value}` scraped from the server."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", METRICS)
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type").startswith("text/plain")
    text = response.read().decode()
    conn.close()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _grpc_predict(port: int):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "ctr"
    for key, value in ROWS[0].items():
        dtype = tf.string if key == "site" else tf.float32
        request.inputs[key].CopyFrom(tf.make_tensor_proto([value], dtype=dtype))
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        return stub.Predict(request, timeout=30)


def _delta(after: dict, before: dict, name: str, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_metrics_count_rest_and_grpc_requests(logged):
    server, _ = logged
    before = _samples(server.rest_port)
    rest = Rest(server.rest_port)
    for _ in range(3):
        assert rest.post(PREDICT, {"instances": ROWS})[0] == 200
    assert rest.post(PREDICT, {"instances": [{"agee": [1.0]}]})[0] == 400
    assert rest.get("/v1/models/ctr/metadata")[0] == 200
    rest.close()
    _grpc_predict(server.grpc_port)
    after = _samples(server.rest_port)

    count = ":tensorflow:serving:request_count_total"
    assert _delta(after, before, count, model_name="ctr", status="OK") == 5
    assert (
        _delta(after, before, count, model_name="ctr", status="INVALID_ARGUMENT") == 1
    )
    latency = ":tensorflow:serving:request_latency_count"
    rest_predict = {"model_name": "ctr", "API": "predict", "entrypoint": "REST"}
    assert _delta(after, before, latency, **rest_predict) == 4
    grpc_predict = {**rest_predict, "entrypoint": "GRPC"}
    assert _delta(after, before, latency, **grpc_predict) == 1
    # Microseconds: a call takes more than 10 us and less than 60 s.
    total = _delta(
        after, before, ":tensorflow:serving:request_latency_sum", **rest_predict
    )
    assert 40 < total < 4 * 60e6
    # Batching is on: each answered predict is one batched model call here.
    batch = ":tensorflow:serving:batching:processed_batch_size_sum"
    rows = _delta(after, before, batch, model_name="ctr", op_name="serving_default")
    assert rows == 3 * len(ROWS) + 1
    runs = ":tensorflow:core:graph_runs_total"
    assert _delta(after, before, runs, model_name="ctr") == 4


def test_metrics_registries_are_per_server(logged, ctr_base):
    server, _ = logged
    other = start_server(ctr_base, grpc_port=None)
    try:
        Rest(server.rest_port).post(PREDICT, {"instances": ROWS})
        samples = _samples(other.rest_port)
        count = ":tensorflow:serving:request_count_total"
        assert not [k for k in samples if k[0] == count]
    finally:
        other.stop(5.0)


def test_head_of_metrics_has_no_body(logged):
    server, _ = logged
    status, body = Rest(server.rest_port).request("HEAD", METRICS)
    assert status == 200 and body is None


# ---------------------------------------------------------------------------
# Health.
# ---------------------------------------------------------------------------
def _health(port: int, service: str = "") -> int:
    from grpc_health.v1 import health_pb2
    from grpc_health.v1 import health_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service=service)
        return stub.Check(request, timeout=10).status


def test_health_is_serving_with_a_model(logged):
    from grpc_health.v1 import health_pb2

    server, _ = logged
    for service in ("", "tensorflow.serving.PredictionService"):
        assert (
            _health(server.grpc_port, service) == health_pb2.HealthCheckResponse.SERVING
        )
    with pytest.raises(grpc.RpcError) as info:
        _health(server.grpc_port, "no.such.Service")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_health_follows_the_versions(ctr_base, tmp_path):
    from grpc_health.v1 import health_pb2

    serving = health_pb2.HealthCheckResponse.SERVING
    base = tmp_path / "models"
    (base / "ctr").mkdir(parents=True)
    server = start_server(base, rest_port=None, poll_seconds=0.1)
    try:
        assert _health(server.grpc_port) == health_pb2.HealthCheckResponse.NOT_SERVING
        shutil.copytree(ctr_base / "ctr" / "1", base / "ctr" / ".tmp")
        (base / "ctr" / ".tmp").rename(base / "ctr" / "1")
        deadline = time.monotonic() + 60
        while _health(server.grpc_port) != serving:
            assert time.monotonic() < deadline, "never SERVING"
            time.sleep(0.1)
        shutil.rmtree(base / "ctr" / "1")
        while _health(server.grpc_port) == serving:
            assert time.monotonic() < deadline, "still SERVING"
            time.sleep(0.1)
    finally:
        server.stop(5.0)


# ---------------------------------------------------------------------------
# Request log.
# ---------------------------------------------------------------------------
def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_request_log_has_one_json_line_per_sampled_call(logged):
    server, log = logged
    start = len(_lines(log))
    rest = Rest(server.rest_port)
    assert rest.post("/v1/models/ctr/versions/1:predict", {"instances": ROWS})[0] == 200
    assert rest.post(PREDICT, "{bad json")[0] == 400
    rest.close()
    _grpc_predict(server.grpc_port)
    lines = _lines(log)[start:]
    assert [(x["entrypoint"], x["status"]) for x in lines] == [
        ("REST", "OK"),
        ("REST", "INVALID_ARGUMENT"),
        ("GRPC", "OK"),
    ]
    first = lines[0]
    assert (first["api"], first["model"], first["version"]) == ("predict", "ctr", 1)
    assert json.loads(first["request"]) == {"instances": ROWS}
    assert "predictions" in json.loads(first["response"])
    assert "JSON Parse error" in lines[1]["response"] and lines[1]["version"] is None
    assert "model_spec" in lines[2]["request"] and lines[2]["version"] == 2


def test_request_log_lines_are_bounded_and_sampled(tmp_path):
    path = tmp_path / "log.jsonl"
    log = RequestLog(path, sample_rate=0.25, max_line_bytes=1024, seed=0)
    record = RequestRecord(
        "REST", "predict", "m", 1, "OK", 1.5, "\u00e9" * 5000, "y" * 5000
    )
    written = 0
    for _ in range(400):
        if log.sampled():
            log.write(record)
            written += 1
    log.close()
    lines = path.read_text().splitlines()
    assert len(lines) == written and 60 < written < 140
    assert max(len(line) for line in lines) <= 1024
    entry = json.loads(lines[0])
    assert entry["truncated"] is True and entry["request"].startswith("\u00e9")
    never = RequestLog(tmp_path / "none.jsonl", sample_rate=0.0)
    assert not any(never.sampled() for _ in range(100))
    never.close()
    with pytest.raises(ValueError, match="sample_rate"):
        RequestLog(tmp_path / "x.jsonl", sample_rate=1.5)


def test_request_log_is_off_by_default(ctr_server):
    assert ctr_server.config.request_log is None
