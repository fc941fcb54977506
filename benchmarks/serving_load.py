"""Load test of `bertkit serve` on loopback: concurrent clients sending real IMDB reviews.

The server runs in its own process (`python -m bertkit.cli serve`); this process runs the clients,
one thread and one keep-alive connection each, every request one review as `{"instances": [text]}`
for a fixed duration (after a warm-up that is not counted). Reported: throughput, latency
percentiles, errors (must be 0) and the server's batching counters, first with server-side batching
(the defaults: max batch 64, 5 ms) and then with batching off (max batch 1), and as the ceiling the
same model through `BertkitModel.predict_scores` offline (what `bertkit predict` runs), warm, batch 64.

The model is all-MiniLM-L6-v2 fine-tuned briefly (200 reviews, 1 epoch, max_seq_length 128): serving
speed depends on the architecture and sequence length, not on how well the model was trained.

    python benchmarks/serving_load.py [--clients 50] [--duration 30] [--model RUN_OR_EXPORT]

Writes benchmarks/results/serving_load.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import versions, write_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.setdefault("BERTKIT_DATA", str(REPO.parent / "shared" / "data")))  # as the Makefile


def reviews(n: int, seed: int) -> list[str]:
    rows = [json.loads(line) for line in (DATA / "imdb" / "test.jsonl").open(encoding="utf-8")]
    random.Random(seed).shuffle(rows)
    return [r["text"] for r in rows[:n]]


def prepare_model(model: str | None, work: Path) -> tuple[Path, Path | None, dict]:
    """(export folder, run folder or None, facts): trains the short-run bundle when no model is given."""
    import bertkit
    from bertkit.export.savedmodel import export_model, is_export

    if model is not None and is_export(model):
        return Path(model), None, {"model": str(model)}
    facts = {}
    if model is None:
        run = REPO / "runs" / "serving_load"
        if not (run / "model" / "bertkit.json").exists():
            start = time.perf_counter()
            result = bertkit.train(data="imdb", output=str(run), train_samples=200, test_samples=500, epochs=1,
                                   max_seq_length=128, batch_size=32, learning_rate=2e-5, verbose=False)
            facts["train_seconds"] = time.perf_counter() - start
        metrics = json.loads((run / "metrics.json").read_text())
        facts.update(model="all-MiniLM-L6-v2 fine-tuned on 200 IMDB reviews, 1 epoch, max_seq_length 128",
                     accuracy_on_500_test_reviews=metrics.get("accuracy"))
        model = run
    else:
        facts["model"] = str(model)
    start = time.perf_counter()
    export = export_model(model, work / "export")
    facts["export_seconds"] = time.perf_counter() - start
    return export, Path(model), facts


def offline_ceiling(run: Path, texts: list[str]) -> dict:
    """Examples/s of `predict_scores` (the code under `bertkit predict`), warm, batch 64."""
    import bertkit

    model = bertkit.load(run)
    model.predict_scores(texts[:64])  # trace and warm up
    start = time.perf_counter()
    model.predict_scores(texts, batch_size=64)
    seconds = time.perf_counter() - start
    return {"examples": len(texts), "seconds": seconds, "examples_per_second": len(texts) / seconds}


def start_server(export: Path, extra_args: list[str]) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "bertkit.cli", "serve", "--model", str(export), "--port", "0",
                             *extra_args], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    line = proc.stdout.readline()  # "serving NAME at http://127.0.0.1:PORT/ ..."
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if m is None:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, int(m.group(1))


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def get_json(port: int, path: str) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    body = json.loads(conn.getresponse().read())
    conn.close()
    return body


def load_test(port: int, texts: list[str], clients: int, warmup: float, duration: float, max_requests: int) -> dict:
    """`clients` threads, each a keep-alive connection sending one review per request, until time is up."""
    records = []  # (start time, latency s, ok) of every finished request
    lock = threading.Lock()
    counter = iter(range(max_requests))
    t0 = time.perf_counter()
    stop_at = t0 + warmup + duration

    def client(k: int):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Content-Type": "application/json"}
        while time.perf_counter() < stop_at:
            i = next(counter, None)
            if i is None:
                break
            body = json.dumps({"instances": [texts[(k * 997 + i) % len(texts)]]})
            start = time.perf_counter()
            try:
                conn.request("POST", "/v1/models/default:predict", body, headers)
                response = conn.getresponse()
                answer = json.loads(response.read())
                ok = response.status == 200 and len(answer["predictions"]) == 1
            except (OSError, http.client.HTTPException, ValueError, KeyError):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            with lock:
                records.append((start - t0, time.perf_counter() - start, ok))
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    measured = [(s, lat, ok) for s, lat, ok in records if warmup <= s < warmup + duration]
    latencies = np.array([lat for _, lat, ok in measured if ok]) * 1000.0
    return {
        "clients": clients, "warmup_seconds": warmup, "duration_seconds": duration,
        "requests": len(measured), "errors": sum(not ok for _, _, ok in measured),
        "errors_including_warmup": sum(not ok for _, _, ok in records),
        "throughput_requests_per_second": len(measured) / duration,
        "latency_ms": {"p50": float(np.percentile(latencies, 50)), "p95": float(np.percentile(latencies, 95)),
                       "p99": float(np.percentile(latencies, 99)), "mean": float(latencies.mean()),
                       "max": float(latencies.max())} if len(latencies) else None,
    }


def run_scenario(export: Path, texts, args, extra_args: list[str]) -> dict:
    proc, port = start_server(export, extra_args)
    try:
        result = load_test(port, texts, args.clients, args.warmup, args.duration, args.max_requests)
        stats = get_json(port, "/bertkit/stats")
    finally:
        stop_server(proc)
    result["server_args"] = extra_args
    result["server_stats"] = stats
    result["mean_instances_per_model_call"] = stats["instances"] / max(stats["model_calls"], 1)
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="a run folder or export (default: train the short-run MiniLM)")
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--duration", type=float, default=30.0, help="measured seconds per scenario")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring (not counted)")
    p.add_argument("--max-requests", type=int, default=200_000, help="bound on requests per scenario")
    p.add_argument("--reviews", type=int, default=2000, help="distinct IMDB test reviews to send")
    p.add_argument("--offline-samples", type=int, default=1024)
    p.add_argument("--no-unbatched", action="store_true", help="skip the max-batch-size 1 comparison")
    args = p.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bertkit-serving-load-"))
    try:
        run_benchmark(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_benchmark(args, work: Path) -> None:
    texts = reviews(args.reviews, seed=0)
    export, run, facts = prepare_model(args.model, work)
    out = {"setup": {**facts, "clients": args.clients, "request": "one IMDB test review per request (row format)",
                     "reviews": len(texts), "review_chars_mean": float(np.mean([len(t) for t in texts])),
                     "transport": "HTTP/1.1 keep-alive on 127.0.0.1, server and clients on the same machine"},
           "versions": versions()}
    if run is not None:
        out["offline_predict"] = offline_ceiling(run, texts[:args.offline_samples])
        print(f"offline predict: {out['offline_predict']['examples_per_second']:.1f} examples/s", flush=True)
    out["batched"] = run_scenario(export, texts, args, [])
    print(f"batched: {json.dumps(out['batched'])}", flush=True)
    if not args.no_unbatched:
        out["unbatched"] = run_scenario(export, texts, args, ["--max-batch-size", "1", "--batch-timeout-ms", "0"])
        print(f"unbatched: {json.dumps(out['unbatched'])}", flush=True)
    write_result("serving_load", out)


if __name__ == "__main__":
    main()
