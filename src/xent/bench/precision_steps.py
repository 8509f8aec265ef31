"""The `precision` benchmark: training-step time in bfloat16 against float32.

For three models it times the training step built under Keras'
`mixed_bfloat16` policy against the same model in `float32`, side by side in
one process:

* `digits_cnn`: the multiclass task's default model (the `digits` profile of
  `pipelines/multiclass.yaml`: a CNN with batch norm and random shifts) on
  the task's own prepared digits (`task.build_inputs`), at its batch size;
* `gan`: the GAN task's default (`pipelines/gan.yaml`): one step trains the
  discriminator and then the generator, at its batch size;
* `ctr_deepfm`: a DeepFM (`build_ctr_model`) on random ids of six fields and
  three numeric columns held in memory, with the shared
  `xent.losses.BinaryCrossentropy(from_logits=True)`.

Each model is built the way `xent.runner` builds it: the run's seed set
first, then the task's `create_model` (or the builder) inside
`precision.training_policy(precision.resolve(...))`; the default
distribution strategy's scope is a null context, so it is left out. Both
precisions start from the same weights. After untimed warm-up steps (tracing),
short `fit` runs of a fixed number of steps alternate between the two (float32
first on even repeats, bfloat16 first on odd ones, as in `loss_step`), and
each repeat gives one paired speed ratio, so that the drifts of a shared
machine cancel out. Speed only: the test metrics of bfloat16 training are
measured by end-to-end runs, not here.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from xent import config as config_lib
from xent import distribute as distribute_lib
from xent import losses
from xent import precision as precision_lib
from xent.bench.loss_step import ratio_spread
from xent.bench.machine import machine_info
from xent.ctr.specs import DenseFeat
from xent.ctr.specs import SparseFeat
from xent.gan import data as gan_data
from xent.models.ctr import CTRModelConfig
from xent.models.ctr import build_ctr_model
from xent.pipelines import TASKS

__all__ = [
    "CASES",
    "DeepFMCase",
    "PrecisionCase",
    "PrecisionConfig",
    "build_precision_config",
    "run_precision",
    "summarize_precision_pairs",
]

CASES = ("digits_cnn", "gan", "ctr_deepfm")
# The two values of `train.precision` compared, and their short names in the
# report (the keys of every per-precision result).
_PRECISIONS = {"float32": "float32", "mixed_bfloat16": "bfloat16"}
_LABELS = {
    "digits_cnn": "digits CNN (multiclass default)",
    "gan": "GAN (gan default, D + G step)",
    "ctr_deepfm": "CTR DeepFM (in-memory random ids)",
}
# CPU flags that decide bfloat16's speed on a CPU (`precision.bfloat16_hardware`).
_BF16_FLAGS = ("amx_bf16", "amx_tile", "avx512_bf16")


def _check_positive(arg: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"Invalid value for argument `{arg}`. Expected a positive integer. "
            f"Received: {arg}={value!r}"
        )


@dataclasses.dataclass(frozen=True)
class PrecisionCase:
    """One model whose training step is timed in both precisions.

    Attributes:
        name: One of `CASES`.
        steps_per_repeat: Training steps per timed repeat.
        overrides: `key=value` config overrides of the task (as `--set`)
            for `digits_cnn` and `gan`; `ctr_deepfm` takes none (its
            settings are `PrecisionConfig.deepfm`).
    """

    name: str
    steps_per_repeat: int
    overrides: tuple[str, ...] = ()

    def __post_init__(self):
        if self.name not in CASES:
            raise ValueError(
                f"Invalid value for argument `name`. Expected one of {list(CASES)}. "
                f"Received: name={self.name!r}"
            )
        _check_positive("steps_per_repeat", self.steps_per_repeat)
        if self.name == "ctr_deepfm" and self.overrides:
            raise ValueError(
                "Invalid value for argument `overrides`. Expected none for "
                "ctr_deepfm (set `PrecisionConfig.deepfm`). Received: "
                f"overrides={self.overrides!r}"
            )


@dataclasses.dataclass(frozen=True)
class DeepFMCase:
    """The data and model of the `ctr_deepfm` case.

    Attributes:
        vocab_sizes: Ids per categorical field (uniformly drawn).
        numeric: Standard-normal numeric columns.
        embedding_dim: Embedding width of every field.
        hidden: Units of the DNN's hidden layers.
        batch_size: Examples per step.
        batches: Distinct batches held in memory (reshuffled every pass).
        learning_rate: Adam's learning rate.
        click_rate: Probability of a positive label (independent of the ids).
    """

    vocab_sizes: tuple[int, ...] = (12, 40, 300, 3_000, 30_000, 100_000)
    numeric: int = 3
    embedding_dim: int = 8
    hidden: tuple[int, ...] = (256, 128)
    batch_size: int = 1024
    batches: int = 32
    learning_rate: float = 1e-3
    click_rate: float = 0.25

    def __post_init__(self):
        if not self.vocab_sizes or min(self.vocab_sizes) < 1:
            raise ValueError(
                "Invalid value for argument `vocab_sizes`. Expected positive "
                f"sizes, at least one. Received: vocab_sizes={self.vocab_sizes!r}"
            )
        for arg in ("embedding_dim", "batch_size", "batches"):
            _check_positive(arg, getattr(self, arg))
        if self.numeric < 0:
            raise ValueError(
                "Invalid value for argument `numeric`. Expected an integer >= 0. "
                f"Received: numeric={self.numeric!r}"
            )
        if not 0.0 < self.click_rate < 1.0:
            raise ValueError(
                "Invalid value for argument `click_rate`. Expected a number in "
                f"(0, 1). Received: click_rate={self.click_rate!r}"
            )


@dataclasses.dataclass(frozen=True)
class PrecisionConfig:
    """Configuration of the `precision` benchmark.

    Attributes:
        cases: The models to time, in order (each name at most once).
        deepfm: Settings of the `ctr_deepfm` case.
        repeats: Timed repeats per precision (paired repeats).
        warmup_steps: Untimed steps per model first (tracing, caches).
        seed: The run's seed (`train.seed` of the tasks): data and weights.
        quick: Whether this is the shrunk smoke-test configuration.
    """

    cases: tuple[PrecisionCase, ...]
    deepfm: DeepFMCase = DeepFMCase()
    repeats: int = 25
    warmup_steps: int = 10
    seed: int = 0
    quick: bool = False

    def __post_init__(self):
        names = [case.name for case in self.cases]
        if not names or len(set(names)) != len(names):
            raise ValueError(
                "Invalid value for argument `cases`. Expected at least one case, "
                f"each name once. Received: {names}"
            )
        _check_positive("repeats", self.repeats)
        _check_positive("warmup_steps", self.warmup_steps)


def build_precision_config(quick: bool = False) -> PrecisionConfig:
    """Returns the `precision` configuration, shrunk to seconds if `quick`.

    Args:
        quick: Whether to shrink the models, data and repeats to a smoke test.

    Returns:
        The configuration: the three default models at their default batch
        sizes (digits CNN 64, GAN 32, DeepFM 1024), 25 paired repeats of 40,
        30 and 20 steps (each repeat 0.2-0.4 s on a 2-core CPU) after 10
        warm-up steps.
    """
    if not quick:
        return PrecisionConfig(
            cases=(
                PrecisionCase("digits_cnn", steps_per_repeat=40),
                PrecisionCase("gan", steps_per_repeat=30),
                PrecisionCase("ctr_deepfm", steps_per_repeat=20),
            )
        )
    return PrecisionConfig(
        cases=(
            PrecisionCase(
                "digits_cnn",
                steps_per_repeat=2,
                overrides=("model.filters=[4]", "model.dense=8"),
            ),
            PrecisionCase(
                "gan",
                steps_per_repeat=2,
                overrides=(
                    "model.latent_dim=4",
                    "model.generator_filters=[8]",
                    "model.discriminator_filters=[8]",
                ),
            ),
            PrecisionCase("ctr_deepfm", steps_per_repeat=2),
        ),
        deepfm=DeepFMCase(
            vocab_sizes=(10, 50, 500), hidden=(16,), batch_size=128, batches=4
        ),
        repeats=2,
        warmup_steps=1,
        quick=True,
    )


@dataclasses.dataclass(frozen=True)
class _Trainee:
    """What a case trains: its data, a builder of its compiled model and the
    logged losses to check for finite values."""

    description: str
    batch_size: int
    dataset: Any
    build: Callable[[], keras.Model]
    loss_keys: tuple[str, ...]


def _task_config(task, case: PrecisionCase, seed: int):
    return config_lib.load_config(
        task.config_class,
        task.defaults,
        overrides=[*case.overrides, f"train.seed={seed}"],
    )


def _digits_cnn(case: PrecisionCase, config: PrecisionConfig) -> _Trainee:
    """The multiclass task's default on its own prepared digits."""
    task = TASKS["multiclass"]
    cfg = _task_config(task, case, config.seed)
    train = cfg.train
    if train.steps_per_execution != 1:
        # Batch callbacks would then see every N-th step only.
        raise ValueError(
            "Invalid value for train.steps_per_execution in the digits_cnn "
            f"overrides. Expected 1. Received: {train.steps_per_execution}"
        )
    keras.utils.set_random_seed(train.seed)
    data = task.build_inputs(cfg)
    split = data.features.train
    dataset = split.training_data(
        lambda labels: task.build_targets(cfg, labels, data),
        train.batch_size,
        train.seed,
        False,
    )
    m = cfg.model
    return _Trainee(
        description=(
            f"{m.kind}, filters {list(m.filters)}, dense {m.dense}, batch norm "
            f"{m.batch_norm}, {split.rows} training images "
            f"{tuple(split.feature_shape())}"
        ),
        batch_size=train.batch_size,
        dataset=dataset.repeat(),
        build=lambda: task.create_model(cfg, data),
        loss_keys=("loss",),
    )


