"""The training entry points run their real loops in quick mode, and what they write is what they measured."""

import json

import pytest
import torch

from spikemo.errors import InputError, run_command
from spikemo.model.checkpoint import load_checkpoint
from spikemo.model.configuration import SpikEmoConfig
from spikemo.model.modeling import SpikEmoModel
from spikemo.paths import DEFAULT_DATA_DIR
from spikemo.text.packaged import default_text_encoder_path
from spikemo.training.evaluate import evaluate_csv
from train import experiments
from train import meld as train_meld

pytestmark = pytest.mark.slow  # real models on generated media, or training (see pyproject.toml)


@pytest.fixture(scope="module")
def quick_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "quick"
    metadata = train_meld.main(["--quick", "--out", str(out)])
    return out, metadata


def test_train_meld_quick_writes_a_loadable_checkpoint(quick_checkpoint):
    out, metadata = quick_checkpoint
    checkpoint = load_checkpoint(out)
    assert checkpoint.config.modalities == ("text",)
    assert checkpoint.text_encoder_dir is not None and checkpoint.text_encoder_dir.is_dir()
    saved = json.loads((out / "config.json").read_text())
    assert saved["training_data"]["quick"] is True
    assert saved["metrics"]["stage2_best_epoch"] >= 1
    assert len(saved["metrics"]["stage2_history"]) >= 1
    expected_device = "cuda" if torch.cuda.is_available() else "cpu"  # the default: the GPU when present
    assert saved["timings"]["device"] == expected_device
    assert not (out / train_meld.STATE_FOLDER).exists()  # stage 1's resumable state goes once the checkpoint is saved


def test_model_card_numbers_are_what_evaluate_measures(quick_checkpoint):
    out, metadata = quick_checkpoint
    measured = evaluate_csv(DEFAULT_DATA_DIR / "dev_sent_emo.csv", out)
    saved = json.loads((out / "config.json").read_text())
    assert saved["metrics"]["dev"]["weighted_f1"] == measured["weighted_f1"]
    card = (out / "README.md").read_text()
    assert f"Weighted F1 **{measured['weighted_f1']:.2f}**" in card
    assert "Quick mode" in card
    assert "Stage 1 recipe: all weights but the word embeddings, 1 epochs at peak learning rate 0.0001, " \
           "cross-entropy; each utterance read with the 3 previous turns, up to 128 tokens." in card
    assert "Its text encoder's base (sentence-transformers/all-MiniLM-L6-v2) is Apache-2.0." in card
    for label, f1 in measured["per_class_f1"].items():
        assert f"| {label} | {f1:.2f} |" in card


def test_card_states_the_encoders_recipe_and_licence(quick_checkpoint):
    from spikemo.training.model_card import render_model_card

    metadata = json.loads((quick_checkpoint[0] / "config.json").read_text())
    metadata["text_encoder_base"] = "roberta-base"
    metadata["text_finetune"].update(lora_rank=16, lora_layers=4, epochs=2, learning_rate=3e-4)
    card = render_model_card(metadata)
    assert "Stage 1 recipe: LoRA adapters of rank 16 in the top 4 transformer layers, 2 epochs at peak " \
           "learning rate 0.0003, cross-entropy" in card
    assert "Its text encoder's base (roberta-base) comes under its own licence." in card
    assert "torch thread(s) on a 2-core CPU" in card
    metadata["text_finetune"]["bf16"] = True
    assert "cross-entropy (training steps under bfloat16 autocast); each utterance" in render_model_card(metadata)
    metadata["timings"].update(device="cuda", device_name="NVIDIA H200")
    assert "on one GPU (NVIDIA H200); the model runs on CPU as well" in render_model_card(metadata)
    del metadata["text_encoder_config"]  # a checkpoint saved before the recipe was recorded
    assert "Stage 1 recipe" not in render_model_card(metadata)


def test_train_meld_stage2_only_on_an_earlier_encoder(quick_checkpoint, tmp_path):
    earlier, _ = quick_checkpoint
    out = tmp_path / "stage2"
    metadata = train_meld.main(["--quick", "--stage1-from", str(earlier), "--dswa-variant", "residual",
                                "--choice", "DSWA variant residual: chosen on dev", "--out", str(out)])
    saved = json.loads((earlier / "config.json").read_text())
    assert metadata["metrics"]["stage1"] == saved["metrics"]["stage1"]  # stage 1 was not run again
    assert metadata["timings"]["stage1_reused_from"] == str(earlier)
    earlier_weights = sorted((earlier / "text_encoder").glob("*.safetensors"))
    assert [p.read_bytes() for p in earlier_weights] == [
        (out / "text_encoder" / p.name).read_bytes() for p in earlier_weights]
    checkpoint = load_checkpoint(out)
    assert (checkpoint.config.dswa_variant, checkpoint.config.lif_time_constant) == ("residual", 2.0)
    card = (out / "README.md").read_text()
    assert "## Choices made on dev" in card and "- DSWA variant residual: chosen on dev" in card
    assert "DSWA variant `residual`" in card and "stage 1 reused from" in card


