"""Score a checkpoint on any MELD-format CSV (train/dev/test or a user's own)."""

from pathlib import Path

import torch

from spikemo.data.conversation import Conversation
from spikemo.data.meld import read_meld_csv
from spikemo.errors import InputError
from spikemo.model.checkpoint import Checkpoint, load_checkpoint
from spikemo.runtime import pick_device
from spikemo.text.encoder import TextEncoder
from spikemo.training.metrics import classification_metrics
from spikemo.training.predict import gold_and_predicted, predict_conversations


def encode_transcripts(
    conversations: list[Conversation], checkpoint: Checkpoint, device: torch.device, progress: bool = False
) -> None:
    """Fill every utterance's text features with the checkpoint's own text encoder."""
    if checkpoint.text_encoder_dir is None:
        raise InputError("this checkpoint has no text encoder, so it cannot score a transcript on its own")
    encoder = TextEncoder.from_pretrained(str(checkpoint.text_encoder_dir), device=device)
    encoder.encode_conversations(conversations, progress=progress)


def predict_transcripts(
    conversations: list[Conversation], checkpoint: Checkpoint, device: torch.device, progress: bool = False
) -> tuple[str, ...]:
    """Text features from the checkpoint's own encoder, then SpikEmo; returns the modalities used."""
    encode_transcripts(conversations, checkpoint, device, progress)
    return predict_conversations(checkpoint.model, conversations, device=device)


def score_csv(
    csv_path: str | Path, checkpoint: Checkpoint, device: torch.device | None = None, progress: bool = False
) -> tuple[list[Conversation], dict]:
    """Predict every utterance of a MELD-format CSV; returns the conversations (with predictions) and the
    metrics (metrics.classification_metrics plus n_dialogues and modalities_used)."""
    conversations = read_meld_csv(csv_path)
    device = device or next(checkpoint.model.parameters()).device
    modalities = predict_transcripts(conversations, checkpoint, device, progress=progress)
    gold, predicted = gold_and_predicted(conversations)
    if not gold:
        raise InputError(f"{Path(csv_path).name} has no Emotion labels to score against")
    metrics = classification_metrics(gold, predicted, checkpoint.config.labels)
    return conversations, {**metrics, "n_dialogues": len(conversations), "modalities_used": list(modalities)}


def evaluate_csv(
    csv_path: str | Path,
    checkpoint_dir: str | Path | None = None,
    device: str | None = None,
    progress: bool = False,
) -> dict:
    """Weighted F1 / accuracy / per-class F1 (percent) of the checkpoint on the CSV's labelled utterances."""
    torch_device = pick_device(device)
    checkpoint = load_checkpoint(checkpoint_dir, device=torch_device)
    _, metrics = score_csv(csv_path, checkpoint, torch_device, progress=progress)
    return {
        **metrics,
        "checkpoint": str(checkpoint.directory),
        "csv": str(csv_path),
    }
