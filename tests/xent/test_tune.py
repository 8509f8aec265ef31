"""`xent.tune` and `xent tune`: the space, the scoring, resuming, the outputs."""

import json
import math
from pathlib import Path

import optuna
import pytest
import yaml
from google.protobuf import json_format
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.plugins.hparams import metadata as hparams_metadata

from xent import cli
from xent import config as config_lib
from xent import tune
from xent.callbacks import read_event_tags
from xent.pipelines import TASKS
from xent.pipelines.classification import ClassifierConfig

_BINARY = TASKS["binary"]


# --------------------------------------------------------------------------
# The space.
# --------------------------------------------------------------------------


def test_parse_space_reads_every_kind():
    space = tune.parse_space(
        {
            "train.learning_rate": {"log_uniform": [1.0e-4, 3.0e-3]},
            "model.dropout": {"uniform": [0, 0.4]},
            "model.members": {"int": [1, 8]},
            "model.embedding_dim": {"int": [2, 32], "log": True},
            "model.hidden": {"choice": [[128, 128], [], [256, 256, 256]]},
        },
        ClassifierConfig,
    )
    assert space == (
        tune.Dimension("train.learning_rate", "log_uniform", 1e-4, 3e-3, log=True),
        tune.Dimension("model.dropout", "uniform", 0.0, 0.4),
        tune.Dimension("model.members", "int", 1, 8),
        tune.Dimension("model.embedding_dim", "int", 2, 32, log=True),
        tune.Dimension(
            "model.hidden", "choice", choices=([128, 128], [], [256, 256, 256])
        ),
    )


@pytest.mark.parametrize(
    "key, spec, needle",
    [
        ("model.nope", {"uniform": [0, 1]}, "Unknown config key `model.nope`"),
        ("nope", {"uniform": [0, 1]}, "Unknown config key `nope`"),
        ("model", {"choice": [{}]}, "is a config section"),
        ("train.epochs.x", {"int": [1, 2]}, "`train.epochs` is a value"),
        ("model.dropout", {"uniform": [0.1]}, "expected [low, high]"),
        ("model.dropout", {"uniform": [0.3, 0.1]}, "expected low < high"),
        ("model.dropout", {"uniform": ["a", 1]}, "expected [low, high]"),
        ("model.dropout", {"uniform": [0, math.inf]}, "expected [low, high]"),
        ("train.learning_rate", {"log_uniform": [0, 1]}, "needs low > 0"),
        ("model.members", {"int": [1.5, 3]}, "two integers"),
        ("model.members", {"int": [0, 3], "log": True}, "needs low > 0"),
        ("model.dropout", {"uniform": [0, 1], "log": True}, "goes only with int"),
        ("model.dropout", {"normal": [0, 1]}, "expected one of"),
        ("model.dropout", {"uniform": [0, 1], "choice": [0]}, "expected one of"),
        ("model.dropout", 0.3, "expected one of"),
        ("model.dropout", {"choice": []}, "non-empty list"),
        ("model.dropout", {"choice": [0.1, 0.1]}, "repeated values"),
        # Bounds and choices are checked as values of the config.
        ("train.batch_size", {"uniform": [16, 64]}, "expected an integer"),
        ("train.learning_rate", {"uniform": [0, 0.1]}, "learning_rate"),
        ("model.kind", {"choice": ["mlp", "resnet"]}, "resnet"),
        ("model.hidden", {"choice": [[64], "wide"]}, "expected a list"),
    ],
)
def test_parse_space_names_the_key_of_each_mistake(key, spec, needle):
    with pytest.raises(config_lib.ConfigError) as err:
        tune.parse_space({key: spec}, ClassifierConfig, "s.yaml")
    message = str(err.value)
    assert needle in message
    assert f"`{key}" in message and "s.yaml" in message
    assert "\n" not in message


@pytest.mark.parametrize("data", [{}, [], "train.epochs"])
def test_parse_space_wants_a_mapping(data):
    with pytest.raises(config_lib.ConfigError, match="expected a mapping"):
        tune.parse_space(data, ClassifierConfig, "s.yaml")


def test_load_space_names_a_missing_file(tmp_path):
    with pytest.raises(config_lib.ConfigError, match="not found"):
        tune.load_space(tmp_path / "none.yaml", ClassifierConfig)


