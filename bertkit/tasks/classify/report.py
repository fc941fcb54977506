"""The classification report from class probabilities: confusion matrix, ROC and precision-recall
curves, reliability diagram, per-class precision / recall / F1, and the most confident mistakes and
least confident correct predictions.

The curve points are computed here in numpy (bertkit has no scikit-learn); the drawing is matplotlib.
Binary tasks show the positive class (id 1); k-class tasks show each class one-vs-rest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bertkit.metrics import classification_metrics, roc_auc
from bertkit.report import plotting
from bertkit.report.errors_table import MAX_CHARS, ROWS, short_id, shorten
from bertkit.report.html import Section

MAX_CURVES = 10  # one-vs-rest curves drawn for k-class tasks (the largest classes)
CALIBRATION_BINS = 10


def _ranked_counts(is_positive: np.ndarray, scores: np.ndarray):
    """Cumulative true / false positives at each distinct score, from the highest score down."""
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], is_positive[order].astype(np.float64)
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each run of equal scores
    tps = np.cumsum(y)[last]
    return tps, (last + 1) - tps


def roc_points(is_positive, scores) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) from (0, 0) to (1, 1); needs both classes present."""
    pos = np.asarray(is_positive, bool)
    tps, fps = _ranked_counts(pos, np.asarray(scores, np.float64))
    return np.r_[0.0, fps / (~pos).sum()], np.r_[0.0, tps / pos.sum()]


def pr_points(is_positive, scores) -> tuple[np.ndarray, np.ndarray, float]:
    """(recall, precision, average precision); AP = sum over thresholds of (R_n - R_n-1) * P_n."""
    pos = np.asarray(is_positive, bool)
    tps, fps = _ranked_counts(pos, np.asarray(scores, np.float64))
    precision, recall = tps / (tps + fps), tps / pos.sum()
    ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return recall, precision, ap


def reliability(confidence, correct, bins: int = CALIBRATION_BINS):
    """Per equal-width confidence bin: (mean confidence, accuracy, count), and the expected calibration
    error (count-weighted mean |accuracy - confidence|). Empty bins are dropped."""
    conf, ok = np.asarray(confidence, np.float64), np.asarray(correct, np.float64)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins)
    keep = count > 0
    mean_conf = np.bincount(which, conf, bins)[keep] / count[keep]
    accuracy = np.bincount(which, ok, bins)[keep] / count[keep]
    ece = float(np.sum(count[keep] * np.abs(accuracy - mean_conf)) / len(conf))
    return mean_conf, accuracy, count[keep], ece


