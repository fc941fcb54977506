"""Text -> ids, in the TensorFlow graph: exact WordPiece (Google's `FullTokenizer`), its Unicode rules, and
packing into the encoder inputs.

    from bertkit.tokenization import Tokenizer
    tokenizer = Tokenizer("vocab.txt", do_lower_case=True)
    tokenizer(["Hello world!"])  # ragged int32 ids [B, (pieces)], no special tokens
"""

from bertkit.tokenization.wordpiece import Tokenizer, load_vocab

__all__ = ["Tokenizer", "load_vocab"]
