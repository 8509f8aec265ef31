"""CTR pipeline smoke tests: synthetic log end to end, every model kind, export."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.pipelines.conftest import bare_tensorflow_predict
from tests.pipelines.conftest import load_task
from tests.pipelines.conftest import read_report
from tests.pipelines.conftest import run_quietly
from xent.callbacks import read_event_tags

SMALL = [
    "data.synthetic.rows=20000",
    "data.synthetic.vocab_sizes=[10, 50, 500]",
    "data.synthetic.numeric=2",
    "data.synthetic.base_ctr=0.1",
    "data.group_field=c1",
    "model.embedding_dim=4",
    "model.hidden=[16]",
    "train.epochs=2",
    "train.batch_size=512",
    "train.learning_rate=0.01",
]


@pytest.fixture(scope="module")
def ctr_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ctr")
    mp = pytest.MonkeyPatch()
    mp.setenv("XENT_CACHE", str(tmp / "cache"))
    task, config = load_task("ctr", SMALL)
    result = run_quietly(task, config, tmp)
    yield task, config, result, tmp
    mp.undo()


def test_report_has_the_ctr_metrics_and_the_truth(ctr_run):
    _, _, result, _ = ctr_run
    report = read_report(result.run_dir)
    test = report["metrics"]["test"]
    for key in (
        "auc",
        "log_loss",
        "normalized_entropy",
        "calibration",
        "gauc",
        "bayes_log_loss",
        "excess_log_loss",
        "excess_log_loss_pct",
        "oracle_auc",
    ):
        assert isinstance(test[key], float), key
    assert test["rows"] == 2000
    # H(p, q) = H(p) + KL(p || q), with the true p of every test row.
    assert test["expected_log_loss"] == pytest.approx(
        test["bayes_log_loss"] + test["excess_log_loss"], rel=1e-12
    )
    assert test["excess_log_loss"] > 0
    assert test["auc"] > 0.6
    assert test["oracle_auc"] >= test["auc"] - 0.01
    assert report["dataset"]["rows"] == {
        "train": 16000,
        "validation": 2000,
        "test": 2000,
    }
    lr = report["baseline"]["logistic_regression"]
    assert {"auc", "log_loss", "excess_log_loss"} <= set(lr)
    assert lr["rows"] == 2000


def test_run_dir_has_plots_html_and_tensorboard(ctr_run):
    _, _, result, _ = ctr_run
    for name in ("report.html", "roc.png", "pr.png", "ctr_calibration.png"):
        assert (result.run_dir / name).is_file(), name
    html = (result.run_dir / "report.html").read_text()
    assert "Bayes log loss" in html
    assert "logistic_regression" in html
    tags = read_event_tags(result.run_dir / "logs")
    assert {"epoch_loss", "epoch_builtin_loss", "epoch_loss_gap", "epoch_auc"} <= tags[
        "train"
    ]
    assert "pr_curve" in tags["validation"]


def test_export_serves_raw_features_in_bare_tensorflow(ctr_run, tmp_path):
    task, config, result, _ = ctr_run
    version = result.export_path
    meta = json.loads((version / "assets.extra" / "metadata.json").read_text())
    assert meta["features"]["categorical"] == {"c0": "c0", "c1": "c1", "c2": "c2"}
    example = json.loads(
        (version / "assets.extra" / "example_request.json").read_text()
    )
    assert example["signature_name"] == "serving_default"
    assert set(example["instances"][0]) == {"c0", "c1", "c2", "n0", "n1"}
    feed = {
        "c0": np.array(["00000000", "never-seen", ""], dtype=object),
        "c1": np.array(["00000001", "", "x"], dtype=object),
        "c2": np.array(["", "00000002", "y"], dtype=object),
        "n0": np.array([1.5, np.nan, np.inf], dtype="float32"),
        "n1": np.array([np.nan, 2.0, 1e9], dtype="float32"),
    }
    out = bare_tensorflow_predict(version, feed, tmp_path / "o.npz")
    probs = out["probabilities"]
    assert probs.shape[0] == 3
    assert np.all(np.isfinite(probs)) and np.all((probs > 0) & (probs < 1))
    # Same numbers as the training-side model on the same raw rows.
    import keras
    import tensorflow as tf

    served = tf.saved_model.load(str(version)).signatures["serving_default"]
    again = served(
        **{
            k: tf.constant(v.astype(str) if v.dtype == object else v)
            for k, v in feed.items()
        }
    )
    np.testing.assert_allclose(probs, again["probabilities"].numpy(), rtol=1e-6)
    del keras


def test_platt_scaling_is_fitted_on_validation_and_served(ctr_run, tmp_path):
    task, config, result, _ = ctr_run
    test = result.report["metrics"]["test"]
    platt = test["platt_scaling"]
    assert platt["fitted_on"] == "validation"
    assert platt["scale"] > 0
    assert {"calibration_before", "log_loss_before"} <= set(platt)
    # The export applies the same map: its probabilities on the raw test rows
    # give the report's (calibrated) log loss, not the uncalibrated one.
    import tensorflow as tf
    from sklearn.metrics import log_loss

    data = task.build_inputs(config)
    served = tf.saved_model.load(str(result.export_path)).signatures["serving_default"]
    x = data.splits.test.x
    feed = {
        k: tf.constant(v.astype(str) if v.dtype == object else v) for k, v in x.items()
    }
    prob = served(**feed)["probabilities"].numpy().reshape(-1)
    ours = log_loss(data.splits.test.y, prob.astype("float64"), labels=[0, 1])
    assert ours == pytest.approx(test["log_loss"], rel=1e-4)
    if abs(platt["log_loss_before"] - test["log_loss"]) > 1e-4:
        assert ours != pytest.approx(platt["log_loss_before"], rel=1e-5)


def test_a_refit_ctr_run_calibrates_and_compares_on_its_own_rows(tmp_path, monkeypatch):
    from sklearn.metrics import log_loss
    from sklearn.metrics import roc_auc_score

    from xent import calibration as calibration_lib

    monkeypatch.setenv("XENT_CACHE", str(tmp_path / "cache"))
    task, config = load_task(
        "ctr", [*SMALL, "data.synthetic.rows=6000", "train.refit=true"]
    )
    result = run_quietly(task, config, tmp_path, export=False)
    report = result.report
    data = task.build_inputs(config)
    rows = data.features.train.rows + data.features.validation.rows
    # No monitored metric on the synthetic log: the refit runs every epoch.
    assert report["training"]["refit"] == {
        "rows": rows,
        "networks": [{"seed": 0, "epochs": config.train.epochs}],
    }
    # Platt scaling is fitted on the validation logits of the network
    # trained without those rows (its last weights: no monitored metric) ...
    first = task.build_model(config, data.features.train.feature_shape(), data)
    first.load_weights(result.run_dir / "checkpoints" / "best.weights.h5")
    y_val, z_val, _ = data.features.validation.predict(first)
    scale, shift = calibration_lib.fit_platt(z_val, y_val)
    platt = report["metrics"]["test"]["platt_scaling"]
    assert platt["scale"] == pytest.approx(scale, rel=1e-6)
    assert platt["shift"] == pytest.approx(shift, rel=1e-6, abs=1e-9)
    assert platt["fitted_on"] == (
        "validation (logits of the networks before the refit)"
    )
    # ... and applied to the refit network (on its own preprocessing): the
    # report's AUC and log loss are those of its calibrated test logits.
    joined = task.refit_inputs(config, data)
    refit = task.build_model(config, joined.features.train.feature_shape(), joined)
    refit.load_weights(result.run_dir / "checkpoints" / "refit0.weights.h5")
    y, z, _ = joined.features.test.predict(refit)
    q = 1 / (1 + np.exp(-(scale * z.reshape(-1).astype("float64") + shift)))
    test = report["metrics"]["test"]
    assert test["auc"] == pytest.approx(roc_auc_score(y, z.reshape(-1)), abs=1e-6)
    assert test["log_loss"] == pytest.approx(log_loss(y, q), rel=1e-4)
    # ... and the baseline learns from the same rows as the refit network.
    assert report["baseline"]["logistic_regression"]["train_rows"] == rows


@pytest.mark.parametrize("kind", ["lr", "fm", "dcnv2"])
def test_every_model_kind_trains(kind, tmp_path, monkeypatch):
    monkeypatch.setenv("XENT_CACHE", str(tmp_path / "cache"))
    task, config = load_task(
        "ctr",
        [
            *SMALL,
            "data.synthetic.rows=6000",
            "train.epochs=1",
            f"model.kind={kind}",
            "model.cross_layers=1",
            *(["calibration=none"] if kind == "lr" else []),
        ],
    )
    result = run_quietly(task, config, tmp_path, export=False)
    test = result.report["metrics"]["test"]
    assert test["auc"] > 0.55
    assert result.report["config"]["model"]["kind"] == kind
    assert ("platt_scaling" in test) == (kind != "lr")


def test_cli_reports_a_bad_model_kind_in_one_line(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "xent",
            "train",
            "ctr",
            "--rows",
            "2000",
            "--set",
            "model.kind=xgboost",
            "--run-dir",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "XENT_CACHE": str(tmp_path / "c")},
    )
    assert proc.returncode == 2
    assert "model.kind" in proc.stderr or "kind" in proc.stderr
    assert "Traceback" not in proc.stderr


def _write_libfm(path, n, seed):
    """A Frappe-like one-hot libFM file: 3 fields, click iff user and item agree."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n):
        user, item, hour = rng.integers(0, 20), rng.integers(0, 30), rng.integers(0, 4)
        logit = 2.5 if (user % 3) == (item % 3) else -2.0
        y = 1 if rng.random() < 1 / (1 + np.exp(-logit)) else -1
        lines.append(f"{y} {user}:1 {100 + item}:1 {200 + hour}:1")
    path.write_text("\n".join(lines) + "\n")


