"""The numpy NER featurization and read-back of bertkit before the one-graph-path change (copied from
bertkit/tasks/ner.py at e500e48), kept only to prove the graph version equal to it."""

import unicodedata

import numpy as np

from legacy.token_features import max_context_span, windows, word_pieces

CASES = ("pad", "lower", "title", "upper", "mixed", "number", "other")
LABEL_PAD = -1


def word_case(word: str) -> int:
    categories = [unicodedata.category(c) for c in word]
    letters = [c for c in categories if c[0] == "L"]
    if not letters:
        return CASES.index("number") if "Nd" in categories else CASES.index("other")
    if all(c == "Ll" for c in letters):
        return CASES.index("lower")
    if all(c == "Lu" for c in letters):
        return CASES.index("upper") if len(letters) > 1 else CASES.index("title")
    if letters[0] == "Lu" and all(c == "Ll" for c in letters[1:]):
        return CASES.index("title")
    return CASES.index("mixed")


def groups(examples, joining: bool) -> list[range]:
    out: list[range] = []
    for i, e in enumerate(examples):
        if joining and out and e.document is not None and examples[i - 1].document == e.document:
            out[-1] = range(out[-1].start, i + 1)
        else:
            out.append(range(i, i + 1))
    return out


def featurize(examples, tokenizer, tag_ids, max_seq_length, stride, joining):
    """word_ids, cases, labels, owned (per window), word_start."""
    budget = max_seq_length - 2
    stride = stride or max(1, budget // 2)
    all_words = [w for e in examples for w in e.words]
    pieces = word_pieces(tokenizer, all_words)
    all_cases = [word_case(w) for w in all_words]
    all_tags = [t for row in tag_ids for t in row]
    word_start = np.cumsum([0] + [len(e.words) for e in examples])
    word_ids, labels, owned, cases = [], [], [], []
    for group in groups(examples, joining):
        lo, hi = word_start[group.start], word_start[group.stop]
        per_word = pieces[lo:hi]
        flat = np.concatenate(per_word + [np.zeros(0, np.int32)]).astype(np.int32)
        flat_case = np.repeat(all_cases[lo:hi], [len(p) for p in per_word]).astype(np.int32)
        first = np.cumsum([0] + [len(p) for p in per_word])[:-1]
        has_piece = np.array([len(p) > 0 for p in per_word], bool)
        spans = windows(len(flat), budget, stride)
        owner = {w: max_context_span(spans, first[w]) for w in np.nonzero(has_piece)[0]}
        for si, (start, length) in enumerate(spans):
            word_ids.append(np.concatenate([[tokenizer.cls_id], flat[start:start + length], [tokenizer.sep_id]]))
            cases.append(np.concatenate([[0], flat_case[start:start + length], [0]]))
            lab = np.full(length + 2, LABEL_PAD, np.int32)
            own = np.full(length + 2, -1, np.int32)
            for w in np.nonzero(has_piece & (first >= start) & (first < start + length))[0]:
                pos = 1 + first[w] - start
                lab[pos] = all_tags[lo + w]
                if owner[w] == si:
                    own[pos] = lo + w
            labels.append(lab)
            owned.append(own)
    return word_ids, cases, labels, owned, word_start


def word_probabilities(logits_per_window, owned, n_words, k):
    """The old `predict_outputs`: softmax at each word's owned position (float64), "O" without pieces."""
    flat = np.zeros((n_words, k))
    flat[:, 0] = 1.0
    for logits, own in zip(logits_per_window, owned):
        pos = np.nonzero(own >= 0)[0]
        z = logits[pos].astype(np.float64)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        flat[own[pos]] = z / z.sum(axis=1, keepdims=True)
    return flat
