"""Bounded work per request: each probe that once took the server to gigabytes
is refused with 400 / INVALID_ARGUMENT naming the input, the server process's
peak RSS grows by less than `RSS_BUDGET`, and a good request is answered
right after. Plus the limits, TF's short-list shorthand and deadlines as units.
"""

import os
import shutil
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

from tests.xent.serving.conftest import ROWS
from tests.xent.serving.conftest import Rest
from xent.bench.serve_process import ServeProcess
from xent.serving.batching import Batcher
from xent.serving.batching import BatchingOptions
from xent.serving.errors import Code
from xent.serving.errors import ServingError
from xent.serving.limits import InputSize
from xent.serving.limits import RequestLimits
from xent.serving.limits import check_request_size
from xent.serving.signatures import SignatureSpec
from xent.serving.signatures import TensorSpec
from xent.serving.signatures import decode_predict_request

RSS_BUDGET = 200 << 20
LATENT = 8


def export_sampler(path: Path) -> None:
    """A SavedModel with the GAN export's `sample(count, seed)` signature
    (`xent.gan.export`): `count` int32 and `seed` int64 scalars, `count`
    rows of noise out."""
    import tensorflow as tf

    class Sampler(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, LATENT], tf.float32)])
        def serve(self, noise):
            return {"images": tf.tanh(noise)}

        @tf.function(
            input_signature=[
                tf.TensorSpec([], tf.int32, name="count"),
                tf.TensorSpec([], tf.int64, name="seed"),
            ]
        )
        def sample(self, count, seed):
            seeds = tf.stack([seed, tf.zeros_like(seed)])
            noise = tf.random.stateless_normal([count, LATENT], seed=seeds)
            return {"images": tf.tanh(noise)}

    module = Sampler()
    tf.saved_model.save(
        module,
        str(path),
        signatures={"serving_default": module.serve, "sample": module.sample},
    )


@pytest.fixture(scope="module")
def served(ctr_base, tmp_path_factory):
    base = tmp_path_factory.mktemp("limits") / "models"
    shutil.copytree(ctr_base / "ctr" / "2", base / "ctr" / "1")
    export_sampler(base / "sampler" / "1")
    process = ServeProcess(base, "--poll-seconds", "0")
    yield process
    assert process.stop() == 0


class PeakRss:
    """Growth of the peak RSS (VmHWM) of a process over a `with` block."""

    def __init__(self, pid: int):
        self.pid = pid
        self.growth = 0

    def _peak(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) << 10
        raise AssertionError("no VmHWM")

    def __enter__(self):
        # Resets VmHWM to the current RSS (Linux >= 4.0).
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        self._current = int(
            Path(f"/proc/{self.pid}/statm").read_text().split()[1]
        ) * os.sysconf("SC_PAGE_SIZE")
        return self

    def __exit__(self, *exc):
        self.growth = self._peak() - self._current


def _grpc_predict(port: int, request):
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        return stub.Predict(request, timeout=60)


def _ctr_request(**protos):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "ctr"
    for key in ROWS[0]:
        dtype = tf.string if key == "site" else tf.float32
        value = [row[key] for row in ROWS]
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value, dtype=dtype))
    for key, proto in protos.items():
        request.inputs[key].CopyFrom(proto)
    return request


def _repeat_proto(dtype: int, field: str, value, shape):
    from tensorflow.core.framework import tensor_pb2

    proto = tensor_pb2.TensorProto(dtype=dtype)
    for size in shape:
        proto.tensor_shape.dim.add().size = size
    getattr(proto, field).append(value)
    return proto


def _assert_good_requests_answered(served) -> None:
    response = _grpc_predict(served.grpc_port, _ctr_request())
    assert response.outputs["probabilities"].tensor_shape.dim[0].size == len(ROWS)
    rest = Rest(served.rest_port)
    status, body = rest.post("/v1/models/ctr:predict", {"instances": ROWS})
    rest.close()
    assert status == 200 and len(body["predictions"]) == len(ROWS)


@pytest.mark.parametrize(
    ("key", "proto_args", "fragment"),
    [
        # 153 bytes on the wire; once 8.8 GB of RSS.
        ("age", (1, "float_val", 1.0, (20_000_000, 1)), "more than the limit"),
        ("age", (1, "float_val", 1.0, (1 << 31, 1 << 31)), "more than the limit"),
        # 100,000 copies of a 1 KB string: 100 MB of strings from 1 KB.
        ("site", (7, "string_val", b"x" * 1000, (100_000, 1)), "bytes"),
    ],
    ids=["float-repeat", "huge-dims", "string-repeat"],
)
def test_grpc_short_list_shorthand_is_bounded(served, key, proto_args, fragment):
    request = _ctr_request(**{key: _repeat_proto(*proto_args)})
    assert request.ByteSize() < 2000
    with PeakRss(served.proc.pid) as rss, pytest.raises(grpc.RpcError) as info:
        _grpc_predict(served.grpc_port, request)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"'{key}'" in info.value.details() and fragment in info.value.details()
    assert rss.growth < RSS_BUDGET, rss.growth
    _assert_good_requests_answered(served)


