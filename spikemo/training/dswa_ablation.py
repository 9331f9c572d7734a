"""How much a trained model's DSWA step, and the spikes inside it, change its decisions.

DSWA re-weights features as softmax(E) * F + F, and softmax(E) sums to 1 over a dialogue's utterances, so
its multipliers average 1 + 1/L. Whether that moves any decision is an empirical question about a trained
model; this module answers it on labelled conversations three ways: as trained, with DSWA skipped, and with
every LIF neuron silenced (DSWA runs, its spikes are all zero). It also measures whether the weights follow
the spikes or merely the input features: their correlation with the softmax of the features themselves, and
how much they move between T = 2 and the model's T.
"""

import random
import statistics
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch

from spikemo.data.batching import iterate_batches
from spikemo.data.conversation import Conversation, Prediction
from spikemo.model.dswa import masked_utterance_softmax
from spikemo.model.modeling import SpikEmoModel
from spikemo.model.neuron import spikes_silenced
from spikemo.training.metrics import classification_metrics
from spikemo.training.predict import available_modalities, predict_conversations


def _scores(gold: list[str], predicted: list[str], labels: Sequence[str]) -> dict:
    metrics = classification_metrics(gold, predicted, labels)
    return {k: metrics[k] for k in ("weighted_f1", "accuracy", "per_class_f1")}


@contextmanager
def predictions_restored(conversations: Sequence[Conversation]) -> Iterator[None]:
    """Inside the block, predictions may be overwritten and read; after it, every utterance has the prediction it
    had before."""
    kept = [[u.prediction for u in c.utterances] for c in conversations]
    try:
        yield
    finally:
        for conversation, predictions in zip(conversations, kept):
            for utterance, prediction in zip(conversation.utterances, predictions):
                utterance.prediction = prediction


def _current_predictions(conversations: Sequence[Conversation]) -> list[list[Prediction]]:
    return [[u.prediction for u in c.utterances] for c in conversations]


def predict_ablated(
    model: SpikEmoModel,
    conversations: Sequence[Conversation],
    device: str | torch.device = "cpu",
    skip_dswa: bool = False,
    silence_spikes: bool = False,
) -> list[list[Prediction]]:
    """Each utterance's prediction with the model's DSWA step skipped, or with all its spikes silenced, per
    conversation; the conversations keep whatever predictions they had."""
    with predictions_restored(conversations), spikes_silenced(model) if silence_spikes else nullcontext():
        predict_conversations(model, conversations, device=device, skip_dswa=skip_dswa)
        return _current_predictions(conversations)


def predict_order_shuffled(
    model: SpikEmoModel, conversations: Sequence[Conversation], device: str | torch.device = "cpu", seed: int = 0
) -> list[list[Prediction]]:
    """Each utterance's prediction when its dialogue's utterances are presented in a shuffled order (a fixed
    permutation per dialogue from `seed`), returned in the original order; the conversations keep whatever
    predictions they had. The order test: a model that reads conversation time must lose by it. (Speaker slots
    are numbered by first appearance, so they follow the shuffled order too.)"""
    generator = random.Random(seed)
    shuffled = []
    for conversation in conversations:
        order = list(conversation.utterances)
        generator.shuffle(order)
        shuffled.append(Conversation(conversation.conversation_id, order))
    with predictions_restored(conversations):
        predict_conversations(model, shuffled, device=device)  # writes into the same Utterance objects
        return _current_predictions(conversations)


def predict_without_dswa(
    model: SpikEmoModel, conversations: Sequence[Conversation], device: str | torch.device = "cpu"
) -> list[list[Prediction]]:
    """Each utterance's prediction with the model's DSWA step skipped (see predict_ablated)."""
    return predict_ablated(model, conversations, device, skip_dswa=True)


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


