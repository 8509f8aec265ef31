"""Hot reload: new versions and models are served without a restart, broken
versions are refused with a log line while the previous version keeps serving,
removed versions are unloaded."""

import logging
import os
import shutil
import time

import numpy as np
import pytest

from tests.xent.serving.conftest import ROWS
from tests.xent.serving.conftest import Rest
from tests.xent.serving.conftest import start_server

PREDICT = "/v1/models/ctr:predict"


def _publish(source, model_dir, version):
    """Copies a version folder in the way the exporter writes one: a hidden
    temporary folder renamed into place."""
    tmp = model_dir / f".tmp-{version}-test"
    shutil.copytree(source, tmp)
    os.rename(tmp, model_dir / str(version))


def _publish_broken(model_dir, version):
    tmp = model_dir / f".tmp-{version}-test"
    (tmp / "variables").mkdir(parents=True)
    (tmp / "saved_model.pb").write_bytes(b"this is not a SavedModel")
    os.rename(tmp, model_dir / str(version))


def _wait_until(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _versions(rest, name="ctr"):
    status, body = rest.get(f"/v1/models/{name}")
    if status != 200:
        return {}
    return {s["version"]: s for s in body["model_version_status"]}


def _probabilities(rest, path=PREDICT):
    status, body = rest.post(path, {"instances": ROWS})
    assert status == 200, body
    return np.array([p["probabilities"] for p in body["predictions"]])


def _errors(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]


@pytest.fixture
def reloading(ctr_base, tmp_path):
    """A server polling every 0.1 s over a base holding only ctr/1."""
    base = tmp_path / "models"
    (base / "ctr").mkdir(parents=True)
    _publish(ctr_base / "ctr" / "1", base / "ctr", 1)
    server = start_server(base, poll_seconds=0.1, grpc_port=None)
    rest = Rest(server.rest_port)
    yield base, rest
    rest.close()
    server.stop(5.0)


def test_new_version_is_served_without_restart(reloading, ctr_base, ctr_reference):
    base, rest = reloading
    np.testing.assert_allclose(_probabilities(rest), ctr_reference[1]["probabilities"])
    _publish(ctr_base / "ctr" / "2", base / "ctr", 2)
    _wait_until(lambda: "2" in _versions(rest), what="version 2")
    np.testing.assert_allclose(_probabilities(rest), ctr_reference[2]["probabilities"])
    np.testing.assert_allclose(
        _probabilities(rest, "/v1/models/ctr/versions/1:predict"),
        ctr_reference[1]["probabilities"],
    )


def test_new_model_folder_is_served(reloading, ctr_base, ctr_reference):
    base, rest = reloading
    (base / "other").mkdir()
    _publish(ctr_base / "ctr" / "2", base / "other", 5)
    _wait_until(lambda: _versions(rest, "other"), what="model 'other'")
    np.testing.assert_allclose(
        _probabilities(rest, "/v1/models/other:predict"),
        ctr_reference[2]["probabilities"],
    )


def test_broken_version_is_refused_and_the_previous_keeps_serving(
    reloading, ctr_base, ctr_reference, caplog
):
    caplog.set_level(logging.INFO, logger="xent.serving")
    base, rest = reloading
    _publish_broken(base / "ctr", 2)
    refused = _wait_until(
        lambda: _versions(rest).get("2"), what="the refusal of version 2"
    )
    assert refused["state"] == "END"
    assert refused["status"]["error_code"] == "UNKNOWN"
    assert refused["status"]["error_message"]
    assert _versions(rest)["1"]["state"] == "AVAILABLE"
    lines = _errors(caplog)
    assert any(
        "Refused model 'ctr' version 2" in line and "version 1 keeps serving" in line
        for line in lines
    ), lines
    np.testing.assert_allclose(_probabilities(rest), ctr_reference[1]["probabilities"])
    status, body = rest.post("/v1/models/ctr/versions/2:predict", {"instances": ROWS})
    assert status == 404
    # Refused once: the same files are not loaded (and logged) again.
    time.sleep(0.5)
    assert sum("Refused model 'ctr' version 2" in m for m in _errors(caplog)) == 1

    # Replaced by a good version 2: loaded.
    shutil.rmtree(base / "ctr" / "2")
    _publish(ctr_base / "ctr" / "2", base / "ctr", 2)
    _wait_until(
        lambda: _versions(rest).get("2", {}).get("state") == "AVAILABLE",
        what="the good version 2",
    )
    np.testing.assert_allclose(_probabilities(rest), ctr_reference[2]["probabilities"])


def test_removed_version_is_unloaded(reloading, ctr_base, ctr_reference):
    base, rest = reloading
    _publish(ctr_base / "ctr" / "2", base / "ctr", 2)
    _wait_until(lambda: "2" in _versions(rest), what="version 2")
    shutil.rmtree(base / "ctr" / "2")
    _wait_until(lambda: "2" not in _versions(rest), what="the unload of version 2")
    np.testing.assert_allclose(_probabilities(rest), ctr_reference[1]["probabilities"])
    assert rest.post("/v1/models/ctr/versions/2:predict", {"instances": ROWS})[0] == 404


def test_registry_ignores_files_hidden_and_odd_names(ctr_base, tmp_path):
    from xent.serving.registry import Registry

    base = tmp_path / "models"
    (base / "ctr").mkdir(parents=True)
    (base / ".hidden" / "1").mkdir(parents=True)
    (base / "notes.txt").write_text("not a model")
    (base / "ctr" / "latest").mkdir()
    (base / "ctr" / ".tmp-3-123").mkdir()
    _publish(ctr_base / "ctr" / "1", base / "ctr", 1)
    registry = Registry(base)
    registry.refresh()
    try:
        assert registry.models() == {"ctr": [1]}
    finally:
        registry.close()


def test_signature_runner_matches_the_public_call(ctr_base, ctr_reference):
    from tests.xent.serving.conftest import columns_of
    from xent.serving.registry import load_servable
    from xent.serving.signatures import decode_predict_request

    servable = load_servable("ctr", 1, ctr_base / "ctr" / "1")
    signature = servable.signature("serving_default")
    inputs = decode_predict_request({"inputs": columns_of(ROWS)}, signature.spec).inputs
    for _ in range(2):  # The first call checks the flat call; the second uses it.
        outputs = signature.run(inputs)
        assert set(outputs) == set(ctr_reference[1])
        for key, expected in ctr_reference[1].items():
            np.testing.assert_array_equal(outputs[key], expected)


def test_flat_caller_falls_back_to_the_public_call_when_they_disagree(caplog):
    import tensorflow as tf

    from xent.serving.registry import _flat_caller
    from xent.serving.signatures import SignatureSpec
    from xent.serving.signatures import TensorSpec

    class Function:
        """A signature whose flat call gives a wrong answer."""

        captured_inputs = ()
        structured_outputs = {"y": None}

        def __call__(self, **feed):
            return {"y": feed["x"] * 2}

        def _call_flat(self, flat, captured):
            return {"y": flat[0] * 3}

    spec = SignatureSpec(
        "serving_default",
        {"x": TensorSpec("x", "float32", (None,))},
        {"y": TensorSpec("y", "float32", (None,))},
    )
    call = _flat_caller(Function(), spec)
    feed = {"x": tf.constant([1.0, 2.0])}
    with caplog.at_level(logging.WARNING, logger="xent.serving"):
        first = call(feed)
        second = call(feed)
    np.testing.assert_array_equal(first["y"].numpy(), [2.0, 4.0])
    np.testing.assert_array_equal(second["y"].numpy(), [2.0, 4.0])
    assert any("disagrees" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------------
# Version folders: outside int64, and files changed under the same number.
# ---------------------------------------------------------------------------
def _fake_loader(name, version, path, batching):
    """A servable whose "model" is the text of `value.txt` (fails on "bad")."""
    from xent.serving.registry import Servable

    value = (path / "value.txt").read_text()
    if value == "bad":
        raise ValueError("bad weights")
    return Servable(name, version, path, {"serving_default": value}, None)


def _write_value(path, value, mtime_ns):
    path.mkdir(parents=True, exist_ok=True)
    (path / "value.txt").write_text(value)
    os.utime(path / "value.txt", ns=(mtime_ns, mtime_ns))


def test_version_outside_int64_is_ignored_with_one_error(tmp_path, caplog):
    from xent.serving.grpc_server import status_response
    from xent.serving.registry import Registry

    caplog.set_level(logging.INFO, logger="xent.serving")
    _write_value(tmp_path / "ctr" / "1", "one", 1)
    _write_value(tmp_path / "ctr" / "99999999999999999999", "huge", 1)
    _write_value(tmp_path / "ctr" / str(2**63 - 1), "max", 1)
    registry = Registry(tmp_path, loader=_fake_loader)
    try:
        registry.refresh()
        registry.refresh()
        assert registry.models() == {"ctr": [1, 2**63 - 1]}
        response = status_response(registry, "ctr", None)
        assert [s.version for s in response.model_version_status] == [2**63 - 1, 1]
        assert registry.servable("ctr", 1).signatures["serving_default"] == "one"
    finally:
        registry.close()
    ignored = [m for m in _errors(caplog) if "99999999999999999999" in m]
    assert len(ignored) == 1 and "int64" in ignored[0]


def test_changed_files_are_reloaded_never_served_stale(tmp_path, caplog):
    from xent.serving.errors import ServingError
    from xent.serving.registry import Registry

    caplog.set_level(logging.INFO, logger="xent.serving")
    version = tmp_path / "ctr" / "1"
    _write_value(version, "old", 1_000_000_000)
    registry = Registry(tmp_path, loader=_fake_loader)

    def served():
        return registry.servable("ctr", 1).signatures["serving_default"]

    try:
        registry.refresh()
        assert served() == "old"
        _write_value(version, "new", 2_000_000_000)
        registry.refresh()
        assert served() == "new"
        # New files that fail to load: refused loudly and unloaded.
        _write_value(version, "bad", 3_000_000_000)
        registry.refresh()
        with pytest.raises(ServingError):
            served()
        assert registry.status("ctr")[0].available is False
        assert any("Refused model 'ctr' version 1" in m for m in _errors(caplog))
        # Fixed again: served again.
        _write_value(version, "good", 4_000_000_000)
        registry.refresh()
        assert served() == "good"
    finally:
        registry.close()
