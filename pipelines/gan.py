"""GAN: a DCGAN on 8x8 digits (or a tfds image data set), with honest evaluation.

Both players are trained with the shared `xent.losses.BinaryCrossentropy(
from_logits=True)` (see `xent.gan.model`). The report measures the generated
images with the multiclass pipeline's classifier of the same data (trained
once and cached, `xent.gan.classifier`): the Frechet distance to the test
images next to its floor, class coverage and confidence, and a memorization
check (`xent.gan.scoring`). The generator is exported with a
`serving_default(noise)` and a `sample(count, seed)` signature
(`xent.gan.export`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from xent import config as config_lib
from xent import losses
from xent import report as report_lib
from xent.config import ConfigError
from xent.gan import classifier as classifier_lib
from xent.gan import data as gan_data
from xent.gan import report as gan_report
from xent.gan import sampling
from xent.gan import scoring
from xent.gan.callbacks import FrechetMonitor
from xent.gan.callbacks import SampleGridLogger
from xent.gan.config import GANConfig
from xent.pipelines.multiclass import MulticlassTask
from xent.runner import StopOnNonFinite
from xent.runner import hparams
from xent.runner import scalars
from xent.stages import Evaluation
from xent.stages import Prepared

__all__ = ["GANState", "GANTask", "classifier_config"]

_GRID_ROWS = 10
_INTERPOLATION_ROWS, _INTERPOLATION_STEPS = 8, 10
# Independent noise streams (numpy seeds `[train.seed, stream]`).
_GRID, _FRECHET_CURVE, _EVAL, _INTERPOLATION, _BASELINE = range(5)


@dataclasses.dataclass(frozen=True)
class GANState:
    """The GAN's own part of `Prepared.state`.

    Attributes:
        classifier: The evaluation classifier of the data source.
    """

    classifier: classifier_lib.EvaluationClassifier


def classifier_config(config: GANConfig):
    """The multiclass config of the GAN's evaluation classifier: the same
    source, split seed and fractions (it never trains on the GAN's test
    images), then `eval.classifier_overrides`."""
    task, cfg = MulticlassTask(), config.data
    overrides = [f"data.source={json.dumps(cfg.source)}"]
    if cfg.max_rows is not None:
        overrides.append(f"data.max_rows={int(cfg.max_rows)}")
    overrides += [
        f"train.seed={config.train.seed}",
        f"data.validation_fraction={cfg.validation_fraction}",
        f"data.test_fraction={cfg.test_fraction}",
        *config.eval.classifier_overrides,
    ]
    return config_lib.load_config(task.config_class, task.defaults, overrides=overrides)


class GANTask:
    """The GAN plug-in of `xent.runner.run`."""

    name = "gan"
    config_class = GANConfig
    defaults = Path(__file__).with_name("gan.yaml")
    monitor = None  # No validation loss: the runner checkpoints every epoch.
    distributable = False  # One process (`GANTrainConfig` rejects others).
    reads_files = False
    crossed_features = False

    # ---- data -------------------------------------------------------------
    def prepare(self, config: GANConfig, log: Callable[[str], None]) -> None:
        """Trains the evaluation classifier unless cached, before the run is
        seeded: the GAN is then the same with a cached or a fresh one."""
        gan_data.check_source(config.data.source)
        classifier_lib.train_if_absent(
            MulticlassTask(),
            classifier_config(config),
            config.data.source,
            config.eval.classifier_cache,
            log,
        )

    def build_inputs(self, config: GANConfig) -> Prepared:
        data = gan_data.load_images(config.data, config.train.seed)
        classifier = classifier_lib.load_or_train_classifier(
            MulticlassTask(),
            classifier_config(config),
            config.data.source,
            cache_dir=config.eval.classifier_cache,
        )
        if tuple(classifier.class_names) != tuple(data.class_names):
            raise ConfigError(
                f"The cached evaluation classifier in {classifier.path} has the "
                f"classes {classifier.class_names}, the data {data.class_names}"
            )
        return dataclasses.replace(data, state=GANState(classifier))

    # ---- model ------------------------------------------------------------
    def _n_classes(self, config: GANConfig, data: Prepared) -> int | None:
        return len(data.class_names) if config.model.conditional else None

    def create_model(self, config: GANConfig, data: Prepared) -> keras.Model:
        from xent.gan.model import GAN
        from xent.models.gan import build_discriminator
        from xent.models.gan import build_generator

        m, t = config.model, config.train
        shape = tuple(data.splits.train.feature_shape())
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

    def _grid_inputs(self, config: GANConfig, data: Prepared):
        return sampling.grid_inputs(
            config.train.seed,
            _GRID,
            _GRID_ROWS,
            config.model.latent_dim,
            self._n_classes(config, data),
        )

    # ---- training ---------------------------------------------------------
    def monitor_callbacks(self, config: GANConfig, data: Prepared, log_dir: Path):
        from xent import callbacks as callbacks_lib

        cbs: list[keras.callbacks.Callback] = [
            StopOnNonFinite(keys=("d_loss", "g_loss"))
        ]
        if config.eval.frechet_every_epoch:
            val = data.splits.validation.x
            inputs = sampling.noise_inputs(
                config.train.seed,
                _FRECHET_CURVE,
                len(val),
                config.model.latent_dim,
                self._n_classes(config, data),
            )
            cbs.append(
                FrechetMonitor(
                    data.state.classifier.embed, val, inputs, seed=config.train.seed
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
            SampleGridLogger(log_dir, self._grid_inputs(config, data), rows=_GRID_ROWS)
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
        from xent.backup import resumable_epochs

        t = config.train
        ds = gan_data.training_dataset(
            data.splits.train, config.model.conditional, t.batch_size, t.seed
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
    def _score(self, config: GANConfig, data: Prepared, images, labels=None):
        return scoring.score_images(
            images,
            data.state.classifier.embed,
            data.splits.train.x,
            data.splits.test.x,
            data.class_names,
            config.eval,
            config.train.seed,
            labels,
        )

    def evaluate_model(
        self, model, config: GANConfig, data: Prepared, history: dict, validated=None
    ):
        del validated  # A GAN has no `train.refit`.
        seed, latent = config.train.seed, config.model.latent_dim
        k = self._n_classes(config, data)
        inputs = sampling.noise_inputs(seed, _EVAL, config.eval.samples, latent, k)
        labels = inputs[1] if isinstance(inputs, list) else None
        metrics = self._score(
            config, data, sampling.generate(model.generator, inputs), labels
        )
        classifier = data.state.classifier
        metrics["classifier_test_accuracy"] = classifier.info["test_metrics"].get(
            "accuracy"
        )
        interpolation = sampling.interpolation_inputs(
            seed, _INTERPOLATION, latent, _INTERPOLATION_ROWS, _INTERPOLATION_STEPS, k
        )
        png = gan_report.build_plots(
            sampling.generate(model.generator, self._grid_inputs(config, data)),
            _GRID_ROWS,
            None if k is None else [data.class_names[i % k] for i in range(_GRID_ROWS)],
            data.splits.test.x,
            sampling.generate(model.generator, interpolation),
            _INTERPOLATION_ROWS,
            metrics,
            history,
        )
        sections = gan_report.build_sections(classifier, data.name, bool(k), metrics)
        return Evaluation(metrics=metrics, plots=png, sections=sections)

    def baselines(self, config: GANConfig, data: Prepared) -> dict:
        """Two reference "generators" scored exactly like the GAN (see
        `xent.gan.scoring.baseline_images`)."""
        rng = np.random.default_rng([config.train.seed, _BASELINE])
        images = scoring.baseline_images(data.splits.train.x, config.eval.samples, rng)
        return {name: self._score(config, data, x) for name, x in images.items()}

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
