"""The app's tab handlers called directly (real pipeline, random-init test checkpoint), the model work of
demo/worker.py outside a ZeroGPU Space, and the running app through gradio_client on a bundled example."""

import ast
import json
import socket
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

from demo import AppConfig, build_demo, worker
from demo.app import checkpoint_status
from demo.config import example_label
from demo.markup import md
from demo.state import AppState
from demo.tabs.analyse import NO_TRANSCRIPT, AnalyseTab
from demo.tabs.analyse_views import modality_statement
from demo.tabs.inspect import PAGE_SIZE, InspectTab
from demo.tabs.learn import InputShape, LearnTab
from demo.tabs.learn_views import without_dswa_sentence
from spikemo.data.conversation import Prediction
from spikemo.data.labels import MELD_LABELS
from spikemo.data.meld import read_meld_csv
from spikemo.data.transcript import TranscriptLimits
from spikemo.model.checkpoint import load_checkpoint
from spikemo.model.modeling import SpikEmoModel
from spikemo.training.dswa_ablation import predict_without_dswa
from spikemo.training.inspection import ConfusionView, SortOrder, display_turns, scored_turns, sort_turns
from spikemo.training.metrics import classification_metrics
from spikemo.training.predict import gold_and_predicted
from spikemo.video.media import probe_video
from spikemo.viz.lif_teaching import INPUT_SHAPES, SWEEP_TIME_STEPS, TimeStepSweep
from tests.helpers import make_test_checkpoint, tiny_config, write_srt

pytestmark = pytest.mark.slow  # real models on generated media, or training (see pyproject.toml)

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "assets" / "examples"
EXAMPLE = "two_friends_with_transcript"
MELD_DEV = REPO / "data" / "meld" / "dev_sent_emo.csv"


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory) -> Path:
    return make_test_checkpoint(tmp_path_factory.mktemp("ckpt") / "text-only", ("text",))


@pytest.fixture(scope="module")
def state(checkpoint_dir) -> AppState:
    return AppState(AppConfig(checkpoint_dir=checkpoint_dir))


@pytest.fixture(scope="module")
def analyse_tab(state) -> AnalyseTab:
    return AnalyseTab(state)


@pytest.fixture(scope="module")
def inspect_tab(state) -> InspectTab:
    return InspectTab(state)


@pytest.fixture(scope="module")
def learn_tab(state) -> LearnTab:
    return LearnTab(state)


@pytest.fixture(scope="module")
def example(state):
    return state.example(EXAMPLE)


@pytest.fixture(scope="module")
def result(analyse_tab, example):
    return analyse_tab.analyse(str(example.video), str(example.transcript), None, "tiny.en")


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory) -> Path:
    """The first four dialogues of MELD dev."""
    table = pd.read_csv(MELD_DEV, dtype=str, keep_default_na=False)
    first = table["Dialogue_ID"].drop_duplicates().head(4)
    path = tmp_path_factory.mktemp("csv") / "small_dev.csv"
    table[table["Dialogue_ID"].isin(first)].to_csv(path, index=False)
    return path


def test_examples_are_bundled_with_their_scripts(state):
    assert {e.name for e in state.examples} == {"two_friends", "two_friends_with_transcript"}
    for e in state.examples:
        assert e.script["duration"] == pytest.approx(30, abs=2)
        assert len({t["emotion"] for t in e.script["turns"]}) >= 5  # clear and different emotions
        assert e.video.stat().st_size < 2_000_000
    assert (EXAMPLES / "README.md").read_text().count("Licence") == 1


