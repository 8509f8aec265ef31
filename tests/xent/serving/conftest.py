"""Fixtures of the serving tests: small exports, servers on loopback, clients.

`ctr_base` holds a tiny CTR-like model (two float inputs and a string input
through `StringLookup`) exported twice with different weights by
`xent.export.export_classifier` (versions 1 and 2); `pipeline_base` holds the
export of the real binary pipeline, trained for two epochs on a CSV file the
fixture writes. Every server listens on 127.0.0.1 with ports picked by the
system.
"""

from __future__ import annotations

import csv
import http.client
import json
from pathlib import Path

import numpy as np
import pytest

from tests.pipelines.conftest import load_task
from tests.pipelines.conftest import run_quietly

SITES = ("news", "shop", "video")
ROWS = [
    {"age": [31.0], "hour": [9.0], "site": ["news"]},
    {"age": [52.0], "hour": [22.0], "site": ["video"]},
    {"age": [18.0], "hour": [13.0], "site": ["unseen-site"]},
]


def build_ctr_model(seed: int):
    """A tiny CTR-like classifier on raw features; returns P(click)."""
    import keras

    keras.utils.set_random_seed(seed)
    age = keras.Input((1,), name="age")
    hour = keras.Input((1,), name="hour")
    site = keras.Input((1,), name="site", dtype="string")
    one_hot = keras.layers.StringLookup(vocabulary=list(SITES), output_mode="one_hot")(
        site
    )
    one_hot = keras.layers.Reshape((len(SITES) + 1,))(one_hot)
    scaled = keras.layers.Rescaling(1 / 50)(keras.layers.Concatenate()([age, hour]))
    features = keras.layers.Concatenate()([scaled, one_hot])
    hidden = keras.layers.Dense(4, activation="tanh")(features)
    out = keras.layers.Dense(1, activation="sigmoid")(hidden)
    return keras.Model({"age": age, "hour": hour, "site": site}, out)


def export_ctr(base: Path, seed: int) -> Path:
    from xent.export import export_classifier

    return export_classifier(
        build_ctr_model(seed),
        base,
        class_names=["no_click", "click"],
        metadata={"task": "ctr-fixture"},
        example_instances=ROWS[:1],
    )


def direct_call(version_dir: Path, columns: dict) -> dict[str, np.ndarray]:
    """The reference: `serving_default` of the SavedModel called in process."""
    import tensorflow as tf

    fn = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    specs = fn.structured_input_signature[1]
    feed = {
        k: tf.constant(
            np.asarray(v, dtype=object if specs[k].dtype == tf.string else None),
            dtype=specs[k].dtype,
        )
        for k, v in columns.items()
    }
    return {k: v.numpy() for k, v in fn(**feed).items()}


def columns_of(rows: list[dict]) -> dict[str, list]:
    return {k: [row[k] for row in rows] for k in rows[0]}


@pytest.fixture(scope="session")
def ctr_base(tmp_path_factory) -> Path:
    """`<base>/ctr/1` and `<base>/ctr/2`: the tiny model, two weight seeds."""
    base = tmp_path_factory.mktemp("serving") / "models"
    export_ctr(base / "ctr", seed=1)
    export_ctr(base / "ctr", seed=2)
    return base


def _write_churn_csv(path: Path, n: int = 160, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["tenure months", "plan", "monthly", "churned"])
        for _ in range(n):
            tenure = int(rng.integers(1, 60))
            plan = str(rng.choice(["basic", "pro", "team"]))
            logit = 1.5 - 0.08 * tenure + (1.0 if plan == "basic" else -0.5)
            churned = "yes" if rng.uniform() < 1 / (1 + np.exp(-logit)) else "no"
            writer.writerow([tenure, plan, f"{rng.normal(50, 10):.2f}", churned])


@pytest.fixture(scope="session")
def pipeline_base(tmp_path_factory) -> Path:
    """`<base>/binary/1`, exported by the binary pipeline (2 epochs)."""
    tmp = tmp_path_factory.mktemp("pipeline")
    _write_churn_csv(tmp / "churn.csv")
    task, config = load_task(
        "binary",
        [f"data.source={tmp / 'churn.csv'}", "data.label=churned", "train.epochs=2"],
    )
    result = run_quietly(task, config, tmp)
    assert result.export_path == tmp / "saved" / "binary" / "1"
    return tmp / "saved"


class Rest:
    """A keep-alive JSON client of one server (one connection)."""

    def __init__(self, port: int, timeout: float = 60.0):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def request(self, method: str, path: str, body=None, headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            response = self.conn.getresponse()
            data = response.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            raise
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
        return response.status, json.loads(data) if data else None

    def get(self, path: str):
        return self.request("GET", path)

    def post(self, path: str, body):
        return self.request("POST", path, body, {"Content-Type": "application/json"})

    def close(self) -> None:
        self.conn.close()


def start_server(base: Path, **overrides):
    from xent.serving.server import ModelServer
    from xent.serving.server import ServerConfig

    settings = {"rest_port": 0, "grpc_port": 0, "poll_seconds": 0.0, **overrides}
    server = ModelServer(ServerConfig(base, **settings))
    server.start()
    return server


MAX_BODY = 256 << 10


@pytest.fixture(scope="session")
def ctr_server(ctr_base):
    """A server over `ctr_base`: batching on, bodies up to 256 KiB."""
    server = start_server(ctr_base, max_body_bytes=MAX_BODY)
    yield server
    server.stop(5.0)


@pytest.fixture(scope="session")
def pipeline_server(pipeline_base):
    server = start_server(pipeline_base, max_batch_size=1)
    yield server
    server.stop(5.0)


@pytest.fixture(scope="session")
def ctr_reference(ctr_base) -> dict[int, dict[str, np.ndarray]]:
    """`{version: outputs}` of the direct in-process call on `ROWS`."""
    return {v: direct_call(ctr_base / "ctr" / str(v), columns_of(ROWS)) for v in (1, 2)}


@pytest.fixture
def rest(ctr_server):
    client = Rest(ctr_server.rest_port)
    yield client
    client.close()