def _gan(case: PrecisionCase, config: PrecisionConfig) -> _Trainee:
    """The GAN task's default; its evaluation classifier is not needed to
    train, so only the images are loaded (`xent.gan.data.load_images`)."""
    task = TASKS["gan"]
    cfg = _task_config(task, case, config.seed)
    train = cfg.train
    keras.utils.set_random_seed(train.seed)
    data = gan_data.load_images(cfg.data, train.seed)
    split = data.splits.train
    dataset = gan_data.training_dataset(
        split, cfg.model.conditional, train.batch_size, train.seed
    )
    m = cfg.model
    return _Trainee(
        description=(
            f"latent {m.latent_dim}, generator filters "
            f"{list(m.generator_filters)}, discriminator filters "
            f"{list(m.discriminator_filters)}, {split.rows} training images"
        ),
        batch_size=train.batch_size,
        dataset=dataset.repeat(),
        build=lambda: task.create_model(cfg, data),
        loss_keys=("d_loss", "g_loss"),
    )


def _ctr_deepfm(case: PrecisionCase, config: PrecisionConfig) -> _Trainee:
    """A DeepFM on random ids held in memory (`distribute.array_dataset`, the
    in-memory pipeline of the tasks)."""
    d = config.deepfm
    rng = np.random.default_rng(config.seed)
    rows = d.batch_size * d.batches
    specs = [
        SparseFeat(f"c{i}", size, d.embedding_dim)
        for i, size in enumerate(d.vocab_sizes)
    ] + [DenseFeat(f"n{i}") for i in range(d.numeric)]
    x = {
        f"c{i}": rng.integers(0, size, rows, dtype="int64")
        for i, size in enumerate(d.vocab_sizes)
    }
    for i in range(d.numeric):
        x[f"n{i}"] = rng.normal(size=(rows, 1)).astype("float32")
    y = (rng.random((rows, 1)) < d.click_rate).astype("float32")
    dataset = distribute_lib.array_dataset(
        x, y, d.batch_size, shuffle=True, seed=config.seed
    )
    model_config = CTRModelConfig(
        kind="deepfm", embedding_dim=d.embedding_dim, hidden=d.hidden
    )

    def build() -> keras.Model:
        model = build_ctr_model(specs, model_config)
        model.compile(
            optimizer=keras.optimizers.Adam(d.learning_rate),
            loss=losses.BinaryCrossentropy(from_logits=True),
        )
        return model

    return _Trainee(
        description=(
            f"fields {list(d.vocab_sizes)} + {d.numeric} numeric, embedding "
            f"{d.embedding_dim}, DNN {list(d.hidden)}, {rows} rows"
        ),
        batch_size=d.batch_size,
        dataset=dataset.repeat(),
        build=build,
        loss_keys=("loss",),
    )


