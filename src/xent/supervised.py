"""The supervised stages of the runner, shared by the binary, multiclass and CTR tasks.

A supervised task loads its data (`load_inputs`), builds a network that maps
preprocessed features to logits (`build_model`), a loss (`build_losses`) and
metrics, and scores probabilities (`evaluate`). `SupervisedTask` turns those
into the stages `xent.runner.run` calls: features are computed once with the
task's preprocessor (`Split.map_inputs`: in memory, or mapped over a `tf.data`
stream for data read from disk), the model is trained with `fit`, evaluated on
the test split, and exported as preprocessor -> network -> probability head,
so the serving model takes raw inputs and returns probabilities.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import numpy as np

from xent import backup as backup_lib
from xent import export as export_lib
from xent import report as report_lib
from xent._compat import AveragingHookAdam
from xent._compat import adam_moments
from xent._compat import reset_train_function
from xent.runner import hparams
from xent.runner import scalars
from xent.stages import Evaluation
from xent.stages import Prepared
from xent.stages import Validated
from xent.stages import preprocessed

__all__ = [
    "LazyAdam",
    "SupervisedTask",
    "build_optimizer",
    "lazy_adam_rows",
    "probabilities",
]

_VALIDATION_SAMPLE = 20_000  # Rows of a streamed validation split for PR curves.


def probabilities(logits: np.ndarray, binary: bool) -> np.ndarray:
    """Sigmoid (binary, returns `[n]`) or softmax (`[n, K]`) of logits, in float64."""
    z = np.asarray(logits, dtype="float64")
    if binary:
        z = z.reshape(-1)
        # exp of a non-positive number only: no overflow for large |z|.
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class SupervisedTask:
    """Runner stages for a task that trains a logits network on labelled data.

    Subclasses implement `load_inputs`, `build_model`, `build_losses`,
    `build_metrics`, `build_targets`, `evaluate`, `baselines`, and set `name`,
    `kind` (`binary`, `multiclass` or `ctr`: the TensorBoard loggers and the
    plots) and `binary` (one logit, or one per class).
    """

    name: str
    config_class: type
    defaults: Path
    kind: str = "binary"
    binary: bool = True
    monitor = "val_loss"
    distributable = True
    """`train.strategy` may be other than `default` (`--strategy`)."""
    reads_files = True
    """Reads data files, with the bad-row policy (`--on-bad-rows`)."""
    crossed_features = False
    """Takes crossed features (`--cross`)."""

    # ---- hooks for subclasses -------------------------------------------
    def load_inputs(self, config) -> Prepared:
        raise NotImplementedError

    def build_model(self, config, feature_shape, data: Prepared) -> keras.Model:
        raise NotImplementedError

    def build_losses(self, config, data: Prepared) -> keras.losses.Loss:
        raise NotImplementedError

    def build_metrics(self, config, data: Prepared) -> list:
        return []

    def build_targets(self, config, labels: np.ndarray, data: Prepared) -> np.ndarray:
        return np.asarray(labels).astype("float32").reshape(-1, 1)

    def evaluate(self, y_true: np.ndarray, prob: np.ndarray, data: Prepared) -> dict:
        raise NotImplementedError

    def baselines(self, config, data: Prepared) -> dict:
        return {}

    def render_plots(self, y_true, prob, history: dict, data: Prepared) -> dict:
        """The report's PNG plots (see `xent.report.render_plots`)."""
        return report_lib.render_plots(
            "binary" if self.binary else "multiclass",
            y_true,
            prob,
            history,
            class_names=list(data.class_names),
        )

    def example_instances(self, data: Prepared) -> list | None:
        """Rows for the export's `example_request.json`, or None."""
        return None

    def fit_on_validation(self, model, config, data: Prepared) -> dict:
        """What is fitted on the validation split after training, as entries
        of the test metrics that `scoring_model` reads (none by default)."""
        return {}

    def scoring_model(
        self, model, config, data: Prepared, metrics: dict
    ) -> keras.Model:
        """The features -> logits model that the test evaluation scores and the
        export serves: the trained network, or the network with what was
        fitted on validation after training (see `metrics`, e.g. the
        classifiers' nearest-neighbour head)."""
        return model

    def refit_inputs(self, config, data: Prepared) -> Prepared:
        """`Task.refit_inputs`: the preprocessed training and validation
        splits joined (`Split.joined`), and the baselines' matrices likewise
        (`BaselineData.joined`); the preprocessing stays the one fitted on
        the training split (tasks whose preprocessing learns vocabularies
        fit it again, e.g. `CTRTask`)."""
        features = data.features
        return dataclasses.replace(
            data,
            features=dataclasses.replace(
                features, train=features.train.joined(features.validation)
            ),
            baseline=data.baseline and data.baseline.joined(),
        )

    def combine(self, models: list[keras.Model]) -> keras.Model:
        """The ensemble of `train.ensemble`: the mean of the members' logits
        (for the sigmoid, the product of their odds to the power 1/n; for the
        softmax, their normalized geometric mean), on the first member's
        inputs. On Frappe's validation splits this ranked better than the
        mean of the probabilities (by 0.0003-0.001 AUC with 2-6 members).
        The ensemble takes the members' name (the network built); they are
        renamed `<name>_<i>`, as a model's layer names must differ."""
        name = models[0].name
        for i, member in enumerate(models):
            member.name = f"{name}_{i}"
        inputs = models[0].input
        combined = keras.layers.Average(name="ensemble_logits")(
            [member(inputs) for member in models]
        )
        return keras.Model(inputs, combined, name=name)

    def logit_map(self, config, metrics: dict) -> keras.layers.Layer | None:
        """A layer applied to the logits before the probability head of the
        export (e.g. the CTR task's fitted Platt scaling), or None."""
        return None

    # ---- runner stages ----------------------------------------------------
    def prepare(self, config, log) -> None:
        """Nothing to build besides the data."""

    def build_inputs(self, config) -> Prepared:
        return preprocessed(self.load_inputs(config))

    def create_model(self, config, data: Prepared) -> keras.Model:
        model = self.build_model(config, data.features.train.feature_shape(), data)
        train = config.train
        single = train.strategy == "default"
        model.compile(
            optimizer=build_optimizer(train, _steps_per_epoch(data, train.batch_size)),
            **self._loss_and_metrics(config, data),
            steps_per_execution=train.steps_per_execution if single else 1,
            jit_compile=train.jit_compile if single else False,
        )
        return model

    def _loss_and_metrics(self, config, data: Prepared) -> dict:
        """`compile`'s `loss` and `metrics` of every network the run trains
        or validates."""
        from xent import callbacks as callbacks_lib

        loss = self.build_losses(config, data)
        # `data_loss`: the loss without regularization penalties, so that
        # `loss_gap` compares it with the built-in on the same batches.
        metrics = [
            callbacks_lib.build_data_loss_metric(loss),
            *self.build_metrics(config, data),
        ]
        return {"loss": loss, "metrics": metrics}

    def _validation_data(self, config, data: Prepared):
        """The validation split as `fit` and `evaluate` take it: `(x, y)`
        arrays (batched by `train.batch_size`) or a batched dataset."""
        cfg = config.train
        val = data.features.validation.validation_data(
            lambda labels: self.build_targets(config, labels, data),
            cfg.batch_size,
            cfg.seed,
            cfg.strategy != "default",
        )
        return val

    def monitor_callbacks(self, config, data: Prepared, log_dir: Path) -> list:
        from xent import callbacks as callbacks_lib

        return callbacks_lib.build_tensorboard_callbacks(
            log_dir,
            task=self.kind,
            validation_data=data.features.validation.arrays(_VALIDATION_SAMPLE),
            class_names=data.class_names,
            hparams=hparams(config),
        )

    def validation_logs(self, model, config, data: Prepared) -> dict[str, float]:
        """The validation metrics of `model` (e.g. an ensemble), as the
        `val_` logs of training name them, with the run's loss and metrics.
        Compiles `model` (without training it)."""
        model.compile(**self._loss_and_metrics(config, data))
        val = self._validation_data(config, data)
        if isinstance(val, tuple):
            batch_size = config.train.batch_size
            logs = model.evaluate(
                *val, batch_size=batch_size, verbose=0, return_dict=True
            )
        else:
            logs = model.evaluate(val, verbose=0, return_dict=True)
        return {f"val_{name}": float(value) for name, value in logs.items()}

    def fit(
        self,
        model,
        config,
        data: Prepared,
        callbacks,
        verbose,
        initial_epoch=0,
        validate: bool = True,
    ) -> dict:
        """`Task.fit`; `validate=False` trains without validation passes
        (a `train.refit`, whose training rows include the validation
        split's)."""
        cfg = config.train
        train = data.features.train
        distributed = cfg.strategy != "default"

        def targets(labels):
            return self.build_targets(config, labels, data)

        train_data = train.training_data(targets, cfg.batch_size, cfg.seed, distributed)
        val_data = self._validation_data(config, data) if validate else None
        sizes = even_batches(train.rows, cfg.batch_size, model.steps_per_execution)
        if sizes is not None:
            train_data = train_data.rebatch(sizes)
        # Epoch k sees iteration k of the pipeline, from any initial epoch.
        train_data, steps = backup_lib.resumable_epochs(train_data, initial_epoch)
        if sizes is not None and steps != len(sizes):
            raise RuntimeError(
                f"The training split has {steps} batches of the sizes planned for "
                f"{len(sizes)}: its row count ({train.rows}) is not the pipeline's"
            )
        _fit_steps_per_execution(model, steps)
        val_batch = cfg.batch_size if isinstance(val_data, tuple) else None
        history = model.fit(
            train_data,
            steps_per_epoch=steps,
            shuffle=False,  # The pipeline shuffles itself.
            validation_data=val_data,
            validation_batch_size=val_batch,
            epochs=cfg.epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            verbose=verbose,
        )
        return history.history

    def evaluate_model(
        self,
        model,
        config,
        data: Prepared,
        history,
        validated: Validated | None = None,
    ) -> Evaluation:
        """`Task.evaluate_model`: the steps fitted on validation predictions
        (`fit_on_validation`) are fitted by `validated` on its data where
        given (`train.refit`: the first networks' held-out predictions, with
        the training rows), and score `model` on `data` (after a refit, the
        nearest-neighbour head then holds the training and validation
        rows)."""
        if validated is None:
            fitted = self.fit_on_validation(model, config, data)
        else:
            fitted = self.fit_on_validation(validated.model, config, validated.data)
        scorer = self.scoring_model(model, config, data, fitted)
        y_test, prob = self.predict_test(scorer, data)
        return Evaluation(
            metrics={**self.evaluate(y_test, prob, data), **fitted},
            plots=self.render_plots(y_test, prob, history, data),
        )

    def predict_test(self, model, data: Prepared) -> tuple[np.ndarray, np.ndarray]:
        """Test labels and predicted probabilities (float64)."""
        y_test, logits, _ = data.features.test.predict(model)
        return np.asarray(y_test).reshape(-1), probabilities(logits, self.binary)

    def export_model(self, model, config, data: Prepared, base_dir, metrics) -> Path:
        from xent.layers import ProbabilityHead

        pre = data.preprocessor
        raw = pre.input if isinstance(pre.input, dict) else pre.inputs
        if isinstance(raw, list) and len(raw) == 1:
            raw = raw[0]
        head = ProbabilityHead.for_loss(
            self.build_losses(config, data), name="probabilities"
        )
        logits = self.scoring_model(model, config, data, metrics)(pre(raw))
        logit_map = self.logit_map(config, metrics)
        if logit_map is not None:
            logits = logit_map(logits)
        serving = keras.Model(raw, head(logits), name="serving")
        metadata = {
            "task": self.name,
            "dataset": data.name,
            "class_names": list(data.class_names),
            "test_metrics": scalars(metrics),
            **data.metadata,
        }
        return export_lib.export_classifier(
            serving,
            base_dir,
            class_names=data.class_names,
            metadata=report_lib.to_jsonable(metadata),
            example_instances=self.example_instances(data),
        )


