"""GAN: a DCGAN on 8x8 digits (or a tfds image data set), with honest evaluation.

Both players are trained with the shared `xent.losses.BinaryCrossentropy(
from_logits=True)` (see `xent.gan.model`). The report measures the generated
images with the multiclass pipeline's classifier of the same data (trained
once and cached, `xent.gan.classifier`): the Frechet distance to the test
images next to its floor, class coverage and confidence, and a memorization
check (`xent.gan.evaluation`). The generator is exported with a
`serving_default(noise)` and a `sample(count, seed)` signature
(`xent.gan.export`).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from xent import losses
from xent import report as report_lib
from xent.config import ConfigError
from xent.gan import callbacks as gan_callbacks
from xent.gan import evaluation
from xent.gan import plots
from xent.gan.config import GANConfig
from xent.runner import Evaluation
from xent.runner import Prepared
from xent.runner import hparams
from xent.runner import scalars

_CLASSIFIER = "classifier"
_COVERAGE_GOAL = 0.05  # Every class in at least 5% of the samples.
_GRID_ROWS = 10
_INTERPOLATION_ROWS, _INTERPOLATION_STEPS = 8, 10
# Independent noise streams (numpy seeds `[train.seed, stream]`).
_GRID, _FRECHET_CURVE, _EVAL, _INTERPOLATION, _BASELINE = range(5)


_METRICS_NOTE = (
    "Frechet distances are measured in the penultimate-layer features of the "
    "evaluation classifier (the multiclass pipeline's model, test accuracy "
    "in the last row), between the test images and equally many generated "
    "images, averaged over random halvings of the test images; the floor is "
    "the same distance between the two halves, i.e. what fresh real images "
    "score (frechet_ratio = distance / floor; goal <= 2). class_coverage: "
    "fraction of generated images the classifier assigns to each class (goal: "
    "every class >= 5%); mean_confidence: its mean top-class probability. "
    "nn_distance_ratio: median pixel distance from generated images to their "
    "nearest training image over the same for test images (about 1: no "
    "copying; 0: copies). Baselines are scored identically: gaussian_pixels "
    "samples a Gaussian fitted to the training pixels, copy_training_images "
    "returns random training images (which the classifier also trained on)."
)


class GANTask:
    """The GAN plug-in of `xent.runner.run`."""

    name = "gan"
    config_class = GANConfig
    defaults = Path(__file__).with_name("gan.yaml")
    monitor = None  # No validation loss: the runner checkpoints every epoch.

    # ---- data -------------------------------------------------------------
    def build_inputs(self, config: GANConfig) -> Prepared:
        from xent.data import images as images_lib
        from xent.gan.classifier import load_or_train_classifier

        cfg = config.data
        seed = config.train.seed
        if cfg.source == "digits":
            data = images_lib.load_digits_images(
                seed, cfg.validation_fraction, cfg.test_fraction
            )
        elif cfg.source.startswith("tfds:"):
            data = images_lib.load_tfds_images(
                cfg.source.split(":", 1)[1],
                seed,
                cfg.validation_fraction,
                max_rows=cfg.max_rows,
            )
        else:
            raise ConfigError(
                "Invalid value for `data.source`: expected `digits` or "
                f"`tfds:<name>`, received {cfg.source!r}"
            )
        splits = {
            split: ((x / data.pixel_max).astype("float32"), y)
            for split, (x, y) in data.splits.items()
        }
        if len(splits["validation"][0]) < 4 or len(splits["test"][0]) < 4:
            raise ConfigError(
                "The GAN needs at least 4 validation and 4 test images; raise "
                "`data.max_rows` or the fractions"
            )
        # Same split seed and fractions: the classifier never trained on the
        # GAN's test images.
        classifier = load_or_train_classifier(
            cfg.source,
            cfg.max_rows,
            [
                f"train.seed={seed}",
                f"data.validation_fraction={cfg.validation_fraction}",
                f"data.test_fraction={cfg.test_fraction}",
                *config.eval.classifier_overrides,
            ],
            cache_dir=config.eval.classifier_cache,
        )
        if tuple(classifier.class_names) != tuple(data.class_names):
            raise ConfigError(
                f"The cached evaluation classifier in {classifier.path} has the "
                f"classes {classifier.class_names}, the data {data.class_names}"
            )
        # Training the classifier re-seeded the global generators; restore
        # this run's seed so that a cached and a fresh classifier give the
        # same GAN.
        keras.utils.set_random_seed(seed)
        shape = list(splits["train"][0].shape[1:])
        return Prepared(
            name=data.name,
            summary=data.summary(),
            splits=splits,
            class_names=data.class_names,
            preprocessor=None,
            metadata={"image_shape": shape, "source_pixel_max": data.pixel_max},
            extra={_CLASSIFIER: classifier},
        )

    # ---- model ------------------------------------------------------------
    def _n_classes(self, config: GANConfig, data: Prepared) -> int | None:
        return len(data.class_names) if config.model.conditional else None

    def create_model(self, config: GANConfig, data: Prepared) -> keras.Model:
        from xent.gan.model import GAN
        from xent.models.gan import build_discriminator
        from xent.models.gan import build_generator

        m, t = config.model, config.train
        shape = tuple(data.splits["train"][0].shape[1:])
        k = self._n_classes(config, data)
        gan = GAN(
            build_generator(
                shape, m.latent_dim, m.generator_filters, k, m.embedding_dim
            ),
            build_discriminator(
                shape, m.discriminator_filters, k, m.discriminator_dropout
            ),
            latent_dim=m.latent_dim,
            n_classes=k,
            seed=t.seed,
        )
        gan.compile(
            d_optimizer=keras.optimizers.Adam(t.d_learning_rate, beta_1=t.beta_1),
            g_optimizer=keras.optimizers.Adam(t.g_learning_rate, beta_1=t.beta_1),
            loss=losses.BinaryCrossentropy(from_logits=True),
            real_loss=losses.BinaryCrossentropy(
                from_logits=True,
                label_smoothing=config.loss.label_smoothing,
                name="real_binary_crossentropy",
            ),
        )
        return gan

    def _inputs(self, config, data, n: int, stream: int, labels=None):
        """Fixed generator inputs: noise (and class ids, default `i % K`)."""
        rng = np.random.default_rng([config.train.seed, stream])
        noise = rng.standard_normal((n, config.model.latent_dim)).astype("float32")
        k = self._n_classes(config, data)
        if k is None:
            return noise
        if labels is None:
            labels = np.arange(n) % k
        return [noise, np.asarray(labels, "int32")]

    def _grid_inputs(self, config, data):
        k = self._n_classes(config, data)
        labels = None if k is None else np.arange(_GRID_ROWS**2) // _GRID_ROWS % k
        return self._inputs(config, data, _GRID_ROWS**2, _GRID, labels)

    # ---- training ---------------------------------------------------------
    def monitor_callbacks(self, config: GANConfig, data: Prepared, log_dir: Path):
        from xent import callbacks as callbacks_lib

        cbs: list[keras.callbacks.Callback] = [gan_callbacks.StopOnNonFiniteLosses()]
        if config.eval.frechet_every_epoch:
            val = data.splits["validation"][0]
            cbs.append(
                gan_callbacks.FrechetMonitor(
                    data.extra[_CLASSIFIER].embed,
                    val,
                    self._inputs(config, data, len(val), _FRECHET_CURVE),
                    seed=config.train.seed,
                )
            )
        cbs += callbacks_lib.build_tensorboard_callbacks(
            log_dir,
            task="gan",
            validation_data=None,
            class_names=data.class_names,
            hparams=hparams(config),
        )
        cbs.append(
            gan_callbacks.SampleGridLogger(
                log_dir, self._grid_inputs(config, data), rows=_GRID_ROWS
            )
        )
        return cbs

    def fit(
        self,
        model,
        config: GANConfig,
        data: Prepared,
        callbacks,
        verbose,
        initial_epoch: int = 0,
    ):
        import tensorflow as tf

        from xent.backup import resumable_epochs

        x, y = data.splits["train"]
        real = x * 2.0 - 1.0  # The generator's tanh range.
        t = config.train
        elements = (real, y) if config.model.conditional else real
        ds = (
            tf.data.Dataset.from_tensor_slices(elements)
            .shuffle(len(real), seed=t.seed, reshuffle_each_iteration=True)
            .batch(t.batch_size, drop_remainder=len(real) >= t.batch_size)
            .prefetch(tf.data.AUTOTUNE)
        )
        # Epoch k sees iteration k of the pipeline, from any initial epoch.
        ds, steps = resumable_epochs(ds, initial_epoch)
        history = model.fit(
            ds,
            steps_per_epoch=steps,
            epochs=t.epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,
        )
        return history.history

    # ---- evaluation -------------------------------------------------------
    def _score(self, config, data, images, labels=None) -> dict:
        """The report's metrics for a set of images in [0, 1]."""
        classifier = data.extra[_CLASSIFIER]
        ev = config.eval
        test = data.splits["test"][0]
        features, prob = classifier.embed(images)
        test_features, _ = classifier.embed(test)
        frechet = evaluation.matched_frechet(
            test_features, features, ev.frechet_repeats, seed=config.train.seed
        )
        coverage = evaluation.class_coverage(prob)
        queries = ev.nn_queries
        metrics = {
            "frechet_distance": frechet["frechet_distance"],
            "frechet_floor": frechet["frechet_floor"],
            "frechet_ratio": (
                frechet["frechet_distance"] / frechet["frechet_floor"]
                if frechet["frechet_floor"] > 0
                else float("nan")
            ),
            "frechet_distance_std": frechet["frechet_distance_std"],
            "frechet_floor_std": frechet["frechet_floor_std"],
            "class_coverage": dict(
                zip(data.class_names, coverage.fractions.tolist(), strict=True)
            ),
            "min_class_fraction": float(coverage.fractions.min()),
            "mean_confidence": coverage.mean_confidence,
            "nn_distance_ratio": evaluation.nn_distance_ratio(
                images[:queries], data.splits["train"][0], test[:queries]
            ),
            "samples": len(images),
        }
        if labels is not None:
            metrics["label_accuracy"] = float(np.mean(prob.argmax(axis=1) == labels))
        return metrics

    def evaluate_model(
        self, model, config: GANConfig, data: Prepared, history: dict
    ) -> Evaluation:
        classifier = data.extra[_CLASSIFIER]
        inputs = self._inputs(config, data, config.eval.samples, _EVAL)
        generated = gan_callbacks.generate(model.generator, inputs)
        labels = inputs[1] if isinstance(inputs, list) else None
        metrics = self._score(config, data, generated, labels)
        metrics["classifier_test_accuracy"] = classifier.info["test_metrics"].get(
            "accuracy"
        )
        grid = gan_callbacks.generate(model.generator, self._grid_inputs(config, data))
        k = self._n_classes(config, data)
        coverage = metrics["class_coverage"]
        png = {
            "samples.png": plots.image_grid_png(
                grid,
                _GRID_ROWS,
                "Generated images (fixed noise)",
                row_labels=None
                if k is None
                else [data.class_names[i % k] for i in range(_GRID_ROWS)],
            ),
            "real_images.png": plots.image_grid_png(
                data.splits["test"][0][: _GRID_ROWS**2], _GRID_ROWS, "Real test images"
            ),
            "interpolation.png": plots.image_grid_png(
                self._interpolation(model, config, data),
                _INTERPOLATION_ROWS,
                "Latent interpolation (spherical, left to right)",
            ),
            "class_coverage.png": plots.class_coverage_png(
                list(coverage.values()),
                list(coverage),
                metrics["mean_confidence"],
                _COVERAGE_GOAL,
            ),
            "training_curves.png": plots.training_curves_png(history),
        }
        return Evaluation(
            metrics=metrics,
            plots=png,
            sections={
                "evaluation_classifier": {
                    "path": str(classifier.path),
                    "key": classifier.info["key"],
                    "source": classifier.info["source"],
                    "test_metrics": classifier.info["test_metrics"],
                },
                "html": {
                    "title": f"Evaluation report — {data.name} — "
                    f"{'class-conditional ' if k else ''}DCGAN",
                    "metrics_note": _METRICS_NOTE,
                },
                "goal": {
                    "frechet_ratio_max": 2.0,
                    "min_class_fraction": _COVERAGE_GOAL,
                    "met": bool(
                        metrics["frechet_ratio"] <= 2.0
                        and metrics["min_class_fraction"] >= _COVERAGE_GOAL
                    ),
                },
            },
        )

    def _interpolation(self, model, config, data) -> np.ndarray:
        rng = np.random.default_rng([config.train.seed, _INTERPOLATION])
        latent = config.model.latent_dim
        noise = np.concatenate(
            [
                plots.slerp(
                    rng.standard_normal(latent),
                    rng.standard_normal(latent),
                    _INTERPOLATION_STEPS,
                )
                for _ in range(_INTERPOLATION_ROWS)
            ]
        ).astype("float32")
        k = self._n_classes(config, data)
        if k is None:
            inputs = noise
        else:
            rows = np.arange(_INTERPOLATION_ROWS) % k
            inputs = [noise, np.repeat(rows, _INTERPOLATION_STEPS).astype("int32")]
        return gan_callbacks.generate(model.generator, inputs)

    def baselines(self, config: GANConfig, data: Prepared) -> dict:
        """Two reference "generators" scored exactly like the GAN.

        `gaussian_pixels`: a Gaussian fitted to the training pixels (no
        structure beyond second moments). `copy_training_images`: random
        training images (a perfect memorizer; its `nn_distance_ratio` is 0).
        """
        train = data.splits["train"][0]
        n = config.eval.samples
        rng = np.random.default_rng([config.train.seed, _BASELINE])
        flat = train.reshape(len(train), -1).astype("float64")
        gaussian = rng.multivariate_normal(
            flat.mean(axis=0), np.cov(flat, rowvar=False), size=n, method="eigh"
        )
        gaussian = np.clip(gaussian, 0.0, 1.0).reshape(n, *train.shape[1:])
        copies = train[rng.integers(0, len(train), size=n)]
        return {
            "gaussian_pixels": self._score(config, data, gaussian.astype("float32")),
            "copy_training_images": self._score(config, data, copies),
        }

    # ---- export -----------------------------------------------------------
    def export_model(self, model, config: GANConfig, data: Prepared, base_dir, metrics):
        from xent.gan.export import export_generator

        metadata = {
            "task": self.name,
            "dataset": data.name,
            "class_names": list(data.class_names),
            "image_shape": data.metadata["image_shape"],
            "test_metrics": scalars(metrics),
        }
        return export_generator(
            model.generator,
            base_dir,
            latent_dim=config.model.latent_dim,
            n_classes=self._n_classes(config, data),
            metadata=report_lib.to_jsonable(metadata),
        )
