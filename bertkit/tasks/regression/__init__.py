"""Regression on one real-valued score per text or pair: `RegressionTask`."""

from bertkit.tasks.regression.task import RegressionTask

__all__ = ["RegressionTask"]