def test_examples_show_as_distinct_named_pictures_that_fill_the_inputs(state, analyse_tab):
    pictures = state.example_thumbnails()
    assert [p.parent for p in pictures] == [state.temp_dir / "examples"] * 2
    first, second = (np.asarray(Image.open(p)) for p in pictures)
    assert first.shape == second.shape and np.abs(first.astype(int) - second).mean() > 20  # different faces
    assert [example_label(e) for e in state.examples] == ["Two friends, by Whisper", "Two friends, with transcript"]
    video, transcript = analyse_tab.pick_example(SimpleNamespace(index=1))
    assert (video, transcript) == (str(EXAMPLES / "two_friends_with_transcript.mp4"),
                                   str(EXAMPLES / "two_friends_with_transcript.srt"))
    assert analyse_tab.pick_example(SimpleNamespace(index=0)) == (str(EXAMPLES / "two_friends.mp4"), None)


def test_turn_table_lists_every_scripted_turn(result, example):
    table = result.turn_table
    script = example.script["turns"]
    assert len(table) == len(script)
    assert list(table["text"]) == [t["text"] for t in script]
    assert list(table["speaker"]) == [t["speaker"] for t in script]
    assert set(table["emotion"]) <= set(MELD_LABELS)
    assert table["confidence"].between(1 / len(MELD_LABELS), 1).all()
    assert table["time"].iloc[0] == "0:00.4"
    assert table["face"].str.contains(r"\(\d\.\d\d\)").all()  # the astronaut face is seen in every turn
    assert set(table["face agrees"]) <= {"yes", "NO"}
    assert table["voice"].str.fullmatch(r"[a-z]+ \(\d\.\d\d\)").all()  # the voice cue's emotion, every turn
    assert {v.split(" ")[0] for v in table["voice"]} <= set(MELD_LABELS)
    assert set(table["voice agrees"]) <= {"yes", "NO"}
    assert "prosody" in table.columns


def test_result_figures(result, example):
    turns = len(example.script["turns"])
    for figure in (result.timeline, result.probabilities, result.heatmap, result.cue_strips):
        assert isinstance(figure, Figure)
    assert [t.get_text() for t in result.timeline.axes[0].get_yticklabels()] == ["Alex", "Blair"]
    assert result.heatmap.axes[0].get_images()[0].get_array().shape == (turns, 1)  # a row per turn; text only
    assert len([p for p in result.cue_strips.axes[0].patches]) == 3 * turns  # model, face and voice columns
    assert [t.get_text() for t in result.cue_strips.axes[0].get_xticklabels()] == ["model", "face cue", "voice cue"]
    assert result.turn["maximum"] == turns
    assert result.layer["choices"] == ["text/layer0"]


def test_summary_lists_the_notes(result):
    assert "9 turns, 2 speakers" in result.summary
    assert "transcript supplied" in result.summary
    assert "trained on" not in result.summary  # the banner's


def test_text_only_notice_is_a_banner_not_a_toast(analyse_tab, example, monkeypatch):
    def toast(message: str, *args, **kwargs) -> None:
        raise AssertionError(f"a toast covers the results: {message}")

    monkeypatch.setattr(gr, "Warning", toast)
    monkeypatch.setattr(gr, "Info", toast)
    notice = analyse_tab.analyse(str(example.video), str(example.transcript)).notice
    assert notice.startswith("**The loaded checkpoint was trained on text (the words).**")
    assert "voice and face are extracted and shown beside the prediction as a cue only" in notice
    assert "acted speech (see About the model)" in notice and "RAVDESS" not in notice  # the caveat once


def test_an_examples_transcript_goes_only_with_its_own_video(analyse_tab, example, tmp_path):
    other_video = EXAMPLES / "two_friends.mp4"
    copy = tmp_path / "copy.srt"  # Gradio serves the example's transcript from a copy in its cache
    copy.write_bytes(example.transcript.read_bytes())
    assert analyse_tab.transcript_for(str(example.video), str(copy))[0] == str(copy)
    dropped, note = analyse_tab.transcript_for(str(other_video), str(copy))
    assert dropped is None and "example's transcript was not used" in note
    own = tmp_path / "mine.srt"
    own.write_text("1\n00:00:01,000 --> 00:00:02,000\nMe: hello\n", encoding="utf-8")
    kept, note = analyse_tab.transcript_for(str(other_video), str(own))
    assert kept == str(own) and r"mine\.srt" in note and "uploaded" in note  # the name escaped for Markdown
    assert analyse_tab.transcript_for(str(other_video), None) == (None, NO_TRANSCRIPT)


