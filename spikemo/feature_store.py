"""A feature store of per-utterance features extracted from MELD-style raw clips, for training SpikEmo.

MELD ships one clip per utterance, `{clips}/dia{Dialogue_ID}_utt{Utterance_ID}.mp4`, beside a CSV of its
transcripts (one store per split: dialogue ids repeat across train/dev/test). Extraction uses the same
extractors as the video pipeline, so a model trains on the features it will see when serving:
  audio   openSMILE ComParE_2016 functionals of the clip's audio (6373-d)
  visual  face-expression summary of frames sampled in the clip (16-d)
  text    the text encoder over the CSV's dialogues, with dialogue context

Layout: `{store}/{modality}/dia{D}.safetensors`, one small file per dialogue and modality holding
  features       float32 [n, dim]  (zeros where the clip could not be used)
  present        uint8 [n]         1 where the features were extracted
  utterance_ids  int64 [n]         the CSV's Utterance_IDs, in dialogue order
and metadata (JSON strings) naming the source and every failed clip with its reason. Each file is written
to a temporary name and renamed, so a file that exists is complete: that is what makes extraction resumable
(existing files are skipped) and safe to shard over processes or machines writing the same folder (shard
i of n owns the dialogues with id % n == i, so no two shards write one file). The files themselves are the
manifest: `summarize_store` reads their metadata.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from spikemo.audio_features import AudioFeatureConfig, AudioFeatureExtractor
from spikemo.conversation import Conversation
from spikemo.data.meld import read_meld_csv
from spikemo.errors import InputError, SpikEmoError
from spikemo.files import sha256_of
from spikemo.labels import MODALITIES
from spikemo.media import MediaConfig, load_audio, probe_video
from spikemo.pipeline import visual_features_for_span
from spikemo.runtime import torch_threads
from spikemo.text_encoder import TextEncoder
from spikemo.visual_features import VisualFeatureConfig, VisualFeatureExtractor

STORE_FORMAT = "spikemo-feature-store/1"
CLIP_MODALITIES: tuple[str, ...] = ("audio", "visual")


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (0-based) owns the dialogues whose integer id % count == index."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise InputError(f"shard {self.index}/{self.count}: need 0 <= index < count")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """'I/N' (0-based index, e.g. '0/4' .. '3/4') -> Shard."""
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise InputError(f"shard '{text}' is not of the form I/N, e.g. 0/4") from None
        return cls(index, count)

    def owns(self, conversation_id: str) -> bool:
        try:
            return int(conversation_id) % self.count == self.index
        except ValueError:
            raise InputError(f"dialogue id '{conversation_id}' is not an integer; cannot shard by it") from None


@dataclass
class ExtractionConfig:
    """How clips become features. feature_threads: torch threads for the expression CNN (tiny batches).
    retry_failed: re-extract dialogues whose files record failed clips (e.g. after fixing a clip)."""

    media: MediaConfig = field(default_factory=MediaConfig)
    audio: AudioFeatureConfig = field(default_factory=AudioFeatureConfig)
    visual: VisualFeatureConfig = field(default_factory=VisualFeatureConfig)
    frames_per_second: float = 2.0
    feature_threads: int = 1
    retry_failed: bool = False


@dataclass
class ExtractionReport:
    """written/skipped: modality -> dialogues written in this run / already in the store.
    failures: "modality dia{D}_utt{U}" -> reason, for every failed clip of this shard (new and recorded)."""

    written: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    utterances_extracted: int = 0
    failures: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "written": self.written,
            "skipped": self.skipped,
            "utterances_extracted": self.utterances_extracted,
            "failures": self.failures,
        }


def clip_path(clips_dir: Path, dialogue_id: str, utterance_id: int) -> Path:
    """MELD's clip layout: {clips}/dia{D}_utt{U}.mp4."""
    return Path(clips_dir) / f"dia{dialogue_id}_utt{utterance_id}.mp4"


