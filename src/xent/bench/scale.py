"""The `scale` benchmark: `xent train ctr` on Criteo-layout files of 1M to 10M rows.

`python -m xent.bench --out DIR --only scale` (part of `make bench`).

For each size a Criteo-layout file is written (tab-separated, no header:
label, 13 integer columns, 26 hexadecimal categorical columns; one column
nearly unique per row, the others from 4 to 1M distinct values with skewed
frequencies, as in the real logs), then a fresh Python process runs the CTR
task's stages on it, each timed and with its own peak resident memory
(`VmHWM`, reset between stages through `/proc/self/clear_refs`):

1. `prepare`: the file is parsed into TFRecord shards with the training
   split's value counts and numeric statistics, and the preprocessor
   (vocabularies, numeric transforms) is built (`task.build_inputs`);
2. `train`: one epoch of DeepFM, streamed from the shards (this pass also
   preprocesses the rows);
3. `evaluate`: the test split's predictions and metrics;
4. `export`: the SavedModel.

Goals (the CTR performance issue): the time per row roughly constant from
1M to 10M rows (10M's total microseconds per row at most 1.5x 1M's); the
peak memory growing much slower than the rows (10M's peak at most 3x 1M's,
for 10x the rows); the 10M-row run within 6 GB.
"""

from __future__ import annotations

import contextlib
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
    "STAGES",
    "ScaleConfig",
    "build_scale_config",
    "peak_rss_bytes",
    "run_scale",
    "scale_goals",
    "scale_notes",
    "write_criteo_file",
]

STAGES = ("prepare", "train", "evaluate", "export")
NUMERIC, CATEGORICAL = 13, 26
_GIB = 1 << 30


@dataclasses.dataclass(frozen=True)
class ScaleConfig:
    """The `scale` benchmark's settings.

    Attributes:
        sizes: Rows of each file, smallest first.
        batch_size: Training batch size.
        seed: Seed of the files and of training.
        overrides: Extra `key=value` config overrides of every run (e.g.
            `model.l2_embedding_mode=rows`, `train.optimizer=lazy_adam`).
        quick: Whether this is the shrunk smoke-test configuration.
    """

    sizes: tuple[int, ...] = (1_000_000, 3_000_000, 10_000_000)
    batch_size: int = 1024
    seed: int = 0
    overrides: tuple[str, ...] = ()
    quick: bool = False

    def __post_init__(self):
        if len(self.sizes) < 2 or any(n < 1000 for n in self.sizes):
            raise ValueError(
                f"Invalid value for argument sizes: {list(self.sizes)} (need two "
                "or more sizes of >= 1000 rows)"
            )
        if list(self.sizes) != sorted(self.sizes):
            raise ValueError(
                f"Invalid value for argument sizes: {list(self.sizes)} (need "
                "them smallest first)"
            )


def build_scale_config(quick: bool = False) -> ScaleConfig:
    """The `scale` configuration; `quick` shrinks it to seconds."""
    if not quick:
        return ScaleConfig()
    return ScaleConfig(sizes=(5_000, 15_000), batch_size=256, quick=True)


# ---------------------------------------------------------------------------
# The file.


def _cardinalities(rows: int) -> np.ndarray:
    """Distinct values of the 26 categorical columns: the first nearly one
    per row, the others spread geometrically from 4 to 1M (at most rows)."""
    spread = np.geomspace(4, 1_000_000, CATEGORICAL - 1).astype(np.int64)
    return np.concatenate([[rows], np.minimum(spread, rows)])


def _hex8(ids: np.ndarray) -> np.ndarray:
    """`[n, 8]` ASCII bytes of the ids in fixed-width hexadecimal."""
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    shifts = np.arange(28, -1, -4, dtype=np.uint64)
    return digits[(ids.astype(np.uint64)[:, None] >> shifts) & np.uint64(15)]


