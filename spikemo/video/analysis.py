"""The result of analysing one video (`Analysis`, with per-utterance `UtteranceCues`) and its writers.

The video pipeline (spikemo.video.analyzer) produces an Analysis; the CLI writes it as JSON or CSV and the
app shows it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from spikemo.data.conversation import Conversation
from spikemo.errors import InputError


@dataclass
class UtteranceCues:
    """What the face and the voice say on their own, beside the model."""

    face_expression: str | None  # MELD label of the dominant face expression, None when no face was seen
    face_expression_prob: float
    face_presence: float  # fraction of sampled frames with a face
    voice: dict[str, float]  # spikemo.video.audio_features.voice_cues (loudness, pitch_mean_hz, ...)


@dataclass
class Analysis:
    """Everything the pipeline found in one video.

    spikes: layer name ("text/layer0", ...) -> uint8 [L, T, h] output spikes of that DSWA block for each of
    the L utterances over T time steps. timings: seconds per stage (STAGES, 0 when skipped) and "total".
    """

    video_name: str
    duration: float
    conversation: Conversation
    cues: list[UtteranceCues]
    spikes: dict[str, np.ndarray]
    labels: tuple[str, ...]
    modalities_trained: tuple[str, ...]
    modalities_used: tuple[str, ...]
    warnings: list[str]
    timings: dict[str, float]

    def to_dict(self) -> dict:
        """JSON-ready: video, duration, utterances (with predictions and cues), modalities, warnings, timings."""
        utterances = []
        for utterance, cues in zip(self.conversation.utterances, self.cues):
            prediction = utterance.prediction
            utterances.append(
                {
                    "start": utterance.start,
                    "end": utterance.end,
                    "speaker": utterance.speaker,
                    "text": utterance.text,
                    "emotion": prediction.emotion,
                    "probabilities": prediction.probabilities,
                    "dswa_weights": prediction.dswa_weights,
                    "spike_rates": prediction.spike_rates,
                    "cues": {
                        "face_expression": cues.face_expression,
                        "face_expression_prob": cues.face_expression_prob,
                        "face_presence": cues.face_presence,
                        "voice": cues.voice,
                    },
                }
            )
        return {
            "video": self.video_name,
            "duration": self.duration,
            "labels": list(self.labels),
            "utterances": utterances,
            "modalities_used": list(self.modalities_used),
            "modalities_trained": list(self.modalities_trained),
            "warnings": list(self.warnings),
            "timings": dict(self.timings),
        }

    def to_dataframe(self) -> pd.DataFrame:
        """One row per utterance: start, end, speaker, text, emotion, confidence, prob_<label>...,
        dswa_<modality>..., face_expression, face_expression_prob, face_presence, voice_<cue>..."""
        rows = []
        for utterance, cues in zip(self.conversation.utterances, self.cues):
            prediction = utterance.prediction
            rows.append(
                {
                    "start": utterance.start,
                    "end": utterance.end,
                    "speaker": utterance.speaker,
                    "text": utterance.text,
                    "emotion": prediction.emotion,
                    "confidence": prediction.probabilities[prediction.emotion],
                    **{f"prob_{label}": p for label, p in prediction.probabilities.items()},
                    **{f"dswa_{m}": w for m, w in prediction.dswa_weights.items()},
                    "face_expression": cues.face_expression,
                    "face_expression_prob": cues.face_expression_prob,
                    "face_presence": cues.face_presence,
                    **{f"voice_{name}": value for name, value in cues.voice.items()},
                }
            )
        return pd.DataFrame(rows)

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
                self.to_dataframe().to_csv(path, index=False)
        except OSError as error:
            raise InputError(f"cannot write {path}: {error.strerror or error}") from error


