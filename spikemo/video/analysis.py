"""The result of analysing one video (`Analysis`, with per-utterance `UtteranceCues`), its writers, and
`voice_descriptions`, a plain-words reading of the voice cues.

The video pipeline (spikemo.video.analyzer) produces an Analysis; the CLI writes it as JSON or CSV and the
app shows it. Both writers derive from one record per utterance (`Analysis.records`). The CSV is spreadsheet-safe
(`spreadsheet_safe`): a text cell a spreadsheet would run as a formula is written with a leading quote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from spikemo.data.conversation import Conversation
from spikemo.errors import InputError
from spikemo.video.diarization import SpeakerTurn

if TYPE_CHECKING:
    import pandas as pd

# A text cell starting with one of these is a formula to a spreadsheet (OWASP, "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class WarningKind(StrEnum):
    """What an analysis warns about, for a program to act on without reading the wording."""

    CUES_ONLY = "cues_only"  # modalities extracted and shown as cues but not read by the checkpoint
    TRANSCRIPT_USED = "transcript_used"  # a given transcript replaced speech recognition
    SPEAKERS_BY_VOICE = "speakers_by_voice"  # transcript cues that named no speaker were named by voice
    NO_FACE = "no_face"  # no face in any frame: the visual features are zeros
    SOME_FACES_MISSING = "some_faces_missing"  # some utterances show no face


@dataclass(frozen=True)
class AnalysisWarning:
    """One warning: its kind and a sentence for people (str() gives the sentence)."""

    kind: WarningKind
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class UtteranceCues:
    """What the face and the voice say on their own, beside the model."""

    face_expression: str | None  # MELD label of the dominant face expression, None when no face was seen
    face_expression_prob: float
    face_presence: float  # fraction of sampled frames with a face
    voice: dict[str, float]  # AudioFeatureExtractor.egemaps_and_cues' prosody cues (loudness, pitch_mean_hz, ...)
    # The voice-emotion model's reading of the voice alone (spikemo.video.voice_emotion, trained on acted
    # speech); None / {} when no voice-emotion model was loaded.
    voice_emotion: str | None = None
    voice_probabilities: dict[str, float] = field(default_factory=dict)
    face_frames: int = 0  # distinct decoded video frames the face cue examined
    face_note: str = ""  # why there is no face cue (no frame, too few distinct frames, no face); "" with a cue


@dataclass
class Analysis:
    """Everything the pipeline found in one video.

    spikes: layer name ("text/layer0", ...) -> uint8 [L, T, h] output spikes of that DSWA block for each of
    the L utterances over T time steps. timings: seconds per stage (STAGES, 0 when skipped; text, audio and visual
    overlap when they run side by side) and "total".
    speaker_timeline: who speaks when over all the speech heard, words or not (spikemo.video.diarization); empty
    when a transcript gave the turns.
    conversation_time: the checkpoint's DSWA runs in conversation time (spikemo.model.conversation_dswa): turn i's
    T steps follow turn i - 1's and the neurons carry over, so the spikes read as one train over the dialogue.
    """

    video_name: str
    duration: float
    conversation: Conversation
    cues: list[UtteranceCues]
    spikes: dict[str, np.ndarray]
    labels: tuple[str, ...]
    modalities_trained: tuple[str, ...]
    modalities_used: tuple[str, ...]
    warnings: list[AnalysisWarning]
    timings: dict[str, float]
    speaker_timeline: list[SpeakerTurn] = field(default_factory=list)
    conversation_time: bool = False

    def records(self) -> list[dict]:
        """One nested record per utterance, the single source of both writers: start, end, speaker, text,
        emotion, probabilities, dswa_weights, spike_rates, and cues (face_expression, face_expression_prob,
        face_presence, face_frames, face_note, voice, voice_emotion, voice_probabilities)."""
        return [
            {
                "start": utterance.start,
                "end": utterance.end,
                "speaker": utterance.speaker,
                "text": utterance.text,
                "emotion": utterance.prediction.emotion,
                "probabilities": utterance.prediction.probabilities,
                "dswa_weights": utterance.prediction.dswa_weights,
                "spike_rates": utterance.prediction.spike_rates,
                "cues": {
                    "face_expression": cues.face_expression,
                    "face_expression_prob": cues.face_expression_prob,
                    "face_presence": cues.face_presence,
                    "face_frames": cues.face_frames,
                    "face_note": cues.face_note,
                    "voice": cues.voice,
                    "voice_emotion": cues.voice_emotion,
                    "voice_probabilities": cues.voice_probabilities,
                },
            }
            for utterance, cues in zip(self.conversation.utterances, self.cues)
        ]

    def to_dict(self) -> dict:
        """JSON-ready: video, duration, utterances (with predictions and cues), modalities, warnings, timings."""
        return {
            "video": self.video_name,
            "duration": self.duration,
            "labels": list(self.labels),
            "utterances": self.records(),
            "modalities_used": list(self.modalities_used),
            "modalities_trained": list(self.modalities_trained),
            "warnings": [{"kind": w.kind.value, "message": w.message} for w in self.warnings],
            "timings": dict(self.timings),
            "speaker_timeline": [vars(turn) for turn in self.speaker_timeline],
        }

    def to_dataframe(self) -> pd.DataFrame:
        """One row per utterance: start, end, speaker, text, emotion, confidence, prob_<label>...,
        dswa_<modality>..., face_expression, face_expression_prob, face_presence, face_frames, face_note,
        voice_<cue>..., voice_emotion, voice_prob_<label>..."""
        import pandas as pd  # only for tables: an analysis itself never needs it

        return pd.DataFrame([flat_row(record) for record in self.records()])

    def write(self, path: str | Path) -> None:
        """Write the analysis as JSON (.json) or one row per utterance as CSV (.csv)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".json", ".csv"):
            raise InputError(f"cannot write '{path.name}': the output must end in .json or .csv")
        try:
            if suffix == ".json":
                path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
            else:
                spreadsheet_safe(self.to_dataframe()).to_csv(path, index=False)
        except OSError as error:
            raise InputError(f"cannot write {path}: {error.strerror or error}") from error


