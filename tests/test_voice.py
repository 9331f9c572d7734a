"""The voice-emotion model: RAVDESS names and labels, the reader's errors, the asset's round trip and checks,
`python -m spikemo evaluate-voice` and `python -m train.voice` on generated clips, and a handful of real
RAVDESS clips when $SPIKEMO_RAVDESS_DIR points at the folder (skipped otherwise)."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from spikemo.__main__ import main as cli_main
from spikemo.data.labels import MELD_LABELS
from spikemo.data.ravdess import find_clips, label_counts, meld_label, parse_name, read_clip
from spikemo.errors import CheckpointError, InputError
from spikemo.video.voice_emotion import (
    DEFAULT_VOICE_MODEL,
    VoiceEmotionConfig,
    VoiceEmotionModel,
    clip_features,
    fit,
    predict_proba,
    save_voice_model,
)
from tests.helpers import clip_name, make_corpus, write_tone

RAVDESS_ENV = "SPIKEMO_RAVDESS_DIR"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("ravdess") / "data")


@pytest.fixture
def feature_cache(tmp_path, monkeypatch) -> Path:
    """The tests' features go to a cache of their own, not the user's."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SPIKEMO_CACHE", str(cache))
    return cache


def test_names_map_to_meld_labels():
    assert parse_name("03-01-05-02-01-01-12.flac") == ("angry", "strong", "Kids are talking by the door", 1, 12)
    assert parse_name("x/03-01-08-01-02-02-07.wav")[0] == "surprised"
    for bad in ("03-01-09-01-01-01-01.flac", "hello.flac", "03-01-05-03-01-01-12.flac"):
        with pytest.raises(InputError, match="not a RAVDESS clip name"):
            parse_name(bad)
    assert meld_label("happy") == "joy" and meld_label("fearful") == "fear" and meld_label("surprised") == "surprise"
    assert meld_label("calm") == "neutral" and meld_label("calm", "drop") is None
    with pytest.raises(InputError, match="calm policy"):
        meld_label("calm", "sad")


def test_find_clips_and_the_calm_policy(corpus):
    clips = find_clips(corpus)
    assert len(clips) == 4 * 4 * 2
    assert label_counts(clips) == {**dict.fromkeys(MELD_LABELS, 0), "neutral": 16, "anger": 8, "joy": 8}
    assert {c.emotion for c in clips if c.label == "neutral"} == {"neutral", "calm"}
    assert len(find_clips(corpus, calm="drop")) == 24
    assert {c.actor for c in find_clips(corpus, actors={1, 3})} == {1, 3}
    assert clips[0].text == "Kids are talking by the door"


