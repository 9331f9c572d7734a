"""Per-utterance acoustic features: openSMILE ComParE_2016 functionals (the paper's 6373-d audio input).

One `AudioFeatureExtractor` holds one openSMILE pipeline and serves every utterance. Input is a mono
sample array and its sample rate; openSMILE resamples to 16 kHz internally, so features do not depend on
the source rate.

Short segments: openSMILE fills every functional with NaN below ~60 ms of audio. Segments shorter than
`AudioFeatureConfig.min_duration_s` are therefore padded with silence (half before, half after) up to that
length; an empty segment is an `InputError` (it has no audio to describe). Any NaN/inf that openSMILE still
returns is replaced by 0 so the model never sees a non-finite value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import opensmile

from spikemo.errors import InputError

COMPARE_DIM = 6373
EGEMAPS_DIM = 88


@dataclass(frozen=True)
class AudioFeatureConfig:
    sample_rate: int = 16000  # openSMILE resamples every input to this rate
    min_duration_s: float = 0.25  # shorter segments are padded with silence to this length


# eGeMAPS functionals behind the prosody cues of `egemaps_and_cues`; units in `VOICE_CUE_UNITS`.
_EGEMAPS_LOUDNESS = "loudness_sma3_amean"
_EGEMAPS_F0_MEAN_ST = "F0semitoneFrom27.5Hz_sma3nz_amean"
_EGEMAPS_F0_CV = "F0semitoneFrom27.5Hz_sma3nz_stddevNorm"
_EGEMAPS_LOUDNESS_PEAKS = "loudnessPeaksPerSec"
_EGEMAPS_VOICED_RATE = "VoicedSegmentsPerSec"
_EGEMAPS_VOICED_LENGTH = "MeanVoicedSegmentLengthSec"

VOICE_CUE_UNITS: dict[str, str] = {
    "duration_s": "seconds of audio given (before any padding)",
    "loudness": "mean perceived loudness (eGeMAPS loudness_sma3_amean, auditory-spectrum units, ~0 silence, "
    "~1 normal speech)",
    "pitch_mean_hz": "mean F0 over voiced frames in Hz (0 when nothing is voiced)",
    "pitch_variability_st": "standard deviation of F0 over voiced frames, in semitones",
    "syllable_rate_per_s": "loudness peaks per second (eGeMAPS loudnessPeaksPerSec), a speech-rate proxy",
    "voiced_fraction": "fraction of the segment that is voiced (0..1)",
}


def _as_mono_float(samples: np.ndarray) -> np.ndarray:
    """Validate a 1-D sample array and return it as float32 in [-1, 1] (integer PCM is rescaled)."""
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise InputError(f"audio must be a 1-D mono sample array, got shape {samples.shape}")
    if samples.size == 0:
        raise InputError("audio segment is empty (0 samples); an utterance needs some audio")
    if np.issubdtype(samples.dtype, np.integer):
        scale = float(np.iinfo(samples.dtype).max) + 1.0
        return (samples.astype(np.float32) / scale).astype(np.float32)
    if not np.issubdtype(samples.dtype, np.floating):
        raise InputError(f"audio samples must be integer PCM or floating point, got dtype {samples.dtype}")
    samples = samples.astype(np.float32)
    if not np.isfinite(samples).all():
        raise InputError("audio contains NaN or infinite samples")
    return samples


def _pad_to_min_length(samples: np.ndarray, sample_rate: int, min_duration_s: float) -> np.ndarray:
    """Centre `samples` in silence so it lasts at least `min_duration_s`."""
    min_samples = int(np.ceil(min_duration_s * sample_rate))
    missing = min_samples - samples.size
    if missing <= 0:
        return samples
    before = missing // 2
    return np.pad(samples, (before, missing - before))


class AudioFeatureExtractor:
    """openSMILE ComParE_2016 functionals per utterance, plus a few readable voice cues for the app."""

    def __init__(self, config: AudioFeatureConfig | None = None) -> None:
        self.config = config or AudioFeatureConfig()
        self._compare = opensmile.Smile(
            feature_set=opensmile.FeatureSet.ComParE_2016,
            feature_level=opensmile.FeatureLevel.Functionals,
            sampling_rate=self.config.sample_rate,
            resample=True,
        )
        self._egemaps: opensmile.Smile | None = None  # built on the first eGeMAPS call
        self.feature_names: list[str] = list(self._compare.feature_names)
        if len(self.feature_names) != COMPARE_DIM:
            raise RuntimeError(
                f"openSMILE ComParE_2016 gave {len(self.feature_names)} features, expected {COMPARE_DIM}"
            )

    @property
    def dim(self) -> int:
        return COMPARE_DIM

    def _prepare(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
            raise InputError(f"sample_rate must be a positive integer, got {sample_rate!r}")
        mono = _as_mono_float(samples)
        return _pad_to_min_length(mono, int(sample_rate), self.config.min_duration_s)

    def extract(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """ComParE_2016 functionals of one utterance.

        samples: [n] mono audio (float in [-1, 1] or integer PCM). Returns float32 [6373], all finite.
        """
        audio = self._prepare(samples, sample_rate)
        values = self._compare.process_signal(audio, int(sample_rate)).to_numpy(dtype=np.float32)[0]
        return np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)

    def _egemaps_row(self, audio: np.ndarray, sample_rate: int):
        if self._egemaps is None:
            self._egemaps = opensmile.Smile(
                feature_set=opensmile.FeatureSet.eGeMAPSv02,
                feature_level=opensmile.FeatureLevel.Functionals,
                sampling_rate=self.config.sample_rate,
                resample=True,
            )
        return self._egemaps.process_signal(audio, int(sample_rate)).iloc[0]

    def egemaps(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """eGeMAPSv02 functionals of one utterance: float32 [88], all finite."""
        return self.egemaps_and_cues(samples, sample_rate)[0]

    def egemaps_and_cues(self, samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, dict[str, float]]:
        """The eGeMAPSv02 functionals [88] and the readable prosody cues (units in `VOICE_CUE_UNITS`) of one
        utterance, from one openSMILE run."""
        audio = self._prepare(samples, sample_rate)
        duration_s = np.asarray(samples).shape[0] / int(sample_rate)
        row = self._egemaps_row(audio, sample_rate)
        vector = np.nan_to_num(row.to_numpy(dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        values = {name: float(np.nan_to_num(row[name])) for name in row.index}

        f0_mean_st = values[_EGEMAPS_F0_MEAN_ST]
        voiced = f0_mean_st > 0.0
        cues = {
            "duration_s": duration_s,
            "loudness": values[_EGEMAPS_LOUDNESS],
            # eGeMAPS F0 is in semitones above 27.5 Hz.
            "pitch_mean_hz": 27.5 * 2.0 ** (f0_mean_st / 12.0) if voiced else 0.0,
            "pitch_variability_st": values[_EGEMAPS_F0_CV] * f0_mean_st if voiced else 0.0,
            "syllable_rate_per_s": values[_EGEMAPS_LOUDNESS_PEAKS],
            "voiced_fraction": float(np.clip(values[_EGEMAPS_VOICED_RATE] * values[_EGEMAPS_VOICED_LENGTH], 0.0, 1.0)),
        }
        return vector, cues
