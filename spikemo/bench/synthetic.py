"""Licence-clean test conversations made at run time: espeak-ng voices, still faces, ffmpeg.

Two speakers ("A": a low male espeak voice, "B": a higher, faster female one) take scripted turns whose words
carry a clear emotion; silence separates the turns. The video shows the speaker's still face from the start
of their turn until the next turn: the public-domain NASA astronaut photo (skimage) for A, a mirrored and
colour-shifted copy for B. The returned script gives each turn's text, speaker, emotion and times, so tests
can score speech recognition, segmentation and speaker attribution against it.

`make_turn_taking` makes audio-only conversations of quick exchanges instead (see `TurnTakingConfig`): two to
four voices, one- and two-word replies, gaps of 0-150 ms, a little overlap, background noise at a set SNR.
`turn_taking_suite` is the fixed, seeded set of them that the tests and `python -m spikemo bench turns` share.
"""

from __future__ import annotations

import random
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import imageio.v3 as iio
import imageio_ffmpeg
import numpy as np
from scipy.signal import lfilter, resample_poly
from skimage import data as skimage_data
from skimage.transform import resize

ESPEAK_RATE = 22_050
TURN_RATE = 16_000  # turn-taking conversations are made at the pipeline's rate: no video, no resampling later
# speaker -> (espeak voice and variant, words per minute, pitch 0-99). make_conversation uses A and B.
VOICES: dict[str, tuple[str, int, int]] = {
    "A": ("en-us+m3", 150, 30),
    "B": ("en-us+f2", 175, 75),
    "C": ("en-us+Andy", 135, 45),
    "D": ("en-us+f4", 195, 45),
}

# emotion -> sentences whose words say the emotion plainly (MELD's label names).
SCRIPT_BANK: dict[str, tuple[str, ...]] = {
    "joy": (
        "I am so happy, this is wonderful news!",
        "We won the contest, I love it so much!",
        "What a beautiful day, I feel fantastic.",
    ),
    "anger": (
        "That is terrible, I am furious with you.",
        "Stop lying to me, I am so angry right now.",
        "You broke my car again, this makes me mad.",
    ),
    "sadness": (
        "I miss my old friend, I feel so sad and lonely.",
        "My dog died last night, I cannot stop crying.",
    ),
    "surprise": (
        "Wow, I did not expect that at all!",
        "Really? You are getting married tomorrow?",
    ),
    "fear": (
        "I am scared, there is someone outside the door.",
        "Please help me, I am afraid of the dark.",
    ),
    "disgust": ("That smells awful, this food is disgusting.",),
    "neutral": (
        "The meeting starts at nine in the morning.",
        "I will take the train to work on Monday.",
        "Please pass me the salt and the pepper.",
    ),
}


@dataclass(frozen=True)
class SyntheticConfig:
    """num_turns, or target_duration_s when set (turns are added until the speech reaches it).

    audio: "speech" (espeak turns), "silent" (an audio track of zeros) or "none" (no audio track).
    faces: False shows plain grey frames instead of faces.
    """

    num_turns: int = 6
    target_duration_s: float | None = None
    gap_s: float = 0.8
    lead_s: float = 0.4
    faces: bool = True
    audio: Literal["speech", "silent", "none"] = "speech"
    frame_size: int = 256
    fps: int = 10
    seed: int = 0


@dataclass(frozen=True)
class ScriptTurn:
    """One scripted turn; start/end are seconds in the generated video (speech onset to offset)."""

    speaker: str
    text: str
    emotion: str
    start: float
    end: float


@dataclass(frozen=True)
class SyntheticConversation:
    path: Path
    turns: list[ScriptTurn]
    duration: float

    @property
    def text(self) -> str:
        return " ".join(turn.text for turn in self.turns)


def speak(text: str, speaker: str) -> np.ndarray:
    """espeak-ng speech for `text` in `speaker`'s voice, leading/trailing silence trimmed.

    Returns: [n_samples] float32 at ESPEAK_RATE.
    """
    voice, speed, pitch = VOICES[speaker]
    command = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text]
    wav_bytes = subprocess.run(command, capture_output=True, check=True).stdout
    samples = np.frombuffer(wav_bytes[44:], dtype=np.int16).astype(np.float32) / 32768.0
    loud = np.flatnonzero(np.abs(samples) > 0.02 * np.abs(samples).max())
    return samples[loud[0] : loud[-1] + 1]