def feature_path(store_dir: Path, modality: str, dialogue_id: str) -> Path:
    return Path(store_dir) / modality / f"dia{dialogue_id}.safetensors"


def text_encoder_fingerprint(name_or_path: str | Path) -> str:
    """SHA-256 of a local encoder's weights (so copies on other machines match), else the model id."""
    weights = Path(name_or_path) / "model.safetensors"
    if not weights.is_file():
        return str(name_or_path)
    return f"sha256:{sha256_of([weights])}"


@dataclass
class DialogueFeatures:
    """One modality of one dialogue as stored: features [n, dim] float32, present [n] bool."""

    utterance_ids: list[int]
    features: np.ndarray
    present: np.ndarray
    source: str
    errors: dict[int, str]


def write_dialogue_features(path: Path, modality: str, dialogue: DialogueFeatures) -> None:
    """Write one dialogue's features atomically (temporary name in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        "features": torch.from_numpy(np.ascontiguousarray(dialogue.features, dtype=np.float32)),
        "present": torch.from_numpy(dialogue.present.astype(np.uint8)),
        "utterance_ids": torch.tensor(dialogue.utterance_ids, dtype=torch.int64),
    }
    metadata = {
        "format": STORE_FORMAT,
        "modality": modality,
        "source": dialogue.source,
        "errors": json.dumps({str(k): v for k, v in dialogue.errors.items()}),
    }
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        save_file(tensors, partial, metadata=metadata)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def read_dialogue_features(path: Path) -> DialogueFeatures:
    """Read one file of the store; InputError when it is not a store file."""
    try:
        with safe_open(path, framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in ("features", "present", "utterance_ids")}
    except (OSError, SafetensorError) as error:
        raise InputError(f"{path} is not a readable feature-store file: {error}") from error
    if metadata.get("format") != STORE_FORMAT:
        raise InputError(f"{path} is not a feature-store file of format {STORE_FORMAT}")
    return DialogueFeatures(
        utterance_ids=tensors["utterance_ids"].tolist(),
        features=tensors["features"].numpy(),
        present=tensors["present"].numpy().astype(bool),
        source=metadata.get("source", ""),
        errors={int(k): v for k, v in json.loads(metadata.get("errors", "{}")).items()},
    )


def _needs_work(path: Path, retry_failed: bool) -> bool:
    if not path.is_file():
        return True
    return retry_failed and bool(read_dialogue_features(path).errors)


class ClipFeatureExtractor:
    """Audio and visual features of one utterance clip, by the pipeline's extractors."""

    def __init__(self, config: ExtractionConfig) -> None:
        self.config = config
        self.audio = AudioFeatureExtractor(config.audio)
        self.visual = VisualFeatureExtractor(config.visual)
        self.dims = {"audio": self.audio.dim, "visual": self.visual.dim}
        self.sources = {
            "audio": f"openSMILE ComParE_2016 functionals, {config.audio.sample_rate} Hz",
            "visual": f"BlazeFace + expression CNN summary, {config.frames_per_second} fps, "
                      f"at most {config.visual.max_frames} frames",
        }

    def extract(self, clip: Path, modality: str) -> np.ndarray:
        """[dim] float32 features of `clip`; InputError when the clip cannot be used."""
        media = self.config.media
        if modality == "audio":
            return self.audio.extract(load_audio(clip, media), media.sample_rate)
        info = probe_video(clip, media)
        with torch_threads(self.config.feature_threads):
            visual = visual_features_for_span(
                self.visual, clip, 0.0, info.duration, self.config.frames_per_second, media
            )
        return visual.vector

    def close(self) -> None:
        self.visual.close()


