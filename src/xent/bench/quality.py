"""The `quality` benchmark: the default pipelines against scikit-learn baselines.

It runs the default binary (breast cancer) and multiclass (digits) pipelines
over seeds 0, 1 and 2 and records their test metrics next to the scikit-learn
baselines of the same runs, with the goals: binary AUC at least logistic
regression's, multiclass accuracy >= 0.990; see `run_quality`.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xent.bench.machine import machine_info

__all__ = [
    "QualityConfig",
    "build_quality_config",
    "run_quality",
    "summarize_quality",
]

# Test metrics recorded per task; the first one carries the task's goal.
_QUALITY_METRICS = {
    "binary": ("auc", "log_loss"),
    "multiclass": ("accuracy", "log_loss"),
}
_QUALITY_MODELS = ("xent", "logistic_regression", "hist_gradient_boosting")


@dataclasses.dataclass(frozen=True)
class QualityConfig:
    """Configuration of the `quality` benchmark.

    Attributes:
        seeds: `train.seed` of the runs of each task. The seed also draws the
            data split, so every seed has its own test split.
        overrides: `key=value` config overrides per task (`binary`,
            `multiclass`) on top of the task's defaults; empty for the
            default pipelines.
        binary_auc_tolerance: Binary goal: the mean test AUC is at least the
            mean AUC of the logistic-regression baseline minus this.
        multiclass_accuracy_goal: Multiclass goal: the mean test accuracy is
            at least this.
        quick: Whether this is the shrunk smoke-test configuration.
    """

    seeds: tuple[int, ...] = (0, 1, 2)
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
        quick: Whether to run one seed with a few epochs (and a tiny CNN).

    Returns:
        The default pipelines over seeds 0, 1 and 2 (quick: seed 0, binary 2
        epochs, multiclass 1 epoch of a 4-filter CNN).
    """
    if not quick:
        return QualityConfig()
    return QualityConfig(
        seeds=(0,),
        overrides={
            "binary": ("train.epochs=2",),
            "multiclass": ("train.epochs=1", "model.filters=[4]", "model.dense=8"),
        },
        quick=True,
    )


def _quality_run(task_name: str, seed: int, config: QualityConfig, root: Path):
    """One run of a pipeline through `xent.runner.run` (no export)."""
    from xent import config as config_lib
    from xent import runner
    from xent.pipelines import TASKS

    task = TASKS[task_name]
    overrides = [*config.overrides.get(task_name, ()), f"train.seed={seed}"]
    run_config = config_lib.load_config(
        task.config_class, task.defaults, overrides=overrides
    )
    start = time.perf_counter()
    result = runner.run(
        task,
        run_config,
        run_dir=root / f"{task_name}-seed{seed}",
        saved_models=root / "saved_models",
        export=False,
        verbose=0,
        log=lambda _: None,
    )
    seconds = time.perf_counter() - start
    report = result.report
    metrics = _QUALITY_METRICS[task_name]
    sources = {"xent": report["metrics"]["test"], **report["baseline"]}
    return {
        "task": task_name,
        "seed": seed,
        "epochs_run": report["training"]["epochs_run"],
        "seconds": seconds,
        **{model: {m: sources[model][m] for m in metrics} for model in _QUALITY_MODELS},
    }


