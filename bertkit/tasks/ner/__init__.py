"""Token classification (named entities): `NerTask`."""

from bertkit.tasks.ner.task import NerTask

__all__ = ["NerTask"]
