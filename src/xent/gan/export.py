"""Export a GAN generator as a versioned SavedModel (TF Serving layout).

Signatures (images are float32 `[batch, h, w, c]` in [0, 1]):

* `serving_default(noise)`: `noise` float32 `[batch, latent_dim]` ->
  `{"images"}`. A class-conditional generator also takes `label`, int32
  class ids `[batch]`.
* `sample(count, seed)`: `count` int32 scalar, `seed` int64 scalar ->
  `{"images", "noise"}` (and `"label"`, the class ids `i % K`, for a
  conditional generator). The noise is `tf.random.stateless_normal` with
  seed `[seed, 0]`: the same `(count, seed)` gives the same images in any
  process (same TensorFlow version and device kind).

The generator runs in inference mode (batch-normalization moving averages).
Metadata (latent size, image shape, class names, test metrics, signatures)
is in `assets.extra/metadata.json`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from xent import export as export_lib

__all__ = ["SAMPLE_SIGNATURE", "export_generator"]

SAMPLE_SIGNATURE = "sample"


def _describe(fn) -> dict:
    concrete = fn.get_concrete_function()
    specs = concrete.structured_input_signature[0]
    return {
        "inputs": {
            s.name: {"dtype": s.dtype.name, "shape": s.shape.as_list()} for s in specs
        },
        "outputs": {
            k: {"dtype": t.dtype.name, "shape": t.shape.as_list()}
            for k, t in concrete.structured_outputs.items()
        },
    }


def export_generator(
    generator: keras.Model,
    base_dir: str | Path,
    latent_dim: int,
    n_classes: int | None,
    metadata: Mapping[str, Any],
) -> Path:
    """Exports `generator` as the next version under `base_dir`.

    Args:
        generator: Maps noise (and labels) to images in [-1, 1] (`tanh`).
        base_dir: The model base path, e.g. `saved_models/gan`.
        latent_dim: Size of the noise vector.
        n_classes: Classes of a conditional generator, or None.
        metadata: Extra JSON-serializable metadata.

    Returns:
        The version directory.
    """
    conditional = n_classes is not None

    def images(noise, label=None):
        inputs = noise if label is None else [noise, label]
        out = generator(inputs, training=False)
        return tf.clip_by_value((tf.cast(out, tf.float32) + 1.0) / 2.0, 0.0, 1.0)

    noise_spec = tf.TensorSpec([None, latent_dim], tf.float32, name="noise")
    label_spec = tf.TensorSpec([None], tf.int32, name="label")
    if conditional:

        def serve(noise, label):
            return {"images": images(noise, label)}

        serve_specs = [noise_spec, label_spec]
    else:

        def serve(noise):
            return {"images": images(noise)}

        serve_specs = [noise_spec]

    def sample(count, seed):
        seeds = tf.stack([seed, tf.zeros_like(seed)])
        noise = tf.random.stateless_normal([count, latent_dim], seed=seeds)
        if not conditional:
            return {"images": images(noise), "noise": noise}
        label = tf.math.floormod(tf.range(count, dtype=tf.int32), n_classes)
        return {"images": images(noise, label), "noise": noise, "label": label}

    archive = keras.export.ExportArchive()
    archive.track(generator)
    serving_fn = archive.add_endpoint(
        export_lib.SIGNATURE_NAME, serve, input_signature=serve_specs
    )
    sample_fn = archive.add_endpoint(
        SAMPLE_SIGNATURE,
        sample,
        input_signature=[
            tf.TensorSpec([], tf.int32, name="count"),
            tf.TensorSpec([], tf.int64, name="seed"),
        ],
    )
    signatures = {
        export_lib.SIGNATURE_NAME: _describe(serving_fn),
        SAMPLE_SIGNATURE: _describe(sample_fn),
    }
    return export_lib.export_archive(
        archive,
        base_dir,
        {
            **metadata,
            "latent_dim": latent_dim,
            "conditional": conditional,
            "output_range": [0.0, 1.0],
            "signatures": signatures,
        },
    )
