"""Features of MELD-style raw clips, extracted into a feature store (spikemo.data.feature_store).

MELD ships one clip per utterance, `{clips}/dia{Dialogue_ID}_utt{Utterance_ID}.mp4`, beside a CSV of its
transcripts. Extraction uses the same extractors as the video pipeline, so a model trains on the features
it will see when serving:
  audio   openSMILE ComParE_2016 functionals of the clip's audio (6373-d)
  visual  face-expression summary of frames sampled in the clip (16-d)
  text    the text encoder over the CSV's dialogues, with dialogue context
Existing files are skipped, so extraction resumes where it stopped; shards split the work over processes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spikemo.data.conversation import Conversation
from spikemo.data.feature_store import (
    CLIP_MODALITIES,
    DialogueFeatures,
    Shard,
    clip_path,
    feature_path,
    read_dialogue_features,
    text_encoder_fingerprint,
    write_dialogue_features,
)
from spikemo.data.labels import MODALITIES
from spikemo.data.meld import read_meld_csv
from spikemo.errors import InputError, SpikEmoError
from spikemo.runtime import torch_threads
from spikemo.serialization import JsonDataclass
from spikemo.text.encoder import TextEncoder
from spikemo.video.audio_features import AudioFeatureConfig, AudioFeatureExtractor
from spikemo.video.media import MediaConfig, load_audio, probe_video
from spikemo.video.visual_features import VisualFeatureConfig, VisualFeatureExtractor, visual_features_for_span


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
class ExtractionReport(JsonDataclass):
    """written/skipped: modality -> dialogues written in this run / already in the store.
    failures: "modality dia{D}_utt{U}" -> reason, for every failed clip of this shard (new and recorded)."""

    written: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    utterances_extracted: int = 0
    failures: dict[str, str] = field(default_factory=dict)


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


