"""Training on two corpora at once: dialogues with different modalities batch apart, a modality can be dropped,
and `python -m train.joint` runs its folds and its final model on generated RAVDESS-style clips."""

import json

import numpy as np
import pytest
import torch

from spikemo.data.batching import iterate_batches, modalities_by_conversation
from spikemo.data.conversation import Conversation, Utterance, without_modality
from spikemo.data.labels import MELD_LABELS
from spikemo.data.ravdess import actors_of, find_clips, ravdess_conversations, select_actors
from spikemo.errors import InputError, run_command
from spikemo.model.checkpoint import load_checkpoint
from spikemo.model.configuration import LossConfig, TrainConfig
from spikemo.model.modeling import SpikEmoModel
from spikemo.training.predict import predict_conversations
from spikemo.training.trainer import drop_a_modality, feature_statistics, train_spikemo
from spikemo.training.two_corpus import majority_scores, validation_actors
from tests.helpers import make_corpus, tiny_config
from train import joint


def dialogue(name: str, length: int, modalities: tuple[str, ...], seed: int) -> Conversation:
    rng = np.random.default_rng(seed)
    dims = {"text": 8, "audio": 6}
    return Conversation(name, [
        Utterance(speaker=f"s{i % 2}", text="hi", emotion=MELD_LABELS[i % 3],
                  features={m: rng.normal(size=dims[m]).astype(np.float32) for m in modalities})
        for i in range(length)
    ])


@pytest.fixture
def mixed() -> list[Conversation]:
    text_only = [dialogue(f"meld-{i}", 3 + i % 4, ("text",), i) for i in range(7)]
    both = [dialogue(f"ravdess-{i}", 2 + i % 3, ("text", "audio"), 100 + i) for i in range(5)]
    return text_only[:3] + both[:2] + text_only[3:] + both[2:]


def test_batches_hold_one_modality_group_each(mixed):
    groups = modalities_by_conversation(mixed, ("text", "audio"))
    assert groups == {("text",): [0, 1, 2, 5, 6, 7, 8], ("text", "audio"): [3, 4, 9, 10, 11]}
    for generator in (None, torch.Generator().manual_seed(0)):
        seen = []
        for batch in iterate_batches(mixed, 3, ("text", "audio"), MELD_LABELS, generator):
            carried = {c.conversation_id.split("-")[0] for c in mixed if c.conversation_id in batch.conversation_ids}
            assert len(carried) == 1  # never a MELD transcript beside a RAVDESS clip
            assert set(batch.features) == ({"text"} if carried == {"meld"} else {"text", "audio"})
            seen += batch.conversation_ids
        assert sorted(seen) == sorted(c.conversation_id for c in mixed)


def test_a_dialogue_without_any_wanted_modality_is_refused(mixed):
    with pytest.raises(InputError, match="meld-0 has no features for any of audio"):
        modalities_by_conversation(mixed, ("audio",))


def test_feature_statistics_use_only_the_utterances_that_carry_the_modality(mixed):
    statistics = feature_statistics(mixed, ("text", "audio"))
    audio = np.stack([u.features["audio"] for c in mixed for u in c.utterances if "audio" in u.features])
    assert torch.allclose(statistics["audio"][0], torch.from_numpy(audio.mean(0)).float(), atol=1e-6)
    with pytest.raises(InputError, match="no training utterance has visual features"):
        feature_statistics(mixed, ("visual",))


def test_drop_a_modality():
    features = {"text": torch.zeros(1, 2, 3), "audio": torch.ones(1, 2, 4)}
    generator = torch.Generator().manual_seed(0)
    assert drop_a_modality(features, 0.0, generator) is features
    assert drop_a_modality({"text": features["text"]}, 0.99, generator).keys() == {"text"}
    dropped = [tuple(drop_a_modality(features, 0.5, generator)) for _ in range(400)]
    whole = sum(d == ("text", "audio") for d in dropped)
    assert 150 < whole < 250  # about half the batches stay whole
    assert {d for d in dropped if len(d) == 1} == {("text",), ("audio",)}  # either one goes
    with pytest.raises(ValueError, match="modality_dropout"):
        TrainConfig(modality_dropout=1.0)


def test_prediction_reads_each_dialogue_with_what_it_carries(mixed):
    model = SpikEmoModel(tiny_config(("text", "audio"), input_dims={"text": 8, "audio": 6}))
    used = predict_conversations(model, mixed)
    assert used == ("text", "audio")
    assert all(u.prediction is not None for c in mixed for u in c.utterances)
    text_only = [c for c in mixed if c.conversation_id.startswith("meld")]
    assert predict_conversations(model, text_only) == ("text",)


