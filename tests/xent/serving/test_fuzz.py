"""Fuzzing the decoders: whatever a client sends, the JSON and TensorProto
decoders either succeed or raise `ServingError` with a 4xx code; never any
other exception (which the front ends answer 500 / INTERNAL)."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.framework import types_pb2

from xent.serving.errors import ServingError
from xent.serving.grpc_server import tensor_size
from xent.serving.grpc_server import tensor_to_array
from xent.serving.limits import RequestLimits
from xent.serving.limits import check_request_size
from xent.serving.signatures import SignatureSpec
from xent.serving.signatures import TensorSpec
from xent.serving.signatures import decode_predict_request
from xent.serving.signatures import parse_json_body

FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=list(HealthCheck)
)
LIMITS = RequestLimits(max_input_elements=1 << 16, max_request_elements=1 << 17)
SPECS = [
    SignatureSpec(
        "serving_default",
        {
            "age": TensorSpec("age", "float32", (None, 1)),
            "site": TensorSpec("site", "string", (None, 1)),
            "n": TensorSpec("n", "int8", (None,)),
        },
        {"y": TensorSpec("y", "float32", (None,))},
    ),
    SignatureSpec(
        "serving_default",
        {"x": TensorSpec("x", "string", None)},
        {"y": TensorSpec("y", "float32", None)},
    ),
    SignatureSpec(
        "sample",
        {"count": TensorSpec("count", "int32", ()), "b": TensorSpec("b", "bool", ())},
        {"y": TensorSpec("y", "float32", (None, 2))},
    ),
    SignatureSpec(
        "odd",
        {"h": TensorSpec("h", "bfloat16", (None,))},
        {"y": TensorSpec("y", "float32", (None,))},
    ),
]
NAMES = ["age", "site", "n", "x", "count", "b", "h", "b64", "instances", "inputs"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(codec=None), max_size=8),  # Lone surrogates.
    st.builds(lambda s: {"b64": s}, st.text(max_size=8)),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(NAMES), children, max_size=4),
    ),
    max_leaves=24,
)
bodies = st.dictionaries(
    st.sampled_from(["instances", "inputs", "signature_name"]),
    json_values,
    max_size=3,
)


def _decode(body, spec):
    try:
        decode_predict_request(body, spec, LIMITS)
    except ServingError as err:
        assert 400 <= err.code.http_status < 500, err.message


@FUZZ
@given(body=bodies, spec=st.sampled_from(SPECS))
def test_json_decoder_fuzz(body, spec):
    _decode(body, spec)


@FUZZ
@given(raw=st.binary(max_size=64) | st.text(max_size=64).map(str.encode))
def test_json_parser_fuzz(raw):
    try:
        parse_json_body(raw)
    except ServingError as err:
        assert err.code.http_status == 400


@pytest.mark.parametrize("depth", [33, 100, 960, 5000])
@pytest.mark.parametrize("spec", SPECS[:2])
def test_deeply_nested_lists_are_400(depth, spec):
    number = "[" * depth + "1" + "]" * depth
    string = "[" * depth + '"a"' + "]" * depth
    text = (
        f'{{"inputs": {{"age": {number}, "site": {string}, "n": [1], "x": {string}}}}}'
    )
    with pytest.raises(ServingError) as info:
        decode_predict_request(parse_json_body(text.encode()), spec, LIMITS)
    assert info.value.code.http_status == 400


def test_lone_surrogate_is_400_naming_the_input():
    body = parse_json_body(b'{"inputs": {"x": ["ok", "\\ud800"]}}')
    with pytest.raises(ServingError, match="Input 'x'.*not valid Unicode"):
        decode_predict_request(body, SPECS[1])


# ---------------------------------------------------------------------------
# TensorProto.
# ---------------------------------------------------------------------------
_FIELDS = [
    "float_val",
    "double_val",
    "int_val",
    "int64_val",
    "bool_val",
    "half_val",
    "uint32_val",
    "uint64_val",
    "string_val",
]
_FIELD_VALUES = {
    "float_val": st.floats(width=32),
    "double_val": st.floats(),
    "int_val": st.integers(-(2**31), 2**31 - 1),
    "int64_val": st.integers(-(2**63), 2**63 - 1),
    "bool_val": st.booleans(),
    "half_val": st.integers(-(2**31), 2**31 - 1),
    "uint32_val": st.integers(0, 2**32 - 1),
    "uint64_val": st.integers(0, 2**64 - 1),
    "string_val": st.binary(max_size=6),
}
_DTYPES = [
    "float16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
    "string",
    "bfloat16",
]


@st.composite
def tensor_protos(draw):
    proto = tensor_pb2.TensorProto()
    proto.dtype = draw(
        st.sampled_from(list(types_pb2.DataType.values()))
        | st.integers(-5, 400)  # Unknown enums (proto3 keeps them).
    )
    if draw(st.booleans()):
        proto.tensor_shape.unknown_rank = draw(st.booleans())
    for size in draw(
        st.lists(st.integers(-3, 6) | st.integers(-(2**63), 2**63 - 1), max_size=5)
    ):
        proto.tensor_shape.dim.add().size = size
    if draw(st.booleans()):
        proto.tensor_content = draw(st.binary(max_size=40))
    for field in draw(st.lists(st.sampled_from(_FIELDS), max_size=2)):
        getattr(proto, field).extend(draw(st.lists(_FIELD_VALUES[field], max_size=6)))
    return proto


@FUZZ
@given(proto=tensor_protos(), dtype=st.sampled_from(_DTYPES))
def test_tensor_proto_decoder_fuzz(proto, dtype):
    spec = TensorSpec("x", dtype, None)
    try:
        check_request_size({"x": tensor_size(proto, spec)}, LIMITS)
        array = tensor_to_array(proto, spec)
    except ServingError as err:
        assert err.code.http_status == 400, err.message
        return
    assert array.dtype == (spec.numpy_dtype or np.dtype(object))


def test_unknown_dtype_enum_is_invalid_argument():
    proto = tensor_pb2.TensorProto(dtype=999)
    proto.tensor_shape.dim.add().size = 1
    with pytest.raises(ServingError, match="999 \\(not a DataType\\)"):
        tensor_size(proto, TensorSpec("x", "float32", None))


# ---------------------------------------------------------------------------
# Through the server: a few malformed bodies end to end.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw",
    [
        '{"instances": [{"age": [1.0], "hour": [1.0], "site": ["\\ud800"]}]}',
        '{"instances": [{"age": [1.0], "hour": [1.0], "site": %s}]}'
        % ("[" * 200 + '"a"' + "]" * 200),
        '{"inputs": {"age": %s, "hour": [[1.0]], "site": [["a"]]}}'
        % ("[" * 900 + "1" + "]" * 900),
        '{"instances": [{"age": [1.0], "hour": [1.0], "site": ["a"]}], '
        '"signature_name": "\\udfff"}',
    ],
    ids=["surrogate", "strings-200-deep", "numbers-900-deep", "surrogate-signature"],
)
def test_malformed_bodies_are_4xx_end_to_end(rest, raw):
    status, body = rest.post("/v1/models/ctr:predict", raw)
    assert 400 <= status < 500, body
    assert set(body) == {"error"}
    good = {"instances": [{"age": [1.0], "hour": [1.0], "site": ["news"]}]}
    assert rest.post("/v1/models/ctr:predict", json.dumps(good))[0] == 200
