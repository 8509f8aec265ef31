"""`train.precision`: hardware detection, the policy switch, and bfloat16
training with float32 evaluation and export (`xent.precision`)."""

import json

import keras
import numpy as np
import pytest

from tests.pipelines.conftest import load_task
from tests.pipelines.conftest import read_report
from tests.pipelines.conftest import run_quietly
from xent import precision


def test_cpu_flags_read_the_flags_line(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx512f amx_bf16\nbugs\t: x\n")
    assert precision.cpu_flags(info) == {"fpu", "avx512f", "amx_bf16"}
    assert precision.cpu_flags(tmp_path / "absent") == frozenset()


@pytest.mark.parametrize(
    "flags, gpus, fast, needle",
    [
        ({"amx_bf16", "avx512_bf16"}, [], True, "AMX"),
        ({"avx512_bf16"}, [], False, "no AMX"),
        ({"avx2"}, [], False, "no bfloat16 units"),
        (set(), [("A100", (8, 0))], True, "compute capability 8.0"),
        ({"amx_bf16"}, [("T4", (7, 5))], False, "below compute capability 8.0"),
    ],
)
def test_bfloat16_hardware(flags, gpus, fast, needle):
    got, reason = precision.bfloat16_hardware(frozenset(flags), gpus)
    assert got is fast and needle in reason


def test_resolve_auto_follows_the_hardware_and_explicit_choices_do_not():
    assert precision.resolve("auto", (True, "AMX")).policy == "mixed_bfloat16"
    assert precision.resolve("auto", (False, "none")).policy == "float32"
    forced = precision.resolve("mixed_bfloat16", (False, "no AMX"))
    assert forced.policy == "mixed_bfloat16" and "slower" in forced.reason
    assert precision.resolve("float32", (True, "AMX")).policy == "float32"
    with pytest.raises(ValueError, match="train.precision"):
        precision.resolve("float16")


def test_the_policy_applies_inside_and_is_restored():
    before = keras.config.dtype_policy().name
    with precision.training_policy(precision.resolve("mixed_bfloat16", (True, ""))):
        assert keras.layers.Dense(2).compute_dtype == "bfloat16"
    assert keras.config.dtype_policy().name == before
    assert keras.layers.Dense(2).compute_dtype == "float32"


@keras.saving.register_keras_serializable(package="test_precision")
class _Holder(keras.layers.Layer):
    """A custom layer whose Dense sublayer is an attribute, not in `.layers`."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = keras.layers.Dense(3)

    def call(self, x):
        return self.inner(x)


def test_compute_in_float32_reaches_every_layer_and_keeps_the_weights():
    keras.utils.set_random_seed(0)
    with precision.training_policy(precision.resolve("mixed_bfloat16", (True, ""))):
        inputs = keras.Input((4,))
        hidden = keras.layers.Dense(8, activation="relu")(inputs)
        model = keras.Model(inputs, keras.layers.Dense(1)(_Holder()(hidden)))
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    assert model(x).dtype == "bfloat16"
    weights = [w.copy() for w in model.get_weights()]
    assert all(w.dtype == np.float32 for w in weights)
    precision.compute_in_float32(model)
    out = keras.ops.convert_to_numpy(model(x))
    assert out.dtype == np.float32
    # The same weights in a float32 model give the same numbers.
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    twin = keras.Model(inputs, keras.layers.Dense(1)(_Holder()(hidden)))
    twin.set_weights(weights)
    np.testing.assert_allclose(out, twin.predict(x, verbose=0), rtol=1e-6)
    for a, b in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_binary_trains_in_bfloat16_and_reports_and_exports_float32(tmp_path):
    options = ["train.epochs=4"]
    runs = {}
    for name in ("float32", "mixed_bfloat16"):
        task, config = load_task("binary", [*options, f"train.precision={name}"])
        result = run_quietly(task, config, tmp_path / name)
        runs[name] = read_report(result.run_dir), result.export_path
    report, export = runs["mixed_bfloat16"]
    assert report["training"]["precision"]["policy"] == "mixed_bfloat16"
    assert runs["float32"][0]["training"]["precision"]["policy"] == "float32"
    history = report["training"]["history"]
    assert np.isfinite(history["loss"]).all()
    # Our loss and Keras' built-in see the same bfloat16 logits: the gap is
    # float32 rounding, not bfloat16's.
    assert np.abs(history["val_loss_gap"]).max() < 1e-5
    # Quality within bfloat16 noise of float32 on this small split.
    auc = {k: r["metrics"]["test"]["auc"] for k, (r, _) in runs.items()}
    assert abs(auc["mixed_bfloat16"] - auc["float32"]) < 0.02, auc
    # The export computes in float32 (no bfloat16 op in the graph).
    graph = (export / "saved_model.pb").read_bytes()
    assert b"DT_BFLOAT16" not in graph
    assert json.loads((export / "assets.extra" / "metadata.json").read_text())


def test_auto_is_logged_with_its_reason(tmp_path):
    lines = []
    from xent import runner

    task, config = load_task("binary", ["train.epochs=1", "train.precision=auto"])
    runner.run(
        task,
        config,
        run_dir=tmp_path / "run",
        saved_models=tmp_path / "saved",
        export=False,
        verbose=1,
        log=lines.append,
    )
    line = next(x for x in lines if x.startswith("training precision: "))
    expected = precision.resolve("auto")
    assert line == f"training precision: {expected.policy} ({expected.reason})"


def test_ctr_trains_in_bfloat16_with_finite_losses(tmp_path, monkeypatch):
    from tests.pipelines.test_ctr import SMALL

    monkeypatch.setenv("XENT_CACHE", str(tmp_path / "cache"))
    task, config = load_task("ctr", [*SMALL, "train.precision=mixed_bfloat16"])
    report = read_report(run_quietly(task, config, tmp_path).run_dir)
    assert report["training"]["precision"]["policy"] == "mixed_bfloat16"
    assert np.isfinite(report["training"]["history"]["loss"]).all()
    test = report["metrics"]["test"]
    # Far above chance on the synthetic log (float32 gets ~0.7 here).
    assert test["auc"] > 0.6 and np.isfinite(test["log_loss"])


def test_gan_trains_in_bfloat16_and_samples_in_float32(tmp_path):
    from tests.pipelines.conftest import TINY_GAN

    task, config = load_task(
        "gan",
        [
            "train.epochs=2",
            *TINY_GAN,
            f"eval.classifier_cache={tmp_path / 'classifier'}",
            "train.precision=mixed_bfloat16",
        ],
    )
    result = run_quietly(task, config, tmp_path)
    report = read_report(result.run_dir)
    assert report["training"]["precision"]["policy"] == "mixed_bfloat16"
    for values in report["training"]["history"].values():
        assert np.isfinite(values).all()
    graph = (result.export_path / "saved_model.pb").read_bytes()
    assert b"DT_BFLOAT16" not in graph
