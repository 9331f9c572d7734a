"""RAVDESS emotional speech (Livingstone & Russo 2018, CC BY-NC-SA 4.0): file names, MELD labels, audio reading.

A clip's file name says everything about it: `03-01-EE-II-SS-RR-AA.<ext>` with EE the emotion (01 neutral,
02 calm, 03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised), II the intensity (01 normal,
02 strong), SS the statement (01 "Kids are talking by the door", 02 "Dogs are sitting by the door"), RR the
repetition and AA the actor (odd male, even female). Clips sit in any folder layout under the data folder
(the release uses Actor_NN/); they are found recursively.

Six emotions map one to one onto MELD's labels and neutral onto neutral. Calm has no MELD label: the calm
policy says what happens to it, `"neutral"` (the default: calm, un-emotional speech is what MELD calls
neutral) or `"drop"` (calm clips are left out). The words are the same two neutral sentences for every
emotion, so in these clips only the voice carries the label.

The clips are read at the data's own sample rate, which must be `sample_rate` (16 kHz): the project's copy
is converted once, and reading another rate would silently change the features.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spikemo.data.conversation import Conversation, Utterance
from spikemo.data.labels import MELD_LABELS
from spikemo.errors import InputError

AUDIO_SUFFIXES: tuple[str, ...] = (".flac", ".wav")
RAVDESS_EMOTIONS: dict[str, str] = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgust",
    "08": "surprised",
}
RAVDESS_TO_MELD: dict[str, str] = {
    "neutral": "neutral",
    "happy": "joy",
    "sad": "sadness",
    "angry": "anger",
    "fearful": "fear",
    "disgust": "disgust",
    "surprised": "surprise",
}
STATEMENTS: dict[str, str] = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
CALM_POLICIES: tuple[str, ...] = ("neutral", "drop")
DEFAULT_SAMPLE_RATE = 16000

_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


@dataclass(frozen=True)
class RavdessClip:
    """One clip. emotion: RAVDESS's own word ("calm", "happy", ...); label: its MELD label under the calm
    policy it was listed with (calm -> "neutral" or the clip is not listed)."""

    path: Path
    emotion: str
    label: str
    intensity: str  # "normal" or "strong"
    statement: str  # the sentence spoken
    repetition: int
    actor: int

    @property
    def text(self) -> str:
        return self.statement


def parse_name(path: str | Path) -> tuple[str, str, str, int, int]:
    """(emotion, intensity, statement, repetition, actor) from a RAVDESS file name; InputError when it is
    not one (the message names the scheme)."""
    stem = Path(path).stem
    match = _NAME.match(stem)
    if match is None or match.group(3) not in RAVDESS_EMOTIONS or match.group(5) not in STATEMENTS \
            or match.group(4) not in ("01", "02"):
        raise InputError(
            f"'{Path(path).name}' is not a RAVDESS clip name: expected MM-VC-EE-II-SS-RR-AA with emotion EE "
            "01..08, intensity II 01/02 and statement SS 01/02, e.g. 03-01-05-02-01-01-12.flac"
        )
    _, _, emotion, intensity, statement, repetition, actor = match.groups()
    return (
        RAVDESS_EMOTIONS[emotion],
        "normal" if intensity == "01" else "strong",
        STATEMENTS[statement],
        int(repetition),
        int(actor),
    )


def meld_label(emotion: str, calm: str = "neutral") -> str | None:
    """The MELD label of a RAVDESS emotion word; None for calm under the "drop" policy."""
    if calm not in CALM_POLICIES:
        raise InputError(f"calm policy must be one of {', '.join(CALM_POLICIES)}, got {calm!r}")
    if emotion == "calm":
        return "neutral" if calm == "neutral" else None
    if emotion not in RAVDESS_TO_MELD:
        raise InputError(f"'{emotion}' is not a RAVDESS emotion")
    return RAVDESS_TO_MELD[emotion]


def find_clips(data_dir: str | Path, calm: str = "neutral", actors: set[int] | None = None,
               min_emotions: int = 2) -> list[RavdessClip]:
    """Every RAVDESS clip under `data_dir` (recursively, .flac/.wav), sorted by actor and name.

    calm: "neutral" or "drop" (see the module). actors: keep only these actors. InputError when the folder
    is missing, holds no clip, a file with an audio suffix has no RAVDESS name, or the clips show fewer than
    `min_emotions` different MELD labels (a folder with one emotion only cannot train or score a classifier
    in any useful way).
    """
    meld_label("neutral", calm)  # validates the policy
    folder = Path(data_dir)
    if not folder.is_dir():
        raise InputError(f"RAVDESS folder not found: {folder} (pass the folder that holds the Actor_NN folders)")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    if not files:
        raise InputError(
            f"no audio clips (.flac or .wav) found under {folder}: pass the RAVDESS speech folder (Actor_NN/...)"
        )
    clips = []
    for path in files:
        emotion, intensity, statement, repetition, actor = parse_name(path)
        if actors is not None and actor not in actors:
            continue
        label = meld_label(emotion, calm)
        if label is None:
            continue
        clips.append(RavdessClip(path, emotion, label, intensity, statement, repetition, actor))
    if not clips:
        chosen = "" if actors is None else f" for actors {sorted(actors)}"
        raise InputError(f"no usable RAVDESS clips under {folder}{chosen} (calm policy: {calm})")
    labels = Counter(clip.label for clip in clips)
    if len(labels) < min_emotions:
        raise InputError(
            f"the clips under {folder} show only {len(labels)} emotion(s) ({', '.join(sorted(labels))}); "
            f"at least {min_emotions} are needed"
        )
    clips.sort(key=lambda clip: (clip.actor, clip.path.name))
    return clips


def read_clip(path: str | Path, sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
    """Mono float32 samples in [-1, 1] of one clip; InputError when it cannot be decoded, is empty or is not
    at `sample_rate` (multi-channel audio is averaged to mono)."""
    import soundfile

    path = Path(path)
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError, soundfile.LibsndfileError) as error:
        raise InputError(f"cannot read audio clip {path}: {error}") from error
    if rate != sample_rate:
        raise InputError(
            f"{path} is sampled at {rate} Hz, expected {sample_rate} Hz: convert the clips first "
            f"(e.g. ffmpeg -i IN -ar {sample_rate} -ac 1 OUT.flac)"
        )
    if samples.shape[0] == 0:
        raise InputError(f"audio clip {path} holds no samples")
    return samples.mean(axis=1).astype(np.float32)


def label_counts(clips: list[RavdessClip]) -> dict[str, int]:
    """Clips per MELD label, in MELD_LABELS order (0 for labels absent)."""
    counts = Counter(clip.label for clip in clips)
    return {label: counts.get(label, 0) for label in MELD_LABELS}


def ravdess_conversations(clips: list[RavdessClip], compare: np.ndarray, dialogue_length: int,
                          seed: int) -> list[Conversation]:
    """Single-speaker pseudo-dialogues for training on acted clips: each actor's clips in a seeded random
    order, cut every `dialogue_length` clips, ids "ravdess-<actor>-<n>". compare: [len(clips), D] the clips'
    ComParE functionals, carried as each utterance's "audio" features beside its sentence and label."""
    rng = np.random.default_rng(seed)
    by_actor: dict[int, list[int]] = {}
    for index, clip in enumerate(clips):
        by_actor.setdefault(clip.actor, []).append(index)
    conversations = []
    for actor, indices in sorted(by_actor.items()):
        order = [indices[i] for i in rng.permutation(len(indices))]
        for start in range(0, len(order), dialogue_length):
            utterances = [
                Utterance(speaker=f"Actor_{actor:02d}", text=clips[i].text, emotion=clips[i].label,
                          utterance_id=i, features={"audio": compare[i].astype(np.float32)})
                for i in order[start : start + dialogue_length]
            ]
            conversations.append(Conversation(f"ravdess-{actor:02d}-{start // dialogue_length}", utterances))
    return conversations


def conversation_actor(conversation: Conversation) -> int:
    """The actor of a pseudo-dialogue made by `ravdess_conversations`."""
    return int(conversation.conversation_id.split("-")[1])


def actors_of(conversations: list[Conversation]) -> set[int]:
    return {conversation_actor(c) for c in conversations}


def select_actors(conversations: list[Conversation], actors: set[int]) -> list[Conversation]:
    return [c for c in conversations if conversation_actor(c) in actors]
