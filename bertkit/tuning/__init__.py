"""`bertkit tune`: search fine-tuning settings with Optuna (the optional `tune` extra).

    import bertkit
    result = bertkit.tune(data="mrpc", output="runs/tune", trials=12, epochs_range=(1, 3), max_seq_length=128)
    print(result.best_params, result.final_metrics["f1"], result.command)

Modules: `space` (what is searched, the search's settings), `study` (the Optuna study and its storage),
`data` (the held-out search split), `objective` (one trial), `final` (the best settings retrained),
`report` (the study table and the search report), `search` (`tune` itself).
"""

from bertkit.tuning.space import SearchSpace, TuneConfig


def __getattr__(name):
    # `search` imports TensorFlow; the CLI reads `space` to build its flags before TensorFlow's quiet import.
    if name in ("TuneResult", "summary", "tune"):
        from bertkit.tuning import search

        return getattr(search, name)
    raise AttributeError(name)

__all__ = ["SearchSpace", "TuneConfig", "TuneResult", "summary", "tune"]
