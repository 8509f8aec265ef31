"""The `loss_step` benchmark: training-step time, `xent.losses` vs `keras.losses`.

It times a training step of the same model compiled with our loss and with the
Keras built-in of the same name. Both models are built from the same seed and
trained on the same data. After one warm-up epoch each, short runs of a fixed
number of steps are timed alternately (ours first on even repeats, Keras first
on odd ones) in one process, and each repeat gives one paired ratio
ours/Keras, so that the drifts of a shared machine cancel out. On a busy
2-core machine, short repeats paired much better than whole epochs (small
CNN: interquartile range of the paired ratios 0.79-1.19 with 7 one-epoch
repeats, 0.90-0.98 with 15 repeats of 4 steps).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from xent import losses as xent_losses
from xent.bench.machine import machine_info
from xent.models import build_mlp
from xent.models import build_small_cnn

__all__ = [
    "LossStepConfig",
    "StepCase",
    "build_loss_step_config",
    "ratio_spread",
    "run_loss_step",
    "summarize_pairs",
]

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
    spread = ratio_spread(ratios, "ratio")
    return {
        "ours_s_per_step": float(np.median(ours)),
        "builtin_s_per_step": float(np.median(builtin)),
        **spread,
        "meets_goal": bool(spread["ratio_q25"] <= _GOAL_RATIO),
    }


def ratio_spread(ratios, prefix: str) -> dict[str, float]:
    """`{prefix}_median`, `_q25`, `_q75`, `_min` and `_max` of paired ratios
    (the summary every paired benchmark reports)."""
    ratios = np.asarray(ratios, "float64")
    q25, q50, q75 = np.percentile(ratios, [25, 50, 75])
    return {
        f"{prefix}_median": float(q50),
        f"{prefix}_q25": float(q25),
        f"{prefix}_q75": float(q75),
        f"{prefix}_min": float(ratios.min()),
        f"{prefix}_max": float(ratios.max()),
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
    machine = machine_info()
    cases = [_time_case(case, config) for case in config.cases]
    machine["load_average_after"] = machine_info()["load_average"]
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
