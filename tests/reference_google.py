"""Google's original BERT tokenizer as a test oracle: `bert/tokenization.py` of PyPI `bert-tensorflow`
(google-research/bert, the TF1 code base; it imports `tensorflow.compat.v1`, which TF 2 still ships).

Test-only: the package is in the `test` extra. Tests that need it call `google_tokenizer`, which skips
when it is not installed.
"""

from __future__ import annotations

import pytest


def google_module():
    """`bert.tokenization`, with its absl flags marked parsed (it reads `--preserve_unused_tokens`,
    default False, on every call)."""
    tokenization = pytest.importorskip("bert.tokenization", reason="bert-tensorflow (test extra) is not installed")
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()
    return tokenization


def google_tokenizer(vocab_file, do_lower_case: bool):
    """The official `FullTokenizer(vocab_file, do_lower_case)`."""
    return google_module().FullTokenizer(str(vocab_file), do_lower_case=do_lower_case)


def google_ids(tokenizer, text: str) -> list[int]:
    return tokenizer.convert_tokens_to_ids(tokenizer.tokenize(text))
