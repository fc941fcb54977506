"""Classification metrics from predicted probabilities, in pure numpy.

Semantics follow scikit-learn with `zero_division=0` (checked against it by tests/test_metrics.py):
* binary: precision / recall / f1 of the positive class (id 1); `auc` is ROC-AUC of the positive-class
  probability; `auc_hard_labels` is what the original TF Hub tutorial reported (`tf.metrics.auc` on
  hard 0/1 predictions), which equals balanced accuracy and is kept only for comparison with it.
* k classes: macro precision / recall / f1 over the classes present in gold or predictions (as
  sklearn's default), multi-class MCC (Gorodkin's R_K), and `auc` = macro one-vs-rest ROC-AUC.
Every value is a plain Python number or list, so the dict can be written to metrics.json as is.
"""

from __future__ import annotations

import numpy as np


def _check_inputs(y_true, probs) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    p = np.asarray(probs, dtype=np.float64)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"y_true must be a non-empty 1-D array of class ids, got shape {y.shape}.")
    if p.ndim not in (1, 2) or p.shape[0] != len(y) or (p.ndim == 2 and p.shape[1] < 2):
        raise ValueError(f"probs must be [N] or [N, K>=2] with N = {len(y)}, got shape {p.shape}.")
    if not np.all(np.isfinite(p)):
        raise ValueError("probs contain NaN or infinity.")
    if not np.all(np.equal(np.mod(y, 1), 0)):
        raise ValueError("y_true must hold integer class ids.")
    y = y.astype(np.int64)
    k = 2 if p.ndim == 1 else p.shape[1]
    if y.min() < 0 or y.max() >= k:
        raise ValueError(f"y_true holds ids outside [0, {k}).")
    return y, p


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """int64 `[K, K]`, rows = gold class, columns = predicted class."""
    flat = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def roc_auc(is_positive: np.ndarray, scores: np.ndarray) -> float | None:
    """Exact ROC-AUC by the Mann-Whitney rank formula; tied scores count one half.

    Returns None when there are no positives or no negatives.
    """
    pos = np.asarray(is_positive, dtype=bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    # Average rank (1-based) of each group of equal scores: ranks below it + (count + 1) / 2.
    group_rank = np.cumsum(counts) - counts + (counts + 1) / 2.0
    rank_sum = group_rank[inverse.reshape(-1)][pos].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)


