"""Token lengths of the data against max_seq_length: how much text the model never saw.

Length = tokens of text_a (+ text_b) + the special tokens of the tokenizer's template ([CLS], [SEP],
[SEP] for BERT), counted with the run's own tokenizer. A text is truncated when that exceeds max_seq_length.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bertkit.core.config import PreprocessConfig
from bertkit.report import plotting
from bertkit.report.html import Section
from bertkit.tokenization.base import TokenizerBase
from bertkit.tokenization.loading import load_tokenizer

BATCH = 256
PERCENTILES = (50, 90, 95, 99)


def token_lengths(tokenizer: TokenizerBase, examples) -> np.ndarray:
    """Packed length of each example before truncation `[N]`."""
    lengths = []
    single, pair = tokenizer.template.specials(False), tokenizer.template.specials(True)
    for i in range(0, len(examples), BATCH):
        chunk = examples[i:i + BATCH]
        n = tokenizer([e.text_a for e in chunk]).row_lengths().numpy() + single  # [CLS] a [SEP]
        pairs = [j for j, e in enumerate(chunk) if e.text_b is not None]
        if pairs:
            n[pairs] += tokenizer([chunk[j].text_b for j in pairs]).row_lengths().numpy() + pair - single  # b [SEP]
        lengths.append(n)
    return np.concatenate(lengths) if lengths else np.zeros(0, np.int64)


def _figure(lengths: np.ndarray, max_len: int, out: Path) -> Path:
    fig, ax = plotting.figure(height=3.4)
    top = int(np.percentile(lengths, 99.5))
    hi = max(top, max_len) + 1  # longer ones are counted in the last bar
    shown = np.minimum(lengths, hi)
    width = max(1, -(-(hi - int(shown.min()) + 1) // 60))  # whole tokens per bar, at most ~60 bars
    ax.hist(shown, bins=np.arange(shown.min() - 0.5, hi + width + 0.5, width), color="C0", alpha=0.75)
    share = float(np.mean(lengths > max_len))
    ax.axvline(max_len + 0.5, color="C3", lw=2, label=f"max_seq_length {max_len}: {share:.1%} truncated")
    ax.set(xlabel="tokens per example (pieces + special tokens)", ylabel="examples",
           title="Token lengths of the data")
    ax.grid(alpha=0.3)
    ax.legend()
    return plotting.save(fig, out / "token_lengths.png")


def lengths_section(examples, bundle: Path, preprocess: PreprocessConfig, out: Path, source: str) -> Section:
    """Histogram with the max_seq_length line, the share truncated, and length percentiles."""
    section = Section("Token lengths")
    tokenizer = load_tokenizer(bundle)
    lengths = token_lengths(tokenizer, examples)
    max_len = preprocess.max_seq_length
    truncated = lengths > max_len
    section.figure(_figure(lengths, max_len, out),
                   f"Tokens per example in {source}; the red line is max_seq_length (longer examples are cut, "
                   f"truncation {preprocess.truncation!r}).")
    cut = np.maximum(lengths - max_len, 0)
    section.table(
        ["examples", "truncated", "share truncated", "tokens dropped (share of all tokens)"]
        + [f"p{p} length" for p in PERCENTILES] + ["longest"],
        [[len(lengths), int(truncated.sum()), float(truncated.mean()), float(cut.sum() / max(lengths.sum(), 1))]
         + [int(np.percentile(lengths, p)) for p in PERCENTILES] + [int(lengths.max())]],
        f"max_seq_length = {max_len}")
    if truncated.any():
        section.note(f"Lowering max_seq_length saves memory and time but cuts more text: at {max_len // 2} tokens "
                     f"{float(np.mean(lengths > max_len // 2)):.1%} of these examples would be truncated; "
                     f"keeping 95% whole needs {int(np.percentile(lengths, 95))} tokens.")
    return section
