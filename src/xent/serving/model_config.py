"""Which models and versions to serve: TF Serving's `--model_config_file`.

The file is a `ModelServerConfig` in protobuf text format
(`tensorflow_serving/config/model_server_config.proto`), parsed with the real
proto:

    model_config_list {
      config {
        name: "ctr"
        base_path: "/models/ctr"          # holds the version folders 1/, 2/...
        model_platform: "tensorflow"
        model_version_policy { specific { versions: 1 versions: 2 } }
        version_labels { key: "stable" value: 1 }
        version_labels { key: "canary" value: 2 }
      }
    }

Version policies as in TF Serving: `latest { num_versions: N }` (the default,
N = 1), `all {}`, `specific { versions: ... }`. A relative `base_path` is
taken relative to the folder of the config file. `ModelConfigFile` re-reads
the file when it changed (at most every `poll_wait_s`); a file that no longer
parses is logged once and the previous configuration stays in force.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Iterable
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "MODEL_NAME_RE",
    "ModelConfig",
    "ModelConfigFile",
    "VersionPolicy",
    "parse_model_config",
]

logger = logging.getLogger("xent.serving")

MODEL_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
"""A model name: what TF Serving accepts in a URL and a config file."""
_LABEL_RE = re.compile(r"[A-Za-z0-9_.\-]+")
_POLICIES = ("all", "latest", "specific")


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    """Which of the versions found are served (TF Serving's version policy).

    Attributes:
        kind: "latest" (the `num_versions` largest), "all", or "specific"
            (exactly `versions`, those that exist).
        num_versions: How many of the latest versions (kind "latest").
        versions: The versions served (kind "specific").
    """

    kind: str = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def __post_init__(self):
        if self.kind not in _POLICIES:
            raise ValueError(
                f"Invalid value for argument kind. Expected one of {_POLICIES}. "
                f"Received: {self.kind!r}"
            )
        if self.kind == "latest" and self.num_versions < 1:
            raise ValueError(
                "Invalid value for argument num_versions. Expected an integer "
                f">= 1. Received: {self.num_versions!r}"
            )
        if self.kind == "specific" and not self.versions:
            raise ValueError(
                "Invalid value for argument versions. A specific version policy "
                "needs at least one version"
            )

    def select(self, found: Iterable[int]) -> set[int]:
        """The versions to serve among those `found`.

        >>> VersionPolicy("latest", 2).select([1, 5, 3])
        {3, 5}
        """
        found = set(found)
        if self.kind == "all":
            return found
        if self.kind == "specific":
            return found & set(self.versions)
        return set(sorted(found)[-self.num_versions :])


ALL_VERSIONS = VersionPolicy("all")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """One served model.

    Attributes:
        name: The model name clients use.
        base_path: The folder holding its version folders.
        policy: Which versions are served.
        labels: `{label: version}` (`/labels/<label>` and
            `ModelSpec.version_label`).
    """

    name: str
    base_path: Path
    policy: VersionPolicy = ALL_VERSIONS
    labels: Mapping[str, int] = dataclasses.field(default_factory=dict)


def parse_model_config(text: str, relative_to: Path) -> tuple[ModelConfig, ...]:
    """The models of a `ModelServerConfig` in text format.

    Args:
        text: The file's text.
        relative_to: The folder that relative base paths start from.

    Returns:
        One `ModelConfig` per `config` entry.

    Raises:
        ValueError: For text that does not parse, a `custom_model_config`,
            a platform other than "tensorflow", a bad or repeated name, a
            missing base path or a bad label; the message names it.
    """
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    try:
        proto = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    except text_format.ParseError as err:
        raise ValueError(f"not a ModelServerConfig in text format: {err}") from None
    if proto.WhichOneof("config") == "custom_model_config":
        raise ValueError("custom_model_config is not supported; use model_config_list")
    models, names = [], set()
    for entry in proto.model_config_list.config:
        model = _model(entry, relative_to)
        if model.name in names:
            raise ValueError(f"model {model.name!r} is configured twice")
        names.add(model.name)
        models.append(model)
    return tuple(models)


def _model(entry, relative_to: Path) -> ModelConfig:
    name = entry.name
    if not MODEL_NAME_RE.fullmatch(name):
        raise ValueError(
            f"invalid model name {name!r}: expected letters, digits, '_', '.', '-'"
        )
    if entry.model_platform not in ("", "tensorflow"):
        raise ValueError(
            f"model {name!r}: model_platform {entry.model_platform!r} is not "
            "supported; only 'tensorflow' is"
        )
    if not entry.base_path:
        raise ValueError(f"model {name!r} has no base_path")
    base = Path(entry.base_path)
    if not base.is_absolute():
        base = relative_to / base
    labels = {}
    for label, version in entry.version_labels.items():
        if not _LABEL_RE.fullmatch(label):
            raise ValueError(f"model {name!r}: invalid version label {label!r}")
        labels[label] = int(version)
    return ModelConfig(name, base, _policy(entry.model_version_policy, name), labels)


def _policy(proto, name: str) -> VersionPolicy:
    choice = proto.WhichOneof("policy_choice")
    try:
        if choice == "all":
            return ALL_VERSIONS
        if choice == "specific":
            return VersionPolicy("specific", versions=tuple(proto.specific.versions))
        if choice == "latest" and proto.latest.num_versions:
            return VersionPolicy("latest", proto.latest.num_versions)
    except ValueError as err:
        raise ValueError(f"model {name!r}: {err}") from None
    return VersionPolicy("latest", 1)  # TF Serving's default.


class ModelConfigFile:
    """A model config file, re-read when it changes (see the module docstring).

    Args:
        path: The file.
        poll_wait_s: Least time between two checks of the file; 0 reads it
            once, at construction.

    Raises:
        ValueError: When the file cannot be read or parsed at construction
            (the message names the file).
    """

    def __init__(self, path: str | Path, poll_wait_s: float = 0.0):
        self.path = Path(path)
        self.poll_wait_s = poll_wait_s
        stamp = self._stamp()
        try:
            self._models = self._read()
        except (OSError, ValueError) as err:
            raise ValueError(f"Model config file {self.path}: {err}") from None
        self._stamp_read = self._bad_stamp = stamp
        self._checked = time.monotonic()

    def models(self) -> tuple[ModelConfig, ...]:
        """The models of the last good version of the file."""
        if self.poll_wait_s <= 0:
            return self._models
        now = time.monotonic()
        if now - self._checked < self.poll_wait_s:
            return self._models
        self._checked = now
        stamp = self._stamp()
        if stamp in (self._stamp_read, self._bad_stamp):
            return self._models
        try:
            models = self._read()
        except (OSError, ValueError) as err:
            self._bad_stamp = stamp
            logger.error(
                "Model config file %s: %s; the previous configuration stays in force",
                self.path,
                err,
            )
            return self._models
        self._stamp_read = stamp
        if models != self._models:
            logger.info(
                "Model config file %s changed: serving %s",
                self.path,
                ", ".join(m.name for m in models) or "no model",
            )
        self._models = models
        return models

    def _read(self) -> tuple[ModelConfig, ...]:
        text = self.path.read_text(encoding="utf-8")
        return parse_model_config(text, self.path.parent)

    def _stamp(self) -> tuple | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)
