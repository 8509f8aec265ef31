"""Contract tests of the REST API v1 against TF Serving's documented formats.

Expected predictions come from calling the SavedModel's `serving_default`
directly in process (`direct_call`), not from the server's code.
"""

import base64
import http.client
import json
import math
import socket

import numpy as np
import pytest

from tests.xent.serving.conftest import MAX_BODY
from tests.xent.serving.conftest import ROWS
from tests.xent.serving.conftest import Rest
from tests.xent.serving.conftest import columns_of
from tests.xent.serving.conftest import direct_call

PREDICT = "/v1/models/ctr:predict"


def _probabilities(predictions) -> np.ndarray:
    return np.array([p["probabilities"] for p in predictions], dtype="float64")


# ---------------------------------------------------------------------------
# Status and metadata.
# ---------------------------------------------------------------------------
def test_status_lists_every_loaded_version(rest):
    status, body = rest.get("/v1/models/ctr")
    assert status == 200
    ok = {"error_code": "OK", "error_message": ""}
    assert body == {
        "model_version_status": [
            {"version": "2", "state": "AVAILABLE", "status": ok},
            {"version": "1", "state": "AVAILABLE", "status": ok},
        ]
    }


def test_status_of_one_version(rest):
    status, body = rest.get("/v1/models/ctr/versions/1")
    assert status == 200
    assert [s["version"] for s in body["model_version_status"]] == ["1"]


