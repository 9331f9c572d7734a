"""The documents' numbers come from the results they report: each is checked against the record it was copied from
(the shipped checkpoint's metadata, the voice model's config, the GPU runs' JSON, the generated result pages), so
an edit to either side that leaves the other stale fails here. Links between the documents point at files that
exist."""

import json
import re
from pathlib import Path

import pytest

from spikemo.model.checkpoint import read_checkpoint_summary
from spikemo.paths import DEFAULT_CHECKPOINT
from spikemo.training.model_card import DSWA_EFFECT_KEYS

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
RESULTS = REPO / "train" / "results"
# Written by hand; every other page under train/results/ is written by the command that measured it.
HAND_WRITTEN_RESULTS = [RESULTS / "README.md", RESULTS / "text_encoder.md"]
MEAN_STD = re.compile(r"\d+\.\d+ ± \d+\.\d+")


def _table_after(text: str, marker: str) -> dict[str, str]:
    """The first Markdown table after `marker`, as header -> cell of its first row."""
    rows = [line for line in text[text.index(marker):].splitlines() if line.startswith("|")][:3]
    header, _, first = ([cell.strip() for cell in row.strip("|").split("|")] for row in rows)
    return dict(zip(header, first))


def test_the_readmes_checkpoint_table_is_the_checkpoints_recorded_dev_score():
    recorded = json.loads((REPO / "assets/checkpoints/spikemo-meld-text/config.json").read_text())["metrics"]["dev"]
    for text in (README, (REPO / "docs/results.md").read_text(encoding="utf-8")):
        table = _table_after(text, "**Shipped checkpoint**")
        assert float(table["weighted F1"].strip("*")) == recorded["weighted_f1"]
        assert float(table["accuracy"]) == recorded["accuracy"]
        assert {label: float(table[label]) for label in recorded["per_class_f1"]} == recorded["per_class_f1"]
    assert f"({recorded['n_utterances']} utterances)" in README


def test_the_readmes_voice_model_figure_is_its_recorded_cross_validation():
    folds = json.loads((REPO / "assets/voice/ravdess-compare/config.json").read_text())["training"]
    scores = folds["leave_actors_out"]
    assert (f"{scores['accuracy_mean']:.2f} ± {scores['accuracy_std']:.2f} % accuracy over {folds['folds']}"
            in README.replace("\n", " "))


@pytest.mark.parametrize("document", DOCS, ids=lambda path: path.name)
def test_links_between_documents_point_at_files_that_exist(document):
    text = document.read_text(encoding="utf-8")
    targets = [t for t in re.findall(r"\]\(([^)#\s]+)", text) if not t.startswith(("http://", "https://"))]
    missing = [t for t in targets if not (document.parent / t).exists()]
    assert not missing, missing


def _generated_pages() -> list[Path]:
    pages = [p for p in RESULTS.rglob("*.md") if p not in HAND_WRITTEN_RESULTS]
    return pages + sorted((REPO / "assets").rglob("README.md"))


@pytest.mark.parametrize("document", [*DOCS, RESULTS / "README.md"], ids=lambda path: path.name)
def test_every_mean_and_spread_in_the_documents_is_on_a_generated_page(document):
    """A "mean ± std" typed into a document must be one that a command wrote into a result page or model card."""
    generated = set()
    for page in _generated_pages():
        generated |= set(MEAN_STD.findall(page.read_text(encoding="utf-8").replace("\n", " ")))
    typed = MEAN_STD.findall(document.read_text(encoding="utf-8").replace("\n", " "))
    assert [figure for figure in typed if figure not in generated] == []


def _rows_after(text: str, marker: str) -> list[list[str]]:
    """The body rows of the first Markdown table after `marker`, cells stripped of bold marks."""
    lines = [line for line in text[text.index(marker):].splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip().replace("**", "") for cell in line.strip("|").split("|")])
    return rows


