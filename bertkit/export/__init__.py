"""Writing models to deployable formats.

* `export_encoder(model, format, output)`: an encoder as a TF Hub SavedModel, a Hugging Face folder or a
  Google TF1 checkpoint (`bertkit export-encoder`); the writers live with their readers in `bertkit.weights`.
* `export_model(model, output)`: a fine-tuned model as a SavedModel that takes raw text (`bertkit export`).
* `export_litert(model, output, config)`: the same graph as one LiteRT .tflite (`bertkit export --format litert`).
"""


def __getattr__(name):
    # Lazy: importing the package must not import TensorFlow.
    if name == "export_encoder":
        from bertkit.export.encoder import export_encoder

        return export_encoder
    if name == "export_model":
        from bertkit.export.savedmodel import export_model

        return export_model
    if name == "export_litert":
        from bertkit.export.litert import export_litert

        return export_litert
    raise AttributeError(f"module 'bertkit.export' has no attribute {name!r}")


__all__ = ["export_encoder", "export_litert", "export_model"]