def test_libfm_files_stream_through_the_pipeline(tmp_path, monkeypatch):
    monkeypatch.setenv("XENT_CACHE", str(tmp_path / "cache"))
    _write_libfm(tmp_path / "train.libfm", 3000, 0)
    _write_libfm(tmp_path / "test.libfm", 800, 1)
    task, config = load_task(
        "ctr",
        [
            f"data.source={tmp_path / 'train.libfm'}",
            f"data.test_source={tmp_path / 'test.libfm'}",
            "data.categorical=[user, item, hour]",
            "data.group_field=user",
            "features.min_count=1",
            "model.kind=deepfm",
            "model.embedding_dim=4",
            "model.hidden=[16]",
            "train.epochs=6",
            "train.batch_size=128",
            "train.learning_rate=0.02",
            # One network: ensembles are tested in tests/xent/test_runner.py.
            "train.ensemble=1",
        ],
    )
    result = run_quietly(task, config, tmp_path)
    report = result.report
    assert report["dataset"]["rows"]["test"] == 800
    assert sum(report["dataset"]["rows"].values()) == 3800
    assert report["dataset"]["format"] == "libsvm"
    test = report["metrics"]["test"]
    assert test["rows"] == 800
    # The interaction is learnable: well above a first-order model's reach.
    assert test["auc"] > 0.8
    assert test["gauc_groups"] > 0
    assert "bayes_log_loss" not in test  # no truth for real files
    assert "logistic_regression" in report["baseline"]
    example = json.loads(
        (result.export_path / "assets.extra" / "example_request.json").read_text()
    )
    row = example["instances"][0]
    assert set(row) == {"user", "item", "hour"}
    out = bare_tensorflow_predict(
        result.export_path,
        {k: np.array([str(row[k]), "unseen"], dtype=object) for k in row},
        tmp_path / "o.npz",
    )
    assert out["probabilities"].shape[0] == 2