def test_sample_count_is_bounded(served):
    rest = Rest(served.rest_port)
    path = "/v1/models/sampler:predict"
    body = {"signature_name": "sample", "inputs": {"count": 300_000, "seed": 1}}
    with PeakRss(served.proc.pid) as rss:
        start = time.monotonic()
        status, answer = rest.post(path, body)
        elapsed = time.monotonic() - start
    assert status == 400, answer
    assert "'count'" in answer["error"] and "1024" in answer["error"]
    assert rss.growth < RSS_BUDGET and elapsed < 5.0
    status, answer = rest.post(
        path, {"signature_name": "sample", "inputs": {"count": 4, "seed": 1}}
    )
    rest.close()
    assert status == 200 and np.shape(answer["outputs"]) == (4, LATENT)
    _assert_good_requests_answered(served)


def test_grpc_sample_count_is_bounded(served):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "sampler"
    request.model_spec.signature_name = "sample"
    request.inputs["count"].CopyFrom(tf.make_tensor_proto(300_000, tf.int32))
    request.inputs["seed"].CopyFrom(tf.make_tensor_proto(1, tf.int64))
    with pytest.raises(grpc.RpcError) as info:
        _grpc_predict(served.grpc_port, request)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'count'" in info.value.details()


# ---------------------------------------------------------------------------
# Units.
# ---------------------------------------------------------------------------
VECTOR = SignatureSpec(
    "serving_default",
    {"x": TensorSpec("x", "float32", (None,)), "s": TensorSpec("s", "string", None)},
    {"y": TensorSpec("y", "float32", (None,))},
)


@pytest.mark.parametrize(
    ("sizes", "limits", "fragment"),
    [
        ({"x": InputSize((5,))}, RequestLimits(max_input_elements=4), "'x'"),
        (
            {"x": InputSize((3,)), "s": InputSize((3,))},
            RequestLimits(max_request_elements=5),
            "input 's'",
        ),
        ({"s": InputSize((1,), 11)}, RequestLimits(max_string_bytes=10), "'s'"),
        ({"x": InputSize((1,) * 33)}, RequestLimits(), "33 dimensions"),
    ],
)
def test_check_request_size_names_the_input(sizes, limits, fragment):
    with pytest.raises(ServingError) as info:
        check_request_size(sizes, limits)
    assert info.value.code is Code.INVALID_ARGUMENT
    assert fragment in info.value.message


def test_json_limits_are_checked():
    limits = RequestLimits(max_input_elements=3, max_string_bytes=4)
    body = {"inputs": {"x": [1.0, 2.0, 3.0, 4.0], "s": ["a"] * 4}}
    with pytest.raises(ServingError, match="Input 'x' of shape \\[4\\]"):
        decode_predict_request(body, VECTOR, limits)
    body = {"inputs": {"x": [1.0], "s": ["abcde"]}}
    with pytest.raises(ServingError, match="strings of the request"):
        decode_predict_request(body, VECTOR, limits)
    assert decode_predict_request(
        {"inputs": {"x": [1.0], "s": ["abcd"]}}, VECTOR, limits
    )


@pytest.mark.parametrize(
    ("dtype", "field", "values", "shape"),
    [
        ("float32", "float_val", [], (2, 2)),
        ("int8", "int_val", [-3, 4], (4,)),
        ("uint16", "int_val", [65535], (3,)),
        ("float16", "half_val", [15360], (3,)),  # 1.0 in binary16.
        ("bool", "bool_val", [True], (2,)),
        ("uint64", "uint64_val", [2**64 - 1], (2,)),
        ("string", "string_val", [b"a", b"b"], (3, 1)),
    ],
)
def test_short_lists_decode_like_tensorflow(dtype, field, values, shape):
    import tensorflow as tf

    from xent.serving.grpc_server import tensor_to_array

    proto = tf.make_tensor_proto(np.zeros(0), dtype=tf.as_dtype(dtype))
    proto.ClearField("tensor_content")
    proto.tensor_shape.Clear()
    for size in shape:
        proto.tensor_shape.dim.add().size = size
    getattr(proto, field).extend(values)
    expected = tf.make_ndarray(proto)
    got = tensor_to_array(proto, TensorSpec("x", dtype, None))
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_batcher_drops_requests_past_their_deadline():
    started = threading.Event()
    release = threading.Event()
    calls = []

    def model(inputs):
        calls.append(len(inputs["x"]))
        started.set()
        release.wait(10)
        return {"y": inputs["x"] * 2}

    batcher = Batcher(model, BatchingOptions(max_batch_size=1))
    first = threading.Thread(target=batcher, args=({"x": np.ones(1)},))
    first.start()
    started.wait(10)
    answers = []
    batcher.submit({"x": np.ones(2)}, lambda r, e: answers.append(e), timeout_s=0.05)
    with pytest.raises(ServingError) as info:
        batcher({"x": np.ones(3)}, timeout_s=0.1)
    assert info.value.code is Code.DEADLINE_EXCEEDED
    release.set()
    first.join(10)
    batcher.close(10)
    assert calls == [1]  # The expired requests never ran.
    assert len(answers) == 1 and answers[0].code is Code.DEADLINE_EXCEEDED


def test_config_limits_are_checked():
    from xent.serving.server import ServerConfig

    with pytest.raises(ValueError, match="max_sample_count"):
        ServerConfig("saved_models", max_sample_count=0)
    with pytest.raises(ValueError, match="deadline_seconds"):
        ServerConfig("saved_models", deadline_seconds=-1)
    assert ServerConfig("saved_models").limits == RequestLimits()