def test_downloads_and_the_json_output_hold_the_analysis(result, example):
    json_path, csv_path = (Path(p) for p in result.downloads)
    data = json.loads(json_path.read_text())
    assert result.record == data  # the JSON output is the CLI's record
    assert len(data["utterances"]) == len(example.script["turns"])
    assert data["modalities_used"] == ["text"]
    table = pd.read_csv(csv_path)
    assert list(table["emotion"]) == list(result.turn_table["emotion"])


def test_select_turn_shows_its_details_and_spikes(analyse_tab, result):
    view = analyse_tab.select_turn(result.analysis, 3, "text/layer0")
    utterance = result.analysis.conversation.utterances[2]
    assert md(utterance.text) in view.details  # escaped: shown as text
    assert f"**Model (text): {utterance.prediction.emotion}**" in view.details
    assert "Face cue" in view.details and "Voice cue" in view.details and "Voice prosody" in view.details
    assert f"**Voice cue: {result.analysis.cues[2].voice_emotion}**" in view.details
    assert "acted speech" in view.details  # what the voice model was trained on, said where it is shown
    raster = view.raster.axes[0]
    spikes = result.analysis.spikes["text/layer0"][2]
    assert len(raster.collections[0].get_offsets()) == spikes.sum()
    assert len(view.rates.axes[0].lines) == 1
    assert len(view.turn_probabilities.axes[0].patches) == len(MELD_LABELS)


@pytest.mark.parametrize("turn", [0, 99, None])
def test_select_turn_out_of_range(analyse_tab, result, turn):
    with pytest.raises(gr.Error, match="Pick a turn between 1 and 9"):
        analyse_tab.select_turn(result.analysis, turn, None)


def test_select_row_moves_the_slider_to_the_clicked_turn(analyse_tab, result):
    event = gr.SelectData(None, {"index": [3, 2], "value": "", "selected": True})
    selection = analyse_tab.select_row(result.analysis, "text/layer0", event)
    assert selection.turn == 4
    assert selection.details == analyse_tab.select_turn(result.analysis, 4, "text/layer0").details


def test_bad_inputs_give_readable_errors(analyse_tab, example, tmp_path):
    with pytest.raises(gr.Error, match="Upload a video"):
        analyse_tab.analyse(None, None, None, "tiny.en")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(gr.Error, match="SRT, WebVTT or MELD CSV"):
        analyse_tab.analyse(str(example.video), str(notes), None, "tiny.en")
    fake = tmp_path / "fake.mp4"
    fake.write_text("this is not a video")
    with pytest.raises(gr.Error, match="could not be read as a video"):
        analyse_tab.analyse(str(fake), None, None, "tiny.en")
    with pytest.raises(gr.Error, match="speech model"):
        analyse_tab.analyse(str(example.video), None, None, "large-v3")
    bad_srt = tmp_path / "late.srt"
    bad_srt.write_text("1\n00:01:00,000 --> 00:01:05,000\nAlex: too late\n")
    with pytest.raises(gr.Error, match="past the video's end"):
        analyse_tab.analyse(str(example.video), str(bad_srt), None, "tiny.en")


def test_missing_checkpoint_is_reported_and_the_lif_demo_still_works(tmp_path, example):
    state = AppState(AppConfig(checkpoint_dir=tmp_path / "nowhere"))
    assert "No checkpoint found" in checkpoint_status(state.config.checkpoint_dir)
    with pytest.raises(gr.Error, match="no checkpoint folder"):
        AnalyseTab(state).analyse(str(example.video), None, None, "tiny.en")
    learn = LearnTab(state)
    assert learn.trained_modalities() == ["text"]
    figure, reading = learn.lif(1.5, 2.0, 1.0, 32, "constant")
    assert isinstance(figure, Figure) and "16 times in 32 steps" in reading
    assert "can never lift the membrane" in learn.lif(0.5, 2.0, 1.0, 32, InputShape.CONSTANT).lif_reading
    with pytest.raises(gr.Error, match="Input shape must be one of constant, ramp, pulses"):
        learn.lif(1.5, 2.0, 1.0, 32, "square")


