"""Which tokenizer a folder holds, and how a bundle saves and rebuilds it.

`load_tokenizer(folder)` reads any folder bertkit reads: a bertkit run or bundle (its
`tokenizer_config.json`), a raw-text SavedModel export (the same file among its assets), a Hugging Face
folder (`tokenizer.json`, else `vocab.txt`, a SentencePiece `*.model` or `vocab.json` + `merges.txt`), a
Google TF1 checkpoint (`vocab.txt` + `bert_config.json`) or a TF Hub SavedModel (`assets/vocab.txt`).

`tokenizer.save(folder)` copies the tokenizer's files and writes `tokenizer_config.json`
(`{"bertkit_tokenizer": 1, "kind": ..., ...}`): its `config()`, from which `from_config` rebuilds it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from bertkit.core.errors import BertkitError
from bertkit.core.io import read_json
from bertkit.tokenization.base import CONFIG_FILE, FORMAT_VERSION, TokenizerBase
from bertkit.tokenization.hf_files import HFByteLevelBPE, HFWordPiece
from bertkit.tokenization.hf_json import HFTokenizer
from bertkit.tokenization.sentencepiece import SentencePiece
from bertkit.tokenization.wordpiece import WordPiece

# kind -> class with `from_config(config, folder)`
KINDS: dict[str, type] = {kind.kind: kind for kind in (WordPiece, SentencePiece, HFTokenizer, HFWordPiece,
                                                        HFByteLevelBPE)}
SPM_NAMES = ("spiece.model", "sentencepiece.bpe.model", "spm.model", "tokenizer.model")  # ALBERT, XLM-R, DeBERTa
LEGACY_MAX_CHARS = 100  # bundles written before tokenizer_config.json were tokenized with this limit
SUPPORTED = ("tokenizer.json", "vocab.txt", "a SentencePiece *.model", "vocab.json + merges.txt")


def load_tokenizer(folder) -> TokenizerBase:
    """The in-graph tokenizer of the model in `folder` (see the module docstring for the folders).

    Raises:
        BertkitError: the folder holds no tokenizer files, or they are unreadable or unsupported.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise BertkitError(f"{folder}: not a folder ({'a file' if folder.exists() else 'not found'}).")
    if (folder / "model" / "bertkit.json").is_file():
        folder = folder / "model"  # a run folder
    own = read_own_config(folder / CONFIG_FILE) or read_own_config(folder / "assets" / CONFIG_FILE)
    if own is not None:
        config, base = own
        return from_config(config, base)
    if (folder / "bertkit.json").is_file():  # a bundle from before tokenizer_config.json
        return WordPiece(folder / "vocab.txt", _bundle_casing(folder), LEGACY_MAX_CHARS)
    return _from_model_files(folder)


def from_config(config: dict, folder: Path) -> TokenizerBase:
    """Rebuilds a tokenizer from its `config()` and the files it names in `folder`."""
    kind = config.get("kind")
    if kind not in KINDS:
        raise BertkitError(f"{folder / CONFIG_FILE}: tokenizer kind {kind!r} is not one bertkit knows "
                           f"({', '.join(KINDS)}); was it written by a newer bertkit?")
    return KINDS[kind].from_config(config, folder)


def read_own_config(path: Path) -> tuple[dict, Path] | None:
    """(bertkit's tokenizer config, its folder) if `path` is one, else None (absent or Hugging Face's)."""
    if not path.is_file():
        return None
    config = read_json(path)
    if "bertkit_tokenizer" not in config:
        return None
    if config["bertkit_tokenizer"] > FORMAT_VERSION:
        raise BertkitError(f"{path}: tokenizer format {config['bertkit_tokenizer']} is newer than this bertkit "
                           f"understands ({FORMAT_VERSION}); upgrade bertkit.")
    return config, path.parent