def test_metadata_has_the_signature_defs(rest):
    status, body = rest.get("/v1/models/ctr/metadata")
    assert status == 200
    assert body["model_spec"] == {"name": "ctr", "signature_name": "", "version": "2"}
    signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    assert set(signature["inputs"]) == {"age", "hour", "site"}
    age = signature["inputs"]["age"]
    assert age["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in age["tensor_shape"]["dim"]] == ["-1", "1"]
    assert signature["inputs"]["site"]["dtype"] == "DT_STRING"
    outputs = signature["outputs"]
    assert {k: v["dtype"] for k, v in outputs.items()} == {
        "probabilities": "DT_FLOAT",
        "class_id": "DT_INT64",
        "label": "DT_STRING",
    }


def test_metadata_of_one_version(rest):
    status, body = rest.get("/v1/models/ctr/versions/1/metadata")
    assert status == 200
    assert body["model_spec"]["version"] == "1"


# ---------------------------------------------------------------------------
# Predict.
# ---------------------------------------------------------------------------
def test_predict_row_format_matches_the_direct_call(rest, ctr_reference):
    status, body = rest.post(PREDICT, {"instances": ROWS})
    assert status == 200
    predictions = body["predictions"]
    assert len(predictions) == len(ROWS)
    assert set(predictions[0]) == {"probabilities", "class_id", "label"}
    expected = ctr_reference[2]  # The latest version answers.
    np.testing.assert_allclose(
        _probabilities(predictions), expected["probabilities"], rtol=1e-6
    )
    assert [p["class_id"] for p in predictions] == expected["class_id"].tolist()
    assert [p["label"] for p in predictions] == [s.decode() for s in expected["label"]]


def test_predict_columnar_format_matches_the_direct_call(rest, ctr_reference):
    status, body = rest.post(
        PREDICT, {"signature_name": "serving_default", "inputs": columns_of(ROWS)}
    )
    assert status == 200
    outputs = body["outputs"]
    assert set(outputs) == {"probabilities", "class_id", "label"}
    np.testing.assert_allclose(
        outputs["probabilities"], ctr_reference[2]["probabilities"], rtol=1e-6
    )
    assert outputs["class_id"] == ctr_reference[2]["class_id"].tolist()


@pytest.mark.parametrize("version", [1, 2])
def test_every_loaded_version_is_addressable(rest, ctr_reference, version):
    status, body = rest.post(
        f"/v1/models/ctr/versions/{version}:predict", {"instances": ROWS}
    )
    assert status == 200
    np.testing.assert_allclose(
        _probabilities(body["predictions"]),
        ctr_reference[version]["probabilities"],
        rtol=1e-6,
    )


def test_versions_differ(ctr_reference):
    # Otherwise the version tests above would prove nothing.
    assert not np.allclose(
        ctr_reference[1]["probabilities"], ctr_reference[2]["probabilities"]
    )


def test_b64_strings_equal_plain_strings(rest):
    encoded = {"b64": base64.b64encode(b"video").decode()}
    plain = {"age": [40.0], "hour": [8.0], "site": ["video"]}
    status, body = rest.post(
        PREDICT, {"instances": [plain, {**plain, "site": [encoded]}]}
    )
    assert status == 200
    first, second = body["predictions"]
    assert first == second


def test_nan_and_infinity_are_accepted(rest, ctr_base):
    body = (
        '{"inputs": {"age": [[NaN], [Infinity], [-Infinity]], '
        '"hour": [[1.0], [2.0], [3.0]], "site": [["news"], ["news"], ["news"]]}}'
    )
    status, answer = rest.post(PREDICT, body)
    assert status == 200
    expected = direct_call(
        ctr_base / "ctr" / "2",
        {
            "age": [[math.nan], [math.inf], [-math.inf]],
            "hour": [[1.0], [2.0], [3.0]],
            "site": [["news"]] * 3,
        },
    )
    got = np.array(answer["outputs"]["probabilities"], dtype="float64")
    np.testing.assert_allclose(got, expected["probabilities"], rtol=1e-6)
    assert math.isnan(got[0, 0])


def test_nan_is_written_back_as_nan(ctr_server):
    conn = http.client.HTTPConnection("127.0.0.1", ctr_server.rest_port, timeout=30)
    conn.request(
        "POST",
        PREDICT,
        '{"instances": [{"age": [NaN], "hour": [1.0], "site": ["news"]}]}',
    )
    raw = conn.getresponse().read().decode()
    conn.close()
    assert '"probabilities":[NaN]' in raw


def test_chunked_body_is_read(ctr_server):
    conn = http.client.HTTPConnection("127.0.0.1", ctr_server.rest_port, timeout=30)
    body = json.dumps({"instances": ROWS[:1]}).encode()
    conn.request(
        "POST", PREDICT, body=iter([body[:10], body[10:]]), encode_chunked=True
    )
    response = conn.getresponse()
    assert response.status == 200
    assert len(json.loads(response.read())["predictions"]) == 1
    conn.close()


def test_pipeline_export_is_served(pipeline_server, pipeline_base):
    from xent.export import load_metadata

    version_dir = pipeline_base / "binary" / "1"
    inputs = load_metadata(version_dir)["signature"]["inputs"]
    row = {
        name: ["basic"] if spec["dtype"] == "string" else [float(i + 3)]
        for i, (name, spec) in enumerate(sorted(inputs.items()))
    }
    client = Rest(pipeline_server.rest_port)
    status, body = client.post("/v1/models/binary:predict", {"instances": [row, row]})
    assert status == 200
    expected = direct_call(version_dir, columns_of([row, row]))
    np.testing.assert_allclose(
        _probabilities(body["predictions"]), expected["probabilities"], rtol=1e-6
    )
    assert body["predictions"][0]["label"] in ("no", "yes")
    status, body = client.get("/v1/models/binary/metadata")
    assert status == 200
    served = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert set(served["inputs"]) == set(inputs)
    client.close()


# ---------------------------------------------------------------------------
# Errors: 404.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("GET", "/v1/models/nope", "Could not find any versions of model nope"),
        ("GET", "/v1/models/ctr/versions/7", "Could not find version 7 of model ctr"),
        (
            "GET",
            "/v1/models/nope/metadata",
            "Servable not found for request: Latest(nope)",
        ),
        (
            "GET",
            "/v1/models/ctr/versions/7/metadata",
            "Servable not found for request: Specific(ctr, 7)",
        ),
        (
            "POST",
            "/v1/models/nope:predict",
            "Servable not found for request: Latest(nope)",
        ),
        (
            "POST",
            "/v1/models/ctr/versions/7:predict",
            "Servable not found for request: Specific(ctr, 7)",
        ),
    ],
)
def test_unknown_model_or_version_is_404(rest, method, path, message):
    if method == "GET":
        status, body = rest.get(path)
    else:
        status, body = rest.post(path, {"instances": ROWS})
    assert status == 404
    assert body == {"error": message}


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/..%2F..",
        "/v1/models/..%2F..%2F..%2Fetc%2Fpasswd/metadata",
        "/v1/models/%2E%2E/versions/1",
        "/v1/models/..%2Fctr%2F1:predict",
    ],
)
def test_path_traversal_names_no_model(rest, path):
    if path.endswith(":predict"):
        status, body = rest.post(path, {"instances": ROWS})
    else:
        status, body = rest.get(path)
    assert status == 404
    assert set(body) == {"error"}


def test_other_paths(rest):
    assert rest.get("/")[0] == 404
    status, body = rest.get("/v1/models/ctr/versions/x")
    assert status == 400 and body["error"].startswith("Malformed request")
    status, body = rest.post("/v1/models/ctr:classify", {"examples": []})
    assert status == 400 and "predict" in body["error"]
    status, body = rest.get("/v1/models/ctr/labels/stable")
    assert status == 400 and "label" in body["error"]


def test_unsupported_method_is_json(rest):
    status, body = rest.request("PUT", "/v1/models/ctr", "{}")
    assert status == 405 and "PUT" in body["error"]


