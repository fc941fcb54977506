"""Peers of the LiteRT benchmark: Hugging Face transformers + PyTorch eager, and ONNX Runtime with dynamic int8.

Run by benchmarks/litert.py in the peers' own virtual environment (torch, transformers, onnxruntime), never in
bertkit's. Raw text in, as bertkit's exports take it: BertTokenizerFast on the run's tokenizer.json (or its
vocabulary), then the model (the run's fine-tuned encoder from `bertkit export-encoder --format hf`, a
classification head of the same shape). Prints one JSON line: batch 1 latency p50 / p95 and batch 64 throughput, and the file size.

    python litert_peers.py --mode torch-eager|onnxruntime-int8 --model HF_DIR --labels 2 --max-seq-length 128
        --lower-case 1 --latency-texts texts.json --batch-texts texts.json --work DIR
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, BertTokenizerFast

BATCH = 64


def torch_predict(model, tokenizer, max_len):
    def predict(texts):
        enc = tokenizer(texts, truncation=True, max_length=max_len, padding=True, return_tensors="pt")
        with torch.inference_mode():
            return model(**enc).logits.argmax(-1).numpy()
    return predict


def onnx_int8(model, tokenizer, max_len, work: Path):
    """The model exported with torch.onnx.export and quantized with quantize_dynamic (int8 weights)."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    enc = tokenizer(["a warm-up text", "another"], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    fp32, int8 = work / "model.onnx", work / "model-int8.onnx"
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    torch.onnx.export(model, tuple(enc[n] for n in names), str(fp32), input_names=names, output_names=["logits"],
                      dynamic_axes={**axes, "logits": {0: "batch"}}, opset_version=17, dynamo=False)
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    session = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"])

    def predict(texts):
        feed = tokenizer(texts, truncation=True, max_length=max_len, padding=True, return_tensors="np")
        return session.run(["logits"], {n: feed[n].astype(np.int64) for n in names})[0].argmax(-1)
    return predict, int8


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["torch-eager", "onnxruntime-int8"], required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--labels", type=int, default=2)
    p.add_argument("--max-seq-length", type=int, default=128)
    p.add_argument("--lower-case", type=int, default=1)
    p.add_argument("--latency-texts", required=True)
    p.add_argument("--batch-texts", required=True)
    p.add_argument("--work", required=True)
    args = p.parse_args()

    torch.manual_seed(0)
    folder = Path(args.model)
    if (folder / "tokenizer.json").exists():  # export-encoder --format hf writes the run's own tokenizer file
        tokenizer = BertTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    else:
        tokenizer = BertTokenizerFast(str(folder / "vocab.txt"), do_lower_case=bool(args.lower_case))
    model = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=args.labels).eval()
    if args.mode == "torch-eager":
        predict = torch_predict(model, tokenizer, args.max_seq_length)
        size = sum(f.stat().st_size for f in Path(args.model).glob("*.safetensors"))
    else:
        predict, path = onnx_int8(model, tokenizer, args.max_seq_length, Path(args.work))
        size = path.stat().st_size
    latency_texts = json.load(open(args.latency_texts, encoding="utf-8"))
    batch_texts = json.load(open(args.batch_texts, encoding="utf-8"))

    for text in latency_texts[:3]:
        predict([text])
    times = []
    for text in latency_texts:
        start = time.perf_counter()
        predict([text])
        times.append((time.perf_counter() - start) * 1000)
    predict(batch_texts[:BATCH])
    start = time.perf_counter()
    for i in range(0, len(batch_texts), BATCH):
        predict(batch_texts[i:i + BATCH])
    seconds = time.perf_counter() - start
    print(json.dumps({
        "latency_batch1": {"p50_ms": float(np.percentile(times, 50)), "p95_ms": float(np.percentile(times, 95)),
                           "texts": len(times)},
        "throughput_batch64": {"texts_per_s": len(batch_texts) / seconds, "batches": len(batch_texts) // BATCH},
        "size_mb": size / 1e6, "threads": torch.get_num_threads(), "torch": torch.__version__,
        "cores": os.cpu_count()}))


if __name__ == "__main__":
    main()