def _from_model_files(folder: Path) -> TokenizerBase:
    """A pretrained model's own tokenizer files, in the order Hugging Face's AutoTokenizer prefers them."""
    if (folder / "tokenizer.json").is_file():
        return HFTokenizer(folder / "tokenizer.json")
    if (folder / "vocab.txt").is_file():
        if (folder / "bert_config.json").is_file() or not _is_hf_folder(folder):  # Google's checkpoint
            return WordPiece(folder / "vocab.txt", _google_casing(folder))
        options = _hf_options(folder)
        return HFWordPiece(folder / "vocab.txt", options.pop("do_lower_case"), **options)
    if (folder / "assets" / "vocab.txt").is_file() and (folder / "saved_model.pb").is_file():
        return WordPiece(folder / "assets" / "vocab.txt", _saved_model_casing(folder))
    models = sorted(folder.glob("*.model"))
    if models:
        named = [p for p in models if p.name in SPM_NAMES]
        if len(models) > 1 and len(named) != 1:
            raise BertkitError(f"{folder}: several SentencePiece models ({[p.name for p in models]}); keep the one "
                               "the model was trained with.")
        return SentencePiece(named[0] if named else models[0])
    if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
        config = read_json(folder / CONFIG_FILE) if (folder / CONFIG_FILE).is_file() else {}
        return HFByteLevelBPE(folder / "vocab.json", folder / "merges.txt", bool(config.get("add_prefix_space")))
    found = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    shown = f"{found[:20]}{' ...' if len(found) > 20 else ''}" if found else "nothing (empty folder)"
    raise BertkitError(f"{folder}: no tokenizer files. Found {shown}; bertkit reads {', '.join(SUPPORTED)}. Copy "
                       "the tokenizer files that came with the model into this folder.")


def _is_hf_folder(folder: Path) -> bool:
    return (folder / "config.json").is_file() or (folder / CONFIG_FILE).is_file()


def _bundle_casing(folder: Path) -> bool:
    return bool(read_json(folder / "preprocess_config.json").get("do_lower_case", True))


def _google_casing(folder: Path) -> bool:
    """`do_lower_case` of a Google checkpoint: `bert_config.json`'s key (which Google's zips lack, bertkit's
    exports have), else whether the vocabulary has upper-case words."""
    if (folder / "bert_config.json").is_file():
        value = read_json(folder / "bert_config.json").get("do_lower_case")
        if value is not None:
            return _as_bool(value, folder / "bert_config.json")
    return vocab_is_uncased(folder / "vocab.txt")


def _hf_options(folder: Path) -> dict:
    """`BertTokenizer`'s options from `tokenizer_config.json`: do_lower_case (True, with a warning, if
    unsaid), strip_accents, tokenize_chinese_chars."""
    path = folder / CONFIG_FILE
    if not path.is_file():
        warnings.warn(f"{folder}: no {CONFIG_FILE}; assuming do_lower_case=True (the BertTokenizer default). "
                      "Add the file if the model is cased.", stacklevel=5)
        return {"do_lower_case": True}
    config = read_json(path)
    if config.get("do_lower_case") is None:
        warnings.warn(f"{path}: no do_lower_case key; assuming True (the BertTokenizer default).", stacklevel=5)
    options = {"do_lower_case": _as_bool(config.get("do_lower_case", True), path),
               "tokenize_chinese_chars": _as_bool(config.get("tokenize_chinese_chars", True), path)}
    if config.get("strip_accents") is not None:
        options["strip_accents"] = _as_bool(config["strip_accents"], path)
    return options


def _as_bool(value, path: Path) -> bool:
    if not isinstance(value, bool):
        raise BertkitError(f"{path} (do_lower_case): expected true or false, got {value!r}.")
    return value


def vocab_is_uncased(vocab_file: Path) -> bool:
    """True when no word of the vocabulary (special `[...]` tokens aside) has an upper-case letter."""
    for line in vocab_file.read_text(encoding="utf-8").splitlines():
        token = line.strip()
        if token and not (token.startswith("[") and token.endswith("]")) and token != token.lower():
            return False
    return True


def _saved_model_casing(folder: Path) -> bool:
    """The `do_lower_case` variable a TF Hub BERT SavedModel carries next to its vocabulary."""
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(str(folder / "variables" / "variables"))
        return bool(reader.get_tensor("do_lower_case/.ATTRIBUTES/VARIABLE_VALUE"))
    except (tf.errors.OpError, ValueError):
        raise BertkitError(f"{folder}: the SavedModel has no readable do_lower_case variable, so its casing is "
                           "unknown; TF Hub BERT encoders carry it next to assets/vocab.txt.") from None
