"""Hugging Face tokenizer folders without a tokenizer.json: `vocab.txt` (BERT) and `vocab.json` + `merges.txt`
(RoBERTa, GPT-2). Hugging Face builds a `tokenizers` pipeline from them (`convert_slow_tokenizer`); so does
bertkit, as the `tokenizer.json` it would be, which `HFTokenizer` then runs.

* `vocab.txt`: BertNormalizer (casing and accents from tokenizer_config.json), BertPreTokenizer, WordPiece
  (`##`, [UNK], 100 characters), `[CLS] $A [SEP] $B:1 [SEP]:1`, the five special tokens matched as they are.
* `vocab.json` + `merges.txt`: ByteLevel (add_prefix_space from tokenizer_config.json, default false), BPE,
  `<s> $A </s> </s> $B </s>`, the special tokens of the vocabulary (`<mask>` strips the space before it).
"""

from __future__ import annotations

import json
from pathlib import Path

from bertkit.core.errors import BertkitError
from bertkit.tokenization.hf_json import HFTokenizer
from bertkit.tokenization.wordpiece import load_vocab

BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
ROBERTA_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


def _added(vocab: dict[str, int], tokens, lstrip=()) -> list[dict]:
    return [{"id": vocab[t], "content": t, "single_word": False, "lstrip": t in lstrip, "rstrip": False,
             "normalized": False, "special": True} for t in tokens if t in vocab]


class HFWordPiece(HFTokenizer):
    """A Hugging Face BERT `vocab.txt`, as `BertTokenizerFast` tokenizes with it."""

    kind = "hf_wordpiece"

    def __init__(self, vocab_file, do_lower_case: bool = True, strip_accents: bool | None = None,
                 tokenize_chinese_chars: bool = True):
        self.vocab_file = Path(vocab_file)
        self.options = {"do_lower_case": bool(do_lower_case), "strip_accents": strip_accents,
                        "tokenize_chinese_chars": bool(tokenize_chinese_chars)}
        tokens = load_vocab(self.vocab_file)
        vocab = {token: i for i, token in enumerate(tokens)}  # a repeated token keeps its last id, as in HF
        missing = [t for t in ("[CLS]", "[SEP]", "[UNK]") if t not in vocab]
        if missing:
            raise BertkitError(f"{self.vocab_file}: vocabulary lacks {', '.join(missing)}; a BERT vocabulary needs "
                               "them.")
        spec = {
            "added_tokens": _added(vocab, BERT_SPECIALS),
            "normalizer": {"type": "BertNormalizer", "clean_text": True, "strip_accents": strip_accents,
                           "handle_chinese_chars": bool(tokenize_chinese_chars), "lowercase": bool(do_lower_case)},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", vocab["[SEP]"]],
                               "cls": ["[CLS]", vocab["[CLS]"]]},
            "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                      "max_input_chars_per_word": 100, "vocab": vocab},
        }
        super().__init__(self.vocab_file, spec)

    def files(self) -> dict[str, Path]:
        return {"vocab.txt": self.vocab_file}

    def config(self) -> dict:
        return {"kind": self.kind, "vocab": "vocab.txt", **self.options}

    @classmethod
    def from_config(cls, config: dict, folder: Path) -> HFWordPiece:
        return cls(folder / config.get("vocab", "vocab.txt"), config["do_lower_case"], config.get("strip_accents"),
                   config.get("tokenize_chinese_chars", True))


class HFByteLevelBPE(HFTokenizer):
    """A GPT-2 / RoBERTa `vocab.json` + `merges.txt`, as `RobertaTokenizerFast` tokenizes with them."""

    kind = "hf_bpe"

    def __init__(self, vocab_file, merges_file, add_prefix_space: bool = False):
        self.vocab_file, self.merges_file = Path(vocab_file), Path(merges_file)
        self.add_prefix_space = bool(add_prefix_space)
        try:
            vocab = json.loads(self.vocab_file.read_text(encoding="utf-8"))
            lines = self.merges_file.read_text(encoding="utf-8").split("\n")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise BertkitError(f"{self.vocab_file.parent}: cannot read vocab.json / merges.txt ({e}).") from None
        if not isinstance(vocab, dict) or not all(isinstance(i, int) for i in vocab.values()):
            raise BertkitError(f"{self.vocab_file}: expected a JSON object of token -> id.")
        merges = [line for line in lines if line and not line.startswith("#version")]
        if any(len(m.split(" ")) != 2 for m in merges):
            raise BertkitError(f"{self.merges_file}: every line must be two tokens separated by one space.")
        specials = [t for t in ROBERTA_SPECIALS if t in vocab]
        spec = {
            "added_tokens": _added(vocab, specials, lstrip=("<mask>",)),
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": self.add_prefix_space, "use_regex": True},
            "post_processor": ({"type": "RobertaProcessing", "sep": ["</s>", vocab["</s>"]],
                                "cls": ["<s>", vocab["<s>"]]} if "<s>" in vocab and "</s>" in vocab else None),
            "model": {"type": "BPE", "vocab": vocab, "merges": merges},
        }
        super().__init__(self.vocab_file, spec)

    def files(self) -> dict[str, Path]:
        return {"vocab.json": self.vocab_file, "merges.txt": self.merges_file}

    def config(self) -> dict:
        return {"kind": self.kind, "vocab": "vocab.json", "merges": "merges.txt",
                "add_prefix_space": self.add_prefix_space}

    @classmethod
    def from_config(cls, config: dict, folder: Path) -> HFByteLevelBPE:
        return cls(folder / config.get("vocab", "vocab.json"), folder / config.get("merges", "merges.txt"),
                   config.get("add_prefix_space", False))
