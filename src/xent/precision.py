"""Training precision: float32, or Keras' `mixed_bfloat16` where it is fast.

`train.precision` (`xent.sections.TrainConfig`) is `float32`,
`mixed_bfloat16` (variables in float32, matrix products and activations in
bfloat16) or `auto`, which picks bfloat16 only where the hardware runs it
fast: a CPU with AMX (`amx_bf16` in `/proc/cpuinfo`; TensorFlow's oneDNN
then runs bfloat16 matrix products on the AMX tiles) or a GPU of compute
capability 8.0 or more (bfloat16 tensor cores). Elsewhere bfloat16 is
emulated and slower, so `auto` stays in float32.

Only training runs in bfloat16: the runner switches the trained model to
float32 compute (`compute_in_float32`) before it is evaluated on the test
split and exported, so the reported metrics are those of the exported model
and any CPU serves it. The shared loss already computes in float32 from
half-precision logits (`xent.losses`).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import keras

from xent import _compat

__all__ = [
    "PRECISIONS",
    "Precision",
    "bfloat16_hardware",
    "compute_in_float32",
    "cpu_flags",
    "resolve",
    "training_policy",
]

PRECISIONS = ("auto", "float32", "mixed_bfloat16")


@dataclasses.dataclass(frozen=True)
class Precision:
    """The precision a run trains in, and why.

    Attributes:
        requested: `train.precision` as configured.
        policy: The Keras dtype policy used: `float32` or `mixed_bfloat16`.
        reason: Why, in a few words (for the log and the report).
    """

    requested: str
    policy: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def cpu_flags(path: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags (the first `flags` line of `/proc/cpuinfo`);
    empty where the file is absent or has none (not Linux)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def _gpu_capabilities() -> list[tuple[str, tuple[int, int]]]:
    import tensorflow as tf

    found = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capability = details.get("compute_capability")
        if capability:
            found.append((details.get("device_name", gpu.name), tuple(capability)))
    return found


def bfloat16_hardware(
    flags: frozenset[str] | None = None,
    gpus: list[tuple[str, tuple[int, int]]] | None = None,
) -> tuple[bool, str]:
    """Whether bfloat16 training is fast here, and why.

    Args:
        flags: CPU feature flags (default: `cpu_flags()`).
        gpus: `(name, compute capability)` per GPU (default: TensorFlow's).

    Returns:
        `(fast, reason)`.

    >>> bfloat16_hardware(frozenset({"avx512f", "amx_bf16"}), [])
    (True, 'the CPU has AMX bfloat16 units (amx_bf16)')
    >>> bfloat16_hardware(frozenset({"avx512f", "avx512_bf16"}), [])[0]
    False
    """
    gpus = _gpu_capabilities() if gpus is None else gpus
    if gpus:
        name, capability = gpus[0]
        if all(c >= (8, 0) for _, c in gpus):
            return True, (
                f"the GPU ({name}, compute capability "
                f"{capability[0]}.{capability[1]}) has bfloat16 tensor cores"
            )
        return False, "a GPU below compute capability 8.0 has no bfloat16 units"
    flags = cpu_flags() if flags is None else flags
    if "amx_bf16" in flags:
        return True, "the CPU has AMX bfloat16 units (amx_bf16)"
    if "avx512_bf16" in flags:
        return False, (
            "the CPU has AVX-512 BF16 but no AMX: bfloat16 matrix products "
            "are not faster than float32 there"
        )
    return False, "the CPU has no bfloat16 units (no amx_bf16)"


def resolve(requested: str, hardware: tuple[bool, str] | None = None) -> Precision:
    """The precision of a run from `train.precision`.

    Args:
        requested: `auto`, `float32` or `mixed_bfloat16`.
        hardware: `bfloat16_hardware()`'s answer (computed when needed).

    >>> resolve("auto", (False, "no AMX")).policy
    'float32'
    >>> resolve("mixed_bfloat16", (False, "no AMX")).reason
    'train.precision=mixed_bfloat16 (no AMX: slower than float32 here)'
    """
    if requested not in PRECISIONS:
        raise ValueError(
            f"Invalid value for train.precision. Expected one of "
            f"{', '.join(PRECISIONS)}. Received: {requested!r}"
        )
    if requested == "float32":
        return Precision(requested, "float32", "train.precision=float32")
    fast, why = hardware if hardware is not None else bfloat16_hardware()
    if requested == "mixed_bfloat16":
        note = "" if fast else f" ({why}: slower than float32 here)"
        return Precision(
            requested, "mixed_bfloat16", f"train.precision=mixed_bfloat16{note}"
        )
    return Precision(requested, "mixed_bfloat16" if fast else "float32", f"auto: {why}")


@contextlib.contextmanager
def training_policy(precision: Precision) -> Iterator[None]:
    """Keras' global dtype policy set to `precision.policy` inside, restored
    after (layers keep the policy they were built with)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision.policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def compute_in_float32(model: keras.Model) -> None:
    """Switches every layer of `model` to float32 compute in place.

    The variables of a `mixed_bfloat16` model are float32 already, so the
    weights are unchanged; the next call (evaluation, the export's trace)
    computes in float32.
    """
    for layer in _compat.all_layers(model):
        if layer.dtype_policy.name.startswith("mixed_"):
            layer.dtype_policy = "float32"