def test_the_text_encoder_sweep_tables_are_the_gpu_runs_records():
    from spikemo.training.summary import mean_std

    runs = json.loads((RESULTS / "mpnet_h200_runs.json").read_text())
    page = (RESULTS / "text_encoder.md").read_text(encoding="utf-8")
    sweep = _rows_after(page, "| recipe (stage 1) |")
    assert len(sweep) >= 5
    for recipe, seeds, per_seed, spread in sweep:
        lr, epochs = re.fullmatch(r"lr (\S+), (\d) epochs?", recipe).groups()
        first, _, last = seeds.partition("-")
        keys = [f"lr{lr}{'-e3' if epochs == '3' else ''}-s{seed}" for seed in range(int(first), int(last or first) + 1)]
        scores = [runs[key]["dev_weighted_f1"] for key in keys]
        assert [float(value.split()[0]) for value in per_seed.split(", ")] == scores
        assert spread in ("", mean_std(scores))
    chosen = _rows_after(page, "| seed | stage 1 dev wF1 |")
    assert len(chosen) == 5
    for seed, stage1, wf1, accuracy, fear, disgust, epoch, _, minutes in chosen:
        run = runs[f"lr2e-4-e3-s{seed}"]
        assert (float(stage1), float(wf1), float(accuracy), int(epoch), float(minutes)) == (
            run["stage1_head_dev_weighted_f1"], run["dev_weighted_f1"], run["dev_accuracy"],
            run["stage2_best_epoch"], run["minutes"])
        assert (float(fear), float(disgust)) == (run["dev_per_class_f1"]["fear"], run["dev_per_class_f1"]["disgust"])


def test_the_generated_result_pages_say_how_to_rebuild_them():
    for page in (RESULTS / "voice.md", RESULTS / "joint" / "joint.md"):
        assert "Made by `python -m train." in page.read_text(encoding="utf-8")


def test_what_dswa_decides_is_the_recorded_effect_of_the_shipped_checkpoint():
    effect = json.loads((RESULTS / "dswa_effect.json").read_text())
    results = (REPO / "docs" / "results.md").read_text(encoding="utf-8").replace("\n", " ")
    f1 = effect["weighted_f1"]
    assert (f"{effect['changed_without_dswa']} of {effect['utterances']} predictions change without DSWA and "
            f"{effect['changed_with_spikes_silenced']} with the spikes silenced; weighted F1 is "
            f"{f1['with_dswa']:.2f} as trained, {f1['without_dswa']:.2f} without DSWA and "
            f"{f1['spikes_silenced']:.2f} silenced") in results
    assert f"correlate {effect['weight_feature_correlation_within_dialogue']:.4f}" in results
    assert (f"DSWA changes {effect['changed_without_dswa']} of {effect['utterances']} dev decisions and its spikes "
            f"{effect['changed_with_spikes_silenced']}") in README.replace("\n", " ")
    # the Learn tab reads the figures the checkpoint carries: the same run's
    recorded = read_checkpoint_summary(DEFAULT_CHECKPOINT).dswa_effect
    assert recorded == {key: effect[key] for key in DSWA_EFFECT_KEYS}


def test_the_speaker_turn_figures_are_the_recorded_benchmark_runs():
    runs = {m: json.loads((RESULTS / "speaker-turns" / f"{m}.json").read_text()) for m in ("timeline", "words")}
    page = (REPO / "docs" / "speaker-turns.md").read_text(encoding="utf-8")
    for method, label in (("words", "words (the method before)"), ("timeline", "**timeline (now)**")):
        mean = runs[method]["mean"]
        der = f"**{mean['der']:.1f}**" if method == "timeline" else f"{mean['der']:.1f}"
        assert (f"| {label} | {der} | {mean['der_collar']:.1f} | {mean['missed']:.1f} | {mean['false_alarm']:.1f} | "
                f"{mean['confusion']:.1f} | {mean['jer']:.1f} | {mean['count_exact']} of {mean['files']} | "
                f"{mean['pooled_der']:.1f} |") in page
        assert runs[method]["data"] == "CONVERSATIONS_DIR"  # no machine's folder in the record
    timeline, words = runs["timeline"]["mean"], runs["words"]["mean"]
    assert (f"is **{timeline['der']:.1f} %** against {words['der']:.1f} % for the word-by-word clustering it replaced "
            f"(`--diarizer words`), and the estimated speaker count is exact on {timeline['count_exact']} files "
            f"instead of {words['count_exact']}") in README.replace("\n", " ")