def test_closed_choices_show_the_same_strings():
    assert [s.value for s in InputShape] == list(INPUT_SHAPES)
    assert [o.value for o in SortOrder] == [
        "turn order", "most confident first", "least confident first", "turns DSWA decides first"]


def test_without_dswa_sentence_names_the_turns_dswa_decides():
    at_each_t = [["joy", "anger", "fear"], ["joy", "anger", "neutral"]]
    sweep = TimeStepSweep((2, 64), {}, at_each_t, ["joy", "sadness", "fear"])
    assert without_dswa_sentence(sweep) == (
        "With the DSWA step skipped, turn 2 would be sadness, turn 3 would be fear: DSWA decides those.")
    same = TimeStepSweep((64,), {}, [["joy"]], ["joy"])
    assert "every turn keeps its prediction" in without_dswa_sentence(same)


def test_modality_statements(tmp_path):
    everything = modality_statement(("text", "audio", "visual"))
    assert "cue only" not in everything
    assert "lacked visual" in modality_statement(("text", "visual"), ("text",))
    folder = SpikEmoModel(tiny_config(("text", "visual"))).save_pretrained(
        tmp_path / "ckpt", {"metrics": {"dev": {"weighted_f1": 61.234}}})
    status = checkpoint_status(folder)
    assert "text (the words) + visual (the face)" in status and "The voice is extracted" in status
    assert "Dev weighted F1 recorded in its metadata: 61.23." in status
    (folder / "config.json").write_text("{not json")
    assert "cannot be read" in checkpoint_status(folder)


def test_inspect_errors_on_a_small_csv(inspect_tab, small_csv, checkpoint_dir):
    scored = inspect_tab.score(None, str(small_csv))
    cached = inspect_tab.scored(scored.scored_key)
    gold, predicted = gold_and_predicted(cached.conversations)
    expected = classification_metrics(gold, predicted, MELD_LABELS)
    assert f"weighted F1 **{expected['weighted_f1']:.2f}**" in scored.score_summary
    assert "Text only" in scored.score_summary
    assert scored.confusion.data.iloc[:, 1:].values.tolist() == expected["confusion"]  # the clickable counts
    slices = scored.slices
    assert list(slices["slice by"].unique()) == ["speaker", "position", "length"]
    for _, rows in slices.groupby("slice by"):
        assert rows["turns"].sum() == len(gold)  # every labelled turn in one slice of each kind
    shares = inspect_tab.show_confusion(scored.scored_key, ConfusionView.ROW_SHARE.value).data.iloc[:, 1:]
    assert all(abs(total - 100) < 0.5 or total == 0 for total in shares.sum(axis=1))  # each gold row: 100 %
    with pytest.raises(gr.Error, match="Cells show one of"):
        inspect_tab.show_confusion(scored.scored_key, "heat")
    download = pd.read_csv(scored.scored_download, dtype=str, keep_default_na=False)
    source = pd.read_csv(small_csv, dtype=str, keep_default_na=False)
    assert len(download) == sum(len(c) for c in cached.conversations) == len(source)
    assert list(download.columns[:len(source.columns)]) == list(source.columns)  # the source's columns first
    assert {"predicted", "confidence", "prob_joy", "without_dswa", "dswa_text", "dswa_text_x_turns"} <= set(
        download.columns)
    assert len(scored.dialogue["choices"]) == 4
    again = inspect_tab.score(None, str(small_csv))
    assert again.scored_key == scored.scored_key and inspect_tab.scored(scored.scored_key) is cached  # cached

    dialogue_id = scored.dialogue["value"]
    view = inspect_tab.show_dialogue(scored.scored_key, dialogue_id)
    rows = view.dialogue_table.data
    conversation = next(c for c in cached.conversations if c.conversation_id == dialogue_id)
    assert list(rows["text"]) == [u.text for u in conversation.utterances]
    assert list(rows["correct"] == "NO") == [u.emotion != u.prediction.emotion for u in conversation.utterances]
    assert "background-color" in view.dialogue_table.to_html()  # errors are shaded (when there are any)
    assert view.dialogue_heatmap.axes[0].get_images()[0].get_array().shape == (len(conversation), 1)

    first_page = inspect_tab.browse(scored.scored_key, [], [], [], 0, 1, True, SortOrder.MOST_CONFIDENT.value, "",
                                    1)
    errors = first_page.file_errors.data
    assert (errors["correct"] == "NO").all()
    assert list(errors["confidence"]) == sorted(errors["confidence"], reverse=True)
    n_errors = sum(g != p for g, p in zip(gold, predicted))
    assert len(errors) == min(n_errors, PAGE_SIZE) and f"of {n_errors} (page 1 of" in first_page.turns_page

    # What DSWA decides: the same checkpoint with its DSWA step skipped, turn by turn
    without = predict_without_dswa(load_checkpoint(checkpoint_dir).model, cached.conversations)
    assert list(rows["without DSWA"]) == [p.emotion for p in without[cached.conversations.index(conversation)]]
    changed = sum(u.prediction.emotion != w.emotion for c, ws in zip(cached.conversations, without)
                  for u, w in zip(c.utterances, ws))
    assert f"another emotion for {changed} of {len(gold)} turns" in scored.score_summary
    assert [t.get_text() for t in view.dialogue_strips.axes[0].get_xticklabels()] == [
        "gold", "predicted", "without DSWA"]


