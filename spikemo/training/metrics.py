"""Classification metrics for emotion recognition: weighted F1 (the paper's headline), per-class F1, confusion."""

from collections.abc import Sequence

from sklearn.metrics import accuracy_score, confusion_matrix, f1_score


def classification_metrics(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> dict:
    """Scores of predicted against gold emotion labels; F1 and accuracy in percent.

    Returns {"weighted_f1", "accuracy", "per_class_f1": {label: F1}, "n_utterances",
    "confusion": [[count gold i predicted j]] in `labels` order}.
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    if not gold:
        raise ValueError("no labelled utterances to score")
    labels = list(labels)
    per_class = f1_score(gold, predicted, labels=labels, average=None, zero_division=0)
    return {
        "weighted_f1": round(100 * f1_score(gold, predicted, labels=labels, average="weighted", zero_division=0), 2),
        "accuracy": round(100 * accuracy_score(gold, predicted), 2),
        "per_class_f1": {label: round(100 * float(f), 2) for label, f in zip(labels, per_class)},
        "n_utterances": len(gold),
        "confusion": confusion_matrix(gold, predicted, labels=labels).tolist(),
    }
