"""The shared config sections and their builders, against Keras' built-ins."""

import keras
import numpy as np
import pytest

from xent import sections


def test_loss_options_keep_only_the_set_options():
    cfg = sections.LossConfig(name="BinaryFocalCrossentropy", gamma=2.0)
    assert sections.loss_options(cfg) == {"from_logits": True, "gamma": 2.0}
    smooth = sections.LossConfig(label_smoothing=0.1, pos_weight=3.0)
    assert sections.loss_options(smooth) == {
        "from_logits": True,
        "label_smoothing": 0.1,
        "pos_weight": 3.0,
    }


def test_build_loss_matches_the_keras_built_in():
    y = np.array([[0.0], [1.0], [1.0], [0.0]], "float32")
    z = np.array([[-2.0], [0.5], [3.0], [1.0]], "float32")
    cfg = sections.LossConfig(label_smoothing=0.2)
    ours = float(sections.build_loss(cfg)(y, z))
    builtin = float(
        keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.2)(y, z)
    )
    np.testing.assert_allclose(ours, builtin, rtol=1e-6)
    metric = sections.build_builtin_loss_metric(cfg)
    metric.update_state(y, z)
    np.testing.assert_allclose(float(metric.result()), builtin, rtol=1e-6)


def test_build_loss_names_the_section_on_bad_options():
    with pytest.raises(ValueError, match="loss.name=BinaryCrossentropy"):
        sections.build_loss(sections.LossConfig(gamma=2.0))


def test_balanced_class_weights_are_inverse_frequencies():
    labels = np.array([0, 0, 0, 1])
    # n / (k * count): 4 / (2 * 3) and 4 / (2 * 1); an absent class gets 0.
    assert sections.balanced_class_weights(labels, 3) == pytest.approx(
        [4 / 9, 4 / 3, 0.0]
    )


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"epochs": 0}, "train.epochs"),
        ({"batch_size": 0}, "train.batch_size"),
        ({"learning_rate": 0.0}, "train.learning_rate"),
        ({"learning_rate": float("nan")}, "train.learning_rate"),
        ({"steps_per_execution": 0}, "train.steps_per_execution"),
        ({"ensemble": 0}, "train.ensemble"),
        ({"ema_momentum": 1.0}, "train.ema_momentum"),
        ({"early_stopping_patience": -1}, "train.early_stopping_patience"),
    ],
)
def test_train_values_are_range_checked(kwargs, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        sections.SupervisedTrainConfig(**kwargs)


def test_split_and_bad_rows_sections_check_their_values():
    with pytest.raises(ValueError, match="data.validation_fraction"):
        sections.SplitConfig(validation_fraction=1.0)
    with pytest.raises(ValueError):
        sections.BadRowsConfig(max_bad_rows=-1)
    assert sections.SplitConfig() == sections.SplitConfig(0.15, 0.2)
