"""Each default lives in one place: the config dataclasses; a task's YAML file
holds only where the task differs from them."""

import dataclasses

import pytest

from xent import config as config_lib
from xent.pipelines import TASKS


def _leaves(data: dict, prefix: str = ""):
    for key, value in data.items():
        where = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            yield from _leaves(value, where)
        else:
            yield where, value


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_yaml_repeats_no_dataclass_default(name):
    task = TASKS[name]
    defaults = task.config_class()
    plain = config_lib.to_dict(defaults)
    repeated = []
    data = config_lib.read_yaml(task.defaults)
    profiles = data.pop(config_lib.PROFILES_KEY, [])
    for where, value in _leaves(data):
        if where == "task":
            continue
        node = plain
        for key in where.split("."):
            node = node[key]
        if node == value:
            repeated.append(where)
    assert not repeated, f"{task.defaults.name} repeats the defaults of {repeated}"
    # A profile holds only what differs from the file's own defaults.
    base = config_lib.to_dict(config_lib.from_dict(task.config_class, data))
    for profile in profiles:
        for where, value in _leaves(profile["set"]):
            assert base_value(base, where) != value, where


def base_value(config: dict, dotted: str):
    for key in dotted.split("."):
        config = config[key]
    return config


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_yaml_keys_are_config_keys(name):
    task = TASKS[name]
    # load_config rejects unknown keys; the task name is the plug-in's.
    config = config_lib.load_config(task.config_class, task.defaults)
    assert config.task == name
    assert dataclasses.is_dataclass(config)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("train.batch_size=0", "train.batch_size"),
        ("train.epochs=0", "train.epochs"),
        ("train.learning_rate=-1", "train.learning_rate"),
        ("train.early_stopping_patience=-2", "train.early_stopping_patience"),
        ("data.validation_fraction=1.5", "data.validation_fraction"),
        ("data.test_fraction=-0.1", "data.test_fraction"),
    ],
)
@pytest.mark.parametrize("name", ["binary", "multiclass", "ctr"])
def test_out_of_range_values_are_refused_naming_the_key(name, override, key):
    task = TASKS[name]
    with pytest.raises(config_lib.ConfigError, match=key.replace(".", r"\.")):
        config_lib.load_config(task.config_class, task.defaults, overrides=[override])