def test_inspect_errors_refuses_bad_files(inspect_tab, tmp_path):
    with pytest.raises(gr.Error, match="Choose a CSV"):
        inspect_tab.score(None, None)
    broken = tmp_path / "broken.csv"
    broken.write_text("a,b\n1,2\n")
    with pytest.raises(gr.Error) as error:
        inspect_tab.score(None, str(broken))
    assert "Utterance" in str(error.value) or "column" in str(error.value).lower()
    with pytest.raises(gr.Error, match="not a .csv"):
        inspect_tab.score(None, str(tmp_path / "x.txt"))
    with pytest.raises(gr.Error, match="Score a CSV first"):
        inspect_tab.show_dialogue("unknown", "1")


def test_error_rows_filter_and_sort(inspect_tab, small_csv):
    scored = inspect_tab.scored(inspect_tab.score(None, str(small_csv)).scored_key)
    everything = sort_turns(scored_turns(scored.conversations), SortOrder.LEAST_CONFIDENT)
    assert len(everything) == sum(len(c) for c in scored.conversations)
    assert list(everything["confidence"]) == sorted(everything["confidence"])


def test_turns_dswa_decides_come_first(small_csv):
    conversations = read_meld_csv(small_csv)
    for conversation in conversations:
        for utterance in conversation.utterances:
            utterance.prediction = Prediction("joy", {"joy": 0.9, "anger": 0.1})
    first = conversations[0].conversation_id
    without = {c.conversation_id: ["joy"] * len(c) for c in conversations}
    without[first][-1] = "anger"
    without[conversations[-1].conversation_id][0] = "anger"
    table = display_turns(sort_turns(scored_turns(conversations, without), SortOrder.DSWA_DECIDES))
    assert list(table["without DSWA"][:2]) == ["anger", "anger"] and set(table["without DSWA"][2:]) == {"joy"}
    assert table["dialogue"][0] == first and table["turn"][0] == len(conversations[0])  # file order kept
    rest = [(c.conversation_id, i + 1) for c in conversations for i in range(len(c))]
    rest.remove((first, len(conversations[0])))
    rest.remove((conversations[-1].conversation_id, 1))
    assert list(zip(table["dialogue"][2:], table["turn"][2:])) == rest


