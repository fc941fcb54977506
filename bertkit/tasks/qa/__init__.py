"""Extractive question answering (SQuAD v1.1): `QATask`."""

from bertkit.tasks.qa.task import QATask

__all__ = ["QATask"]