def even_batches(rows: int | None, batch_size: int, steps_per_execution: int):
    """Batch sizes that spread an epoch over a multiple of
    `steps_per_execution` batches, each of at most `batch_size` rows.

    Keras 3.15 runs whole chunks of `steps_per_execution` steps, so an epoch
    of `ceil(rows / batch_size)` batches that is not a multiple would run
    into the next epoch's batches. `rows` is spread evenly instead (sizes
    differ by at most one row). None when there is nothing to change (one
    step per execution, an epoch already a multiple, or `rows` unknown).
    """
    if rows is None or rows < 1 or steps_per_execution <= 1:
        return None
    steps = -(-rows // batch_size)
    if steps % steps_per_execution == 0:
        return None
    steps = -(-steps // steps_per_execution) * steps_per_execution
    if steps > rows:  # Fewer rows than steps: one row per batch is not useful.
        return None
    base, extra = divmod(rows, steps)
    return [base + 1] * extra + [base] * (steps - extra)


def steps_per_execution_for(steps_per_epoch: int, requested: int) -> int:
    """The largest divisor of `steps_per_epoch` that is <= `requested`.

    Keras 3.15 runs whole chunks of `steps_per_execution` steps even when
    they do not divide `steps_per_epoch` (with a repeated dataset, as `fit`
    gets it here): each epoch would run up to `requested - 1` extra steps on
    the next epoch's batches. A divisor keeps epochs exact.
    """
    for k in range(min(requested, steps_per_epoch), 0, -1):
        if steps_per_epoch % k == 0:
            return k
    return 1


def _fit_steps_per_execution(model, steps_per_epoch: int) -> None:
    requested = model.steps_per_execution
    k = steps_per_execution_for(steps_per_epoch, requested)
    if k != requested:
        model.steps_per_execution = k
        reset_train_function(model)  # Rebuilt with the new count.


def _steps_per_epoch(data: Prepared, batch_size: int) -> int | None:
    rows = data.features.train.rows
    return None if rows is None else max(1, -(-rows // batch_size))


def learning_rate(train, steps_per_epoch: int | None):
    """`train.learning_rate`, or its warm-up and cosine schedule over
    `train.epochs` epochs of `steps_per_epoch` steps (see
    `SupervisedTrainConfig.schedule`)."""
    if train.schedule == "constant":
        return train.learning_rate
    if steps_per_epoch is None:
        raise ValueError(
            "train.schedule=warmup_cosine needs the training split's row count"
        )
    total = train.epochs * steps_per_epoch
    warmup = int(train.warmup_fraction * total)
    return keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else train.learning_rate,
        decay_steps=total - warmup,
        warmup_target=train.learning_rate if warmup else None,
        warmup_steps=warmup,
    )


def build_optimizer(
    train, steps_per_epoch: int | None = None
) -> keras.optimizers.Optimizer:
    """Adam (AdamW with `train.weight_decay`) at `learning_rate(...)`,
    averaging the weights when `train.ema_momentum` is set (see
    `TrainConfig` and `WarmAveragingAdam`)."""
    rate = learning_rate(train, steps_per_epoch)
    decay = train.weight_decay or None
    momentum = train.ema_momentum
    if train.optimizer == "lazy_adam":
        return LazyAdam(
            rate,
            weight_decay=decay,
            use_ema=momentum is not None,
            ema_momentum=0.99 if momentum is None else momentum,
        )
    if momentum is None:
        return keras.optimizers.Adam(rate, weight_decay=decay)
    return WarmAveragingAdam(
        rate, weight_decay=decay, use_ema=True, ema_momentum=momentum
    )


def average_momentum(step, momentum: float):
    """The weight average's momentum at optimizer step `step` (0-based):
    `min(momentum, (1 + step) / (10 + step))`, 0 at step 0.

    The warm-up of `tf.train.ExponentialMovingAverage(num_updates=...)`:
    Keras' fixed momentum keeps the initial weights in the average for about
    `1 / (1 - momentum)` steps (a 0.999 average of a 150-step run is mostly
    its random initialization); the warm-up makes the average span about the
    last tenth of a short run and `momentum` once the run is long.

    >>> round(float(average_momentum(90, 0.999)), 3)
    0.91
    """
    from keras import ops

    step = ops.cast(step, "float32")
    warm = ops.minimum(momentum, (1.0 + step) / (10.0 + step))
    return ops.where(ops.equal(step, 0.0), 0.0, warm)


@keras.saving.register_keras_serializable(package="xent")
class WarmAveragingAdam(AveragingHookAdam):
    """Adam whose weight average (`use_ema`) warms up (`average_momentum`)."""

    def update_average(self, trainable_variables, averages) -> None:
        """Averages with the warmed-up momentum of `average_momentum`."""
        from keras import ops

        momentum = average_momentum(self.iterations, self.ema_momentum)
        for var, average in zip(trainable_variables, averages, strict=True):
            if average is not None:
                m = ops.cast(momentum, var.dtype)
                average.assign(m * average + (1 - m) * var)


def lazy_adam_rows(m, v, gradient, beta_1: float, beta_2: float, alpha, epsilon):
    """Adam's update of the rows a batch used: `(m', v', step)`.

    `m' = beta_1 m + (1 - beta_1) g`, `v' = beta_2 v + (1 - beta_2) g^2` and
    `step = alpha m' / (sqrt(v') + epsilon)`, with `alpha` the bias-corrected
    rate `lr sqrt(1 - beta_2^t) / (1 - beta_1^t)` (Keras' `Adam`), on the
    used rows only (`m`, `v`, `gradient`: `[rows, ...]`).
    """
    from keras import ops

    m = beta_1 * m + (1.0 - beta_1) * gradient
    v = beta_2 * v + (1.0 - beta_2) * ops.square(gradient)
    return m, v, alpha * m / (ops.sqrt(v) + epsilon)


@keras.saving.register_keras_serializable(package="xent")
class LazyAdam(WarmAveragingAdam):
    """Adam that updates only the embedding rows a batch looked up.

    A gradient that is `tf.IndexedSlices` (an embedding table's, from a
    gather) updates the used rows of the table and of its two moments
    (`lazy_adam_rows`; repeated rows are summed first); the other rows and
    their moments stay as they are, instead of decaying every step. This is
    TF Addons' `LazyAdam` and PyTorch's `SparseAdam`: the cost of a step no
    longer grows with the tables' sizes. Dense gradients (every other
    variable, and tables whose gradient is dense, e.g. under a whole-table
    L2 penalty) get Keras' `Adam` update. The weight average
    (`use_ema`) warms up as in `WarmAveragingAdam`.
    """

    def update_step(self, gradient, variable, learning_rate):
        import tensorflow as tf

        if not isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        alpha = (
            tf.cast(learning_rate, dtype)
            * tf.sqrt(1.0 - tf.pow(beta_2, step))
            / (1.0 - tf.pow(beta_1, step))
        )
        rows, position = tf.unique(gradient.indices)
        summed = tf.math.unsorted_segment_sum(
            tf.cast(gradient.values, dtype), position, tf.shape(rows)[0]
        )
        m, v = adam_moments(self, variable)
        m_rows, v_rows, update = lazy_adam_rows(
            tf.gather(m, rows),
            tf.gather(v, rows),
            summed,
            beta_1,
            beta_2,
            alpha,
            tf.cast(self.epsilon, dtype),
        )
        self.assign(m, tf.IndexedSlices(m_rows, rows))
        self.assign(v, tf.IndexedSlices(v_rows, rows))
        self.assign_sub(variable, tf.IndexedSlices(update, rows))
