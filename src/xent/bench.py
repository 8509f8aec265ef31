"""Benchmarks: training-step time with `xent.losses` against `keras.losses`.

Run as `python -m xent.bench --out reports/bench [--quick]` (`make bench`).

Each benchmark writes its own `<name>.json` under `--out`; the `README.md`
there is then regenerated from every `*.json` file in that folder, so a later
benchmark adds a section by writing one more JSON with the same top-level keys
(`title`, `goal`, `machine`, `table`; see `render_readme`).

The `loss_step` benchmark times a training step of the same model compiled
with our loss and with the Keras built-in of the same name. Both models are
built from the same seed and trained on the same data. After one warm-up
epoch each, short runs of a fixed number of steps are timed alternately (ours
first on even repeats, Keras first on odd ones) in one process, and each
repeat gives one paired ratio ours/Keras, so that the drifts of a shared
machine cancel out. On a busy 2-core machine, short repeats paired much better
than whole epochs (small CNN: interquartile range of the paired ratios
0.79-1.19 with 7 one-epoch repeats, 0.90-0.98 with 15 repeats of 4 steps).

The `serving` benchmark (`--only serving`) times single-row requests to a
small CTR-like model: the `serving_default` signature called in this process,
and the same export served by `xent serve` (a subprocess on 127.0.0.1) over
REST and gRPC, with batching off and on; see `run_serving`.

The `quality` benchmark (`--only quality`) runs the default binary (breast
cancer) and multiclass (digits) pipelines over seeds 0, 1 and 2 and records
their test metrics next to the scikit-learn baselines of the same runs, with
the goals: binary AUC at least logistic regression's, multiclass accuracy
>= 0.990; see `run_quality`.

The `ctr` benchmark (`--only ctr`) trains our DeepFM on a click log streamed
from a file against DeepCTR's DeepFM (in its own virtualenv) on the same
preprocessed data, and times the input pipeline alone; see `xent.ctr.bench`.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import json
import os
import platform
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from xent import losses as xent_losses
from xent.models import build_mlp
from xent.models import build_small_cnn

__all__ = [
    "BENCHMARKS",
    "LossStepConfig",
    "QualityConfig",
    "ServingConfig",
    "StepCase",
    "build_loss_step_config",
    "build_quality_config",
    "build_serving_config",
    "latency_summary",
    "main",
    "render_readme",
    "run_loss_step",
    "run_quality",
    "run_serving",
    "summarize_pairs",
    "summarize_quality",
    "write_report",
]

BENCHMARKS = ("loss_step", "serving", "quality", "ctr")

_IMPLEMENTATIONS = ("ours", "builtin")
_MODELS = ("mlp", "small_cnn")
# Paired ratios at or below this are "no slower" (the goal of `loss_step`).
_GOAL_RATIO = 1.0


@dataclasses.dataclass(frozen=True)
class StepCase:
    """One model and loss whose training step is timed.

    Attributes:
        name: snake_case key of the case in the report.
        model: Key of the builder: `"mlp"` (binary labels, one logit) or
            `"small_cnn"` (integer labels of `n_classes` classes).
        loss: Class name found in both `xent.losses` and `keras.losses`; it is
            built with `from_logits=True`.
        n_samples: Number of synthetic examples (one epoch).
        batch_size: Examples per training step.
        input_shape: Shape of one example.
        n_classes: Number of classes (2 for binary labels).
        steps_per_repeat: Training steps per timed repeat (a `fit` with
            `steps_per_epoch`, on the first batches); None for a whole epoch.
        model_kwargs: Extra arguments of the model builder.
    """

    name: str
    model: str
    loss: str
    n_samples: int
    batch_size: int
    input_shape: tuple[int, ...]
    n_classes: int
    steps_per_repeat: int | None = None
    model_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.model not in _MODELS:
            raise ValueError(
                f"Invalid value for argument `model`. Expected one of "
                f"{sorted(_MODELS)}. Received: model={self.model!r}"
            )
        for arg in ("n_samples", "batch_size", "n_classes", "steps_per_repeat"):
            if getattr(self, arg) is not None and getattr(self, arg) < 1:
                raise ValueError(
                    f"Invalid value for argument `{arg}`. Expected a positive "
                    f"integer. Received: {arg}={getattr(self, arg)!r}"
                )

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.n_samples // self.batch_size)

    @property
    def timed_steps(self) -> int:
        """Steps per timed repeat."""
        if self.steps_per_repeat is None:
            return self.steps_per_epoch
        return min(self.steps_per_repeat, self.steps_per_epoch)


@dataclasses.dataclass(frozen=True)
class LossStepConfig:
    """Configuration of the `loss_step` benchmark.

    Attributes:
        cases: The model/loss pairs to time.
        repeats: Timed repeats per implementation (paired repeats).
        warmup_epochs: Untimed epochs per model first (tracing, caches).
        seed: Seed of the data and of both models' initial weights.
        learning_rate: Adam learning rate.
        jit_compile: Passed to `Model.compile`. False by default: Keras's
            `"auto"` also means False on a CPU-only machine.
        quick: Whether this is the shrunk smoke-test configuration.
    """

    cases: tuple[StepCase, ...]
    repeats: int = 15
    warmup_epochs: int = 1
    seed: int = 0
    learning_rate: float = 1e-3
    jit_compile: bool = False
    quick: bool = False

    def __post_init__(self):
        if self.repeats < 1 or self.warmup_epochs < 0:
            raise ValueError(
                "Invalid value for argument `repeats`/`warmup_epochs`. Expected "
                f"repeats >= 1 and warmup_epochs >= 0. Received: repeats="
                f"{self.repeats}, warmup_epochs={self.warmup_epochs}"
            )


def build_loss_step_config(quick: bool = False) -> LossStepConfig:
    """Returns the `loss_step` configuration, shrunk to seconds if `quick`.

    Args:
        quick: Whether to shrink data, models and repeats to a smoke test.

    Returns:
        The configuration: an MLP with `BinaryCrossentropy` on 100k x 40
        features (batch 1024) and the small CNN with
        `SparseCategoricalCrossentropy` on 4096 28x28x1 images (batch 256);
        repeats of 25 and 4 steps.
    """
    config = LossStepConfig(
        cases=(
            StepCase(
                name="mlp_binary",
                model="mlp",
                loss="BinaryCrossentropy",
                n_samples=100_000,
                batch_size=1024,
                input_shape=(40,),
                n_classes=2,
                steps_per_repeat=25,
                model_kwargs={"hidden": (256, 128)},
            ),
            StepCase(
                name="cnn_sparse",
                model="small_cnn",
                loss="SparseCategoricalCrossentropy",
                # 16 steps: the warm-up epoch takes seconds on a shared 2-core CPU.
                n_samples=4096,
                batch_size=256,
                input_shape=(28, 28, 1),
                n_classes=10,
                steps_per_repeat=4,
                model_kwargs={"filters": (32, 64), "dense": 128},
            ),
        )
    )
    if not quick:
        return config
    mlp, cnn = config.cases
    return dataclasses.replace(
        config,
        cases=(
            dataclasses.replace(
                mlp,
                n_samples=512,
                batch_size=128,
                steps_per_repeat=2,
                model_kwargs={"hidden": (16,)},
            ),
            dataclasses.replace(
                cnn,
                n_samples=64,
                batch_size=32,
                steps_per_repeat=None,
                model_kwargs={"filters": (4,), "dense": 8},
            ),
        ),
        repeats=2,
        quick=True,
    )


# --------------------------------------------------------------------------
# Pure parts: data, models, statistics, rendering.
# --------------------------------------------------------------------------
def _make_data(case: StepCase, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic features and labels (learnable, so training is realistic)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(case.n_samples, *case.input_shape)).astype("float32")
    flat = x.reshape(case.n_samples, -1)
    w = rng.normal(size=(flat.shape[1], case.n_classes)).astype("float32")
    scores = flat @ w + rng.normal(size=(case.n_samples, case.n_classes))
    if case.model == "mlp":  # Binary labels, shape [batch, 1].
        y = (scores[:, 1:] > scores[:, :1]).astype("float32")
    else:
        y = scores.argmax(axis=1).astype("int32")
    return x, y


def _build_model(case: StepCase, config: LossStepConfig, impl: str):
    """Builds and compiles one model; the same seed gives the same weights."""
    keras.utils.set_random_seed(config.seed)
    if case.model == "mlp":
        model = build_mlp(case.input_shape[0], n_outputs=1, **case.model_kwargs)
    else:
        model = build_small_cnn(
            case.input_shape, n_classes=case.n_classes, **case.model_kwargs
        )
    module = xent_losses if impl == "ours" else keras.losses
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss=getattr(module, case.loss)(from_logits=True),
        jit_compile=config.jit_compile,
    )
    return model


class _StepTimer(keras.callbacks.Callback):
    """Records the wall time of every step, and wall and CPU time of epochs.

    The process CPU time (all threads) is less sensitive than the wall time to
    other processes competing for the cores.
    """

    def __init__(self):
        super().__init__()
        self.step_seconds: list[float] = []
        self.epoch_seconds: list[float] = []
        self.epoch_cpu_seconds: list[float] = []
        self._step_start = self._epoch_start = self._epoch_cpu_start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_cpu_start = time.process_time()
        self._epoch_start = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        self._step_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.step_seconds.append(time.perf_counter() - self._step_start)

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self._epoch_start)
        self.epoch_cpu_seconds.append(time.process_time() - self._epoch_cpu_start)


def _fit(model, x, y, batch_size: int, epochs: int, steps=None) -> _StepTimer:
    """Trains `epochs` epochs of `steps` steps (None: all the data)."""
    timer = _StepTimer()
    model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=epochs,
        steps_per_epoch=steps,
        shuffle=False,
        verbose=0,
        callbacks=[timer],
    )
    return timer


def summarize_pairs(ours: Sequence[float], builtin: Sequence[float]) -> dict:
    """Medians and the spread of paired ratios `ours[i] / builtin[i]`.

    Args:
        ours: Seconds per step of our loss, one per repeat.
        builtin: Seconds per step of the Keras loss, paired with `ours`.

    Returns:
        A dict with `ours_s_per_step`, `builtin_s_per_step` (medians),
        `ratio_median`, `ratio_q25`, `ratio_q75`, `ratio_min`, `ratio_max`
        and `meets_goal`: whether the ratio is at most 1.00 within noise,
        i.e. whether the lower quartile of the paired ratios is <= 1.00.

    Raises:
        ValueError: If the sequences are empty or of different lengths.

    >>> s = summarize_pairs([1.0, 1.1, 0.9], [1.0, 1.0, 1.0])
    >>> round(s["ratio_median"], 2), s["meets_goal"]
    (1.0, True)
    """
    if not ours or len(ours) != len(builtin):
        raise ValueError(
            "Invalid value for arguments `ours`/`builtin`. Expected two "
            f"non-empty sequences of the same length. Received lengths "
            f"{len(ours)} and {len(builtin)}"
        )
    ratios = np.asarray(ours, "float64") / np.asarray(builtin, "float64")
    q25, q50, q75 = np.percentile(ratios, [25, 50, 75])
    return {
        "ours_s_per_step": float(np.median(ours)),
        "builtin_s_per_step": float(np.median(builtin)),
        "ratio_median": float(q50),
        "ratio_q25": float(q25),
        "ratio_q75": float(q75),
        "ratio_min": float(ratios.min()),
        "ratio_max": float(ratios.max()),
        "meets_goal": bool(q25 <= _GOAL_RATIO),
    }


def _loss_table(cases: Sequence[Mapping[str, Any]]) -> dict:
    """The Markdown-ready table of the `loss_step` report."""
    columns = [
        "case",
        "loss",
        "steps x batch x repeats",
        "ours ms/step",
        "Keras ms/step",
        "ratio (median)",
        "ratio IQR",
        "ratio min-max",
        "CPU-time ratio (median)",
        "goal met",
    ]
    rows = [
        [
            c["case"],
            c["loss"],
            f"{c['steps_per_repeat']} x {c['batch_size']} x {c['repeats']}",
            1e3 * c["ours_s_per_step"],
            1e3 * c["builtin_s_per_step"],
            c["ratio_median"],
            f"{c['ratio_q25']:.3f}-{c['ratio_q75']:.3f}",
            f"{c['ratio_min']:.3f}-{c['ratio_max']:.3f}",
            c["cpu"]["ratio_median"],
            c["meets_goal"],
        ]
        for c in cases
    ]
    return {"columns": columns, "rows": rows}


def _format_cell(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value).replace("|", "\\|")


def _describe_machine(machine: Mapping[str, Any]) -> str:
    parts = [
        f"{machine.get('cpu_count')} CPUs ({machine.get('cpus_usable')} usable)",
        f"TensorFlow {machine.get('tensorflow')}",
        f"Keras {machine.get('keras')} ({machine.get('keras_backend')} backend)",
        f"Python {machine.get('python')}",
        f"load average {machine.get('load_average')}",
        str(machine.get("date")),
    ]
    return ", ".join(parts)


def render_readme(reports: Mapping[str, Mapping[str, Any]]) -> str:
    """Renders the Markdown of all benchmark reports, one section each.

    Args:
        reports: Report dicts by file name (sorted by name in the output).
            Each has `title` (str), `table` (`{"columns": [...],
            "rows": [[...], ...]}`) and optionally `goal`, `notes` (list of
            str), `machine` (dict) and `quick` (bool).

    Returns:
        The Markdown text of `README.md`.
    """
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python -m xent.bench` (`make bench`) from the `*.json` "
        "files in this folder; do not edit by hand.",
    ]
    for file_name in sorted(reports):
        report = reports[file_name]
        table = report["table"]
        lines += ["", f"## {report['title']}", "", f"Source: `{file_name}`."]
        if report.get("quick"):
            lines += ["", "**Quick mode (smoke test): the numbers mean nothing.**"]
        if report.get("goal"):
            lines += ["", f"Goal: {report['goal']}"]
        lines += [
            "",
            "| " + " | ".join(table["columns"]) + " |",
            "|" + "|".join("---" for _ in table["columns"]) + "|",
        ]
        lines += [
            "| " + " | ".join(_format_cell(v) for v in row) + " |"
            for row in table["rows"]
        ]
        if report.get("notes"):
            lines += [""] + [f"- {note}" for note in report["notes"]]
        if report.get("machine"):
            lines += ["", f"Machine: {_describe_machine(report['machine'])}."]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# Effects: timing, machine description, files.
# --------------------------------------------------------------------------
def _machine_info() -> dict:
    import tensorflow as tf

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    load = [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "load_average": load,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "numpy": np.__version__,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
    }


def _loss_gap(models: Mapping[str, Any], x, y) -> float:
    """|ours - Keras| of the initial loss on one batch (a sanity check)."""
    values = [
        float(models[impl].compute_loss(x=None, y=y, y_pred=models[impl](x)))
        for impl in _IMPLEMENTATIONS
    ]
    return abs(values[0] - values[1])


def _time_case(case: StepCase, config: LossStepConfig) -> dict:
    x, y = _make_data(case, config.seed)
    models = {impl: _build_model(case, config, impl) for impl in _IMPLEMENTATIONS}
    first = slice(0, case.batch_size)
    gap = _loss_gap(models, x[first], y[first])
    if config.warmup_epochs:
        for impl in _IMPLEMENTATIONS:
            _fit(models[impl], x, y, case.batch_size, config.warmup_epochs)
    # Per repeat: the median step time (robust to bursts of other processes on
    # a shared machine), and the wall and CPU time of the repeat per step.
    step_median = {impl: [] for impl in _IMPLEMENTATIONS}
    wall_mean = {impl: [] for impl in _IMPLEMENTATIONS}
    cpu_mean = {impl: [] for impl in _IMPLEMENTATIONS}
    steps = case.timed_steps
    for repeat in range(config.repeats):
        order = _IMPLEMENTATIONS if repeat % 2 == 0 else _IMPLEMENTATIONS[::-1]
        for impl in order:
            timer = _fit(models[impl], x, y, case.batch_size, 1, steps)
            step_median[impl].append(float(np.median(timer.step_seconds)))
            wall_mean[impl].append(timer.epoch_seconds[0] / steps)
            cpu_mean[impl].append(timer.epoch_cpu_seconds[0] / steps)
    return {
        "case": case.name,
        "model": case.model,
        "loss": case.loss,
        "n_samples": case.n_samples,
        "batch_size": case.batch_size,
        "steps_per_repeat": steps,
        "repeats": config.repeats,
        "initial_loss_abs_diff": gap,
        **summarize_pairs(step_median["ours"], step_median["builtin"]),
        "ours_s_per_step_all": step_median["ours"],
        "builtin_s_per_step_all": step_median["builtin"],
        "wall": _paired(wall_mean),
        "cpu": _paired(cpu_mean),
    }


def _paired(seconds: Mapping[str, list[float]]) -> dict:
    return {
        "ours_s_per_step_all": seconds["ours"],
        "builtin_s_per_step_all": seconds["builtin"],
        **summarize_pairs(seconds["ours"], seconds["builtin"]),
    }


def run_loss_step(config: LossStepConfig) -> dict:
    """Times every case of `config`; returns the report (writes nothing).

    Args:
        config: The benchmark configuration.

    Returns:
        The report dict: `benchmark`, `title`, `goal`, `notes`, `quick`,
        `machine`, `config` (resolved), `cases` (full results, one dict per
        case) and `table` (for `render_readme`).
    """
    machine = _machine_info()
    cases = [_time_case(case, config) for case in config.cases]
    machine["load_average_after"] = _machine_info()["load_average"]
    return {
        "benchmark": "loss_step",
        "title": "Training-step time: `xent.losses` vs `keras.losses`",
        "goal": (
            "ratio ours/Keras <= 1.00 within noise (goal met when the lower "
            "quartile of the paired ratios is <= 1.00)."
        ),
        "notes": [
            "Milliseconds per training step (forward, loss, backward, Adam) of "
            "the same model from the same seed, `from_logits=True`, "
            f"`jit_compile={config.jit_compile}`.",
            f"{config.warmup_epochs} warm-up epoch(s) each, then "
            f"{config.repeats} timed repeats of `steps` steps each, alternating "
            "ours/Keras. Each repeat gives its median step time; the table "
            "shows the median over repeats and the paired ratios ours/Keras of "
            "the repeats. The CPU-time ratio uses the process CPU time (all "
            "threads) of each repeat, less sensitive to other processes on the "
            "machine. The JSON has the statistics of the repeats' wall times "
            "(`wall`) and CPU times (`cpu`) too.",
        ],
        "quick": config.quick,
        "machine": machine,
        "config": dataclasses.asdict(config),
        "cases": cases,
        "table": _loss_table(cases),
    }


# --------------------------------------------------------------------------
# The `serving` benchmark.
# --------------------------------------------------------------------------
_CTR_CATEGORICAL = ("site", "app", "device")
_CTR_NUMERIC = ("f0", "f1", "f2", "f3")
_CTR_VOCABULARY = 50
_PREDICT_PATH = "/v1/models/ctr:predict"


@dataclasses.dataclass(frozen=True)
class ServingConfig:
    """Configuration of the `serving` benchmark.

    Attributes:
        requests: Timed sequential single-row requests (one client) per path.
        clients: Concurrent clients (threads of the benchmark process).
        requests_per_client: Timed requests of each concurrent client.
        warmup: Untimed requests of each client first.
        max_batch_size: `xent serve --max-batch-size` of the batching server
            (the other server runs with 1: batching off).
        batch_timeout_ms: `xent serve --batch-timeout-ms` of the batching
            server.
        overhead_goal_ms: Goal: p50 latency of one client over REST or gRPC
            without batching, minus the p50 of the direct call, at most this.
        throughput_goal: Goal: rows per second with batching and `clients`
            concurrent clients, at least this.
        seed: Seed of the model weights and of the rows.
        quick: Whether this is the shrunk smoke-test configuration.
    """

    requests: int = 2000
    clients: int = 16
    requests_per_client: int = 250
    warmup: int = 50
    max_batch_size: int = 64
    batch_timeout_ms: float = 0.0
    overhead_goal_ms: float = 1.0
    throughput_goal: float = 2000.0
    seed: int = 0
    quick: bool = False

    def __post_init__(self):
        for arg in ("requests", "clients", "requests_per_client", "max_batch_size"):
            if getattr(self, arg) < 1:
                raise ValueError(
                    f"Invalid value for argument `{arg}`. Expected a positive "
                    f"integer. Received: {arg}={getattr(self, arg)!r}"
                )
        if self.warmup < 0 or self.batch_timeout_ms < 0:
            raise ValueError(
                "Invalid value for argument `warmup`/`batch_timeout_ms`. Expected "
                f"values >= 0. Received: warmup={self.warmup}, "
                f"batch_timeout_ms={self.batch_timeout_ms}"
            )


def build_serving_config(quick: bool = False) -> ServingConfig:
    """Returns the `serving` configuration, shrunk to seconds if `quick`.

    Args:
        quick: Whether to shrink the request counts to a smoke test.

    Returns:
        2,000 sequential requests per path and 16 clients x 250 requests
        (quick: 40 and 4 x 10).
    """
    config = ServingConfig()
    if not quick:
        return config
    return dataclasses.replace(
        config, requests=40, clients=4, requests_per_client=10, warmup=5, quick=True
    )


def latency_summary(seconds: Sequence[float], elapsed: float) -> dict:
    """Latency percentiles of single-row requests and the rows per second.

    Args:
        seconds: The latency of each request.
        elapsed: Wall time of all of them (concurrent requests overlap).

    Returns:
        `p50_ms`, `p99_ms`, `mean_ms` and `rows_per_s`.

    Raises:
        ValueError: For no latencies or a non-positive `elapsed`.

    >>> s = latency_summary([0.001, 0.002, 0.003], elapsed=0.006)
    >>> s["p50_ms"], s["rows_per_s"]
    (2.0, 500.0)
    """
    if not len(seconds) or not elapsed > 0:
        raise ValueError(
            "Invalid value for arguments `seconds`/`elapsed`. Expected latencies "
            f"and elapsed > 0. Received {len(seconds)} latencies, elapsed={elapsed}"
        )
    ms = 1e3 * np.asarray(seconds, "float64")
    p50, p99 = np.percentile(ms, [50, 99])
    return {
        "p50_ms": float(p50),
        "p99_ms": float(p99),
        "mean_ms": float(ms.mean()),
        "rows_per_s": float(len(ms) / elapsed),
    }


def _build_ctr_model(seed: int) -> keras.Model:
    """A small CTR-like model on raw `[batch]` features: strings and floats in,
    P(click) out (the input layout of the CTR pipeline's export)."""
    keras.utils.set_random_seed(seed)
    inputs, parts = {}, []
    for name in _CTR_CATEGORICAL:
        inputs[name] = keras.Input((), name=name, dtype="string")
        vocabulary = [f"{name}_{i}" for i in range(_CTR_VOCABULARY)]
        ids = keras.layers.StringLookup(vocabulary=vocabulary)(inputs[name])
        parts.append(keras.layers.Embedding(_CTR_VOCABULARY + 1, 8)(ids))
    for name in _CTR_NUMERIC:
        inputs[name] = keras.Input((), name=name)
        parts.append(keras.layers.Reshape((1,))(inputs[name]))
    hidden = keras.layers.Dense(32, activation="relu")(
        keras.layers.Concatenate()(parts)
    )
    out = keras.layers.Dense(1, activation="sigmoid")(hidden)
    return keras.Model(inputs, out)


def _ctr_rows(n: int, seed: int) -> list[dict[str, Any]]:
    """`n` single rows `{input: value}` (TF Serving's row format)."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        row: dict[str, Any] = {
            name: f"{name}_{rng.integers(0, _CTR_VOCABULARY + 5)}"
            for name in _CTR_CATEGORICAL
        }
        row.update({name: float(rng.normal()) for name in _CTR_NUMERIC})
        rows.append(row)
    return rows


def _serve_process(base: Path, max_batch_size: int, batch_timeout_ms: float):
    """`xent serve` started in a subprocess (`wait_ready` before use)."""
    from xent.serving.process import ServeProcess

    return ServeProcess(
        base,
        "--poll-seconds",
        "0",
        "--max-batch-size",
        str(max_batch_size),
        "--batch-timeout-ms",
        str(batch_timeout_ms),
        wait=False,
    )


def _direct_client(fn, rows: list[dict]) -> Callable[[int], Any]:
    """Calls the signature in process with row `i` (tensors in, NumPy out)."""
    import tensorflow as tf

    specs = fn.structured_input_signature[1]

    def call(i: int):
        row = rows[i % len(rows)]
        feed = {k: tf.constant([v], dtype=specs[k].dtype) for k, v in row.items()}
        return {k: v.numpy() for k, v in fn(**feed).items()}

    return call


def _rest_client(port: int, bodies: list[bytes]) -> Callable[[int], Any]:
    """POSTs row `i` on one keep-alive connection; parses the answer."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}

    def call(i: int):
        conn.request("POST", _PREDICT_PATH, bodies[i % len(bodies)], headers)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"REST answered {response.status}: {data[:200]!r}")
        return json.loads(data)

    return call


