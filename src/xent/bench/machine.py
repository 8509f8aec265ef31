"""The machine a benchmark ran on: CPUs, load and library versions."""

from __future__ import annotations

import datetime
import os
import platform

import keras
import numpy as np
import tensorflow as tf

__all__ = ["machine_info"]


def machine_info() -> dict:
    """Describes this machine for a report (read when a benchmark starts).

    Returns:
        `cpu_count`, `cpus_usable`, `load_average`, `platform`, `processor`,
        `python`, `tensorflow`, `keras`, `keras_backend`, `numpy`,
        `intra_op_threads`, `inter_op_threads` and `date` (UTC, ISO 8601).
    """
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    load = [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "load_average": load,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "numpy": np.__version__,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
    }