def _plan_turns(config: SyntheticConfig) -> list[tuple[str, str, str]]:
    """(speaker, emotion, text) per turn: speakers mostly alternate, sometimes one speaks twice."""
    rng = random.Random(config.seed)
    pool = [(emotion, text) for emotion, texts in SCRIPT_BANK.items() for text in texts]
    rng.shuffle(pool)
    count = config.num_turns if config.target_duration_s is None else 10_000
    speaker, plan = "A", []
    for index in range(count):
        if index > 0 and rng.random() < 0.8:
            speaker = "B" if speaker == "A" else "A"
        emotion, text = pool[index % len(pool)]
        plan.append((speaker, emotion, text))
        if config.target_duration_s is not None and index >= 1:
            # ~2.6 words/s for these voices, plus the gap: stop planning once the target is surely covered.
            words = sum(len(t.split()) for _, _, t in plan)
            if words / 2.6 + len(plan) * config.gap_s >= config.target_duration_s * 1.3:
                break
    return plan


def _assemble_audio(
    plan: list[tuple[str, str, str]], config: SyntheticConfig
) -> tuple[np.ndarray, list[ScriptTurn]]:
    """Concatenate spoken turns with gaps. Returns ([n_samples] float32 at ESPEAK_RATE, timed turns)."""
    pieces = [np.zeros(int(config.lead_s * ESPEAK_RATE), dtype=np.float32)]
    gap = np.zeros(int(config.gap_s * ESPEAK_RATE), dtype=np.float32)
    turns, cursor = [], pieces[0].size
    for speaker, emotion, text in plan:
        speech = speak(text, speaker)
        turns.append(ScriptTurn(speaker, text, emotion, cursor / ESPEAK_RATE, (cursor + speech.size) / ESPEAK_RATE))
        pieces += [speech, gap]
        cursor += speech.size + gap.size
        if config.target_duration_s is not None and cursor / ESPEAK_RATE >= config.target_duration_s:
            break
    return np.concatenate(pieces), turns


def face_images(size: int) -> dict[str, np.ndarray]:
    """speaker -> RGB uint8 [size, size, 3]: the astronaut for A, mirrored and colour-shifted for B."""
    astronaut = (resize(skimage_data.astronaut(), (size, size), anti_aliasing=True) * 255).astype(np.uint8)
    return {"A": astronaut, "B": np.ascontiguousarray(astronaut[:, ::-1, [2, 0, 1]])}


def _write_wav(path: Path, audio: np.ndarray) -> None:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(ESPEAK_RATE)
        handle.writeframes((np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes())


def _write_image_list(folder: Path, turns: list[ScriptTurn], duration: float, config: SyntheticConfig) -> Path:
    """An ffmpeg concat list: each turn's face from its start (the first from 0) until the next turn starts."""
    faces = face_images(config.frame_size)
    blank = np.full((config.frame_size, config.frame_size, 3), 128, dtype=np.uint8)
    for speaker, image in faces.items():
        iio.imwrite(folder / f"{speaker}.png", image if config.faces else blank)
    starts = [0.0] + [turn.start for turn in turns[1:]] + [duration]
    lines = []
    for turn, begin, finish in zip(turns, starts[:-1], starts[1:]):
        lines += [f"file '{folder / (turn.speaker + '.png')}'", f"duration {finish - begin:.4f}"]
    lines.append(f"file '{folder / (turns[-1].speaker + '.png')}'")  # concat needs the last image repeated
    image_list = folder / "images.txt"
    image_list.write_text("\n".join(lines) + "\n")
    return image_list


def make_conversation(output: str | Path, config: SyntheticConfig = SyntheticConfig()) -> SyntheticConversation:
    """Write a generated two-speaker conversation video (H.264 + AAC mp4) to `output`; return its script."""
    output = Path(output)
    audio, turns = _assemble_audio(_plan_turns(config), config)
    duration = audio.size / ESPEAK_RATE
    if config.audio == "silent":
        audio = np.zeros_like(audio)
    with tempfile.TemporaryDirectory(prefix="spikemo-synth-") as scratch:
        folder = Path(scratch)
        image_list = _write_image_list(folder, turns, duration, config)
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-y", "-loglevel", "error",
                   "-f", "concat", "-safe", "0", "-i", str(image_list)]
        if config.audio != "none":
            _write_wav(folder / "audio.wav", audio)
            command += ["-i", str(folder / "audio.wav"), "-c:a", "aac", "-b:a", "64k"]
        command += ["-vf", f"fps={config.fps},format=yuv420p", "-c:v", "libx264", "-preset", "ultrafast",
                    "-tune", "stillimage", "-t", f"{duration:.3f}", str(output)]
        subprocess.run(command, capture_output=True, check=True)
    return SyntheticConversation(output, turns, duration)


