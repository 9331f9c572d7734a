"""openSMILE ComParE_2016 functionals and voice cues on generated tones, noise and espeak-ng speech."""

import subprocess

import numpy as np
import pytest
import soundfile as sf

from spikemo.errors import InputError
from spikemo.video.audio_features import COMPARE_DIM, VOICE_CUE_UNITS, AudioFeatureExtractor

SR = 16000


@pytest.fixture(scope="module")
def extractor() -> AudioFeatureExtractor:
    return AudioFeatureExtractor()


def tone(freq_hz: float, seconds: float = 2.0, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def noise(seconds: float = 2.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(np.float32)


def espeak(tmp_path, text: str, voice: str) -> tuple[np.ndarray, int]:
    wav = tmp_path / f"{voice}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True, capture_output=True)
    samples, sr = sf.read(wav, dtype="float32")
    return samples, sr


def test_feature_names_match_compare_2016(extractor):
    assert extractor.dim == COMPARE_DIM == 6373
    assert len(extractor.feature_names) == 6373
    assert "F0final_sma_amean" in extractor.feature_names


def test_tone_and_noise_give_finite_different_vectors(extractor):
    a = extractor.extract(tone(220.0), SR)
    b = extractor.extract(noise(), SR)
    for vector in (a, b):
        assert vector.shape == (6373,) and vector.dtype == np.float32
        assert np.isfinite(vector).all()
    assert np.mean(~np.isclose(a, b, rtol=1e-3)) > 0.5


def test_speech_from_espeak(extractor, tmp_path):
    male, sr_m = espeak(tmp_path, "Well, I really did not expect to see you here today.", "en-us+m3")
    female, sr_f = espeak(tmp_path, "Oh no, that is the worst news I have heard all year!", "en-us+f2")
    a, b = extractor.extract(male, sr_m), extractor.extract(female, sr_f)
    assert np.isfinite(a).all() and np.isfinite(b).all()
    assert not np.allclose(a, b)

    cues_m, cues_f = extractor.egemaps_and_cues(male, sr_m)[1], extractor.egemaps_and_cues(female, sr_f)[1]
    assert set(cues_m) == set(VOICE_CUE_UNITS)
    assert 70.0 < cues_m["pitch_mean_hz"] < cues_f["pitch_mean_hz"] < 350.0
    assert cues_m["voiced_fraction"] > 0.2
    assert 1.0 < cues_m["syllable_rate_per_s"] < 10.0
    assert cues_m["duration_s"] == pytest.approx(male.shape[0] / sr_m)


def test_silence_has_no_pitch(extractor):
    cues = extractor.egemaps_and_cues(np.zeros(SR, dtype=np.float32), SR)[1]
    assert cues["pitch_mean_hz"] == 0.0 and cues["voiced_fraction"] == 0.0
    assert cues["loudness"] < 0.05


def test_short_segment_is_padded_with_silence(extractor):
    short = tone(300.0, seconds=0.01)  # 160 samples: openSMILE alone returns all NaN here
    vector = extractor.extract(short, SR)
    assert np.isfinite(vector).all()
    missing = int(np.ceil(extractor.config.min_duration_s * SR)) - short.size
    padded = np.pad(short, (missing // 2, missing - missing // 2))
    np.testing.assert_array_equal(vector, extractor.extract(padded, SR))


def test_integer_pcm_is_rescaled(extractor):
    x = tone(440.0, seconds=1.0)
    pcm = np.round(x * 32768).astype(np.int16)
    np.testing.assert_allclose(extractor.extract(pcm, SR), extractor.extract(pcm / 32768.0, SR), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "samples, sr, message",
    [
        (np.zeros(0, dtype=np.float32), SR, "empty"),
        (np.zeros((SR, 2), dtype=np.float32), SR, "1-D"),
        (np.full(SR, np.nan, dtype=np.float32), SR, "NaN"),
        (np.zeros(SR, dtype=np.float32), 0, "sample_rate"),
    ],
)
def test_bad_audio_raises_input_error(extractor, samples, sr, message):
    with pytest.raises(InputError, match=message):
        extractor.extract(samples, sr)
