"""Hyperparameter search: `xent tune TASK`, Optuna's TPE over a declared space.

Each trial is an ordinary run (`xent.runner.run`) of the task's config with
the trial's settings applied as `--set` overrides, scored by the best value
of the monitored validation metric (`train.monitor`, else the task's) in its
training history: the test split is never read to choose. A trial trains one
network (`train.ensemble` is 1 in trials, and cannot be searched); the best
settings are then trained once more, with the configured ensemble, tested
once and exported.

    <tune dir>/                 default runs/tune-<task>-<timestamp>
        study.db                Optuna's storage: the search resumes from it
        trials/<number>/        each trial's run directory; its logs/ hold
                                TensorBoard logs with the whole config as
                                hparams (`tensorboard --logdir <tune dir>`)
        trials.json             one row per trial (`TrialRow`)
        best.yaml               the best settings: `xent train --config`
        final/                  the best settings retrained (same seed),
                                tested and exported; report.json has `tuning`

The search space of a task lives next to its defaults,
`pipelines/<task>.search.yaml`: dotted config keys mapped to one of

    {uniform: [low, high]}          a float
    {log_uniform: [low, high]}      a float on a log scale (low > 0)
    {int: [low, high]}              an integer, `log: true` for a log scale
    {choice: [a, b, ...]}           one of the values (lists allowed)

Resuming. Running the same command with the same `--run-dir` continues the
search: `--trials N` counts the completed trials of the whole study. A trial
left RUNNING by a killed process (or stopped by Ctrl-C) is marked failed and
its settings are enqueued again, with its run directory, which the runner
resumes from its last completed epoch. One process per tune directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import math
import re
import shlex
import shutil
import time
import typing
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from html import unescape
from pathlib import Path
from typing import Any
from typing import Literal

import keras
import optuna
import yaml

from xent import config as config_lib
from xent import report as report_lib
from xent import runner

__all__ = [
    "Dimension",
    "TrialRow",
    "TuneResult",
    "default_params",
    "default_space_path",
    "load_space",
    "one_network",
    "override",
    "parse_space",
    "recover_interrupted",
    "render_table",
    "settings",
    "suggest",
    "tune",
]

KINDS = ("uniform", "log_uniform", "int", "choice")
YAML_END = "\n...\n"
STUDY_NAME = "xent-tune"
STUDY_FILE = "study.db"
TRIALS_DIR = "trials"
TRIALS_FILE = "trials.json"
BEST_FILE = "best.yaml"
FINAL_DIR = "final"
FINAL_ONLY_KEYS = ("train.ensemble", "train.refit")
"""Keys only the final run uses: a trial trains one network, without refit."""
# Trial user attributes.
RUN_DIR = "run_dir"
"""The trial's run directory, relative to the tune directory."""
INTERRUPTED = "interrupted"
"""Set when Ctrl-C stopped the trial: it is run again on resume."""
RESUMES = "resumes"
"""On a re-enqueued trial: the number of the trial it continues."""
# Study user attributes: what a resumed search must match.
_IDENTITY = ("metric", "base", "space")

