"""Peer: the `setfit` library (contrastive tuning of a sentence-transformers body, then a scikit-learn
LogisticRegression head) on a training file, scored on a test file; prints one JSON line.

Run by benchmarks/few_shot.py in the peers' virtual environment, on the same encoder folder and the same
examples as bertkit. Everything not given here is setfit's default: batch 16, 1 epoch, body learning rate
2e-5, warm-up 0.1, weight decay (`l2_weight`) 0.01, CosineSimilarityLoss, `LogisticRegression()`.

    python setfit_fit.py --model DIR --train train.jsonl --test test.jsonl [--seed 1] [--num-iterations 20]
        [--max-length 128]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time

import numpy as np


def read(path: str) -> dict:
    rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    return {"text": [r["text"] for r in rows], "label": [int(r["label"]) for r in rows]}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--train", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--num-iterations", type=int, default=20)
    p.add_argument("--max-length", type=int, default=None, help="default: the model's (256 for all-MiniLM-L6-v2)")
    args = p.parse_args()

    import setfit
    import torch
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    train, test = read(args.train), read(args.test)
    start = time.perf_counter()
    model = SetFitModel.from_pretrained(args.model)
    if args.max_length:
        # TrainingArguments.max_length reaches only the head's fit (setfit 1.x); the contrastive training and
        # predict() tokenize at the body's own limit (256 for all-MiniLM-L6-v2), so it is set there too.
        model.model_body.max_seq_length = args.max_length
    load_seconds = time.perf_counter() - start
    start = time.perf_counter()
    # setfit saves a 260 MB checkpoint into ./checkpoints by default: not wanted, and it costs time.
    scratch = tempfile.mkdtemp(prefix="setfit-")
    training = TrainingArguments(num_iterations=args.num_iterations, seed=args.seed, max_length=args.max_length,
                                 output_dir=scratch, save_strategy="no", report_to="none", show_progress_bar=False)
    trainer = Trainer(model=model, args=training, train_dataset=Dataset.from_dict(train))
    try:
        trainer.train()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predicted = np.asarray(model.predict(test["text"], batch_size=64, show_progress_bar=False))
    test_seconds = time.perf_counter() - start
    print(json.dumps({"peer": "setfit", "accuracy": float(np.mean(predicted == np.asarray(test["label"]))),
                      "load_seconds": load_seconds, "train_seconds": train_seconds, "test_seconds": test_seconds,
                      "train_examples": len(train["text"]),
                      "test_examples": len(test["text"]), "threads": torch.get_num_threads(),
                      "settings": {**vars(args), "body_max_seq_length": model.model_body.max_seq_length,
                                   "batch_size": training.batch_size, "num_epochs": training.num_epochs,
                                   "body_learning_rate": training.body_learning_rate,
                                   "warmup_proportion": training.warmup_proportion, "l2_weight": training.l2_weight,
                                   "max_length": training.max_length, "head": repr(model.model_head)},
                      "versions": {"setfit": setfit.__version__, "torch": torch.__version__,
                                   "sentence_transformers": __import__("sentence_transformers").__version__,
                                   "transformers": __import__("transformers").__version__}}))


if __name__ == "__main__":
    main()