def summarize_quality(
    runs: Sequence[Mapping[str, Any]], config: QualityConfig
) -> dict[str, dict]:
    """Means over seeds and the goals of each task.

    Args:
        runs: One dict per run: `task`, `seed`, `epochs_run`, `seconds`, and
            per model (`xent`, `logistic_regression`,
            `hist_gradient_boosting`) a dict of the task's test metrics.
        config: The benchmark configuration (the goals).

    Returns:
        Per task: `seeds`, `mean` (per model, the mean of each metric),
        `mean_epochs_run`, `mean_seconds`, `goal` (text) and `meets_goal`.

    >>> runs = [{"task": "multiclass", "seed": s, "epochs_run": 9, "seconds": 1.0,
    ...          "xent": {"accuracy": a, "log_loss": 0.1},
    ...          "logistic_regression": {"accuracy": 0.97, "log_loss": 0.1},
    ...          "hist_gradient_boosting": {"accuracy": 0.96, "log_loss": 0.2}}
    ...         for s, a in ((0, 0.995), (1, 0.987))]
    >>> s = summarize_quality(runs, QualityConfig())["multiclass"]
    >>> round(s["mean"]["xent"]["accuracy"], 3), s["meets_goal"]
    (0.991, True)
    """
    summary = {}
    for task in _QUALITY_METRICS:
        mine = [r for r in runs if r["task"] == task]
        if not mine:
            continue
        mean = {
            model: {
                m: float(np.mean([r[model][m] for r in mine]))
                for m in _QUALITY_METRICS[task]
            }
            for model in _QUALITY_MODELS
        }
        if task == "binary":
            bar = mean["logistic_regression"]["auc"] - config.binary_auc_tolerance
            goal = "mean AUC >= logistic regression's mean AUC"
            if config.binary_auc_tolerance:
                goal += f" - {config.binary_auc_tolerance:g}"
            met = mean["xent"]["auc"] >= bar
        else:
            goal = f"mean accuracy >= {config.multiclass_accuracy_goal:.3f}"
            met = mean["xent"]["accuracy"] >= config.multiclass_accuracy_goal
        summary[task] = {
            "seeds": [r["seed"] for r in mine],
            "mean": mean,
            "mean_epochs_run": float(np.mean([r["epochs_run"] for r in mine])),
            "mean_seconds": float(np.mean([r["seconds"] for r in mine])),
            "goal": goal,
            "meets_goal": bool(met),
        }
    return summary


def _quality_table(runs: Sequence[Mapping[str, Any]], summary: Mapping) -> dict:
    """One row per run and one per task's mean: score and log loss per model."""
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
    for task, (score, loss) in _QUALITY_METRICS.items():
        if task not in summary:
            continue
        mean = summary[task]["mean"]
        for r in (r for r in runs if r["task"] == task):
            rows.append(
                [task, r["seed"], score]
                + [r[model][score] for model in _QUALITY_MODELS]
                + [r[model][loss] for model in _QUALITY_MODELS]
                + [r["epochs_run"], f"{r['seconds']:.0f}", "-"]
            )
        rows.append(
            [task, "mean", score]
            + [mean[model][score] for model in _QUALITY_MODELS]
            + [mean[model][loss] for model in _QUALITY_MODELS]
            + [
                f"{summary[task]['mean_epochs_run']:.0f}",
                f"{summary[task]['mean_seconds']:.0f}",
                summary[task]["meets_goal"],
            ]
        )
    return {"columns": columns, "rows": rows}


def run_quality(config: QualityConfig) -> dict:
    """Runs the binary and multiclass pipelines per seed (writes no report).

    Each run goes through `xent.runner.run` with the task's default config
    (plus `config.overrides` and the seed), no export, in a temporary
    directory deleted afterwards; the scikit-learn baselines come from the
    `baseline` section of the run's report (same split).

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
        for task in _QUALITY_METRICS:
            for seed in config.seeds:
                runs.append(_quality_run(task, seed, config, Path(tmp)))
    machine["load_average_after"] = machine_info()["load_average"]
    summary = summarize_quality(runs, config)
    seeds = ", ".join(str(s) for s in config.seeds)
    return {
        "benchmark": "quality",
        "title": "Model quality: the default pipelines vs scikit-learn baselines",
        "goal": "; ".join(
            f"{task}: {s['goal']} (seeds {seeds})" for task, s in summary.items()
        )
        + ".",
        "notes": [
            "Test metrics of `xent train binary` (breast cancer, linear model) "
            "and `xent train multiclass` (8x8 digits, small CNN) with their "
            "default configs, one run per seed through `xent.runner.run` "
            "without export. The seed draws the weights and the "
            "train/validation/test split, so each seed has its own test split.",
            "Baselines from each run's report, fitted on the same training "
            "split and scored on the same test split: standardized "
            "`LogisticRegression` and `HistGradientBoostingClassifier`, "
            "default hyperparameters. `metric`: AUC (binary) or accuracy "
            "(multiclass); log loss in nats.",
            "`epochs`: epochs run (early stopping restores the best "
            "validation-loss weights); `run s`: wall seconds of the whole run "
            "(data, training, evaluation, baselines, report).",
        ],
        "quick": config.quick,
        "machine": machine,
        "config": dataclasses.asdict(config),
        "runs": runs,
        "summary": summary,
        "table": _quality_table(runs, summary),
    }
