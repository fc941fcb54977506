"""Training and inference speed of bertkit against its peers, on this machine, in one run.

Everything runs on the same model shape (all-MiniLM-L6-v2: 6 layers, hidden 384) and the same token ids
(bertkit's exact WordPiece, head+tail truncation), batch 32 for training and 64 for inference:

* bertkit: the training loop's own compiled step (`bertkit.training.loop.StepFunctions`, AdamW, clipping)
  fed by its input pipeline; float32, float32 with XLA and, where asked, mixed_bfloat16;
* peers, in their own virtual environment (`--peers-venv`, created on first use so bertkit's
  dependencies stay lean): Hugging Face transformers + PyTorch eager (float32 and bf16 autocast;
  `torch.compile` for inference) and KerasHub `BertTextClassifier.fit`.

Workloads:
1. IMDB, the tutorial shape: real reviews, max_seq_length 128 (all rows full after head+tail).
2. SST-2, sentence length: bertkit with fixed 128 padding vs its length bucketing; HF with dynamic
   padding (each random batch padded to its longest row, as DataCollatorWithPadding).
3. Inference, batch 64, seq 128, on IMDB reviews.
4. Input pipeline: bertkit's step time fed by its `tf.data` pipeline vs the same batches held in memory.

FLOPs are counted per example from its real (non-pad) length T: forward = 2 * T * P + 4 * L * T^2 * H,
where P is the parameter count of the transformer blocks' matrices (embeddings and head excluded) and
the second term the two attention matmuls; training = 3 x forward. "useful GFLOP/s" divides that by
the measured time, so padding counts as waste. The fp32 and bf16 matmul peaks are measured in this run.

    python benchmarks/speed.py [--steps 12] [--skip-peers] [--peers-venv .venv-peers] [--bf16] [--output NAME]

Writes benchmarks/results/speed.json (`--output NAME`: NAME.json) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import versions, write_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PEERS = Path(__file__).resolve().parent / "peers"
PEER_REQUIREMENTS = ["torch==2.13.0", "transformers>=4.46,<6", "keras-hub>=0.20", "tensorflow==2.21.*",
                     "tensorflow-text==2.21.*", "safetensors"]


def data_root() -> Path:
    return Path(os.environ.get("BERTKIT_DATA") or REPO.parent / "shared" / "data")


def read_jsonl(path: Path, n: int) -> tuple[list[str], np.ndarray]:
    texts, labels = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            texts.append(row["text"])
            labels.append(int(row["label"]))
            if len(texts) == n:
                break
    return texts, np.asarray(labels, np.int32)


def ensure_peers_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    marker = venv / ".peers-installed"
    if not marker.exists():
        print(f"installing the peers into {venv} (one time) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PEER_REQUIREMENTS], check=True)
        marker.touch()
    return python


def run_peer(python: Path, script: str, *args) -> dict:
    cmd = [str(python), str(PEERS / script), *map(str, args)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def matmul_peak(dtype: str, repeats: int = 10) -> float:
    """Best GFLOP/s of a [4096, 384] x [384, 1536] matmul (the FFN shape) in TensorFlow."""
    import tensorflow as tf

    a = tf.cast(tf.random.normal((4096, 384)), dtype)
    b = tf.cast(tf.random.normal((384, 1536)), dtype)
    f = tf.function(lambda a, b: tf.matmul(a, b))
    f(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        f(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * 4096 * 384 * 1536 / best / 1e9


def flops(lengths, config, train: bool) -> float:
    """FLOPs of the transformer blocks for rows of these real lengths (see the module docstring)."""
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_layers
    params = layers * (4 * h * h + 2 * h * i)
    t = np.asarray(lengths, np.float64)
    forward = float((2 * t * params + 4 * layers * t * t * h).sum())
    return 3 * forward if train else forward


class BertkitBench:
    """bertkit's training step and forward pass on the packaged MiniLM, under one precision policy."""

    def __init__(self, policy: str, jit_compile: bool = False):
        import keras
        import tensorflow as tf

        from bertkit.core.precision import set_policy
        from bertkit.modeling.heads import PooledHead
        from bertkit.training.loop import StepFunctions
        from bertkit.training.optimizer import create_optimizer
        from bertkit.weights import default_model_path, load_pretrained

        set_policy(policy)
        keras.utils.set_random_seed(0)
        self.pretrained = load_pretrained(default_model_path())
        self.model = PooledHead(self.pretrained.encoder, 1, pooling="mean")
        self.optimizer = create_optimizer(self.model.trainable_variables, 2e-5, 10_000, clip_norm=None)

        class Loss:
            def loss(self, labels, logits):
                y = tf.cast(labels[:, None], tf.float32)
                return tf.squeeze(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits), -1)

        self.fns = StepFunctions(self.model, Loss(), self.optimizer, tf.distribute.get_strategy(), 1,
                                 jit_compile=jit_compile)
        self.forward = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)
        self.tf, self.jit_compile = tf, jit_compile

    def train(self, batches, steps: int, warmup: int) -> dict:
        """Times `steps` optimizer steps over `batches` (an iterator of `(features, labels)`), input included."""
        tf = self.tf
        it = iter(batches)
        for _ in range(warmup):
            feats, labels = next(it)
            float(self.fns.step(feats, labels, tf.shape(labels)[0]))
        self._relax(lambda f: float(self.fns.step(f, labels, tf.shape(labels)[0])), feats)
        seconds, lengths, slots = 0.0, [], 0
        start = time.perf_counter()
        for _ in range(steps):
            feats, labels = next(it)
            float(self.fns.step(feats, labels, tf.shape(labels)[0]))
            mask = feats["input_mask"].numpy()
            lengths += mask.sum(axis=1).tolist()
            slots += mask.size
        seconds = time.perf_counter() - start
        return self._result(seconds, lengths, slots, train=True)

    def infer(self, batches, steps: int, warmup: int) -> dict:
        it = iter(batches)
        for _ in range(warmup):
            feats = next(it)[0]
            self.forward(feats).numpy()
        self._relax(lambda f: self.forward(f).numpy(), feats, self.forward)
        lengths, slots = [], 0
        start = time.perf_counter()
        for _ in range(steps):
            feats = next(it)[0]
            self.forward(feats).numpy()
            mask = np.asarray(feats["input_mask"])
            lengths += mask.sum(axis=1).tolist()
            slots += mask.size
        result = self._result(time.perf_counter() - start, lengths, slots, train=False)
        return {**result, "traces": self.forward.experimental_get_tracing_count()}

    def _relax(self, call, feats, fn=None) -> None:
        """Without XLA the step is traced once for the first width and once more, shape-relaxed, for the
        second; later widths reuse that trace. Makes sure the second trace happens before timing (the
        warm-up batches may all have had one width). With XLA every new width compiles: see `traces`."""
        fn = fn or self.fns.step
        width = int(feats["input_word_ids"].shape[1])
        if not self.jit_compile and fn.experimental_get_tracing_count() < 2 and width > 8:
            call({k: v[:, :width - 8] for k, v in feats.items()})

    def _result(self, seconds, lengths, slots, train) -> dict:
        return {"seconds": seconds, "examples": len(lengths), "tokens": int(sum(lengths)), "slots": int(slots),
                "examples_per_second": len(lengths) / seconds,
                "useful_gflops": flops(lengths, self.pretrained.encoder_config, train) / seconds / 1e9,
                "traces": self.fns.step.experimental_get_tracing_count()}


