"""Leave-actors-out cross-validation for acted-speech corpora (RAVDESS): no clip is ever scored by a model
that heard its actor.

    folds = actor_folds(actors, k=5)                       # [[1, 6, 11, 16], [2, 7, 12, 17], ...]
    scores = cross_validate(predict_fold, labels, actors, folds, label_names)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from spikemo.errors import InputError
from spikemo.training.metrics import classification_metrics
from spikemo.training.summary import mean_and_std

# predict_fold(train_mask [N] bool, test_mask [N] bool) -> predicted label indices [test_mask.sum()]
FoldPredictor = Callable[[np.ndarray, np.ndarray], np.ndarray]


def actor_folds(actors: Sequence[int], k: int) -> list[list[int]]:
    """Actors split into k groups, actor i of the sorted list in group i mod k, so every group mixes RAVDESS's
    male (odd) and female (even) actors."""
    unique = sorted({int(actor) for actor in actors})
    if len(unique) < 2:
        raise InputError(f"leave-actors-out folds need at least 2 actors, the data has {len(unique)}")
    k = min(k, len(unique))
    return [unique[i::k] for i in range(k)]


def fold_summary(folds: Sequence[dict]) -> dict:
    """Mean and sample std over folds of accuracy and weighted F1 (`accuracy_mean`, `accuracy_std`, ...)."""
    out = {}
    for key in ("accuracy", "weighted_f1"):
        mean, spread = mean_and_std([fold[key] for fold in folds])
        out[f"{key}_mean"] = round(mean, 2)
        out[f"{key}_std"] = round(spread, 2)
    return out


def cross_validate(predict_fold: FoldPredictor, labels: np.ndarray, actors: np.ndarray, folds: list[list[int]],
                   label_names: tuple[str, ...]) -> dict:
    """Score `predict_fold` on every fold (labels [N] indices into label_names, actors [N]): the fold summary,
    each fold's scores and the metrics of the held-out predictions pooled over folds."""
    scores, pooled = [], np.zeros_like(labels)
    for held in folds:
        test = np.isin(actors, held)
        predicted = predict_fold(~test, test)
        pooled[test] = predicted
        metrics = classification_metrics([label_names[i] for i in labels[test]],
                                         [label_names[i] for i in predicted], label_names)
        scores.append({"actors": held, "accuracy": metrics["accuracy"], "weighted_f1": metrics["weighted_f1"]})
    pooled_metrics = classification_metrics([label_names[i] for i in labels], [label_names[i] for i in pooled],
                                            label_names)
    return {**fold_summary(scores), "folds": scores, "pooled": pooled_metrics}