def test_compare_two_checkpoints_on_a_small_csv(inspect_tab, small_csv, tmp_path):
    # Checkpoint B must be one the page offers: a folder beside the app's checkpoint.
    other = make_test_checkpoint(inspect_tab.state.config.checkpoint_dir.parent / "other", ("text",), seed=1)
    result = inspect_tab.compare(None, str(small_csv), str(other), "turn order")
    a, b = (inspect_tab.scored(key) for key in result.compare_keys)
    differ = [(ca.conversation_id, i + 1) for ca, cb in zip(a.conversations, b.conversations)
              for i, (ua, ub) in enumerate(zip(ca.utterances, cb.utterances))
              if ua.prediction.emotion != ub.prediction.emotion]
    assert list(zip(result.disagreements["dialogue"], result.disagreements["turn"])) == differ
    assert f"weighted F1 **{a.metrics['weighted_f1']:.2f}**" in result.compare_summary
    assert f"weighted F1 **{b.metrics['weighted_f1']:.2f}**" in result.compare_summary
    assert f"disagree on **{len(differ)} of" in result.compare_summary
    assert len(pd.read_csv(result.compare_download)) == len(differ)
    elsewhere = make_test_checkpoint(tmp_path / "elsewhere", ("text",), seed=2)
    for path in (elsewhere, tmp_path, inspect_tab.state.config.checkpoint_dir):  # a server path a visitor typed
        with pytest.raises(gr.Error, match="not one of the checkpoints this app offers"):
            inspect_tab.compare(None, str(small_csv), str(path), "turn order")


def test_time_step_sweep_on_the_example(learn_tab, example):
    figure, text = learn_tab.time_step_sweep(example.name, "text")
    image = figure.axes[0].get_images()[0].get_array()
    assert image.shape == (6, len(example.script["turns"]))  # T = 2, 4, 8, 16, 32, 64
    np.testing.assert_allclose(image.sum(axis=1), len(example.script["turns"]), rtol=1e-4)
    assert "Predictions at T=64" in text and "With the DSWA step skipped" in text
    with pytest.raises(gr.Error, match="bundled example or your analysis"):
        learn_tab.time_step_sweep("nope", "text")


def _is_gpu_decorator(decorator: ast.expr) -> bool:
    """`@gpu_task`, or `@spaces.GPU(...)` (a task with a duration of its own)."""
    if isinstance(decorator, ast.Name):
        return decorator.id == "gpu_task"
    return (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
            and decorator.func.attr == "GPU")


def gpu_tasks() -> set[str]:
    """The names of the functions in demo/worker.py that run as GPU tasks."""
    tree = ast.parse((REPO / "demo" / "worker.py").read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)
            and any(_is_gpu_decorator(d) for d in node.decorator_list)}


