"""Multi-label classification: `MultiLabelTask`."""

from bertkit.tasks.multilabel.task import MultiLabelTask

__all__ = ["MultiLabelTask"]
