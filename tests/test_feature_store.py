"""Feature-store extraction over MELD-layout clips made with spikemo.bench.synthetic: sharding, resuming, a corrupt
and a missing clip, loading back, and a few training steps of a three-modality SpikEmo on the result."""

import numpy as np
import pandas as pd
import pytest

from spikemo.bench.synthetic import SyntheticConfig, make_conversation
from spikemo.data.feature_store import (
    Shard,
    feature_path,
    load_feature_store,
    read_dialogue_features,
    summarize_store,
)
from spikemo.errors import InputError
from spikemo.model.configuration import LossConfig, TrainConfig
from spikemo.text.encoder import TextEncoder
from spikemo.text.packaged import default_text_encoder_path
from spikemo.training.trainer import train_spikemo
from spikemo.video.audio_features import AudioFeatureExtractor
from spikemo.video.clip_features import extract_features
from spikemo.video.media import load_audio
from tests.helpers import tiny_config
from train import experiments
from train import extract_features as extract_cli

pytestmark = pytest.mark.slow  # real models on generated media, or training (see pyproject.toml)

# (dialogue, utterance) -> clip: "ok" (a generated one-turn clip), "corrupt" (random bytes) or "missing".
CLIPS = {(0, 0): "ok", (0, 1): "ok", (1, 0): "ok", (1, 1): "corrupt", (2, 0): "ok", (2, 1): "missing"}
MODALITY_DIMS = {"text": 384, "audio": 6373, "visual": 16}


