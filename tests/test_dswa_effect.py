"""What DSWA changes: the with/without comparison counts what it claims, and the report shows those counts."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch

from demo.tabs.learn_views import measured_effect_text
from spikemo.data.conversation import Conversation, Prediction, Utterance
from spikemo.data.labels import MELD_LABELS
from spikemo.model.checkpoint import load_checkpoint, read_checkpoint_summary
from spikemo.model.configuration import DSWA_VARIANTS
from spikemo.model.modeling import SpikEmoModel
from spikemo.model.neuron import spikes_silenced
from spikemo.paths import DEFAULT_DATA_DIR
from spikemo.training.dswa_ablation import (
    dswa_effect,
    predict_without_dswa,
    total_variation,
    weight_ratio,
    weight_statistics,
)
from spikemo.training.model_card import DSWA_EFFECT_KEYS
from spikemo.training.predict import predict_conversations
from tests.helpers import make_test_checkpoint, tiny_config
from train import dswa_effect as dswa_effect_cli


def labelled_conversations(count: int = 6, seed: int = 0) -> list[Conversation]:
    """Conversations of 1 to 6 turns with random 384-d text features and random gold emotions."""
    generator = np.random.default_rng(seed)
    conversations = []
    for c in range(count):
        utterances = [
            Utterance(speaker=f"S{i % 2}", text="...", emotion=str(generator.choice(MELD_LABELS)),
                      features={"text": generator.normal(size=384).astype(np.float32) * 3})
            for i in range(1 + c % 6)
        ]
        conversations.append(Conversation(f"c{c}", utterances))
    return conversations


def emotions(conversations: list[Conversation]) -> list[str]:
    return [u.prediction.emotion for c in conversations for u in c.utterances]


@pytest.mark.parametrize("variant", DSWA_VARIANTS)
def test_counts_are_the_labels_that_differ_between_the_passes(variant):
    torch.manual_seed(0)
    model = SpikEmoModel(tiny_config(("text",), dswa_variant=variant, time_steps=12)).eval()
    conversations = labelled_conversations()
    effect = dswa_effect(model, conversations)

    with_dswa = emotions(conversations)  # left on the conversations by dswa_effect
    predict_conversations(model, conversations, skip_dswa=True)
    without = emotions(conversations)
    with spikes_silenced(model):
        predict_conversations(model, conversations)
    silenced = emotions(conversations)
    assert effect["utterances"] == len(with_dswa) == 21 and effect["dswa_variant"] == variant
    assert effect["changed_without_dswa"] == sum(a != b for a, b in zip(with_dswa, without))
    assert effect["changed_with_spikes_silenced"] == sum(a != b for a, b in zip(with_dswa, silenced))
    assert set(effect["weighted_f1"]) == {"with_dswa", "without_dswa", "spikes_silenced", "order_shuffled"}
    assert effect["weighted_f1"]["spikes_silenced"] == effect["scores"]["spikes_silenced"]["weighted_f1"]
    shifts = effect["mean_probability_shift_percent"]
    assert shifts["without_dswa"] > 0 and shifts["spikes_silenced"] > 0  # each ablation moves the features
    assert effect["weight_ratio_median"]["text"] >= 1.0
    assert -1 <= effect["weight_feature_correlation"] <= 1 and effect["weight_change_T2"] > 0


def test_weight_statistics_see_the_residual_variant_follow_its_features():
    """Silenced, the residual variant's weights are exactly the features' own softmax: correlation 1."""
    torch.manual_seed(0)
    model = SpikEmoModel(tiny_config(("text",), dswa_variant="residual")).eval()
    conversations = labelled_conversations()
    with spikes_silenced(model):
        silenced = weight_statistics(model, conversations)
    assert silenced["weight_feature_correlation"] == pytest.approx(1.0, abs=1e-6)
    assert silenced["weight_feature_correlation_within_dialogue"] == pytest.approx(1.0, abs=1e-6)
    assert silenced["weight_change_T2"] == pytest.approx(0.0, abs=1e-7)  # no spikes: nothing depends on T
    live = weight_statistics(model, conversations)
    assert live["weight_feature_correlation"] < 1.0 - 1e-4


def test_predictions_without_dswa_leave_the_conversations_predictions_alone():
    torch.manual_seed(1)
    model = SpikEmoModel(tiny_config(("text",))).eval()
    conversations = labelled_conversations()
    predict_conversations(model, conversations)
    before = [u.prediction for c in conversations for u in c.utterances]
    without = predict_without_dswa(model, conversations)
    assert [u.prediction for c in conversations for u in c.utterances] == before
    assert [len(p) for p in without] == [len(c) for c in conversations]
    assert all(p.dswa_weights == {} for ps in without for p in ps)  # DSWA did not run
    assert any(a.probabilities != b.probabilities for a, b in zip(before, (p for ps in without for p in ps)))


def test_a_model_without_dswa_is_refused():
    config = dataclasses.replace(tiny_config(("text",)), use_dswa=False)
    with pytest.raises(ValueError, match="no DSWA"):
        dswa_effect(SpikEmoModel(config), labelled_conversations())


def test_total_variation_and_weight_ratio():
    assert total_variation({"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}) == 0
    assert total_variation({"a": 1.0, "b": 0.0}, {"a": 0.0, "b": 1.0}) == 1
    uniform = Conversation("u", [
        Utterance("A", "x", prediction=Prediction("joy", {"joy": 1.0}, dswa_weights={"text": 0.25}))
        for _ in range(4)
    ])
    assert weight_ratio(uniform, "text") == 1.0
    uniform.utterances[0].prediction.dswa_weights["text"] = 0.5
    assert weight_ratio(uniform, "text") == 2.0


@pytest.mark.slow
def test_cli_writes_the_report_it_measured(tmp_path, capsys):
    checkpoint = make_test_checkpoint(tmp_path / "ckpt", ("text",))
    dev = pd.read_csv(DEFAULT_DATA_DIR / "dev_sent_emo.csv")
    small_csv = tmp_path / "dev_small.csv"
    dev[dev["Dialogue_ID"] < 5].to_csv(small_csv, index=False)

    effect = dswa_effect_cli.main(["--checkpoint", str(checkpoint), "--csv", str(small_csv),
                                   "--out-dir", str(tmp_path / "out"), "--json"])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("changed_without_dswa", "changed_with_spikes_silenced", "weighted_f1", "weight_feature_correlation",
                "weight_change_T2"):
        assert printed[key] == effect[key]
    saved = json.loads((tmp_path / "out" / "dswa_effect.json").read_text())
    assert saved == printed and saved["csv"] == "dev_small.csv"
    assert effect["utterances"] == int((dev["Dialogue_ID"] < 5).sum())
    report = (tmp_path / "out" / "dswa_effect.md").read_text()
    assert f"skipped: {effect['changed_without_dswa']} of {effect['utterances']}" in report
    assert f"| spikes silenced | {effect['weighted_f1']['spikes_silenced']:.2f} |" in report
    assert load_checkpoint(checkpoint).config.use_dswa


def test_recorded_figures_reach_the_checkpoint_and_the_learn_tab(tmp_path, capsys):
    checkpoint = make_test_checkpoint(tmp_path / "ckpt", ("text",))
    dev = pd.read_csv(DEFAULT_DATA_DIR / "dev_sent_emo.csv")
    small_csv = tmp_path / "dev_small.csv"
    dev[dev["Dialogue_ID"] < 3].to_csv(small_csv, index=False)
    assert read_checkpoint_summary(checkpoint).dswa_effect is None
    assert "carries no measurement" in measured_effect_text(None)
    effect = dswa_effect_cli.main(["--checkpoint", str(checkpoint), "--csv", str(small_csv), "--record"])
    recorded = read_checkpoint_summary(checkpoint).dswa_effect
    assert recorded == {key: effect[key] for key in DSWA_EFFECT_KEYS}
    text = measured_effect_text(recorded)
    n = effect["utterances"]
    assert f"**{effect['changed_without_dswa']} of {n}** decisions" in text
    assert f"**{effect['changed_with_spikes_silenced']} of {n}** decisions" in text
    assert f"F1 {effect['weighted_f1']['order_shuffled']:.2f}" in text


@pytest.mark.parametrize("silenced, verdict", [(4, "decide little"), (5, "real share")])
def test_the_learn_tab_says_whether_the_spikes_decide(silenced, verdict):
    effect = {"csv": "dev.csv", "dswa_variant": "conversation", "time_steps": 4, "utterances": 100,
              "changed_without_dswa": 9, "changed_with_spikes_silenced": silenced, "changed_with_order_shuffled": 12,
              "weighted_f1": {"with_dswa": 60.0, "without_dswa": 59.0, "spikes_silenced": 58.0, "order_shuffled": 57.0},
              "order_shuffle_f1_drop": 3.0, "weight_feature_correlation": 0.5, "weight_change_T2": 0.01}
    text = measured_effect_text(effect)
    assert verdict in text and f"**{silenced} of 100** decisions ({silenced:.1f} %)" in text


def test_cli_writes_no_files_for_another_checkpoint_unless_asked(tmp_path, monkeypatch):
    checkpoint = make_test_checkpoint(tmp_path / "ckpt", ("text",))
    dev = pd.read_csv(DEFAULT_DATA_DIR / "dev_sent_emo.csv")
    small_csv = tmp_path / "dev_small.csv"
    dev[dev["Dialogue_ID"] < 2].to_csv(small_csv, index=False)
    monkeypatch.setattr(dswa_effect_cli, "RESULTS_DIR", tmp_path / "results")
    dswa_effect_cli.main(["--checkpoint", str(checkpoint), "--csv", str(small_csv), "--json"])
    assert not (tmp_path / "results").exists()
