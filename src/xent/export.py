"""Export a classifier as a versioned SavedModel that TensorFlow Serving serves.

Layout (TF Serving's model base path, one integer folder per version):

    base_dir/
        1/
            saved_model.pb, variables/, assets/
            assets.extra/metadata.json          `load_metadata` reads it
            assets.extra/example_request.json   only with `example_instances`
            assets.extra/tf_serving_warmup_requests   the same rows as TF
                                                Serving's warm-up records
        2/ ...

A version is written into a hidden sibling
`base_dir/.tmp-<version>-<pid>-<hex>-<host>` (TF Serving and `xent serve`
ignore non-integer names) and renamed into place as the very last step, so a
reader never sees a half-written version (not even of a process killed while
exporting) and an existing version is never overwritten. The next export
removes the temporary folders that processes of the same host left when they
died.

The `serving_default` signature takes the raw inputs by name and returns:

* `probabilities`: float32 `[batch, K]`, the serving model's output. For a
  binary model `K == 1` and the column is P(class 1), the positive class.
* `class_id`: int64 `[batch]`, `argmax` over the classes; for a binary model
  `probabilities[:, 0] >= BINARY_THRESHOLD`.
* `label`: string `[batch]`, `class_names[class_id]`; only when class names
  are given.
"""

from __future__ import annotations

import datetime
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from xent import report
from xent.serving.warmup import write_warmup_requests

__all__ = [
    "BINARY_THRESHOLD",
    "EXTRA_DIR",
    "SIGNATURE_NAME",
    "export_archive",
    "export_classifier",
    "load_metadata",
    "next_version",
]

SIGNATURE_NAME = "serving_default"
EXTRA_DIR = "assets.extra"
"""TF Serving's folder for files that belong to a version but not to the graph."""
BINARY_THRESHOLD = 0.5
"""A binary model predicts class 1 where P(class 1) >= this value."""

_METADATA_FILE = "metadata.json"
_EXAMPLE_FILE = "example_request.json"
_TMP_PREFIX = ".tmp-"
# This host's tag in temporary folder names: only its own dead exports are
# cleaned up (a base directory may be shared between machines).
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_TMP_RE = re.compile(r"\.tmp-[0-9]+-([0-9]+)-[0-9a-f]+-([0-9a-f]{8})")
_RESERVED_KEYS = ("created", "version", "signature")
_VERSION_RE = re.compile(r"[0-9]+")
# Signature input names become graph op names, which are restricted.
_INPUT_NAME_RE = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_.\-]*")


def next_version(base_dir: str | Path) -> int:
    """The version number that the next export into `base_dir` gets.

    Args:
        base_dir: A model base path; it need not exist.

    Returns:
        1 + the largest version folder name (a name made of digits only), or 1
        when there is none. Files, temporary folders and other names are
        ignored.

    >>> next_version("/nonexistent")
    1
    """
    base = Path(base_dir)
    if not base.is_dir():
        return 1
    versions = [
        int(p.name)
        for p in base.iterdir()
        if _VERSION_RE.fullmatch(p.name) and p.is_dir()
    ]
    return max(versions, default=0) + 1