def _confusion_figure(cm: np.ndarray, labels: list[str], out: Path) -> Path:
    k = len(labels)
    fig, axes = plotting.figure(1, 2, height=3.4 + 0.12 * max(0, k - 4))
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    for ax, values, title in ((axes[0], cm, "counts"), (axes[1], norm, "share of each gold class")):
        image = ax.imshow(values, cmap="Blues", vmin=0)
        if k <= 12:
            for (i, j), v in np.ndenumerate(values):
                text = f"{v:,}" if values is cm else f"{v:.2f}"
                ax.text(j, i, text, ha="center", va="center", fontsize=9,
                        color="white" if v > values.max() * 0.6 else "black")
        ax.set(xticks=range(k), yticks=range(k), xlabel="predicted", ylabel="gold", title=title)
        ax.set_xticklabels(labels, rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center")
        ax.set_yticklabels(labels)
        fig.colorbar(image, ax=ax, shrink=0.8)
    return plotting.save(fig, out / "confusion_matrix.png")


def _curve_classes(gold: np.ndarray, k: int) -> list[int]:
    if k == 2:
        return [1]
    present = [c for c in np.argsort(-np.bincount(gold, minlength=k)) if 0 < (gold == c).sum() < len(gold)]
    return sorted(present[:MAX_CURVES])


def _roc_pr_figure(probs, gold, labels, out: Path) -> tuple[Path, list[list]]:
    fig, (roc_ax, pr_ax) = plotting.figure(1, 2, height=3.6)
    rows = []
    for c in _curve_classes(gold, len(labels)):
        pos, scores = gold == c, probs[:, c]
        fpr, tpr = roc_points(pos, scores)
        recall, precision, ap = pr_points(pos, scores)
        auc = roc_auc(pos, scores)
        roc_ax.plot(fpr, tpr, lw=1.6, label=f"{labels[c]} (AUC {auc:.3f})")
        pr_ax.step(np.r_[0.0, recall], np.r_[precision[0], precision], where="pre", lw=1.6,
                   label=f"{labels[c]} (AP {ap:.3f})")  # precision P_n holds on (R_n-1, R_n], as in AP
        rows.append([labels[c], auc, ap, float(pos.mean())])
    roc_ax.plot([0, 1], [0, 1], ":", color="0.6", lw=1)
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC", xlim=(0, 1), ylim=(0, 1.01))
    pr_ax.set(xlabel="recall", ylabel="precision", title="Precision-recall", xlim=(0, 1), ylim=(0, 1.01))
    for ax in (roc_ax, pr_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right" if ax is roc_ax else "lower left")
    return plotting.save(fig, out / "roc_pr_curves.png"), rows


def _calibration_figure(probs, gold, out: Path) -> tuple[Path, float]:
    conf, pred = probs.max(axis=1), probs.argmax(axis=1)
    mean_conf, accuracy, count, ece = reliability(conf, pred == gold)
    fig, (ax, hist) = plotting.figure(2, 1, height=4.6, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], ":", color="0.6", lw=1, label="perfect calibration")
    ax.plot(mean_conf, accuracy, "o-", lw=1.8, label=f"model (ECE {ece:.3f})")
    ax.set(ylabel="accuracy", title="Reliability: confidence of the predicted class vs. accuracy",
           xlim=(0, 1), ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    hist.hist(conf, bins=np.linspace(0, 1, 2 * CALIBRATION_BINS + 1), color="C0", alpha=0.7)
    hist.set(xlabel="confidence (probability of the predicted class)", ylabel="examples")
    return plotting.save(fig, out / "calibration.png"), ece


def _per_class_figure(per_class: dict, out: Path) -> Path:
    names = list(per_class)
    x = np.arange(len(names))
    fig, ax = plotting.figure(height=3.2)
    for i, key in enumerate(("precision", "recall", "f1")):
        ax.bar(x + (i - 1) * 0.27, [per_class[n][key] for n in names], 0.27, label=key)
    ax.set_xticks(x, names, rotation=45 if len(names) > 6 else 0, ha="right" if len(names) > 6 else "center")
    ax.set(ylim=(0, 1.2), ylabel="score", title="Per class")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(ncols=3, fontsize=8, loc="upper center")  # above the bars (ylim 1.2)
    return plotting.save(fig, out / "per_class.png")


def classification_section(probs: np.ndarray, gold: np.ndarray, labels: list[str], out: Path,
                           source: str) -> Section:
    """Metrics, confusion matrix, ROC / PR, reliability and per-class scores of `probs` `[N, K]` vs `gold`."""
    section = Section("Classification")
    metrics = classification_metrics(gold, probs, labels=labels)
    scalars = [k for k in ("accuracy", "precision", "recall", "f1", "auc", "mcc") if k in metrics]
    average = f", {metrics['average']} average" if metrics.get("average") else ""
    section.table(["n"] + scalars, [[metrics["n"]] + [metrics[k] for k in scalars]],
                  f"On {source}{average}")
    for note in metrics.get("notes", []):
        section.note(note)
    cm = np.asarray(metrics["confusion_matrix"])
    section.figure(_confusion_figure(cm, labels, out), "Confusion matrix: rows are gold labels, columns predictions.")
    if len(np.unique(gold)) < 2:
        section.lack(f"The gold labels hold a single class ({labels[int(gold[0])]}): no ROC or precision-recall "
                     "curves.")
    else:
        path, rows = _roc_pr_figure(probs, gold, labels, out)
        kind = "positive class" if len(labels) == 2 else "each class against the rest"
        section.figure(path, f"ROC and precision-recall curves ({kind}); AP = average precision.")
        section.table(["class", "ROC AUC", "average precision", "share of examples"], rows)
        if len(labels) > 2 and len(rows) < len(labels):
            section.note(f"Curves for {len(rows)} of {len(labels)} classes (the largest present in the data).")
    path, ece = _calibration_figure(probs, gold, out)
    section.figure(path, f"Reliability diagram over {CALIBRATION_BINS} confidence bins (empty bins left out), "
                         f"and how many examples fall at each confidence. Expected calibration error {ece:.4f}.")
    per_class = metrics["per_class"]
    section.figure(_per_class_figure(per_class, out), "Precision, recall and F1 of each class.")
    keys = ("precision", "recall", "f1", "support")
    section.table(["class", *keys], [[n] + [s[k] for k in keys] for n, s in per_class.items()], "Per class")
    return section


def _text(example, guid: str) -> str:
    if example is None:
        return f"[{guid}: text not available]"
    if example.text_b is not None:
        return f"{shorten(example.text_a, MAX_CHARS // 2)}  ‖  {shorten(example.text_b, MAX_CHARS // 2)}"
    return shorten(example.text_a)


def confident_rows(probs: np.ndarray, gold: np.ndarray, mistakes: bool, rows: int = ROWS) -> np.ndarray:
    """Indices of the `rows` most confident mistakes (or least confident correct predictions).

    Confidence is the probability of the predicted class; ties keep file order.
    """
    pred, conf = probs.argmax(axis=1), probs.max(axis=1)
    chosen = np.flatnonzero((pred != gold) if mistakes else (pred == gold))
    order = np.argsort(-conf[chosen] if mistakes else conf[chosen], kind="stable")
    return chosen[order[:rows]]


def errors_section(probs: np.ndarray, gold: np.ndarray, labels: list[str], examples, guids) -> Section:
    """Two tables: text, gold, predicted, probability of the prediction, and the example's id."""
    section = Section("Error analysis")
    pred, conf = probs.argmax(axis=1), probs.max(axis=1)
    header = ["#", "text", "gold", "predicted", "probability", "id"]
    for mistakes, title in ((True, "Most confident mistakes"), (False, "Least confident correct predictions")):
        section.heading(title)
        idx = confident_rows(probs, gold, mistakes)
        if len(idx) == 0:
            section.note("None: every prediction is wrong." if not mistakes else "None: no mistakes.")
            continue
        section.table(header, [[rank, _text(examples[i], guids[i]), labels[gold[i]], labels[pred[i]],
                                float(conf[i]), short_id(guids[i])] for rank, i in enumerate(idx, 1)])
    wrong = int((pred != gold).sum())
    section.note(f"{wrong:,} of {len(gold):,} predictions are wrong. Probability = the model's probability "
                 f"of the class it predicted; texts over {MAX_CHARS} characters are cut in the middle.")
    return section


def classify_sections(info, data, out: Path) -> list[Section]:
    """The classification analysis and the error tables of a run's evaluation predictions."""
    labels = [str(x) for x in info.task_config.labels]
    probs = data.scores
    if probs.ndim != 2 or probs.shape[1] != len(labels):
        section = Section("Classification")
        section.lack(f"The scores have shape {probs.shape}, not [N, {len(labels)}] for labels {labels}: "
                     "no classification analysis.")
        return [section]
    gold = data.gold.astype(int)
    return [classification_section(probs, gold, labels, out, data.source),
            errors_section(probs, gold, labels, data.examples, data.guids)]