def neutralise_formula(cell: object) -> object:
    """A text cell that starts like a formula (FORMULA_PREFIXES) with a single quote before it, so a spreadsheet
    shows it as text; anything else (numbers included: -0.5 stays a number) unchanged."""
    if isinstance(cell, str) and cell.startswith(FORMULA_PREFIXES):
        return "'" + cell
    return cell


def spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of `table` with every text cell passed through `neutralise_formula`; numeric columns unchanged."""
    from pandas.api.types import is_numeric_dtype

    safe = table.copy()
    for column in safe.columns:
        if not is_numeric_dtype(safe[column]):
            safe[column] = safe[column].map(neutralise_formula)
    return safe


def flat_row(record: dict) -> dict:
    """A record of `Analysis.records` as one flat CSV row: the probabilities, DSWA weights, face cues and voice
    cues (prosody, the voice emotion and its probabilities) spread into columns of their own (the spike rates,
    one list per layer, stay in the JSON)."""
    cues = record["cues"]
    return {
        **{key: record[key] for key in ("start", "end", "speaker", "text", "emotion")},
        "confidence": record["probabilities"][record["emotion"]],
        **{f"prob_{label}": p for label, p in record["probabilities"].items()},
        **{f"dswa_{m}": w for m, w in record["dswa_weights"].items()},
        **{key: cues[key] for key in ("face_expression", "face_expression_prob", "face_presence", "face_frames",
                                      "face_note")},
        **{f"voice_{name}": value for name, value in cues["voice"].items()},
        "voice_emotion": cues.get("voice_emotion"),
        **{f"voice_prob_{label}": p for label, p in (cues.get("voice_probabilities") or {}).items()},
    }


def voice_descriptions(analysis: Analysis) -> list[str]:
    """Per utterance, how its voice compares with the same speaker's other turns (a heuristic cue).

    Loudness and pitch more than one standard deviation above/below the speaker's mean read as
    "louder"/"quieter" and "higher pitch"/"lower pitch"; otherwise "typical". A speaker's single turn has
    nothing to compare with, so it gets "".
    """
    by_speaker: dict[str, list[int]] = {}
    for i, utterance in enumerate(analysis.conversation.utterances):
        by_speaker.setdefault(utterance.speaker, []).append(i)
    words = [""] * len(analysis.conversation.utterances)
    for indices in by_speaker.values():
        if len(indices) < 2:
            continue
        for i in indices:
            parts = []
            for cue, high, low in (("loudness", "louder", "quieter"), ("pitch_mean_hz", "higher pitch", "lower pitch")):
                values = np.array([analysis.cues[j].voice.get(cue, 0.0) for j in indices], dtype=float)
                spread = values.std()
                if spread == 0:
                    continue
                z = (analysis.cues[i].voice.get(cue, 0.0) - values.mean()) / spread
                if z > 1:
                    parts.append(high)
                elif z < -1:
                    parts.append(low)
            words[i] = ", ".join(parts) or "typical"
    return words
