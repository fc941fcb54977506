"""The Keras 3 encoder (TF Hub seam names in and out), its dropout, and the task heads on top of it."""
