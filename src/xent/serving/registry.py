"""The models found under a base directory, loaded and kept up to date.

Layout (TF Serving's): every folder under the base path is a model, named
after the folder; every folder of it whose name is an integer is a version:

    base/
        ctr/1/saved_model.pb, variables/, assets.extra/...
        ctr/2/...
        binary/1/...

Every version found is loaded; the largest loaded version answers when a
request names none. `Registry.refresh` scans the base path again: new
versions are loaded (the exporter writes a hidden temporary folder and
renames it, so a version appears complete), versions whose folder is gone
are unloaded. A version that fails to load is refused with one ERROR log line
naming it and the reason, and the versions already loaded keep serving; it
is tried again once its files change. A loaded version whose files change
under the same number (names, sizes or modification times) is loaded again
and replaces the old one; if the new files fail to load, the version is
refused and unloaded rather than served stale. Version folders outside
int64 (what TF Serving's protos carry) are ignored with one ERROR line.
Model names come only from the folders found, so a request can never name a
path.

With a model config file (`xent.serving.model_config`) the models are those
it lists, each under its own base path, each version policy choosing the
versions served, and its version labels naming versions; the file is asked
again at every scan, so edits apply without a restart.

Before a version serves, its warm-up requests are replayed: TF Serving's
`assets.extra/tf_serving_warmup_requests` (`xent.serving.warmup`), else the
exporter's `assets.extra/example_request.json`. A version whose warm-up fails
(a corrupt file, a request the model refuses) is refused like one that fails
to load.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import re
import threading
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xent.serving.batching import Batcher
from xent.serving.batching import BatchingOptions
from xent.serving.errors import Code
from xent.serving.errors import ServingError
from xent.serving.limits import RequestLimits
from xent.serving.model_config import MODEL_NAME_RE
from xent.serving.model_config import ModelConfig
from xent.serving.signatures import DEFAULT_SIGNATURE
from xent.serving.signatures import SignatureSpec
from xent.serving.signatures import TensorSpec
from xent.serving.signatures import decode_predict_request
from xent.serving.tensors import decode_tensor_inputs
from xent.serving.warmup import read_warmup_requests

__all__ = [
    "Registry",
    "Servable",
    "Signature",
    "VersionStatus",
    "load_servable",
]

logger = logging.getLogger("xent.serving")

_VERSION_RE = re.compile(r"[0-9]+")
_EXAMPLE_FILE = Path("assets.extra") / "example_request.json"
_MAX_REASON = 400
_MAX_VERSION = (1 << 63) - 1

Arrays = Mapping[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Signature:
    """One callable signature of a loaded version.

    Attributes:
        spec: Its inputs and outputs.
        run: Takes `{input: array}` (checked against `spec`) and returns
            `{output: array}`; merges concurrent calls when batching is on.
    """

    spec: SignatureSpec
    run: Callable[[Arrays], dict[str, np.ndarray]]


@dataclasses.dataclass(frozen=True)
class Servable:
    """A loaded model version.

    Attributes:
        name: The model name (its folder).
        version: The version number (its folder).
        path: The version folder.
        signatures: The callable signatures by key.
        signature_defs: The `SignatureDefMap` proto of the SavedModel (what
            GetModelMetadata answers), the init op included as in TF Serving.
        batchers: The batchers of `signatures` (closed on unload).
        warmup_requests: How many warm-up requests ran before it served.
    """

    name: str
    version: int
    path: Path
    signatures: Mapping[str, Signature]
    signature_defs: object
    batchers: tuple[Batcher, ...] = ()
    warmup_requests: int = 0

    def signature(self, key: str) -> Signature:
        """The signature `key`.

        Raises:
            ServingError: FAILED_PRECONDITION when the version has no such
                signature (TF Serving's code and message).
        """
        try:
            return self.signatures[key]
        except KeyError:
            raise ServingError(
                Code.FAILED_PRECONDITION,
                f'Serving signature key "{key}" not found. Model {self.name!r} '
                f"version {self.version} has {sorted(self.signatures)}",
            ) from None

    def close(self) -> None:
        """Stops the batchers after they answered what is queued."""
        for batcher in self.batchers:
            batcher.close()


@dataclasses.dataclass(frozen=True)
class VersionStatus:
    """The state of one version, as GetModelStatus reports it.

    Attributes:
        version: The version number.
        available: True when loaded and serving (state `AVAILABLE`); False
            for a refused version (state `END` with the error).
        error: Why it was refused, or None.
    """

    version: int
    available: bool
    error: str | None = None


def load_servable(
    name: str,
    version: int,
    path: Path,
    batching: BatchingOptions | None = None,
) -> Servable:
    """Loads one SavedModel version and checks that it answers.

    Args:
        name: The model name.
        version: The version number.
        path: The version folder.
        batching: How to merge concurrent requests; None or a
            `max_batch_size` of 1 calls the model once per request.

    Returns:
        The servable, warmed up: the requests of its `assets.extra/
        tf_serving_warmup_requests`, else of its `assets.extra/
        example_request.json` (both written by `xent.export`), have run once
        (which also proves that the version works).

    Raises:
        Exception: Whatever loading or the warm-up raised.
    """
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow_serving.apis import get_model_metadata_pb2

    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((path / "saved_model.pb").read_bytes())
    graphs = [g for g in saved_model.meta_graphs if "serve" in g.meta_info_def.tags]
    if not graphs:
        raise ValueError("no MetaGraph with the tag 'serve'")
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    for key, signature_def in graphs[0].signature_def.items():
        signature_defs.signature_def[key].CopyFrom(signature_def)

    loaded = tf.saved_model.load(str(path), tags=["serve"])
    signatures = {
        key: Signature(spec, _runner(function, spec))
        for key, function in loaded.signatures.items()
        for spec in [_signature_spec(key, function)]
    }
    if not signatures:
        raise ValueError("the SavedModel has no signatures")
    warmed = _warm_up(path, signatures)
    batchers = []
    if batching is not None and batching.enabled:
        for key, signature in signatures.items():
            if signature.spec.batchable:
                on_batch = batching.on_batch and functools.partial(
                    batching.on_batch, name, key
                )
                batcher = Batcher(
                    signature.run, batching, f"{name}-{version}-{key}", on_batch
                )
                batchers.append(batcher)
                signatures[key] = Signature(signature.spec, batcher)
    return Servable(
        name, version, path, signatures, signature_defs, tuple(batchers), warmed
    )


def _signature_spec(key: str, function) -> SignatureSpec:
    args, kwargs = function.structured_input_signature
    if args:
        raise ValueError(f"signature {key!r} takes positional inputs")

    def spec(name, value) -> TensorSpec:
        shape = value.shape
        dims = None if shape.rank is None else tuple(shape.as_list())
        return TensorSpec(name, value.dtype.name, dims)

    outputs = function.structured_outputs
    if not isinstance(outputs, Mapping):
        raise ValueError(f"signature {key!r} does not return a dict of tensors")
    return SignatureSpec(
        key,
        {n: spec(n, v) for n, v in sorted(kwargs.items())},
        {n: spec(n, v) for n, v in sorted(outputs.items())},
    )


def _runner(function, spec: SignatureSpec) -> Callable[[Arrays], dict]:
    import tensorflow as tf

    dtypes = {name: tf.as_dtype(s.dtype) for name, s in spec.inputs.items()}
    call = _flat_caller(function, spec)

    def run(inputs: Arrays) -> dict[str, np.ndarray]:
        # tf.constant: half the cost of tf.convert_to_tensor for small inputs.
        feed = {k: tf.constant(v, dtype=dtypes[k]) for k, v in inputs.items()}
        try:
            outputs = call(feed)
        except tf.errors.InvalidArgumentError as err:
            raise ServingError.invalid(_one_line(err.message)) from None
        return {name: value.numpy() for name, value in outputs.items()}

    return run


def _flat_caller(function, spec: SignatureSpec) -> Callable[[dict], Mapping]:
    """`function(**feed)` without the keyword binding of a restored signature.

    A restored signature binds its keyword arguments in Python on every call,
    about half of the call's time for a small model. Its flat call takes the
    inputs in the order of `tf.nest.flatten` (sorted names) plus the captured
    variables. The flat call is TensorFlow's own (private) entry point
    (`xent._compat.flat_call`), so the first call checks it against the
    public call and falls back to the public call for good if the outputs
    differ or it is missing.
    """
    import tensorflow as tf

    # Imported here like TensorFlow: `xent._compat` imports Keras.
    from xent._compat import flat_call

    names = sorted(spec.inputs)
    call_flat = flat_call(function)
    captured = getattr(function, "captured_inputs", None)

    def public(feed: dict) -> Mapping:
        return function(**feed)

    if call_flat is None or captured is None:
        return public
    state = {"checked": False, "use": None}

    def flat(feed: dict) -> Mapping:
        outputs = call_flat([feed[n] for n in names], captured)
        if not isinstance(outputs, Mapping):
            outputs = tf.nest.pack_sequence_as(
                function.structured_outputs, outputs, expand_composites=True
            )
        return outputs

    def checked(feed: dict) -> Mapping:
        if state["use"] is not None:
            return state["use"](feed)
        expected = public(feed)
        try:
            got = flat(feed)
            same = set(got) == set(expected) and all(
                _same(got[k].numpy(), expected[k].numpy()) for k in expected
            )
        except Exception:  # noqa: BLE001 - any failure: keep the public call
            same = False
        if not same:
            logger.warning(
                "Signature %r: the flat call disagrees with the public call; "
                "using the public call",
                spec.name,
            )
        state["use"] = flat if same else public
        return expected

    return checked


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind in "fc":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def _warm_up(path: Path, signatures: Mapping[str, Signature]) -> int:
    """Runs the version's warm-up requests; returns how many ran."""
    requests = read_warmup_requests(path)
    limits = RequestLimits()
    for i, request in enumerate(requests):
        key = request.model_spec.signature_name or DEFAULT_SIGNATURE
        if key not in signatures:
            raise ValueError(f"warm-up request {i} names an unknown signature {key!r}")
        signature = signatures[key]
        try:
            signature.run(decode_tensor_inputs(request.inputs, signature.spec, limits))
        except ServingError as err:
            raise ValueError(f"warm-up request {i}: {err.message}") from None
    if requests:
        return len(requests)
    example = path / _EXAMPLE_FILE
    if not example.is_file():
        return 0
    body = json.loads(example.read_text(encoding="utf-8"))
    key = body.get("signature_name", DEFAULT_SIGNATURE)
    if key not in signatures:
        raise ValueError(f"{_EXAMPLE_FILE} names an unknown signature {key!r}")
    signature = signatures[key]
    signature.run(decode_predict_request(body, signature.spec).inputs)
    return 1


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= _MAX_REASON else line[: _MAX_REASON - 3] + "..."


@dataclasses.dataclass
class _Refused:
    fingerprint: tuple
    reason: str


class Registry:
    """The served models (see the module docstring).

    Args:
        base_path: The model base directory: every folder is a model, every
            version found is served. Ignored with `model_configs`.
        batching: Batching of every loaded signature (None: off).
        loader: Loads one version, called as `loader(name, version, path,
            batching)`; `load_servable` by default.
        model_configs: Returns the configured models (called at every scan,
            e.g. `ModelConfigFile.models`); None serves `base_path`.
    """

    def __init__(
        self,
        base_path: str | Path | None,
        batching: BatchingOptions | None = None,
        loader: Callable[..., Servable] = load_servable,
        model_configs: Callable[[], Sequence[ModelConfig]] | None = None,
    ):
        if base_path is None and model_configs is None:
            raise ValueError("Registry needs a base_path or model_configs")
        self._base = None if base_path is None else Path(base_path)
        self._model_configs = model_configs
        self._labels: dict[str, dict[str, int]] = {}
        self._listeners: list[Callable[[], None]] = []
        self._batching = batching
        self._loader = loader
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._models: dict[str, dict[int, Servable]] = {}
        self._refused: dict[tuple[str, int], _Refused] = {}
        self._fingerprints: dict[tuple[str, int], tuple] = {}
        self._ignored: set[Path] = set()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    @property
    def base_path(self) -> Path | None:
        """The model base directory (None with a model config)."""
        return self._base

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Calls `callback()` (from the loading thread) after every load or
        unload, and once now."""
        self._listeners.append(callback)
        callback()

    def _changed(self) -> None:
        for callback in self._listeners:
            try:
                callback()
            except Exception:  # noqa: BLE001 - a listener never stops loading
                logger.exception("A registry listener failed")

    # ----------------------------------------------------------------------
    # Lookups (any thread).
    # ----------------------------------------------------------------------
    def resolve_label(self, name: str, label: str) -> int:
        """The version that `label` of model `name` names.

        Raises:
            ServingError: NOT_FOUND for an unknown model; INVALID_ARGUMENT
                for an unknown label (TF Serving's message).
        """
        with self._lock:
            known = name in self._models or name in self._labels
            version = self._labels.get(name, {}).get(label)
        if version is None:
            if not known:
                raise ServingError.not_found(
                    f"Servable not found for request: Latest({name})"
                )
            raise ServingError.invalid(f"Unrecognized servable version label: {label}")
        return version

    def servable(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> Servable:
        """The loaded version `version` (or `label`) of `name`, or its latest one.

        Raises:
            ServingError: NOT_FOUND with TF Serving's message;
                INVALID_ARGUMENT for an unknown label.
        """
        if label is not None:
            version = self.resolve_label(name, label)
        with self._lock:
            versions = self._models.get(name, {})
            if version is None:
                if versions:
                    return versions[max(versions)]
                raise ServingError.not_found(
                    f"Servable not found for request: Latest({name})"
                )
            if version in versions:
                return versions[version]
        raise ServingError.not_found(
            f"Servable not found for request: Specific({name}, {version})"
        )

    def status(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> list[VersionStatus]:
        """The loaded and refused versions of `name` (newest first).

        Args:
            name: The model name.
            version: Only this version.
            label: Only the version of this label.

        Raises:
            ServingError: NOT_FOUND when the model or version is unknown;
                INVALID_ARGUMENT for an unknown label.
        """
        if label is not None:
            version = self.resolve_label(name, label)
        with self._lock:
            statuses = [VersionStatus(v, True) for v in self._models.get(name, {})]
            statuses += [
                VersionStatus(v, False, refused.reason)
                for (n, v), refused in self._refused.items()
                if n == name
            ]
        if not statuses:
            raise ServingError.not_found(f"Could not find any versions of model {name}")
        if version is not None:
            statuses = [s for s in statuses if s.version == version]
            if not statuses:
                raise ServingError.not_found(
                    f"Could not find version {version} of model {name}"
                )
        return sorted(statuses, key=lambda s: -s.version)

    def models(self) -> dict[str, list[int]]:
        """`{model name: loaded versions}`."""
        with self._lock:
            return {n: sorted(v) for n, v in sorted(self._models.items()) if v}

    # ----------------------------------------------------------------------
    # Loading (one thread at a time).
    # ----------------------------------------------------------------------
    def refresh(self) -> None:
        """Scans once: loads new versions, then unloads those gone (so that a
        `latest` policy never leaves a gap), applies the version labels."""
        with self._refresh_lock:
            scanned = self._scan()
            if scanned is None:
                return
            found, labels = scanned
            with self._lock:
                loaded = {n: dict(v) for n, v in self._models.items()}
                self._refused = {
                    k: r
                    for k, r in self._refused.items()
                    if k[1] in found.get(k[0], {})
                }
            for name, versions in sorted(found.items()):
                for version, path in sorted(versions.items()):
                    fingerprint = _fingerprint(path)
                    if version not in loaded.get(name, {}):
                        self._load(name, version, path, fingerprint)
                    elif fingerprint != self._fingerprints.get((name, version)):
                        logger.warning(
                            "The files of model %r version %d changed: loading "
                            "it again",
                            name,
                            version,
                        )
                        self._load(name, version, path, fingerprint)
            for name, versions in loaded.items():
                for version in sorted(set(versions) - set(found.get(name, {}))):
                    self._unload(name, version, self._gone_reason())
            with self._lock:
                self._labels = labels
            self._changed()

    def start(self, poll_seconds: float) -> None:
        """Loads what is there now, then polls every `poll_seconds`."""
        self.refresh()
        if poll_seconds <= 0 or self._poller is not None:
            return
        self._poller = threading.Thread(
            target=self._poll,
            args=(poll_seconds,),
            name="xent-serving-poll",
            daemon=True,
        )
        self._poller.start()

    def close(self) -> None:
        """Stops polling and unloads every version (queued requests answered)."""
        self._stop.set()
        if self._poller is not None:
            self._poller.join()
        with self._lock:
            servables = [s for v in self._models.values() for s in v.values()]
            self._models = {}
        for servable in servables:
            servable.close()

    def _poll(self, poll_seconds: float) -> None:
        while not self._stop.wait(poll_seconds):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - keep polling; say why
                logger.exception("Scanning %s failed", self._base)

    def _scan(self) -> tuple[dict[str, dict[int, Path]], dict] | None:
        """`({model: {version: folder}}, {model: {label: version}})` to serve."""
        if self._model_configs is not None:
            found, labels = {}, {}
            for config in self._model_configs():
                versions = self._versions_in(config.base_path, config.name)
                if versions is None:
                    versions = {}
                chosen = config.policy.select(versions)
                found[config.name] = {v: p for v, p in versions.items() if v in chosen}
                labels[config.name] = dict(config.labels)
            return found, labels
        try:
            children = sorted(self._base.iterdir())
        except OSError as err:
            logger.warning("Cannot read the model base path %s: %s", self._base, err)
            return None
        found = {}
        for model_dir in children:
            if not model_dir.is_dir() or not MODEL_NAME_RE.fullmatch(model_dir.name):
                continue
            versions = self._versions_in(model_dir, model_dir.name)
            if versions is not None:
                found[model_dir.name] = versions
        return found, {}

    def _gone_reason(self) -> str:
        if self._model_configs is None:
            return "its folder is gone"
        return "its folder is gone or the model config no longer serves it"

    def _versions_in(self, model_dir: Path, name: str) -> dict[int, Path] | None:
        """The version folders of one model (None when unreadable)."""
        try:
            entries = sorted(model_dir.iterdir())
        except OSError:
            return None
        versions: dict[int, Path] = {}
        for entry in entries:
            if not (_VERSION_RE.fullmatch(entry.name) and entry.is_dir()):
                continue
            version = int(entry.name)
            if version > _MAX_VERSION:
                if entry not in self._ignored:
                    self._ignored.add(entry)
                    logger.error(
                        "Ignored model %r version folder %s: versions are "
                        "int64 numbers, at most %d",
                        name,
                        entry,
                        _MAX_VERSION,
                    )
                continue
            versions.setdefault(version, entry)
        return versions

    def _load(self, name: str, version: int, path: Path, fingerprint: tuple) -> None:
        """Loads a version, or loads it again over the one served."""
        refused = self._refused.get((name, version))
        if refused is not None and refused.fingerprint == fingerprint:
            return
        try:
            servable = self._loader(name, version, path, self._batching)
        except Exception as err:  # noqa: BLE001 - refuse this version only
            reason = _one_line(f"{type(err).__name__}: {err}")
            with self._lock:
                self._refused[(name, version)] = _Refused(fingerprint, reason)
                stale = self._fingerprints.pop((name, version), None) is not None
            if stale:  # Its files changed: the old ones are served no more.
                self._unload(name, version, "its new files failed to load")
            serving = self.models().get(name)
            keeps = (
                f"version {max(serving)} keeps serving"
                if serving
                else "no version of it is served"
            )
            logger.error(
                "Refused model %r version %d (%s): %s; %s",
                name,
                version,
                path,
                reason,
                keeps,
            )
            return
        with self._lock:
            self._refused.pop((name, version), None)
            self._fingerprints[(name, version)] = fingerprint
            models = {n: dict(v) for n, v in self._models.items()}
            previous = models.setdefault(name, {}).get(version)
            models[name][version] = servable
            self._models = models
            versions = sorted(models[name])
        if previous is not None:
            previous.close()
        logger.info(
            "%s model %r version %d from %s (signatures %s, %d warm-up "
            "requests); serving versions %s, latest %d",
            "Loaded" if previous is None else "Reloaded",
            name,
            version,
            path,
            sorted(servable.signatures),
            servable.warmup_requests,
            versions,
            versions[-1],
        )

    def _unload(self, name: str, version: int, why: str = "its folder is gone") -> None:
        with self._lock:
            self._fingerprints.pop((name, version), None)
            models = {n: dict(v) for n, v in self._models.items()}
            servable = models.get(name, {}).pop(version, None)
            if name in models and not models[name]:
                del models[name]
            self._models = models
        if servable is not None:
            servable.close()
            logger.info("Unloaded model %r version %d: %s", name, version, why)


def _fingerprint(path: Path) -> tuple:
    """Names, sizes and modification times of the files under `path`."""
    entries = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for file in sorted(files):
            full = os.path.join(root, file)
            try:
                stat = os.stat(full)
            except OSError:
                continue
            entries.append((full, stat.st_size, stat.st_mtime_ns))
    return tuple(entries)
