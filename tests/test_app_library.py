"""The library functions the app builds on: the analysis's output records and voice reading, the checkpoint
summary, the DSWA comparison, and the model-work cache key."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from demo.worker import ModelSetup
from spikemo.data.conversation import Conversation, Prediction, Utterance
from spikemo.data.labels import MELD_LABELS
from spikemo.errors import CheckpointError
from spikemo.model.checkpoint import read_checkpoint_summary
from spikemo.model.modeling import SpikEmoModel
from spikemo.training.dswa_ablation import compare_without_dswa
from spikemo.training.predict import predict_conversations
from spikemo.video.analysis import Analysis, UtteranceCues, voice_descriptions
from spikemo.video.analyzer import PipelineConfig
from tests.helpers import tiny_config


def make_analysis(loudness: list[float], pitch: list[float], speakers: str) -> Analysis:
    """An analysis of len(speakers) turns with these voice cues (turn i spoken by speakers[i])."""
    utterances, cues = [], []
    for i, speaker in enumerate(speakers):
        utterance = Utterance(speaker=speaker, text=f"turn {i}", start=float(i), end=i + 0.5)
        utterance.prediction = Prediction("joy" if i % 2 else "anger", {"anger": 0.6, "joy": 0.4},
                                          {"text": 1 / len(speakers)}, {"text/layer0": [0.1, 0.2]})
        utterances.append(utterance)
        cues.append(UtteranceCues("joy" if i else None, 0.5, 0.9,
                                  {"loudness": loudness[i], "pitch_mean_hz": pitch[i]},
                                  "anger" if i else None, {"anger": 0.7, "joy": 0.3} if i else {}))
    return Analysis("talk.mp4", 5.0, Conversation("talk", utterances), cues, {}, ("anger", "joy"), ("text",),
                    ("text",), [], {"total": 1.0})


def test_voice_descriptions_compare_each_turn_with_the_same_speakers_other_turns():
    analysis = make_analysis(loudness=[0, 0, 0, 0, 10, 0, 3], pitch=[100, 50, 100, 150, 100, 100, 100],
                             speakers="ABABABC")
    assert voice_descriptions(analysis) == ["typical", "lower pitch", "typical", "higher pitch", "louder",
                                            "typical", ""]  # C speaks once: nothing to compare with


def test_json_and_csv_come_from_one_record_per_utterance(tmp_path):
    analysis = make_analysis(loudness=[1, 2, 3], pitch=[100, 110, 120], speakers="ABA")
    analysis.write(tmp_path / "a.json")
    analysis.write(tmp_path / "a.csv")
    data = json.loads((tmp_path / "a.json").read_text())
    assert list(data) == ["video", "duration", "labels", "utterances", "modalities_used", "modalities_trained",
                          "warnings", "timings", "speaker_timeline"]
    assert list(data["utterances"][0]) == ["start", "end", "speaker", "text", "emotion", "probabilities",
                                           "dswa_weights", "spike_rates", "cues"]
    assert data["utterances"][1]["cues"] == {"face_expression": "joy", "face_expression_prob": 0.5,
                                             "face_presence": 0.9, "face_frames": 0, "face_note": "",
                                             "voice": {"loudness": 2, "pitch_mean_hz": 110},
                                             "voice_emotion": "anger", "voice_probabilities": {"anger": 0.7,
                                                                                                "joy": 0.3}}
    assert data["utterances"][0]["cues"]["voice_emotion"] is None  # no voice model: the keys stay, empty
    table = pd.read_csv(tmp_path / "a.csv")
    assert list(table.columns) == ["start", "end", "speaker", "text", "emotion", "confidence", "prob_anger",
                                   "prob_joy", "dswa_text", "face_expression", "face_expression_prob",
                                   "face_presence", "face_frames", "face_note", "voice_loudness",
                                   "voice_pitch_mean_hz", "voice_emotion",
                                   "voice_prob_anger", "voice_prob_joy"]
    assert list(table["voice_prob_anger"].fillna(-1)) == [-1, 0.7, 0.7]
    assert list(table["confidence"]) == [0.6, 0.4, 0.6]
    assert list(table["emotion"]) == [u["emotion"] for u in data["utterances"]]


def test_checkpoint_summary_reads_the_modalities_and_dev_f1(tmp_path):
    folder = SpikEmoModel(tiny_config(("text", "audio"))).save_pretrained(
        tmp_path / "ckpt", {"metrics": {"dev": {"weighted_f1": 57.5}}})
    summary = read_checkpoint_summary(folder)
    assert summary.modalities == ("text", "audio") and summary.dev_weighted_f1 == 57.5
    bare = SpikEmoModel(tiny_config(("text",))).save_pretrained(tmp_path / "bare")
    assert read_checkpoint_summary(bare).dev_weighted_f1 is None
    with pytest.raises(CheckpointError, match="no checkpoint folder"):
        read_checkpoint_summary(tmp_path / "nowhere")


def test_compare_without_dswa_counts_the_labels_that_differ():
    torch.manual_seed(0)
    model = SpikEmoModel(tiny_config(("text",))).eval()
    generator = np.random.default_rng(0)
    conversations = [
        Conversation(f"c{c}", [Utterance(speaker=f"S{i % 2}", text="...", emotion=str(generator.choice(MELD_LABELS)),
                                         features={"text": generator.normal(size=384).astype(np.float32) * 3})
                               for i in range(2 + c)])
        for c in range(5)
    ]
    predict_conversations(model, conversations)
    with_dswa = [[u.prediction.emotion for u in c.utterances] for c in conversations]
    compared = compare_without_dswa(model, conversations)
    assert [[u.prediction.emotion for u in c.utterances] for c in conversations] == with_dswa  # kept
    labels = compared.labels()
    assert [len(ls) for ls in labels] == [len(c) for c in conversations]
    assert compared.changed == sum(a != b for ws, ls in zip(with_dswa, labels) for a, b in zip(ws, ls))


def test_model_setups_share_an_analyzer_only_when_every_setting_matches(tmp_path):
    setup = ModelSetup(tmp_path, PipelineConfig(), None)
    assert setup.cache_key() == ModelSetup(Path(f"{tmp_path}/."), PipelineConfig(), None).cache_key()
    assert setup.cache_key() != ModelSetup(tmp_path, PipelineConfig(), "cpu").cache_key()
    assert setup.cache_key() != ModelSetup(tmp_path, replace(PipelineConfig(), frames_per_second=1.0), None).cache_key()
