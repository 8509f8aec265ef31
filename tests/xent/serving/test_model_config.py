"""`--model-config-file`: TF Serving's ModelServerConfig text format (the real
proto), version policies, version labels over REST and gRPC, and edits of
the file applied without a restart."""

import os
import shutil
import time

import grpc
import numpy as np
import pytest

from tests.xent.serving.conftest import ROWS
from tests.xent.serving.conftest import Rest
from tests.xent.serving.conftest import start_server
from xent.serving.errors import Code
from xent.serving.errors import ServingError
from xent.serving.model_config import ModelConfigFile
from xent.serving.model_config import VersionPolicy
from xent.serving.model_config import parse_model_config

CONFIG = """
model_config_list {
  config {
    name: "ctr"
    base_path: "ctr"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 1 versions: 2 } }
    version_labels { key: "stable" value: 1 }
    version_labels { key: "canary" value: 2 }
  }
  config { name: "latest" base_path: "%s" }
}
"""


def _entry(name: str, policy: str = "", labels: str = "") -> str:
    return f'config {{ name: "{name}" base_path: "/m/{name}" {policy} {labels} }}'


def _config(*entries: str) -> str:
    return "model_config_list { " + " ".join(entries) + " }"


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("", VersionPolicy("latest", 1)),
        (
            "model_version_policy { latest { num_versions: 2 } }",
            VersionPolicy("latest", 2),
        ),
        ("model_version_policy { all {} }", VersionPolicy("all")),
        (
            "model_version_policy { specific { versions: 3 versions: 7 } }",
            VersionPolicy("specific", versions=(3, 7)),
        ),
    ],
)
def test_version_policies_parse(tmp_path, policy, expected):
    (model,) = parse_model_config(_config(_entry("m", policy)), tmp_path)
    assert model.policy == expected
    assert str(model.base_path) == "/m/m"


def test_policies_select_versions():
    found = [1, 2, 5, 9]
    assert VersionPolicy("latest", 1).select(found) == {9}
    assert VersionPolicy("latest", 3).select(found) == {2, 5, 9}
    assert VersionPolicy("all").select(found) == set(found)
    assert VersionPolicy("specific", versions=(2, 4)).select(found) == {2}


def test_labels_and_relative_base_paths(tmp_path):
    (model,) = parse_model_config(
        'model_config_list { config { name: "a" base_path: "rel/a" '
        'version_labels { key: "stable" value: 4 } } }',
        tmp_path,
    )
    assert model.base_path == tmp_path / "rel" / "a"
    assert model.labels == {"stable": 4}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("model_config_list { config { name: ", "not a ModelServerConfig"),
        ("nonsense: 1", "not a ModelServerConfig"),
        (_config(_entry("a"), _entry("a")), "configured twice"),
        (_config('config { name: "a" }'), "no base_path"),
        (_config('config { name: "../x" base_path: "/m" }'), "invalid model name"),
        (
            _config('config { name: "a" base_path: "/m" model_platform: "onnx" }'),
            "model_platform 'onnx'",
        ),
        (
            _config(_entry("a", "model_version_policy { specific {} }")),
            "at least one version",
        ),
        ('custom_model_config { type_url: "x" }', "custom_model_config"),
    ],
)
def test_bad_configs_are_refused_naming_the_problem(tmp_path, text, fragment):
    with pytest.raises(ValueError, match=fragment):
        parse_model_config(text, tmp_path)


def test_config_file_errors_name_the_file(tmp_path):
    path = tmp_path / "models.config"
    with pytest.raises(ValueError, match="models.config"):
        ModelConfigFile(path)
    path.write_text("nonsense")
    with pytest.raises(ValueError, match="models.config: not a ModelServerConfig"):
        ModelConfigFile(path)


def test_server_config_takes_a_base_or_a_config_file(tmp_path):
    from xent.serving.server import ServerConfig

    with pytest.raises(ValueError, match="model_base and model_config_file"):
        ServerConfig(tmp_path, model_config_file=tmp_path / "x")
    with pytest.raises(ValueError, match="model_base and model_config_file"):
        ServerConfig(None)


# ---------------------------------------------------------------------------
# The registry with a config (a fake loader: fast).
# ---------------------------------------------------------------------------
def _fake_loader(name, version, path, batching):
    from xent.serving.registry import Servable

    return Servable(name, version, path, {}, None)


def test_registry_applies_policies_and_labels(tmp_path):
    from xent.serving.registry import Registry

    for model, versions in {"a": (1, 2, 3), "b": (4, 5)}.items():
        for version in versions:
            (tmp_path / model / str(version)).mkdir(parents=True)
    text = _config(
        f'config {{ name: "a" base_path: "{tmp_path / "a"}" '
        "model_version_policy { latest { num_versions: 2 } } "
        'version_labels { key: "old" value: 1 } '
        'version_labels { key: "new" value: 3 } }',
        f'config {{ name: "b" base_path: "{tmp_path / "b"}" '
        "model_version_policy { specific { versions: 4 } } }",
    )
    models = parse_model_config(text, tmp_path)
    registry = Registry(None, loader=_fake_loader, model_configs=lambda: models)
    try:
        registry.refresh()
        assert registry.models() == {"a": [2, 3], "b": [4]}
        assert registry.servable("a", label="new").version == 3
        assert [s.version for s in registry.status("a", label="new")] == [3]
        with pytest.raises(ServingError) as info:
            registry.servable("a", label="old")  # Version 1 is not served.
        assert info.value.code is Code.NOT_FOUND
        with pytest.raises(ServingError) as info:
            registry.servable("a", label="nope")
        assert info.value.code is Code.INVALID_ARGUMENT
        assert "label: nope" in info.value.message
    finally:
        registry.close()