@pytest.fixture(scope="module")
def meld_like(tmp_path_factory):
    """A clips folder in MELD's layout and its CSV: 3 dialogues of 2 utterances, one corrupt, one missing."""
    root = tmp_path_factory.mktemp("meld")
    clips = root / "clips"
    clips.mkdir()
    rows = []
    for seed, ((dialogue, utterance), kind) in enumerate(CLIPS.items()):
        path = clips / f"dia{dialogue}_utt{utterance}.mp4"
        turn = make_conversation(path, SyntheticConfig(num_turns=1, seed=seed, lead_s=0.2, gap_s=0.2)).turns[0]
        if kind == "corrupt":
            path.write_bytes(np.random.default_rng(seed).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
        elif kind == "missing":
            path.unlink()
        rows.append({"Utterance": turn.text, "Speaker": f"Person {turn.speaker}", "Emotion": turn.emotion,
                     "Dialogue_ID": dialogue, "Utterance_ID": utterance})
    csv = root / "clips.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return clips, csv


@pytest.fixture(scope="module")
def text_encoder():
    return TextEncoder.from_pretrained(default_text_encoder_path())


@pytest.fixture(scope="module")
def store(meld_like, text_encoder, tmp_path_factory):
    """Extracted in two shards (the second through the command line), then extracted again (the resume)."""
    clips, csv = meld_like
    folder = tmp_path_factory.mktemp("store") / "features"
    first = extract_features(clips, csv, folder, text_encoder=text_encoder, shard=Shard(0, 2))
    assert extract_cli.main(["--clips", str(clips), "--csv", str(csv), "--store", str(folder),
                             "--shard", "1/2", "--text-encoder", default_text_encoder_path()]) == 0
    stamps = {path: path.stat().st_mtime_ns for path in folder.rglob("*.safetensors")}
    again = [extract_features(clips, csv, folder, text_encoder=text_encoder, shard=Shard(i, 2)) for i in range(2)]
    return folder, first, again, stamps


def test_shard_zero_took_dialogues_zero_and_two(store):
    _, first, _, _ = store
    assert first.written == {"text": 2, "audio": 2, "visual": 2}
    assert first.utterances_extracted == 4 + 3 + 3  # text: all 4; audio and visual: dia2_utt1 is missing
    assert set(first.failures) == {"audio dia2_utt1", "visual dia2_utt1"}
    assert "clip not found" in first.failures["audio dia2_utt1"]


def test_both_shards_together_cover_every_dialogue(store):
    folder, _, _, _ = store
    for dialogue in range(3):
        for modality in MODALITY_DIMS:
            assert feature_path(folder, modality, str(dialogue)).is_file()
    assert not list(folder.rglob("*.partial"))  # every write was completed and renamed


def test_running_again_recomputes_nothing(store):
    folder, _, again, stamps = store
    assert [report.written for report in again] == [{}, {}]
    assert again[0].skipped == {"text": 2, "audio": 2, "visual": 2}
    assert again[1].skipped == {"text": 1, "audio": 1, "visual": 1}
    assert {path: path.stat().st_mtime_ns for path in folder.rglob("*.safetensors")} == stamps
    # Recorded failures are still reported on a resumed run.
    assert "audio dia1_utt1" in again[1].failures and "audio dia2_utt1" in again[0].failures


def test_corrupt_and_missing_clips_are_recorded(store):
    folder, _, _, _ = store
    corrupt = read_dialogue_features(feature_path(folder, "audio", "1"))
    assert corrupt.present.tolist() == [True, False]
    assert "could not be read as a video" in corrupt.errors[1]
    assert not corrupt.features[1].any()
    summary = summarize_store(folder)
    assert summary["audio"]["utterances"] == 6 and summary["audio"]["present"] == 4
    assert set(summary["visual"]["failures"]) == {"dia1_utt1", "dia2_utt1"}
    assert summary["text"]["present"] == 6


def test_stored_audio_is_the_pipeline_extractor_on_the_clip(store, meld_like):
    folder, _, _, _ = store
    clips, _ = meld_like
    stored = read_dialogue_features(feature_path(folder, "audio", "0")).features[1]
    expected = AudioFeatureExtractor().extract(load_audio(clips / "dia0_utt1.mp4"), 16_000)
    np.testing.assert_allclose(stored, expected, rtol=1e-5, atol=1e-4)


def test_loaded_store_trains_a_three_modality_model(store, meld_like):
    folder, _, _, _ = store
    _, csv = meld_like
    conversations = load_feature_store(folder, csv)
    assert [c.conversation_id for c in conversations] == ["0", "1", "2"]
    for conversation in conversations:
        for utterance in conversation.utterances:
            assert {m: u.shape[0] for m, u in utterance.features.items()} == MODALITY_DIMS
    faces = [u.features["visual"] for u in conversations[0].utterances]
    assert all(f[14] == 1.0 for f in faces)  # face presence ratio: the astronaut is in every frame
    result = train_spikemo(conversations, conversations, tiny_config(("text", "audio", "visual")), LossConfig(),
                           TrainConfig(epochs=2, batch_size=2), progress=False)
    assert len(result.history) == 2
    assert all(np.isfinite(epoch["loss"]) for epoch in result.history)
    assert result.model.config.modalities == ("text", "audio", "visual")


def test_incomplete_store_is_refused_or_filtered(store, meld_like, tmp_path):
    folder, _, _, _ = store
    _, csv = meld_like
    table = pd.read_csv(csv)
    extra = pd.DataFrame([{"Utterance": "Not extracted.", "Speaker": "X", "Emotion": "neutral",
                           "Dialogue_ID": 7, "Utterance_ID": 0}])
    bigger = tmp_path / "bigger.csv"
    pd.concat([table, extra]).to_csv(bigger, index=False)
    with pytest.raises(InputError, match="1 dialogue\\(s\\) of bigger.csv are not in the store: dia7"):
        load_feature_store(folder, bigger)
    assert len(load_feature_store(folder, bigger, require_complete=False)) == 3


def test_shard_specs():
    assert Shard.parse("1/4") == Shard(1, 4)
    assert Shard(1, 4).owns("5") and not Shard(1, 4).owns("6")
    for bad in ("4/4", "x", "1/0", "-1/2"):
        with pytest.raises(InputError):
            Shard.parse(bad)


def test_experiments_run_on_feature_stores(store, meld_like, tmp_path):
    folder, _, _, _ = store
    _, csv = meld_like
    args = ["--quick", "--train-store", str(folder), "--dev-store", str(folder), "--train-csv", str(csv),
            "--dev-csv", str(csv), "--results-dir", str(tmp_path), "--seeds", "0", "--experiments", "table4",
            "table5"]
    records = experiments.main(args)
    # With three modalities nothing is inert and no row needs clips; the full subset is table4's full run.
    assert {r["name"] for r in records} == {"full", "no_dice", "no_corr", "no_dice_no_corr", "no_dswa", "text",
                                            "audio", "visual", "text+audio", "text+visual", "audio+visual"}
    assert [tuple(r["model"]["modalities"]) for r in records if r["name"] == "audio"] == [("audio",)]
    assert all("feature stores train" in r["source"] for r in records)
    table4, table5 = (tmp_path / "table4.md").read_text(), (tmp_path / "table5.md").read_text()
    assert "not run" not in table4 and "| no_corr | 1 |" in table4
    assert "needs MELD's clips" not in table5 and "| text+audio+visual | 1 |" in table5