def test_training_on_two_corpora_with_a_custom_dev_score(mixed):
    config = tiny_config(("text", "audio"), input_dims={"text": 8, "audio": 6}, context_modalities=())
    calls = []

    def score_dev(model):
        calls.append(model.training)
        return {"weighted_f1": 10.0 * len(calls), "accuracy": 1.0, "details": {"ravdess_accuracy": 2.0}}

    result = train_spikemo(mixed, mixed, config, LossConfig(), TrainConfig(epochs=2, batch_size=4,
                           modality_dropout=0.5), progress=False, score_dev=score_dev)
    assert [h["dev_weighted_f1"] for h in result.history] == [10.0, 20.0]
    assert all(h["dev_ravdess_accuracy"] == 2.0 for h in result.history)
    assert result.best_epoch == 2


def test_pseudo_dialogues_keep_each_actor_apart(tmp_path):
    clips = find_clips(make_corpus(tmp_path / "data", actors=3))
    compare = np.arange(len(clips), dtype=np.float32)[:, None].repeat(5, axis=1)
    conversations = ravdess_conversations(clips, compare, dialogue_length=3, seed=0)
    assert sorted(u.utterance_id for c in conversations for u in c.utterances) == list(range(len(clips)))
    for conversation in conversations:
        assert len(conversation) <= 3 and len(conversation.speakers()) == 1
        for u in conversation.utterances:
            clip = clips[u.utterance_id]
            assert (u.emotion, u.text, u.speaker) == (clip.label, clip.statement, f"Actor_{clip.actor:02d}")
            assert u.features["audio"][0] == u.utterance_id
    assert actors_of(conversations) == {1, 2, 3}
    assert actors_of(select_actors(conversations, {2})) == {2}
    stripped = without_modality(conversations, "audio")
    assert all("audio" not in u.features for c in stripped for u in c.utterances)
    assert all("audio" in u.features for c in conversations for u in c.utterances)  # originals untouched
    assert validation_actors([[1, 4], [2, 5], [3, 6]], 2) == {1, 4}
    chance = majority_scores(conversations, MELD_LABELS)
    assert chance["label"] == "neutral" and chance["n_utterances"] == len(clips)


@pytest.mark.slow
def test_train_joint_quick_folds_and_final_model(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKEMO_CACHE", str(tmp_path / "cache"))
    data = make_corpus(tmp_path / "ravdess", actors=4)
    results = tmp_path / "results"
    records = joint.main(["--ravdess", str(data), "--quick", "--results-dir", str(results), "--folds", "4",
                          "--threads", "1", "--only-folds", "0", "1"])
    assert [r["fold"] for r in records] == [0, 1]
    for record in records:
        held, validation, training = (set(record[k]) for k in
                                      ("held_out_actors", "validation_actors", "training_actors"))
        assert not held & training and not validation & training and not held & validation
        assert record["scores"]["ravdess_text_audio"]["n_utterances"] == 8 * len(held)
        assert record["history"][0]["dev_meld_weighted_f1"] >= 0
    report = (results / "joint.md").read_text()
    assert "| mean ± std |" in report and "chance: always neutral" in report
    (results / "joint.md").unlink()
    assert joint.main(["--reports-only", "--quick", "--results-dir", str(results)]) == report
    assert (results / "joint.md").read_text() == report  # rebuilt from the records alone
    saved = json.loads((results / "runs" / "fold1.json").read_text())
    assert saved["scores"] == records[1]["scores"]

    out = tmp_path / "final"
    joint.main(["--ravdess", str(data), "--quick", "--final", str(out), "--folds", "4", "--threads", "1"])
    checkpoint = load_checkpoint(out)
    assert checkpoint.config.modalities == ("text", "audio")
    card = (out / "README.md").read_text()
    assert "CC BY-NC-SA 4.0" in card and "MELD transcripts and RAVDESS speech" in card
    config = json.loads((out / "config.json").read_text())
    assert config["training_data"]["ravdess"]["licence"] == "CC BY-NC-SA 4.0"
    assert f"Weighted F1 **{config['metrics']['dev']['weighted_f1']:.2f}**" in card


@pytest.mark.slow
def test_train_joint_bad_data_ends_in_one_error_line(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    one_emotion = make_corpus(tmp_path / "one", actors=3, emotions=("angry",))
    for folder, message in ((empty, "no audio clips"), (one_emotion, "only 1 emotion"),
                            (tmp_path / "missing", "RAVDESS folder not found")):
        argv = ["--ravdess", str(folder), "--quick", "--threads", "1", "--results-dir", str(tmp_path / "results")]
        assert run_command(lambda argv=argv: joint.main(argv)) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert lines[-1].startswith("error: ") and message in lines[-1]
    assert not (tmp_path / "results").exists()  # nothing written for data that cannot be used
