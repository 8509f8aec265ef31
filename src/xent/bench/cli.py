"""Command line of the benchmarks: `python -m xent.bench --out DIR`."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from pathlib import Path

from xent.bench import ctr
from xent.bench import ctr_real_log
from xent.bench import loss_step
from xent.bench import precision_steps
from xent.bench import quality
from xent.bench import scale
from xent.bench import serving
from xent.bench.report import render_readme
from xent.bench.report import write_report

__all__ = ["BENCHMARKS", "main"]

BENCHMARKS = (
    "loss_step",
    "serving",
    "quality",
    "ctr",
    "frappe",
    "precision",
    "scale",
)
_DESCRIPTION = (
    "Benchmarks: training-step time with `xent.losses` against `keras.losses`."
)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: `python -m xent.bench --out DIR [--quick] [--only NAME]`.

    Each benchmark writes `<name>.json` under `--out`, then `README.md` there
    is regenerated from every JSON report in that folder.

    Args:
        argv: The arguments (default: `sys.argv[1:]`).

    Returns:
        The exit code, 0.
    """
    parser = argparse.ArgumentParser(
        prog="python -m xent.bench", description=_DESCRIPTION
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
            config = loss_step.build_loss_step_config(quick=args.quick)
            if args.repeats is not None:
                config = dataclasses.replace(config, repeats=args.repeats)
            report = loss_step.run_loss_step(config)
        elif name == "quality":
            report = quality.run_quality(quality.build_quality_config(quick=args.quick))
        elif name == "ctr":
            report = ctr.run_ctr(ctr.build_ctr_config(quick=args.quick))
        elif name == "frappe":
            report = ctr_real_log.run_frappe(
                ctr_real_log.build_frappe_config(quick=args.quick)
            )
        elif name == "scale":
            report = scale.run_scale(scale.build_scale_config(quick=args.quick))
        elif name == "precision":
            report = precision_steps.run_precision(
                precision_steps.build_precision_config(quick=args.quick)
            )
        else:
            report = serving.run_serving(serving.build_serving_config(quick=args.quick))
        path = write_report(args.out, report)
        print(render_readme({path.name: report}), end="")
    return 0