def _extract_clip_dialogue(
    extractor: ClipFeatureExtractor, clips_dir: Path, conversation: Conversation, modality: str
) -> DialogueFeatures:
    n = len(conversation)
    features = np.zeros((n, extractor.dims[modality]), dtype=np.float32)
    present = np.zeros(n, dtype=bool)
    errors: dict[int, str] = {}
    for i, utterance in enumerate(conversation.utterances):
        clip = clip_path(clips_dir, conversation.conversation_id, utterance.utterance_id)
        if not clip.is_file():
            errors[utterance.utterance_id] = f"clip not found: {clip.name}"
            continue
        try:
            features[i] = extractor.extract(clip, modality)
            present[i] = True
        except (SpikEmoError, OSError) as error:  # one bad clip must not stop a long extraction
            errors[utterance.utterance_id] = str(error)
    ids = [u.utterance_id for u in conversation.utterances]
    return DialogueFeatures(ids, features, present, extractor.sources[modality], errors)


def _record_failures(report: ExtractionReport, modality: str, dialogue_id: str, errors: dict[int, str]) -> None:
    for utterance_id, message in errors.items():
        report.failures[f"{modality} dia{dialogue_id}_utt{utterance_id}"] = message


def extract_features(
    clips_dir: str | Path,
    csv_path: str | Path,
    store_dir: str | Path,
    modalities: Sequence[str] = MODALITIES,
    text_encoder: TextEncoder | None = None,
    shard: Shard = Shard(),
    config: ExtractionConfig | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> ExtractionReport:
    """Extract this shard's missing (dialogue, modality) files into the store; see the module docstring.

    text_encoder: needed when "text" is among the modalities. progress(done, total, dialogue_id) is called
    after each dialogue's clips. Missing or unusable clips are recorded (zeros, present=0), never fatal.
    """
    config = config or ExtractionConfig()
    clips_dir, store_dir = Path(clips_dir), Path(store_dir)
    unknown = [m for m in modalities if m not in MODALITIES]
    if unknown:
        raise InputError(f"unknown modality {unknown}; choose from {', '.join(MODALITIES)}")
    if "text" in modalities and text_encoder is None:
        raise InputError("text features need a text encoder")
    if any(m in CLIP_MODALITIES for m in modalities) and not clips_dir.is_dir():
        raise InputError(f"clip folder not found: {clips_dir}")
    conversations = [c for c in read_meld_csv(csv_path) if shard.owns(c.conversation_id)]
    report = ExtractionReport()

    if "text" in modalities:
        _extract_text(text_encoder, conversations, store_dir, config.retry_failed, report)

    clip_modalities = [m for m in CLIP_MODALITIES if m in modalities]
    if not clip_modalities:
        return report
    extractor = ClipFeatureExtractor(config)
    try:
        for done, conversation in enumerate(conversations, start=1):
            for modality in clip_modalities:
                path = feature_path(store_dir, modality, conversation.conversation_id)
                if not _needs_work(path, config.retry_failed):
                    report.skipped[modality] = report.skipped.get(modality, 0) + 1
                    _record_failures(report, modality, conversation.conversation_id,
                                     read_dialogue_features(path).errors)
                    continue
                dialogue = _extract_clip_dialogue(extractor, clips_dir, conversation, modality)
                write_dialogue_features(path, modality, dialogue)
                report.written[modality] = report.written.get(modality, 0) + 1
                report.utterances_extracted += int(dialogue.present.sum())
                _record_failures(report, modality, conversation.conversation_id, dialogue.errors)
            if progress is not None:
                progress(done, len(conversations), conversation.conversation_id)
    finally:
        extractor.close()
    return report


def _extract_text(encoder: TextEncoder, conversations: list[Conversation], store_dir: Path,
                  retry_failed: bool, report: ExtractionReport) -> None:
    """Text features of the dialogues without a text file; refuses to mix encoders in one store."""
    source = text_encoder_fingerprint(encoder.config.name_or_path)
    todo = []
    for conversation in conversations:
        path = feature_path(store_dir, "text", conversation.conversation_id)
        if not _needs_work(path, retry_failed):
            stored = read_dialogue_features(path).source
            if stored != source:
                raise InputError(
                    f"{path} holds text features of another encoder ({stored}); this run's is {source}. "
                    "Use a new store folder, or the same encoder."
                )
            report.skipped["text"] = report.skipped.get("text", 0) + 1
        else:
            todo.append(conversation)
    if not todo:
        return
    encoder.encode_conversations(todo)
    for conversation in todo:
        features = np.stack([u.features.pop("text") for u in conversation.utterances])
        dialogue = DialogueFeatures(
            [u.utterance_id for u in conversation.utterances], features,
            np.ones(len(conversation), dtype=bool), source, {},
        )
        write_dialogue_features(feature_path(store_dir, "text", conversation.conversation_id), "text", dialogue)
        report.written["text"] = report.written.get("text", 0) + 1
        report.utterances_extracted += len(conversation)


def stored_modalities(store_dir: str | Path) -> tuple[str, ...]:
    """The modalities with at least one file in the store, in MODALITIES order."""
    store_dir = Path(store_dir)
    return tuple(m for m in MODALITIES if any((store_dir / m).glob("dia*.safetensors")))


def _fill(conversation: Conversation, modality: str, dialogue: DialogueFeatures, path: Path) -> None:
    rows = {utterance_id: row for row, utterance_id in enumerate(dialogue.utterance_ids)}
    missing = [u.utterance_id for u in conversation.utterances if u.utterance_id not in rows]
    if missing:
        raise InputError(f"{path} has no features for utterance(s) {missing}: it was extracted from another CSV")
    for utterance in conversation.utterances:
        utterance.features[modality] = dialogue.features[rows[utterance.utterance_id]]


def load_feature_store(
    store_dir: str | Path,
    csv_path: str | Path,
    modalities: Sequence[str] | None = None,
    require_complete: bool = True,
) -> list[Conversation]:
    """The CSV's conversations with `utterance.features` filled from the store.

    modalities: default every modality the store holds. An utterance whose clip failed keeps zeros for that
    modality (as the pipeline gives zeros to an utterance without a face). A dialogue without a file for
    some modality is an InputError when require_complete, else it is left out.
    """
    store_dir = Path(store_dir)
    if not store_dir.is_dir():
        raise InputError(f"feature store not found: {store_dir}")
    modalities = tuple(modalities) if modalities is not None else stored_modalities(store_dir)
    if not modalities:
        raise InputError(f"{store_dir} holds no features")
    loaded, incomplete = [], []
    for conversation in read_meld_csv(csv_path):
        paths = {m: feature_path(store_dir, m, conversation.conversation_id) for m in modalities}
        absent = [m for m, path in paths.items() if not path.is_file()]
        if absent:
            incomplete.append(f"dia{conversation.conversation_id} ({', '.join(absent)})")
            continue
        for modality, path in paths.items():
            _fill(conversation, modality, read_dialogue_features(path), path)
        loaded.append(conversation)
    if incomplete and require_complete:
        shown = ", ".join(incomplete[:5]) + (f" and {len(incomplete) - 5} more" if len(incomplete) > 5 else "")
        raise InputError(f"{len(incomplete)} dialogue(s) of {Path(csv_path).name} are not in the store: {shown}")
    return loaded


def summarize_store(store_dir: str | Path) -> dict:
    """Per modality: dialogues, utterances, utterances present, sources, and the failed clips with reasons."""
    store_dir = Path(store_dir)
    summary = {}
    for modality in stored_modalities(store_dir):
        dialogues = utterances = present = 0
        sources, failures = set(), {}
        for path in sorted((store_dir / modality).glob("dia*.safetensors")):
            dialogue = read_dialogue_features(path)
            dialogues += 1
            utterances += len(dialogue.utterance_ids)
            present += int(dialogue.present.sum())
            sources.add(dialogue.source)
            dialogue_id = path.stem.removeprefix("dia")
            failures.update({f"dia{dialogue_id}_utt{u}": message for u, message in dialogue.errors.items()})
        summary[modality] = {
            "dialogues": dialogues,
            "utterances": utterances,
            "present": present,
            "sources": sorted(sources),
            "failures": failures,
        }
    return summary
