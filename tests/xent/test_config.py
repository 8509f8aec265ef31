"""Typed configs: unknown keys and wrong types are errors that name the key."""

import dataclasses

import pytest

from xent import config as config_lib
from xent.config import ConfigError
from xent.pipelines import TASKS
from xent.pipelines.classification import ClassifierConfig


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_defaults_load_and_round_trip(name):
    task = TASKS[name]
    config = config_lib.load_config(task.config_class, task.defaults)
    assert config.task == name
    again = config_lib.from_dict(task.config_class, config_lib.to_dict(config))
    assert again == config


def test_unknown_key_is_rejected_with_its_path(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochz: 3\n")
    task = TASKS["binary"]
    with pytest.raises(ConfigError, match=r"`train.epochz`.*epochs"):
        config_lib.load_config(task.config_class, task.defaults, path)


def test_overrides_are_parsed_as_yaml_and_type_checked():
    task = TASKS["binary"]
    config = config_lib.load_config(
        task.config_class,
        task.defaults,
        overrides=["train.epochs=5", "data.categorical=[a, b]", "loss.pos_weight=2"],
    )
    assert config.train.epochs == 5
    assert config.data.categorical == ("a", "b")
    assert config.loss.pos_weight == 2.0
    with pytest.raises(ConfigError, match="`train.epochs`.*integer.*'five'"):
        config_lib.load_config(
            task.config_class, task.defaults, overrides=["train.epochs=five"]
        )
    with pytest.raises(ConfigError, match="key=value"):
        config_lib.load_config(task.config_class, task.defaults, overrides=["epochs"])
    with pytest.raises(ConfigError, match="`model.kind`.*'mlp', 'cnn'"):
        config_lib.load_config(
            task.config_class, task.defaults, overrides=["model.kind=rnn"]
        )


def test_configs_are_frozen_and_variants_come_from_replace():
    config = ClassifierConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.task = "x"
    variant = dataclasses.replace(
        config, train=dataclasses.replace(config.train, seed=3)
    )
    assert variant.train.seed == 3 and config.train.seed == 0


def test_bad_yaml_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        config_lib.read_yaml(path)
    with pytest.raises(ConfigError, match="not found"):
        config_lib.read_yaml(tmp_path / "missing.yaml")


def test_exponent_without_a_dot_is_a_number_not_a_string():
    # YAML 1.1 reads `1e-4` as a string; a float field takes it as meant.
    config = config_lib.load_config(
        ClassifierConfig,
        TASKS["binary"].defaults,
        overrides=["train.learning_rate=1e-4", "loss.pos_weight=2E+1"],
    )
    assert config.train.learning_rate == 1e-4
    assert config.loss.pos_weight == 20.0
    with pytest.raises(ConfigError, match="train.learning_rate"):
        config_lib.load_config(
            ClassifierConfig,
            TASKS["binary"].defaults,
            overrides=["train.learning_rate=fast"],
        )


def test_a_profile_applies_when_the_resolved_config_matches(tmp_path):
    import dataclasses as dc

    @dc.dataclass(frozen=True)
    class Data:
        source: str = "synthetic"

    @dc.dataclass(frozen=True)
    class Train:
        epochs: int = 3
        batch_size: int = 32

    @dc.dataclass(frozen=True)
    class Config:
        data: Data = Data()
        train: Train = Train()

    defaults = tmp_path / "d.yaml"
    defaults.write_text(
        "train: {epochs: 5}\n"
        "profiles:\n"
        "  - when: {data.source: synthetic}\n"
        "    set: {train: {epochs: 9, batch_size: 64}}\n"
    )
    # The dataclass default source is `synthetic`: the profile applies.
    assert config_lib.load_config(Config, defaults).train == Train(9, 64)
    # Another source: the file's defaults; the user's values beat a profile.
    other = config_lib.load_config(Config, defaults, overrides=["data.source=f.csv"])
    assert other.train == Train(5, 32)
    mine = config_lib.load_config(Config, defaults, overrides=["train.epochs=1"])
    assert mine.train == Train(1, 64)
    defaults.write_text("profiles: {when: 1}\n")
    with pytest.raises(config_lib.ConfigError, match="profiles"):
        config_lib.load_config(Config, defaults)
