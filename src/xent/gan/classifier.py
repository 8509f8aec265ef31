"""The evaluation classifier: the multiclass pipeline's model, trained once and cached.

The GAN's Frechet distance and class coverage are measured with a classifier
of the same images: the multiclass task plug-in and its resolved config,
both handed in by the GAN plug-in (the runtime package never imports the
plug-ins), run by `xent.runner.run` on the GAN's data source. It is trained
the first time it is needed and kept under

    <cache>/gan_classifier/<key>/
        classifier.keras   the logits model (input: images in [0, 1])
        info.json          what it was trained on, its test metrics
        run/               the multiclass run (report, logs, checkpoint)

where `<cache>` is `$XENT_CACHE` or `~/.cache/xent` and `<key>` hashes the
data source and the resolved classifier config. It never writes to the
user's `runs/` or `saved_models/`. A version is built in a temporary sibling
folder and renamed into place, so readers never see a half-written one.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from typing import Protocol

import keras
import numpy as np

from xent import config as config_lib
from xent import runner
from xent.gan.sampling import predict_in_batches
from xent.supervised import probabilities

__all__ = [
    "ClassifierTask",
    "EvaluationClassifier",
    "cache_key",
    "cache_root",
    "load_classifier",
    "load_or_train_classifier",
    "train_if_absent",
]

_MODEL_FILE = "classifier.keras"
_INFO_FILE = "info.json"


def cache_root(path: str | Path | None = None) -> Path:
    """`path`, else `$XENT_CACHE`, else `~/.cache/xent`."""
    if path is not None:
        return Path(path)
    env = os.environ.get("XENT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "xent"


@dataclasses.dataclass(frozen=True)
class EvaluationClassifier:
    """A trained digits (or tfds) classifier and its feature extractor.

    Attributes:
        model: Images in [0, 1] `[n, h, w, c]` -> logits `[n, K]`.
        features: Images -> the input of the logits layer (penultimate
            activations), the Frechet feature space.
        class_names: The K class names.
        info: Provenance: data source, config, cache key, test metrics.
        path: The cache folder.
    """

    model: keras.Model
    features: keras.Model
    class_names: tuple[str, ...]
    info: dict
    path: Path

    @functools.cached_property
    def _both(self) -> keras.Model:
        return keras.Model(self.model.input, [self.features.output, self.model.output])

    def embed(self, images, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
        """Penultimate features `[n, d]` and class probabilities `[n, K]`."""
        feats, logits = predict_in_batches(
            self._both, np.asarray(images, "float32"), batch_size
        )
        return np.asarray(feats, "float64"), probabilities(logits, binary=False)


def load_classifier(path: str | Path) -> EvaluationClassifier:
    """The evaluation classifier cached in the folder `path`."""
    path = Path(path)
    model = keras.saving.load_model(path / _MODEL_FILE, compile=False)
    info = json.loads((path / _INFO_FILE).read_text(encoding="utf-8"))
    features = keras.Model(model.input, model.layers[-1].input, name="features")
    return EvaluationClassifier(
        model=model,
        features=features,
        class_names=tuple(info["class_names"]),
        info=info,
        path=path,
    )


class ClassifierTask(runner.Task, Protocol):
    """A classification task plug-in whose network can be rebuilt from its
    config (e.g. `xent.pipelines.multiclass.MulticlassTask`)."""

    def build_network(self, config, feature_shape, n_outputs: int) -> keras.Model:
        """The (uncompiled) logits network for features of `feature_shape`."""


def cache_key(source: str, config: Any) -> str:
    """The cache folder name of a classifier: a hash of the data source and
    the resolved classifier config."""
    resolved = config_lib.to_dict(config)
    return hashlib.sha256(
        json.dumps({"source": source, "config": resolved}, sort_keys=True).encode()
    ).hexdigest()[:16]


def train_if_absent(
    task: ClassifierTask,
    config: Any,
    source: str,
    cache_dir: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """The cache folder of the evaluation classifier, trained first if absent.

    Training runs `xent.runner.run`, which seeds the global random
    generators: call it before seeding what must not depend on whether the
    classifier was cached.

    Args:
        task: The classification task plug-in.
        config: Its resolved config (data source, splits and seed included).
        source: The data source (`digits`, `tfds:<name>`), as in the GAN's
            config.
        cache_dir: The cache root (see `cache_root`).
        log: Where the "training the classifier" line goes.

    Returns:
        The folder holding the classifier (see `load_classifier`).
    """
    key = cache_key(source, config)
    base = cache_root(cache_dir) / "gan_classifier"
    final = base / key
    if (final / _MODEL_FILE).is_file():
        return final

    log(
        f"Training the evaluation classifier ({task.name} pipeline on {source}) "
        f"once; cached in {final}"
    )
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=base, prefix=f".tmp-{key}-"))
    try:
        result = runner.run(
            task,
            config,
            run_dir=tmp / "run",
            export=False,
            verbose=0,
            log=lambda _: None,
        )
        class_names = tuple(result.report["class_names"])
        shape = tuple(result.report["dataset"]["features"]["image_shape"])
        model = task.build_network(config, shape, len(class_names))
        model.load_weights(result.run_dir / "checkpoints" / "best.weights.h5")
        model.save(tmp / _MODEL_FILE)
        info = {
            "key": key,
            "source": source,
            "class_names": list(class_names),
            "config": config_lib.to_dict(config),
            "test_metrics": {
                k: v
                for k, v in result.report["metrics"]["test"].items()
                if isinstance(v, (int, float))
            },
        }
        (tmp / _INFO_FILE).write_text(json.dumps(info, indent=2), encoding="utf-8")
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / _MODEL_FILE).is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # Another process was first.
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def load_or_train_classifier(
    task: ClassifierTask,
    config: Any,
    source: str,
    cache_dir: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> EvaluationClassifier:
    """The cached evaluation classifier of `source`, trained first if absent.

    `load_classifier(train_if_absent(...))`; see `train_if_absent` for the
    arguments.

    Returns:
        The loaded `EvaluationClassifier`.
    """
    return load_classifier(train_if_absent(task, config, source, cache_dir, log))