def export_classifier(
    serving_model: keras.Model,
    base_dir: str | Path,
    class_names: Sequence[str] | None,
    metadata: Mapping[str, Any],
    input_signature: Mapping[str, tf.TensorSpec] | tf.TensorSpec | None = None,
    example_instances: Sequence[Any] | None = None,
) -> Path:
    """Export `serving_model` as the next version under `base_dir`.

    See the module docstring for the layout and the signature's outputs.

    Args:
        serving_model: Takes the raw inputs (a dict of named inputs, a list of
            inputs, or one tensor) and returns probabilities: `[batch, 1]`
            P(class 1) for a binary model, `[batch, K]` softmax otherwise.
        base_dir: The model base path, e.g. `saved_models/binary`; created if
            missing.
        class_names: Label strings in class-id order (2 for a binary model,
            K otherwise), or None for no `label` output.
        metadata: JSON-serializable values (task, feature schema, test
            metrics...) written to `assets.extra/metadata.json` together with
            `created` (UTC, ISO 8601), `version` and `signature` (input and
            output names, dtypes and shapes; class names; binary threshold).
        input_signature: The raw inputs, by name: a dict of `tf.TensorSpec`
            (the model is called with a dict) or one `tf.TensorSpec` (called
            with a tensor; its name, or `"inputs"`, names the input). None
            derives it from `serving_model.input`: string inputs become
            `tf.string`, integer and bool inputs keep their dtype, all others
            become float32; the batch dimension is None. A list of inputs is
            named after its Keras tensors and passed to the model as a list.
        example_instances: Optional rows for
            `assets.extra/example_request.json`, a TF Serving REST body
            `{"signature_name": "serving_default", "instances": [...]}`: dicts
            `{input name: value}`, or plain values for a single input.

    Returns:
        The final version directory, `base_dir/<version>`.

    Raises:
        ValueError: For an invalid argument, named in the message (including a
            model output that is not one `[batch, K]` tensor).
        TypeError: For metadata that is not JSON-serializable.
    """
    specs, pack = _input_specs(serving_model, input_signature)
    names = None if class_names is None else _check_class_names(class_names)
    extra = dict(metadata)
    clash = sorted(set(extra) & set(_RESERVED_KEYS))
    if clash:
        raise ValueError(
            "Invalid value for argument metadata. The exporter writes the keys "
            f"{list(_RESERVED_KEYS)} itself. Received the keys {clash}."
        )
    extra = report.to_jsonable(extra)
    example = warmup = None
    if example_instances is not None:
        example = _example_request(example_instances, specs)
        warmup = _warmup_inputs(example["instances"], specs)

    archive = keras.export.ExportArchive()
    archive.track(serving_model)
    endpoint = archive.add_endpoint(
        SIGNATURE_NAME,
        _build_serving_fn(serving_model, pack, names),
        input_signature=[specs],
    )
    outputs = endpoint.get_concrete_function().structured_outputs
    signature = {
        "name": SIGNATURE_NAME,
        "inputs": _describe(specs),
        "outputs": _describe(outputs),
        "class_names": names,
        "binary_threshold": (
            BINARY_THRESHOLD if outputs["probabilities"].shape[-1] == 1 else None
        ),
    }

    files = {} if example is None else {_EXAMPLE_FILE: example}
    return _write_version(
        archive, Path(base_dir), {**extra, "signature": signature}, files, warmup
    )


def load_metadata(version_dir: str | Path) -> dict:
    """The metadata that `export_classifier` wrote into `version_dir`.

    Args:
        version_dir: An exported version, e.g. `saved_models/binary/3`.

    Returns:
        The given metadata plus `created`, `version` and `signature`.

    Raises:
        FileNotFoundError: When `version_dir` has no metadata file.
    """
    path = Path(version_dir) / EXTRA_DIR / _METADATA_FILE
    return json.loads(path.read_text(encoding="utf-8"))


def export_archive(
    archive: keras.export.ExportArchive,
    base_dir: str | Path,
    metadata: Mapping[str, Any],
) -> Path:
    """Writes a prepared `ExportArchive` as the next version under `base_dir`.

    For models that are not classifiers (e.g. a GAN generator with several
    signatures): the caller tracks the model and adds the endpoints; this
    writes them with the same layout and temporary-folder-then-rename step as
    `export_classifier`.

    Args:
        archive: The archive, with its endpoints added.
        base_dir: The model base path; created if missing.
        metadata: JSON-serializable values for `assets.extra/metadata.json`,
            written together with `created` and `version`.

    Returns:
        The final version directory, `base_dir/<version>`.

    Raises:
        ValueError: If `metadata` holds `created` or `version`.
        TypeError: For metadata that is not JSON-serializable.
    """
    clash = sorted(set(metadata) & {"created", "version"})
    if clash:
        raise ValueError(
            "Invalid value for argument metadata. The exporter writes the keys "
            f"['created', 'version'] itself. Received the keys {clash}."
        )
    extra = report.to_jsonable(dict(metadata))
    return _write_version(archive, Path(base_dir), extra, {})


