"""The `ctr` benchmark: our DeepFM against DeepCTR's, and input against training.

`python -m xent.bench --out reports/bench --only ctr` (part of `make bench`).

One run, side by side, on the same data:

1. The synthetic click log (`xent.ctr.synthetic`, known truth) is written as a
   CSV file, the way real logs arrive.
2. **Ours**: `xent train ctr`'s stages on that file: the file is prepared into
   TFRecord shards by the tfds builder (timed: `prepare s`), streamed with
   tf.data through the exported preprocessor (vocabularies, numeric
   transforms; kept in memory after the first pass, `data.memory_cache_mb`)
   and trained as DeepFM, in each of `OURS_VARIANTS` (the steps from one
   table per field to fused tables, the lazy Adam and bfloat16: each
   change measured on its own). Training examples per second are timed
   over the epochs after the first (the first traces the graph).
3. **Input pipeline**: the same training stream (file -> parsed batches ->
   preprocessor) iterated on its own, without a model: examples per second
   of the first pass (file and preprocessing) and of the second (what
   epochs 2.. read).
4. **DeepCTR 0.9.4** `DeepFM` in its own throwaway virtualenv (tf-keras 2.21,
   `TF_USE_LEGACY_KERAS=1`; `xent.bench.deepctr_peer`), fed the same
   preprocessed ids and numeric columns as in-memory arrays (the usual
   DeepCTR recipe: label-encoded ids, `model.fit` on numpy), with the same
   embedding size, MLP, batch size, epochs, learning rate and embedding L2,
   in float32 and in tf-keras' `mixed_bfloat16` where that runs.

Goals: the training examples/s of our fastest variant whose test AUC is at
least DeepCTR's minus 0.002 (the seed-to-seed spread) >= 2x DeepCTR's
fastest; input pipeline examples/s >= 5x that variant's training
examples/s.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from xent.bench.machine import machine_info

__all__ = [
    "CTRBenchConfig",
    "build_ctr_config",
    "ctr_goals",
    "fastest_variant",
    "mlp_matmul_floor",
    "peer_python",
    "run_ctr",
]

OURS_VARIANTS = {
    "per_field": (
        "one table per field, Adam, whole-table L2, float32 (DeepCTR's layout)",
        {
            "model.fused_embeddings": False,
            "train.optimizer": "adam",
            "model.l2_embedding_mode": "table",
            "train.precision": "float32",
        },
    ),
    "fused": (
        "fused tables, Adam, whole-table L2, float32",
        {
            "model.fused_embeddings": True,
            "train.optimizer": "adam",
            "model.l2_embedding_mode": "table",
            "train.precision": "float32",
        },
    ),
    "fused_lazy": (
        "fused tables, lazy Adam, L2 on the looked-up rows, float32",
        {
            "model.fused_embeddings": True,
            "train.optimizer": "lazy_adam",
            "model.l2_embedding_mode": "rows",
            "train.precision": "float32",
        },
    ),
    "fused_lazy_bf16": (
        "fused tables, lazy Adam, L2 on the looked-up rows, mixed_bfloat16",
        {
            "model.fused_embeddings": True,
            "train.optimizer": "lazy_adam",
            "model.l2_embedding_mode": "rows",
            "train.precision": "mixed_bfloat16",
        },
    ),
}
"""Our DeepFM's configurations: description and config overrides."""
PEER_PRECISIONS = ("float32", "mixed_bfloat16")
DEEPCTR_REQUIREMENTS = (
    ("tensorflow-cpu==2.21.0", "h5py", "requests"),
    ("--no-deps", "tf-keras==2.21.0", "deepctr==0.9.4"),
)
_AUC_TOLERANCE = 0.002


