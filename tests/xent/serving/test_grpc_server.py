"""Contract tests of the gRPC API with the real `tensorflow-serving-api` stubs.

The client code is what a TF Serving client writes: `PredictionServiceStub`,
`ModelServiceStub` and `tf.make_tensor_proto` / `tf.make_ndarray`.
"""

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from tests.xent.serving.conftest import ROWS
from tests.xent.serving.conftest import columns_of
from tests.xent.serving.conftest import direct_call
from xent.serving.grpc_server import array_to_tensor

TIMEOUT = 30


@pytest.fixture(scope="module")
def channel(ctr_server):
    with grpc.insecure_channel(f"127.0.0.1:{ctr_server.grpc_port}") as channel:
        yield channel


@pytest.fixture(scope="module")
def predict_stub(channel):
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="module")
def model_stub(channel):
    return model_service_pb2_grpc.ModelServiceStub(channel)


def _request(columns, name="ctr", version=None, signature=""):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    request.model_spec.signature_name = signature
    for key, value in columns.items():
        dtype = tf.string if key == "site" else tf.float32
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value, dtype=dtype))
    return request


def _rpc_error(call, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=TIMEOUT)
    return info.value


def test_predict_matches_the_direct_call(predict_stub, ctr_reference):
    response = predict_stub.Predict(_request(columns_of(ROWS)), timeout=TIMEOUT)
    assert response.model_spec.name == "ctr"
    assert response.model_spec.version.value == 2
    assert response.model_spec.signature_name == "serving_default"
    outputs = {k: tf.make_ndarray(v) for k, v in response.outputs.items()}
    assert set(outputs) == {"probabilities", "class_id", "label"}
    expected = ctr_reference[2]
    np.testing.assert_allclose(outputs["probabilities"], expected["probabilities"])
    assert outputs["probabilities"].dtype == np.float32
    np.testing.assert_array_equal(outputs["class_id"], expected["class_id"])
    np.testing.assert_array_equal(outputs["label"], expected["label"])


@pytest.mark.parametrize("version", [1, 2])
def test_predict_addresses_versions(predict_stub, ctr_reference, version):
    response = predict_stub.Predict(
        _request(columns_of(ROWS), version=version), timeout=TIMEOUT
    )
    assert response.model_spec.version.value == version
    np.testing.assert_allclose(
        tf.make_ndarray(response.outputs["probabilities"]),
        ctr_reference[version]["probabilities"],
    )


def test_output_filter(predict_stub):
    request = _request(columns_of(ROWS))
    request.output_filter.append("class_id")
    response = predict_stub.Predict(request, timeout=TIMEOUT)
    assert list(response.outputs) == ["class_id"]


