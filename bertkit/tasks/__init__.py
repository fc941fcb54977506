"""Task registry: one file per task type, looked up by name (`bertkit train --task NAME`)."""

from bertkit.core.errors import BertkitError
from bertkit.tasks.base import Task
from bertkit.tasks.classify import ClassifyTask
from bertkit.tasks.multilabel import MultiLabelTask
from bertkit.tasks.ner import NerTask
from bertkit.tasks.qa import QATask
from bertkit.tasks.regression import RegressionTask

TASKS: dict[str, type[Task]] = {
    ClassifyTask.name: ClassifyTask,
    MultiLabelTask.name: MultiLabelTask,
    RegressionTask.name: RegressionTask,
    NerTask.name: NerTask,
    QATask.name: QATask,
}


def get_task_class(name: str) -> type[Task]:
    """Returns the task class registered under `name`."""
    try:
        return TASKS[name]
    except KeyError:
        raise BertkitError(f"unknown task {name!r}; available tasks: {', '.join(sorted(TASKS))}.") from None


__all__ = ["TASKS", "Task", "get_task_class"]