def _write_version(
    archive: keras.export.ExportArchive,
    base: Path,
    metadata: Mapping[str, Any],
    extra_files: Mapping[str, Any],
    warmup: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Writes `archive` as the next version under `base`: into a temporary
    folder, with `metadata` (+ `created`, `version`), the JSON `extra_files`
    and the `warmup` request (TF Serving's warm-up file) in `assets.extra/`,
    then renamed into place."""
    base.mkdir(parents=True, exist_ok=True)
    _remove_dead_exports(base)
    version = next_version(base)
    tmp = _make_temp_dir(base, version)
    try:
        archive.write_out(str(tmp), verbose=False)
        for name, value in extra_files.items():
            _write_json(tmp / EXTRA_DIR / name, value)
        if warmup is not None:
            write_warmup_requests(tmp, [warmup], SIGNATURE_NAME)
        while True:
            created = datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"
            )
            _write_metadata(
                tmp,
                {
                    **metadata,
                    "created": created.replace("+00:00", "Z"),
                    "version": version,
                },
            )
            target = base / str(version)
            try:
                _rename_no_replace(tmp, target)
            except OSError as e:
                if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                # Another writer took this version meanwhile: take the next.
                version = max(version + 1, next_version(base))
                continue
            return target
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# --------------------------------------------------------------------------
# Signature.
# --------------------------------------------------------------------------


def _input_specs(
    model: keras.Model,
    input_signature: Mapping[str, tf.TensorSpec] | tf.TensorSpec | None,
) -> tuple[dict[str, tf.TensorSpec], Callable[[dict], Any]]:
    """Named input specs and how to turn the named inputs into the model input."""
    if input_signature is None:
        structure = getattr(model, "input", None)
        if structure is None:
            raise ValueError(
                "Invalid value for argument input_signature. It is required "
                "when serving_model has no symbolic inputs (not a functional "
                f"model). Received: serving_model={model!r}"
            )
        if isinstance(structure, Mapping):
            specs = {k: _spec_from_keras(t, k) for k, t in structure.items()}
            pack = dict
        elif isinstance(structure, (list, tuple)):
            specs = {t.name: _spec_from_keras(t, t.name) for t in structure}
            order = list(specs)

            def pack(inputs):
                return [inputs[k] for k in order]

        else:
            specs = {structure.name: _spec_from_keras(structure, structure.name)}
            only = structure.name

            def pack(inputs):
                return inputs[only]

    elif isinstance(input_signature, tf.TensorSpec):
        only = input_signature.name or "inputs"
        specs = {only: _named_spec(input_signature, only)}

        def pack(inputs):
            return inputs[only]

    elif isinstance(input_signature, Mapping) and all(
        isinstance(s, tf.TensorSpec) for s in input_signature.values()
    ):
        specs = {k: _named_spec(s, k) for k, s in input_signature.items()}
        pack = dict
    else:
        raise ValueError(
            "Invalid value for argument input_signature. Expected a "
            "tf.TensorSpec, a dict of tf.TensorSpec or None. "
            f"Received: {input_signature!r}"
        )
    if not specs:
        raise ValueError(
            "Invalid value for argument input_signature. Expected at least one "
            f"input. Received: {input_signature!r}"
        )
    for name in specs:
        if not isinstance(name, str) or not _INPUT_NAME_RE.fullmatch(name):
            raise ValueError(
                "Invalid value for argument input_signature. Input names must "
                f"match {_INPUT_NAME_RE.pattern!r}. Received: {name!r}"
            )
    return specs, pack


def _spec_from_keras(tensor: Any, name: str) -> tf.TensorSpec:
    dtype = tf.as_dtype(tensor.dtype)
    if not (dtype == tf.string or dtype.is_integer or dtype.is_bool):
        dtype = tf.float32
    return tf.TensorSpec((None, *tensor.shape[1:]), dtype, name=name)


def _named_spec(spec: tf.TensorSpec, name: str) -> tf.TensorSpec:
    # The spec's name becomes the signature's input name.
    return tf.TensorSpec(spec.shape, spec.dtype, name=name)


def _check_class_names(class_names: Sequence[str]) -> list[str]:
    if isinstance(class_names, str) or not all(isinstance(n, str) for n in class_names):
        raise ValueError(
            "Invalid value for argument class_names. Expected a sequence of "
            f"strings. Received: {class_names!r}"
        )
    if len(set(class_names)) != len(class_names):
        raise ValueError(
            "Invalid value for argument class_names. Expected distinct names. "
            f"Received: {class_names!r}"
        )
    return list(class_names)


def _build_serving_fn(
    model: keras.Model,
    pack: Callable[[dict], Any],
    class_names: list[str] | None,
) -> Callable[[dict], dict[str, tf.Tensor]]:
    def serve(inputs: dict) -> dict[str, tf.Tensor]:
        probabilities = model(pack(inputs), training=False)
        if isinstance(probabilities, (list, tuple)) and len(probabilities) == 1:
            probabilities = probabilities[0]
        if not isinstance(probabilities, tf.Tensor) or probabilities.shape.rank != 2:
            raise ValueError(
                "Invalid value for argument serving_model. Expected one output "
                "of shape [batch, K] (probabilities). Received an output of "
                f"{probabilities!r}"
            )
        k = probabilities.shape[-1]
        if k is None:
            raise ValueError(
                "Invalid value for argument serving_model. The number of "
                f"classes (last output dimension) must be known. Received: {k}"
            )
        probabilities = tf.cast(probabilities, tf.float32)
        if k == 1:
            class_id = tf.cast(probabilities[:, 0] >= BINARY_THRESHOLD, tf.int64)
        else:
            class_id = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        outputs = {"probabilities": probabilities, "class_id": class_id}
        if class_names is not None:
            expected = 2 if k == 1 else k
            if len(class_names) != expected:
                raise ValueError(
                    "Invalid value for argument class_names. The model has "
                    f"{expected} classes. Received {len(class_names)} names: "
                    f"{class_names!r}"
                )
            outputs["label"] = tf.gather(tf.constant(class_names), class_id)
        return outputs

    return serve


def _describe(tensors: Mapping[str, Any]) -> dict[str, dict]:
    return {
        name: {"dtype": t.dtype.name, "shape": t.shape.as_list()}
        for name, t in tensors.items()
    }


def _example_request(instances: Sequence[Any], specs: dict) -> dict:
    """A TF Serving REST body (row format); checks the rows against `specs`."""
    if isinstance(instances, (str, Mapping)) or len(instances) == 0:
        raise ValueError(
            "Invalid value for argument example_instances. Expected a non-empty "
            f"list of rows. Received: {instances!r}"
        )
    rows = []
    for i, row in enumerate(instances):
        if len(specs) > 1 and not isinstance(row, Mapping):
            raise ValueError(
                "Invalid value for argument example_instances. With several "
                f"inputs each row must be a dict. Received row {i}: {row!r}"
            )
        named = dict(row) if isinstance(row, Mapping) else {next(iter(specs)): row}
        if set(named) != set(specs):
            raise ValueError(
                "Invalid value for argument example_instances. Expected the "
                f"keys {sorted(specs)} in row {i}. Received: {sorted(named)}"
            )
        for name, value in named.items():
            shape = np.shape(value)
            if not specs[name].shape[1:].is_compatible_with(shape):
                raise ValueError(
                    "Invalid value for argument example_instances. Input "
                    f"{name!r} of row {i} has shape {shape}, expected "
                    f"{specs[name].shape[1:]}."
                )
        rows.append(report.to_jsonable(row))
    return {"signature_name": SIGNATURE_NAME, "instances": rows}


def _warmup_inputs(rows: Sequence[Any], specs: dict) -> dict[str, np.ndarray]:
    """The checked example rows as one batch per input, in the inputs' dtypes."""
    named = [
        row if isinstance(row, Mapping) else {next(iter(specs)): row} for row in rows
    ]
    return {
        name: np.asarray(
            [row[name] for row in named],
            dtype=object if spec.dtype == tf.string else spec.dtype.as_numpy_dtype,
        )
        for name, spec in specs.items()
    }


# --------------------------------------------------------------------------
# Files.
# --------------------------------------------------------------------------


def _make_temp_dir(base: Path, version: int) -> Path:
    # Not tempfile.mkdtemp: its 0o700 mode would keep a TF Serving process
    # running as another user out; os.mkdir honours the umask.
    while True:
        path = base / (
            f"{_TMP_PREFIX}{version}-{os.getpid()}-{secrets.token_hex(4)}-{_HOST}"
        )
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path


def _remove_dead_exports(base: Path) -> None:
    """Removes the temporary folders of exports by processes of this host
    that no longer run (killed while exporting); never a version."""
    for entry in base.iterdir():
        match = _TMP_RE.fullmatch(entry.name)
        if match and match[2] == _HOST and not _running(int(match[1])):
            shutil.rmtree(entry, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # Another user's process.
        return True
    return True


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(value, indent=2, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")


def _write_metadata(version_dir: Path, metadata: dict) -> None:
    _write_json(version_dir / EXTRA_DIR / _METADATA_FILE, metadata)


def _rename_no_replace(src: Path, dst: Path) -> None:
    """`os.rename` that fails with EEXIST rather than replace `dst`.

    POSIX `rename` fails for a non-empty target folder but silently replaces
    an empty one, so check first; only an empty folder created between the
    check and the rename could still be replaced, and it holds no version.
    """
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst))
    os.rename(src, dst)