@dataclasses.dataclass(frozen=True)
class CTRBenchConfig:
    """The `ctr` benchmark's settings.

    Attributes:
        rows: Rows of the synthetic log (80% train, 10% validation, 10% test).
        vocab_sizes: Categorical fields of the log.
        embedding_dim: Embedding width of both models.
        hidden: MLP of both models.
        batch_size: Batch size of both models.
        epochs: Epochs of both models (throughput: the median of epochs 2..).
        learning_rate: Adam's learning rate (both).
        l2_embedding: L2 on the whole embedding tables, factor and linear
            (DeepCTR's `l2_reg_embedding` and `l2_reg_linear`, a Keras
            `embeddings_regularizer`; ours in `table` mode).
        seed: Seed of the log and of both models.
        repeats: Training runs of each model, alternating (ours, DeepCTR);
            the speed ratio is the median of the per-repeat ratios.
        peer: `auto` (DeepCTR's virtualenv, created under the cache on first
            use, or `$XENT_DEEPCTR_PYTHON`), `none` (skip the peer), or the
            path of a Python that has deepctr and tf-keras.
        variants: Our configurations to run (keys of `OURS_VARIANTS`).
        peer_precisions: DeepCTR's precisions to run (`PEER_PRECISIONS`).
        quick: Whether this is the shrunk smoke-test configuration.
    """

    rows: int = 400_000
    vocab_sizes: tuple[int, ...] = (12, 40, 300, 3_000, 30_000, 100_000)
    embedding_dim: int = 8
    hidden: tuple[int, ...] = (256, 128)
    batch_size: int = 1024
    epochs: int = 4
    learning_rate: float = 0.001
    l2_embedding: float = 1e-5
    seed: int = 0
    repeats: int = 3
    peer: str = "auto"
    variants: tuple[str, ...] = tuple(OURS_VARIANTS)
    peer_precisions: tuple[str, ...] = PEER_PRECISIONS
    quick: bool = False

    def __post_init__(self):
        unknown = [v for v in self.variants if v not in OURS_VARIANTS]
        if unknown or not self.variants:
            raise ValueError(
                f"Invalid value for argument variants: {list(self.variants)} "
                f"(expected some of {list(OURS_VARIANTS)})"
            )
        unknown = [p for p in self.peer_precisions if p not in PEER_PRECISIONS]
        if unknown or not self.peer_precisions:
            raise ValueError(
                "Invalid value for argument peer_precisions: "
                f"{list(self.peer_precisions)} (expected some of "
                f"{list(PEER_PRECISIONS)})"
            )
        if self.rows < 1000:
            raise ValueError(
                f"Invalid value for argument rows: {self.rows} (need >= 1000)"
            )
        if self.repeats < 1:
            raise ValueError(
                f"Invalid value for argument repeats: {self.repeats} (need >= 1)"
            )
        if self.epochs < 2:
            raise ValueError(
                f"Invalid value for argument epochs: {self.epochs} (need >= 2: "
                "throughput is timed after the first epoch)"
            )


def build_ctr_config(quick: bool = False) -> CTRBenchConfig:
    """The `ctr` configuration; `quick` shrinks it to seconds (no peer)."""
    if not quick:
        return CTRBenchConfig(peer=os.environ.get("XENT_DEEPCTR_PYTHON", "auto"))
    return CTRBenchConfig(
        rows=6000,
        vocab_sizes=(10, 50, 500),
        hidden=(16,),
        batch_size=256,
        epochs=2,
        repeats=1,
        peer=os.environ.get("XENT_DEEPCTR_PYTHON", "none"),
        variants=("per_field", "fused_lazy_bf16"),
        quick=True,
    )


