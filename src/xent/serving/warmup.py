"""Warm-up requests in TF Serving's format: `assets.extra/tf_serving_warmup_requests`.

A TFRecord file of `tensorflow.serving.PredictionLog` protos, each with
`predict_log.request` filled, as TF Serving reads it (its
`saved_model_warmup` also caps a file at 1000 records). The exporter writes
one (`xent.export`); the registry replays every record through the loaded
version before it serves (`xent.serving.registry`), so the first client
request finds the model traced and warm.

    write_warmup_requests(version_dir, [{"age": np.array([[31.0]], "float32")}])
    requests = read_warmup_requests(version_dir)     # [PredictRequest]
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xent.serving.signatures import DEFAULT_SIGNATURE
from xent.serving.tensors import array_to_tensor

__all__ = [
    "MAX_WARMUP_RECORDS",
    "WARMUP_FILE",
    "read_warmup_requests",
    "write_warmup_requests",
]

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000


def write_warmup_requests(
    version_dir: str | Path,
    examples: Sequence[Mapping[str, np.ndarray]],
    signature_name: str = DEFAULT_SIGNATURE,
) -> Path:
    """Writes one PredictRequest per entry of `examples` as the warm-up file.

    Args:
        version_dir: The exported version (or the folder that becomes it).
        examples: `{input name: array}` per request, each array with the
            input's dtype and a batch dimension.
        signature_name: The signature the requests call.

    Returns:
        The file written.

    Raises:
        ValueError: With no example or more than `MAX_WARMUP_RECORDS`.
    """
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    if not 0 < len(examples) <= MAX_WARMUP_RECORDS:
        raise ValueError(
            "Invalid value for argument examples. Expected 1 to "
            f"{MAX_WARMUP_RECORDS} requests. Received: {len(examples)}"
        )
    path = Path(version_dir) / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for inputs in examples:
            log = prediction_log_pb2.PredictionLog()
            request = log.predict_log.request
            request.model_spec.signature_name = signature_name
            for name, array in inputs.items():
                request.inputs[name].CopyFrom(array_to_tensor(np.asarray(array)))
            writer.write(log.SerializeToString())
    return path


def read_warmup_requests(version_dir: str | Path) -> list:
    """The PredictRequests of the warm-up file of `version_dir` ([] if none).

    Raises:
        ValueError: For a record that is not a PredictionLog with a predict
            log, a file without records, or more than `MAX_WARMUP_RECORDS`
            records.
        tf.errors.DataLossError: For a corrupt or truncated file.
    """
    import tensorflow as tf
    from google.protobuf.message import DecodeError
    from tensorflow_serving.apis import prediction_log_pb2

    path = Path(version_dir) / WARMUP_FILE
    if not path.is_file():
        return []
    requests = []
    for i, record in enumerate(tf.data.TFRecordDataset(str(path))):
        if i >= MAX_WARMUP_RECORDS:
            raise ValueError(
                f"{WARMUP_FILE} has more than {MAX_WARMUP_RECORDS} records (the limit)"
            )
        log = prediction_log_pb2.PredictionLog()
        try:
            log.ParseFromString(record.numpy())
        except DecodeError:
            raise ValueError(
                f"{WARMUP_FILE} record {i} is not a PredictionLog"
            ) from None
        if log.WhichOneof("log_type") != "predict_log":
            raise ValueError(
                f"{WARMUP_FILE} record {i} is a {log.WhichOneof('log_type')}; "
                "only predict_log is supported"
            )
        requests.append(log.predict_log.request)
    if not requests:  # TensorFlow reads a truncated first record as none.
        raise ValueError(f"{WARMUP_FILE} holds no record (empty, truncated or corrupt)")
    return requests