Kind = Literal["uniform", "log_uniform", "int", "choice"]


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One searched config key.

    Attributes:
        key: The dotted config key, e.g. `train.learning_rate`.
        kind: `uniform`, `log_uniform`, `int` or `choice`.
        low: Lower bound, inclusive (not `choice`).
        high: Upper bound, inclusive (not `choice`).
        log: `int`: sample on a log scale (`log_uniform` always does).
        choices: `choice`: the config values to choose among.
    """

    key: str
    kind: Kind
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()


@dataclasses.dataclass(frozen=True)
class TrialRow:
    """One trial of a search, as `trials.json` and the report show it.

    Attributes:
        trial: Optuna's trial number.
        state: `COMPLETE`, `FAIL`, `RUNNING` or `WAITING`.
        settings: The sampled config values, by dotted key.
        value: Best validation value of the metric (None unless complete).
        seconds: Wall time of the trial (None while not finished).
        run_dir: The trial's run directory, relative to the tune directory.
    """

    trial: int
    state: str
    settings: dict[str, Any]
    value: float | None
    seconds: float | None
    run_dir: str | None


@dataclasses.dataclass(frozen=True)
class TuneResult:
    """What a search produced.

    Attributes:
        tune_dir: The tune directory.
        metric: The validation metric searched on.
        direction: `minimize` or `maximize`.
        rows: Every trial of the study.
        best: The best complete trial.
        best_config: `best.yaml`.
        final: The final run (best settings, tested once, exported).
    """

    tune_dir: Path
    metric: str
    direction: str
    rows: tuple[TrialRow, ...]
    best: TrialRow
    best_config: Path
    final: runner.RunResult


# --------------------------------------------------------------------------
# The search space.
# --------------------------------------------------------------------------


def default_space_path(task: runner.Task) -> Path:
    """`pipelines/<task>.search.yaml`, next to the task's defaults."""
    return Path(task.defaults).with_name(f"{task.name}.search.yaml")


def load_space(
    path: str | Path, config_class: type, config: Any = None
) -> tuple[Dimension, ...]:
    """Reads and checks a search space file (see `parse_space`).

    Besides the keys, a file may hold `profiles`: a list of `{when: {dotted.key:
    value}, space: {...}}`; the first whose `when` values all hold in
    `config` (the resolved base config, as in a defaults file's profiles)
    replaces the file's space, e.g. the CNN's keys for the bundled digits.

    Raises:
        ConfigError: If the file is missing, unparsable or malformed.
    """
    try:
        data = dict(config_lib.read_yaml(path))
    except config_lib.ConfigError as err:
        # YAML's messages span lines; the command line prints one.
        raise config_lib.ConfigError(" ".join(str(err).split())) from None
    profiles = config_lib.check_profiles(
        data.pop(config_lib.PROFILES_KEY, []), f"search space {path}", "space"
    )
    resolved = config_lib.to_dict(config) if config is not None else None
    for profile in profiles:
        # Every profile's space is checked, the chosen one or not.
        parse_space(profile["space"], config_class, f"{path} (profile)")
        if resolved is not None and config_lib.profile_matches(
            profile["when"], resolved
        ):
            data = profile["space"]
            resolved = None
    return parse_space(data, config_class, str(path))


def parse_space(
    data: Mapping[str, Any], config_class: type, source: str = "search space"
) -> tuple[Dimension, ...]:
    """Checks a search space mapping against a task's config dataclass.

    Every key must name a value (not a section) of `config_class`, and every
    bound and choice must be a valid value of it.

    >>> from xent.pipelines.classification import ClassifierConfig
    >>> space = parse_space({"model.dropout": {"uniform": [0, 0.4]}}, ClassifierConfig)
    >>> space[0].kind, space[0].low, space[0].high
    ('uniform', 0.0, 0.4)

    Args:
        data: Dotted config key -> `{kind: arguments}` (plus `log` for int).
        config_class: The task's config dataclass.
        source: Where `data` comes from, for messages.

    Returns:
        The dimensions, in the order given.

    Raises:
        ConfigError: Naming the source and the key at fault.
    """
    if not isinstance(data, Mapping) or not data:
        raise config_lib.ConfigError(
            f"Invalid search space {source}: expected a mapping of config keys "
            "to {uniform|log_uniform|int|choice: ...}, received "
            f"{'an empty one' if isinstance(data, Mapping) else repr(data)}"
        )
    return tuple(
        _dimension(key, spec, config_class, source) for key, spec in data.items()
    )


