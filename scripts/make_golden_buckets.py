"""Writes tests/golden/families/relative_buckets.json: the relative-position buckets of MPNet and DeBERTa-v2
as transformers computes them (float32 torch ops), for every distance a 512- or 514-position model can see.

The tiny goldens (make_golden_families.py) cover distances below 40 only; bucket boundaries (a float32 log
landing exactly on an integer) are where an independent implementation could round differently.

    /work/refenv/bin/python scripts/make_golden_buckets.py      # torch + transformers, never bertkit's venv
"""

import json
import os

import torch
from transformers.models.deberta_v2.modeling_deberta_v2 import make_log_bucket_position
from transformers.models.mpnet.modeling_mpnet import MPNetEncoder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "golden", "families", "relative_buckets.json")


def main():
    rel = torch.arange(-1024, 1025)  # key minus query (MPNet's sign)
    mpnet = MPNetEncoder.relative_position_bucket(rel, num_buckets=32, max_distance=128)
    deberta = {}
    for buckets, max_position in ((256, 512), (16, 512), (256, 128)):  # v3, the log-bucket golden, a short model
        deberta[f"{buckets},{max_position}"] = make_log_bucket_position(rel, buckets, max_position).tolist()
    data = {"about": "relative distances -1024..1024; transformers " + __import__("transformers").__version__,
            "relative": rel.tolist(), "mpnet_32_128": mpnet.tolist(), "deberta_log_bucket": deberta}
    with open(OUT, "w") as f:
        json.dump(data, f)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