# ---------------------------------------------------------------------------
# A server on a config file: labels over REST and gRPC, edits applied live.
# ---------------------------------------------------------------------------
@pytest.fixture
def configured(ctr_base, tmp_path):
    root = tmp_path / "serving"
    shutil.copytree(ctr_base / "ctr", root / "ctr")
    (root / "latest").mkdir()
    shutil.copytree(ctr_base / "ctr" / "1", root / "latest" / "1")
    path = root / "models.config"
    path.write_text(CONFIG % (root / "latest"))
    server = start_server(
        None,
        model_config_file=path,
        model_config_file_poll_wait_seconds=0.1,
        poll_seconds=0.1,
    )
    rest = Rest(server.rest_port)
    yield root, path, server, rest
    rest.close()
    server.stop(5.0)


def _probabilities(rest, path):
    status, body = rest.post(path, {"instances": ROWS})
    assert status == 200, body
    return np.array([p["probabilities"] for p in body["predictions"]])


def _wait_until(predicate, what, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _rewrite(path, text):
    # A different size and mtime, so that the poll sees the change.
    path.write_text(text)
    stamp = time.time_ns() + 10**9
    os.utime(path, ns=(stamp, stamp))


def test_labels_over_rest(configured, ctr_reference):
    _, _, _, rest = configured
    for label, version in (("stable", 1), ("canary", 2)):
        np.testing.assert_allclose(
            _probabilities(rest, f"/v1/models/ctr/labels/{label}:predict"),
            ctr_reference[version]["probabilities"],
            rtol=1e-6,
        )
        status, body = rest.get(f"/v1/models/ctr/labels/{label}/metadata")
        assert status == 200 and body["model_spec"]["version"] == str(version)
        status, body = rest.get(f"/v1/models/ctr/labels/{label}")
        assert [s["version"] for s in body["model_version_status"]] == [str(version)]
    status, body = rest.post("/v1/models/ctr/labels/nope:predict", {"instances": ROWS})
    assert status == 400 and "label: nope" in body["error"]
    status, body = rest.get("/v1/models/missing/labels/stable")
    assert status == 404
    # The default policy serves only the latest version of "latest".
    assert rest.get("/v1/models/latest")[1]["model_version_status"][0]["version"] == "1"


def test_labels_over_grpc(configured, ctr_reference):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    _, _, server, _ = configured
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "ctr"
    request.model_spec.version_label = "stable"
    for key in ROWS[0]:
        dtype = tf.string if key == "site" else tf.float32
        value = [row[key] for row in ROWS]
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value, dtype=dtype))
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=30)
        assert response.model_spec.version.value == 1
        np.testing.assert_allclose(
            tf.make_ndarray(response.outputs["probabilities"]),
            ctr_reference[1]["probabilities"],
            rtol=1e-6,
        )
        request.model_spec.version_label = "nope"
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_config_edits_apply_without_restart(configured, ctr_base, ctr_reference):
    root, path, _, rest = configured
    stable = "/v1/models/ctr/labels/stable:predict"
    _rewrite(
        path,
        (CONFIG % (root / "latest"))
        .replace('key: "stable" value: 1', 'key: "stable" value: 2')
        .replace(
            "model_config_list {",
            'model_config_list { config { name: "more" '
            f'base_path: "{root / "ctr"}" model_version_policy {{ all {{}} }} }}',
        ),
    )
    _wait_until(lambda: rest.get("/v1/models/more")[0] == 200, "model 'more'")
    _wait_until(
        lambda: (
            rest.get("/v1/models/ctr/labels/stable")[1]["model_version_status"][0][
                "version"
            ]
            == "2"
        ),
        "label stable -> 2",
    )
    np.testing.assert_allclose(
        _probabilities(rest, stable), ctr_reference[2]["probabilities"], rtol=1e-6
    )
    # A file that no longer parses keeps the configuration in force.
    _rewrite(path, "model_config_list { config {")
    time.sleep(0.5)
    assert rest.get("/v1/models/more")[0] == 200
    # A model dropped from the file is unloaded.
    _rewrite(path, CONFIG % (root / "latest"))
    _wait_until(lambda: rest.get("/v1/models/more")[0] == 404, "unload of 'more'")


def test_new_latest_version_answers_only_once_loaded(
    configured, ctr_base, ctr_reference
):
    root, _, _, rest = configured
    path = "/v1/models/latest:predict"
    np.testing.assert_allclose(
        _probabilities(rest, path), ctr_reference[1]["probabilities"], rtol=1e-6
    )
    shutil.copytree(ctr_base / "ctr" / "2", root / "latest" / ".tmp-2")
    os.rename(root / "latest" / ".tmp-2", root / "latest" / "2")
    deadline = time.monotonic() + 60
    while True:  # Every request is answered, by version 1 then by version 2.
        got = _probabilities(rest, path)
        if np.allclose(got, ctr_reference[2]["probabilities"], rtol=1e-6):
            break
        np.testing.assert_allclose(got, ctr_reference[1]["probabilities"], rtol=1e-6)
        assert time.monotonic() < deadline
    _wait_until(
        lambda: (
            [
                s["version"]
                for s in rest.get("/v1/models/latest")[1]["model_version_status"]
            ]
            == ["2"]
        ),
        "the unload of version 1",
    )
