"""Benchmarks: training-step time with `xent.losses` against `keras.losses`.

Run as `python -m xent.bench --out reports/bench [--quick]` (`make bench`).

A tool, not part of the product: nothing under `xent` outside this package
imports it (like Keras' `benchmarks/` outside `keras/src`).

Each benchmark writes its own `<name>.json` under `--out`; the `README.md`
there is then regenerated from every `*.json` file in that folder, so a later
benchmark adds a section by writing one more JSON with the same top-level keys
(`title`, `goal`, `machine`, `table`; see `report.render_readme`).

Modules, one per benchmark (`--only NAME`):

- `loss_step`: a training step compiled with our loss and with the Keras
  built-in of the same name, timed in alternating paired repeats.
- `serving`: single-row requests to a small CTR-like model, the
  `serving_default` signature called in this process against the same export
  served by `xent serve` (`serve_process`, a subprocess on 127.0.0.1) over
  REST and gRPC, with batching off and on.
- `quality`: the default binary (breast cancer) and multiclass (digits)
  pipelines over seeds 0, 1 and 2 against the scikit-learn baselines of the
  same runs; goals: binary AUC at least logistic regression's, multiclass
  accuracy >= 0.990.
- `ctr`: our DeepFM on a click log streamed from a file against DeepCTR's
  DeepFM (`deepctr_peer`, run in its own virtualenv) on the same preprocessed
  data, and the input pipeline alone.
- `scale`: `xent train ctr` on Criteo-layout files of 1M, 3M and 10M rows,
  seconds and peak memory per stage (prepare, train, evaluate, export),
  each size in a fresh process.
- `precision_steps` (`--only precision`): training-step time of the digits
  CNN, the GAN and a CTR DeepFM built under `mixed_bfloat16` against
  float32, timed in alternating paired repeats.

Shared parts: `machine` (the machine description of every report), `report`
(the JSON files and the README) and `cli` (the command line).
"""

from xent.bench.cli import BENCHMARKS
from xent.bench.cli import main
from xent.bench.loss_step import LossStepConfig
from xent.bench.loss_step import StepCase
from xent.bench.loss_step import build_loss_step_config
from xent.bench.loss_step import run_loss_step
from xent.bench.loss_step import summarize_pairs
from xent.bench.machine import machine_info
from xent.bench.quality import QualityConfig
from xent.bench.quality import build_quality_config
from xent.bench.quality import run_quality
from xent.bench.quality import summarize_quality
from xent.bench.report import render_readme
from xent.bench.report import write_report
from xent.bench.serving import ServingConfig
from xent.bench.serving import build_serving_config
from xent.bench.serving import latency_summary
from xent.bench.serving import run_serving

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
    "machine_info",
    "main",
    "render_readme",
    "run_loss_step",
    "run_quality",
    "run_serving",
    "summarize_pairs",
    "summarize_quality",
    "write_report",
]