_SETUPS = {"digits_cnn": _digits_cnn, "gan": _gan, "ctr_deepfm": _ctr_deepfm}


class _StepTimer(keras.callbacks.Callback):
    """Wall time of every step, and wall and process CPU time of the run
    (the CPU time, all threads, is less sensitive than the wall time to other
    processes competing for the cores)."""

    def __init__(self):
        super().__init__()
        self.step_seconds: list[float] = []
        self.wall_seconds = self.cpu_seconds = 0.0
        self._step_start = self._wall_start = self._cpu_start = 0.0

    def on_train_begin(self, logs=None):
        self._cpu_start = time.process_time()
        self._wall_start = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        self._step_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.step_seconds.append(time.perf_counter() - self._step_start)

    def on_train_end(self, logs=None):
        self.wall_seconds = time.perf_counter() - self._wall_start
        self.cpu_seconds = time.process_time() - self._cpu_start


def _fit(model: keras.Model, dataset, steps: int) -> tuple[_StepTimer, dict]:
    """Trains `steps` steps; returns the timer and the run's logged values."""
    timer = _StepTimer()
    history = model.fit(
        dataset,
        steps_per_epoch=steps,
        epochs=1,
        shuffle=False,  # The datasets shuffle themselves.
        verbose=0,
        callbacks=[timer],
    )
    return timer, history.history


