"""Tests of `xent.gan.config`: the GAN composes the shared sections."""

import dataclasses

import pytest
import yaml

from xent import config as config_lib
from xent import sections
from xent.config import ConfigError
from xent.gan.config import GANConfig
from xent.gan.config import GANLossConfig
from xent.gan.config import GANTrainConfig
from xent.pipelines.gan import GANTask

# The GAN's defaults before the shared sections (value for value).
_EXPECTED = {
    "data": {
        "source": "digits",
        "max_rows": None,
        "validation_fraction": 0.15,
        "test_fraction": 0.2,
    },
    "model": {
        "latent_dim": 32,
        "conditional": False,
        "generator_filters": [64, 32],
        "discriminator_filters": [64, 128],
        "discriminator_dropout": 0.0,
        "embedding_dim": 16,
    },
    "loss": {"label_smoothing": 0.1},
    "train": {
        "epochs": 150,
        "batch_size": 32,
        "d_learning_rate": 3e-4,
        "g_learning_rate": 3e-4,
        "beta_1": 0.5,
        "early_stopping_patience": None,
        "seed": 0,
        "deterministic": False,
    },
    "eval": {
        "samples": 10_000,
        "frechet_repeats": 10,
        "frechet_every_epoch": True,
        "nn_queries": 2_000,
        "classifier_cache": None,
        "classifier_overrides": [],
    },
}


def _load(overrides=()):
    return config_lib.load_config(GANConfig, GANTask.defaults, overrides=overrides)


def test_the_defaults_file_resolves_to_the_gan_defaults():
    resolved = config_lib.to_dict(_load())
    assert resolved["task"] == "gan"
    for section, values in _EXPECTED.items():
        for key, value in values.items():
            assert resolved[section][key] == value, f"{section}.{key}"


def test_the_defaults_file_holds_only_values_that_differ_from_the_fields():
    data = yaml.safe_load(GANTask.defaults.read_text())
    fields = config_lib.to_dict(GANConfig())
    for section, values in data.items():
        if isinstance(values, dict):
            for key, value in values.items():
                assert fields[section][key] != value, f"{section}.{key}"


def test_sections_are_the_shared_ones_extended():
    config = GANConfig()
    assert isinstance(config.data, sections.SplitConfig)
    assert isinstance(config.train, sections.TrainConfig)
    assert isinstance(config.loss, sections.LossConfig)
    shared = {f.name for f in dataclasses.fields(sections.TrainConfig)}
    own = set(GANTrainConfig.__dataclass_fields__) - shared
    assert own == {"d_learning_rate", "g_learning_rate", "beta_1"}


def test_early_stopping_is_rejected_with_the_reason():
    with pytest.raises(ConfigError, match="early_stopping_patience must be null"):
        _load(["train.early_stopping_patience=5"])


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("train.monitor=val_loss", "train.monitor"),
        ("train.ema_momentum=0.99", "train.ema_momentum"),
        ("train.strategy=mirrored", "train.strategy"),
        ("loss.pos_weight=2.0", "loss.pos_weight"),
        ("loss.gamma=2.0", "loss.gamma"),
        ("loss.alpha=0.25", "loss.alpha"),
        ("loss.apply_class_balancing=true", "loss.apply_class_balancing"),
        ("loss.name=CategoricalCrossentropy", "loss.name"),
    ],
)
def test_settings_the_gan_does_not_support_are_rejected_naming_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        _load([override])


def test_the_strategy_message_says_the_gan_trains_in_one_process():
    with pytest.raises(ValueError, match="gan trains in one process"):
        GANTrainConfig(strategy="mirrored")


def test_label_smoothing_is_the_only_loss_option():
    assert GANLossConfig(label_smoothing=0.2).label_smoothing == 0.2