def _per_class(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    tp = np.diag(cm).astype(np.float64)
    fp, fn = cm.sum(axis=0) - tp, cm.sum(axis=1) - tp
    return _safe_div(tp, tp + fp), _safe_div(tp, tp + fn), _safe_div(2 * tp, 2 * tp + fp + fn), cm.sum(axis=1)


def mcc(cm: np.ndarray) -> float:
    """Matthews correlation from a confusion matrix (Gorodkin's R_K for K > 2); 0.0 when undefined."""
    cm = cm.astype(np.float64)
    t, p, n = cm.sum(axis=1), cm.sum(axis=0), cm.sum()
    cov_tp = np.trace(cm) * n - t @ p
    cov_pp, cov_tt = n * n - p @ p, n * n - t @ t
    if cov_pp * cov_tt == 0:
        return 0.0
    return float(cov_tp / np.sqrt(cov_tt * cov_pp))


def classification_metrics(y_true, probs, labels=None) -> dict:
    """Metrics of a classifier from its predicted probabilities.

    Args:
        y_true: gold class ids `[N]`.
        probs: `[N]` positive-class probabilities (binary, predicted 1 when > 0.5), or `[N, K]` class
            probabilities (predicted class = argmax, ties to the lower id).
        labels: optional K label names, used as the keys of `per_class`.

    Returns:
        dict with n, num_classes, average ("binary" or "macro"), accuracy, precision, recall, f1, auc,
        mcc, confusion_matrix (rows = gold), per_class {name: precision, recall, f1, support[, auc]}
        and notes (why a value is None); binary adds positive_label and auc_hard_labels.
    """
    y, p = _check_inputs(y_true, probs)
    k = 2 if p.ndim == 1 else p.shape[1]
    names = [str(x) for x in labels] if labels is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise ValueError(f"{len(names)} label names for {k} classes.")
    pred = (p > 0.5).astype(np.int64) if p.ndim == 1 else p.argmax(axis=1)
    cm = confusion_matrix(y, pred, k)
    precision, recall, f1, support = _per_class(cm)
    notes = []
    if len(np.unique(y)) < 2:
        notes.append(f"auc is undefined: the gold labels hold only class {names[y[0]]!r}.")
    out = {"n": len(y), "num_classes": k, "accuracy": float(np.mean(pred == y))}
    per_class = {
        name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]), "support": int(n)}
        for i, (name, n) in enumerate(zip(names, support))
    }
    if k == 2:
        scores = p if p.ndim == 1 else p[:, 1]
        out.update(
            average="binary", positive_label=names[1], precision=float(precision[1]),
            recall=float(recall[1]), f1=float(f1[1]), auc=roc_auc(y == 1, scores),
            auc_hard_labels=roc_auc(y == 1, pred),
        )
    else:
        present = np.union1d(y, pred)  # sklearn's default label set for macro averages
        aucs = [roc_auc(y == i, p[:, i]) for i in range(k)]
        defined = [a for a in aucs if a is not None]
        skipped = [names[i] for i, a in enumerate(aucs) if a is None]
        if skipped and len(defined) >= 2:
            notes.append(f"macro auc leaves out classes absent from the gold labels: {skipped}.")
        for name, a in zip(names, aucs):
            per_class[name]["auc"] = a
        out.update(
            average="macro", precision=float(precision[present].mean()), recall=float(recall[present].mean()),
            f1=float(f1[present].mean()), auc=float(np.mean(defined)) if len(defined) >= 2 else None,
        )
    out.update(mcc=mcc(cm), confusion_matrix=cm.tolist(), per_class=per_class, notes=notes)
    return out


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)


SCALARS = ("accuracy", "precision", "recall", "f1", "auc", "auc_hard_labels", "mcc")
_NOT_SCALARS = {"n", "num_classes", "average", "positive_label", "confusion_matrix", "per_class", "notes"}


def format_metrics_table(metrics: dict) -> str:
    """A plain-text table of `classification_metrics` output, for the CLI.

    Keys it does not know (e.g. `eval_seconds` added by the trainer) are listed after the main ones,
    so any task's flat metrics dict prints too.
    """
    macro = " (macro)" if metrics.get("average") == "macro" else ""
    head = [f"{k} = {_fmt(metrics[k])}" for k in ("n", "num_classes") if k in metrics]
    if "positive_label" in metrics:
        head.append(f"positive class = {metrics['positive_label']}")
    rows = [(k + (macro if k in ("precision", "recall", "f1", "auc") else ""), metrics[k])
            for k in SCALARS if k in metrics]
    rows += [(k, v) for k, v in metrics.items()
             if k not in SCALARS and k not in _NOT_SCALARS and isinstance(v, (int, float, str, type(None)))]
    width = max([len(name) for name, _ in rows] + [8]) + 2
    lines = ["   ".join(head), ""] + [f"{name:<{width}}{_fmt(value):>10}" for name, value in rows]

    per_class = metrics.get("per_class") or {}
    names = list(per_class)
    col = max([8] + [len(n) + 2 for n in names])
    if "confusion_matrix" in metrics and names:
        lines += ["", "confusion matrix (rows = gold, columns = predicted)"]
        lines.append(" " * col + "".join(f"{n:>{col}}" for n in names))
        for name, row in zip(names, metrics["confusion_matrix"]):
            lines.append(f"{name:<{col}}" + "".join(f"{v:>{col},}" for v in row))
    if names:
        keys = [k for k in ("precision", "recall", "f1", "support", "auc") if k in per_class[names[0]]]
        lines += ["", f"{'per class':<{col}}" + "".join(f"{k:>11}" for k in keys)]
        for name, stats in per_class.items():
            lines.append(f"{name:<{col}}" + "".join(f"{_fmt(stats.get(k)):>11}" for k in keys))
    lines += [f"note: {note}" for note in metrics.get("notes", [])]
    return "\n".join(lines).strip("\n")