def test_train_meld_resume_goes_on_from_the_saved_stage1(monkeypatch, tmp_path):
    out = tmp_path / "killed"

    def killed(*args, **kwargs):  # the run dies in stage 2, after stage 1 saved its state
        raise KeyboardInterrupt

    monkeypatch.setattr(train_meld, "train_spikemo", killed)
    with pytest.raises(KeyboardInterrupt):
        train_meld.main(["--quick", "--out", str(out)])
    state = out / train_meld.STATE_FOLDER / "text_encoder.pt"
    saved = torch.load(state, weights_only=True)["run"]
    monkeypatch.undo()

    metadata = train_meld.main(["--quick", "--resume", "--out", str(out)])
    assert metadata["metrics"]["stage1"]["epochs"] == saved["history"]  # stage 1 came from the state, not a rerun
    assert not state.parent.exists() and load_checkpoint(out).config.modalities == ("text",)


def test_choices_recorded_after_training_rewrite_the_card(quick_checkpoint, tmp_path):
    import shutil

    from train import model_card

    out = tmp_path / "copy"
    shutil.copytree(quick_checkpoint[0], out)
    model_card.main([str(out), "--choice", "kept the residual variant: see table4.md"])
    saved = json.loads((out / "config.json").read_text())
    assert saved["choices"] == ["kept the residual variant: see table4.md"]
    card = (out / "README.md").read_text()
    assert "## Choices made on dev" in card and "- kept the residual variant: see table4.md" in card
    assert f"Weighted F1 **{saved['metrics']['dev']['weighted_f1']:.2f}**" in card
    assert load_checkpoint(out).config.modalities == ("text",)


def test_dev_scored_again_here_becomes_the_cards_result(quick_checkpoint, tmp_path):
    import shutil

    from train import model_card

    out = tmp_path / "copy"
    shutil.copytree(quick_checkpoint[0], out)
    config = json.loads((out / "config.json").read_text())
    config["metrics"]["dev"].update(weighted_f1=99.0, accuracy=98.0)  # as if another machine had scored it
    config["timings"].update(device="cuda", device_name="NVIDIA H200")
    (out / "config.json").write_text(json.dumps(config))
    model_card.main([str(out), "--rescore-dev", str(DEFAULT_DATA_DIR / "dev_sent_emo.csv")])
    measured = evaluate_csv(DEFAULT_DATA_DIR / "dev_sent_emo.csv", out, device="cpu")
    saved = json.loads((out / "config.json").read_text())
    assert saved["metrics"]["dev"]["weighted_f1"] == measured["weighted_f1"] != 99.0
    assert saved["metrics"]["dev_at_training"] == {"weighted_f1": 99.0, "accuracy": 98.0}
    card = (out / "README.md").read_text()
    assert f"Weighted F1 **{measured['weighted_f1']:.2f}**" in card
    assert "on CPU, after training; on the machine that trained it (NVIDIA H200), the same command gave 99.00 " \
           "weighted F1 and 98.00 accuracy" in card


def test_train_meld_quick_with_cross_fitted_features(tmp_path):
    metadata = train_meld.main(["--quick", "--cross-fit", "2", "--text-future-turns", "1", "--text-class-weighting",
                                "--out", str(tmp_path / "cross")])
    assert metadata["text_finetune"]["class_weighting"] is True
    saved_recipe = json.loads((tmp_path / "cross" / "text_encoder" / "text_encoder_config.json").read_text())
    assert saved_recipe["future_turns"] == 1  # the app reads the next turn too, as stage 1 did
    assert len(metadata["metrics"]["stage1"]["cross_fit"]) == 2
    assert all(report["train_utterances"] > 0 for report in metadata["metrics"]["stage1"]["cross_fit"])
    assert metadata["training_data"]["cross_fit_folds"] == 2
    card = (tmp_path / "cross" / "README.md").read_text()
    assert "cross-fitted train features (2 encoders" in card
    assert "class-weighted cross-entropy; each utterance read with the 3 previous turns and the 1 following" in card
    assert load_checkpoint(tmp_path / "cross").config.modalities == ("text",)


