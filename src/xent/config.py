"""Typed, frozen run configurations loaded from YAML with `--set` overrides.

Every pipeline's configuration is a tree of frozen dataclasses. `from_dict`
builds one from plain data and rejects unknown keys, naming the key and the
allowed ones; `load_config` reads a YAML file and applies `key.sub=value`
overrides (values parsed as YAML, so `[a, b]`, `3`, `true`, `null` work).

>>> @dataclasses.dataclass(frozen=True)
... class Train:
...     epochs: int = 3
>>> from_dict(Train, {"epochs": 5})
Train(epochs=5)
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from typing import TypeVar

import yaml

__all__ = [
    "PROFILES_KEY",
    "ConfigError",
    "apply_overrides",
    "check_profiles",
    "from_dict",
    "load_config",
    "profile_matches",
    "read_yaml",
    "to_dict",
]

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names it."""


_FLOAT_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(tp, value, where: str):
    """Checks/converts `value` to the annotated type `tp`."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(
            f"Invalid value for `{where}`: expected {_type_name(tp)}, "
            f"received {value!r}"
        )
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(
                f"Invalid value for `{where}`: expected one of {list(args)}, "
                f"received {value!r}"
            )
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(
                f"Invalid value for `{where}`: expected a mapping, received {value!r}"
            )
        return from_dict(tp, value, where)
    if origin in (tuple, list, Sequence):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(
                f"Invalid value for `{where}`: expected a list, received {value!r}"
            )
        item = args[0] if args else Any
        return tuple(_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(
                f"Invalid value for `{where}`: expected a mapping, received {value!r}"
            )
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(
                f"Invalid value for `{where}`: expected true or false, "
                f"received {value!r}"
            )
        return value
    if tp is float:
        if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):
            # YAML 1.1 reads `1e-4` (no dot) as a string; take it as meant.
            return float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(
                f"Invalid value for `{where}`: expected a number, received {value!r}"
            )
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(
                f"Invalid value for `{where}`: expected an integer, received {value!r}"
            )
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(
                f"Invalid value for `{where}`: expected a string, received {value!r}"
            )
        return value
    return value


def from_dict(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    """Builds the dataclass `cls` from `data`, recursively.

    Args:
        cls: A (frozen) dataclass type.
        data: Plain data, e.g. parsed YAML.
        where: Dotted path of `data` in the whole config, for messages.

    Returns:
        An instance of `cls`; missing keys take the field defaults.

    Raises:
        ConfigError: On an unknown key (named, with the allowed keys) or a
            value of the wrong type (named, with the expected type).
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(
            f"Unknown config key `{key}`. Allowed keys"
            f"{' in `' + where + '`' if where else ''}: {sorted(fields)}"
        )
    values = {}
    for name, value in data.items():
        path = f"{where}.{name}" if where else name
        values[name] = _coerce(hints[name], value, path)
    try:
        return cls(**values)
    except (TypeError, ValueError) as err:
        where_text = f" `{where}`" if where else ""
        raise ConfigError(f"Invalid config{where_text}: {err}") from None


def to_dict(config) -> dict[str, Any]:
    """Returns the config as plain data (tuples become lists), for YAML/JSON."""

    def plain(value):
        if dataclasses.is_dataclass(value):
            return {
                f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)
            }
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(config)


def _set_path(data: dict, dotted: str, value) -> None:
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"Cannot set `{dotted}`: `{key}` is not a section")
        node = child
    node[keys[-1]] = value


def apply_overrides(data: dict, overrides: Sequence[str]) -> dict:
    """Applies `key.sub=value` strings to plain config data (a copy).

    Raises:
        ConfigError: If an override is not of the form `key=value`.
    """
    data = yaml.safe_load(yaml.safe_dump(data)) or {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"Invalid override {item!r}: expected key=value, e.g. train.epochs=5"
            )
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as err:
            raise ConfigError(f"Invalid value in override {item!r}: {err}") from None
        _set_path(data, key.strip(), value)
    return data


def read_yaml(path: str | Path) -> dict:
    """Reads a YAML mapping, with errors that name the file.

    Raises:
        ConfigError: If the file is missing, unparsable or not a mapping.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"Config file not found: {path}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"Cannot parse config file {path}: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {path} must hold a mapping at the top level")
    return data


def load_config(
    cls: type[T],
    defaults: str | Path,
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> T:
    """Loads `cls` from the defaults file, a user file on top, then overrides.

    Args:
        cls: The config dataclass.
        defaults: The task's YAML file with its defaults (and its
            `profiles`: defaults that apply when the resolved config has
            given values, see `PROFILES_KEY`).
        path: Optional user YAML file; its keys replace the defaults (sections
            are merged key by key).
        overrides: `key.sub=value` strings applied last.

    Returns:
        The validated config.

    Raises:
        ConfigError: With the file, key or value at fault.
    """
    data = read_yaml(defaults)
    profiles = check_profiles(data.pop(PROFILES_KEY, []), defaults)
    user = read_yaml(path) if path is not None else {}
    resolved = apply_overrides(_merge(data, user), overrides)
    if profiles:
        # Keys the files leave out have the dataclass defaults.
        resolved = _merge(to_dict(cls()), resolved)
    for profile in profiles:
        if profile_matches(profile["when"], resolved):
            data = _merge(data, profile["set"])
    data = apply_overrides(_merge(data, user), overrides)
    return from_dict(cls, data)


PROFILES_KEY = "profiles"
"""A defaults file's list of `{when: {dotted.key: value}, set: {...}}`: the
`set` values replace the file's defaults (under the user's file and
overrides) when every `when` key has that value in the resolved config, e.g.
the CTR task's settings for its synthetic log."""


def check_profiles(profiles, source, body: str = "set") -> list[dict]:
    """Checks a file's `profiles`: a list of `{when: {...}, <body>: {...}}`
    (`set` in a defaults file, `space` in a search space file).

    Raises:
        ConfigError: Naming `source`.
    """
    if not isinstance(profiles, list) or not all(
        isinstance(p, dict)
        and set(p) == {"when", body}
        and isinstance(p["when"], dict)
        and isinstance(p[body], dict)
        for p in profiles
    ):
        raise ConfigError(
            f"Invalid `{PROFILES_KEY}` in {source}: expected a list of "
            f"{{when: {{key: value}}, {body}: {{...}}}}"
        )
    return profiles


def profile_matches(when: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
    """Whether every dotted key of `when` has its value in the nested `data`.

    >>> profile_matches({"data.source": "digits"}, {"data": {"source": "digits"}})
    True
    """
    for dotted, expected in when.items():
        node: Any = data
        for key in dotted.split("."):
            if not isinstance(node, Mapping) or key not in node:
                return False
            node = node[key]
        if node != expected:
            return False
    return True


def _merge(base: dict, update: dict) -> dict:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged
