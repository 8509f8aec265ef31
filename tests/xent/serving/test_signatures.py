"""Unit tests of the REST JSON formats (no server, no TensorFlow)."""

import base64
import math

import numpy as np
import pytest

from xent.serving.errors import Code
from xent.serving.errors import ServingError
from xent.serving.signatures import SignatureSpec
from xent.serving.signatures import TensorSpec
from xent.serving.signatures import check_inputs
from xent.serving.signatures import decode_predict_request
from xent.serving.signatures import dumps
from xent.serving.signatures import encode_predict_response
from xent.serving.signatures import parse_json_body

IMAGE = SignatureSpec(
    "serving_default",
    {"pixels": TensorSpec("pixels", "float32", (None, 2, 2))},
    {"scores": TensorSpec("scores", "float32", (None, 3))},
)
MIXED = SignatureSpec(
    "serving_default",
    {
        "count": TensorSpec("count", "int32", (None,)),
        "flag": TensorSpec("flag", "bool", (None,)),
        "text": TensorSpec("text", "string", (None,)),
    },
    {"y": TensorSpec("y", "float32", (None,))},
)


def _invalid(body, spec, fragment):
    with pytest.raises(ServingError) as info:
        decode_predict_request(body, spec)
    assert info.value.code is Code.INVALID_ARGUMENT
    assert fragment in info.value.message


def test_single_input_takes_bare_values_in_both_formats():
    image = [[1, 2], [3, 4]]
    rows = decode_predict_request({"instances": [image, image]}, IMAGE)
    assert rows.row_format and rows.inputs["pixels"].shape == (2, 2, 2)
    assert rows.inputs["pixels"].dtype == np.float32
    columns = decode_predict_request({"inputs": [image]}, IMAGE)
    assert not columns.row_format and columns.inputs["pixels"].shape == (1, 2, 2)
    named = decode_predict_request({"instances": [{"pixels": image}]}, IMAGE)
    np.testing.assert_array_equal(named.inputs["pixels"], [image])


def test_dtypes_are_converted_and_checked():
    body = {"instances": [{"count": 3, "flag": True, "text": "a"}]}
    inputs = decode_predict_request(body, MIXED).inputs
    assert inputs["count"].dtype == np.int32 and inputs["flag"].dtype == np.bool_
    assert inputs["text"].tolist() == [b"a"]
    _invalid({"instances": [{"count": 1.5, "flag": True, "text": "a"}]}, MIXED, "int32")
    _invalid(
        {"instances": [{"count": 2**40, "flag": True, "text": "a"}]}, MIXED, "outside"
    )
    _invalid({"instances": [{"count": 1, "flag": 1, "text": "a"}]}, MIXED, "'flag'")


def test_b64_decodes_to_bytes():
    raw = bytes(range(256))
    body = {
        "inputs": {
            "count": [1],
            "flag": [False],
            "text": [{"b64": base64.b64encode(raw).decode()}],
        }
    }
    assert decode_predict_request(body, MIXED).inputs["text"][0] == raw


def test_string_shapes_are_checked():
    _invalid(
        {"inputs": {"count": [1], "flag": [True], "text": [["a"]]}},
        MIXED,
        "'text' has shape [1, 1]",
    )
    _invalid(
        {"inputs": {"count": [1, 2], "flag": [True, False], "text": [["a"], "b"]}},
        MIXED,
        "rectangular",
    )


def test_unknown_rank_accepts_any_shape():
    spec = SignatureSpec("s", {"x": TensorSpec("x", "float32", None)}, {})
    assert check_inputs({"x": np.zeros((2, 3, 4), np.float32)}, spec) is None


def test_outputs_in_row_and_columnar_format():
    outputs = {
        "scores": np.array([[0.5, 0.25, 0.25], [math.nan, 1.0, 0.0]], np.float32),
        "label": np.array([b"cat", b"\xff"], dtype=object),
        "thumb_bytes": np.array([b"ab", b"cd"], dtype=object),
    }
    rows = encode_predict_response(outputs, row_format=True)["predictions"]
    assert rows[0] == {
        "scores": [0.5, 0.25, 0.25],
        "label": "cat",
        "thumb_bytes": {"b64": "YWI="},
    }
    assert rows[1]["label"] == {"b64": "/w=="}  # Not UTF-8.
    assert math.isnan(rows[1]["scores"][0])
    columns = encode_predict_response(outputs, row_format=False)["outputs"]
    assert columns["label"][0] == "cat" and columns["thumb_bytes"][1] == {"b64": "Y2Q="}
    assert encode_predict_response({"only": np.array([1, 2])}, True) == {
        "predictions": [1, 2]
    }
    assert encode_predict_response({"only": np.array([1, 2])}, False) == {
        "outputs": [1, 2]
    }


def test_row_format_needs_a_common_batch_dimension():
    with pytest.raises(ServingError, match="columnar"):
        encode_predict_response({"a": np.zeros(2), "b": np.zeros(3)}, row_format=True)


def test_json_round_trip_keeps_nan_and_infinity():
    body = parse_json_body(b'{"x": [NaN, Infinity, -Infinity, 1]}')
    assert dumps(body) == b'{"x":[NaN,Infinity,-Infinity,1]}'


def test_deeply_nested_json_is_a_parse_error():
    with pytest.raises(ServingError, match="JSON Parse error"):
        parse_json_body(b"[" * 100_000 + b"]" * 100_000)