def random_batch(batch: int, length: int, seed: int = 0):
    """`(features, labels)`: one full `[batch, length]` batch of random token ids, random binary labels."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    features = {"input_word_ids": tf.constant(rng.integers(1000, 30000, (batch, length)), tf.int32),
                "input_mask": tf.ones((batch, length), tf.int32), "input_type_ids": tf.zeros((batch, length), tf.int32)}
    return features, tf.constant(rng.integers(0, 2, batch), tf.int32)


def fixed_batches(features, batch_size: int, width: int, seed: int):
    """Random batches padded to `width` (max_seq_length): the pipeline without bucketing."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(features))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            idx = order[start:start + batch_size]
            feats, labels = features.batch(idx)
            pad = width - feats["input_word_ids"].shape[1]
            yield ({k: tf.constant(np.pad(v, ((0, 0), (0, pad)))) for k, v in feats.items()},
                   tf.constant(labels))


def bucketed_batches(features, batch_size: int, seed: int):
    from bertkit.data.batching import training_dataset

    epoch = 0
    while True:
        epoch += 1
        yield from training_dataset(features, batch_size, seed * 1000 + epoch)


def cached_batches(batches, n: int):
    """The first `n` batches, held in memory and cycled: the step with no input work at all."""
    held = [next(batches) for _ in range(n)]
    while True:
        yield from held


