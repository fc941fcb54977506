"""`ExportConfig`: what `bertkit export` writes (no TensorFlow here, so the CLI builds its flags without
importing it)."""

from __future__ import annotations

from dataclasses import dataclass

from bertkit.core.config import JsonConfig, option

FORMATS = ("savedmodel", "litert")
QUANTIZATIONS = ("none", "float16", "dynamic-int8", "int8")


@dataclass(frozen=True)
class ExportConfig(JsonConfig):
    """The export's format and, for LiteRT, its quantization."""

    format: str = option("savedmodel", "savedmodel: a TF SavedModel folder; litert: one .tflite file (LiteRT, "
                         "formerly TensorFlow Lite) for phones and small CPUs", choices=FORMATS)
    quantize: str = option("none", "litert: none (float32), float16 weights, dynamic-int8 (int8 weights, "
                           "activations quantized per call) or int8 (int8 weights and activations, calibrated "
                           "on --calibration-samples training texts)", choices=QUANTIZATIONS)
    calibration_samples: int = option(200, "litert int8: training texts (a seeded sample) that calibrate the "
                                      "activation ranges", minimum=1)
    calibration_data: str | None = option(None, "litert int8: file, folder or dataset name to draw the calibration "
                                          "texts from", unset="the run's training data")
    seed: int = option(42, "litert int8: seed of the calibration sample")
