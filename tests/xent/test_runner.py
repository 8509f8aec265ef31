"""The generic runner's own pieces: run dirs, atomic writes, divergence stop."""

import keras
import numpy as np
import pytest

from xent import runner


def test_stop_on_non_finite_names_epoch_and_step():
    cb = runner.StopOnNonFinite()
    cb.on_epoch_begin(2)
    cb.on_train_batch_end(0, {"loss": 0.3})
    with pytest.raises(runner.TrainingDivergedError, match="epoch 3, step 5"):
        cb.on_train_batch_end(4, {"loss": float("nan")})
    with pytest.raises(runner.TrainingDivergedError, match="inf"):
        cb.on_train_batch_end(0, {"loss": float("inf")})


def test_a_diverging_fit_stops_at_the_first_bad_step():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(1e30), loss="mse")
    x = np.full((64, 1), 1e10, dtype="float32")
    with pytest.raises(runner.TrainingDivergedError, match="epoch 1, step"):
        model.fit(
            x,
            x,
            epochs=3,
            batch_size=8,
            verbose=0,
            callbacks=[runner.StopOnNonFinite()],
        )


def test_explicit_run_dir_must_be_new_or_empty(tmp_path):
    assert runner.make_run_dir("t", tmp_path / "new") == tmp_path / "new"
    (tmp_path / "new" / "x").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        runner.make_run_dir("t", tmp_path / "new")
    first = runner.make_run_dir("t", None, root=tmp_path / "runs")
    second = runner.make_run_dir("t", None, root=tmp_path / "runs")
    assert first != second and first.parent == second.parent


def test_write_atomic_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "report.json"
    runner.write_atomic(target, "old")

    with pytest.raises(TypeError):
        runner.write_atomic(target, 42)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_hparams_flatten_the_config():
    from xent.classification import ClassifierConfig

    flat = runner.hparams(ClassifierConfig())
    assert flat["train.epochs"] == 30
    assert flat["model.hidden"] == "[64, 32]"
