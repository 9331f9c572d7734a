"""Checkpoints are folders: model.safetensors + config.json + README.md (model card) [+ text_encoder/].

No pickle anywhere: weights are safetensors, everything else is JSON. Loading validates the folder and
refuses a mismatch with a message that says what is wrong.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from spikemo.config import SpikEmoConfig
from spikemo.errors import CheckpointError
from spikemo.model import SpikEmoModel

CHECKPOINT_FORMAT = "spikemo-checkpoint"
CHECKPOINT_VERSION = 1
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CHECKPOINT = REPO_ROOT / "assets" / "checkpoints" / "spikemo-meld-text"

TEXT_ENCODER_FOLDER = "text_encoder"


def repo_relative(path: str | Path) -> str:
    """`path` relative to the repository when it lies inside it (for reports that travel), else as given."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(REPO_ROOT)) if resolved.is_relative_to(REPO_ROOT) else str(path)


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

    text_encoder: an object with save_pretrained(directory) (spikemo.text_encoder.TextEncoder) or None.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # Parameters are stored as `dtype`; buffers (feature statistics: openSMILE values reach 1e5) stay float32.
    parameters = dict(model.named_parameters())
    state = {
        name: (t.to(dtype) if name in parameters else t).detach().cpu().contiguous()
        for name, t in model.state_dict().items()
    }
    save_file(state, directory / "model.safetensors")
    if text_encoder is not None:
        text_encoder.save_pretrained(directory / TEXT_ENCODER_FOLDER, dtype=dtype)
    config = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        **metadata,
        "model": model.config.to_dict(),
        "text_encoder": TEXT_ENCODER_FOLDER if text_encoder is not None else None,
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (directory / "README.md").write_text(model_card)
    return directory


def update_checkpoint_metadata(directory: str | Path, updates: dict, model_card: str) -> None:
    """Merge `updates` into an existing checkpoint's config.json and rewrite its model card."""
    directory = Path(directory)
    config = _read_config(directory)
    config.update(updates)
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (directory / "README.md").write_text(model_card)


def load_checkpoint(directory: str | Path | None = None, device: str | torch.device = "cpu") -> Checkpoint:
    """Load and validate a checkpoint folder (default: the shipped MELD checkpoint)."""
    directory = Path(directory) if directory is not None else DEFAULT_CHECKPOINT
    metadata = _read_config(directory)
    try:
        config = SpikEmoConfig.from_dict(metadata["model"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{directory}/config.json has no valid model config: {error}") from error
    model = SpikEmoModel(config)
    state = load_file(directory / "model.safetensors")
    _check_state_matches(model, state, directory)
    model.load_state_dict({name: t.float() if t.is_floating_point() else t for name, t in state.items()})
    folder = metadata.get("text_encoder")
    if folder and not (directory / folder).is_dir():
        raise CheckpointError(f"{directory} names a text encoder folder '{folder}' that is not there")
    return Checkpoint(model=model.to(device).eval(), metadata=metadata, directory=directory)


def _read_config(directory: Path) -> dict:
    if not directory.is_dir():
        raise CheckpointError(f"no checkpoint folder at {directory}")
    for name in ("config.json", "model.safetensors"):
        if not (directory / name).is_file():
            raise CheckpointError(f"{directory} is not a SpikEmo checkpoint: {name} is missing")
    try:
        metadata = json.loads((directory / "config.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{directory}/config.json is not valid JSON: {error}") from error
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{directory}/config.json is not a SpikEmo checkpoint config (format field)")
    if metadata.get("format_version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{directory} has checkpoint format version {metadata.get('format_version')}, "
            f"this SpikEmo reads version {CHECKPOINT_VERSION}"
        )
    return metadata


def _check_state_matches(model: SpikEmoModel, state: dict[str, torch.Tensor], directory: Path) -> None:
    """Refuse weights that do not fit the model config.json describes, saying which tensors differ."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    reshaped = sorted(n for n in set(expected) & set(state) if expected[n].shape != state[n].shape)
    if missing or unexpected or reshaped:
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if reshaped:
            name = reshaped[0]
            problems.append(
                f"{len(reshaped)} with another shape (e.g. {name}: file {tuple(state[name].shape)}, "
                f"config {tuple(expected[name].shape)})"
            )
        raise CheckpointError(
            f"the weights in {directory}/model.safetensors do not match its config.json: " + "; ".join(problems)
        )