def _dimension(key: Any, spec: Any, config_class: type, source: str) -> Dimension:
    def fail(reason: str) -> config_lib.ConfigError:
        return config_lib.ConfigError(
            f"Invalid search space {source}: `{key}`: {reason}"
        )

    if not isinstance(key, str) or not key:
        raise fail("keys must be dotted config keys, e.g. train.learning_rate")
    _check_key(config_class, key, source)
    kinds = [k for k in KINDS if isinstance(spec, Mapping) and k in spec]
    extra = sorted(set(spec) - {*KINDS, "log"}) if isinstance(spec, Mapping) else []
    if len(kinds) != 1 or extra:
        raise fail(
            f"expected one of {{uniform: [low, high]}}, {{log_uniform: [low, "
            f"high]}}, {{int: [low, high], log: false}}, {{choice: [...]}}; "
            f"received {spec!r}"
        )
    kind = kinds[0]
    if "log" in spec and (kind != "int" or not isinstance(spec["log"], bool)):
        raise fail("`log: true|false` goes only with int (log_uniform is log)")
    args = spec[kind]
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise fail(f"choice: expected a non-empty list, received {args!r}")
        labels = [_label(v) for v in args]
        if len(set(labels)) != len(labels):
            raise fail(f"choice: repeated values in {args!r}")
        dim = Dimension(key, "choice", choices=tuple(args))
        values = list(args)
    else:
        number = int if kind == "int" else (int, float)
        if (
            not isinstance(args, list)
            or len(args) != 2
            or not all(isinstance(v, number) and not isinstance(v, bool) for v in args)
            or not all(math.isfinite(v) for v in args)
        ):
            what = "integers" if kind == "int" else "numbers"
            raise fail(f"{kind}: expected [low, high], two {what}; received {args!r}")
        low, high = args
        if not low < high:
            raise fail(f"{kind}: expected low < high, received {args!r}")
        log = kind == "log_uniform" or bool(spec.get("log", False))
        if log and low <= 0:
            raise fail(f"{kind}: a log scale needs low > 0, received {args!r}")
        if kind != "int":
            low, high = float(low), float(high)
        dim = Dimension(key, kind, low=low, high=high, log=log)
        values = [low, high]
    for value in values:
        try:
            config_lib.from_dict(
                config_class, config_lib.apply_overrides({}, [override(key, value)])
            )
        except config_lib.ConfigError as err:
            raise fail(str(err)) from None
    return dim


def _check_key(config_class: type, key: str, source: str) -> None:
    """Raises ConfigError unless `key` names a value of `config_class`."""
    node: Any = config_class
    parts = key.split(".")
    for i, part in enumerate(parts):
        section = ".".join(parts[:i])
        if not dataclasses.is_dataclass(node):
            raise config_lib.ConfigError(
                f"Invalid search space {source}: `{key}`: `{section}` is a "
                "value, not a section"
            )
        names = sorted(f.name for f in dataclasses.fields(node) if f.init)
        if part not in names:
            where = f" in `{section}`" if section else ""
            raise config_lib.ConfigError(
                f"Unknown config key `{key}` in search space {source}. Allowed "
                f"keys{where}: {names}"
            )
        node = typing.get_type_hints(node)[part]
    if dataclasses.is_dataclass(node):
        raise config_lib.ConfigError(
            f"Invalid search space {source}: `{key}` is a config section; "
            "search its values (e.g. `" + key + ".<key>`)"
        )


