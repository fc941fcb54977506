"""What every other package builds on: the user-facing error, atomic file writes, the configs, the model
bundle and the mixed-precision policy. Nothing here imports TensorFlow at import time except `precision`."""