def test_csv_with_a_multi_value_field(tmp_path, monkeypatch):
    monkeypatch.setenv("XENT_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    genres = ["Comedy", "Drama", "Horror", "Action"]
    rows = ["user id,genres,price,clicked"]
    for _ in range(1500):
        g = "|".join(rng.choice(genres, size=rng.integers(1, 3), replace=False))
        y = int(rng.random() < (0.6 if "Horror" in g else 0.1))
        price = "" if rng.random() < 0.1 else f"{rng.lognormal(2, 1):.2f}"
        rows.append(f"u{rng.integers(0, 40)},{g},{price},{y}")
    (tmp_path / "log.csv").write_text("\n".join(rows) + "\n")
    task, config = load_task(
        "ctr",
        [
            f"data.source={tmp_path / 'log.csv'}",
            "data.label=clicked",
            "data.multi_value=[genres]",
            "data.group_field=null",
            "features.min_count=1",
            "model.kind=fm",
            "model.embedding_dim=4",
            "train.epochs=5",
            "train.batch_size=64",
            "train.learning_rate=0.02",
            "train.ensemble=1",
        ],
    )
    result = run_quietly(task, config, tmp_path)
    test = result.report["metrics"]["test"]
    assert test["auc"] > 0.7
    meta = json.loads(
        (result.export_path / "assets.extra" / "metadata.json").read_text()
    )
    assert meta["features"]["multi_value"] == {"genres": "genres"}
    assert meta["features"]["categorical"] == {"user id": "user_id"}
    out = bare_tensorflow_predict(
        result.export_path,
        {
            "user_id": np.array(["u1", "u1"], dtype=object),
            "genres": np.array(["Horror", "Comedy|Drama"], dtype=object),
            "price": np.array([np.nan, 3.0], dtype="float32"),
        },
        tmp_path / "o.npz",
    )
    p = out["probabilities"].reshape(len(out["probabilities"]), -1)[:, -1]
    assert p[0] > p[1]


def test_a_bad_data_file_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.libfm"
    bad.write_text("1 1:1 2:1\n-1 1:1 oops\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "xent",
            "train",
            "ctr",
            "--data",
            str(bad),
            "--run-dir",
            str(tmp_path / "r"),
            "--no-export",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "XENT_CACHE": str(tmp_path / "c")},
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "bad.libfm" in proc.stderr
    assert "Traceback" not in proc.stderr


def _write_pair_log(path, n, seed):
    """Clicks decided by each (user, item) pair alone: +-3 logits drawn per
    pair, so no first-order model can learn them and a user:item cross can."""
    effect = np.random.default_rng(123).choice([-3.0, 3.0], size=(20, 15))
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n):
        user, item = rng.integers(0, 20), rng.integers(0, 15)
        y = 1 if rng.random() < 1 / (1 + np.exp(-effect[user, item])) else -1
        lines.append(f"{y} {user}:1 {100 + item}:1")
    path.write_text("\n".join(lines) + "\n")
    return effect


