"""Run a SpikEmo model over conversations and write each utterance's Prediction."""

from collections.abc import Sequence

import torch

from spikemo.data.batching import iterate_batches, modalities_by_conversation
from spikemo.data.conversation import Conversation, Prediction
from spikemo.model.modeling import SpikEmoModel, SpikEmoOutput


def available_modalities(model: SpikEmoModel, conversations: Sequence[Conversation]) -> tuple[str, ...]:
    """The model's modalities that every utterance of `conversations` has features for, in model order."""
    return tuple(
        m
        for m in model.config.modalities
        if all(m in u.features for c in conversations for u in c.utterances)
    )


@torch.inference_mode()
def predict_conversations(
    model: SpikEmoModel,
    conversations: Sequence[Conversation],
    batch_size: int = 16,
    device: str | torch.device = "cpu",
    return_traces: bool = False,
    skip_dswa: bool = False,
) -> tuple[str, ...]:
    """Fill `utterance.prediction` for every utterance; returns the modalities the model used.

    Each dialogue is read with the model's modalities it carries (a transcript without audio beside a clip
    with audio: see iterate_batches); the result lists every modality used for at least one dialogue.
    Spike rates per time step are recorded only with return_traces (they cost memory on big files);
    skip_dswa runs the model with its DSWA step left out (see SpikEmoModel.forward).
    """
    groups = modalities_by_conversation(conversations, model.config.modalities)
    model.eval()
    by_id = {c.conversation_id: c for c in conversations}
    for batch in iterate_batches(conversations, batch_size, model.config.modalities, model.config.labels):
        batch = batch.to(device)
        output = model(batch.features, batch.speakers, batch.mask, return_traces=return_traces, skip_dswa=skip_dswa)
        for b, conversation_id in enumerate(batch.conversation_ids):
            write_predictions(by_id[conversation_id], output, b, model.config.labels)
    return tuple(m for m in model.config.modalities if any(m in group for group in groups))


def write_predictions(conversation: Conversation, output: SpikEmoOutput, b: int, labels: Sequence[str]) -> None:
    """Set the Prediction of every utterance of `conversation`, which is row `b` of the model's batch."""
    probabilities = output.logits[b].float().softmax(-1).cpu()
    for i, utterance in enumerate(conversation.utterances):
        probs = probabilities[i].tolist()
        utterance.prediction = Prediction(
            emotion=labels[int(probabilities[i].argmax())],
            probabilities={label: round(p, 6) for label, p in zip(labels, probs)},
            dswa_weights={m: float(w[b, i]) for m, w in output.dswa_weights.items()},
            spike_rates={name: r[:, b, i].float().cpu().tolist() for name, r in output.spike_rates.items()},
        )


def gold_and_predicted(conversations: Sequence[Conversation]) -> tuple[list[str], list[str]]:
    """Gold and predicted labels of every utterance that has both."""
    pairs = [
        (u.emotion, u.prediction.emotion)
        for c in conversations
        for u in c.utterances
        if u.emotion is not None and u.prediction is not None
    ]
    return [g for g, _ in pairs], [p for _, p in pairs]