def test_bad_folders_are_clear_input_errors(tmp_path, corpus):
    with pytest.raises(InputError, match="RAVDESS folder not found"):
        find_clips(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no audio clips"):
        find_clips(tmp_path / "empty")
    one = tmp_path / "one"
    write_tone(one / clip_name("angry", 1), 200, 0.5)
    write_tone(one / clip_name("angry", 2), 200, 0.5)
    with pytest.raises(InputError, match="only 1 emotion"):
        find_clips(one)
    renamed = tmp_path / "renamed"
    write_tone(renamed / "angry_take1.wav", 200, 0.5)
    with pytest.raises(InputError, match="not a RAVDESS clip name"):
        find_clips(renamed)


def test_read_clip_refuses_unreadable_files_and_other_rates(tmp_path):
    good = write_tone(tmp_path / clip_name("happy", 1), 200, 0.5)
    samples = read_clip(good)
    assert samples.dtype == np.float32 and samples.ndim == 1 and samples.size == 12800
    fast = write_tone(tmp_path / "fast" / clip_name("happy", 1), 200, 0.5, rate=48000)
    with pytest.raises(InputError, match="48000 Hz, expected 16000 Hz"):
        read_clip(fast)
    broken = tmp_path / "broken" / clip_name("happy", 1)
    broken.parent.mkdir()
    broken.write_bytes(b"RIFF not really a wave file")
    with pytest.raises(InputError, match="cannot read audio clip"):
        read_clip(broken)


def small_model(tmp_path: Path, hidden: int = 0) -> tuple[VoiceEmotionModel, np.ndarray]:
    rng = np.random.default_rng(0)
    config = VoiceEmotionConfig(hidden=hidden, dropout=0.1 if hidden else 0.0)
    x = rng.normal(size=(40, config.input_dim)).astype(np.float32)
    y = np.arange(40) % len(MELD_LABELS)
    from spikemo.video.voice_emotion import TrainSettings

    net = fit(x, y, config, TrainSettings(epochs=2))
    folder = save_voice_model(net, tmp_path / "voice", "# card\n")
    return VoiceEmotionModel(folder), predict_proba(net, x[:3])


@pytest.mark.parametrize("hidden", [0, 8])
def test_asset_round_trip(tmp_path, hidden):
    torch.set_num_threads(1)
    model, expected = small_model(tmp_path, hidden)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, model.config.input_dim)).astype(np.float32)
    assert np.allclose(model.predict_proba(x[:3]), expected, atol=1e-6)
    label, probabilities = model.predict(x[0])
    assert label in MELD_LABELS and list(probabilities) == list(MELD_LABELS)
    assert abs(sum(probabilities.values()) - 1) < 1e-5
    with pytest.raises(InputError, match="expects 6373-d features"):
        model.predict_proba(np.zeros(10))


def test_damaged_or_mismatched_assets_are_refused(tmp_path):
    model, _ = small_model(tmp_path)
    folder = model.directory
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "labels": ["joy"]}))
    with pytest.raises(CheckpointError, match="cannot read voice-emotion config"):
        VoiceEmotionModel(folder)
    (folder / "config.json").write_text(json.dumps({**config, "hidden": 16}))
    with pytest.raises(CheckpointError, match="do not fit their config"):
        VoiceEmotionModel(folder)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(CheckpointError, match="SHA-256"):
        VoiceEmotionModel(folder)
    with pytest.raises(CheckpointError, match="voice-emotion model not found"):
        VoiceEmotionModel(tmp_path / "nowhere")


def test_shipped_asset_loads_and_states_its_data_and_licence():
    model = VoiceEmotionModel()
    assert model.directory == DEFAULT_VOICE_MODEL
    assert "RAVDESS" in model.config.trained_on and "acted" in model.config.trained_on
    card = (DEFAULT_VOICE_MODEL / "README.md").read_text()
    assert "CC BY-NC-SA 4.0" in card and "license: cc-by-nc-sa-4.0" in card and "acted" in card
    size = sum(p.stat().st_size for p in DEFAULT_VOICE_MODEL.iterdir())
    assert size < 10_000_000  # a small asset
    assert model.predict_proba(np.zeros(model.config.input_dim)).shape == (len(model.labels),)