def _dec5(values: np.ndarray) -> np.ndarray:
    """`[n, 5]` ASCII bytes of integers in [0, 99999], zero-padded."""
    powers = 10 ** np.arange(4, -1, -1, dtype=np.int64)
    return (values[:, None] // powers % 10 + ord("0")).astype(np.uint8)


def write_criteo_file(path: str | Path, rows: int, seed: int = 0) -> int:
    """Writes a Criteo-layout click log with a learnable signal.

    Each line is `label \\t I1..I13 \\t C1..C26`: integer counts (five
    digits) and categorical ids (eight hexadecimal digits) of fixed width,
    so that the file is written in vectorized chunks. The click probability
    depends on C2, C3 and I1.

    Args:
        path: The file to write.
        rows: Its rows.
        seed: The generator's seed.

    Returns:
        The file's size in bytes.
    """
    rng = np.random.default_rng(seed)
    cards = _cardinalities(rows)
    weights = rng.normal(0.0, 1.0, size=(2, 1000))
    width = 1 + NUMERIC * 6 + CATEGORICAL * 9 + 1
    with open(path, "wb") as file:
        for start in range(0, rows, 500_000):
            n = min(500_000, rows - start)
            line = np.full((n, width), ord("\t"), dtype=np.uint8)
            # Skewed frequencies: u^3 puts most rows on few values.
            ids = [
                np.arange(start, start + n) % cards[0]
                if k == 0
                else (cards[k] * rng.random(n) ** 3).astype(np.int64)
                for k in range(CATEGORICAL)
            ]
            counts = np.minimum(rng.geometric(0.05, size=(n, NUMERIC)) - 1, 99_999)
            logit = (
                -2.1
                + weights[0, ids[1] % 1000]
                + 0.5 * weights[1, ids[2] % 1000]
                + 0.3 * np.log1p(counts[:, 0])
            )
            label = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
            line[:, 0] = np.where(label, ord("1"), ord("0"))
            col = 2
            for j in range(NUMERIC):
                line[:, col : col + 5] = _dec5(counts[:, j])
                col += 6
            for k in range(CATEGORICAL):
                line[:, col : col + 8] = _hex8(ids[k])
                col += 9
            line[:, -1] = ord("\n")
            file.write(line.tobytes())
    return os.path.getsize(path)


# ---------------------------------------------------------------------------
# The worker: one size, in its own process.


def peak_rss_bytes() -> int | None:
    """The process's peak resident memory since the last reset (`VmHWM`)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak() -> None:
    """Resets `VmHWM` to the current resident size (Linux >= 4.0)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _worker(
    path: str, rows: int, batch_size: int, seed: int, out: str, overrides=()
) -> None:
    from xent import config as config_lib
    from xent.pipelines import TASKS

    task = TASKS["ctr"]
    config = config_lib.load_config(
        task.config_class,
        task.defaults,
        overrides=[
            f"data.source={json.dumps(path)}",
            "data.format=criteo",
            "data.group_field=null",
            "model.kind=deepfm",
            f"train.batch_size={batch_size}",
            "train.epochs=1",
            f"train.seed={seed}",
            *overrides,
        ],
    )
    stages: dict[str, dict[str, Any]] = {}
    state: dict[str, Any] = {}

    def stage(name, fn):
        _reset_peak()
        start = time.perf_counter()
        fn()
        stages[name] = {
            "seconds": time.perf_counter() - start,
            "peak_rss_bytes": peak_rss_bytes(),
        }

    def prepare():
        state["data"] = task.build_inputs(config)

    def train():
        import keras

        keras.utils.set_random_seed(seed)
        state["model"] = task.create_model(config, state["data"])
        task.fit(state["model"], config, state["data"], [], 0)

    def evaluate():
        from xent.ctr import metrics as ctr_metrics

        y, prob = task.predict_test(state["model"], state["data"])
        state["metrics"] = ctr_metrics.ctr_metrics(
            y, prob, background_ctr=state["data"].state.train_ctr
        )

    def export():
        with tempfile.TemporaryDirectory(prefix="xent-bench-scale-") as tmp:
            task.export_model(
                state["model"], config, state["data"], Path(tmp), state["metrics"]
            )

    for name, fn in zip(STAGES, (prepare, train, evaluate, export), strict=True):
        stage(name, fn)
    data = state["data"]
    result = {
        "rows": rows,
        "split_rows": data.summary["rows"],
        "stages": stages,
        "test_auc": float(state["metrics"]["auc"]),
        "train_cached_in_memory": bool(data.features.train.cached()),
    }
    Path(out).write_text(json.dumps(result))


# ---------------------------------------------------------------------------
# The run.


def _run_size(config: ScaleConfig, rows: int, work: Path, log) -> dict[str, Any]:
    path = work / f"criteo_{rows}.txt"
    start = time.perf_counter()
    size = write_criteo_file(path, rows, config.seed)
    written = time.perf_counter() - start
    log(f"scale: {rows:,} rows ({size / 1e9:.2f} GB written in {written:.0f} s)")
    out = work / f"result_{rows}.json"
    env = {**os.environ, "XENT_CACHE": str(work / f"cache_{rows}")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "xent.bench.scale",
            str(path),
            str(rows),
            str(config.batch_size),
            str(config.seed),
            str(out),
            *config.overrides,
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    path.unlink()
    if proc.returncode != 0:
        raise RuntimeError(
            f"The {rows:,}-row run failed: {proc.stderr.strip()[-3000:]}"
        )
    result = json.loads(out.read_text())
    result["file_bytes"] = size
    result["write_seconds"] = written
    total = sum(s["seconds"] for s in result["stages"].values())
    result["total_seconds"] = total
    result["microseconds_per_row"] = {
        name: 1e6 * s["seconds"] / rows for name, s in result["stages"].items()
    }
    result["microseconds_per_row"]["total"] = 1e6 * total / rows
    peaks = [s["peak_rss_bytes"] or 0 for s in result["stages"].values()]
    result["peak_rss_bytes"] = max(peaks)
    return result


def run_scale(config: ScaleConfig, log=print) -> dict:
    """Runs the `scale` benchmark (see the module docstring).

    Returns:
        The report dict (`benchmark`, `title`, `goal`, `notes`, `quick`,
        `machine`, `config`, `results`, `goals`, `table`).

    Raises:
        RuntimeError: If a size's run fails (with its error output).
    """
    machine = machine_info()
    with tempfile.TemporaryDirectory(prefix="xent-bench-scale-") as tmp:
        runs = [_run_size(config, rows, Path(tmp), log) for rows in config.sizes]
    results = {"runs": runs}
    goals = scale_goals(runs)
    machine["load_average_after"] = machine_info()["load_average"]
    return {
        "benchmark": "scale",
        "title": "CTR at scale: Criteo-layout files of "
        + ", ".join(f"{n:,}" for n in config.sizes)
        + " rows, per stage",
        "goal": "time per row roughly constant (largest / smallest total "
        "microseconds per row <= 1.5); peak memory growing much slower than "
        "the rows (largest / smallest peak <= 3); the 10M-row run within 6 GB.",
        "notes": scale_notes(config, runs),
        "quick": config.quick,
        "machine": machine,
        "config": dataclasses.asdict(config),
        "results": results,
        "goals": goals,
        "table": _table(runs),
    }


def scale_goals(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The goals from the runs (smallest first).

    Returns:
        `time_per_row_ratio` (largest over smallest total microseconds per
        row), `peak_memory_ratio` (largest over smallest peak), `rows_ratio`,
        `largest_peak_gib`, and `*_met` for each goal (the 6 GB goal only
        where the largest run has 10M rows or more).
    """
    small, large = runs[0], runs[-1]
    goals = {
        "rows_ratio": large["rows"] / small["rows"],
        "time_per_row_ratio": large["microseconds_per_row"]["total"]
        / small["microseconds_per_row"]["total"],
        "peak_memory_ratio": large["peak_rss_bytes"] / small["peak_rss_bytes"],
        "largest_peak_gib": large["peak_rss_bytes"] / _GIB,
    }
    goals["time_per_row_met"] = goals["time_per_row_ratio"] <= 1.5
    goals["peak_memory_met"] = goals["peak_memory_ratio"] <= 3.0
    if large["rows"] >= 10_000_000:
        goals["memory_6gb_met"] = goals["largest_peak_gib"] <= 6.0
    return goals


def _table(runs) -> dict:
    columns = ["rows", "file GB"]
    for name in STAGES:
        columns += [f"{name} s", f"{name} µs/row", f"{name} peak GB"]
    columns += ["total µs/row", "peak GB", "test AUC"]
    rows = []
    for run in runs:
        row = [f"{run['rows']:,}", f"{run['file_bytes'] / 1e9:.2f}"]
        for name in STAGES:
            stage = run["stages"][name]
            row += [
                f"{stage['seconds']:.1f}",
                f"{run['microseconds_per_row'][name]:.2f}",
                f"{(stage['peak_rss_bytes'] or 0) / 1e9:.2f}",
            ]
        row += [
            f"{run['microseconds_per_row']['total']:.2f}",
            f"{run['peak_rss_bytes'] / 1e9:.2f}",
            round(run["test_auc"], 4),
        ]
        rows.append(row)
    return {"columns": columns, "rows": rows}


def scale_notes(config, runs) -> list[str]:
    cards = _cardinalities(config.sizes[-1])
    return [
        "Each size: a Criteo-layout file (tab-separated, no header; 13 integer "
        "and 26 categorical columns, the first categorical one nearly unique "
        f"per row, the others {int(cards[1]):,} to {int(cards[-1]):,} values "
        "with skewed frequencies), then `xent train ctr --format criteo` with "
        f"`model.kind=deepfm`, batch {config.batch_size}, one epoch, in a "
        "fresh process. Split 80/10/10 by the CTR defaults."
        + (f" Overrides: {', '.join(config.overrides)}." if config.overrides else ""),
        "Stages: `prepare` (parse into TFRecord shards with the training "
        "split's statistics, build the preprocessor), `train` (one epoch "
        "streamed from the shards; the preprocessed split is kept in memory "
        "when it fits `data.memory_cache_mb`: "
        + ", ".join(
            f"{r['rows']:,}: {'yes' if r['train_cached_in_memory'] else 'no'}"
            for r in runs
        )
        + "), `evaluate` (test predictions and metrics), `export` "
        "(SavedModel). Peak memory per stage: the process's `VmHWM`, reset "
        "before each stage.",
        "Writing the file is not a stage (a user's file exists already): "
        + ", ".join(f"{r['rows']:,}: {r['write_seconds']:.0f} s" for r in runs)
        + ".",
    ]


if __name__ == "__main__":
    # FILE ROWS BATCH SEED OUT [OVERRIDE ...]
    _worker(
        sys.argv[1],
        int(sys.argv[2]),
        int(sys.argv[3]),
        int(sys.argv[4]),
        sys.argv[5],
        tuple(sys.argv[6:]),
    )