def summarize_precision_pairs(
    float32: Sequence[float], bfloat16: Sequence[float]
) -> dict[str, Any]:
    """Medians of paired step times and their speed ratios.

    The speed ratio of repeat `i` is bfloat16's speed over float32's,
    `float32[i] / bfloat16[i]` (seconds per step): above 1 bfloat16 is faster.

    Args:
        float32: Seconds per step in float32, one per repeat.
        bfloat16: Seconds per step in bfloat16, paired with `float32`.

    Returns:
        `float32_s_per_step` and `bfloat16_s_per_step` (medians),
        `speed_ratio_median`, `speed_ratio_q25`, `speed_ratio_q75`,
        `speed_ratio_min`, `speed_ratio_max` (of the paired ratios) and
        `bf16_faster`: faster within noise, i.e. the lower quartile of the
        paired speed ratios is above 1 (three repeats in four or more).

    Raises:
        ValueError: If the sequences are empty, of different lengths, or
            hold a time that is not finite and positive.

    >>> s = summarize_precision_pairs([2.0, 2.0, 2.0], [1.0, 2.0, 4.0])
    >>> s["speed_ratio_median"], s["bf16_faster"]
    (1.0, False)
    """
    if not float32 or len(float32) != len(bfloat16):
        raise ValueError(
            "Invalid value for arguments `float32`/`bfloat16`. Expected two "
            "non-empty sequences of the same length. Received lengths "
            f"{len(float32)} and {len(bfloat16)}"
        )
    f32 = np.asarray(float32, "float64")
    bf16 = np.asarray(bfloat16, "float64")
    both = np.concatenate([f32, bf16])
    if not np.all(np.isfinite(both) & (both > 0)):
        raise ValueError(
            "Invalid value for arguments `float32`/`bfloat16`. Expected finite "
            f"positive seconds. Received: float32={list(float32)}, "
            f"bfloat16={list(bfloat16)}"
        )
    spread = ratio_spread(f32 / bf16, "speed_ratio")
    return {
        "float32_s_per_step": float(np.median(f32)),
        "bfloat16_s_per_step": float(np.median(bf16)),
        **spread,
        "bf16_faster": bool(spread["speed_ratio_q25"] > 1.0),
    }