def test_evaluate_voice_errors_are_one_line(tmp_path, corpus, capsys):
    (tmp_path / "empty").mkdir()
    assert cli_main(["evaluate-voice", "--data", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no audio clips")
    assert cli_main(["evaluate-voice", "--data", str(corpus), "--model", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err.startswith("error: voice-emotion model not found")
    one = tmp_path / "one"
    write_tone(one / clip_name("angry", 1), 200, 0.5)
    assert cli_main(["evaluate-voice", "--data", str(one)]) == 2
    assert capsys.readouterr().err.startswith("error: the clips under")


def test_evaluate_voice_refuses_other_sample_rates_and_broken_files(tmp_path, feature_cache, capsys):
    fast = tmp_path / "fast"
    write_tone(fast / clip_name("angry", 1), 200, 0.5, rate=48000)
    write_tone(fast / clip_name("happy", 1), 300, 0.5, rate=48000)
    assert cli_main(["evaluate-voice", "--data", str(fast)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "48000 Hz, expected 16000 Hz" in errors[0]  # (progress lines aside)
    broken = tmp_path / "broken"
    write_tone(broken / clip_name("angry", 1), 200, 0.5)
    (broken / clip_name("happy", 1)).write_bytes(b"not audio at all")
    assert cli_main(["evaluate-voice", "--data", str(broken)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: cannot read audio clip")


@pytest.mark.slow
def test_train_voice_then_evaluate_voice_on_generated_clips(corpus, feature_cache, tmp_path, capsys):
    from train.voice import main as train_main

    torch.set_num_threads(1)
    out, results = tmp_path / "asset", tmp_path / "voice.json"
    result = train_main(["--data", str(corpus), "--out", str(out), "--results", str(results), "--folds", "2",
                         "--quick"])
    assert [sorted(f) for f in result["folds"]] == [[1, 3], [2, 4]]
    assert result["data"]["n_clips"] == 32 and result["chance"]["accuracy_mean"] == 50.0
    assert {"config.json", "model.safetensors", "README.md"} == {p.name for p in out.iterdir()}
    assert "CC BY-NC-SA 4.0" in (out / "README.md").read_text()
    assert json.loads(results.read_text())["chosen"]["config"] == result["chosen"]["config"]
    page = results.with_suffix(".md").read_text()
    assert "Mean ± sample standard deviation" in page and "(chosen)" in page
    # the page, the card and the recorded summary are rebuilt from the JSON alone, the weights untouched
    weights = (out / "model.safetensors").read_bytes()
    for path in (results.with_suffix(".md"), out / "README.md"):
        path.unlink()
    rebuilt = train_main(["--reports-only", "--out", str(out), "--results", str(results)])
    assert results.with_suffix(".md").read_text() == page and (out / "README.md").is_file()
    assert rebuilt["chosen"]["cv"]["weighted_f1_std"] == result["chosen"]["cv"]["weighted_f1_std"]
    assert (out / "model.safetensors").read_bytes() == weights
    capsys.readouterr()
    assert cli_main(["evaluate-voice", "--data", str(corpus), "--model", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"accuracy", "weighted_f1", "per_class_f1", "n_clips", "calm"} <= set(report)
    assert report["n_clips"] == 32 and "neutral" in report["calm"]
    assert list(report["per_class_f1"]) == ["neutral", "joy", "anger"]
    # the features were cached outside the repository, and a second run reads them back
    assert list(feature_cache.rglob("*.npz"))
    compare, egemaps = clip_features(find_clips(corpus))
    assert compare.shape == (32, 6373) and egemaps.shape == (32, 88) and np.isfinite(compare).all()


def ravdess_dir() -> Path:
    value = os.environ.get(RAVDESS_ENV)
    if not value:
        pytest.skip(f"${RAVDESS_ENV} is not set: point it at the RAVDESS speech folder to test on real clips")
    folder = Path(value)
    if not folder.is_dir():
        pytest.skip(f"${RAVDESS_ENV}={value} is not a folder")
    return folder


def test_real_ravdess_clips_are_read_and_labelled():
    folder = ravdess_dir()
    clips = find_clips(folder, actors={1, 2})
    assert len(clips) == 120 and {c.actor for c in clips} == {1, 2}
    counts = label_counts(clips)
    assert counts["neutral"] == 2 * (4 + 8) and counts["anger"] == 16
    assert len(find_clips(folder, calm="drop", actors={1})) == 52
    samples = read_clip(clips[0].path)
    assert samples.dtype == np.float32 and 1.0 < samples.size / 16000 < 10.0


@pytest.mark.slow
def test_shipped_model_on_a_handful_of_real_clips():
    folder = ravdess_dir()
    torch.set_num_threads(1)
    clips = [c for c in find_clips(folder, actors={5}) if c.intensity == "strong"][::6]
    model = VoiceEmotionModel()
    from spikemo.video.voice_emotion import combine_features

    compare, egemaps = clip_features(clips)
    probs = model.predict_proba(combine_features(compare, egemaps, model.feature_set))
    assert probs.shape == (len(clips), len(model.labels)) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