def _label(value: Any) -> Any:
    """Optuna's name of a choice: the value itself when it is a scalar Optuna
    stores, else its JSON text (e.g. `"[128, 128]"` for hidden layers)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value)


def _labels(dim: Dimension) -> list[Any]:
    labels = [_label(v) for v in dim.choices]
    # All as text when any is text-encoded, so that "[1]" cannot stand for
    # both the string and the list.
    if any(
        not isinstance(v, str) and isinstance(x, str)
        for v, x in zip(dim.choices, labels, strict=True)
    ):
        return [json.dumps(v) for v in dim.choices]
    return labels


def suggest(trial: optuna.Trial, dim: Dimension) -> Any:
    """Samples `dim` in `trial`; returns the config value."""
    if dim.kind == "choice":
        labels = _labels(dim)
        return dim.choices[labels.index(trial.suggest_categorical(dim.key, labels))]
    if dim.kind == "int":
        return trial.suggest_int(dim.key, int(dim.low), int(dim.high), log=dim.log)
    return trial.suggest_float(dim.key, dim.low, dim.high, log=dim.log)


def default_params(space: Sequence[Dimension], config: Any) -> dict[str, Any]:
    """Optuna params of `config`'s own values, for the dimensions that hold
    them (a choice among its values, a number within the bounds).

    A new study runs them first, so that a search starts from the task's
    defaults and its best trial is never worse than them on validation.

    >>> from xent.pipelines.classification import ClassifierConfig
    >>> space = parse_space({"model.hidden": {"choice": [[64], [64, 32]]},
    ...                      "model.dropout": {"uniform": [0.2, 0.4]}},
    ...                     ClassifierConfig)
    >>> default_params(space, ClassifierConfig())  # dropout 0.1: outside
    {'model.hidden': '[64, 32]'}
    """
    resolved = config_lib.to_dict(config)
    params = {}
    for dim in space:
        value: Any = resolved
        for part in dim.key.split("."):
            value = value[part]
        if dim.kind == "choice":
            # As plain data (tuples as lists), like the resolved config.
            listed = [json.loads(json.dumps(c)) for c in dim.choices]
            if value in listed:
                params[dim.key] = _labels(dim)[listed.index(value)]
            continue
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if number and dim.low <= value <= dim.high:
            if dim.kind != "int":
                params[dim.key] = float(value)
            elif value == int(value):
                params[dim.key] = int(value)
    return params


def settings(space: Sequence[Dimension], params: Mapping[str, Any]) -> dict[str, Any]:
    """The config values of a trial's Optuna `params` (choices decoded)."""
    values = {}
    for dim in space:
        if dim.key not in params:
            continue
        value = params[dim.key]
        if dim.kind == "choice":
            value = dim.choices[_labels(dim).index(value)]
        values[dim.key] = value
    return values


def override(key: str, value: Any) -> str:
    """A `key=value` override that `xent.config.apply_overrides` reads back as
    `value` (YAML flow style; `1e-05` would be read as a string).

    >>> override("train.learning_rate", 1e-05)
    'train.learning_rate=1.0e-05'
    >>> override("model.hidden", [128, 128])
    'model.hidden=[128, 128]'
    """
    text = yaml.safe_dump(value, default_flow_style=True, width=math.inf)
    # A scalar document ends with YAML's end marker.
    return f"{key}={text.removesuffix(YAML_END).strip()}"


def _overrides(values: Mapping[str, Any]) -> list[str]:
    return [override(key, value) for key, value in values.items()]


# --------------------------------------------------------------------------
# Scoring.
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# The study.
# --------------------------------------------------------------------------


def recover_interrupted(study: optuna.Study) -> list[int]:
    """Fails the trials a killed process left RUNNING and enqueues the
    settings of those and of the trials Ctrl-C stopped, once, with their run
    directories (the runner resumes them from their last completed epoch).

    Returns:
        The numbers of the trials enqueued again.
    """
    trials = study.get_trials(deepcopy=False)
    done = {t.user_attrs.get(RESUMES) for t in trials}
    again = []
    for t in trials:
        stale = t.state == optuna.trial.TrialState.RUNNING
        if stale:
            study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        stopped = t.state == optuna.trial.TrialState.FAIL and t.user_attrs.get(
            INTERRUPTED
        )
        if (stale or stopped) and t.number not in done:
            attrs = {RESUMES: t.number}
            if RUN_DIR in t.user_attrs:
                attrs[RUN_DIR] = t.user_attrs[RUN_DIR]
            study.enqueue_trial(dict(t.params), user_attrs=attrs)
            again.append(t.number)
    return again


def _trial_row(t: optuna.trial.FrozenTrial, space: Sequence[Dimension]) -> TrialRow:
    return TrialRow(
        trial=t.number,
        state=t.state.name,
        settings=settings(space, t.params),
        value=t.value if t.state == optuna.trial.TrialState.COMPLETE else None,
        seconds=None if t.duration is None else t.duration.total_seconds(),
        run_dir=t.user_attrs.get(RUN_DIR),
    )