def _grpc_client(port: int, requests: list) -> Callable[[int], Any]:
    """Calls Predict with row `i` on one channel; decodes the probabilities."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

    def call(i: int):
        response = stub.Predict(requests[i % len(requests)], timeout=60)
        return tf.make_ndarray(response.outputs["probabilities"])

    return call


def _time_grpc_streams(
    port: int, requests: list, clients: int, count: int, warmup: int
) -> dict:
    """Like `_time_clients` for gRPC, with `clients` concurrent request streams
    on one `grpc.aio` channel in one thread (how a Python client keeps many
    calls in flight: a thread per call costs more CPU than the server does)."""
    import asyncio

    import grpc
    import numpy as np
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    async def main() -> dict:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            latencies: list[float] = []

            async def stream(k: int, calls: int, timed: bool) -> None:
                for i in range(calls):
                    start = time.perf_counter()
                    response = await stub.Predict(
                        requests[(i * clients + k) % len(requests)], timeout=60
                    )
                    proto = response.outputs["probabilities"]
                    np.frombuffer(proto.tensor_content, np.float32)
                    if timed:
                        latencies.append(time.perf_counter() - start)

            await asyncio.gather(*(stream(k, warmup, False) for k in range(clients)))
            start = time.perf_counter()
            await asyncio.gather(*(stream(k, count, True) for k in range(clients)))
            return latency_summary(latencies, time.perf_counter() - start)

    return asyncio.run(main())


def _time_clients(
    make_client: Callable[[], Callable[[int], Any]],
    clients: int,
    requests: int,
    warmup: int,
) -> dict:
    """Runs `clients` threads of `requests` timed calls each (after `warmup`)."""
    calls = [make_client() for _ in range(clients)]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []
    start_line = threading.Barrier(clients + 1)

    def work(k: int) -> None:
        call, mine = calls[k], latencies[k]
        try:
            for i in range(warmup):
                call(i + k)
        except BaseException as err:  # noqa: BLE001 - raised below
            errors.append(err)
        start_line.wait()
        if errors:
            return
        try:
            for i in range(requests):
                start = time.perf_counter()
                call(i * clients + k)
                mine.append(time.perf_counter() - start)
        except BaseException as err:  # noqa: BLE001 - raised below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    start_line.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return latency_summary([s for mine in latencies for s in mine], elapsed)


def _serving_table(cases: Sequence[Mapping[str, Any]]) -> dict:
    columns = [
        "path",
        "batching",
        "clients x requests",
        "p50 ms",
        "p99 ms",
        "rows/s",
        "server CPU ms/request",
        "p50 overhead ms",
        "goal",
        "goal met",
    ]
    rows = [
        [
            c["path"],
            c["batching"],
            f"{c['clients']} x {c['requests']}",
            c["p50_ms"],
            c["p99_ms"],
            f"{c['rows_per_s']:.0f}",
            (
                "-"
                if c["server_cpu_ms_per_request"] is None
                else c["server_cpu_ms_per_request"]
            ),
            "-" if c["p50_overhead_ms"] is None else c["p50_overhead_ms"],
            c["goal"] or "-",
            "-" if c["meets_goal"] is None else c["meets_goal"],
        ]
        for c in cases
    ]
    return {"columns": columns, "rows": rows}


def run_serving(config: ServingConfig) -> dict:
    """Times single-row requests: direct call, REST and gRPC (writes no report).

    A small CTR-like model (three string fields through `StringLookup` and
    `Embedding`, four float fields, one hidden layer) is exported with
    `xent.export.export_classifier` into a temporary directory; two `xent
    serve` subprocesses serve it on 127.0.0.1, one with batching off
    (`--max-batch-size 1`) and one with `config.max_batch_size` and
    `config.batch_timeout_ms`. Each path is timed with one client (sequential
    requests) and with `config.clients` concurrent clients. Clients are
    threads of this process; the latency of a request includes building it
    (direct call: the tensors) and decoding the answer.

    Args:
        config: The benchmark configuration.

    Returns:
        The report dict: `benchmark`, `title`, `goal`, `notes`, `quick`,
        `machine`, `config`, `cases` (one dict per path, batching and client
        count) and `table` (for `render_readme`).
    """
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    from xent.export import export_classifier

    machine = _machine_info()
    rows = _ctr_rows(256, config.seed + 1)
    bodies = [json.dumps({"instances": [row]}).encode() for row in rows]
    grpc_requests = []
    for row in rows:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "ctr"
        for name, value in row.items():
            dtype = tf.string if name in _CTR_CATEGORICAL else tf.float32
            request.inputs[name].CopyFrom(tf.make_tensor_proto([value], dtype=dtype))
        grpc_requests.append(request)

    cases = []
    with tempfile.TemporaryDirectory(prefix="xent-bench-serving-") as tmp:
        base = Path(tmp)
        export_classifier(
            _build_ctr_model(config.seed),
            base / "ctr",
            class_names=["no_click", "click"],
            metadata={"benchmark": "serving"},
            example_instances=rows[:1],
        )
        servers = {
            "off": _serve_process(base, 1, 0.0),
            "on": _serve_process(base, config.max_batch_size, config.batch_timeout_ms),
        }
        try:
            fn = tf.saved_model.load(str(base / "ctr" / "1")).signatures[
                "serving_default"
            ]
            for server in servers.values():
                server.wait_ready(600.0)
            runs = [("direct", "-", None, functools.partial(_direct_client, fn, rows))]
            for batching, server in servers.items():
                runs += [
                    (
                        "REST",
                        batching,
                        server,
                        functools.partial(_rest_client, server.rest_port, bodies),
                    ),
                    (
                        "gRPC",
                        batching,
                        server,
                        functools.partial(
                            _grpc_client, server.grpc_port, grpc_requests
                        ),
                    ),
                ]
            for path, batching, server, make_client in runs:
                for clients, requests in (
                    (1, config.requests),
                    (config.clients, config.requests_per_client),
                ):
                    cpu_before = server.cpu_seconds() if server else None
                    if path == "gRPC" and clients > 1:
                        summary = _time_grpc_streams(
                            server.grpc_port,
                            grpc_requests,
                            clients,
                            requests,
                            config.warmup,
                        )
                    else:
                        summary = _time_clients(
                            make_client, clients, requests, config.warmup
                        )
                    cpu_after = server.cpu_seconds() if server else None
                    # Warm-up requests are counted too: CPU per request.
                    served = clients * (requests + config.warmup)
                    cases.append(
                        {
                            "path": path,
                            "batching": batching,
                            "clients": clients,
                            "requests": requests,
                            **summary,
                            "server_cpu_ms_per_request": (
                                None
                                if cpu_before is None or cpu_after is None
                                else 1e3 * (cpu_after - cpu_before) / served
                            ),
                        }
                    )
        finally:
            for server in servers.values():
                server.stop()

    direct_p50 = cases[0]["p50_ms"]
    for case in cases:
        sequential = case["clients"] == 1
        served = case["path"] != "direct"
        case["p50_overhead_ms"] = (
            case["p50_ms"] - direct_p50 if served and sequential else None
        )
        case["goal"], case["meets_goal"] = None, None
        if served and sequential and case["batching"] == "off":
            case["goal"] = f"overhead <= {config.overhead_goal_ms:g} ms"
            case["meets_goal"] = case["p50_overhead_ms"] <= config.overhead_goal_ms
        elif served and not sequential and case["batching"] == "on":
            case["goal"] = f">= {config.throughput_goal:.0f} rows/s"
            case["meets_goal"] = case["rows_per_s"] >= config.throughput_goal
    machine["load_average_after"] = _machine_info()["load_average"]
    return {
        "benchmark": "serving",
        "title": "Serving: single-row CTR requests, direct call vs REST vs gRPC",
        "goal": (
            f"p50 overhead over the direct in-process call <= "
            f"{config.overhead_goal_ms:g} ms without batching; >= "
            f"{config.throughput_goal:.0f} rows/s with batching and "
            f"{config.clients} concurrent clients."
        ),
        "notes": [
            "One row per request to a small CTR-like export (3 string fields "
            "through StringLookup + Embedding, 4 floats, all `[batch]`; Dense "
            "32, sigmoid). "
            "`direct`: `serving_default` called in the benchmark process "
            "(tensors built from the row, outputs fetched as NumPy). REST and "
            "gRPC: `xent serve` in a subprocess on 127.0.0.1; REST requests on "
            "keep-alive connections with the JSON answer parsed, gRPC with the "
            "real `tensorflow-serving-api` stub and the probabilities decoded.",
            f"Batching `off`: `--max-batch-size 1`; `on`: `--max-batch-size "
            f"{config.max_batch_size} --batch-timeout-ms "
            f"{config.batch_timeout_ms:g}` (merges the requests that queued "
            "while the model was busy).",
            "Clients run in the benchmark process, on the same cores as the "
            "server, so concurrent numbers include the clients' own CPU time: "
            "direct and REST clients are threads; the 16 concurrent gRPC "
            "clients are request streams on one `grpc.aio` channel (a "
            "thread per synchronous gRPC client costs about as much CPU as the "
            "server's own work per call). `p50 overhead` = p50 of the path "
            "minus p50 of the sequential direct call; rows/s = timed "
            "requests / wall time. "
            "`server CPU ms/request`: user + system CPU time of the `xent "
            "serve` process (all its threads) per request, from /proc; less "
            "sensitive than wall times to other processes on the machine.",
        ],
        "quick": config.quick,
        "machine": machine,
        "config": dataclasses.asdict(config),
        "cases": cases,
        "table": _serving_table(cases),
    }


# --------------------------------------------------------------------------
# The `quality` benchmark.
# --------------------------------------------------------------------------
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
    machine = _machine_info()
    runs = []
    with tempfile.TemporaryDirectory(prefix="xent-bench-quality-") as tmp:
        for task in _QUALITY_METRICS:
            for seed in config.seeds:
                runs.append(_quality_run(task, seed, config, Path(tmp)))
    machine["load_average_after"] = _machine_info()["load_average"]
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


def write_report(out_dir: Path | str, report: Mapping[str, Any]) -> Path:
    """Writes `<benchmark>.json` and regenerates `README.md` from all JSONs.

    JSON files in `out_dir` that are not benchmark reports (no `title` or
    `table`) are left out of the README with a warning.

    Args:
        out_dir: The benchmark folder (created if missing).
        report: A report with a `benchmark` name (see `render_readme`).

    Returns:
        The path of the JSON file written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    from xent.runner import write_atomic

    path = out_dir / f"{report['benchmark']}.json"
    write_atomic(path, json.dumps(report, indent=2) + "\n")
    reports = {}
    for json_path in sorted(out_dir.glob("*.json")):
        try:
            loaded = json.loads(json_path.read_text())
        except json.JSONDecodeError as error:
            warnings.warn(f"Skipping {json_path}: {error}", stacklevel=2)
            continue
        if not isinstance(loaded, dict) or not {"title", "table"} <= loaded.keys():
            warnings.warn(
                f"Skipping {json_path}: not a benchmark report (needs `title` "
                "and `table`).",
                stacklevel=2,
            )
            continue
        reports[json_path.name] = loaded
    write_atomic(out_dir / "README.md", render_readme(reports))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: `python -m xent.bench --out DIR [--quick] [--only NAME]`."""
    parser = argparse.ArgumentParser(
        prog="python -m xent.bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", required=True, type=Path, help="folder of the reports")
    parser.add_argument(
        "--quick", action="store_true", help="shrink everything to seconds"
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed repeats per loss"
    )
    parser.add_argument(
        "--only",
        choices=BENCHMARKS,
        action="append",
        help="run only this benchmark (repeatable; default: all)",
    )
    args = parser.parse_args(argv)
    for name in args.only or BENCHMARKS:
        if name == "loss_step":
            config = build_loss_step_config(quick=args.quick)
            if args.repeats is not None:
                config = dataclasses.replace(config, repeats=args.repeats)
            report = run_loss_step(config)
        elif name == "quality":
            report = run_quality(build_quality_config(quick=args.quick))
        elif name == "ctr":
            from xent.ctr import bench as ctr_bench

            report = ctr_bench.run_ctr(ctr_bench.build_ctr_config(quick=args.quick))
        else:
            report = run_serving(build_serving_config(quick=args.quick))
        path = write_report(args.out, report)
        print(render_readme({path.name: report}), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