def _finite(history: Mapping[str, list[float]], keys: Sequence[str]) -> bool:
    return all(math.isfinite(float(v)) for k in keys for v in history[k])


def _time_case(case: PrecisionCase, config: PrecisionConfig) -> dict[str, Any]:
    trainee = _SETUPS[case.name](case, config)
    models, policies = {}, {}
    for requested, short in _PRECISIONS.items():
        precision = precision_lib.resolve(requested)
        # As `xent.runner._train`: the seed, then the model under the policy.
        keras.utils.set_random_seed(config.seed)
        with precision_lib.training_policy(precision):
            models[short] = trainee.build()
        policies[short] = models[short].dtype_policy.name
    finite, last_loss = {}, {}
    for short, model in models.items():
        _, history = _fit(model, trainee.dataset, config.warmup_steps)
        finite[short] = _finite(history, trainee.loss_keys)
    step = {short: [] for short in models}
    wall = {short: [] for short in models}
    cpu = {short: [] for short in models}
    steps = case.steps_per_repeat
    order = list(models)
    for repeat in range(config.repeats):
        for short in order if repeat % 2 == 0 else order[::-1]:
            timer, history = _fit(models[short], trainee.dataset, steps)
            # The median step of a repeat is robust to bursts of other
            # processes on a shared machine.
            step[short].append(float(np.median(timer.step_seconds)))
            wall[short].append(timer.wall_seconds / steps)
            cpu[short].append(timer.cpu_seconds / steps)
            finite[short] = finite[short] and _finite(history, trainee.loss_keys)
            last_loss[short] = {k: float(history[k][-1]) for k in trainee.loss_keys}
    summary = summarize_precision_pairs(step["float32"], step["bfloat16"])
    batch = trainee.batch_size
    return {
        "case": case.name,
        "model": trainee.description,
        "overrides": list(case.overrides),
        "batch_size": batch,
        "steps_per_repeat": steps,
        "repeats": config.repeats,
        "parameters": int(models["float32"].count_params()),
        "dtype_policy": policies,
        **summary,
        "float32_examples_per_s": batch / summary["float32_s_per_step"],
        "bfloat16_examples_per_s": batch / summary["bfloat16_s_per_step"],
        "loss_finite": finite,
        "last_loss": last_loss,
        "float32_s_per_step_all": step["float32"],
        "bfloat16_s_per_step_all": step["bfloat16"],
        "wall": _paired(wall),
        "cpu": _paired(cpu),
    }


def _paired(seconds: Mapping[str, list[float]]) -> dict[str, Any]:
    return {
        "float32_s_per_step_all": seconds["float32"],
        "bfloat16_s_per_step_all": seconds["bfloat16"],
        **summarize_precision_pairs(seconds["float32"], seconds["bfloat16"]),
    }


def _cpu_model(path: str | Path = "/proc/cpuinfo") -> str | None:
    """The CPU's `model name` in `/proc/cpuinfo` (None where absent)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return None


def _goals(cases: Sequence[Mapping[str, Any]], auto_policy: str) -> dict[str, Any]:
    """Per case: the median speed ratio, whether bfloat16 measured faster, and
    whether `auto`'s choice on this machine agrees with that."""
    auto_bf16 = auto_policy == "mixed_bfloat16"
    return {
        c["case"]: {
            "bf16_speed_ratio": c["speed_ratio_median"],
            "bf16_faster": c["bf16_faster"],
            "auto_agrees": c["bf16_faster"] == auto_bf16,
        }
        for c in cases
    }