def test_a_user_item_cross_learns_pairs_a_linear_model_cannot(tmp_path, monkeypatch):
    monkeypatch.setenv("XENT_CACHE", str(tmp_path / "cache"))
    effect = _write_pair_log(tmp_path / "train.libfm", 6000, 0)
    _write_pair_log(tmp_path / "test.libfm", 1500, 1)
    base = [
        f"data.source={tmp_path / 'train.libfm'}",
        f"data.test_source={tmp_path / 'test.libfm'}",
        "data.categorical=[user, item]",
        "data.group_field=null",
        "features.min_count=1",
        "model.kind=lr",
        "train.epochs=8",
        "train.batch_size=128",
        "train.learning_rate=0.05",
        "train.ema_momentum=null",
        "train.ensemble=1",
    ]
    auc = {}
    for name, extra in (("plain", []), ("cross", ["features.crosses=[[user, item]]"])):
        task, config = load_task("ctr", base + extra)
        result = run_quietly(task, config, tmp_path / name)
        auc[name] = result.report["metrics"]["test"]["auc"]
    processing = result.report["dataset"]["feature_processing"]
    assert processing["crosses"]["user_x_item"]["vocabulary"] == 300
    # Bayes AUC of +-3 logits is about 0.95; the first-order model is near 0.5.
    assert auc["plain"] < 0.65
    assert auc["cross"] > 0.9
    # The export crosses raw values itself: a positive pair scores above a
    # negative one of the same user, and the serving inputs are the columns.
    pos, neg = np.argmax(effect[0]), np.argmin(effect[0])
    meta = json.loads(
        (result.export_path / "assets.extra" / "metadata.json").read_text()
    )
    assert meta["features"]["categorical"] == {"user": "user", "item": "item"}
    out = bare_tensorflow_predict(
        result.export_path,
        {
            "user": np.array(["0", "0"], dtype=object),
            "item": np.array([str(100 + pos), str(100 + neg)], dtype=object),
        },
        tmp_path / "o.npz",
    )
    p = out["probabilities"].reshape(2, -1)[:, -1]
    assert p[0] > 0.8 and p[1] < 0.2


