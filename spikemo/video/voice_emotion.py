"""Emotion from the voice alone: a small classifier over the pipeline's own openSMILE functionals.

Input: the utterance's openSMILE features as the pipeline extracts them (spikemo.video.audio_features):
ComParE_2016 functionals [6373], optionally followed by the eGeMAPSv02 functionals [88] (the config's
`feature_set`, "compare" or "compare+egemaps"). Model: standardisation (mean and std stored in the asset),
then either a linear layer (hidden = 0) or one hidden ReLU layer with dropout, to MELD-label logits.
Output: probabilities over the config's labels (MELD_LABELS order).

An asset is a folder: model.safetensors (the tensors, float32), config.json (VoiceEmotionConfig plus the
weights' SHA-256) and README.md (the model card: data, licence, limits). Loading checks the checksum, the
config keys, the labels and every tensor's shape and finiteness, and refuses anything else with a
CheckpointError. The shipped asset (assets/voice/ravdess-compare) is trained on RAVDESS's acted speech
(CC BY-NC-SA 4.0) by `python -m train.voice`.

`clip_features` reads RAVDESS clips (spikemo.data.ravdess) and extracts their features, caching them per
clip under spikemo.paths.cache_dir() (never inside the repository).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from spikemo.data.labels import MELD_LABELS
from spikemo.data.ravdess import RavdessClip, read_clip
from spikemo.errors import CheckpointError, InputError
from spikemo.integrity import read_verified_bytes, sha256_of
from spikemo.paths import ASSETS_DIR, cache_dir
from spikemo.serialization import JsonDataclass
from spikemo.video.audio_features import COMPARE_DIM, EGEMAPS_DIM, AudioFeatureExtractor

DEFAULT_VOICE_MODEL = ASSETS_DIR / "voice" / "ravdess-compare"
FEATURE_SETS: dict[str, int] = {"compare": COMPARE_DIM, "compare+egemaps": COMPARE_DIM + EGEMAPS_DIM}
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


@dataclass
class VoiceEmotionConfig(JsonDataclass):
    """The classifier's shape and what it was trained on (the training facts travel with the weights)."""

    feature_set: str = "compare"
    hidden: int = 0  # 0: linear (multinomial logistic regression); else one hidden ReLU layer of this width
    dropout: float = 0.0  # on the hidden layer (and the standardised input) while training
    labels: tuple[str, ...] = MELD_LABELS
    calm: str = "neutral"  # how RAVDESS's calm clips were treated: "neutral" or "drop"
    trained_on: str = ""  # plain words: the data, e.g. "RAVDESS speech, actors 01-20 (1200 clips)"
    training: dict = field(default_factory=dict)  # optimiser settings, folds, scores

    def __post_init__(self) -> None:
        self.labels = tuple(self.labels)
        if self.feature_set not in FEATURE_SETS:
            raise ValueError(f"feature_set must be one of {', '.join(FEATURE_SETS)}, got {self.feature_set!r}")
        if not set(self.labels) <= set(MELD_LABELS) or len(set(self.labels)) != len(self.labels) \
                or len(self.labels) < 2:
            raise ValueError(f"labels must be at least two distinct MELD labels, got {self.labels}")
        if self.hidden < 0 or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"hidden must be >= 0 and dropout in [0, 1), got {self.hidden}, {self.dropout}")

    @property
    def input_dim(self) -> int:
        return FEATURE_SETS[self.feature_set]


