"""Tests for xent.export: TF Serving layout, signature, metadata, atomicity."""

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from xent import export

CLASS_NAMES = ("stay", "churn")
RAW = {
    "age": np.array([[18.0], [35.5], [70.0], [42.0]], dtype=np.float32),
    "city": np.array([["paris"], ["rome"], ["oslo"], ["paris"]], dtype=object),
}


def _binary_model() -> keras.Model:
    age = keras.Input(shape=(1,), name="age", dtype="float32")
    city = keras.Input(shape=(1,), name="city", dtype="string")
    lookup = keras.layers.StringLookup(
        vocabulary=["paris", "rome"], output_mode="one_hot"
    )
    features = keras.layers.Concatenate()([age / 50.0, lookup(city)])
    dense = keras.layers.Dense(1, activation="sigmoid")
    model = keras.Model({"age": age, "city": city}, dense(features))
    # Weights that spread the predictions on both sides of 0.5.
    dense.set_weights(
        [np.array([[2.0], [0.5], [-1.0], [1.5]], np.float32), np.array([-1.5])]
    )
    return model


def _predict(model: keras.Model, raw: dict) -> np.ndarray:
    inputs = {k: tf.constant(v) for k, v in raw.items()}
    return keras.ops.convert_to_numpy(model(inputs, training=False))


