"""The evaluation classifier: the multiclass pipeline's model, trained once and cached.

The GAN's Frechet distance and class coverage are measured with a classifier
of the same images: the multiclass pipeline (`xent.pipelines.multiclass`,
its default config plus overrides) run by `xent.runner.run` on the GAN's data
source. It is trained the first time it is needed and kept under

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
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

__all__ = ["EvaluationClassifier", "cache_root", "load_or_train_classifier"]

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
        from xent.gan.callbacks import predict_in_batches
        from xent.supervised import probabilities

        feats, logits = predict_in_batches(
            self._both, np.asarray(images, "float32"), batch_size
        )

        return np.asarray(feats, "float64"), probabilities(logits, binary=False)


def _classifier_config(source: str, max_rows: int | None, overrides: Sequence[str]):
    from xent import config as config_lib
    from xent.pipelines.multiclass import MulticlassTask

    task = MulticlassTask()
    base = [f"data.source={json.dumps(source)}"]
    if max_rows is not None:
        base.append(f"data.max_rows={int(max_rows)}")
    return task, config_lib.load_config(
        task.config_class, task.defaults, overrides=[*base, *overrides]
    )


def _from_folder(path: Path) -> EvaluationClassifier:
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


def load_or_train_classifier(
    source: str,
    max_rows: int | None = None,
    overrides: Sequence[str] = (),
    cache_dir: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> EvaluationClassifier:
    """The cached evaluation classifier of `source`, trained first if absent.

    Args:
        source: The data source (`digits`, `tfds:<name>`), as in the GAN's
            config.
        max_rows: Optional cap on tfds rows per split.
        overrides: `key=value` overrides of the multiclass pipeline's config.
        cache_dir: The cache root (see `cache_root`).
        log: Where the "training the classifier" line goes.

    Returns:
        The loaded `EvaluationClassifier`.

    Raises:
        xent.config.ConfigError: For an invalid override.
    """
    from xent import config as config_lib
    from xent import runner
    from xent.runner import Prepared

    task, config = _classifier_config(source, max_rows, overrides)
    resolved = config_lib.to_dict(config)
    key = hashlib.sha256(
        json.dumps({"source": source, "config": resolved}, sort_keys=True).encode()
    ).hexdigest()[:16]
    base = cache_root(cache_dir) / "gan_classifier"
    final = base / key
    if (final / _MODEL_FILE).is_file():
        return _from_folder(final)

    log(
        f"Training the evaluation classifier (multiclass pipeline on {source}) "
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
        stub = Prepared(
            name=source,
            summary={},
            splits={},
            class_names=class_names,
            preprocessor=None,
        )
        model = task.build_model(config, shape, stub)
        model.load_weights(result.run_dir / "checkpoints" / "best.weights.h5")
        model.save(tmp / _MODEL_FILE)
        info = {
            "key": key,
            "source": source,
            "class_names": list(class_names),
            "config": resolved,
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
    return _from_folder(final)
