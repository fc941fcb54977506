"""bertkit: fine-tune pretrained BERT encoders with TensorFlow 2 and Keras 3.

    import bertkit
    result = bertkit.train(data="imdb", output="runs/imdb", train_samples=5000, test_samples=5000)
    model = bertkit.load("runs/imdb")
    model.predict(["That movie was absolutely awful"])
    tokenizer = bertkit.load_tokenizer("path/to/model")  # in-graph, exact, for any model folder
    search = bertkit.tune(data="mrpc", output="runs/tune", trials=12)  # needs the `tune` extra (optuna)
"""

import os as _os

__version__ = "0.1.0"

# TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX-512 VNNI/BF16 or AMX; on an AVX2
# CPU (AMD Zen 3) the default Eigen kernels made bertkit's fp32 train step ~1.6x slower than with oneDNN
# (benchmarks/results/speed-zen3*.json). Read when TensorFlow is first imported, so it applies only if
# bertkit comes first; TF_ENABLE_ONEDNN_OPTS=0 in the environment still turns it off.
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


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