def test_a_refit_learns_values_first_seen_in_the_validation_rows(tmp_path, monkeypatch):
    """Items 777 (always clicked) and 778 (never) appear only on lines of the
    validation split. The refit fits its vocabularies and crosses on the
    training and validation rows, so each gets a row of its own and the
    export tells them apart; on the first load's vocabulary both were the
    one out-of-vocabulary item."""
    from xent.ctr import builder

    monkeypatch.setenv("XENT_CACHE", str(tmp_path / "cache"))
    _write_pair_log(tmp_path / "train.libfm", 6000, 0)
    _write_pair_log(tmp_path / "test.libfm", 1500, 1)
    lines = (tmp_path / "train.libfm").read_text().splitlines()
    held = [
        i
        for i in range(len(lines))
        if builder.split_of_line(i + 1, 0, 0.1, 0.0) == "validation"
    ]
    for k, i in enumerate(held[::2]):
        user = lines[i].split()[1]
        lines[i] = f"1 {user} 777:1" if k % 2 == 0 else f"-1 {user} 778:1"
    (tmp_path / "train.libfm").write_text("\n".join(lines) + "\n")
    task, config = load_task(
        "ctr",
        [
            f"data.source={tmp_path / 'train.libfm'}",
            f"data.test_source={tmp_path / 'test.libfm'}",
            "data.categorical=[user, item]",
            "data.group_field=null",
            "features.min_count=1",
            "features.crosses=[[user, item]]",
            "model.kind=lr",
            "train.epochs=6",
            "train.batch_size=128",
            "train.learning_rate=0.05",
            "train.ema_momentum=null",
            "train.monitor=null",
            "train.ensemble=1",
            "train.refit=true",
        ],
    )
    data = task.build_inputs(config)
    joined = task.refit_inputs(config, data)
    sizes = {
        name: {s.name: s.vocabulary_size for s in d.state.specs}
        for name, d in (("first", data), ("refit", joined))
    }
    # 15 items (+1 out-of-vocabulary id), then 17; the cross gains the pairs.
    assert sizes["first"]["item"] == 16 and sizes["refit"]["item"] == 18
    assert sizes["refit"]["user_x_item"] > sizes["first"]["user_x_item"]
    assert joined.features.train.rows == (
        data.features.train.rows + data.features.validation.rows
    )
    assert joined.state.train_ctr != data.state.train_ctr
    result = run_quietly(task, config, tmp_path)
    assert result.report["training"]["refit"]["rows"] == joined.features.train.rows
    out = bare_tensorflow_predict(
        result.export_path,
        {
            "user": np.array(["0", "0"], dtype=object),
            "item": np.array(["777", "778"], dtype=object),
        },
        tmp_path / "o.npz",
    )
    p = out["probabilities"].reshape(2, -1)[:, -1]
    assert p[0] > 0.8 and p[1] < 0.2


def test_cli_cross_flag_sets_features_and_names_bad_values(tmp_path):
    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "xent", "train", *args, "--run-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=120,
        )

    bad = run("ctr", "--cross", "user")
    assert bad.returncode != 0
    assert "Invalid value for --cross: 'user'" in bad.stderr
    assert "Traceback" not in bad.stderr
    other = run("binary", "--cross", "a:b")
    assert "--cross applies to the ctr task" in other.stderr
    unknown = run("ctr", "--rows", "2000", "--cross", "c0:nope", "--no-export")
    assert unknown.returncode != 0
    assert "features.crosses[0]" in unknown.stderr and "'nope'" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_auto_model_is_chosen_on_validation_with_auto_groups(tmp_path, monkeypatch):
    """The file defaults (`model.kind: auto`): on a log whose clicks depend on
    the (user, item) pair, the candidate with the cross wins on validation;
    `group_field: auto` finds the `user` column."""
    monkeypatch.setenv("XENT_CACHE", str(tmp_path / "cache"))
    _write_pair_log(tmp_path / "train.libfm", 4000, 0)
    _write_pair_log(tmp_path / "test.libfm", 1000, 1)
    task, config = load_task(
        "ctr",
        [
            f"data.source={tmp_path / 'train.libfm'}",
            f"data.test_source={tmp_path / 'test.libfm'}",
            "data.categorical=[user, item]",
            "model.embedding_dim=4",
            "model.hidden=[16]",
            "model.mlp1_hidden=[16]",
            "model.mlp2_hidden=[8]",
            "model.fs_hidden=[8]",
            "model.num_heads=2",
            "train.epochs=4",
            "train.batch_size=128",
            "train.learning_rate=0.02",
            "train.ensemble=1",
        ],
    )
    assert config.model.kind == "auto" and config.data.group_field == "auto"
    result = run_quietly(task, config, tmp_path)
    report = result.report
    selection = report["model_selection"]
    names = [c["name"] for c in selection["candidates"]]
    assert names == ["deepfm", "deepfm_cross", "finalmlp", "finalmlp_cross"]
    best = max(selection["candidates"], key=lambda c: c["val_auc"])
    assert selection["chosen"] == best["name"]
    assert best["name"].endswith("_cross")
    # The chosen model was the one trained and exported: it crosses pairs.
    assert "user_x_item" in report["dataset"]["feature_processing"]["crosses"]
    test = report["metrics"]["test"]
    assert test["auc"] > 0.85
    assert test["gauc_groups"] > 0
    assert report["dataset"]["group_field"].startswith("auto: user")
    assert report["dataset"]["feature_processing"]["min_count"]["value"] == 1