@pytest.mark.parametrize("name", ["binary", "ctr", "multiclass"])
def test_shipped_spaces_parse_and_name_config_keys(name):
    task = TASKS[name]
    path = tune.default_space_path(task)
    assert path.parent == Path(task.defaults).parent
    space = tune.load_space(path, task.config_class)
    assert len(space) >= 4
    # Every key is a value of the task's default config.
    resolved = config_lib.to_dict(
        config_lib.load_config(task.config_class, task.defaults)
    )
    for dim in space:
        node = resolved
        for part in dim.key.split("."):
            node = node[part]
        assert not isinstance(node, dict), dim.key


def test_multiclass_space_follows_the_data_cnn_for_digits_tabular_for_csv(tmp_path):
    task = TASKS["multiclass"]
    path = tune.default_space_path(task)
    digits = config_lib.load_config(task.config_class, task.defaults)
    csv = config_lib.load_config(
        task.config_class, task.defaults, overrides=["data.source=x.csv"]
    )
    cnn_keys = {d.key for d in tune.load_space(path, task.config_class, digits)}
    table_keys = {d.key for d in tune.load_space(path, task.config_class, csv)}
    assert "model.filters" in cnn_keys and "model.frequency_scale" not in cnn_keys
    assert "model.frequency_scale" in table_keys and "model.filters" not in table_keys
    # Without a config the file's own (tabular) space.
    assert {d.key for d in tune.load_space(path, task.config_class)} == table_keys


@pytest.mark.parametrize(
    "profiles",
    [
        "profiles: {when: {}, space: {}}",
        "profiles: [{when: {data.source: x}}]",
        "profiles: [{when: {data.source: x}, space: {model.nope: {choice: [1]}}}]",
    ],
)
def test_space_profiles_are_checked(tmp_path, profiles):
    path = tmp_path / "s.yaml"
    path.write_text("model.dropout: {uniform: [0, 0.4]}\n" + profiles + "\n")
    with pytest.raises(config_lib.ConfigError, match="s.yaml"):
        tune.load_space(path, ClassifierConfig)


def test_override_reads_back_as_the_value():
    for value in (1e-05, 0.0003, 0.0, 64, [128, 128], [], "deepfm", True, None):
        data = config_lib.apply_overrides({}, [tune.override("a.b", value)])
        assert data == {"a": {"b": value}}
        assert type(data["a"]["b"]) is type(value)


def test_suggest_and_settings_decode_the_choices():
    space = tune.parse_space(
        {
            "model.hidden": {"choice": [[64, 32], []]},
            "model.kind": {"choice": ["mlp", "tabular"]},
            "model.members": {"int": [1, 8]},
        },
        ClassifierConfig,
    )
    params = {"model.hidden": "[64, 32]", "model.kind": "mlp", "model.members": 3}
    trial = optuna.trial.FixedTrial(params)
    assert [tune.suggest(trial, dim) for dim in space] == [[64, 32], "mlp", 3]
    assert tune.settings(space, params) == {
        "model.hidden": [64, 32],
        "model.kind": "mlp",
        "model.members": 3,
    }


# --------------------------------------------------------------------------
# Scoring.
# --------------------------------------------------------------------------


def test_render_table_marks_the_best_trial():
    rows = [
        tune.TrialRow(0, "COMPLETE", {"model.dropout": 0.25}, 0.31, 2.0, "trials/0"),
        tune.TrialRow(1, "COMPLETE", {"model.dropout": 0.125}, 0.2, 3.0, "trials/1"),
        tune.TrialRow(2, "FAIL", {}, None, None, "trials/2"),
    ]
    lines = tune.render_table(rows, "val_loss", best=1).splitlines()
    assert lines[0].split() == [
        "trial",
        "state",
        "val_loss",
        "seconds",
        "model.dropout",
    ]
    assert lines[1].split() == ["0", "COMPLETE", "0.31", "2.0", "0.25"]
    assert lines[2].split() == ["*", "1", "COMPLETE", "0.2", "3.0", "0.125"]
    assert lines[3].split() == ["2", "FAIL", "-", "-", "-"]


# --------------------------------------------------------------------------
# Resuming.
# --------------------------------------------------------------------------


