"""Shipping a fine-tuned model: a raw-text SavedModel and a TF-Serving-compatible server.

    from bertkit.serving import export_model, serve
    export_model("runs/imdb", "exported/imdb")  # serving_default(text: string [B]) -> probabilities, label
    serve("exported/imdb", port=8501)           # TF Serving REST API + a page at http://127.0.0.1:8501/
"""


def __getattr__(name):
    # Lazy, like `bertkit/__init__.py`: importing the package must not import TensorFlow.
    if name in ("export_model", "SIGNATURE_BUILDERS"):
        from bertkit.serving import export

        return getattr(export, name)
    if name in ("serve", "start_server", "ServeConfig"):
        from bertkit.serving import server

        return getattr(server, name)
    raise AttributeError(f"module 'bertkit.serving' has no attribute {name!r}")


__all__ = ["export_model", "serve", "start_server", "ServeConfig", "SIGNATURE_BUILDERS"]
