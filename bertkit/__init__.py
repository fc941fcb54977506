"""bertkit: fine-tune pretrained BERT encoders with TensorFlow 2 and Keras 3.

    import bertkit
    result = bertkit.train(data="imdb", output="runs/imdb", train_samples=5000, test_samples=5000)
    model = bertkit.load("runs/imdb")
    model.predict(["That movie was absolutely awful"])
    tokenizer = bertkit.load_tokenizer("path/to/model")  # in-graph, exact, for any model folder
    search = bertkit.tune(data="mrpc", output="runs/tune", trials=12)  # needs the `tune` extra (optuna)
"""

__version__ = "0.1.0"


def __getattr__(name):
    # Lazy: `import bertkit` must not import TensorFlow (the CLI's --help stays fast).
    if name in ("train", "load", "load_tokenizer", "BertkitModel", "TrainResult"):
        from bertkit import api

        return getattr(api, name)
    if name in ("tune", "TuneResult"):
        from bertkit import tuning

        return getattr(tuning, name)
    raise AttributeError(f"module 'bertkit' has no attribute {name!r}")


__all__ = ["train", "load", "load_tokenizer", "tune", "BertkitModel", "TrainResult", "TuneResult", "__version__"]