def test_every_gpu_task_runs_here_without_a_space(state, checkpoint_dir, example, small_csv):
    # The spaces package is installed; outside a ZeroGPU Space its GPU decorator hands back the function itself.
    assert not worker.ZERO_GPU
    assert worker.gpu_task(len) is len
    assert gpu_tasks() == {"run_analysis", "run_score", "run_score_other", "run_sweep", "run_turn_attention",
                           "run_conversation_neurons"}
    setup = state.model_setup()
    analysis = worker.run_analysis(setup, str(example.video), str(example.transcript), None, "tiny.en")
    assert len(analysis.conversation) == len(example.script["turns"])
    scored = worker.run_score(setup, small_csv)
    assert scored.metrics["n_dialogues"] == 4 and scored.without_dswa
    other = worker.run_score_other(checkpoint_dir, None, small_csv)
    assert other.metrics["weighted_f1"] == pytest.approx(scored.metrics["weighted_f1"])  # the same checkpoint
    sweep = worker.run_sweep(setup, analysis.conversation)
    assert sweep.time_steps == SWEEP_TIME_STEPS
    trace = worker.run_turn_attention(setup, analysis.conversation, "text", 2, 1)
    assert (trace.turn, trace.head, trace.num_turns) == (2, 1, len(analysis.conversation))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_running_app_through_gradio_client(checkpoint_dir, example):
    from gradio_client import Client, handle_file

    blocks = build_demo(AppConfig(checkpoint_dir=checkpoint_dir))
    blocks.launch(server_port=_free_port(), prevent_thread_lock=True, quiet=True)
    try:
        client = Client(blocks.local_url, verbose=False)
        endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        assert set(endpoints) == {"/analyse", "/select_turn", "/score", "/show_dialogue", "/lif", "/sweep",
                                  "/turn_attention", "/conversation_neurons"}
        labels = {name: [r["label"] for r in endpoint["returns"]] for name, endpoint in endpoints.items()}
        assert not [label for names in labels.values() for label in names if label.startswith("value_")], labels
        optional = {(name, p["parameter_name"]) for name, endpoint in endpoints.items()
                    for p in endpoint["parameters"] if p["parameter_has_default"]}
        assert {("/analyse", "transcript"), ("/analyse", "num_speakers"), ("/analyse", "speech_model"),
                ("/select_turn", "layer"), ("/score", "upload")} <= optional
        assert ("/analyse", "video") not in optional

        # The optional inputs left out: their defaults apply.
        outputs = dict(zip(labels["/analyse"], client.predict(
            handle_file(str(example.video)), handle_file(str(example.transcript)), api_name="/analyse")))
        assert "9 turns, 2 speakers" in outputs["summary"]
        assert outputs["notice"].startswith("**The loaded checkpoint was trained on text (the words).**")
        table = outputs["Turns (select a row for details)"]
        assert len(table["data"]) == len(example.script["turns"])
        assert table["headers"][:5] == ["#", "time", "speaker", "text", "emotion"]
        assert [row[3] for row in table["data"]] == [t["text"] for t in example.script["turns"]]
        record = outputs["analysis (JSON)"]
        assert [u["text"] for u in record["utterances"]] == [t["text"] for t in example.script["turns"]]
        for utterance in record["utterances"]:
            assert {"start", "end", "speaker", "text", "emotion", "probabilities", "dswa_weights", "spike_rates",
                    "cues"} <= set(utterance)
            assert set(utterance["probabilities"]) == set(MELD_LABELS)
        assert record["modalities_used"] == ["text"]
        details = dict(zip(labels["/select_turn"], client.predict(3, api_name="/select_turn")))["turn details"]
        assert "Turn 3 of 9" in details  # the session keeps its analysis between calls
        figure_json, reading = client.predict(1.5, 2.0, 1.0, 16, "constant", api_name="/lif")
        assert "8 times in 16 steps" in reading
        with pytest.raises(Exception, match="Upload a video"):
            client.predict(None, api_name="/analyse")
    finally:
        blocks.close()


def test_every_count_of_turns_works_through_the_api(checkpoint_dir, example, tmp_path):
    """One turn (a Gradio slider cannot span 1..1), two, and as many as the transcript limit allows."""
    from gradio_client import Client, handle_file

    duration = probe_video(example.video).duration
    limit = TranscriptLimits().max_cues(duration)
    blocks = build_demo(AppConfig(checkpoint_dir=checkpoint_dir))
    blocks.launch(server_port=_free_port(), prevent_thread_lock=True, quiet=True)
    try:
        client = Client(blocks.local_url, verbose=False)
        labels = [r["label"] for r in client.view_api(print_info=False, return_format="dict")[
            "named_endpoints"]["/analyse"]["returns"]]
        for count in (1, 2, limit):
            srt = write_srt(tmp_path / f"cues{count}.srt", count, duration - 0.5)
            outputs = dict(zip(labels, client.predict(handle_file(str(example.video)), handle_file(str(srt)),
                                                      api_name="/analyse")))
            assert len(outputs["analysis (JSON)"]["utterances"]) == count
            details = client.predict(count, api_name="/select_turn")[0]
            assert f"Turn {count} of {count}" in details
    finally:
        blocks.close()
