"""Name tables with symbolic shapes, shared by the TF1-checkpoint and TF Hub formats.

A table maps a tensor name in the file to `(bertkit variable path, shape template)`; the template
names dimensions of the config ("H,N,D" is [hidden, heads, head size]). In both formats a tensor
is the bertkit variable reshaped row-major (TF kernels are already input-major), so one table
serves loading (file -> encoder) and saving (encoder -> file).

    V vocab_size   P max_position_embeddings   T type_vocab_size   H hidden_size
    I intermediate_size   N num_heads   D hidden_size // num_heads
"""

from __future__ import annotations

import numpy as np

from bertkit.core.config import EncoderConfig
from bertkit.modeling.encoder import BertEncoder
from bertkit.core.errors import BertkitError

Table = dict[str, tuple[str, str]]  # file name -> (bertkit path, shape template)


def dims(config: EncoderConfig) -> dict[str, int]:
    return {"V": config.vocab_size, "P": config.max_position_embeddings, "T": config.type_vocab_size,
            "H": config.hidden_size, "I": config.intermediate_size, "N": config.num_heads,
            "D": config.hidden_size // config.num_heads}


def expand(embeddings: Table, layer: Table, pooler: Table, layer_prefix: str, num_layers: int) -> Table:
    """The full table: `layer` entries repeated under `layer_prefix.format(i=i)` / `layer_{i}/`."""
    table = dict(embeddings)
    for i in range(num_layers):
        for name, (ours, shape) in layer.items():
            table[layer_prefix.format(i=i) + name] = (f"layer_{i}/{ours}", shape)
    table.update(pooler)
    return table


def shape_of(template: str, sizes: dict[str, int]) -> tuple[int, ...]:
    return tuple(sizes[d] for d in template.split(","))


def _listed(names: list[str]) -> str:
    return f"{names[:8]}{' ...' if len(names) > 8 else ''} ({len(names)} in all)"


def check_names(expected, tensors: dict, source: str, kind: str, hint: str) -> None:
    """Raises naming every tensor of `expected` (a table's file names) that `tensors` lacks, or every tensor
    of `tensors` that a `kind` encoder has no place for; `hint` says what to check."""
    missing = sorted(set(expected) - set(tensors))
    if missing:
        raise BertkitError(f"{source}: missing tensor(s) {_listed(missing)} for a {kind}; {hint}")
    unused = sorted(set(tensors) - set(expected))
    if unused:
        raise BertkitError(f"{source}: unexpected tensor(s) {_listed(unused)} that a {kind} encoder has no place "
                           f"for; {hint}")


def assign_tables(encoder: BertEncoder, tensors: dict[str, np.ndarray], table: Table, source: str,
                  hint: str) -> None:
    """Copies `tensors` (file names) into `encoder` through `table`, failing loudly on any mismatch.

    Args:
        encoder: the freshly built encoder whose variables are overwritten.
        tensors: {file name: array} of encoder tensors only (the caller drops heads and slots).
        table: the format's full table for this config.
        source: the file or folder named in error messages.
        hint: appended to missing/unexpected errors: what to check.

    Raises:
        BertkitError: naming each missing, unexpected or mis-shaped tensor.
    """
    variables = encoder.named_variables()
    assert {ours for ours, _ in table.values()} == set(variables), "name table out of sync with BertEncoder"
    check_names(table, tensors, source, f"{encoder.config.num_layers}-layer BERT", hint)
    sizes = dims(encoder.config)
    for name, (ours, template) in table.items():
        value = np.asarray(tensors[name])
        expected = shape_of(template, sizes)
        if tuple(value.shape) != expected:
            raise BertkitError(f"{source}: tensor {name} has shape {list(value.shape)}; the config implies "
                               f"{list(expected)}.")
        if not np.issubdtype(value.dtype, np.floating):
            raise BertkitError(f"{source}: tensor {name} has dtype {value.dtype}; expected a float tensor.")
        variables[ours].assign(value.astype(np.float32).reshape(variables[ours].shape))


def export_tables(encoder: BertEncoder, table: Table) -> dict[str, np.ndarray]:
    """The inverse of `assign_tables`: {file name: float32 array in the file's shape}."""
    variables = encoder.named_variables()
    sizes = dims(encoder.config)
    return {name: np.asarray(variables[ours].numpy(), dtype=np.float32).reshape(shape_of(template, sizes))
            for name, (ours, template) in table.items()}