# ---------------------------------------------------------------------------
# Errors: 400, each naming what is wrong.
# ---------------------------------------------------------------------------
GOOD = {"age": [31.0], "hour": [9.0], "site": ["news"]}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("{not json", "JSON Parse error"),
        ('{"instances": [1, 2]', "JSON Parse error"),
        ("[1, 2]", "not an object"),
        (b"\xff\xfe\x00", "JSON Parse error"),
        ({"signature_name": "serving_default"}, "'instances'"),
        ({"instances": [GOOD], "inputs": columns_of([GOOD])}, "exactly one"),
        ({"instances": []}, "non-empty"),
        ({"instances": [GOOD], "signature_name": "nope"}, 'signature key "nope"'),
        ({"instances": [GOOD], "signature_name": 3}, "signature_name"),
        ({"instances": [{**GOOD, "agee": [1.0]}]}, "Unknown input 'agee'"),
        ({"instances": [{"age": [1.0], "site": ["news"]}]}, "Missing input 'hour'"),
        ({"instances": [GOOD, {"age": [1.0]}]}, "in instance 1"),
        ({"instances": [{**GOOD, "hour": ["nine"]}]}, "Input 'hour' expects float32"),
        ({"instances": [{**GOOD, "site": [3]}]}, "Input 'site' expects strings"),
        ({"instances": [{**GOOD, "age": [None]}]}, "Input 'age' expects float32"),
        ({"instances": [{**GOOD, "age": [True]}]}, "Input 'age' expects float32"),
        ({"instances": [{**GOOD, "age": 31.0}]}, "Input 'age' has shape []"),
        ({"instances": [{**GOOD, "age": [1.0, 2.0]}]}, "Input 'age' has shape [2]"),
        ({"instances": [GOOD, {**GOOD, "age": [[1.0]]}]}, "Input 'age' has instances"),
        ({"instances": [{**GOOD, "site": [{"b64": "***"}]}]}, "Input 'site': 'b64'"),
        ({"instances": [[1.0]]}, "must be an object"),
        (
            {"inputs": {"age": [[1.0], [2.0]], "hour": [[1.0]], "site": [["a"]]}},
            "different batch sizes",
        ),
        (
            {"inputs": {"age": [[1.0], [2.0, 3.0]], "hour": [[1.0]], "site": [["a"]]}},
            "Input 'age' is not a rectangular array",
        ),
        (
            {"inputs": {"age": [1.0], "hour": [1.0], "site": ["a"]}},
            "Input 'age' has shape [1]",
        ),
        ({"inputs": [[1.0]]}, "'inputs' must be an object"),
    ],
)
def test_bad_request_is_400_naming_the_problem(rest, body, fragment):
    status, answer = rest.post(PREDICT, body)
    assert status == 400, answer
    assert set(answer) == {"error"}
    assert fragment in answer["error"]
    # The connection and the server keep answering.
    assert rest.post(PREDICT, {"instances": [GOOD]})[0] == 200


def test_oversized_body_is_413_and_not_read(ctr_server):
    rest = Rest(ctr_server.rest_port)
    big = json.dumps({"instances": [GOOD] * (MAX_BODY // 40)})
    assert len(big) > MAX_BODY
    status, body = rest.post(PREDICT, big)
    assert status == 413
    assert f"limit of {MAX_BODY} bytes" in body["error"]
    rest.close()
    assert Rest(ctr_server.rest_port).post(PREDICT, {"instances": [GOOD]})[0] == 200


def test_oversized_body_refused_before_100_continue(ctr_server):
    with socket.create_connection(("127.0.0.1", ctr_server.rest_port), 30) as sock:
        sock.sendall(
            f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY + 1}"
            "\r\nExpect: 100-continue\r\n\r\n".encode()
        )
        head = sock.recv(65536).decode()
    assert head.startswith("HTTP/1.1 413")
    assert "100 Continue" not in head
    assert "exceeds the limit" in head


def test_malformed_http_is_a_json_400(ctr_server):
    with socket.create_connection(("127.0.0.1", ctr_server.rest_port), 30) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        answer = sock.recv(65536).decode()
    assert answer.startswith("HTTP/1.1 400")
    assert answer.split("\r\n\r\n", 1)[1].startswith('{"error":')


def test_bad_content_length_is_400(ctr_server):
    with socket.create_connection(("127.0.0.1", ctr_server.rest_port), 30) as sock:
        sock.sendall(f"POST {PREDICT} HTTP/1.1\r\nContent-Length: -5\r\n\r\n".encode())
        answer = sock.recv(65536).decode()
    assert answer.startswith("HTTP/1.1 400")
    assert "Content-Length" in answer


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /v1/models/ctr HTTP/1.1\r\nNo colon here\r\n\r\n", 400),
        (b"GET /v1/models/ctr HTTP/2.0\r\n\r\n", 505),
        (b"GET /v1/models/ctr HTTP/1.1\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", 431),
    ],
)
def test_malformed_headers_are_json_errors(ctr_server, raw, status):
    with socket.create_connection(("127.0.0.1", ctr_server.rest_port), 30) as sock:
        sock.sendall(raw)
        answer = sock.recv(65536).decode()
    assert answer.startswith(f"HTTP/1.1 {status}")
    assert '{"error":' in answer


def test_http_1_0_closes_the_connection(ctr_server):
    with socket.create_connection(("127.0.0.1", ctr_server.rest_port), 30) as sock:
        sock.sendall(b"GET /v1/models/ctr HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, body = answer.decode().split("\r\n\r\n", 1)
    assert head.startswith("HTTP/1.1 200") and "Connection: close" in head
    assert json.loads(body)["model_version_status"]