def test_recover_interrupted_fails_and_enqueues_once(tmp_path):
    space = tune.parse_space(
        {"model.dropout": {"uniform": [0, 0.4]}, "model.hidden": {"choice": [[8], []]}},
        ClassifierConfig,
    )
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'study.db'}")
    states = optuna.trial.TrialState

    def started(run_dir):
        trial = study.ask()
        for dim in space:
            tune.suggest(trial, dim)
        trial.set_user_attr(tune.RUN_DIR, run_dir)
        return trial

    killed = started("trials/0")  # its process died: left RUNNING
    study.tell(started("trials/1"), 0.5)
    stopped = started("trials/2")  # Ctrl-C
    stopped.set_user_attr(tune.INTERRUPTED, True)
    study.tell(stopped, state=states.FAIL)
    study.tell(started("trials/3"), state=states.FAIL)  # diverged: not again

    assert tune.recover_interrupted(study) == [0, 2]
    trials = study.get_trials()
    assert [t.state for t in trials] == [
        states.FAIL,
        states.COMPLETE,
        states.FAIL,
        states.FAIL,
        states.WAITING,
        states.WAITING,
    ]
    for waiting, source in zip(trials[4:], (killed, stopped), strict=True):
        assert waiting.user_attrs == {
            tune.RESUMES: source.number,
            tune.RUN_DIR: f"trials/{source.number}",
        }
    # They run with the settings of the trials they replace.
    study.optimize(lambda t: [tune.suggest(t, d) for d in space] and 0.0, n_trials=2)
    trials = study.get_trials()
    assert [t.params for t in trials[4:]] == [killed.params, stopped.params]
    # A second resume does not enqueue them again.
    assert tune.recover_interrupted(study) == []
    assert len(study.get_trials()) == 6


# --------------------------------------------------------------------------
# The command.
# --------------------------------------------------------------------------


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("xent tune: error: ")]
    assert len(lines) == 1, err
    return lines[0]


def test_unknown_task_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["tune", "regression", "--trials", "1"])
    assert exit_.value.code == 2
    assert "invalid choice: 'regression'" in _error_line(capsys)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--trials", "0"], "Invalid value for --trials"),
        (["--trials", "1", "--timeout", "0"], "Invalid value for --timeout"),
        (["--trials", "1", "--set", "train.learning_rate=0.01"], "both searched"),
        (["--trials", "1", "--strategy", "multi_worker"], "one process"),
    ],
)
def test_bad_arguments_are_one_line(tmp_path, capsys, args, needle):
    status = cli.main(["tune", "binary", "--run-dir", str(tmp_path / "t"), *args])
    assert status == 2
    assert needle in _error_line(capsys)
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize(
    "text, needle",
    [
        ("model.nope: {uniform: [0, 1]}\n", "Unknown config key `model.nope`"),
        ("model.dropout: {uniform: [1, 0]}\n", "`model.dropout`: uniform"),
        ("model.dropout: [0, 1\n", "Cannot parse"),
        ("train.ensemble: {choice: [1, 2]}\n", "`train.ensemble` cannot be searched"),
        ("train.refit: {choice: [false, true]}\n", "`train.refit` cannot be searched"),
    ],
)
def test_bad_space_files_are_one_line(tmp_path, capsys, text, needle):
    space = tmp_path / "space.yaml"
    space.write_text(text)
    status = cli.main(["tune", "binary", "--trials", "1", "--space", str(space)])
    assert status == 2
    assert needle in _error_line(capsys)


def test_gan_has_no_validation_metric(capsys):
    assert cli.main(["tune", "gan", "--trials", "1"]) == 2
    assert "no validation metric" in _error_line(capsys)