def test_experiments_quick_writes_tables_and_resumes(tmp_path):
    args = [
        "--quick", "--text-encoder", default_text_encoder_path(), "--results-dir", str(tmp_path),
        "--seeds", "0", "1", "--experiments", "table4", "figure4", "table5", "--time-steps", "2", "4",
        "--dswa-variant", "residual", "--models-dir", str(tmp_path / "models"),
    ]
    first = experiments.main(args)
    # table4: full, no_dice, no_dswa (the two no_corr rows are inert with text only); figure4: T2 (T4 is the
    # quick preset's T, i.e. table4's full run); table5: text alone is table4's full run too
    assert sorted({r["name"] for r in first}) == ["T2", "full", "no_dice", "no_dswa"]
    assert len(first) == 8
    table4 = (tmp_path / "table4.md").read_text()
    assert "not run: L_corr needs two modalities" in table4
    assert "| full | 2 |" in table4 and "65.92" in table4 and "61.53" in table4
    assert "| spikes_silenced | 2 |" in table4 and "DSWA variant: residual" in table4
    full = [r for r in first if r["name"] == "full"]
    for record in full:  # the silenced row and the effect table hold what each full run measured
        assert f"| {record['seed']} | {record['dev']['weighted_f1']:.2f} | " in table4
        assert record["dswa_effect"]["changed_with_spikes_silenced"] >= 0
        assert record["model"]["dswa_variant"] == "residual"
        assert SpikEmoConfig.from_dict(record["model"]).lif_time_constant == 2.0
    assert SpikEmoModel.from_pretrained(tmp_path / "models" / "table4-full-seed0").config.dswa_variant == "residual"
    figure4 = (tmp_path / "figure4.md").read_text()
    assert "| T2 | 2 |" in figure4 and "| T4 | 2 |" in figure4
    assert "| 4 | 2 | " in figure4  # the trend: T4 against T2, paired over both seeds
    assert (tmp_path / "figure4.png").stat().st_size > 0
    table5 = (tmp_path / "table5.md").read_text()
    assert "| text | 2 |" in table5 and "59.56" in table5
    assert "| audio | – | needs MELD's clips" in table5 and "35.91" in table5
    assert all("latency_ms" in r and r["dev"]["n_utterances"] > 0 for r in first)
    assert experiments.main(args) == []  # resumed: every run's JSON exists, nothing is trained again
    for name in ("table4.md", "figure4.md", "table5.md"):  # the tables come back from the run JSONs alone
        (tmp_path / name).unlink()
    assert experiments.main([*args, "--reports-only"]) == []
    assert (tmp_path / "table4.md").read_text() == table4 and (tmp_path / "figure4.md").read_text() == figure4
    assert (tmp_path / "table5.md").read_text() == table5
    assert all("quick subset" in r["source"] and "weights sha256" in r["source"] for r in first)

    # A T sweep run on its own trains the preset's T too; the report counts that configuration once per seed.
    sweep = ["--quick", "--text-encoder", default_text_encoder_path(), "--results-dir", str(tmp_path),
             "--seeds", "0", "1", "--experiments", "figure4", "--time-steps", "4", "--dswa-variant", "residual"]
    assert [r["name"] for r in experiments.main(sweep)] == ["T4", "T4"]
    assert "| T4 | 2 |" in (tmp_path / "figure4.md").read_text()

    # Runs from another data source are never resumed into the same tables.
    run = tmp_path / "runs" / "table4-full-seed0.json"
    run.write_text(json.dumps({**json.loads(run.read_text()), "source": "feature store elsewhere"}))
    with pytest.raises(InputError, match="give this data source its own --results-dir"):
        experiments.main(args)


def test_t_sweep_trend_pairs_each_t_with_the_smallest_by_seed():
    scores = {("T2", 0): 60.0, ("T2", 1): 62.0, ("T8", 0): 61.0, ("T8", 1): 62.5, ("T8", 2): 70.0,
              ("T32", 1): 61.0}
    records = [{"name": name, "seed": seed, "dev": {"weighted_f1": f1}} for (name, seed), f1 in scores.items()]
    trend = experiments.t_sweep_trend(records).splitlines()
    # T8: +1.0 and +0.5 (seed 2 has no T2 run to pair with); T32: -1.0 from seed 1 alone
    assert trend[0] == "| T | seeds paired | change from T=2 (points) |"
    assert trend[2:] == ["| 8 | 2 | 0.75 ± 0.35 |", "| 32 | 1 | -1.00 |"]
    assert experiments.t_sweep_trend(records[:2]) == ""


def test_train_commands_end_a_library_error_in_one_line(capsys):
    def fails():
        raise InputError("the CSV has no Emotion column")

    assert run_command(fails) == 2
    assert capsys.readouterr().err == "error: the CSV has no Emotion column\n"


def test_frozen_encoder_baseline_scores_what_it_predicts(tmp_path):
    import pandas as pd

    from train import baseline

    for split, dialogues in (("train", 40), ("dev", 10)):
        table = pd.read_csv(DEFAULT_DATA_DIR / f"{split}_sent_emo.csv", dtype=str, keep_default_na=False)
        table[table["Dialogue_ID"].astype(int) < dialogues].to_csv(tmp_path / f"{split}.csv", index=False)
    result = baseline.main(["--train-csv", str(tmp_path / "train.csv"), "--dev-csv", str(tmp_path / "dev.csv")])
    dev = result["dev"]
    assert dev["n_utterances"] == sum(sum(row) for row in dev["confusion"]) > 50
    assert result["encoder_config"]["context_turns"] == 0
    assert 0 < dev["weighted_f1"] <= 100