def _libfm_task(tmp_path, monkeypatch, *overrides):
    """The CTR task on a small libFM file of user, item and hour fields."""
    monkeypatch.setenv("XENT_CACHE", str(tmp_path / "cache"))
    _write_libfm(tmp_path / "train.libfm", 300, 0)
    return load_task(
        "ctr",
        [
            f"data.source={tmp_path / 'train.libfm'}",
            "data.categorical=[user, item, hour]",
            "model.kind=lr",
            *overrides,
        ],
    )


def test_a_named_group_field_missing_from_a_file_is_an_error(tmp_path, monkeypatch):
    from xent.config import ConfigError

    task, config = _libfm_task(tmp_path, monkeypatch, "data.group_field=c2")
    with pytest.raises(ConfigError, match=r"data\.group_field='c2'"):
        task.build_inputs(config)


@pytest.mark.parametrize("value", [-1, "big", True])
def test_memory_cache_size_is_checked(value):
    from xent.config import ConfigError

    with pytest.raises(ConfigError, match=r"data\.memory_cache_mb"):
        load_task("ctr", [f"data.memory_cache_mb={json.dumps(value)}"])


def test_a_file_split_is_kept_in_memory_within_the_cache_size(tmp_path, monkeypatch):
    sizes = {}
    for mb in (0, 1):
        task, config = _libfm_task(tmp_path, monkeypatch, f"data.memory_cache_mb={mb}")
        data = task.build_inputs(config)
        pre = data.preprocessor
        features = data.splits.map(lambda s, pre=pre: s.map_inputs(pre))
        sizes[mb] = (features.train.cached(), features.validation.cached())
        assert not features.test.cached()  # Read once: never cached.
    assert sizes == {0: (False, False), 1: (True, True)}


def test_cross_top_crosses_a_files_two_largest_fields(tmp_path, monkeypatch):
    task, config = _libfm_task(tmp_path, monkeypatch, "features.cross_top=2")
    data = task.build_inputs(config)
    distinct = {
        c: s["distinct"]
        for c, s in data.summary["feature_processing"]["categorical"].items()
    }
    pair = sorted(["user", "item", "hour"], key=lambda c: (-distinct[c], c))[:2]
    assert f"{pair[0]}_x_{pair[1]}" in [spec.name for spec in data.state.specs]


@pytest.mark.parametrize("value", [1, "many", True])
def test_value_count_capacity_is_checked(value):
    from xent.config import ConfigError

    with pytest.raises(ConfigError, match=r"data\.value_count_capacity"):
        load_task("ctr", [f"data.value_count_capacity={json.dumps(value)}"])


def test_a_bounded_column_still_ranks_by_its_distinct_values(tmp_path, monkeypatch):
    """With a tiny capacity every column's counts are bounded; the cross of
    `cross_top` still takes the columns of most distinct values."""
    crosses = {}
    for capacity in (1_000_000, 4):
        task, config = _libfm_task(
            tmp_path,
            monkeypatch,
            "features.cross_top=2",
            f"data.value_count_capacity={capacity}",
        )
        data = task.build_inputs(config)
        crosses[capacity] = [s.name for s in data.state.specs if "_x_" in s.name]
    assert crosses[4] == crosses[1_000_000] and len(crosses[4]) == 1
