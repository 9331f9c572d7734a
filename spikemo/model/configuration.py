"""Configuration dataclasses: everything needed to rebuild a model, its loss and its training run.

Each config round-trips through JSON (`to_dict` -> json -> `from_dict`); tuples come back as tuples.
The presets carry the paper's values (DESIGN.md, "Training").
"""

from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

from spikemo.data.labels import IEMOCAP_LABELS, MELD_LABELS, MODALITIES

# Per-utterance feature sizes of the extractors this project ships: all-MiniLM-L6-v2 sentence embeddings,
# openSMILE ComParE_2016 functionals, and the 16-d face-expression summary of the video pipeline.
DEFAULT_INPUT_DIMS: dict[str, int] = {"text": 384, "audio": 6373, "visual": 16}

_Config = TypeVar("_Config")


def _to_dict(config: Any) -> dict:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(config).items()}


def _from_dict(cls: type[_Config], data: dict) -> _Config:
    """Build `cls` from a JSON-like dict (each class's __post_init__ turns lists back into tuples)."""
    unknown = sorted(set(data) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    return cls(**data)


@dataclass
class SpikEmoConfig:
    """The SpikEmo network (spikemo/model.py).

    modalities: the modalities the model is built for (a subset of text/audio/visual, in that order).
    input_dims: per-utterance feature size per modality; only keys in `modalities` matter.
    max_speakers: local speaker index inside a dialogue is clamped to max_speakers - 1.
    context_modalities: which of `modalities` pass the DialogueRNN-style context encoder.
    time_steps, spikformer_*, lif_*: the DSWA spiking encoder (T, depth, heads, LIF tau and threshold).
    fusion_*: the MultiAttn cross-modal fusion (layers, heads, feed-forward width).
    """

    labels: tuple[str, ...] = MELD_LABELS
    modalities: tuple[str, ...] = MODALITIES
    input_dims: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_INPUT_DIMS))
    hidden_size: int = 256
    max_speakers: int = 9
    use_speaker_embedding: bool = True
    context_modalities: tuple[str, ...] = ("audio", "visual")
    use_dswa: bool = True
    time_steps: int = 32
    spikformer_layers: int = 2
    spikformer_heads: int = 8
    spikformer_mlp_ratio: int = 4
    lif_tau: float = 2.0
    lif_threshold: float = 1.0
    fusion_layers: int = 6
    fusion_heads: int = 4
    fusion_ffn: int = 1024
    dropout: float = 0.1

    def __post_init__(self) -> None:
        self.labels = tuple(self.labels)
        self.modalities = tuple(self.modalities)
        self.context_modalities = tuple(self.context_modalities)
        self.input_dims = {str(m): int(d) for m, d in self.input_dims.items()}
        self.lif_tau, self.lif_threshold = float(self.lif_tau), float(self.lif_threshold)  # JSON may give ints
        if len(self.labels) < 2:
            raise ValueError(f"need at least two labels, got {self.labels}")
        for name, group in (("modalities", self.modalities), ("context_modalities", self.context_modalities)):
            unknown = [m for m in group if m not in MODALITIES]
            if unknown:
                raise ValueError(f"{name} has unknown modality {unknown}; known: {', '.join(MODALITIES)}")
        if not self.modalities or len(set(self.modalities)) != len(self.modalities):
            raise ValueError(f"modalities must be a non-empty list without repeats, got {self.modalities}")
        if list(self.modalities) != [m for m in MODALITIES if m in self.modalities]:
            raise ValueError(f"modalities must be in the order {MODALITIES}, got {self.modalities}")
        missing = [m for m in self.modalities if self.input_dims.get(m, 0) <= 0]
        if missing:
            raise ValueError(f"input_dims needs a positive size for {missing}, got {self.input_dims}")
        for heads_name in ("spikformer_heads", "fusion_heads"):
            if self.hidden_size % getattr(self, heads_name):
                raise ValueError(f"hidden_size {self.hidden_size} is not divisible by {heads_name}")
        if min(self.time_steps, self.max_speakers, self.spikformer_layers, self.spikformer_mlp_ratio) < 1:
            raise ValueError("time_steps, max_speakers, spikformer_layers and spikformer_mlp_ratio must be >= 1")
        if self.lif_tau <= 1.0:
            raise ValueError(f"lif_tau must be > 1 (LIF decay 1/tau), got {self.lif_tau}")

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def to_dict(self) -> dict:
        return _to_dict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SpikEmoConfig":
        return _from_dict(cls, data)


@dataclass
class LossConfig:
    """L = CE + dice_weight * L_DSC + corr_weight * L_corr (each extra term switchable for ablations).

    corr: Soft-HGR summed over modality pairs and divided by the feature width h. Unnormalised, it grows
    with h: on a fresh meld_preset model (h=256, T=8, 8 random dialogues of 20 utterances) the three pairs gave
    +121 with a gradient norm of 846, against CE 1.95 with gradient norm 0.48, so any O(1) weight would let
    it drown the classification signal. Per dimension it is 0.48 (gradient 3.2), and corr_weight = 0.1
    puts its gradient (0.32) on the scale of CE's: an alignment regulariser, not the objective.
    """

    use_dice: bool = True
    dice_weight: float = 1.0
    dice_alpha: float = 1.5
    dice_gamma: float = 0.5
    use_corr: bool = True
    corr_weight: float = 0.1

    def to_dict(self) -> dict:
        return _to_dict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "LossConfig":
        return _from_dict(cls, data)


@dataclass
class TrainConfig:
    """Adam with step learning-rate decay (lr x lr_decay every lr_decay_every epochs); batches of dialogues."""

    learning_rate: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 1e-5
    lr_decay: float = 0.95
    lr_decay_every: int = 10
    epochs: int = 50
    batch_size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)

    def to_dict(self) -> dict:
        return _to_dict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        return _from_dict(cls, data)


def meld_preset() -> tuple[SpikEmoConfig, LossConfig, TrainConfig]:
    """The paper's MELD set-up: 7 labels, all three modalities, batch of 64 dialogues."""
    return SpikEmoConfig(labels=MELD_LABELS), LossConfig(), TrainConfig(batch_size=64)


def iemocap_preset() -> tuple[SpikEmoConfig, LossConfig, TrainConfig]:
    """The paper's IEMOCAP set-up: 6 labels, two speakers per dialogue, batch of 32 dialogues."""
    return SpikEmoConfig(labels=IEMOCAP_LABELS), LossConfig(), TrainConfig(batch_size=32)