def test_the_speed_figures_are_the_recorded_benchmark_runs():
    speed = {name: json.loads((RESULTS / "speed" / f"{name}.json").read_text())
             for name in ("pipeline-generated-60s", "pipeline-two_friends", "cold-two_friends")}
    generated, example, cold = speed.values()
    results = (REPO / "docs" / "results.md").read_text(encoding="utf-8").replace("\n", " ")
    stages = generated["stage_median_seconds"]
    for figure in (f"analysed end to end in {generated['median_seconds']:.1f} s, {generated['real_time_ratio']:.2f} x "
                   f"real time and {generated['speech_ratio']:.2f} x its speech stage ({stages['speech']:.2f} s)",
                   f"example in {example['median_seconds']:.1f} s, {example['speech_ratio']:.2f} x its speech stage "
                   f"({example['stage_median_seconds']['speech']:.2f} s)",
                   f"then text {stages['text']:.2f}, visual {stages['visual']:.2f} and audio {stages['audio']:.2f}",
                   f"included): {generated['peak_rss_mib']:.0f} MiB",
                   f"takes {cold['median_analyze_seconds']:.1f} s against {cold['median_transcribe_seconds']:.1f} s",
                   f"the same file: {cold['ratio']:.2f} x"):
        assert figure in results
    long = json.loads((RESULTS / "speed" / "pipeline-generated-590s.json").read_text())
    assert (f"takes {long['median_seconds']:.1f} s, {long['real_time_ratio']:.2f} x real time and "
            f"{long['speech_ratio']:.2f} x its speech stage, peak memory {long['peak_rss_mib']:.0f} MiB") in results
    readme = (f"example in {example['median_seconds']:.1f} s, a generated {generated['video_seconds']:.0f} s "
              f"conversation in {generated['median_seconds']:.1f} s ({generated['real_time_ratio']:.2f} x real time); "
              f"a cold `python -m spikemo analyze` of the example in {cold['median_analyze_seconds']:.1f} s, "
              f"{cold['ratio']:.2f} x")
    assert (readme) in README.replace("\n", " ")


def test_the_scoring_figures_are_the_recorded_benchmark_run():
    run = json.loads((RESULTS / "speed" / "scoring-dev.json").read_text())
    first, later = f"{run['median_first_seconds']:.1f} s", f"{run['median_cached_seconds']:.1f} s"
    assert f"scores MELD dev in {first} the first time and in {later} after" in README.replace("\n", " ")
    results = (REPO / "docs" / "results.md").read_text(encoding="utf-8").replace("\n", " ")
    assert f"{run['turns']} labelled turns" in results and f"{first} the first time" in results
    assert f"{later} for every later scoring" in results
    agreement = run["agreement"]  # ONNX Runtime's features against torch's, scored the same way
    same = f"{agreement['changed_decisions']} of {agreement['turns']} dev decisions differ"
    assert same in README.replace("\n", " ") and agreement["weighted_f1"] == agreement["torch_weighted_f1"]
    assert (f"{agreement['changed_decisions']} of {agreement['turns']} differ, weighted F1 "
            f"{agreement['weighted_f1']:.2f} with either") in results


def test_the_baseline_figure_is_its_recorded_run():
    dev = json.loads((RESULTS / "baseline.json").read_text())["dev"]
    assert f"logistic regression scores {dev['weighted_f1']:.2f} on dev" in README.replace("\n", " ")
    results = (REPO / "docs" / "results.md").read_text(encoding="utf-8").replace("\n", " ")
    assert f"scores {dev['weighted_f1']:.2f} weighted F1 on dev (`python -m train.baseline`)" in results
