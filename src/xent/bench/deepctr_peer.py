"""DeepCTR's DeepFM on features prepared by `xent.bench.ctr` (the peer run).

Runs in DeepCTR's own throwaway virtualenv (deepctr 0.9.4, tf-keras 2.21 with
`TF_USE_LEGACY_KERAS=1`), never in the project's: it imports only numpy,
TensorFlow and DeepCTR, nothing of xent.

    python deepctr_peer.py IN.npz OUT.npz [float32|mixed_bfloat16]

`IN.npz` holds `train__<feature>` / `test__<feature>` arrays (int ids of the
sparse features, one float matrix `numeric`), `train__y`, and a JSON string
`settings` (embedding_dim, hidden, batch_size, epochs, learning_rate,
l2_embedding, seed, sparse {name: vocabulary_size}, dense {name: dimension}).
`OUT.npz` gets `prob` (test probabilities), `epoch_seconds` and `parameters`.
With `mixed_bfloat16`, tf-keras' global policy is set before the model is
built (DeepCTR has no precision option of its own).
"""

from __future__ import annotations

import json
import os
import sys
import time


def main(argv) -> int:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import numpy as np
    import tensorflow as tf
    from deepctr.feature_column import DenseFeat
    from deepctr.feature_column import SparseFeat
    from deepctr.models import DeepFM

    source, target, *rest = argv
    precision = rest[0] if rest else "float32"
    data = np.load(source, allow_pickle=False)
    settings = json.loads(str(data["settings"]))
    tf.keras.utils.set_random_seed(settings["seed"])
    if precision != "float32":
        tf.keras.mixed_precision.set_global_policy(precision)
    columns = [
        SparseFeat(name, vocabulary_size=size, embedding_dim=settings["embedding_dim"])
        for name, size in settings["sparse"].items()
    ] + [DenseFeat(name, dimension) for name, dimension in settings["dense"].items()]
    model = DeepFM(
        columns,
        columns,
        dnn_hidden_units=tuple(settings["hidden"]),
        l2_reg_embedding=settings["l2_embedding"],
        l2_reg_linear=settings["l2_embedding"],
        dnn_dropout=0.0,
        seed=settings["seed"],
        task="binary",
    )
    model.compile(
        tf.keras.optimizers.Adam(settings["learning_rate"]), "binary_crossentropy"
    )
    names = list(settings["sparse"]) + list(settings["dense"])
    train = {n: data[f"train__{n}"] for n in names}
    test = {n: data[f"test__{n}"] for n in names}

    class Timer(tf.keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    timer = Timer()
    model.fit(
        train,
        data["train__y"].astype("float32"),
        batch_size=settings["batch_size"],
        epochs=settings["epochs"],
        shuffle=True,
        verbose=0,
        callbacks=[timer],
    )
    prob = model.predict(test, batch_size=4096, verbose=0).reshape(-1)
    prob = prob.astype("float64")
    if not np.all(np.isfinite(prob)):
        raise SystemExit(f"non-finite test predictions in {precision}")
    np.savez(
        target,
        prob=prob.astype("float64"),
        epoch_seconds=np.asarray(timer.seconds),
        parameters=np.asarray(model.count_params()),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