# Turn-taking conversations: lines that invite a quick answer, and the short replies that give it.
QUESTIONS: dict[str, tuple[str, ...]] = {
    "neutral": (
        "Do you hear me?",
        "Is this your bag?",
        "Can you see the screen from there?",
        "Did you lock the front door?",
        "Shall we take the early train tomorrow?",
    ),
    "surprise": ("You sold the house already?", "Is that really your brother?"),
    "joy": ("Do you want to come to the party with us?",),
    "anger": ("Did you just take my coffee again?",),
}
SHORT_REPLIES: dict[str, tuple[str, ...]] = {
    "neutral": ("Yes.", "No.", "Okay.", "Sure.", "Not yet.", "Maybe."),
    "surprise": ("What?", "No way!", "Really?"),
    "joy": ("Of course!", "Thank you!"),
    "anger": ("Stop it!",),
    "sadness": ("Oh no.",),
}


@dataclass(frozen=True)
class TurnTakingConfig:
    """An audio-only conversation of quick exchanges between `num_speakers` voices (2-4, VOICES A-D).

    Each turn after the first goes to another speaker, except with probability same_speaker_probability,
    when the same speaker goes on after a pause drawn from pause_s. A speaker change starts the next turn
    quick_gap_s after the previous one ends, or, with probability overlap_probability, up to max_overlap_s
    before it ends. A turn answers a question with a short reply (one or two words) with probability
    reply_probability, otherwise it is a question or a sentence from SCRIPT_BANK. snr_db: pink-ish background
    noise at this signal-to-noise ratio over the speech (None: none). Everything is drawn from `seed`.
    """

    num_turns: int = 10
    num_speakers: int = 2
    snr_db: float | None = 20.0
    quick_gap_s: tuple[float, float] = (0.0, 0.15)
    overlap_probability: float = 0.15
    max_overlap_s: float = 0.15
    same_speaker_probability: float = 0.15
    pause_s: tuple[float, float] = (0.8, 1.1)
    reply_probability: float = 0.6
    lead_s: float = 0.5
    seed: int = 0


@dataclass(frozen=True)
class SpokenConversation:
    """A generated conversation as 16 kHz mono audio [n_samples] float32 and its timed script."""

    audio: np.ndarray
    turns: list[ScriptTurn]
    snr_db: float | None

    @property
    def duration(self) -> float:
        return self.audio.size / TURN_RATE

    @property
    def text(self) -> str:
        return " ".join(turn.text for turn in self.turns)