def sentence_rows(texts, labels, tokenizer, preprocess):
    """The classify task's training rows of `texts` (bertkit's own pipeline)."""
    from bertkit.core.config import TaskConfig
    from bertkit.data import Example
    from bertkit.tasks.classify import ClassifyTask
    from bertkit.tasks.runner import TaskRunner

    task = ClassifyTask(TaskConfig(labels=("0", "1"), label_type="int"), preprocess, tokenizer)
    return TaskRunner(task).features([Example(t, label=int(y)) for t, y in zip(texts, labels)])


def save_for_peers(path: Path, features, labels, width: int) -> Path:
    ids = np.zeros((len(features), width), np.int32)
    for r, row in enumerate(features.word_ids):
        ids[r, :len(row)] = row
    np.savez(path, ids=ids, lengths=features.lengths.astype(np.int64), labels=np.asarray(labels, np.int32))
    return path


def ratio(a: dict, b: dict) -> float | None:
    if "examples_per_second" not in a or "examples_per_second" not in b:
        return None
    return a["examples_per_second"] / b["examples_per_second"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=12, help="timed steps per configuration")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--bf16", action="store_true",
                   help="also time mixed_bfloat16 / bf16 autocast (slow without AVX512_BF16 or AMX)")
    p.add_argument("--skip-peers", action="store_true")
    p.add_argument("--output", default="speed", help="result name: benchmarks/results/NAME.json")
    p.add_argument("--peers-venv", default=str(REPO / ".venv-peers"))
    args = p.parse_args()

    from bertkit.core.config import PreprocessConfig
    from bertkit.core.precision import cpu_has_bf16
    from bertkit.tokenization.wordpiece import Tokenizer
    from bertkit.weights import default_model_path, load_pretrained

    model_dir = default_model_path()
    pretrained = load_pretrained(model_dir)
    tokenizer = Tokenizer(pretrained.vocab_file, pretrained.do_lower_case)
    preprocess = PreprocessConfig(max_seq_length=128, truncation="head+tail")
    n_train = 32 * (args.steps + args.warmup) * 2
    imdb_texts, imdb_labels = read_jsonl(data_root() / "imdb" / "train.jsonl", max(n_train, 64 * (args.steps + 2)))
    sst_texts, sst_labels = read_jsonl(data_root() / "sst2" / "train.jsonl", 4000)
    imdb = sentence_rows(imdb_texts, imdb_labels, tokenizer, preprocess)
    sst = sentence_rows(sst_texts, sst_labels, tokenizer, preprocess)
    work = Path(tempfile.mkdtemp(prefix="bertkit-speed-"))
    imdb_npz = save_for_peers(work / "imdb.npz", imdb, imdb_labels, 128)
    sst_npz = save_for_peers(work / "sst2.npz", sst, sst_labels, 128)

    result = {"setup": {"model": str(model_dir), "steps": args.steps, "warmup": args.warmup, "train_batch": 32,
                        "infer_batch": 64, "max_seq_length": 128, "imdb_rows": len(imdb), "sst2_rows": len(sst),
                        "imdb_mean_tokens": float(imdb.lengths.mean()), "sst2_mean_tokens": float(sst.lengths.mean()),
                        "cpu_has_bf16": cpu_has_bf16(), "load_average_at_start": os.getloadavg(),
                        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS")},  # the CPU: "machine" (common.py)
              "versions": versions()}
    result["peak_gflops"] = {"float32": matmul_peak("float32"), "bfloat16": matmul_peak("bfloat16")}
    print(f"matmul peak: fp32 {result['peak_gflops']['float32']:.0f} GFLOP/s, "
          f"bf16 {result['peak_gflops']['bfloat16']:.0f} GFLOP/s", flush=True)

    runs = {}
    bf16_native = cpu_has_bf16()  # without AVX512_BF16/AMX bf16 is emulated: slow, so fewer steps
    policies = ["float32"] + (["mixed_bfloat16"] if args.bf16 else [])
    for policy in policies:
        bench = BertkitBench(policy)
        tag = "fp32" if policy == "float32" else "bf16"
        native = policy == "float32" or bf16_native
        steps = args.steps if native else max(2, args.steps // 4)
        runs[f"bertkit/{tag}/imdb"] = bench.train(bucketed_batches(imdb, 32, 1), steps, args.warmup)
        print("bertkit", tag, "imdb", runs[f"bertkit/{tag}/imdb"], flush=True)
        if policy != "float32" and native:
            runs[f"bertkit/{tag}/sst2-bucketed"] = bench.train(bucketed_batches(sst, 32, 2), steps * 4, args.warmup)
            runs[f"bertkit/{tag}/infer"] = bench.infer(fixed_batches(imdb, 64, 128, 3), steps, args.warmup)
            for name in ("sst2-bucketed", "infer"):
                print("bertkit", tag, name, runs[f"bertkit/{tag}/{name}"], flush=True)
        if policy == "float32":
            runs["bertkit/fp32/imdb-no-input"] = bench.train(cached_batches(bucketed_batches(imdb, 32, 1), 4),
                                                             steps, args.warmup)
            runs["bertkit/fp32/sst2-fixed128"] = bench.train(fixed_batches(sst, 32, 128, 2), steps, args.warmup)
            runs["bertkit/fp32/sst2-bucketed"] = bench.train(bucketed_batches(sst, 32, 2), steps * 4, args.warmup)
            runs["bertkit/fp32/infer"] = bench.infer(fixed_batches(imdb, 64, 128, 3), steps, args.warmup)
            for name in ("imdb-no-input", "sst2-fixed128", "sst2-bucketed", "infer"):
                print("bertkit", name, runs[f"bertkit/fp32/{name}"], flush=True)
            xla = BertkitBench(policy, jit_compile=True)
            runs["bertkit/fp32-xla/imdb"] = xla.train(bucketed_batches(imdb, 32, 1), steps, args.warmup)
            print("bertkit xla imdb", runs["bertkit/fp32-xla/imdb"], flush=True)

    if not args.skip_peers:
        python = ensure_peers_venv(Path(args.peers_venv))
        hf = ["hf_torch.py", "--model", model_dir, "--steps", args.steps, "--warmup", args.warmup]
        runs["hf/fp32/imdb"] = run_peer(python, *hf, "--data", imdb_npz)
        runs["hf/fp32/sst2-dynamic"] = run_peer(python, *hf[:-4], "--steps", args.steps * 4, "--warmup",
                                                args.warmup, "--data", sst_npz, "--padding", "dynamic")
        runs["hf/fp32/infer"] = run_peer(python, *hf, "--data", imdb_npz, "--mode", "infer", "--batch-size", 64)
        runs["hf/fp32-compile/infer"] = run_peer(python, *hf, "--data", imdb_npz, "--mode", "infer",
                                                 "--batch-size", 64, "--compile")
        if args.bf16:
            bf16_steps, bf16_warmup = (args.steps, args.warmup) if bf16_native else (max(2, args.steps // 4), 1)
            runs["hf/bf16/imdb"] = run_peer(python, *hf[:-4], "--steps", bf16_steps, "--warmup", bf16_warmup,
                                            "--data", imdb_npz, "--bf16")
            runs["hf/bf16-compile/infer"] = run_peer(python, *hf, "--data", imdb_npz, "--mode", "infer",
                                                     "--batch-size", 64, "--compile", "--bf16")
            if bf16_native:
                runs["hf/bf16/sst2-dynamic"] = run_peer(python, *hf[:-4], "--steps", args.steps * 4, "--warmup",
                                                        args.warmup, "--data", sst_npz, "--padding", "dynamic",
                                                        "--bf16")
        runs["keras_hub/fp32/imdb"] = run_peer(python, "keras_hub_fit.py", "--data", imdb_npz, "--steps", args.steps,
                                               "--warmup", args.warmup)
        for name, r in runs.items():
            if name.startswith(("hf", "keras_hub")):
                print(name, r, flush=True)

    peak = result["peak_gflops"]["float32"]
    for name, r in runs.items():
        if "examples_per_second" in r and "useful_gflops" not in r:
            r["useful_gflops"] = flops_from_totals(r, pretrained.encoder_config, train="infer" not in name)
        if "useful_gflops" in r:
            r["fraction_of_fp32_peak"] = r["useful_gflops"] / peak
            r["useful_token_fraction"] = r["tokens"] / r["slots"]
    result["runs"] = runs

    def best(*names):
        found = [(runs[n]["examples_per_second"], n) for n in names if "examples_per_second" in runs.get(n, {})]
        return max(found)[1] if found else None

    ratios = {}
    peer_train = best("hf/fp32/imdb", "hf/bf16/imdb", "keras_hub/fp32/imdb")
    own_train = best("bertkit/fp32/imdb", "bertkit/fp32-xla/imdb", "bertkit/bf16/imdb")
    if peer_train and own_train:
        ratios["imdb_train_vs_best_peer"] = {"bertkit": own_train, "peer": peer_train,
                                             "ratio": ratio(runs[own_train], runs[peer_train]), "target": 1.5}
    ratios["sst2_bucketed_vs_fixed128"] = {"ratio": ratio(runs["bertkit/fp32/sst2-bucketed"],
                                                          runs["bertkit/fp32/sst2-fixed128"]), "target": 3.0}
    own_sst = best("bertkit/fp32/sst2-bucketed", "bertkit/bf16/sst2-bucketed")
    peer_sst = best("hf/fp32/sst2-dynamic", "hf/bf16/sst2-dynamic")
    if peer_sst:
        ratios["sst2_bucketed_vs_hf_dynamic"] = {"bertkit": own_sst, "peer": peer_sst,
                                                 "ratio": ratio(runs[own_sst], runs[peer_sst]), "target": 1.5}
    peer_infer = best("hf/fp32/infer", "hf/fp32-compile/infer", "hf/bf16-compile/infer")
    own_infer = best("bertkit/fp32/infer", "bertkit/bf16/infer")
    if peer_infer:
        ratios["infer_vs_best_peer"] = {"bertkit": own_infer, "peer": peer_infer,
                                        "ratio": ratio(runs[own_infer], runs[peer_infer]), "target": 1.1}
    ratios["input_pipeline_overhead"] = {
        "step_seconds_with_input": runs["bertkit/fp32/imdb"]["seconds"] / args.steps,
        "step_seconds_without_input": runs["bertkit/fp32/imdb-no-input"]["seconds"] / args.steps}
    result["ratios"] = ratios
    write_result(args.output, result)
    print_table(runs, ratios)


def flops_from_totals(r: dict, config, train: bool) -> float:
    """Peers report only token totals: FLOPs with every row at the mean real length (the T^2 attention
    term is then a slight underestimate, < 1% at these lengths)."""
    mean = r["tokens"] / r["examples"]
    return flops([mean] * r["examples"], config, train) / r["seconds"] / 1e9


def print_table(runs: dict, ratios: dict) -> None:
    print(f"\n{'run':32s} {'examples/s':>10s} {'useful GFLOP/s':>15s} {'of fp32 peak':>12s} {'useful tokens':>13s}")
    for name, r in runs.items():
        if "examples_per_second" not in r:
            print(f"{name:32s} {r.get('error', 'failed')}")
            continue
        print(f"{name:32s} {r['examples_per_second']:10.2f} {r['useful_gflops']:15.1f} "
              f"{r['fraction_of_fp32_peak']:12.0%} {r['useful_token_fraction']:13.0%}")
    print()
    for name, r in ratios.items():
        print(name, json.dumps(r))


if __name__ == "__main__":
    main()