class VoiceEmotionNet(nn.Module):
    """Standardised features [N, D] -> logits [N, len(labels)]."""

    def __init__(self, config: VoiceEmotionConfig) -> None:
        super().__init__()
        self.config = config
        d = config.input_dim
        self.register_buffer("mean", torch.zeros(d))
        self.register_buffer("scale", torch.ones(d))
        self.dropout = nn.Dropout(config.dropout)
        if config.hidden:
            self.hidden = nn.Linear(d, config.hidden)
            self.out = nn.Linear(config.hidden, len(config.labels))
        else:
            self.hidden = None
            self.out = nn.Linear(d, len(config.labels))

    def set_standardisation(self, features: np.ndarray) -> None:
        """Mean and std from training features [N, D]; constant features get scale 1 (they stay 0)."""
        mean = features.mean(axis=0)
        std = features.std(axis=0)
        std[std < 1e-8] = 1.0
        self.mean.copy_(torch.from_numpy(mean.astype(np.float32)))
        self.scale.copy_(torch.from_numpy(std.astype(np.float32)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # Clipped, so a feature far outside the training range (other microphones, other rooms) cannot dominate.
        x = ((features - self.mean) / self.scale).clamp(-10.0, 10.0)
        x = self.dropout(x)
        if self.hidden is not None:
            x = self.dropout(torch.relu(self.hidden(x)))
        return self.out(x)


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 60
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-2
    label_smoothing: float = 0.1
    seed: int = 0


def fit(features: np.ndarray, labels: np.ndarray, config: VoiceEmotionConfig,
        settings: TrainSettings | None = None) -> VoiceEmotionNet:
    """Train a VoiceEmotionNet on features [N, D] and label indices [N] (into config.labels); AdamW,
    mini-batches, cross-entropy with label smoothing. Deterministic for a given seed (one thread)."""
    settings = settings or TrainSettings()
    torch.manual_seed(settings.seed)
    net = VoiceEmotionNet(config)
    net.set_standardisation(features)
    x = torch.from_numpy(np.asarray(features, dtype=np.float32))
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    optimiser = torch.optim.AdamW(net.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=settings.label_smoothing)
    generator = torch.Generator().manual_seed(settings.seed)
    net.train()
    for _ in range(settings.epochs):
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), settings.batch_size):
            idx = order[start:start + settings.batch_size]
            optimiser.zero_grad()
            loss_fn(net(x[idx]), y[idx]).backward()
            optimiser.step()
    return net.eval()


@torch.inference_mode()
def predict_proba(net: VoiceEmotionNet, features: np.ndarray) -> np.ndarray:
    """Probabilities [N, len(labels)] for features [N, D] (float32), computed on the net's device."""
    device = next(net.parameters()).device
    x = torch.from_numpy(np.asarray(features, dtype=np.float32)).to(device)
    with torch.inference_mode():
        return torch.softmax(net.eval()(x), dim=-1).cpu().numpy().astype(np.float32)


def save_voice_model(net: VoiceEmotionNet, directory: str | Path, model_card: str) -> Path:
    """Write model.safetensors, config.json (with the weights' SHA-256) and README.md into `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().float().contiguous().cpu() for name, tensor in net.state_dict().items()}
    blob = save_safetensors(state)
    (directory / WEIGHTS_FILE).write_bytes(blob)
    config = {**net.config.to_dict(), "weights_sha256": sha256_of([directory / WEIGHTS_FILE])}
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (directory / "README.md").write_text(model_card, encoding="utf-8")
    return directory


class VoiceEmotionModel:
    """A loaded voice-emotion asset: features -> probabilities over MELD labels."""

    def __init__(self, directory: str | Path | None = None, device: str | torch.device = "cpu") -> None:
        self.directory = Path(directory) if directory is not None else DEFAULT_VOICE_MODEL
        config_path = self.directory / CONFIG_FILE
        if not self.directory.is_dir() or not config_path.is_file():
            raise CheckpointError(
                f"voice-emotion model not found: {self.directory} needs {CONFIG_FILE} and {WEIGHTS_FILE} "
                "(train one with python -m train.voice --data DIR)"
            )
        try:
            raw = json.loads(config_path.read_text(encoding="utf-8"))
            expected_sha = raw.pop("weights_sha256")
            self.config = VoiceEmotionConfig.from_dict(raw)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise CheckpointError(f"cannot read voice-emotion config {config_path}: {error}") from error
        state = load_safetensors(read_verified_bytes(self.directory / WEIGHTS_FILE, expected_sha))
        self.net = VoiceEmotionNet(self.config)
        try:
            self.net.load_state_dict(state)
        except RuntimeError as error:
            raise CheckpointError(f"voice-emotion weights do not fit their config {config_path}: {error}") from error
        if not all(torch.isfinite(t).all() for t in state.values()) or (self.net.scale <= 0).any():
            raise CheckpointError(f"voice-emotion weights in {self.directory} hold non-finite or invalid values")
        self.net.to(device).eval()
        self.labels = self.config.labels

    @property
    def feature_set(self) -> str:
        return self.config.feature_set

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """features [N, D] (or one [D]) -> probabilities [N, len(labels)] (or [len(labels)])."""
        features = np.asarray(features, dtype=np.float32)
        single = features.ndim == 1
        features = features[None] if single else features
        if features.ndim != 2 or features.shape[1] != self.config.input_dim:
            raise InputError(
                f"the voice-emotion model expects {self.config.input_dim}-d features ({self.config.feature_set}), "
                f"got shape {features.shape}"
            )
        probs = predict_proba(self.net, np.nan_to_num(features, nan=0.0, posinf=0.0, neginf=0.0))
        return probs[0] if single else probs

    def predict(self, features: np.ndarray) -> tuple[str, dict[str, float]]:
        """One utterance's features [D] -> (the most likely label, label -> probability)."""
        probs = self.predict_proba(np.asarray(features).reshape(-1))
        return self.labels[int(np.argmax(probs))], {label: float(p) for label, p in zip(self.labels, probs)}


