"""Serving an exported model over the TF Serving REST API, with requests batched together and a page.

    from bertkit.export import export_model
    from bertkit.serving import ServeConfig, serve
    export_model("runs/imdb", "exported/imdb")            # serving_default(text: string [B]) -> ...
    serve("exported/imdb", ServeConfig(port=8501))         # http://127.0.0.1:8501/ until interrupted
"""


def __getattr__(name):
    # Lazy, like `bertkit/__init__.py`: importing the package must not import TensorFlow.
    if name in ("serve", "start_server", "ServeConfig"):
        from bertkit.serving import server

        return getattr(server, name)
    raise AttributeError(f"module 'bertkit.serving' has no attribute {name!r}")


__all__ = ["serve", "start_server", "ServeConfig"]