def test_pipeline_export_over_grpc(pipeline_server, pipeline_base):
    from xent.export import load_metadata

    version_dir = pipeline_base / "binary" / "1"
    inputs = load_metadata(version_dir)["signature"]["inputs"]
    columns = {
        name: [["pro"], ["team"]] if spec["dtype"] == "string" else [[12.0], [40.0]]
        for name, spec in inputs.items()
    }
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "binary"
    for name, value in columns.items():
        dtype = tf.string if inputs[name]["dtype"] == "string" else tf.float32
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value, dtype=dtype))
    with grpc.insecure_channel(f"127.0.0.1:{pipeline_server.grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=TIMEOUT)
    expected = direct_call(version_dir, columns)
    np.testing.assert_allclose(
        tf.make_ndarray(response.outputs["probabilities"]), expected["probabilities"]
    )


def test_get_model_metadata(predict_stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "ctr"
    request.model_spec.version.value = 1
    request.metadata_field.append("signature_def")
    response = predict_stub.GetModelMetadata(request, timeout=TIMEOUT)
    assert response.model_spec.version.value == 1
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_defs)
    serving = signature_defs.signature_def["serving_default"]
    assert set(serving.inputs) == {"age", "hour", "site"}
    assert serving.inputs["site"].dtype == tf.string.as_datatype_enum
    assert [d.size for d in serving.inputs["age"].tensor_shape.dim] == [-1, 1]
    assert set(serving.outputs) == {"probabilities", "class_id", "label"}


def test_get_model_status(model_stub):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "ctr"
    response = model_stub.GetModelStatus(request, timeout=TIMEOUT)
    states = [(s.version, s.state) for s in response.model_version_status]
    available = get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert states == [(2, available), (1, available)]
    request.model_spec.version.value = 1
    response = model_stub.GetModelStatus(request, timeout=TIMEOUT)
    assert [s.version for s in response.model_version_status] == [1]


@pytest.mark.parametrize(
    ("name", "version", "message"),
    [
        ("nope", None, "Servable not found for request: Latest(nope)"),
        ("ctr", 9, "Servable not found for request: Specific(ctr, 9)"),
    ],
)
def test_unknown_model_or_version_is_not_found(predict_stub, name, version, message):
    error = _rpc_error(
        predict_stub.Predict, _request(columns_of(ROWS), name=name, version=version)
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == message


def test_status_and_metadata_of_unknown_model_are_not_found(predict_stub, model_stub):
    status = get_model_status_pb2.GetModelStatusRequest()
    status.model_spec.name = "../ctr"
    assert _rpc_error(model_stub.GetModelStatus, status).code() == (
        grpc.StatusCode.NOT_FOUND
    )
    metadata = get_model_metadata_pb2.GetModelMetadataRequest()
    metadata.model_spec.name = "nope"
    metadata.metadata_field.append("signature_def")
    assert _rpc_error(predict_stub.GetModelMetadata, metadata).code() == (
        grpc.StatusCode.NOT_FOUND
    )


def _with_input(name, proto):
    request = _request(columns_of(ROWS))
    request.inputs[name].CopyFrom(proto)
    return request


def _without_input(name):
    request = _request(columns_of(ROWS))
    del request.inputs[name]
    return request


@pytest.mark.parametrize(
    ("request_of", "fragment"),
    [
        (
            lambda: _with_input("age", tf.make_tensor_proto([[1.0]] * 3, tf.float64)),
            "Input 'age' has dtype DT_DOUBLE, expected DT_FLOAT",
        ),
        (
            lambda: _with_input("site", tf.make_tensor_proto([[1.0]] * 3, tf.float32)),
            "Input 'site' has dtype DT_FLOAT, expected DT_STRING",
        ),
        (
            lambda: _with_input("age", tf.make_tensor_proto([1.0] * 3, tf.float32)),
            "Input 'age' has shape [3], expected [-1, 1]",
        ),
        (
            lambda: _with_input("age", tf.make_tensor_proto([[1.0]] * 2, tf.float32)),
            "different batch sizes",
        ),
        (lambda: _without_input("hour"), "Missing input 'hour'"),
        (
            lambda: _with_input("agee", tf.make_tensor_proto([[1.0]] * 3, tf.float32)),
            "Unknown input 'agee'",
        ),
    ],
)
def test_invalid_inputs_are_invalid_argument(predict_stub, request_of, fragment):
    error = _rpc_error(predict_stub.Predict, request_of())
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in error.details()


def test_other_invalid_requests(predict_stub):
    request = _request(columns_of(ROWS))
    request.output_filter.append("logits")
    error = _rpc_error(predict_stub.Predict, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "logits" in error.details()

    error = _rpc_error(
        predict_stub.Predict, _request(columns_of(ROWS), signature="nope")
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert 'signature key "nope"' in error.details()

    metadata = get_model_metadata_pb2.GetModelMetadataRequest()
    metadata.model_spec.name = "ctr"
    error = _rpc_error(predict_stub.GetModelMetadata, metadata)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    metadata.metadata_field.append("tags")
    error = _rpc_error(predict_stub.GetModelMetadata, metadata)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "tags" in error.details()


def test_unimplemented_methods(predict_stub):
    from tensorflow_serving.apis import classification_pb2

    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "ctr"
    error = _rpc_error(predict_stub.Classify, request)
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED


def test_oversized_message_is_refused(predict_stub):
    request = _request(columns_of(ROWS))
    request.inputs["extra"].CopyFrom(
        tf.make_tensor_proto(np.zeros(300_000, np.float32))
    )
    error = _rpc_error(predict_stub.Predict, request)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # And the server goes on answering.
    assert predict_stub.Predict(_request(columns_of(ROWS)), timeout=TIMEOUT).outputs


@pytest.mark.parametrize(
    "array",
    [
        np.array([[0.25], [np.nan]], np.float32),
        np.arange(6, dtype=np.int64).reshape(3, 2),
        np.array([True, False]),
        np.array([b"a", "\u00e9".encode(), b"\xff"], dtype=object),
    ],
)
def test_array_to_tensor_round_trips_through_tensorflow(array):
    back = tf.make_ndarray(array_to_tensor(array))
    assert back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)


def _proto_with_values(dtype, field, values, shape):
    proto = tf.make_tensor_proto(np.zeros(0), dtype=dtype)  # Right dtype enum.
    proto.ClearField("tensor_content")
    proto.tensor_shape.Clear()
    for size in shape:
        proto.tensor_shape.dim.add().size = size
    getattr(proto, field).extend(values)
    return proto


@pytest.mark.parametrize(
    "proto",
    [
        # tf.make_tensor_proto: numbers as tensor_content, strings as string_val.
        tf.make_tensor_proto(np.array([[0.25], [np.nan], [-3e38]], np.float32)),
        tf.make_tensor_proto(np.array([1.5, -2.0], np.float64)),
        tf.make_tensor_proto(np.arange(6, dtype=np.int64).reshape(2, 3)),
        tf.make_tensor_proto(np.array([7, -8], np.int32)),
        tf.make_tensor_proto(np.array([True, False, True])),
        tf.make_tensor_proto(np.array([b"a", b"", b"\xff\x00"], dtype=object)),
        tf.make_tensor_proto(np.zeros((0, 4), np.float32)),
        # Typed value lists, as other clients write them.
        _proto_with_values(tf.float32, "float_val", [0.5, 1.5], (2,)),
        _proto_with_values(tf.int64, "int64_val", [3, 4, 5, 6], (2, 2)),
        _proto_with_values(tf.string, "string_val", [b"x", b"y"], (2, 1)),
        # TF's shorthand: fewer values than elements repeat the last one
        # (decoded by tf.make_ndarray, not by the fast path).
        _proto_with_values(tf.float32, "float_val", [2.0], (3,)),
        _proto_with_values(tf.string, "string_val", [b"z"], (2,)),
        tf.make_tensor_proto(np.array([1.0, 2.0], np.float16)),
    ],
    ids=lambda p: f"{tf.as_dtype(p.dtype).name}-{len(p.tensor_shape.dim)}d",
)
def test_tensor_to_array_decodes_like_tensorflow(proto):
    from xent.serving.grpc_server import tensor_to_array
    from xent.serving.signatures import TensorSpec

    dtype = tf.as_dtype(proto.dtype)
    spec = TensorSpec("x", dtype.name, None)
    expected = tf.make_ndarray(proto)
    got = tensor_to_array(proto, spec)
    assert got.dtype == expected.dtype
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_tensor_to_array_refuses_a_wrong_dtype_naming_the_input():
    from xent.serving.errors import ServingError
    from xent.serving.grpc_server import tensor_to_array
    from xent.serving.signatures import TensorSpec

    proto = tf.make_tensor_proto(np.array([1.0], np.float64))
    with pytest.raises(
        ServingError, match="'price' has dtype DT_DOUBLE, expected DT_FLOAT"
    ):
        tensor_to_array(proto, TensorSpec("price", "float32", (None,)))


def test_tensor_to_array_refuses_content_of_the_wrong_size():
    from xent.serving.errors import ServingError
    from xent.serving.grpc_server import tensor_to_array
    from xent.serving.signatures import TensorSpec

    proto = tf.make_tensor_proto(np.array([1.0, 2.0], np.float32))
    proto.tensor_shape.dim[0].size = 3  # 8 bytes for 3 floats.
    with pytest.raises(ServingError, match="'x' is not a valid TensorProto"):
        tensor_to_array(proto, TensorSpec("x", "float32", (None,)))