def _plan_exchange(config: TurnTakingConfig, rng: random.Random) -> list[tuple[str, str, str, float]]:
    """(speaker, emotion, text, seconds from the previous turn's end, negative for overlap) per turn."""
    if not 2 <= config.num_speakers <= len(VOICES):
        raise ValueError(f"num_speakers must be 2 to {len(VOICES)}, got {config.num_speakers}")
    speakers = list(VOICES)[: config.num_speakers]
    replies = [(emotion, text) for emotion, texts in SHORT_REPLIES.items() for text in texts]
    questions = [(emotion, text) for emotion, texts in QUESTIONS.items() for text in texts]
    sentences = [(emotion, text) for emotion, texts in SCRIPT_BANK.items() for text in texts]
    plan: list[tuple[str, str, str, float]] = []
    speaker, asked = speakers[0], False
    for index in range(config.num_turns):
        gap, changed = 0.0, False
        if index > 0 and rng.random() < config.same_speaker_probability:
            gap = rng.uniform(*config.pause_s)
        elif index > 0:
            speaker, changed = rng.choice([s for s in speakers if s != speaker]), True
            if rng.random() < config.overlap_probability:
                gap = -rng.uniform(0.05, config.max_overlap_s)
            else:
                gap = rng.uniform(*config.quick_gap_s)
        # Another voice answers a question; a reply is never itself answered.
        if asked and changed and rng.random() < config.reply_probability:
            (emotion, text), asked = rng.choice(replies), False
        else:
            emotion, text = rng.choice(questions if rng.random() < 0.6 else sentences)
            asked = text.endswith("?")
        plan.append((speaker, emotion, text, gap))
    return plan


def _pink_noise(size: int, rng: np.random.Generator) -> np.ndarray:
    """Noise whose power falls with frequency (white noise through a one-pole low-pass), unit RMS. [size]"""
    noise = lfilter([1.0], [1.0, -0.9], rng.standard_normal(size))
    return (noise / np.sqrt(np.mean(noise**2))).astype(np.float32)


def speak_exchange(
    plan: Sequence[tuple[str, str, str, float]], lead_s: float = 0.5, snr_db: float | None = None, seed: int = 0
) -> SpokenConversation:
    """Speak (speaker, emotion, text, seconds after the previous turn's end; negative: overlap) turns into 16 kHz
    audio with lead_s of silence at both ends; overlapping turns are summed. snr_db: pink-ish noise (drawn from
    `seed`) at this ratio to the speech's power (None: none)."""
    spoken = [resample_poly(speak(text, speaker), TURN_RATE, ESPEAK_RATE).astype(np.float32)
              for speaker, _, text, _ in plan]
    starts, cursor = [], int(lead_s * TURN_RATE)
    for (_, _, _, gap), speech in zip(plan, spoken):
        start = cursor if not starts else max(0, cursor + int(gap * TURN_RATE))
        starts.append(start)
        cursor = start + speech.size
    audio = np.zeros(cursor + int(lead_s * TURN_RATE), dtype=np.float32)
    for start, speech in zip(starts, spoken):
        audio[start : start + speech.size] += speech
    turns = [
        ScriptTurn(speaker, text, emotion, start / TURN_RATE, (start + speech.size) / TURN_RATE)
        for (speaker, emotion, text, _), start, speech in zip(plan, starts, spoken)
    ]
    if snr_db is not None:
        speaking = np.concatenate([audio[s : s + x.size] for s, x in zip(starts, spoken)])
        noise_rms = np.sqrt(np.mean(speaking**2)) / 10 ** (snr_db / 20)
        audio += noise_rms * _pink_noise(audio.size, np.random.default_rng(seed))
    peak = np.abs(audio).max()
    return SpokenConversation(audio / peak * 0.9 if peak > 0.9 else audio, turns, snr_db)


def make_turn_taking(config: TurnTakingConfig = TurnTakingConfig()) -> SpokenConversation:
    """A planned exchange (see TurnTakingConfig), spoken by `speak_exchange`."""
    plan = _plan_exchange(config, random.Random(config.seed))
    return speak_exchange(plan, config.lead_s, config.snr_db, config.seed)


def turn_taking_suite(count: int = 9, seed: int = 0, snrs_db: tuple[float | None, ...] = (30.0, 15.0, 5.0)
                      ) -> list[TurnTakingConfig]:
    """`count` conversation settings: 2, 3 and 4 speakers in turn, each count at every SNR of snrs_db before the
    next SNR repeats (seeds seed, seed + 1, ...); the same arguments always give the same conversations."""
    return [
        TurnTakingConfig(num_speakers=2 + index % 3, snr_db=snrs_db[index // 3 % len(snrs_db)], seed=seed + index)
        for index in range(count)
    ]
