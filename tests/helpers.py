"""Test checkpoints for the pipeline, CLI and feature-store tests: a tiny random-init SpikEmo saved with the
offline base text encoder (all-MiniLM-L6-v2, 384-d), so the whole serving path runs without the shipped
checkpoint. Its predictions mean nothing; the tests check shapes, plumbing and invariants. Also generated
clips in RAVDESS's layout for the voice and joint-training tests."""

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import torch

from spikemo.data.labels import MODALITIES
from spikemo.model.checkpoint import save_checkpoint
from spikemo.model.configuration import DEFAULT_INPUT_DIMS, SpikEmoConfig
from spikemo.model.modeling import SpikEmoModel
from spikemo.text.encoder import TextEncoder
from spikemo.text.packaged import default_text_encoder_path
from spikemo.video.speech import Word


def tiny_config(modalities: tuple[str, ...] = MODALITIES, **overrides: Any) -> SpikEmoConfig:
    """A small SpikEmo over `modalities`, fast enough for any test: h=16, T=4, one Spikformer block, one fusion
    layer, a context encoder for audio and visual where present, and the default extractors' input sizes
    (text 384 from MiniLM, audio 6373, visual 16). `overrides`: any other SpikEmoConfig field, e.g. input_dims."""
    context = tuple(m for m in ("audio", "visual") if m in modalities)
    tiny = SpikEmoConfig(modalities=modalities, input_dims=DEFAULT_INPUT_DIMS, context_modalities=context).tiny()
    return dataclasses.replace(tiny, **overrides)


def make_test_checkpoint(folder: Path, modalities: tuple[str, ...], seed: int = 0) -> Path:
    """Save a random-init tiny SpikEmo over `modalities` with the base text encoder into `folder`."""
    torch.manual_seed(seed)
    model = SpikEmoModel(tiny_config(modalities)).eval()
    encoder = TextEncoder.from_pretrained(default_text_encoder_path())
    card = f"# test checkpoint\nRandom weights, modalities {', '.join(modalities)}; for tests only.\n"
    return save_checkpoint(folder, model, {"note": "random-init test checkpoint"}, card, text_encoder=encoder)


def timed_words(spec: str, start: float = 0.0, step: float = 0.4, length: float = 0.3) -> list[Word]:
    """'a b | c' -> words every `step` seconds lasting `length`; '|' inserts a 1-second pause."""
    words, t = [], start
    for token in spec.split():
        if token == "|":
            t += 1.0
            continue
        words.append(Word(token, t, t + length))
        t += step
    return words


EMOTION_CODES = {"neutral": "01", "calm": "02", "happy": "03", "angry": "05"}


def clip_name(emotion: str, actor: int, repetition: int = 1, statement: int = 1, intensity: int = 1) -> str:
    return f"03-01-{EMOTION_CODES[emotion]}-{intensity:02d}-{statement:02d}-{repetition:02d}-{actor:02d}.wav"


def write_tone(path: Path, pitch_hz: float, loudness: float, seconds: float = 0.8, rate: int = 16000) -> Path:
    """A voiced-looking tone (a few harmonics with vibrato) as 16-bit PCM."""
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(pitch_hz * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))) / rate
    signal = sum(np.sin(k * phase) / k for k in range(1, 6)) * loudness * np.hanning(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, signal.astype(np.float32), rate, subtype="PCM_16")
    return path


def make_corpus(folder: Path, actors: int = 4, emotions: tuple[str, ...] = ("neutral", "angry", "happy", "calm"),
                repetitions: int = 2) -> Path:
    """Generated clips in the RAVDESS layout: each emotion its own pitch and loudness, varied per actor."""
    style = {"neutral": (120, 0.2), "calm": (110, 0.15), "angry": (220, 0.8), "happy": (300, 0.5)}
    for actor in range(1, actors + 1):
        for emotion in emotions:
            for repetition in (1, 2)[:repetitions]:
                pitch, loudness = style[emotion]
                write_tone(folder / f"Actor_{actor:02d}" / clip_name(emotion, actor, repetition),
                           pitch * (1 + 0.05 * actor), loudness)
    return folder


def write_srt(path: Path, count: int, duration: float, speakers: tuple[str, ...] = ("Alex", "Blair")) -> Path:
    """An SRT of `count` cues spread evenly over `duration` seconds, speakers taking turns, each cue naming its
    number ("Alex: line 3")."""
    span = duration / count
    cues = []
    for i in range(count):
        start, end = i * span, i * span + span * 0.9
        times = [f"{int(t // 3600):02d}:{int(t % 3600 // 60):02d}:{t % 60:06.3f}".replace(".", ",")
                 for t in (start, end)]
        cues.append(f"{i + 1}\n{times[0]} --> {times[1]}\n{speakers[i % len(speakers)]}: line {i + 1}\n")
    path.write_text("\n".join(cues), encoding="utf-8")
    return path
