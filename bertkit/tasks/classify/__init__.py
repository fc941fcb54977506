"""Sequence classification (single texts or pairs): `ClassifyTask`."""

from bertkit.tasks.classify.task import ClassifyTask

__all__ = ["ClassifyTask"]