@torch.inference_mode()
def weight_statistics(
    model: SpikEmoModel, conversations: Sequence[Conversation], device: str | torch.device = "cpu",
    short_time_steps: int = 2,
) -> dict:
    """Do the DSWA weights follow the spikes or the features? Over every utterance of `conversations`:

    weight_feature_correlation: Pearson r between each utterance's DSWA weight and the same softmax over
    utterances taken of DSWA's input features (1.0 would mean the spikes add nothing);
    weight_feature_correlation_multi_turn: the same over dialogues of two or more turns only (a lone turn has
    weight 1 either way); weight_feature_correlation_within_dialogue: the same over those dialogues after
    subtracting the uniform weight 1/L from both (across dialogues both follow 1/L, which alone makes the plain
    correlation near 1: this one asks whether the two favour the same turns); weight_change_T2: mean absolute
    difference of the weights at T = short_time_steps and at the model's own T. All modalities' utterances are
    pooled.
    """
    model.eval()
    weights, feature_softmax, short, lengths_per_utterance = [], [], [], []
    modalities = available_modalities(model, conversations)
    for batch in iterate_batches(conversations, 16, modalities, model.config.labels):
        batch = batch.to(device)
        lengths = batch.mask.sum(dim=1, keepdim=True).expand_as(batch.mask)
        for m, x in model.dswa_inputs(batch.features, batch.speakers, batch.mask).items():
            dswa = model.dswa[m]
            weights.append(dswa(x, batch.mask)[1][batch.mask])
            short.append(dswa(x, batch.mask, short_time_steps)[1][batch.mask])
            feature_softmax.append(masked_utterance_softmax(x, batch.mask).mean(dim=-1)[batch.mask])
            lengths_per_utterance.append(lengths[batch.mask])
    w, f, w_short, length = (
        torch.cat(t).double().cpu().numpy() for t in (weights, feature_softmax, short, lengths_per_utterance)
    )
    several = length >= 2
    uniform = 1.0 / length[several]
    return {
        "weight_feature_correlation": round(float(np.corrcoef(w, f)[0, 1]), 4),
        "weight_feature_correlation_multi_turn": round(float(np.corrcoef(w[several], f[several])[0, 1]), 4),
        "weight_feature_correlation_within_dialogue": round(
            float(np.corrcoef(w[several] - uniform, f[several] - uniform)[0, 1]), 4),
        "weight_change_T2": round(float(np.abs(w - w_short).mean()), 6),
    }


def dswa_effect(
    model: SpikEmoModel, conversations: list[Conversation], device: str | torch.device = "cpu"
) -> dict:
    """Predict `conversations` (which need gold emotions and features) as trained, with DSWA skipped and with
    its spikes silenced, and measure what the weights follow (see weight_statistics).

    Returns {"dswa_variant", "time_steps", "utterances", "changed_without_dswa",
    "changed_with_spikes_silenced", "changed_with_order_shuffled" (predictions whose label differs from the
    trained model's; the last with each dialogue's turns in a shuffled order, predict_order_shuffled),
    "weighted_f1": {"with_dswa", "without_dswa", "spikes_silenced", "order_shuffled"}, "order_shuffle_f1_drop"
    (with_dswa minus order_shuffled, points), the weight statistics,
    "scores": the same four as {"weighted_f1", "accuracy", "per_class_f1"} (percent),
    "mean_probability_shift_percent": {"without_dswa", "spikes_silenced", "order_shuffled"} (mean total-variation
    distance from
    the trained model's distribution), "weight_ratio_median": {modality: median over dialogues of >= 2 turns
    of max/min DSWA weight}}. The conversations keep the trained model's predictions.
    """
    if not model.config.use_dswa:
        raise ValueError("this model has no DSWA step to leave out")
    predict_conversations(model, conversations, device=device)
    ablations = {
        "without_dswa": predict_ablated(model, conversations, device, skip_dswa=True),
        "spikes_silenced": predict_ablated(model, conversations, device, silence_spikes=True),
        "order_shuffled": predict_order_shuffled(model, conversations, device),
    }
    trained = [u for c in conversations for u in c.utterances]
    flat = {name: [p for ps in predictions for p in ps] for name, predictions in ablations.items()}
    labelled = [i for i, u in enumerate(trained) if u.emotion is not None]
    gold = [trained[i].emotion for i in labelled]
    labels = model.config.labels
    scores = {"with_dswa": _scores(gold, [trained[i].prediction.emotion for i in labelled], labels)}
    scores |= {name: _scores(gold, [ps[i].emotion for i in labelled], labels) for name, ps in flat.items()}
    changed = {name: sum(u.prediction.emotion != p.emotion for u, p in zip(trained, ps)) for name, ps in flat.items()}
    modalities = list(trained[0].prediction.dswa_weights) if trained else []
    multi_turn = [c for c in conversations if len(c.utterances) >= 2]
    return {
        "dswa_variant": model.config.dswa_variant,
        "time_steps": model.config.time_steps,
        "utterances": len(trained),
        "changed_without_dswa": changed["without_dswa"],
        "changed_with_spikes_silenced": changed["spikes_silenced"],
        "changed_with_order_shuffled": changed["order_shuffled"],
        "weighted_f1": {name: s["weighted_f1"] for name, s in scores.items()},
        "order_shuffle_f1_drop": round(scores["with_dswa"]["weighted_f1"] - scores["order_shuffled"]["weighted_f1"],
                                       4),
        **weight_statistics(model, conversations, device),
        "scores": scores,
        "mean_probability_shift_percent": {
            name: round(100 * statistics.fmean(total_variation(u.prediction.probabilities, p.probabilities)
                                               for u, p in zip(trained, ps)), 3) if ps else 0.0
            for name, ps in flat.items()
        },
        "weight_ratio_median": {
            m: round(statistics.median(weight_ratio(c, m) for c in multi_turn), 3) for m in modalities if multi_turn
        },
    }
