"""The `quality` benchmark: the default pipelines against scikit-learn baselines.

It runs the default commands over seeds 0, 1 and 2 and records their test
metrics next to the scikit-learn baselines of the same runs:

* `binary`: `xent train binary` (breast cancer); goal: mean AUC at least
  logistic regression's;
* `multiclass`: `xent train multiclass` (8x8 digits CNN); goal: accuracy >=
  0.990 on every seed;
* where `../shared/datasets/tabular` (or `$XENT_TABULAR`) exists, the
  development CSVs with `xent train binary|multiclass --data F --label L` and
  no other flag; goal: mean AUC (accuracy) at least HistGradientBoosting's on
  the same splits minus 0.005 (0.01), and better than it on average over the
  CSVs (`csv_average`).

See `run_quality`.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xent.bench.machine import machine_info

__all__ = [
    "QualityCase",
    "QualityConfig",
    "build_quality_config",
    "csv_cases",
    "run_quality",
    "summarize_quality",
]

# Test metrics recorded per task; the first one carries the task's goal.
_QUALITY_METRICS = {
    "binary": ("auc", "log_loss"),
    "multiclass": ("accuracy", "log_loss"),
}
_QUALITY_MODELS = ("xent", "logistic_regression", "hist_gradient_boosting")
# Goal tolerance of a CSV below HistGradientBoosting, per task's metric.
_CSV_TOLERANCE = {"binary": 0.005, "multiclass": 0.01}
# The development CSVs (`../shared/datasets/tabular/README.md`): file, task,
# label column.
_DEV_CSVS = (
    ("telco_churn.csv", "binary", "Churn"),
    ("bank_marketing.csv", "binary", "subscribe"),
    ("german_credit.csv", "binary", "class"),
    ("car_evaluation.csv", "multiclass", "class"),
    ("wine_quality_white.csv", "multiclass", "quality"),
)


@dataclasses.dataclass(frozen=True)
class QualityCase:
    """One default command of the benchmark.

    Attributes:
        name: The case's name (`binary` and `multiclass` are the embedded
            defaults; a CSV case is named after its file).
        task: `binary` or `multiclass`.
        overrides: Config overrides (the data flags of a CSV).
        csv: Whether this is a CSV case (goal against gradient boosting).
    """

    name: str
    task: str
    overrides: tuple[str, ...] = ()
    csv: bool = False


def csv_cases(folder: Path | str | None = None) -> tuple[QualityCase, ...]:
    """The development CSV cases found in `folder` (default `$XENT_TABULAR`,
    else `../shared/datasets/tabular`); none when it is absent."""
    root = Path(
        folder or os.environ.get("XENT_TABULAR") or "../shared/datasets/tabular"
    )
    return tuple(
        QualityCase(
            Path(file).stem,
            task,
            (f"data.source={root / file}", f"data.label={label}"),
            csv=True,
        )
        for file, task, label in _DEV_CSVS
        if (root / file).is_file()
    )


@dataclasses.dataclass(frozen=True)
class QualityConfig:
    """Configuration of the `quality` benchmark.

    Attributes:
        seeds: `train.seed` of the runs of each case. The seed also draws the
            data split, so every seed has its own test split.
        cases: The default commands run (see `QualityCase`).
        overrides: `key=value` config overrides per task (`binary`,
            `multiclass`) on top of each case's; empty for the defaults.
        binary_auc_tolerance: Breast cancer goal: the mean test AUC is at
            least the mean AUC of the logistic-regression baseline minus this.
        multiclass_accuracy_goal: Digits goal: the test accuracy of every
            seed is at least this.
        quick: Whether this is the shrunk smoke-test configuration.
    """

    seeds: tuple[int, ...] = (0, 1, 2)
    cases: tuple[QualityCase, ...] = (
        QualityCase("binary", "binary"),
        QualityCase("multiclass", "multiclass"),
    )
    overrides: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    binary_auc_tolerance: float = 0.0
    multiclass_accuracy_goal: float = 0.990
    quick: bool = False

    def __post_init__(self):
        if not self.seeds:
            raise ValueError(
                "Invalid value for argument `seeds`. Expected at least one seed. "
                f"Received: seeds={self.seeds!r}"
            )
        unknown = sorted(set(self.overrides) - set(_QUALITY_METRICS))
        if unknown:
            raise ValueError(
                f"Invalid value for argument `overrides`. Expected keys in "
                f"{sorted(_QUALITY_METRICS)}. Received: {unknown}"
            )


def build_quality_config(quick: bool = False) -> QualityConfig:
    """Returns the `quality` configuration, shrunk to seconds if `quick`.

    Args:
        quick: Whether to run one seed with a few epochs (and a tiny CNN),
            without the CSVs.

    Returns:
        The default pipelines and the development CSVs found (see
        `csv_cases`) over seeds 0, 1 and 2 (quick: the embedded defaults,
        seed 0, binary 2 epochs, multiclass 1 epoch of a 4-filter CNN).
    """
    if not quick:
        return dataclasses.replace(
            QualityConfig(), cases=QualityConfig().cases + csv_cases()
        )
    return QualityConfig(
        seeds=(0,),
        overrides={
            "binary": ("train.epochs=2",),
            "multiclass": ("train.epochs=1", "model.filters=[4]", "model.dense=8"),
        },
        quick=True,
    )


def _quality_run(case: QualityCase, seed: int, config: QualityConfig, root: Path):
    """One run of a case through `xent.runner.run` (no export)."""
    from xent import config as config_lib
    from xent import runner
    from xent.pipelines import TASKS

    task = TASKS[case.task]
    overrides = [
        *case.overrides,
        *config.overrides.get(case.task, ()),
        f"train.seed={seed}",
    ]
    run_config = config_lib.load_config(
        task.config_class, task.defaults, overrides=overrides
    )
    start = time.perf_counter()
    result = runner.run(
        task,
        run_config,
        run_dir=root / f"{case.name}-seed{seed}",
        saved_models=root / "saved_models",
        export=False,
        verbose=0,
        log=lambda _: None,
    )
    seconds = time.perf_counter() - start
    report = result.report
    metrics = _QUALITY_METRICS[case.task]
    sources = {"xent": report["metrics"]["test"], **report["baseline"]}
    return {
        "case": case.name,
        "task": case.task,
        "seed": seed,
        "epochs_run": report["training"]["epochs_run"],
        "seconds": seconds,
        **{model: {m: sources[model][m] for m in metrics} for model in _QUALITY_MODELS},
    }


def summarize_quality(
    runs: Sequence[Mapping[str, Any]], config: QualityConfig
) -> dict[str, dict]:
    """Means over seeds and the goals of each case.

    Args:
        runs: One dict per run: `case` (defaults to `task`), `task`, `seed`,
            `epochs_run`, `seconds`, and per model (`xent`,
            `logistic_regression`, `hist_gradient_boosting`) a dict of the
            task's test metrics.
        config: The benchmark configuration (the goals; a case not in
            `config.cases` is an embedded default when named `binary` or
            `multiclass`, else a CSV).

    Returns:
        Per case: `task`, `seeds`, `mean` (per model, the mean of each
        metric), `mean_epochs_run`, `mean_seconds`, `goal` (text) and
        `meets_goal`; with CSV cases also `csv_average`: the mean over them
        of xent's minus gradient boosting's mean metric, whose goal is > 0.

    >>> runs = [{"task": "multiclass", "seed": s, "epochs_run": 9, "seconds": 1.0,
    ...          "xent": {"accuracy": a, "log_loss": 0.1},
    ...          "logistic_regression": {"accuracy": 0.97, "log_loss": 0.1},
    ...          "hist_gradient_boosting": {"accuracy": 0.96, "log_loss": 0.2}}
    ...         for s, a in ((0, 0.995), (1, 0.987))]
    >>> s = summarize_quality(runs, QualityConfig())["multiclass"]
    >>> round(s["mean"]["xent"]["accuracy"], 3), s["meets_goal"]
    (0.991, False)
    """
    csv_names = {c.name for c in config.cases if c.csv}
    summary: dict[str, dict] = {}
    gaps = []
    for name in dict.fromkeys(r.get("case", r["task"]) for r in runs):
        mine = [r for r in runs if r.get("case", r["task"]) == name]
        task = mine[0]["task"]
        score = _QUALITY_METRICS[task][0]
        mean = {
            model: {
                m: float(np.mean([r[model][m] for r in mine]))
                for m in _QUALITY_METRICS[task]
            }
            for model in _QUALITY_MODELS
        }
        ours = mean["xent"][score]
        if name in csv_names or name not in _QUALITY_METRICS:
            tolerance = _CSV_TOLERANCE[task]
            gb = mean["hist_gradient_boosting"][score]
            gaps.append(ours - gb)
            goal = f"mean {score} >= gradient boosting's - {tolerance:g}"
            met = ours >= gb - tolerance
        elif task == "binary":
            bar = mean["logistic_regression"]["auc"] - config.binary_auc_tolerance
            goal = "mean AUC >= logistic regression's mean AUC"
            if config.binary_auc_tolerance:
                goal += f" - {config.binary_auc_tolerance:g}"
            met = ours >= bar
        else:
            goal = f"accuracy >= {config.multiclass_accuracy_goal:.3f} on every seed"
            met = min(r["xent"]["accuracy"] for r in mine) >= (
                config.multiclass_accuracy_goal
            )
        summary[name] = {
            "task": task,
            "seeds": [r["seed"] for r in mine],
            "mean": mean,
            "mean_epochs_run": float(np.mean([r["epochs_run"] for r in mine])),
            "mean_seconds": float(np.mean([r["seconds"] for r in mine])),
            "goal": goal,
            "meets_goal": bool(met),
        }
    if gaps:
        summary["csv_average"] = {
            "task": "-",
            "mean_gap_to_gradient_boosting": float(np.mean(gaps)),
            "goal": "mean over the CSVs of (xent - gradient boosting) > 0",
            "meets_goal": bool(np.mean(gaps) > 0),
        }
    return summary


def _quality_table(runs: Sequence[Mapping[str, Any]], summary: Mapping) -> dict:
    """One row per run and one per case's mean: score and log loss per model."""
    columns = [
        "task",
        "seed",
        "metric",
        "xent",
        "logistic regression",
        "gradient boosting",
        "xent log loss",
        "LR log loss",
        "GB log loss",
        "epochs",
        "run s",
        "goal met",
    ]
    rows = []
    for name, case in summary.items():
        if name == "csv_average":
            rows.append(
                [name, "mean", "xent - GB", case["mean_gap_to_gradient_boosting"]]
                + ["-"] * 7
                + [case["meets_goal"]]
            )
            continue
        score, loss = _QUALITY_METRICS[case["task"]]
        mean = case["mean"]
        for r in (r for r in runs if r.get("case", r["task"]) == name):
            rows.append(
                [name, r["seed"], score]
                + [r[model][score] for model in _QUALITY_MODELS]
                + [r[model][loss] for model in _QUALITY_MODELS]
                + [r["epochs_run"], f"{r['seconds']:.0f}", "-"]
            )
        rows.append(
            [name, "mean", score]
            + [mean[model][score] for model in _QUALITY_MODELS]
            + [mean[model][loss] for model in _QUALITY_MODELS]
            + [
                f"{case['mean_epochs_run']:.0f}",
                f"{case['mean_seconds']:.0f}",
                case["meets_goal"],
            ]
        )
    return {"columns": columns, "rows": rows}