def test_a_directory_holding_something_else_is_refused(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert cli.main(["tune", "binary", "--trials", "1", "--run-dir", str(tmp_path)])
    assert "holds no search" in _error_line(capsys)


# --------------------------------------------------------------------------
# A whole search: 1 trial, resumed to 2, then a killed trial resumed.
# --------------------------------------------------------------------------

_SPACE = """\
train.learning_rate: {log_uniform: [1.0e-3, 3.0e-2]}
model.dropout: {uniform: [0.0, 0.3]}
model.hidden: {choice: [[], [8]]}
"""
# The final run trains an ensemble of two and refits it; trials train one
# network each, without refit.
_BASE = ["train.epochs=2", "model.members=1", "train.ensemble=2", "train.refit=true"]


def _rows(tune_dir: Path) -> list[dict]:
    return json.loads((tune_dir / tune.TRIALS_FILE).read_text())


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    """The tune directory after `--trials 1`, `--trials 2`, and `--trials 3`
    with a trial left RUNNING by a killed process; the rows after each."""
    tmp = tmp_path_factory.mktemp("tune")
    space = tmp / "space.yaml"
    space.write_text(_SPACE)
    tune_dir = tmp / "search"

    def xent_tune(trials: int) -> list[dict]:
        args = ["tune", "binary", "--trials", str(trials), "--quiet"]
        args += ["--run-dir", str(tune_dir), "--space", str(space)]
        args += ["--saved-models", str(tmp / "saved")]
        for item in _BASE:
            args += ["--set", item]
        assert cli.main(args) == 0
        return _rows(tune_dir)

    steps = {"one": xent_tune(1), "two": xent_tune(2)}
    # A third trial whose process is killed after sampling its settings.
    study = optuna.load_study(
        study_name=tune.STUDY_NAME, storage=f"sqlite:///{tune_dir / 'study.db'}"
    )
    killed = study.ask()
    for dim in tune.load_space(space, _BINARY.config_class):
        tune.suggest(killed, dim)
    killed.set_user_attr(tune.RUN_DIR, "trials/2")
    steps["killed"] = dict(killed.params)
    steps["three"] = xent_tune(3)
    return tune_dir, tmp, steps


def test_resume_runs_only_the_missing_trials(search):
    _, _, steps = search
    assert [r["trial"] for r in steps["one"]] == [0]
    assert [r["trial"] for r in steps["two"]] == [0, 1]
    # Trial 0 was not run again.
    assert steps["two"][0] == steps["one"][0]
    assert all(r["state"] == "COMPLETE" for r in steps["two"])


def test_the_first_trial_is_the_defaults_the_space_holds(search):
    _, _, steps = search
    first = steps["one"][0]["settings"]
    # binary.yaml's learning rate and dropout lie in the space; its hidden
    # layers ([256, 256]) are not a choice there, so they were sampled.
    assert first["train.learning_rate"] == 1e-3
    assert first["model.dropout"] == 0.1
    assert first["model.hidden"] in ([], [8])


def test_a_killed_trial_is_failed_and_run_again_in_its_directory(search):
    tune_dir, _, steps = search
    space = tune.parse_space(yaml.safe_load(_SPACE), ClassifierConfig)
    rows = steps["three"]
    assert [(r["trial"], r["state"]) for r in rows] == [
        (0, "COMPLETE"),
        (1, "COMPLETE"),
        (2, "FAIL"),
        (3, "COMPLETE"),
    ]
    assert rows[3]["settings"] == tune.settings(space, steps["killed"])
    assert rows[3]["run_dir"] == "trials/2"
    assert (tune_dir / "trials/2/report.json").is_file()
    assert not (tune_dir / "trials/3").exists()


def test_trials_are_scored_on_their_validation_history(search):
    tune_dir, _, steps = search
    for row in steps["three"]:
        if row["state"] != "COMPLETE":
            continue
        report = json.loads((tune_dir / row["run_dir"] / "report.json").read_text())
        assert row["value"] == min(report["training"]["history"]["val_loss"])
        config = report["config"]
        for key, value in row["settings"].items():
            section, name = key.rsplit(".", 1)
            assert config[section][name] == value


def test_best_yaml_holds_the_best_settings(search):
    tune_dir, _, steps = search
    complete = [r for r in steps["three"] if r["state"] == "COMPLETE"]
    best = min(complete, key=lambda r: r["value"])
    settings = best["settings"]
    assert config_lib.read_yaml(tune_dir / tune.BEST_FILE) == {
        "train": {"learning_rate": settings["train.learning_rate"]},
        "model": {
            "dropout": settings["model.dropout"],
            "hidden": settings["model.hidden"],
        },
    }
    config = config_lib.load_config(
        _BINARY.config_class, _BINARY.defaults, tune_dir / tune.BEST_FILE, _BASE
    )
    assert config.train.learning_rate == best["settings"]["train.learning_rate"]
    assert config.model.dropout == best["settings"]["model.dropout"]
    assert list(config.model.hidden) == best["settings"]["model.hidden"]
    assert "--set train.epochs=2" in (tune_dir / tune.BEST_FILE).read_text()


def test_final_model_is_the_best_trial_tested_and_exported(search):
    tune_dir, tmp, steps = search
    complete = [r for r in steps["three"] if r["state"] == "COMPLETE"]
    best = min(complete, key=lambda r: r["value"])
    final = tune_dir / tune.FINAL_DIR
    final_config = yaml.safe_load((final / "config.yaml").read_text())
    trial_config = yaml.safe_load(
        (tune_dir / best["run_dir"] / "config.yaml").read_text()
    )
    # The best trial's settings, with the ensemble and refit the trials left out.
    assert trial_config["train"].pop("ensemble") == 1
    assert final_config["train"].pop("ensemble") == 2
    assert trial_config["train"].pop("refit") is False
    assert final_config["train"].pop("refit") is True
    assert final_config == trial_config
    report = json.loads((final / "report.json").read_text())
    assert [m["seed"] for m in report["training"]["ensemble"]["members"]] == [0, 1]
    assert [n["seed"] for n in report["training"]["refit"]["networks"]] == [0, 1]
    trial_report = json.loads((tune_dir / best["run_dir"] / "report.json").read_text())
    assert "refit" not in trial_report["training"]
    assert report["tuning"]["metric"] == "val_loss"
    assert report["tuning"]["best"]["trial"] == best["trial"]
    assert report["tuning"]["trials"] == steps["three"]
    assert (Path(report["export"]) / "saved_model.pb").is_file()
    assert Path(report["export"]).parent == tmp / "saved" / "binary"
    page = (final / "report.html").read_text()
    assert "Hyperparameter search" in page and f"{best['trial']} (best)" in page
    assert '<img src="roc.png"' in page


def _logged_hparams(log_dir: Path) -> dict:
    """The hparams of the session start summary under `log_dir`."""
    for path in log_dir.glob("*tfevents*"):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.tag == "_hparams_/session_start_info":
                    content = value.metadata.plugin_data.content
                    info = hparams_metadata.parse_session_start_info_plugin_data(
                        content
                    )
                    return {
                        k: json_format.MessageToDict(v) for k, v in info.hparams.items()
                    }
    return {}


def test_trial_logs_sit_under_the_tune_dir_with_hparams(search):
    tune_dir, _, steps = search
    tags = read_event_tags(tune_dir)
    for row in steps["three"]:
        if row["state"] != "COMPLETE":
            continue
        assert "_hparams_/session_start_info" in tags[f"{row['run_dir']}/logs"]
        logged = _logged_hparams(tune_dir / row["run_dir"] / "logs")
        assert logged["train.learning_rate"] == row["settings"]["train.learning_rate"]
        assert logged["model.dropout"] == row["settings"]["model.dropout"]
        assert logged["model.hidden"] == str(row["settings"]["model.hidden"])


def test_a_complete_search_runs_nothing_more(search, capsys):
    tune_dir, tmp, steps = search
    before = {p: p.stat().st_mtime_ns for p in (tune_dir / "trials").rglob("*")}
    args = ["tune", "binary", "--trials", "3", "--quiet", "--run-dir", str(tune_dir)]
    args += ["--space", str(tmp / "space.yaml"), "--saved-models", str(tmp / "saved")]
    for item in _BASE:
        args += ["--set", item]
    assert cli.main(args) == 0
    assert _rows(tune_dir) == steps["three"]
    assert {p: p.stat().st_mtime_ns for p in (tune_dir / "trials").rglob("*")} == before
    # Another config is not mixed into this study.
    capsys.readouterr()
    other = [*args[: -2 * len(_BASE)], "--set", "train.epochs=3"]
    other += ["--set", "model.members=1", "--set", "train.ensemble=2"]
    other += ["--set", "train.refit=true"]
    assert cli.main(other) == 2
    assert "`train.epochs`: 2 there, 3 now" in _error_line(capsys)