def combine_features(compare: np.ndarray, egemaps: np.ndarray | None, feature_set: str) -> np.ndarray:
    """The model's input from the pipeline's features: ComParE [.., 6373] (+ eGeMAPS [.., 88])."""
    if feature_set == "compare":
        return np.asarray(compare, dtype=np.float32)
    if egemaps is None:
        raise InputError(f"feature set {feature_set} needs the eGeMAPS functionals")
    return np.concatenate([compare, egemaps], axis=-1).astype(np.float32)


def _cache_key(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:24]


def clip_features(clips: list[RavdessClip], extractor: AudioFeatureExtractor | None = None,
                  cache: str | Path | None = None, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """ComParE [N, 6373] and eGeMAPS [N, 88] features of the clips, computed once and cached per clip
    (keyed by path, size and modification time) under `cache` (default: cache_dir()/voice-features)."""
    cache = Path(cache) if cache is not None else cache_dir() / "voice-features"
    compare = np.zeros((len(clips), COMPARE_DIM), dtype=np.float32)
    egemaps = np.zeros((len(clips), EGEMAPS_DIM), dtype=np.float32)
    iterator = enumerate(clips)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, total=len(clips), desc="voice features", unit="clip")
    for i, clip in iterator:
        cached = cache / f"{_cache_key(clip.path)}.npz"
        if cached.is_file():
            try:
                with np.load(cached) as stored:
                    compare[i], egemaps[i] = stored["compare"], stored["egemaps"]
                continue
            except (OSError, ValueError, KeyError):
                pass  # a damaged cache entry is recomputed
        if extractor is None:
            extractor = AudioFeatureExtractor()
        samples = read_clip(clip.path, extractor.config.sample_rate)
        compare[i] = extractor.extract(samples, extractor.config.sample_rate)
        egemaps[i] = extractor.egemaps(samples, extractor.config.sample_rate)
        try:
            cache.mkdir(parents=True, exist_ok=True)
            np.savez(cached, compare=compare[i], egemaps=egemaps[i])
        except OSError:
            pass  # no cache, no harm
    return compare, egemaps


def evaluate_voice(data_dir: str | Path, model_dir: str | Path | None = None, progress: bool = False) -> dict:
    """Score a voice-emotion asset on every RAVDESS clip under `data_dir` (its own calm policy).

    Returns accuracy, weighted_f1 and per_class_f1 (percent), n_clips, calm (how calm clips were treated),
    the model folder and the confusion matrix (gold rows, predicted columns, in the model's label order).
    """
    from spikemo.data.ravdess import find_clips
    from spikemo.training.metrics import classification_metrics

    find_clips(data_dir)  # a bad folder fails before the model loads
    model = VoiceEmotionModel(model_dir)
    clips = find_clips(data_dir, calm=model.config.calm)
    unknown = sorted({clip.label for clip in clips} - set(model.labels))
    if unknown:
        raise InputError(f"the clips hold labels the model cannot predict: {', '.join(unknown)}")
    compare, egemaps = clip_features(clips, progress=progress)
    probs = model.predict_proba(combine_features(compare, egemaps, model.feature_set))
    predicted = [model.labels[i] for i in probs.argmax(axis=1)]
    metrics = classification_metrics([clip.label for clip in clips], predicted, model.labels)
    calm = {"neutral": "calm clips scored as neutral (calm has no MELD label)",
            "drop": "calm clips left out"}[model.config.calm]
    return {
        "accuracy": metrics["accuracy"],
        "weighted_f1": metrics["weighted_f1"],
        "per_class_f1": metrics["per_class_f1"],
        "n_clips": len(clips),
        "calm": calm,
        "actors": sorted({clip.actor for clip in clips}),
        "model": str(model.directory),
        "trained_on": model.config.trained_on,
        "confusion": metrics["confusion"],
    }
