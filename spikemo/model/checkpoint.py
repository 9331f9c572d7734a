"""Checkpoints are folders: model.safetensors + config.json + README.md (model card) [+ text_encoder/].

A checkpoint is a saved SpikEmoModel (SpikEmoModel.save_pretrained) plus what serving needs beside it: the
training metadata in config.json, the model card, and the fine-tuned text encoder. No pickle anywhere:
weights are safetensors, everything else is JSON. Loading validates the folder and refuses a mismatch
with a message that says what is wrong.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from spikemo.errors import CheckpointError
from spikemo.model.configuration import SpikEmoConfig
from spikemo.model.modeling import CONFIG_NAME, SpikEmoModel, read_pretrained_config
from spikemo.paths import DEFAULT_CHECKPOINT

TEXT_ENCODER_FOLDER = "text_encoder"
MODEL_CARD_NAME = "README.md"


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model (eval mode, float32) and everything config.json says about it."""

    model: SpikEmoModel
    metadata: dict
    directory: Path

    @property
    def config(self) -> SpikEmoConfig:
        return self.model.config

    @property
    def text_encoder_dir(self) -> Path | None:
        """The fine-tuned text encoder saved beside the model, if the checkpoint has one."""
        folder = self.metadata.get("text_encoder")
        return self.directory / folder if folder else None


def save_checkpoint(
    directory: str | Path,
    model: SpikEmoModel,
    metadata: dict,
    model_card: str,
    text_encoder=None,
    dtype: torch.dtype = torch.float16,
) -> Path:
    """Write the model (stored as `dtype`), config.json (metadata + model config) and the model card.

    text_encoder: an object with save_pretrained(directory, dtype) (spikemo.text.encoder.TextEncoder) or None.
    """
    directory = Path(directory)
    folder = TEXT_ENCODER_FOLDER if text_encoder is not None else None
    model.save_pretrained(directory, {**metadata, "text_encoder": folder}, dtype=dtype)
    if text_encoder is not None:
        text_encoder.save_pretrained(directory / TEXT_ENCODER_FOLDER, dtype=dtype)
    (directory / MODEL_CARD_NAME).write_text(model_card)
    return directory


def update_checkpoint_metadata(directory: str | Path, updates: dict, model_card: str) -> None:
    """Merge `updates` into an existing checkpoint's config.json and rewrite its model card."""
    directory = Path(directory)
    config = read_pretrained_config(directory)
    config.update(updates)
    (directory / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    (directory / MODEL_CARD_NAME).write_text(model_card)


@dataclass(frozen=True)
class CheckpointSummary:
    """What a checkpoint's config.json says about it, read without loading the weights: the modalities it was
    trained on and, when its metadata records them, its dev weighted F1 and what DSWA decides on dev (the
    headline figures of spikemo.training.dswa_ablation.dswa_effect, kept by `train.dswa_effect --record`)."""

    modalities: tuple[str, ...]
    dev_weighted_f1: float | None
    dswa_effect: dict | None = None


def read_checkpoint_summary(directory: str | Path) -> CheckpointSummary:
    """The trained modalities and recorded dev weighted F1 of a checkpoint folder; CheckpointError when the
    folder is not a readable checkpoint."""
    metadata = read_pretrained_config(directory)
    model = metadata.get("model")
    modalities = model.get("modalities") if isinstance(model, dict) else None
    if not isinstance(modalities, list) or not modalities:
        raise CheckpointError(f"{directory}/{CONFIG_NAME} names no modalities in its model config")
    metrics = metadata.get("metrics")
    dev = metrics.get("dev") if isinstance(metrics, dict) else None
    dev_f1 = metadata.get("dev_weighted_f1") or (dev.get("weighted_f1") if isinstance(dev, dict) else None)
    effect = metadata.get("dswa_effect")
    return CheckpointSummary(tuple(modalities), float(dev_f1) if isinstance(dev_f1, (int, float)) else None,
                             effect if isinstance(effect, dict) else None)


def load_checkpoint(directory: str | Path | None = None, device: str | torch.device = "cpu") -> Checkpoint:
    """Load and validate a checkpoint folder (default: the shipped MELD checkpoint)."""
    directory = Path(directory) if directory is not None else DEFAULT_CHECKPOINT
    metadata = read_pretrained_config(directory)
    model = SpikEmoModel.from_pretrained(directory)
    folder = metadata.get("text_encoder")
    if folder and not (directory / folder).is_dir():
        raise CheckpointError(f"{directory} names a text encoder folder '{folder}' that is not there")
    return Checkpoint(model=model.to(device), metadata=metadata, directory=directory)


def sibling_checkpoints(checkpoint_dir: str | Path) -> list[Path]:
    """The other checkpoint folders (each holding a config.json) beside `checkpoint_dir`, sorted: the candidates
    to compare a checkpoint with."""
    checkpoint_dir = Path(checkpoint_dir)
    folder = checkpoint_dir.parent
    if not folder.is_dir():
        return []
    own = checkpoint_dir.resolve()
    return sorted(p for p in folder.iterdir() if (p / CONFIG_NAME).is_file() and p.resolve() != own)