def run_quality(config: QualityConfig) -> dict:
    """Runs every case per seed (writes no report).

    Each run goes through `xent.runner.run` with the task's default config
    (plus the case's data flags, `config.overrides` and the seed), no
    export, in a temporary directory deleted afterwards; the scikit-learn
    baselines come from the `baseline` section of the run's report (same
    split).

    Args:
        config: The benchmark configuration.

    Returns:
        The report dict: `benchmark`, `title`, `goal`, `notes`, `quick`,
        `machine`, `config`, `runs` (one dict per run), `summary` (see
        `summarize_quality`) and `table` (for `render_readme`).
    """
    machine = machine_info()
    runs = []
    with tempfile.TemporaryDirectory(prefix="xent-bench-quality-") as tmp:
        for case in config.cases:
            for seed in config.seeds:
                runs.append(_quality_run(case, seed, config, Path(tmp)))
    machine["load_average_after"] = machine_info()["load_average"]
    summary = summarize_quality(runs, config)
    seeds = ", ".join(str(s) for s in config.seeds)
    return {
        "benchmark": "quality",
        "title": "Model quality: the default pipelines vs scikit-learn baselines",
        "goal": "; ".join(f"{name}: {s['goal']}" for name, s in summary.items())
        + f" (seeds {seeds}).",
        "notes": [
            "Test metrics of the default commands, one run per seed through "
            "`xent.runner.run` without export: `xent train binary` (breast "
            "cancer), `xent train multiclass` (8x8 digits, small CNN) and, "
            "where the development CSVs are present, `xent train "
            "binary|multiclass --data F --label L` (the tabular network). The "
            "seed draws the weights and the train/validation/test split, so "
            "each seed has its own test split.",
            "Baselines from each run's report, fitted on the same training "
            "split and scored on the same test split: standardized "
            "`LogisticRegression` and `HistGradientBoostingClassifier`, "
            "default hyperparameters. `metric`: AUC (binary) or accuracy "
            "(multiclass); log loss in nats.",
            "`epochs`: epochs run (early stopping restores the best "
            "validation weights); `run s`: wall seconds of the whole run "
            "(data, training, evaluation, baselines, report).",
        ],
        "quick": config.quick,
        "machine": machine,
        "config": dataclasses.asdict(config),
        "runs": runs,
        "summary": summary,
        "table": _quality_table(runs, summary),
    }
