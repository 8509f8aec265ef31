"""Multiclass classification: digits images by default, tfds images or CSV."""

from pathlib import Path

from xent import evaluation
from xent.pipelines.classification import ClassificationTask


class MulticlassTask(ClassificationTask):
    """Multiclass classifier trained with the shared categorical cross-entropy."""

    name = "multiclass"
    defaults = Path(__file__).with_name("multiclass.yaml")
    kind = "multiclass"
    binary = False

    def n_outputs(self, data) -> int:
        return len(data.class_names)

    def evaluate(self, y_true, prob, data) -> dict:
        return {
            **evaluation.multiclass_metrics(y_true, prob, list(data.class_names)),
            "cross_entropy": evaluation.cross_entropy_decomposition(y_true, prob),
        }