def _table(cases: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    columns = [
        "case",
        "batch",
        "steps x repeats",
        "float32 ms/step",
        "bfloat16 ms/step",
        "float32 examples/s",
        "bfloat16 examples/s",
        "speed bf16/f32 (median)",
        "speed ratio IQR",
        "bf16 faster",
        "loss finite (f32, bf16)",
    ]
    rows = [
        [
            _LABELS[c["case"]],
            c["batch_size"],
            f"{c['steps_per_repeat']} x {c['repeats']}",
            1e3 * c["float32_s_per_step"],
            1e3 * c["bfloat16_s_per_step"],
            f"{c['float32_examples_per_s']:,.0f}",
            f"{c['bfloat16_examples_per_s']:,.0f}",
            c["speed_ratio_median"],
            f"{c['speed_ratio_q25']:.3f}-{c['speed_ratio_q75']:.3f}",
            c["bf16_faster"],
            ", ".join(
                "yes" if c["loss_finite"][p] else "no" for p in ("float32", "bfloat16")
            ),
        ]
        for c in cases
    ]
    return {"columns": columns, "rows": rows}


def run_precision(config: PrecisionConfig) -> dict[str, Any]:
    """Times every case of `config` in both precisions; writes nothing.

    Args:
        config: The benchmark configuration.

    Returns:
        The report dict: `benchmark`, `title`, `goal`, `notes`, `quick`,
        `machine`, `config` (resolved), `results` (`precision_auto`,
        `cpu_model`, `cpu_flags` and `cases`, one dict per case), `goals`
        (per case `bf16_speed_ratio`, `bf16_faster`, `auto_agrees`) and
        `table` (see `xent.bench.report.render_readme`).
    """
    machine = machine_info()
    auto = precision_lib.resolve("auto")
    flags = precision_lib.cpu_flags()
    cases = [_time_case(case, config) for case in config.cases]
    machine["load_average_after"] = machine_info()["load_average"]
    results = {
        "precision_auto": auto.as_dict(),
        "cpu_model": _cpu_model(),
        "cpu_flags": {flag: flag in flags for flag in _BF16_FLAGS},
        "cases": cases,
    }
    present = [flag for flag in _BF16_FLAGS if flag in flags] or ["none"]
    return {
        "benchmark": "precision",
        "title": "Training-step time: bfloat16 vs float32 (digits CNN, GAN, "
        "CTR DeepFM)",
        "goal": (
            "informational: bfloat16 vs float32 step time per model; `auto` "
            "picks bfloat16 only where it measures faster."
        ),
        "notes": [
            "Milliseconds per training step (forward, loss, backward, Adam) of "
            "each model built as `xent.runner` builds it: under "
            "`precision.training_policy` of `train.precision=float32` and "
            "`mixed_bfloat16` (float32 variables, bfloat16 compute), the same "
            "seed and weights, `jit_compile=False`. Examples/s = batch / median "
            "step time.",
            f"{config.warmup_steps} untimed warm-up step(s) per model (tracing), "
            f"then {config.repeats} timed repeats of `steps` steps, alternating "
            "float32/bfloat16 (float32 first on even repeats). Each repeat "
            "gives its median step time; the table shows the medians over "
            "repeats and the paired speed ratios float32 time / bfloat16 time "
            "(above 1: bfloat16 faster; `bf16 faster`: lower quartile above 1). "
            "The JSON has the same statistics of the repeats' wall and process "
            "CPU times (`wall`, `cpu`).",
            f"CPU: {results['cpu_model']}; bfloat16 flags: {', '.join(present)}. "
            f"`train.precision=auto` resolves here to `{auto.policy}` "
            f"({auto.reason}).",
            "Speed only: whether bfloat16 training keeps the test metrics "
            "within seed noise of float32 is measured elsewhere (end-to-end "
            "runs of the pipelines over seeds with `--set train.precision=...`), "
            "not by this benchmark.",
        ],
        "quick": config.quick,
        "machine": machine,
        "config": dataclasses.asdict(config),
        "results": results,
        "goals": _goals(cases, auto.policy),
        "table": _table(cases),
    }
