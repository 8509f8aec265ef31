"""The pipelines: one small task plug-in per product task, run by `xent.runner`.

`TASKS` maps a task name to its plug-in; each task's defaults live in the YAML
file of the same name in this folder.
"""

from xent.pipelines.binary import BinaryTask
from xent.pipelines.ctr import CTRTask
from xent.pipelines.gan import GANTask
from xent.pipelines.multiclass import MulticlassTask

TASKS = {
    "binary": BinaryTask(),
    "ctr": CTRTask(),
    "gan": GANTask(),
    "multiclass": MulticlassTask(),
}

__all__ = ["TASKS"]