def render_table(rows: Sequence[TrialRow], metric: str, best: int | None) -> str:
    """The results table: one line per trial, the best marked with `*`."""
    keys = list(dict.fromkeys(k for row in rows for k in row.settings))
    header = ["", "trial", "state", metric, "seconds", *keys]
    lines = [header]
    for row in rows:
        lines.append(
            [
                "*" if row.trial == best else "",
                str(row.trial),
                row.state,
                "-" if row.value is None else f"{row.value:.6g}",
                "-" if row.seconds is None else f"{row.seconds:.1f}",
                *(_text(row.settings[k]) if k in row.settings else "-" for k in keys),
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value) if isinstance(value, (list, tuple)) else str(value)


@contextlib.contextmanager
def _optuna_warnings_only() -> Iterator[None]:
    """Optuna logs every trial at INFO; the search logs its own lines."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


def _open_study(
    path: Path, goal: str, seed: int, identity: dict[str, Any]
) -> optuna.Study:
    """Creates or loads the study; a loaded one must search the same thing."""
    if path.exists() and any(path.iterdir()) and not (path / STUDY_FILE).is_file():
        raise config_lib.ConfigError(
            f"Tune directory {path} exists, is not empty and holds no search "
            f"({STUDY_FILE}); choose another --run-dir"
        )
    path.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        storage=f"sqlite:///{path.resolve() / STUDY_FILE}",
        study_name=STUDY_NAME,
        sampler=optuna.samplers.TPESampler(seed=seed),
        direction=goal,
        load_if_exists=True,
    )
    stored = study.user_attrs
    if not stored:
        for key in _IDENTITY:
            study.set_user_attr(key, identity[key])
        return study
    for key in _IDENTITY:
        old, new = stored.get(key), json.loads(json.dumps(identity[key]))
        if old != new:
            what = key
            if isinstance(old, dict) and isinstance(new, dict):
                what = next(
                    f"`{k}`: {old.get(k)!r} there, {new.get(k)!r} now"
                    for k in sorted(set(old) | set(new))
                    if old.get(k) != new.get(k)
                )
            raise config_lib.ConfigError(
                f"Tune directory {path} holds a search of another {key} ({what}); "
                "resume it with the same flags, or choose another --run-dir"
            )
    return study


# --------------------------------------------------------------------------
# The search.
# --------------------------------------------------------------------------


def tune(
    task: runner.Task,
    trials: int,
    *,
    user_config: str | Path | None = None,
    overrides: Sequence[str] = (),
    space: str | Path | None = None,
    tune_dir: str | Path | None = None,
    timeout: float | None = None,
    saved_models: str | Path = "saved_models",
    export: bool = True,
    verbose: int = 0,
    log: Callable[[str], None] = print,
) -> TuneResult:
    """Searches a task's settings, then trains, tests and exports the best.

    Args:
        task: The task plug-in.
        trials: Completed trials the study should hold in the end (a
            resumed study runs only the missing ones).
        user_config: Optional YAML file on top of the task's defaults.
        overrides: `key=value` overrides on top (the `xent train` flags).
        space: Search space file; default `default_space_path(task)`.
        tune_dir: The tune directory; default `runs/tune-<task>-<time>`.
            One holding a search of the same config and space resumes it.
        timeout: No trial starts after this many seconds (None: no limit).
        saved_models: Export base directory of the final model.
        export: Whether to export the final model.
        verbose: Keras progress setting of every run (0: silent).
        log: Where the search's lines go (trials, table, paths).

    Returns:
        A `TuneResult`.

    Raises:
        ConfigError: For `trials` or `timeout` below 1, a task without a
            validation metric, a multi_worker strategy, a malformed space,
            a key both searched and overridden, or a tune directory holding
            something else.
        TrainingDivergedError: If no trial completed (every one diverged).
    """
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise config_lib.ConfigError(
            f"Invalid value for --trials: expected an integer >= 1, received {trials!r}"
        )
    if timeout is not None and not timeout >= 1:
        raise config_lib.ConfigError(
            f"Invalid value for --timeout: expected seconds >= 1, received {timeout!r}"
        )
    base = config_lib.load_config(
        task.config_class, task.defaults, user_config, overrides
    )
    metric = task.monitor and (base.train.monitor or task.monitor)
    if not metric:
        raise config_lib.ConfigError(
            f"The {task.name} task has no validation metric to tune on"
        )
    if base.train.strategy == "multi_worker":
        raise config_lib.ConfigError(
            "xent tune runs its trials in one process: train.strategy="
            "multi_worker is not supported (default or mirrored are)"
        )
    goal = runner.direction(metric)
    space_path = Path(space) if space is not None else default_space_path(task)
    if space is None and not space_path.is_file():
        raise config_lib.ConfigError(
            f"The {task.name} task has no search space ({space_path.name}); give "
            "one with --space FILE"
        )
    dims = load_space(space_path, task.config_class, base)
    searched = {dim.key for dim in dims}
    for key in (k for k in FINAL_ONLY_KEYS if k in searched):
        raise config_lib.ConfigError(
            f"`{key}` cannot be searched ({space_path}): a trial is scored by "
            "one network's validation metric (one network, no refit); the "
            "final run trains with the configured value"
        )
    for item in overrides:
        key = item.partition("=")[0].strip()
        if key in searched:
            raise config_lib.ConfigError(
                f"`{key}` is both searched ({space_path}) and set by an override "
                f"({item}); drop one of them"
            )
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(tune_dir or Path("runs") / f"tune-{task.name}-{stamp}")
    identity = {
        "metric": metric,
        "base": runner.hparams(base),
        "space": [dataclasses.asdict(d) for d in dims],
    }

    def run_trial(trial: optuna.Trial) -> float:
        values = {dim.key: suggest(trial, dim) for dim in dims}
        # A trial enqueued again continues in the run directory of the one
        # it replaces.
        rel = trial.user_attrs.get(RUN_DIR) or f"{TRIALS_DIR}/{trial.number}"
        trial.set_user_attr(RUN_DIR, rel)
        config = one_network(
            config_lib.load_config(
                task.config_class,
                task.defaults,
                user_config,
                [*overrides, *_overrides(values)],
            )
        )
        keras.backend.clear_session()
        start = time.perf_counter()
        try:
            result = runner.run(
                task,
                config,
                run_dir=path / rel,
                saved_models=saved_models,
                export=False,
                verbose=verbose,
                # A trial's own lines (and its test metrics) stay in its
                # report: choosing reads validation only.
                log=lambda _: None,
            )
        except KeyboardInterrupt:
            trial.set_user_attr(INTERRUPTED, True)
            raise
        value = runner.best_value(result.report["training"]["history"], metric, goal)
        shown = ", ".join(f"{k}={_text(v)}" for k, v in values.items())
        log(
            f"trial {trial.number}: {metric} {value:.6g} in "
            f"{time.perf_counter() - start:.1f} s ({shown})"
        )
        return value

    with _optuna_warnings_only():
        study = _open_study(path, goal, base.train.seed, identity)
        again = recover_interrupted(study)
        if not study.trials:
            first = default_params(dims, base)
            if first:
                study.enqueue_trial(first)
        if again:
            log(f"resuming the interrupted trial(s) {again} in {path}")
        complete = optuna.trial.TrialState.COMPLETE
        missing = trials - len(study.get_trials(states=(complete,)))
        if missing > 0:
            log(
                f"tuning {task.name} on {metric} ({goal}): {missing} trial(s) to "
                f"run in {path}"
            )
            study.optimize(
                run_trial,
                n_trials=missing,
                timeout=timeout,
                catch=(runner.TrainingDivergedError,),
            )
        rows = tuple(_trial_row(t, dims) for t in study.get_trials())
        done = study.get_trials(states=(complete,))
        best_trial = study.best_trial if done else None

    runner.write_atomic(
        path / TRIALS_FILE,
        json.dumps(
            report_lib.to_jsonable([dataclasses.asdict(r) for r in rows]),
            indent=2,
            allow_nan=False,
        ),
    )
    best_number = None if best_trial is None else best_trial.number
    log("")
    log(render_table(rows, metric, best_number))
    log("")
    if best_trial is None:
        raise runner.TrainingDivergedError(
            f"no trial completed; see {path / TRIALS_FILE}"
        )
    best = next(r for r in rows if r.trial == best_number)
    best_path = path / BEST_FILE
    runner.write_atomic(
        best_path, _best_yaml(task, user_config, overrides, best, metric)
    )

    final_config = config_lib.load_config(
        task.config_class,
        task.defaults,
        user_config,
        [*overrides, *_overrides(best.settings)],
    )
    final_dir = path / FINAL_DIR
    _clear_stale_final(final_dir, final_config, log)
    keras.backend.clear_session()
    final = runner.run(
        task,
        final_config,
        run_dir=final_dir,
        saved_models=saved_models,
        export=export,
        verbose=verbose,
        log=log,
    )
    tuning = {
        "metric": metric,
        "direction": goal,
        "space": str(space_path),
        "tune_dir": str(path),
        "best": dataclasses.asdict(best),
        "trials": [dataclasses.asdict(r) for r in rows],
    }
    report = report_lib.to_jsonable({**final.report, "tuning": tuning})
    runner.write_atomic(
        final_dir / "report.html",
        report_lib.render_html(report, _page_images(final_dir / "report.html")),
    )
    runner.write_atomic(
        final.report_path, json.dumps(report, indent=2, allow_nan=False)
    )
    log(f"tune dir: {path}  (tensorboard --logdir {path})")
    log(f"best:     {best_path}")
    return TuneResult(
        tune_dir=path,
        metric=metric,
        direction=goal,
        rows=rows,
        best=best,
        best_config=best_path,
        final=dataclasses.replace(final, report=report),
    )


def one_network(config):
    """`config` with `train.ensemble` 1 and `train.refit` off (where it has
    the keys): what a trial trains, scored on its validation history."""
    train = config.train
    if getattr(train, "ensemble", 1) == 1 and not getattr(train, "refit", False):
        return config
    return dataclasses.replace(
        config, train=dataclasses.replace(train, ensemble=1, refit=False)
    )


def _best_yaml(
    task: runner.Task,
    user_config: str | Path | None,
    overrides: Sequence[str],
    best: TrialRow,
    metric: str,
) -> str:
    """`best.yaml`: the user's config file with the best settings on top,
    headed by the `xent train` command that trains them."""
    user = config_lib.read_yaml(user_config) if user_config is not None else {}
    data = config_lib.apply_overrides(user, _overrides(best.settings))
    command = ["xent", "train", task.name, "--config", BEST_FILE]
    for item in overrides:
        command += ["--set", item]
    header = (
        f"# Best settings of trial {best.trial} ({metric} {best.value:.6g}).\n"
        f"# Train them: {shlex.join(command)}\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=None)


def _clear_stale_final(
    final_dir: Path, config: Any, log: Callable[[str], None]
) -> None:
    """Removes a final run of settings that are no longer the best (a
    resumed search found better ones); its export stays."""
    saved = final_dir / runner.CONFIG_FILE
    if not saved.is_file():
        return
    expected = yaml.safe_load(yaml.safe_dump(config_lib.to_dict(config)))
    if yaml.safe_load(saved.read_text(encoding="utf-8")) != expected:
        log(f"the best settings changed: training {final_dir} again")
        shutil.rmtree(final_dir)


def _page_images(page: Path) -> dict[str, str]:
    """The plots of a report page the runner wrote, in its order: the page is
    rendered again with the tuning section, and the runner names a plot by
    its file name (`render_html(report, {name: name})`)."""
    if not page.is_file():
        return {}
    names = re.findall(r'<img src="([^"]*)"', page.read_text(encoding="utf-8"))
    return {unescape(name): unescape(name) for name in names}
