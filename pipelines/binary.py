"""Binary classification: tabular data (breast cancer by default, or any CSV)."""

from pathlib import Path

import numpy as np

from xent import evaluation
from xent.pipelines.classification import ClassificationTask


class BinaryTask(ClassificationTask):
    """Binary classifier trained with the shared binary cross-entropy."""

    name = "binary"
    defaults = Path(__file__).with_name("binary.yaml")
    kind = "binary"
    binary = True
    expected_classes = 2

    def n_outputs(self, data) -> int:
        return 1

    def evaluate(self, y_true, prob, data) -> dict:
        prob = np.asarray(prob).reshape(-1)
        return {
            **evaluation.binary_metrics(y_true, prob),
            "cross_entropy": evaluation.cross_entropy_decomposition(y_true, prob),
        }
