"""Hugging Face families: `config.json` -> `EncoderConfig`, and each family's explicit tensor-name table.

A table maps a HF tensor name (without the task classes' prefix) to `(bertkit variable path, transpose)`:
torch Linear weights are `[out, in]`, Keras kernels `[in, out]`. The family comes from `model_type` in
`config.json`, never from the folder name; an unsupported `model_type` or an option bertkit does not build
(e.g. DeBERTa's conv layer) stops with a message saying so. `hf_config` writes the family back.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from bertkit.core.config import EncoderConfig
from bertkit.core.errors import BertkitError

Table = dict[str, tuple[str, bool]]
BERT_KEYS = {"vocab_size": "vocab_size", "hidden_size": "hidden_size", "num_layers": "num_hidden_layers",
             "num_heads": "num_attention_heads", "intermediate_size": "intermediate_size", "hidden_act": "hidden_act",
             "dropout": "hidden_dropout_prob", "attention_dropout": "attention_probs_dropout_prob",
             "max_position_embeddings": "max_position_embeddings", "type_vocab_size": "type_vocab_size",
             "layer_norm_eps": "layer_norm_eps", "initializer_range": "initializer_range"}
DISTILBERT_KEYS = {"vocab_size": "vocab_size", "hidden_size": "dim", "num_layers": "n_layers", "num_heads": "n_heads",
                   "intermediate_size": "hidden_dim", "hidden_act": "activation", "dropout": "dropout",
                   "attention_dropout": "attention_dropout", "max_position_embeddings": "max_position_embeddings",
                   "initializer_range": "initializer_range"}
MODERNBERT_KEYS = {"vocab_size": "vocab_size", "hidden_size": "hidden_size", "num_layers": "num_hidden_layers",
                   "num_heads": "num_attention_heads", "intermediate_size": "intermediate_size",
                   "hidden_act": "hidden_activation", "dropout": "mlp_dropout", "attention_dropout": "attention_dropout",
                   "max_position_embeddings": "max_position_embeddings", "layer_norm_eps": "norm_eps",
                   "initializer_range": "initializer_range", "local_attention": "local_attention"}


def _ln(hf: str, ours: str, bias: bool = True) -> Table:
    return {f"{hf}.weight": (f"{ours}/gamma", False), **({f"{hf}.bias": (f"{ours}/beta", False)} if bias else {})}


def _linear(hf: str, ours: str, bias: bool = True) -> Table:
    return {f"{hf}.weight": (f"{ours}/kernel", True), **({f"{hf}.bias": (f"{ours}/bias", False)} if bias else {})}


def _embeddings(c: EncoderConfig, positions: bool = True) -> Table:
    table = {"embeddings.word_embeddings.weight": ("embeddings/word_embeddings", False),
             **_ln("embeddings.LayerNorm", "embeddings/layer_norm")}
    if positions:
        table["embeddings.position_embeddings.weight"] = ("embeddings/position_embeddings", False)
    if c.type_vocab_size:
        table["embeddings.token_type_embeddings.weight"] = ("embeddings/token_type_embeddings", False)
    return table


def _bert_layer(hf: str, ours: str, q="attention.self.query", k="attention.self.key", v="attention.self.value",
                o="attention.output.dense", attn_ln="attention.output.LayerNorm", inner="intermediate.dense",
                out="output.dense", out_ln="output.LayerNorm") -> Table:
    """One post-LN layer's names; the defaults are BERT's (and ELECTRA's, RoBERTa's, DeBERTa's)."""
    table = {}
    for name, path in ((q, "attention/query"), (k, "attention/key"), (v, "attention/value"), (o, "attention/output"),
                       (inner, "intermediate"), (out, "output")):
        table.update(_linear(f"{hf}.{name}", f"{ours}/{path}"))
    table.update(_ln(f"{hf}.{attn_ln}", f"{ours}/attention_layer_norm"))
    table.update(_ln(f"{hf}.{out_ln}", f"{ours}/output_layer_norm"))
    return table


def _layers(c: EncoderConfig, prefix: str, **names) -> Table:
    table = {}
    for i in range(c.num_layers):
        table.update(_bert_layer(f"{prefix}.{i}", f"layer_{i}", **names))
    return table


def bert_names(c: EncoderConfig) -> Table:
    """BERT, RoBERTa, XLM-R and ELECTRA (an `embeddings_project` when E != H; a pooler when there is one)."""
    table = {**_embeddings(c), **_layers(c, "encoder.layer")}
    if c.embedding_size and c.embedding_size != c.hidden_size:
        table.update(_linear("embeddings_project", "embeddings/projection"))
    if c.pooler:
        table.update(_linear("pooler.dense", "pooler/dense"))
    return table


def distilbert_names(c: EncoderConfig) -> Table:
    return {**_embeddings(c), **_layers(c, "transformer.layer", q="attention.q_lin", k="attention.k_lin",
                                        v="attention.v_lin", o="attention.out_lin", attn_ln="sa_layer_norm",
                                        inner="ffn.lin1", out="ffn.lin2", out_ln="output_layer_norm")}


def mpnet_names(c: EncoderConfig) -> Table:
    return {**_embeddings(c), **_layers(c, "encoder.layer", q="attention.attn.q", k="attention.attn.k",
                                        v="attention.attn.v", o="attention.attn.o", attn_ln="attention.LayerNorm"),
            "encoder.relative_attention_bias.weight": ("relative_attention_bias/embeddings", False),
            **_linear("pooler.dense", "pooler/dense")}


def albert_names(c: EncoderConfig) -> Table:
    layer = _bert_layer("encoder.albert_layer_groups.0.albert_layers.0", "layer_0", q="attention.query",
                        k="attention.key", v="attention.value", o="attention.dense", attn_ln="attention.LayerNorm",
                        inner="ffn", out="ffn_output", out_ln="full_layer_layer_norm")
    return {**_embeddings(c), **layer, **_linear("encoder.embedding_hidden_mapping_in", "embeddings/projection"),
            **_linear("pooler", "pooler/dense")}


def deberta_names(c: EncoderConfig) -> Table:
    table = {"embeddings.word_embeddings.weight": ("embeddings/word_embeddings", False),
             **_ln("embeddings.LayerNorm", "embeddings/layer_norm"),
             "encoder.rel_embeddings.weight": ("relative/rel_embeddings", False),
             **_ln("encoder.LayerNorm", "relative/rel_layer_norm"),
             **_layers(c, "encoder.layer", q="attention.self.query_proj", k="attention.self.key_proj",
                       v="attention.self.value_proj")}
    if c.embedding_size and c.embedding_size != c.hidden_size:
        table["embeddings.embed_proj.weight"] = ("embeddings/projection/kernel", True)
    return table


def modernbert_names(c: EncoderConfig) -> Table:
    table = {"embeddings.tok_embeddings.weight": ("embeddings/word_embeddings", False),
             **_ln("embeddings.norm", "embeddings/layer_norm", bias=False), **_ln("final_norm", "final_layer_norm",
                                                                                   bias=False)}
    for i in range(c.num_layers):
        if i > 0:
            table.update(_ln(f"layers.{i}.attn_norm", f"layer_{i}/attention_layer_norm", bias=False))
        table.update({**_linear(f"layers.{i}.attn.Wqkv", f"layer_{i}/attention/qkv", bias=False),
                      **_linear(f"layers.{i}.attn.Wo", f"layer_{i}/attention/output", bias=False),
                      **_ln(f"layers.{i}.mlp_norm", f"layer_{i}/mlp_layer_norm", bias=False),
                      **_linear(f"layers.{i}.mlp.Wi", f"layer_{i}/mlp/input", bias=False),
                      **_linear(f"layers.{i}.mlp.Wo", f"layer_{i}/mlp/output", bias=False)})
    return table


def _take(hf: dict, keys: dict, **fixed) -> EncoderConfig:
    return EncoderConfig(**{**{ours: hf[key] for ours, key in keys.items() if key in hf}, **fixed})


def _require(hf: dict, source: str, **wanted) -> None:
    """Options bertkit does not build stop loading, naming the key and what is supported."""
    for key, (default, allowed) in wanted.items():
        value = hf.get(key, default)
        if value not in allowed:
            raise BertkitError(f"{source}: {key} {value!r} is not supported for model_type {hf.get('model_type')!r}; "
                               f"bertkit builds {' or '.join(map(repr, allowed))}.")


def bert_config(hf: dict, source: str) -> EncoderConfig:
    _require(hf, source, position_embedding_type=("absolute", ("absolute",)), hidden_act=("gelu", ("gelu",)),
             is_decoder=(False, (False,)), add_cross_attention=(False, (False,)))
    model_type = hf.get("model_type")
    fixed = {"model_type": model_type}
    if model_type in ("roberta", "xlm-roberta"):
        fixed["position_offset"] = hf.get("pad_token_id", 1) + 1  # positions count from padding_idx + 1
    if model_type == "electra":
        fixed.update(embedding_size=hf.get("embedding_size", 128), pooler=False)  # ElectraConfig's default
    return _take(hf, BERT_KEYS, **fixed)


def distilbert_config(hf: dict, source: str) -> EncoderConfig:
    _require(hf, source, activation=("gelu", ("gelu",)))
    return _take(hf, DISTILBERT_KEYS, model_type="distilbert", type_vocab_size=0, layer_norm_eps=1e-12,
                 pooler=False)


def mpnet_config(hf: dict, source: str) -> EncoderConfig:
    _require(hf, source, hidden_act=("gelu", ("gelu",)))
    # MPNet's padding_idx is 1 whatever config.json says, and the bucket count used is 32 (table size in config).
    return _take(hf, {k: v for k, v in BERT_KEYS.items() if k != "type_vocab_size"}, model_type="mpnet",
                 type_vocab_size=0, position_offset=2,
                 relative_attention_buckets=hf.get("relative_attention_num_buckets", 32))


def albert_config(hf: dict, source: str) -> EncoderConfig:
    _require(hf, source, hidden_act=("gelu_new", ("gelu_new", "gelu")), num_hidden_groups=(1, (1,)),
             inner_group_num=(1, (1,)), position_embedding_type=("absolute", ("absolute",)))
    return _take(hf, BERT_KEYS, model_type="albert", embedding_size=hf.get("embedding_size", 128), shared_layers=True)


def deberta_config(hf: dict, source: str) -> EncoderConfig:
    pos_att = hf.get("pos_att_type", ["p2c", "c2p"])
    pos_att = sorted(pos_att.split("|") if isinstance(pos_att, str) else pos_att)
    if pos_att != ["c2p", "p2c"]:
        raise BertkitError(f"{source}: pos_att_type {pos_att} is not supported; bertkit builds DeBERTa-v3's "
                           "['p2c', 'c2p'].")
    _require(hf, source, hidden_act=("gelu", ("gelu",)), relative_attention=(False, (True,)),
             position_biased_input=(True, (False,)), share_att_key=(False, (True,)),
             norm_rel_ebd=("none", ("layer_norm",)), conv_kernel_size=(0, (0,)), type_vocab_size=(0, (0,)))
    return _take(hf, BERT_KEYS, model_type="deberta-v2", pooler=False, layer_norm_eps=hf.get("layer_norm_eps", 1e-7),
                 embedding_size=hf.get("embedding_size", 0) or 0, position_buckets=hf.get("position_buckets", -1),
                 max_relative_positions=hf.get("max_relative_positions", -1))


def modernbert_config(hf: dict, source: str) -> EncoderConfig:
    _require(hf, source, hidden_activation=("gelu", ("gelu",)), attention_bias=(False, (False,)),
             mlp_bias=(False, (False,)), norm_bias=(False, (False,)))
    every = hf.get("global_attn_every_n_layers")
    if every is None and hf.get("layer_types"):  # transformers >= 5 writes the layer types out
        every = next((i for i, t in enumerate(hf["layer_types"][1:], 1) if t == "full_attention"), len(hf["layer_types"]))
    rope = hf.get("rope_parameters") or {}
    return _take(hf, MODERNBERT_KEYS, model_type="modernbert", type_vocab_size=0, pooler=False,
                 global_attn_every_n_layers=every or 3,
                 global_rope_theta=rope.get("full_attention", {}).get("rope_theta", hf.get("global_rope_theta", 160000.0)),
                 local_rope_theta=rope.get("sliding_attention", {}).get("rope_theta", hf.get("local_rope_theta", 10000.0)))


@dataclasses.dataclass(frozen=True)
class Family:
    """A Hugging Face family: its config, its tensor names, and the prefix its task checkpoints add."""

    config: Callable[[dict, str], EncoderConfig]
    names: Callable[[EncoderConfig], Table]
    prefix: str
    architecture: str  # the base class, for config.json written back


FAMILIES = {
    "bert": Family(bert_config, bert_names, "bert.", "BertModel"),
    "distilbert": Family(distilbert_config, distilbert_names, "distilbert.", "DistilBertModel"),
    "electra": Family(bert_config, bert_names, "electra.", "ElectraModel"),
    "roberta": Family(bert_config, bert_names, "roberta.", "RobertaModel"),
    "xlm-roberta": Family(bert_config, bert_names, "roberta.", "XLMRobertaModel"),
    "mpnet": Family(mpnet_config, mpnet_names, "mpnet.", "MPNetModel"),
    "albert": Family(albert_config, albert_names, "albert.", "AlbertModel"),
    "deberta-v2": Family(deberta_config, deberta_names, "deberta.", "DebertaV2Model"),
    "modernbert": Family(modernbert_config, modernbert_names, "model.", "ModernBertModel"),
}


def family_of(hf: dict, source: str) -> Family:
    """The family of a `config.json` dict, or one error listing the supported model types."""
    model_type = hf.get("model_type")
    if model_type not in FAMILIES:
        raise BertkitError(f"{source}: model_type {model_type!r} is not supported; bertkit loads "
                           f"{', '.join(FAMILIES)}.")
    return FAMILIES[model_type]


def hf_config(c: EncoderConfig) -> dict:
    """A `config.json` that transformers reads back as the same architecture."""
    if c.model_type == "distilbert":
        hf = {key: getattr(c, ours) for ours, key in DISTILBERT_KEYS.items()}
    elif c.model_type == "modernbert":
        hf = {key: getattr(c, ours) for ours, key in MODERNBERT_KEYS.items()}
        hf.update(global_attn_every_n_layers=c.global_attn_every_n_layers, norm_bias=False, attention_bias=False,
                  mlp_bias=False, global_rope_theta=c.global_rope_theta, local_rope_theta=c.local_rope_theta)
    else:
        hf = {key: getattr(c, ours) for ours, key in BERT_KEYS.items()}
    if c.model_type in ("roberta", "xlm-roberta"):
        hf["pad_token_id"] = c.position_offset - 1
    if c.embedding_size:
        hf["embedding_size"] = c.embedding_size
    if c.model_type == "mpnet":
        hf.update(relative_attention_num_buckets=c.relative_attention_buckets, pad_token_id=1)
        del hf["type_vocab_size"]
    if c.model_type == "albert":
        hf.update(num_hidden_groups=1, inner_group_num=1)
    if c.model_type == "deberta-v2":
        hf.update(relative_attention=True, position_biased_input=False, share_att_key=True, pos_att_type=["p2c", "c2p"],
                  norm_rel_ebd="layer_norm", position_buckets=c.position_buckets,
                  max_relative_positions=c.max_relative_positions)
    if c.model_type == "bert":
        hf.update(position_embedding_type="absolute", pad_token_id=0)
    return {**hf, "model_type": c.model_type, "architectures": [FAMILIES[c.model_type].architecture]}
