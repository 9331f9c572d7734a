"""Score a checkpoint on any MELD-format CSV (train/dev/test or a user's own)."""

from pathlib import Path

import torch

from spikemo.data.conversation import Conversation
from spikemo.data.meld import read_meld_csv
from spikemo.errors import InputError
from spikemo.model.checkpoint import Checkpoint, load_checkpoint
from spikemo.runtime import pick_device
from spikemo.text.encoder import UtteranceEncoder
from spikemo.text.feature_cache import encode_cached
from spikemo.text.onnx_runtime import load_text_encoder
from spikemo.training.dswa_ablation import WithoutDSWA, compare_without_dswa
from spikemo.training.metrics import classification_metrics
from spikemo.training.predict import gold_and_predicted, predict_conversations


def encode_transcripts(
    conversations: list[Conversation], checkpoint: Checkpoint, device: torch.device, progress: bool = False,
    cached_from: Path | None = None, feature_cache: Path | None = None, text_encoder: UtteranceEncoder | None = None,
) -> bool:
    """Fill every utterance's text features with the checkpoint's own text encoder (`text_encoder` when the caller
    holds it loaded already, else loaded here as the app serves it: ONNX Runtime on a CPU). With `cached_from` (the
    file the conversations were read from), features that an earlier call made for the same file, encoder,
    runtime and kind of device are read back from the
    feature cache (spikemo.text.feature_cache; under `feature_cache`, else cache_dir()), and new ones are kept
    there; returns whether they came from the cache."""
    if checkpoint.text_encoder_dir is None:
        raise InputError("this checkpoint has no text encoder, so it cannot score a transcript on its own")
    encoder = text_encoder or load_text_encoder(checkpoint.text_encoder_dir, device)
    if cached_from is None:
        encoder.encode_conversations(conversations, progress=progress)
        return False
    # GPU and CPU features, and torch's and ONNX Runtime's, differ in the last bits: each has features of its own.
    return encode_cached(encoder, checkpoint.text_encoder_dir, conversations, cached_from, feature_cache, progress,
                         reading=f"{encoder.runtime} on {encoder.device.type}")


def score_csv(
    csv_path: str | Path, checkpoint: Checkpoint, device: torch.device | None = None, progress: bool = False,
    cache: bool = False, feature_cache: Path | None = None, text_encoder: UtteranceEncoder | None = None,
) -> tuple[list[Conversation], dict]:
    """Predict every utterance of a MELD-format CSV; returns the conversations (with predictions) and the
    metrics (metrics.classification_metrics plus n_dialogues, modalities_used and text_features_cached).
    cache: keep the text features (under `feature_cache`, else cache_dir()), and read them back when the same
    file is scored again; text_encoder: the checkpoint's, when the caller holds it (encode_transcripts)."""
    conversations = read_meld_csv(csv_path)
    device = device or next(checkpoint.model.parameters()).device
    cached = encode_transcripts(conversations, checkpoint, device, progress, Path(csv_path) if cache else None,
                                feature_cache, text_encoder)
    modalities = predict_conversations(checkpoint.model, conversations, device=device)
    gold, predicted = gold_and_predicted(conversations)
    if not gold:
        raise InputError(f"{Path(csv_path).name} has no Emotion labels to score against")
    metrics = classification_metrics(gold, predicted, checkpoint.config.labels)
    return conversations, {**metrics, "n_dialogues": len(conversations), "modalities_used": list(modalities),
                           "text_features_cached": cached}


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


def score_csv_and_without_dswa(
    csv_path: str | Path, checkpoint: Checkpoint, device: torch.device, text_encoder: UtteranceEncoder | None = None,
    feature_cache: Path | None = None, progress: bool = False,
) -> tuple[list[Conversation], dict, WithoutDSWA | None]:
    """A CSV scored for inspection: `score_csv` with the text features cached, then every turn predicted again
    with the DSWA step skipped (None for a checkpoint without DSWA)."""
    conversations, metrics = score_csv(csv_path, checkpoint, device, progress, cache=True,
                                       feature_cache=feature_cache, text_encoder=text_encoder)
    without = compare_without_dswa(checkpoint.model, conversations, device) if checkpoint.config.use_dswa else None
    return conversations, metrics, without