def peer_python(spec: str, log=print) -> Path | None:
    """The Python of DeepCTR's virtualenv, creating it for `auto`.

    Args:
        spec: `none`, `auto` or a path (see `CTRBenchConfig.peer`).
        log: Progress messages.

    Returns:
        The interpreter, or None for `none`.

    Raises:
        RuntimeError: If the virtualenv cannot be created (naming the step),
            or a given path does not exist.
    """
    if spec == "none":
        return None
    if spec != "auto":
        path = Path(spec)
        if not path.exists():
            raise RuntimeError(f"DeepCTR peer Python {spec!r} does not exist")
        return path
    from xent.ctr.synthetic import cache_dir

    venv = cache_dir() / "peers" / "deepctr-0.9.4"
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    if stamp.exists():
        return python
    log(f"creating DeepCTR's throwaway virtualenv in {venv} (once)")
    steps = [[sys.executable, "-m", "venv", "--clear", str(venv)]] + [
        [str(python), "-m", "pip", "install", "-q", *packages]
        for packages in DEEPCTR_REQUIREMENTS
    ]
    for step in steps:
        proc = subprocess.run(step, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(
                f"Could not create DeepCTR's virtualenv: {' '.join(step)} failed: "
                f"{proc.stderr.strip()[-2000:]}"
            )
    stamp.write_text(" ".join(p for ps in DEEPCTR_REQUIREMENTS for p in ps) + "\n")
    return python


def _write_csv(log, path: Path) -> None:
    columns = list(log.categorical) + list(log.numeric)
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow([*columns, "click"])
        cat = [
            np.char.decode(log.columns[c].astype("S"), "utf-8") for c in log.categorical
        ]
        num = [log.columns[c] for c in log.numeric]
        for i in range(log.labels.size):
            writer.writerow(
                [c[i] for c in cat]
                + ["" if not np.isfinite(v[i]) else f"{v[i]:.6g}" for v in num]
                + [int(log.labels[i])]
            )


class _EpochTimer:
    """Seconds of each epoch's training steps: from the epoch's start to its
    validation pass (Keras runs it inside the epoch) or, without one, its
    end. DeepCTR's run has no validation split, so both time training."""

    def __init__(self):
        import keras

        timer = self

        class Callback(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                timer.start = time.perf_counter()

            def on_test_begin(self, logs=None):
                timer.stop()

            def on_epoch_end(self, epoch, logs=None):
                timer.stop()

        self.seconds: list[float] = []
        self.start: float | None = None
        self.callback = Callback()

    def stop(self) -> None:
        if self.start is not None:
            self.seconds.append(time.perf_counter() - self.start)
            self.start = None


def _throughput(rows: int, epoch_seconds) -> float:
    """Rows per second of the median epoch after the first (a shared VM's
    epochs vary by up to 2x; the median is robust to the slow ones)."""
    return rows / float(np.median(list(epoch_seconds)[1:]))


def _ours_prepare(config: CTRBenchConfig, csv_path: Path, log) -> dict[str, Any]:
    """Prepares the file and times the input pipeline alone."""
    from xent import config as config_lib
    from xent.pipelines import TASKS

    task = TASKS["ctr"]
    overrides = [
        f"data.source={json.dumps(str(csv_path))}",
        "data.format=csv",
        "data.label=click",
        "data.group_field=null",
        f"data.categorical={json.dumps(list(_field_names(config)[0]))}",
        f"data.numeric={json.dumps(list(_field_names(config)[1]))}",
        "model.kind=deepfm",
        f"model.embedding_dim={config.embedding_dim}",
        f"model.hidden={json.dumps(list(config.hidden))}",
        f"model.l2_embedding={config.l2_embedding}",
        "model.l2_embedding_mode=table",
        f"train.batch_size={config.batch_size}",
        f"train.epochs={config.epochs}",
        f"train.learning_rate={config.learning_rate}",
        "train.ema_momentum=null",
        f"train.seed={config.seed}",
    ]
    run_config = config_lib.load_config(
        task.config_class, task.defaults, overrides=overrides
    )
    variant_configs = {
        name: config_lib.load_config(
            task.config_class,
            task.defaults,
            overrides=overrides
            + [f"{key}={json.dumps(value)}" for key, value in changes.items()],
        )
        for name, (_, changes) in OURS_VARIANTS.items()
        if name in config.variants
    }

    start = time.perf_counter()
    data = task.build_inputs(run_config)
    prepare = time.perf_counter() - start
    rows = data.summary["rows"]
    # The input pipeline alone: the training stream as `fit` gets it (built
    # once, iterated once to warm up, then timed), consumed in-graph.
    import tensorflow as tf

    dataset = data.features.train.training_data(
        None, run_config.train.batch_size, run_config.train.seed, False
    )
    input_seconds = []
    for _ in range(2):
        start = time.perf_counter()
        n = int(dataset.reduce(0, lambda n, batch: n + tf.shape(batch[1])[0]))
        input_seconds.append(time.perf_counter() - start)
    if n != rows["train"]:
        raise RuntimeError(f"the training stream gave {n} rows of {rows['train']}")
    return {
        "task": task,
        "run_config": run_config,
        "variant_configs": variant_configs,
        "data": data,
        "rows": rows,
        "prepare_seconds": prepare,
        "input_seconds": input_seconds,
        "input_examples_per_second": rows["train"] / input_seconds[-1],
        "input_first_pass_examples_per_second": rows["train"] / input_seconds[0],
        "input_cached": bool(data.features.train.cached()),
    }


def _ours_train(prepared, variant: str, log) -> dict[str, Any]:
    """One training run of our DeepFM in `variant` (same seed each time):
    its timings and test predictions."""
    import keras

    from xent import precision as precision_lib

    task, run_config = prepared["task"], prepared["variant_configs"][variant]
    # The task builds the model of `data.state.model` (set when the inputs
    # were built, from the base config): the variant's model replaces it.
    data = prepared["data"]
    data = dataclasses.replace(
        data, state=dataclasses.replace(data.state, model=run_config.model)
    )
    keras.utils.set_random_seed(run_config.train.seed)
    precision = precision_lib.resolve(run_config.train.precision)
    with precision_lib.training_policy(precision):
        model = task.create_model(run_config, data)
    timer = _EpochTimer()
    rows = prepared["rows"]["train"]
    log(
        f"ours ({variant}): DeepFM, {rows} training rows, "
        f"{run_config.train.epochs} epochs"
    )
    task.fit(model, run_config, data, [timer.callback], 0)
    precision_lib.compute_in_float32(model)
    y, prob = task.predict_test(model, data)
    return {
        "epoch_seconds": timer.seconds,
        "train_examples_per_second": _throughput(rows, timer.seconds),
        "parameters": int(model.count_params()),
        "steps_per_execution": int(model.steps_per_execution),
        "jit_compile": bool(model.jit_compile),
        "y_test": y,
        "prob": prob,
    }


def _field_names(config: CTRBenchConfig):
    categorical = tuple(f"c{i}" for i in range(len(config.vocab_sizes)))
    return categorical, ("n0", "n1", "n2")


def mlp_matmul_floor(batch: int, widths, repeats: int = 30) -> dict[str, float]:
    """Examples/s that the MLP's matrix products alone allow on this machine.

    Times, in one `tf.function`, the three float32 products per dense layer
    of a training step (forward `x @ W`, backward `dy @ W^T` and `x^T @ dy`)
    for layer widths `widths` (input width first) at this batch size. No
    model of these widths trains faster than this per step on this CPU.

    Returns:
        `{"step_seconds": median seconds, "examples_per_second": batch / it}`.
    """
    import tensorflow as tf

    shapes = list(zip(widths[:-1], widths[1:], strict=True))
    xs = [tf.random.normal([batch, i]) for i, _ in shapes]
    ws = [tf.random.normal([i, o]) for i, o in shapes]
    dys = [tf.random.normal([batch, o]) for _, o in shapes]

    @tf.function(autograph=False)
    def step():
        total = tf.constant(0.0)
        for x, w, dy in zip(xs, ws, dys, strict=True):
            total += tf.reduce_sum(x @ w)
            total += tf.reduce_sum(tf.matmul(dy, w, transpose_b=True))
            total += tf.reduce_sum(tf.matmul(x, dy, transpose_a=True))
        return total

    step()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        float(step())
        seconds.append(time.perf_counter() - start)
    median = float(np.median(seconds))
    return {"step_seconds": median, "examples_per_second": batch / median}


def _peer_input(config, data, work: Path) -> Path:
    """Writes the preprocessed splits and the settings for DeepCTR's run."""
    from xent.ctr.specs import DenseFeat
    from xent.ctr.specs import SparseFeat

    arrays: dict[str, Any] = {}
    for split, part in (("train", data.features.train), ("test", data.features.test)):
        x, y = part.arrays()
        for name, values in x.items():
            arrays[f"{split}__{name}"] = np.asarray(values)
        arrays[f"{split}__y"] = y
    specs = data.state.specs
    settings = {
        "embedding_dim": config.embedding_dim,
        "hidden": list(config.hidden),
        "batch_size": config.batch_size,
        "epochs": config.epochs,
        "learning_rate": config.learning_rate,
        "l2_embedding": config.l2_embedding,
        "seed": config.seed,
        "sparse": {
            s.name: s.vocabulary_size for s in specs if isinstance(s, SparseFeat)
        },
        "dense": {s.name: s.dimension for s in specs if isinstance(s, DenseFeat)},
    }
    source = work / "peer_in.npz"
    np.savez(source, settings=np.asarray(json.dumps(settings)), **arrays)
    return source


def _peer_train(
    python: Path, source: Path, log, precision: str = "float32"
) -> dict[str, Any]:
    """One run of DeepCTR's DeepFM in its virtualenv: its timings.

    Raises:
        RuntimeError: If the run fails in float32 (in bfloat16 the failure
            is returned as `{"error": ...}`: tf-keras may not run it).
    """
    target = source.with_name(f"peer_out_{precision}.npz")
    script = Path(__file__).with_name("deepctr_peer.py")
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "PYTHONPATH": ""}
    log(f"DeepCTR: DeepFM ({precision}) in {python}")
    start = time.perf_counter()
    proc = subprocess.run(
        [str(python), str(script), str(source), str(target), precision],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        error = proc.stderr.strip()[-3000:]
        if precision != "float32":
            return {"error": error.splitlines()[-1] if error else "failed"}
        raise RuntimeError(f"The DeepCTR run failed: {error}")
    out = np.load(target)
    with np.load(source) as inputs:
        y_test = inputs["test__y"]
        rows = int(inputs["train__y"].size)
    return {
        "wall_seconds": time.perf_counter() - start,
        "epoch_seconds": out["epoch_seconds"].tolist(),
        "train_examples_per_second": _throughput(rows, out["epoch_seconds"]),
        "parameters": int(out["parameters"]),
        "y_test": y_test,
        "prob": out["prob"],
    }


def run_ctr(config: CTRBenchConfig, log=print) -> dict:
    """Runs the `ctr` benchmark (see the module docstring).

    Returns:
        The report dict (`benchmark`, `title`, `goal`, `notes`, `quick`,
        `config`, `results`, `goals`, `table`; see `xent.bench.report.render_readme`).

    Raises:
        RuntimeError: If DeepCTR's virtualenv or its float32 run fails.
    """
    from xent.ctr import synthetic
    from xent.ctr.specs import DenseFeat

    machine = machine_info()
    python = peer_python(config.peer, log)
    synth = synthetic.SyntheticConfig(
        rows=config.rows, vocab_sizes=config.vocab_sizes, seed=config.seed
    )
    with tempfile.TemporaryDirectory(prefix="xent-bench-ctr-") as tmp:
        work = Path(tmp)
        previous = os.environ.get("XENT_CACHE")
        os.environ["XENT_CACHE"] = str(work / "cache")  # A cold preparation.
        try:
            clicks = synthetic.load(synth)
            csv_path = work / "clicks.csv"
            _write_csv(clicks, csv_path)
            prepared = _ours_prepare(config, csv_path, log)
            source = _peer_input(config, prepared["data"], work) if python else None
            # Ours and DeepCTR alternate; each repeat gives paired ratios, so
            # that the drifts of a shared machine cancel out.
            repeats = []
            for _ in range(config.repeats):
                ours = {v: _ours_train(prepared, v, log) for v in config.variants}
                peer = {}
                if python:
                    for precision in config.peer_precisions:
                        if "error" in (
                            repeats[0][1].get(precision, {}) if repeats else {}
                        ):
                            continue  # It failed once: it fails again.
                        peer[precision] = _peer_train(python, source, log, precision)
                repeats.append((ours, peer))
        finally:
            if previous is None:
                os.environ.pop("XENT_CACHE", None)
            else:
                os.environ["XENT_CACHE"] = previous
    data = prepared["data"]
    specs = data.state.specs
    # The DNN's input: one embedding per categorical field, the dense columns.
    dense = sum(s.dimension for s in specs if isinstance(s, DenseFeat))
    width = (
        config.embedding_dim
        * (len(specs) - sum(1 for s in specs if isinstance(s, DenseFeat)))
        + dense
    )
    floor = mlp_matmul_floor(config.batch_size, [width, *config.hidden, 1])
    background = data.state.train_ctr
    variants = {
        v: {
            "description": OURS_VARIANTS[v][0],
            "overrides": OURS_VARIANTS[v][1],
            **_summary([o[v] for o, _ in repeats], background),
        }
        for v in config.variants
    }
    peers = {}
    for precision in config.peer_precisions if python else ():
        runs = [p[precision] for _, p in repeats if precision in p]
        if runs and "error" not in runs[0]:
            peers[precision] = {"precision": precision, **_summary(runs, background)}
        elif runs:
            peers[precision] = {"precision": precision, "error": runs[0]["error"]}
    results = {
        "rows": prepared["rows"],
        "variants": variants,
        "deepctr_variants": peers,
        "deepctr": None,
        "mlp_matmul_floor": floor,
        "input": {
            "prepare_seconds": prepared["prepare_seconds"],
            "input_seconds": prepared["input_seconds"],
            "input_examples_per_second": prepared["input_examples_per_second"],
            "input_first_pass_examples_per_second": prepared[
                "input_first_pass_examples_per_second"
            ],
            "cached": prepared["input_cached"],
        },
    }
    ran = {k: v for k, v in peers.items() if "error" not in v}
    results["deepctr"] = ran[fastest_variant(ran)] if ran else None
    chosen = fastest_variant(
        variants,
        None if results["deepctr"] is None else results["deepctr"]["auc"],
    )
    ours_runs = [o[chosen] for o, _ in repeats]
    results["ours"] = {
        "variant": chosen,
        **variants[chosen],
        "steps_per_execution": ours_runs[0]["steps_per_execution"],
        "jit_compile": ours_runs[0]["jit_compile"],
        **{k: v for k, v in results["input"].items() if k != "cached"},
    }
    if results["deepctr"] is not None:
        best = results["deepctr"]["precision"]
        results["paired_speed_ratios"] = [
            o[chosen]["train_examples_per_second"]
            / p[best]["train_examples_per_second"]
            for o, p in repeats
        ]
    goals = ctr_goals(results)
    machine["load_average_after"] = machine_info()["load_average"]
    return {
        "benchmark": "ctr",
        "title": "CTR training: xent DeepFM vs DeepCTR DeepFM; input pipeline "
        "vs training",
        "goal": "training examples/s of our fastest DeepFM with test AUC >= "
        f"DeepCTR's - {_AUC_TOLERANCE} >= 2x DeepCTR's fastest; input pipeline "
        "examples/s >= 5x training.",
        "notes": _notes(config, results),
        "quick": config.quick,
        "machine": machine,
        "config": dataclasses.asdict(config),
        "results": results,
        "goals": goals,
        "table": _table(results, goals),
    }


def _summary(runs, background: float) -> dict[str, Any]:
    """Median rate over the repeats, test metrics of the first run."""
    from xent.ctr import metrics as ctr_metrics

    rates = [r["train_examples_per_second"] for r in runs]
    m = ctr_metrics.ctr_metrics(
        runs[0]["y_test"], runs[0]["prob"], background_ctr=background
    )
    return {
        "train_examples_per_second": float(np.median(rates)),
        "repeat_examples_per_second": rates,
        "epoch_seconds": [r["epoch_seconds"] for r in runs],
        "parameters": runs[0]["parameters"],
        "auc": m["auc"],
        "log_loss": m["log_loss"],
    }


def fastest_variant(candidates: dict[str, dict], min_auc: float | None = None) -> str:
    """The key of the fastest candidate; with `min_auc`, of the fastest whose
    test AUC is at least `min_auc - _AUC_TOLERANCE` (else of all)."""
    by_rate = sorted(
        candidates, key=lambda k: -candidates[k]["train_examples_per_second"]
    )
    if min_auc is None:
        return by_rate[0]
    good = [k for k in by_rate if candidates[k]["auc"] >= min_auc - _AUC_TOLERANCE]
    return (good or by_rate)[0]


def ctr_goals(results: dict[str, Any]) -> dict[str, Any]:
    """The goals of the `ctr` benchmark from its measured rates.

    Args:
        results: The `results` of a `ctr` report: `ours` (our chosen
            variant), `deepctr` (DeepCTR's fastest; None when the peer was
            skipped), `paired_speed_ratios` (with a peer) and
            `mlp_matmul_floor`.

    Returns:
        `input_over_training` and `input_goal_met`; with a peer also
        `speed_over_deepctr` (the median paired ratio), `auc_minus_deepctr`,
        `deepctr_goal_met` and `twice_deepctr_over_matmul_floor`.
    """
    ours, peer = results["ours"], results["deepctr"]
    goals = {
        "input_over_training": ours["input_examples_per_second"]
        / ours["train_examples_per_second"],
    }
    goals["input_goal_met"] = goals["input_over_training"] >= 5.0
    floor = results["mlp_matmul_floor"]["examples_per_second"]
    if peer is not None:
        goals["speed_over_deepctr"] = float(np.median(results["paired_speed_ratios"]))
        goals["auc_minus_deepctr"] = ours["auc"] - peer["auc"]
        goals["deepctr_goal_met"] = bool(
            goals["speed_over_deepctr"] >= 2.0
            and goals["auc_minus_deepctr"] >= -_AUC_TOLERANCE
        )
        # 2x DeepCTR against what the MLP's matrix products alone allow.
        goals["twice_deepctr_over_matmul_floor"] = (
            2.0 * peer["train_examples_per_second"] / floor
        )
    return goals


def _table(results, goals) -> dict:
    ours, peer = results["ours"], results["deepctr"]
    columns = ["what", "examples/s", "ratio", "test AUC", "test log loss", "goal met"]
    peer_rate = peer["train_examples_per_second"] if peer is not None else None
    rows = []
    for name, variant in results.get("variants", {}).items():
        rate = variant["train_examples_per_second"]
        chosen = name == ours.get("variant")
        rows.append(
            [
                f"xent DeepFM, {variant['description']}"
                + (" (chosen)" if chosen else ""),
                f"{rate:,.0f}",
                f"/ DeepCTR = {rate / peer_rate:.2f}" if peer_rate else "-",
                variant["auc"],
                variant["log_loss"],
                goals.get("deepctr_goal_met", "-") if chosen else "-",
            ]
        )
    for precision, variant in results.get("deepctr_variants", {}).items():
        if "error" in variant:
            rows.append(
                [
                    f"DeepCTR 0.9.4 DeepFM, {precision}: did not run "
                    f"({variant['error'][:120]})",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                ]
            )
            continue
        rows.append(
            [
                f"DeepCTR 0.9.4 DeepFM, {precision} (in-memory arrays)",
                f"{variant['train_examples_per_second']:,.0f}",
                "1"
                if variant is peer
                else f"{variant['train_examples_per_second'] / peer_rate:.2f}",
                variant["auc"],
                variant["log_loss"],
                "-",
            ]
        )
    if peer is None:
        rows.append(["DeepCTR DeepFM (peer skipped)", "-", "-", "-", "-", "-"])
    else:
        rows.append(
            [
                "xent chosen / DeepCTR fastest (median of the paired repeats)",
                "-",
                f"{goals['speed_over_deepctr']:.2f}",
                "-",
                "-",
                goals["deepctr_goal_met"],
            ]
        )
    floor = results["mlp_matmul_floor"]["examples_per_second"]
    rows.append(
        [
            "the MLP's float32 matrix products alone (forward + backward, no model)",
            f"{floor:,.0f}",
            (
                f"2x DeepCTR / this = {goals['twice_deepctr_over_matmul_floor']:.2f}"
                if peer is not None
                else "-"
            ),
            "-",
            "-",
            "-",
        ]
    )
    first = ours.get("input_first_pass_examples_per_second")
    if first is not None:
        rows.append(
            [
                "xent input pipeline, first pass (file -> batches -> preprocessor)",
                f"{first:,.0f}",
                f"input / training = {first / ours['train_examples_per_second']:.1f}",
                "-",
                "-",
                "-",
            ]
        )
    rows.append(
        [
            "xent input pipeline alone, later passes (what epochs 2.. read)",
            f"{ours['input_examples_per_second']:,.0f}",
            f"input / training = {goals['input_over_training']:.1f}",
            "-",
            "-",
            goals["input_goal_met"],
        ]
    )
    return {"columns": columns, "rows": rows}


def _notes(config, results) -> list[str]:
    rows = results["rows"]
    ours = results["ours"]
    notes = [
        f"Synthetic click log, {sum(rows.values()):,} rows written as CSV "
        f"({rows['train']:,} train / {rows['validation']:,} validation / "
        f"{rows['test']:,} test), fields {list(config.vocab_sizes)} plus 3 "
        "numeric. Both models: DeepFM, embedding "
        f"{config.embedding_dim}, MLP {list(config.hidden)}, batch "
        f"{config.batch_size}, {config.epochs} epochs, Adam "
        f"{config.learning_rate}, L2 {config.l2_embedding} on the embeddings "
        "(DeepCTR: on the whole tables, its `embeddings_regularizer`; ours as "
        "each variant says), no dropout; same preprocessed ids.",
        f"{config.repeats} repeats, our variants then DeepCTR each time, same "
        "seed. Training examples/s: training rows over the median epoch time "
        "of epochs 2.. (the first epoch traces the graph), median over the "
        "repeats. Ours runs with the CTR defaults `train.steps_per_execution` "
        f"{ours['steps_per_execution']} and `train.jit_compile` "
        f"{str(ours['jit_compile']).lower()}; DeepCTR as its examples run it "
        "(`model.fit` on numpy arrays). The chosen variant is our fastest "
        f"whose test AUC is at least DeepCTR's minus {_AUC_TOLERANCE}.",
        "The lazy Adam (`train.optimizer: lazy_adam`) updates only the "
        "embedding rows a batch looked up; it needs the L2 on those rows "
        "(`model.l2_embedding_mode: rows`): a whole-table L2 makes every "
        "row's gradient dense every step, in DeepCTR too.",
        "The input pipeline figures are two full passes over the training "
        "stream without a model: the first reads the prepared file and "
        "preprocesses it; the preprocessed split is then kept in memory "
        f"(cached: {str(results['input']['cached']).lower()}), so the second "
        "pass, like epochs 2.. of training, only reshuffles it. Preparation "
        "of the CSV into TFRecords (once per file, cached): "
        f"{results['input']['prepare_seconds']:.1f} s.",
        "Our epochs are timed up to their validation pass (the training "
        "steps only, as DeepCTR's, which has no validation split); ours "
        "also update the training AUC and loss metrics every step, "
        "DeepCTR's none.",
        "The matrix-product row times the MLP's float32 products of one "
        "training step (forward and both backward products per layer) with "
        "nothing else.",
    ]
    if results["deepctr"] is None:
        notes.append("DeepCTR was skipped (`peer: none`).")
    else:
        notes.append(
            "DeepCTR runs in its own virtualenv (deepctr 0.9.4, tf-keras 2.21, "
            "TF_USE_LEGACY_KERAS=1), in a subprocess after ours, on the same "
            "machine; its bfloat16 run sets tf-keras' global `mixed_bfloat16` "
            "policy before building the model."
        )
    return notes
