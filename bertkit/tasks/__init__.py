"""Task registry: one file per task type, looked up by name (`bertkit train --task NAME`)."""

from bertkit.errors import BertkitError
from bertkit.tasks.base import Task
from bertkit.tasks.classify import ClassifyTask

TASKS: dict[str, type[Task]] = {
    ClassifyTask.name: ClassifyTask,
}


def get_task_class(name: str) -> type[Task]:
    """Returns the task class registered under `name`."""
    try:
        return TASKS[name]
    except KeyError:
        raise BertkitError(f"unknown task {name!r}; available tasks: {', '.join(sorted(TASKS))}.") from None


__all__ = ["TASKS", "Task", "get_task_class"]
