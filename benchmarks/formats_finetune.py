"""Fine-tuning through a TF Hub-format MiniLM folder vs through its Hugging Face folder.

The packaged all-MiniLM-L6-v2 (HF folder) is exported with `export_encoder(..., "tfhub")`; the export
is loaded back and compared with the original on real sentences; then the same short run goes
through each folder with the same seed: 1,000 IMDB train reviews, 1 epoch, 500 test reviews,
max_seq_length 128, batch 32, lr 2e-5. The pooling is fixed to "mean" for both: it is what MiniLM
was trained with, and a TF Hub folder (unlike the sentence-transformers HF folder) cannot say so.

    python benchmarks/formats_finetune.py [--train-samples 1000] [--test-samples 500]

Writes benchmarks/results/formats_finetune.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import versions, write_result  # noqa: E402

SENTENCES = ["That movie was absolutely awful", "The acting was a bit lacking",
             "The film was creative and surprising", "Absolutely fantastic!"]


def export_parity(hf_folder: str, hub_folder: Path) -> dict:
    """Max abs differences between the HF-loaded and the TF Hub-reloaded MiniLM on real sentences."""
    import numpy as np
    import tensorflow as tf

    from bertkit.tokenization.packing import pack_inputs
    from bertkit.tokenization.wordpiece import Tokenizer
    from bertkit.weights import load_pretrained

    hf, hub = load_pretrained(hf_folder), load_pretrained(hub_folder)
    tok = Tokenizer(hf.vocab_file, hf.do_lower_case)
    inputs = pack_inputs(tok(tf.constant(SENTENCES)), None, 32, cls_id=tok.cls_id, sep_id=tok.sep_id)
    a, b = hf.encoder(inputs, training=False), hub.encoder(inputs, training=False)
    return {k: float(np.abs(a[k].numpy() - b[k].numpy()).max()) for k in ("pooled_output", "sequence_output")}


def run(model: str, args) -> dict:
    import bertkit

    result = bertkit.train(data="imdb", output=None, model=model, train_samples=args.train_samples,
                           test_samples=args.test_samples, epochs=1, seed=args.seed, pooling="mean",
                           max_seq_length=128, batch_size=32, learning_rate=2e-5, verbose=False)
    m = result.metrics
    return {"accuracy": m["accuracy"], "f1": m["f1"], "auc": m["auc"], "n": m["n"],
            "train_seconds": result.stats["train_seconds"]}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train-samples", type=int, default=1000)
    p.add_argument("--test-samples", type=int, default=500)
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args()

    from bertkit.export import export_encoder
    from bertkit.weights import default_model_path

    hf_folder = default_model_path()
    with tempfile.TemporaryDirectory(prefix="bertkit-formats-") as tmp:
        start = time.perf_counter()
        hub_folder = export_encoder(hf_folder, "tfhub", Path(tmp) / "minilm_tfhub")
        export_seconds = time.perf_counter() - start
        parity = export_parity(hf_folder, hub_folder)
        runs = {"hf_safetensors": run(hf_folder, args), "tfhub_savedmodel": run(str(hub_folder), args)}
    gap = abs(runs["hf_safetensors"]["accuracy"] - runs["tfhub_savedmodel"]["accuracy"])
    write_result("formats_finetune", {
        "protocol": {"model": "all-MiniLM-L6-v2 (packaged HF folder) and its TF Hub export", "data": "imdb",
                     "train_samples": args.train_samples, "test_samples": args.test_samples, "epochs": 1,
                     "max_seq_length": 128, "batch_size": 32, "learning_rate": 2e-5, "seed": args.seed,
                     "pooling": "mean"},
        "export_seconds": export_seconds,
        "export_max_abs_diff": parity,
        "runs": runs,
        "accuracy_gap_points": 100 * gap,
        "within_one_point": gap <= 0.01,
        "versions": versions(),
    })


if __name__ == "__main__":
    main()
