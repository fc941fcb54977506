"""Writes parity goldens for the BERT-family encoders beyond BERT, from `transformers` (PyTorch).

Runs in a separate reference venv, never in bertkit's own (no network needed, nothing is downloaded):

    python3 -m venv /work/refenv
    /work/refenv/bin/pip install torch==2.13.0 transformers safetensors   # CPU wheel; pin torch
    /work/refenv/bin/python scripts/make_golden_families.py [--only NAME ...]

For each family below it builds a tiny, seeded, random model from a config (`<Family>Model`, the
base class, eval mode, eager attention), re-initialises every parameter with a seeded normal
(std 0.3; LayerNorm weights 1 + 0.3 * noise) so that every tensor's mapping shows in the outputs,
and writes `tests/golden/families/<name>/`:

* `config.json` + `model.safetensors`: `save_pretrained(..., safe_serialization=True)` (HF layout).
* `golden.json`:
  - `input_ids`, `attention_mask` and, where the family has token types, `token_type_ids`
    ([B, T] = [4, 40]; right padding; rows of lengths 40, 27 (a two-segment pair), 13 and 5, built
    with the family's own special-token layout, see `rows`);
  - `last_hidden_state` [B, T, H] in full (7 significant digits; padded positions included but
    arbitrary: compare only where `attention_mask` is 1) and `pooler_output` [B, H] where the base
    class has a pooler (RoBERTa, XLM-R, MPNet, ALBERT);
  - `tensors`: every tensor name in model.safetensors with its shape (for name-mapping tables);
  - `relative_position_buckets` [T, T] (MPNet, DeBERTa-v2): the bucket index/offset the reference
    computes for (query i, key j), to unit-test a bucket function in isolation;
  - `checks`: self-checks made while writing (reload of the saved folder, SDPA vs eager where the
    family supports SDPA, each padded row equal to the same row run alone without padding).

Families (folder name: model_type): distilbert, electra (discriminator, embedding_size 16 != hidden
32, so `embeddings_project` exists), roberta, xlm-roberta, mpnet, albert (embedding_size 16,
one shared layer applied 3 times), deberta-v2 (DeBERTa-v3 style: relative attention with 256 log
buckets, shared attention keys, p2c+c2p, no absolute positions, no token types), deberta-v2-logbuckets
(same but position_buckets 16, so that the log-bucket formula matters at T=40), modernbert (4 layers:
global attention in layers 0 and 3, local in 1 and 2; local_attention 16, so a token sees
|i - j| <= 8, smaller than T=40).

Idempotent: each `tests/golden/families/<name>/` is removed and rewritten; the same seeds give the
same files (torch CPU kernels, one thread).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import zlib

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # config-only: never reach for a hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors import safe_open  # noqa: E402
from transformers import (  # noqa: E402
    AlbertConfig,
    AlbertModel,
    DebertaV2Config,
    DebertaV2Model,
    DistilBertConfig,
    DistilBertModel,
    ElectraConfig,
    ElectraModel,
    ModernBertConfig,
    ModernBertModel,
    MPNetConfig,
    MPNetModel,
    RobertaConfig,
    RobertaModel,
    XLMRobertaConfig,
    XLMRobertaModel,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "golden", "families")
SEQ_LEN = 40
STD = 0.3  # random weights: large enough that every tensor moves the outputs
DIGITS = 7  # significant digits kept in the JSON

# Special-token layouts. "bert": [CLS] a [SEP] b [SEP]; "roberta": <s> a </s></s> b </s>.
BERT_IDS = {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}
ROBERTA_IDS = {"cls": 0, "pad": 1, "sep": 2, "unk": 3, "mask": 4}  # <s>, <pad>, </s>, <unk>, <mask>
DEBERTA_IDS = {"pad": 0, "cls": 1, "sep": 2, "unk": 3, "mask": 4}  # [PAD], [CLS], [SEP], [UNK] (v3 spm)
MODERNBERT_IDS = {"pad": 0, "cls": 1, "sep": 2, "unk": 3, "mask": 4}
FIRST_REGULAR_ID = 5

COMMON = dict(attn_implementation="eager")
BERTISH = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
)


def family_specs() -> dict[str, dict]:
    """name -> how to build it. `layout` picks the special-token layout, `types` whether the
    base model takes token_type_ids (and if so, whether the second segment gets type 1)."""
    deberta_v3 = dict(
        vocab_size=128,
        **BERTISH,
        hidden_act="gelu",
        max_position_embeddings=512,
        type_vocab_size=0,
        layer_norm_eps=1e-7,
        relative_attention=True,
        position_buckets=256,
        norm_rel_ebd="layer_norm",
        share_att_key=True,
        pos_att_type=["p2c", "c2p"],
        position_biased_input=False,
        max_relative_positions=-1,
        pad_token_id=DEBERTA_IDS["pad"],
    )
    return {
        "distilbert": dict(
            model_cls=DistilBertModel,
            config=DistilBertConfig(
                vocab_size=120,
                dim=32,
                n_layers=2,
                n_heads=4,
                hidden_dim=64,
                max_position_embeddings=64,
                dropout=0.0,
                attention_dropout=0.0,
                activation="gelu",
                sinusoidal_pos_embds=False,
                pad_token_id=BERT_IDS["pad"],
                **COMMON,
            ),
            layout="bert",
            ids=BERT_IDS,
            types=None,  # DistilBertModel takes no token_type_ids
        ),
        "electra": dict(
            model_cls=ElectraModel,
            config=ElectraConfig(
                vocab_size=120,
                embedding_size=16,
                **BERTISH,
                hidden_act="gelu",
                max_position_embeddings=64,
                type_vocab_size=2,
                layer_norm_eps=1e-12,
                pad_token_id=BERT_IDS["pad"],
                **COMMON,
            ),
            layout="bert",
            ids=BERT_IDS,
            types="segments",
        ),
        "roberta": dict(
            model_cls=RobertaModel,
            config=RobertaConfig(
                vocab_size=120,
                **BERTISH,
                hidden_act="gelu",
                max_position_embeddings=66,  # like roberta-base's 514 = 512 + padding_idx + 1
                type_vocab_size=1,  # as in every released RoBERTa: token types exist but are all 0
                layer_norm_eps=1e-5,
                pad_token_id=ROBERTA_IDS["pad"],
                bos_token_id=ROBERTA_IDS["cls"],
                eos_token_id=ROBERTA_IDS["sep"],
                **COMMON,
            ),
            layout="roberta",
            ids=ROBERTA_IDS,
            types="zeros",
        ),
        "xlm-roberta": dict(
            model_cls=XLMRobertaModel,
            config=XLMRobertaConfig(
                vocab_size=150,
                **BERTISH,
                hidden_act="gelu",
                max_position_embeddings=66,
                type_vocab_size=1,
                layer_norm_eps=1e-5,
                pad_token_id=ROBERTA_IDS["pad"],
                bos_token_id=ROBERTA_IDS["cls"],
                eos_token_id=ROBERTA_IDS["sep"],
                **COMMON,
            ),
            layout="roberta",
            ids=ROBERTA_IDS,
            types="zeros",
        ),
        "mpnet": dict(
            model_cls=MPNetModel,
            config=MPNetConfig(
                vocab_size=120,
                **BERTISH,
                hidden_act="gelu",
                max_position_embeddings=66,
                layer_norm_eps=1e-5,
                relative_attention_num_buckets=32,  # the forward pass hard-codes 32 buckets anyway
                pad_token_id=ROBERTA_IDS["pad"],
                bos_token_id=ROBERTA_IDS["cls"],
                eos_token_id=ROBERTA_IDS["sep"],
                **COMMON,
            ),
            layout="roberta",
            ids=ROBERTA_IDS,
            types=None,  # MPNetModel takes no token_type_ids
        ),
        "albert": dict(
            model_cls=AlbertModel,
            config=AlbertConfig(
                vocab_size=120,
                embedding_size=16,
                hidden_size=32,
                num_hidden_layers=3,
                num_hidden_groups=1,
                inner_group_num=1,
                num_attention_heads=4,
                intermediate_size=64,
                hidden_act="gelu_new",  # albert-*-v2 use the tanh approximation
                hidden_dropout_prob=0.0,
                attention_probs_dropout_prob=0.0,
                max_position_embeddings=64,
                type_vocab_size=2,
                layer_norm_eps=1e-12,
                pad_token_id=BERT_IDS["pad"],
                bos_token_id=BERT_IDS["cls"],
                eos_token_id=BERT_IDS["sep"],
                **COMMON,
            ),
            layout="bert",
            ids=BERT_IDS,
            types="segments",
        ),
        "deberta-v2": dict(
            model_cls=DebertaV2Model,
            config=DebertaV2Config(**deberta_v3, **COMMON),
            layout="bert",
            ids=DEBERTA_IDS,
            types="ignored",  # tokenizer emits 0/1 segments; type_vocab_size 0 so the model ignores them
        ),
        "deberta-v2-logbuckets": dict(
            model_cls=DebertaV2Model,
            config=DebertaV2Config(**{**deberta_v3, "position_buckets": 16}, **COMMON),
            layout="bert",
            ids=DEBERTA_IDS,
            types="ignored",
        ),
        "modernbert": dict(
            model_cls=ModernBertModel,
            config=ModernBertConfig(
                vocab_size=120,
                hidden_size=32,
                intermediate_size=64,  # Wi is [2 * 64, 32]: GeGLU input half then gate half
                num_hidden_layers=4,
                num_attention_heads=4,
                hidden_activation="gelu",
                max_position_embeddings=128,
                norm_eps=1e-5,
                norm_bias=False,
                attention_bias=False,
                mlp_bias=False,
                global_attn_every_n_layers=3,  # layers 0 and 3 global, 1 and 2 local
                local_attention=16,  # local layers: |i - j| <= 8, smaller than SEQ_LEN
                global_rope_theta=160000.0,
                local_rope_theta=10000.0,
                pad_token_id=MODERNBERT_IDS["pad"],
                bos_token_id=MODERNBERT_IDS["cls"],
                eos_token_id=MODERNBERT_IDS["sep"],
                cls_token_id=MODERNBERT_IDS["cls"],
                sep_token_id=MODERNBERT_IDS["sep"],
                **COMMON,
            ),
            layout="bert",
            ids=MODERNBERT_IDS,
            types=None,
        ),
    }


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode("utf-8")) % (2**31)


def sig(x: float) -> float:
    return float(f"{x:.{DIGITS}g}")


def rounded(t: torch.Tensor):
    """Nested lists of floats with DIGITS significant digits."""
    if t.dim() == 0:
        return sig(float(t))
    return [rounded(x) for x in t]


def randomize(model: torch.nn.Module, seed: int) -> None:
    """Seeded normal(0, STD) for every parameter; LayerNorm weights 1 + STD * noise."""
    gen = torch.Generator().manual_seed(seed)
    layer_norm_weights = {
        f"{mod_name}.weight" if mod_name else "weight"
        for mod_name, mod in model.named_modules()
        if isinstance(mod, torch.nn.LayerNorm) and mod.weight is not None
    }
    with torch.no_grad():
        for name, p in model.named_parameters():  # fixed order: module registration order
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            p.copy_(1.0 + STD * noise if name in layer_norm_weights else STD * noise)


def make_rows(layout: str, ids: dict, vocab_size: int, seed: int) -> tuple[list, list[list[int]], list[list[int]]]:
    """4 rows, right-padded to SEQ_LEN: a full-length single segment, a two-segment pair, a
    medium single segment and a very short one. Returns (descriptions, token rows, segment rows)."""
    gen = torch.Generator().manual_seed(seed + 1)

    def words(n: int) -> list[int]:
        return torch.randint(FIRST_REGULAR_ID, vocab_size, (n,), generator=gen).tolist()

    cls, sep = ids["cls"], ids["sep"]
    if layout == "roberta":  # <s> a </s> | <s> a </s></s> b </s>
        single = lambda n: [cls] + words(n - 2) + [sep]  # noqa: E731
        a, b = words(12), words(11)
        pair = [cls] + a + [sep, sep] + b + [sep]
        pair_seg = [0] * len(pair)
    else:  # [CLS] a [SEP] | [CLS] a [SEP] b [SEP]
        single = lambda n: [cls] + words(n - 2) + [sep]  # noqa: E731
        a, b = words(12), words(12)
        pair = [cls] + a + [sep] + b + [sep]
        pair_seg = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    rows = [single(SEQ_LEN), pair, single(13), single(5)]
    segs = [[0] * len(rows[0]), pair_seg, [0] * 13, [0] * 5]
    assert len(pair) == 27, len(pair)
    descriptions = [
        "single segment, full length (no padding)",
        "pair: two segments" + (" (<s> a </s></s> b </s>)" if layout == "roberta" else " ([CLS] a [SEP] b [SEP])"),
        "single segment, 13 tokens",
        "single segment, 5 tokens (mostly padding)",
    ]
    return descriptions, rows, segs


def pad(rows: list[list[int]], value: int) -> torch.Tensor:
    return torch.tensor([r + [value] * (SEQ_LEN - len(r)) for r in rows], dtype=torch.long)


@torch.no_grad()
def forward(model, batch: dict) -> dict[str, torch.Tensor]:
    out = model(**batch)
    result = {"last_hidden_state": out.last_hidden_state}
    pooled = getattr(out, "pooler_output", None)
    if pooled is not None:
        result["pooler_output"] = pooled
    return result


def max_diff_real(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    return float(((a - b).abs() * mask[..., None]).max())


def relative_buckets(name: str, model, seq_len: int) -> list[list[int]] | None:
    x = torch.zeros(1, seq_len, model.config.hidden_size)
    if name == "mpnet":  # MPNetEncoder.compute_position_bias: bucket of (key j - query i)
        pos = torch.arange(seq_len)
        rel = pos[None, :] - pos[:, None]
        return model.encoder.relative_position_bucket(rel, num_buckets=32).tolist()
    if name.startswith("deberta"):  # DebertaV2Encoder.get_rel_pos: bucketed (query i - key j)
        return model.encoder.get_rel_pos(x)[0].tolist()
    return None


def make_family(name: str, spec: dict) -> None:
    seed = seed_of(name)
    config = spec["config"]
    torch.manual_seed(seed)
    model = spec["model_cls"](config).eval()
    randomize(model, seed)

    descriptions, rows, segs = make_rows(spec["layout"], spec["ids"], config.vocab_size, seed)
    input_ids = pad(rows, spec["ids"]["pad"])
    attention_mask = pad([[1] * len(r) for r in rows], 0)
    batch = {"input_ids": input_ids, "attention_mask": attention_mask}
    if spec["types"] is not None:
        batch["token_type_ids"] = pad(segs, 0)
        if spec["types"] == "zeros":
            batch["token_type_ids"].zero_()
    out = forward(model, batch)

    out_dir = os.path.join(OUT, name)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    model.save_pretrained(out_dir, safe_serialization=True)

    checks = self_checks(name, spec, model, out_dir, batch, out)
    with safe_open(os.path.join(out_dir, "model.safetensors"), "pt") as f:
        tensors = {k: list(f.get_slice(k).get_shape()) for k in sorted(f.keys())}
    assert set(tensors) == set(model.state_dict()), "safetensors keys != state_dict keys"
    for key, value in out.items():
        assert torch.isfinite(value).all(), f"{name}: non-finite {key}"

    golden = {
        "about": f"seeded random tiny {spec['model_cls'].__name__} in this folder (eval, eager attention); "
        "written by scripts/make_golden_families.py",
        "reference": f"torch {torch.__version__}, transformers {transformers.__version__}",
        "family": name,
        "model_type": config.model_type,
        "model_class": spec["model_cls"].__name__,
        "seed": seed,
        "special_token_ids": spec["ids"],
        "has_token_types": spec["types"] in ("segments", "zeros"),
        "token_types_note": {
            "segments": "token_type_ids: 0 for [CLS] a [SEP], 1 for b [SEP]",
            "zeros": "type_vocab_size 1: token_type_ids are all 0, but token_type_embeddings row 0 is added",
            "ignored": "type_vocab_size 0: the model has no token_type_embeddings; the 0/1 token_type_ids "
            "(as the tokenizer emits them) are passed but change nothing",
            None: "the base model takes no token_type_ids",
        }[spec["types"]],
        "has_pooler": "pooler_output" in out,
        "rows": descriptions,
        "lengths": [len(r) for r in rows],
        "input_ids": input_ids.tolist(),
        "attention_mask": attention_mask.tolist(),
        **({"token_type_ids": batch["token_type_ids"].tolist()} if "token_type_ids" in batch else {}),
        "last_hidden_state": rounded(out["last_hidden_state"]),  # [B, T, H]; padded positions arbitrary
        **({"pooler_output": rounded(out["pooler_output"])} if "pooler_output" in out else {}),  # [B, H]
        "tensors": tensors,
        "checks": checks,
    }
    buckets = relative_buckets(name, model, SEQ_LEN)
    if buckets is not None:
        golden["relative_position_buckets"] = buckets
        golden["relative_position_buckets_note"] = (
            "[i][j] = MPNetModel.encoder.relative_position_bucket(j - i, num_buckets=32), an index into "
            "encoder.relative_attention_bias (i: query, j: key)"
            if name == "mpnet"
            else "[i][j] = make_log_bucket_position(i - j, position_buckets, max_relative_positions) "
            "(i: query, j: key); c2p and p2c both index rel_embeddings at "
            "clamp(value + att_span, 0, 2*att_span - 1)"
        )
    if name == "modernbert":
        golden["layer_types"] = list(config.layer_types)
        golden["sliding_window_half"] = config.sliding_window
        golden["rope_parameters"] = config.rope_parameters
    path = os.path.join(out_dir, "golden.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(golden, f, separators=(",", ":"))
    size = sum(os.path.getsize(os.path.join(out_dir, p)) for p in os.listdir(out_dir))
    print(f"wrote {out_dir}/ ({size / 1024:.0f} KiB) checks={checks}")
    assert size < 300 * 1024, f"{name}: folder too large ({size} bytes)"


def self_checks(name: str, spec: dict, model, out_dir: str, batch: dict, out: dict) -> dict:
    mask = batch["attention_mask"].float()
    checks = {}
    # 1. The saved folder reloads (AutoModel from the local path) to the same outputs.
    reloaded = transformers.AutoModel.from_pretrained(out_dir, attn_implementation="eager").eval()
    assert type(reloaded) is spec["model_cls"], type(reloaded)
    again = forward(reloaded, batch)
    checks["reload_max_abs_diff"] = max(float((again[k] - out[k]).abs().max()) for k in out)
    # 2. SDPA gives the same real-position outputs, where the family supports it.
    if getattr(spec["model_cls"], "_supports_sdpa", False):
        sdpa = transformers.AutoModel.from_pretrained(out_dir, attn_implementation="sdpa").eval()
        other = forward(sdpa, batch)
        checks["sdpa_vs_eager_max_abs_diff"] = max_diff_real(
            other["last_hidden_state"], out["last_hidden_state"], mask
        )
    # 3. Each padded row equals the same row run alone, unpadded (padding must not leak).
    worst = 0.0
    for i, n in enumerate(batch["attention_mask"].sum(1).tolist()):
        alone = forward(model, {k: v[i : i + 1, :n] for k, v in batch.items()})
        worst = max(worst, float((alone["last_hidden_state"][0] - out["last_hidden_state"][i, :n]).abs().max()))
        if "pooler_output" in out:
            worst = max(worst, float((alone["pooler_output"][0] - out["pooler_output"][i]).abs().max()))
    checks["padded_vs_alone_max_abs_diff"] = worst
    # 4. Where the ids carry token types that the model ignores, dropping them changes nothing.
    if spec["types"] == "ignored":
        plain = forward(model, {k: v for k, v in batch.items() if k != "token_type_ids"})
        checks["without_token_type_ids_max_abs_diff"] = float(
            (plain["last_hidden_state"] - out["last_hidden_state"]).abs().max()
        )
    for key, value in checks.items():
        assert value < 1e-4, f"{name}: check {key} failed: {value}"
    return {k: float(f"{v:.3g}") for k, v in checks.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    specs = family_specs()
    parser.add_argument("--only", nargs="*", choices=sorted(specs), help="families to write (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # deterministic reductions, and gentle on a shared machine
    os.makedirs(OUT, exist_ok=True)
    for name in args.only or specs:
        make_family(name, specs[name])


if __name__ == "__main__":
    main()
