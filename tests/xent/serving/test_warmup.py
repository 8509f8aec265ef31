"""Warm-up: the exporter writes TF Serving's `tf_serving_warmup_requests`, the
registry replays every record before a version serves, and a corrupt file
refuses that version only."""

import logging
import shutil

import numpy as np
import pytest

from tests.xent.serving.conftest import ROWS
from xent.serving.warmup import WARMUP_FILE
from xent.serving.warmup import read_warmup_requests
from xent.serving.warmup import write_warmup_requests


def _examples(count: int) -> list[dict]:
    return [
        {
            "age": np.full((k + 1, 1), 30.0 + k, "float32"),
            "hour": np.full((k + 1, 1), 9.0, "float32"),
            "site": np.full((k + 1, 1), "news", object),
        }
        for k in range(count)
    ]


def test_exporter_writes_tf_serving_warmup_records(ctr_base):
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = ctr_base / "ctr" / "1" / WARMUP_FILE
    records = [r.numpy() for r in tf.data.TFRecordDataset(str(path))]
    assert len(records) == 1
    log = prediction_log_pb2.PredictionLog.FromString(records[0])
    request = log.predict_log.request
    assert request.model_spec.signature_name == "serving_default"
    assert tf.make_ndarray(request.inputs["age"]).tolist() == [ROWS[0]["age"]]
    assert tf.make_ndarray(request.inputs["site"]).tolist() == [[b"news"]]


def test_write_and_read_round_trip(tmp_path):
    write_warmup_requests(tmp_path, _examples(3), "serving_default")
    requests = read_warmup_requests(tmp_path)
    assert [r.inputs["age"].tensor_shape.dim[0].size for r in requests] == [1, 2, 3]
    assert read_warmup_requests(tmp_path / "none") == []
    with pytest.raises(ValueError, match="examples"):
        write_warmup_requests(tmp_path, [])


def test_every_warmup_record_is_replayed_before_serving(ctr_base, tmp_path):
    from xent.serving.registry import load_servable

    version = tmp_path / "ctr" / "1"
    shutil.copytree(ctr_base / "ctr" / "1", version)
    write_warmup_requests(version, _examples(4))
    assert load_servable("ctr", 1, version).warmup_requests == 4
    # Each record runs the model: a bad fourth record fails the load.
    write_warmup_requests(
        version, [*_examples(3), {**_examples(1)[0], "age": np.zeros((1, 2), "f4")}]
    )
    with pytest.raises(ValueError, match="warm-up request 3: Input 'age'"):
        load_servable("ctr", 1, version)


@pytest.mark.parametrize(
    "content",
    [b"\x00" * 5, b"this is not a tfrecord file at all, only text"],
    ids=["truncated", "garbage"],
)
def test_corrupt_warmup_file_refuses_that_version_only(
    ctr_base, tmp_path, caplog, content
):
    from xent.serving.registry import Registry

    caplog.set_level(logging.INFO, logger="xent.serving")
    base = tmp_path / "models"
    shutil.copytree(ctr_base / "ctr" / "1", base / "ctr" / "1")
    shutil.copytree(ctr_base / "ctr" / "2", base / "ctr" / "2")
    (base / "ctr" / "2" / WARMUP_FILE).write_bytes(content)
    registry = Registry(base)
    try:
        registry.refresh()
        assert registry.models() == {"ctr": [1]}
        refused = registry.status("ctr", 2)[0]
        assert not refused.available and refused.error
        assert registry.servable("ctr").version == 1
    finally:
        registry.close()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(
        "Refused model 'ctr' version 2" in m and "version 1 keeps serving" in m
        for m in errors
    ), errors
    # One line, no traceback: a refused version is not a crash.
    assert not any(r.exc_info for r in caplog.records)


def test_warmup_request_the_model_refuses_is_a_load_failure(ctr_base, tmp_path):
    from xent.serving.registry import load_servable

    version = tmp_path / "ctr" / "1"
    shutil.copytree(ctr_base / "ctr" / "1", version)
    write_warmup_requests(version, [{"agee": np.zeros((1, 1), "float32")}])
    with pytest.raises(ValueError, match="warm-up request 0.*'agee'"):
        load_servable("ctr", 1, version)