def _snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    return {
        str(p.relative_to(folder)): (
            p.stat().st_mtime_ns,
            hashlib.sha256(p.read_bytes()).hexdigest(),
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def binary_export(tmp_path_factory):
    """One export of the binary model, with an example request."""
    model = _binary_model()
    instances = [
        {"age": RAW["age"][i].tolist(), "city": RAW["city"][i].tolist()}
        for i in range(len(RAW["age"]))
    ]
    version_dir = export.export_classifier(
        model,
        tmp_path_factory.mktemp("saved_models") / "binary",
        class_names=CLASS_NAMES,
        metadata={"task": "binary", "test_metrics": {"auc": np.float32(0.75)}},
        example_instances=instances,
    )
    return model, version_dir


def test_exports_new_versions_without_touching_old_ones(tmp_path):
    model = _binary_model()
    base = tmp_path / "binary"
    first = export.export_classifier(model, base, CLASS_NAMES, {"task": "binary"})
    assert first == base / "1"
    before = _snapshot(first)
    second = export.export_classifier(model, base, CLASS_NAMES, {"task": "binary"})

    assert second == base / "2"
    assert sorted(p.name for p in base.iterdir()) == ["1", "2"]
    assert _snapshot(first) == before
    assert (second / "saved_model.pb").is_file()
    assert export.load_metadata(first)["version"] == 1
    assert export.load_metadata(second)["version"] == 2


def test_metadata_records_signature_and_given_values(binary_export):
    _, version_dir = binary_export
    meta = export.load_metadata(version_dir)

    assert meta["task"] == "binary"
    assert meta["test_metrics"] == {"auc": 0.75}
    assert meta["version"] == 1
    assert meta["created"].endswith("Z")
    sig = meta["signature"]
    assert sig["name"] == "serving_default"
    assert sig["inputs"] == {
        "age": {"dtype": "float32", "shape": [None, 1]},
        "city": {"dtype": "string", "shape": [None, 1]},
    }
    assert sig["outputs"] == {
        "probabilities": {"dtype": "float32", "shape": [None, 1]},
        "class_id": {"dtype": "int64", "shape": [None]},
        "label": {"dtype": "string", "shape": [None]},
    }
    assert sig["class_names"] == list(CLASS_NAMES)
    assert sig["binary_threshold"] == 0.5


def test_plain_tensorflow_process_serves_the_export(binary_export, tmp_path):
    model, version_dir = binary_export
    result = tmp_path / "result.npz"
    child = textwrap.dedent(
        """
        import json, sys
        import numpy as np
        import tensorflow as tf

        version_dir, result = sys.argv[1], sys.argv[2]
        with open(f"{version_dir}/assets.extra/example_request.json") as f:
            body = json.load(f)
        rows = body["instances"]
        inputs = {
            "age": tf.constant([r["age"] for r in rows], tf.float32),
            "city": tf.constant([r["city"] for r in rows], tf.string),
        }
        serve = tf.saved_model.load(version_dir).signatures[body["signature_name"]]
        out = serve(**inputs)
        # Strings as fixed-width bytes: np.load refuses object arrays.
        arrays = {k: v.numpy() for k, v in out.items()}
        np.savez(result, **{k: a.astype(bytes) if a.dtype == object else a
                            for k, a in arrays.items()})
        assert "xent" not in sys.modules, "the child imported xent"
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", child, str(version_dir), str(result)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    out = np.load(result)
    expected = _predict(model, RAW)
    assert out["probabilities"].dtype == np.float32
    np.testing.assert_allclose(out["probabilities"], expected, rtol=1e-6)
    class_id = (expected[:, 0] >= 0.5).astype(np.int64)
    assert 0 < class_id.sum() < len(class_id)  # Both classes occur.
    np.testing.assert_array_equal(out["class_id"], class_id)
    assert out["class_id"].dtype == np.int64
    labels = [s.decode() for s in out["label"]]
    assert labels == [CLASS_NAMES[i] for i in class_id]


def test_saved_model_cli_lists_the_signature(binary_export):
    _, version_dir = binary_export
    cli = Path(sys.executable).parent / "saved_model_cli"
    done = subprocess.run(
        [str(cli), "show", "--dir", str(version_dir), "--all"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for text in ("serving_default", "['age']", "['city']", "['probabilities']"):
        assert text in done.stdout


def test_multiclass_image_export(tmp_path):
    names = ["cat", "dog", "bird"]
    image = keras.Input(shape=(8, 8, 1), name="image")
    hidden = keras.layers.Flatten()(image)
    model = keras.Model(image, keras.layers.Dense(3, activation="softmax")(hidden))
    x = np.random.default_rng(0).normal(size=(5, 8, 8, 1)).astype(np.float32)

    version_dir = export.export_classifier(model, tmp_path, names, {"task": "mc"})
    out = tf.saved_model.load(str(version_dir)).signatures["serving_default"](
        image=tf.constant(x)
    )

    prob = out["probabilities"].numpy()
    assert prob.shape == (5, 3)
    np.testing.assert_allclose(prob.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(prob, keras.ops.convert_to_numpy(model(x)), rtol=1e-6)
    np.testing.assert_array_equal(out["class_id"].numpy(), prob.argmax(axis=1))
    labels = [s.decode() for s in out["label"].numpy()]
    assert labels == [names[i] for i in prob.argmax(axis=1)]
    sig = export.load_metadata(version_dir)["signature"]
    assert sig["inputs"] == {"image": {"dtype": "float32", "shape": [None, 8, 8, 1]}}
    assert sig["binary_threshold"] is None


def test_failed_export_leaves_nothing_behind(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export, "_write_metadata", fail)
    base = tmp_path / "binary"
    with pytest.raises(RuntimeError, match="disk full"):
        export.export_classifier(_binary_model(), base, CLASS_NAMES, {})
    assert list(base.iterdir()) == []


def test_wrong_number_of_class_names_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="class_names"):
        export.export_classifier(_binary_model(), tmp_path, ["a", "b", "c"], {})
    assert list(tmp_path.iterdir()) == []


def test_next_version_ignores_junk(tmp_path):
    assert export.next_version(tmp_path / "missing") == 1
    assert export.next_version(tmp_path) == 1
    for name in ("1", "3", "abc", "2a", "-5", ".tmp-9-123-abcd", "v7"):
        (tmp_path / name).mkdir()
    (tmp_path / "12").write_text("a file, not a version")
    assert export.next_version(tmp_path) == 4


def test_version_taken_during_export_is_skipped(tmp_path, monkeypatch):
    # Simulates a concurrent writer: version 1 appears after it was picked.
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "saved_model.pb").write_bytes(b"another writer")
    monkeypatch.setattr(export, "next_version", lambda base_dir: 1)

    version_dir = export.export_classifier(_binary_model(), tmp_path, None, {})

    assert version_dir == tmp_path / "2"
    assert export.load_metadata(version_dir)["version"] == 2
    assert (tmp_path / "1" / "saved_model.pb").read_bytes() == b"another writer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1", "2"]


_SLOW_EXPORTER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import keras
    from xent import export

    base, ready = Path(sys.argv[1]), Path(sys.argv[2])
    write_metadata = export._write_metadata

    def stall(version_dir, metadata):
        # The SavedModel is in the temporary folder, not yet renamed: the
        # window a kill during an export hits.
        ready.write_text(str(version_dir))
        time.sleep(600)
        write_metadata(version_dir, metadata)

    export._write_metadata = stall
    x = keras.Input((3,), name="x")
    model = keras.Model(x, keras.layers.Dense(1, activation="sigmoid")(x))
    export.export_classifier(model, base, ("no", "yes"), {"task": "binary"})
    """
)


def test_an_exporter_killed_mid_export_leaves_no_partial_version(tmp_path):
    from xent.serving.registry import Registry
    from xent.serving.registry import load_servable

    base = tmp_path / "models" / "binary"
    first = export.export_classifier(_binary_model(), base, CLASS_NAMES, {})
    before = _snapshot(first)
    ready = tmp_path / "ready"
    exporter = subprocess.Popen(
        [sys.executable, "-c", _SLOW_EXPORTER, str(base), str(ready)],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not ready.exists():
            assert exporter.poll() is None, exporter.communicate()[0][-3000:]
            assert time.monotonic() < deadline, "the exporter never got to export"
            time.sleep(0.05)
    finally:
        exporter.send_signal(signal.SIGKILL)
        exporter.communicate(timeout=60)
    partial = Path(ready.read_text())
    assert (partial / "saved_model.pb").is_file()  # Killed mid-export indeed.

    # Only the complete version is visible; the partial one is a hidden
    # folder that no reader takes for a version.
    assert [p.name for p in base.iterdir() if not p.name.startswith(".")] == ["1"]
    assert partial.parent == base and partial.name.startswith(".tmp-")
    assert _snapshot(first) == before
    assert export.next_version(base) == 2
    loaded = []

    def loader(name, version, path, batching):
        loaded.append(path)
        return load_servable(name, version, path, batching)

    registry = Registry(tmp_path / "models", loader=loader)
    registry.refresh()
    assert loaded == [first] and registry.models() == {"binary": [1]}

    # The next export takes version 2 and clears the dead exporter's folder.
    second = export.export_classifier(_binary_model(), base, CLASS_NAMES, {})
    assert second == base / "2"
    assert sorted(p.name for p in base.iterdir()) == ["1", "2"]
    assert export.load_metadata(second)["version"] == 2


def test_temporary_folders_of_running_or_foreign_exporters_are_kept(tmp_path):
    base = tmp_path / "binary"
    base.mkdir()
    host = export._HOST
    other_host = "0" * 8 if host != "0" * 8 else "1" * 8
    keep = [
        f".tmp-1-{os.getpid()}-abcd1234-{host}",  # This (running) process.
        f".tmp-1-999999999-abcd1234-{other_host}",  # Another machine's.
        ".tmp-9-123-abcd",  # Not an exporter's name.
    ]
    for name in keep:
        (base / name).mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (base / f".tmp-1-{dead.pid}-abcd1234-{host}").mkdir()

    export.export_classifier(_binary_model(), base, CLASS_NAMES, {})

    assert sorted(p.name for p in base.iterdir()) == sorted(["1", *keep])
