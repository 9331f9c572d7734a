"""How much a trained model's DSWA step changes its decisions: predict with and without it, and compare.

DSWA re-weights features as softmax(E) * F + F, and softmax(E) sums to 1 over a dialogue's utterances, so
its multipliers average 1 + 1/L. Whether that moves any decision is an empirical question about a
trained model; this module answers it on labelled conversations.
"""

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from spikemo.data.conversation import Conversation, Prediction
from spikemo.model.modeling import SpikEmoModel
from spikemo.training.metrics import classification_metrics
from spikemo.training.predict import predict_conversations


def _scores(gold: list[str], predicted: list[str], labels: Sequence[str]) -> dict:
    metrics = classification_metrics(gold, predicted, labels)
    return {k: metrics[k] for k in ("weighted_f1", "accuracy", "per_class_f1")}


def predict_without_dswa(
    model: SpikEmoModel, conversations: Sequence[Conversation], device: str | torch.device = "cpu"
) -> list[list[Prediction]]:
    """Each utterance's prediction with the model's DSWA step skipped, per conversation; the conversations keep
    whatever predictions they had."""
    kept = [[u.prediction for u in c.utterances] for c in conversations]
    predict_conversations(model, conversations, device=device, skip_dswa=True)
    without = [[u.prediction for u in c.utterances] for c in conversations]
    for conversation, predictions in zip(conversations, kept):
        for utterance, prediction in zip(conversation.utterances, predictions):
            utterance.prediction = prediction
    return without


@dataclass(frozen=True)
class WithoutDSWA:
    """What a model predicts with its DSWA step skipped, beside the predictions the conversations hold.

    predictions: per conversation, each utterance's prediction with DSWA skipped. changed: how many of those
    name another emotion than the prediction the utterance holds (made with DSWA: the decisions DSWA makes).
    """

    predictions: list[list[Prediction]]
    changed: int

    def labels(self) -> list[list[str]]:
        """Per conversation, each utterance's predicted emotion with DSWA skipped."""
        return [[p.emotion for p in predictions] for predictions in self.predictions]


def compare_without_dswa(
    model: SpikEmoModel, conversations: Sequence[Conversation], device: str | torch.device = "cpu"
) -> WithoutDSWA:
    """Predict the (already predicted) `conversations` again with the DSWA step skipped, and count the
    utterances whose emotion changes; the conversations keep their predictions."""
    without = predict_without_dswa(model, conversations, device)
    changed = sum(
        u.prediction.emotion != w.emotion for c, ws in zip(conversations, without) for u, w in zip(c.utterances, ws)
    )
    return WithoutDSWA(without, changed)


def total_variation(p: dict[str, float], q: dict[str, float]) -> float:
    """Half the L1 distance between two label distributions: 0 when equal, 1 when disjoint."""
    return 0.5 * sum(abs(p[label] - q[label]) for label in p)


def weight_ratio(conversation: Conversation, modality: str) -> float:
    """Largest over smallest DSWA utterance weight of one predicted conversation (1.0 means uniform)."""
    weights = [u.prediction.dswa_weights[modality] for u in conversation.utterances]
    return max(weights) / max(min(weights), 1e-12)


def dswa_effect(
    model: SpikEmoModel, conversations: list[Conversation], device: str | torch.device = "cpu"
) -> dict:
    """Predict `conversations` (which need gold emotions and features) with DSWA, then with it skipped.

    Returns {"utterances", "changed" (predictions whose label differs), "changed_percent",
    "mean_probability_shift_percent" (mean total-variation distance of the two distributions),
    "with_dswa" / "without_dswa" ({"weighted_f1", "accuracy", "per_class_f1"}, percent),
    "weight_ratio_median": {modality: median over dialogues of >= 2 turns of max/min DSWA weight}}.
    The conversations keep the predictions made with DSWA.
    """
    if not model.config.use_dswa:
        raise ValueError("this model has no DSWA step to leave out")
    predict_conversations(model, conversations, device=device)
    without_dswa = compare_without_dswa(model, conversations, device)
    pairs = [(u, w) for c, ws in zip(conversations, without_dswa.predictions) for u, w in zip(c.utterances, ws)]
    labelled = [(u.emotion, u.prediction.emotion, w.emotion) for u, w in pairs if u.emotion is not None]
    gold = [g for g, _, _ in labelled]
    labels = model.config.labels

    changed = without_dswa.changed
    shifts = [total_variation(u.prediction.probabilities, w.probabilities) for u, w in pairs]
    modalities = list(pairs[0][0].prediction.dswa_weights) if pairs else []
    multi_turn = [c for c in conversations if len(c.utterances) >= 2]
    return {
        "utterances": len(pairs),
        "changed": changed,
        "changed_percent": round(100 * changed / max(len(pairs), 1), 2),
        "mean_probability_shift_percent": round(100 * statistics.fmean(shifts), 3) if shifts else 0.0,
        "with_dswa": _scores(gold, [p for _, p, _ in labelled], labels),
        "without_dswa": _scores(gold, [w for _, _, w in labelled], labels),
        "weight_ratio_median": {
            m: round(statistics.median(weight_ratio(c, m) for c in multi_turn), 3) for m in modalities if multi_turn
        },
    }
