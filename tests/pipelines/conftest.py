"""Shared helpers for the pipeline smoke tests."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

# A synthetic click log and a CTR model shrunk to seconds (add train.epochs).
TINY_CTR = [
    "data.synthetic.rows=4000",
    "data.synthetic.vocab_sizes=[10, 50]",
    "data.synthetic.numeric=1",
    "data.synthetic.base_ctr=0.2",
    "data.group_field=c1",
    "model.embedding_dim=2",
    "model.hidden=[8]",
    "train.batch_size=256",
    "train.learning_rate=0.01",
]

# Tiny GAN networks and a tiny evaluation classifier (its multiclass config
# keys); add train.epochs.
TINY_GAN = [
    "model.latent_dim=8",
    "model.generator_filters=[8,4]",
    "model.discriminator_filters=[4,8]",
    "eval.samples=400",
    "eval.frechet_repeats=2",
    "eval.nn_queries=100",
    'eval.classifier_overrides=[train.epochs=1, "model.filters=[4]", model.dense=8]',
]


def bare_tensorflow_predict(
    export_dir: Path, feed: dict, out: Path, signature: str = "serving_default"
) -> dict:
    """Calls a signature in a fresh process that imports only TensorFlow."""
    np.savez(out.with_suffix(".in.npz"), **feed)
    script = textwrap.dedent(f"""
        import sys, numpy as np, tensorflow as tf
        feed = dict(np.load({str(out.with_suffix(".in.npz"))!r}, allow_pickle=True))
        fn = tf.saved_model.load({str(export_dir)!r}).signatures[{signature!r}]
        args = {{k: tf.constant(v.astype(str) if v.dtype == object else v)
                for k, v in feed.items()}}
        result = {{k: v.numpy() for k, v in fn(**args).items()}}
        np.savez({str(out)!r}, **result)
        assert "xent" not in sys.modules
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=180)
    with np.load(out, allow_pickle=True) as data:
        return dict(data)


def load_task(name: str, overrides: list[str]):
    """The task plug-in and its default config with `overrides` applied."""
    from xent import config as config_lib
    from xent.pipelines import TASKS

    task = TASKS[name]
    return task, config_lib.load_config(
        task.config_class, task.defaults, overrides=overrides
    )


def run_quietly(task, config, tmp: Path, run: str = "run", export: bool = True):
    """Runs a task into `tmp/<run>`, exporting to `tmp/saved` (unless not
    `export`), with no output."""
    from xent import runner

    return runner.run(
        task,
        config,
        run_dir=tmp / run,
        saved_models=tmp / "saved",
        export=export,
        verbose=0,
        log=lambda _: None,
    )


def read_report(run_dir: Path) -> dict:
    return json.loads((run_dir / "report.json").read_text())
