"""The Inspect errors tab's logic on hand-made scored conversations (no model runs): the table of turns, its
filters and pages, confusion cells, disagreements between two checkpoints, the CSV limits, and the tab's handlers
on a scored file placed in the app's cache."""

import gradio as gr
import pandas as pd
import pytest

from demo.config import AppConfig
from demo.markup import md
from demo.state import AppState
from demo.tabs.inspect import InspectTab, checkpoint_folder, other_checkpoints
from demo.tabs.inspect_layout import compare_panel
from demo.tabs.inspect_views import DIALOGUE_WIDTHS, DISAGREEMENT_WIDTHS, FOCUS_MARK, TURN_WIDTHS, highlight_errors
from demo.worker import ScoredFile
from spikemo.data.conversation import Conversation, Prediction, Utterance
from spikemo.data.labels import MELD_LABELS
from spikemo.data.meld import read_meld_csv
from spikemo.errors import InputError
from spikemo.training.inspection import (
    CONFUSION_CORNER,
    SCORED_COLUMNS_HELP,
    ConfusionView,
    CsvLimits,
    DisagreementOrder,
    SortOrder,
    TurnFilter,
    check_csv_limits,
    confusion_cell,
    confusion_table,
    dialogue_choices,
    disagreements,
    display_turns,
    error_count,
    filter_turns,
    find_dialogue,
    first_dialogue_with_errors,
    page_of,
    scored_source_table,
    scored_turns,
    slice_scores,
    sort_disagreements,
    sort_turns,
)
from spikemo.training.metrics import classification_metrics
from spikemo.training.predict import gold_and_predicted
from spikemo.video.analysis import spreadsheet_safe


def prediction(emotion: str, confidence: float) -> Prediction:
    rest = (1 - confidence) / (len(MELD_LABELS) - 1)
    return Prediction(emotion, {label: confidence if label == emotion else rest for label in MELD_LABELS},
                      dswa_weights={"text": 0.5})


def dialogue(dialogue_id: str, turns: list[tuple[str, str, str | None, str, float]]) -> Conversation:
    """turns: (speaker, text, gold, predicted, confidence)."""
    return Conversation(dialogue_id, [
        Utterance(speaker, text, emotion=gold, prediction=prediction(predicted, confidence))
        for speaker, text, gold, predicted, confidence in turns
    ])


def sample() -> list[Conversation]:
    """Two dialogues, 7 turns: 4 errors (dialogue 0 turns 2 and 4, dialogue 1 turns 1 and 2), one unlabelled turn
    (dialogue 1 turn 3); one text a spreadsheet would run as a formula."""
    return [
        dialogue("0", [
            ("Ross", "Hi.", "neutral", "neutral", 0.9),
            ("Rachel", "=cmd|' /C calc'!A0", "joy", "anger", 0.6),
            ("Ross", "Okay.", "neutral", "neutral", 0.5),
            ("Rachel", "No way!", "surprise", "joy", 0.3),
        ]),
        dialogue("1", [
            ("Monica", "Ugh.", "disgust", "anger", 0.8),
            ("Chandler", "Could this be worse?", "anger", "sadness", 0.45),
            ("Monica", "Who knows.", None, "neutral", 0.7),
        ]),
    ]


def test_scored_turns_hold_one_row_per_turn_with_probabilities_and_without_dswa():
    conversations = sample()
    without = {"0": ["neutral", "joy", "neutral", "joy"], "1": ["anger", "anger", "neutral"]}
    turns = scored_turns(conversations, without)
    assert len(turns) == 7
    assert list(turns.columns[:7]) == ["dialogue", "turn", "speaker", "text", "gold", "predicted", "confidence"]
    assert [f"prob_{label}" for label in MELD_LABELS] == [c for c in turns.columns if c.startswith("prob_")]
    assert list(turns["without_dswa"]) == without["0"] + without["1"]
    assert list(turns["dswa_text"]) == [0.5] * 7
    assert list(turns["turn"]) == [1, 2, 3, 4, 1, 2, 3]
    assert turns["gold"].iloc[-1] == ""  # unlabelled
    assert turns["confidence"].iloc[1] == pytest.approx(0.6)
    assert "without_dswa" not in scored_turns(conversations).columns
    assert list(scored_turns([]).columns) == ["dialogue", "turn", "speaker", "text", "gold", "predicted", "confidence"]


def test_the_scored_file_keeps_the_source_columns_and_joins_on_its_ids(tmp_path):
    source = tmp_path / "dev.csv"
    source.write_text(  # file order is not id order, ids skip, and the text keeps its own quotes and spaces
        "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n"
        "10,Who knows.,Monica,,neutral,1,5,2,3,00:00:09,00:00:10\n"
        "1,Hi.,Ross,neutral,neutral,0,0,1,1,00:00:01,00:00:02\n"
        "2,\"Well,  hi!\",Rachel,joy,positive,0,2,1,1,00:00:02,00:00:03\n"
        "8,Ugh.,Monica,disgust,negative,1,3,2,3,00:00:07,00:00:08\n", encoding="utf-8")
    conversations = read_meld_csv(source)
    for conversation in conversations:
        for utterance in conversation.utterances:
            utterance.prediction = prediction("joy", 0.7)
    table = scored_source_table(source, scored_turns(conversations))
    assert list(table.columns[:11]) == ["Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID",
                                        "Utterance_ID", "Season", "Episode", "StartTime", "EndTime"]
    assert list(table["Sr No."]) == ["10", "1", "2", "8"]  # the file's order, cells as written
    assert table["Utterance"].iloc[2] == "Well,  hi!" and table["text_read"].iloc[2] == "Well, hi!"
    assert list(table["predicted"]) == ["joy"] * 4 and list(table["confidence"]) == pytest.approx([0.7] * 4)
    assert list(table["dswa_text_x_turns"]) == pytest.approx([1.0] * 4)  # 0.5 x the 2 turns of each dialogue
    assert not {"dialogue", "turn", "gold", "utterance_id"} & set(table.columns)
    assert set(SCORED_COLUMNS_HELP) >= {"predicted", "confidence", "without_dswa", "dswa_<modality>_x_turns"}


def test_the_export_neutralises_formula_cells():
    safe = spreadsheet_safe(scored_turns(sample()))
    assert safe["text"].iloc[1] == "'=cmd|' /C calc'!A0"
    assert safe["confidence"].iloc[1] == pytest.approx(0.6)  # numbers stay numbers


def test_filter_turns_by_class_speaker_confidence_and_errors():
    turns = scored_turns(sample())
    assert len(filter_turns(turns, TurnFilter())) == 7
    errors = filter_turns(turns, TurnFilter(errors_only=True))
    assert list(zip(errors["dialogue"], errors["turn"])) == [("0", 2), ("0", 4), ("1", 1), ("1", 2)]
    assert list(filter_turns(turns, TurnFilter(gold=("neutral",)))["turn"]) == [1, 3]
    assert list(filter_turns(turns, TurnFilter(predicted=("anger", "sadness")))["text"]) == [
        "=cmd|' /C calc'!A0", "Ugh.", "Could this be worse?"]
    assert set(filter_turns(turns, TurnFilter(speakers=("Monica",)))["text"]) == {"Ugh.", "Who knows."}
    band = filter_turns(turns, TurnFilter(min_confidence=0.45, max_confidence=0.6))
    assert list(band["confidence"].round(2)) == [0.6, 0.5, 0.45]  # both ends included
    assert filter_turns(turns, TurnFilter(min_confidence=0.6, max_confidence=0.45)).equals(band)  # either order
    both = filter_turns(turns, TurnFilter(gold=("joy",), predicted=("anger",), speakers=("Rachel",), errors_only=True))
    assert list(both["turn"]) == [2]
    assert list(both.index) == [0]  # index reset


def test_pages_reach_every_row_and_say_which_rows_they_show():
    first = page_of(452, 1, 50)
    assert first.describe() == "rows 1-50 of 452 (page 1 of 10)"
    last = page_of(452, 10, 50)
    assert (last.first, last.stop, last.describe()) == (450, 452, "rows 451-452 of 452 (page 10 of 10)")
    assert page_of(452, 0, 50) == first and page_of(452, 99, 50) == last  # clamped
    shown = [i for n in range(1, first.count + 1) for i in range(page_of(452, n, 50).first, page_of(452, n, 50).stop)]
    assert shown == list(range(452))  # no silent cap
    assert page_of(0, 3, 50).describe() == "no rows" and page_of(0, 3, 50).count == 1
    assert page_of(50, 2, 50).number == 1
    with pytest.raises(ValueError):
        page_of(10, 1, 0)


def test_the_confusion_matrix_shows_counts_or_shares_of_each_gold_row():
    confusion = [[48, 2, 0], [13, 7, 0], [0, 0, 0]]
    labels = ("neutral", "joy", "anger")
    counts = confusion_table(confusion, labels)
    assert counts[list(labels)].values.tolist() == confusion
    shares = confusion_table(confusion, labels, ConfusionView.ROW_SHARE)
    assert shares[list(labels)].values.tolist() == [[96.0, 4.0, 0.0], [65.0, 35.0, 0.0], [0.0, 0.0, 0.0]]
    assert list(shares[CONFUSION_CORNER]) == list(labels)  # a cell click still names the same classes


def test_a_confusion_cell_lists_exactly_its_turns():
    conversations = sample()
    gold, predicted = gold_and_predicted(conversations)
    confusion = classification_metrics(gold, predicted, MELD_LABELS)["confusion"]
    table = confusion_table(confusion, MELD_LABELS)
    assert list(table.columns) == [CONFUSION_CORNER, *MELD_LABELS]
    assert list(table[CONFUSION_CORNER]) == list(MELD_LABELS)
    turns = scored_turns(conversations)
    for row, label in enumerate(MELD_LABELS):
        for column in range(1, len(MELD_LABELS) + 1):
            cell = filter_turns(turns, confusion_cell(MELD_LABELS, row, column))
            assert len(cell) == confusion[row][column - 1] == table.iloc[row, column]
        whole_row = filter_turns(turns, confusion_cell(MELD_LABELS, row, 0))
        assert len(whole_row) == sum(confusion[row]) and set(whole_row["gold"]) <= {label}
    joy_as_anger = confusion_cell(MELD_LABELS, MELD_LABELS.index("joy"), 1 + MELD_LABELS.index("anger"))
    assert (joy_as_anger.gold, joy_as_anger.predicted, joy_as_anger.errors_only) == (("joy",), ("anger",), False)
    for row, column in ((-1, 1), (7, 1), (0, 8)):
        with pytest.raises(ValueError, match="no cell"):
            confusion_cell(MELD_LABELS, row, column)


def test_the_default_dialogue_has_errors():
    correct = dialogue("5", [("A", "Fine.", "neutral", "neutral", 0.9)])
    assert first_dialogue_with_errors([correct, *sample()]) == "0"
    assert first_dialogue_with_errors([correct]) == "5"
    assert first_dialogue_with_errors([]) is None


def test_disagreements_between_two_checkpoints():
    a = sample()
    b = sample()
    b[0].utterances[1].prediction = prediction("joy", 0.55)  # B right where A is wrong
    b[0].utterances[0].prediction = prediction("sadness", 0.95)  # B wrong where A is right
    b[1].utterances[1].prediction = prediction("fear", 0.4)  # both wrong
    b[1].utterances[2].prediction = prediction("joy", 0.8)  # unlabelled
    table = disagreements(a, b)
    assert list(zip(table["dialogue"], table["turn"], table["right"])) == [
        ("0", 1, "A"), ("0", 2, "B"), ("1", 2, "neither"), ("1", 3, "")]
    assert list(table.loc[1, ["predicted A", "predicted B"]]) == ["anger", "joy"]
    assert len(table.columns) == len(DISAGREEMENT_WIDTHS)
    assert table.loc[1, "confidence B"] == pytest.approx(0.55)
    assert disagreements(a, sample()).empty
    assert list(sort_disagreements(table, DisagreementOrder.B_RIGHT_FIRST)["right"]) == ["B", "A", "neither", ""]
    assert list(sort_disagreements(table, DisagreementOrder.A_RIGHT_FIRST)["right"]) == ["A", "B", "neither", ""]
    gaps = sort_disagreements(table, DisagreementOrder.LARGEST_GAP)
    assert list(zip(gaps["dialogue"], gaps["turn"]))[0] == ("1", 3)  # 0.7 against 0.8; the others differ by 0.05
    assert list((gaps["confidence A"] - gaps["confidence B"]).abs()) == sorted(
        (table["confidence A"] - table["confidence B"]).abs(), reverse=True)
    assert sort_disagreements(table, DisagreementOrder.TURN_ORDER).equals(table)
    with pytest.raises(ValueError, match="same dialogues"):
        disagreements(a, a[:1])


def test_csv_limits(tmp_path):
    csv = tmp_path / "five.csv"
    csv.write_text('Utterance,Speaker\n"one\nline two",A\nb,B\n\nc,C\nd,D\ne,E\n')
    assert check_csv_limits(csv, CsvLimits()) == 5  # a quoted line break is one row; blank lines do not count
    assert check_csv_limits(csv, CsvLimits(max_rows=5)) == 5
    with pytest.raises(InputError, match="more than 4 data rows"):
        check_csv_limits(csv, CsvLimits(max_rows=4))
    with pytest.raises(InputError, match=f"five.csv is {csv.stat().st_size:,} bytes; the limit is 10 bytes"):
        check_csv_limits(csv, CsvLimits(max_bytes=10))


def test_sort_and_display_turns():
    without = {"0": ["neutral", "anger", "sadness", "joy"], "1": ["anger", "sadness", "neutral"]}
    turns = scored_turns(sample(), without)
    assert list(sort_turns(turns, SortOrder.MOST_CONFIDENT)["confidence"]) == sorted(turns["confidence"], reverse=True)
    assert list(sort_turns(turns, SortOrder.LEAST_CONFIDENT)["confidence"]) == sorted(turns["confidence"])
    decided = sort_turns(turns, SortOrder.DSWA_DECIDES)
    assert list(zip(decided["dialogue"], decided["turn"]))[0] == ("0", 3)  # the one turn DSWA decides
    assert sort_turns(turns, SortOrder.TURN_ORDER).equals(turns)
    shown = display_turns(turns)
    assert list(shown.columns) == ["dialogue", "turn", "text", "speaker", "gold", "predicted", "without DSWA",
                                   "confidence", "correct"]
    assert len(shown.columns) == len(TURN_WIDTHS) == len(DIALOGUE_WIDTHS) - 1
    assert list(shown["correct"]) == ["yes", "NO", "yes", "NO", "NO", "NO", ""]
    assert set(display_turns(scored_turns(sample()))["without DSWA"]) == {""}  # a model without DSWA
    styled = highlight_errors(shown, focus=2).to_html()
    assert "#fde2e1" in styled and "font-weight: bold" in styled


def test_checkpoint_folders_for_a_comparison(tmp_path):
    for name in ("a", "b", "not-a-checkpoint"):
        (tmp_path / name).mkdir()
    for name in ("a", "b"):
        (tmp_path / name / "config.json").write_text("{}")
    assert other_checkpoints(tmp_path / "a") == [str(tmp_path / "b")]
    assert other_checkpoints(tmp_path / "missing" / "x") == []
    offered = other_checkpoints(tmp_path / "a")
    assert checkpoint_folder(str(tmp_path / "b"), offered) == tmp_path / "b"
    for value in (None, " ", str(tmp_path / "not-a-checkpoint"), str(tmp_path / "a"), "/etc"):
        with pytest.raises(gr.Error):
            checkpoint_folder(value, offered)


A_KEY = "0f1e:/models/spikemo-a"  # "<file's SHA-256>:<checkpoint folder>", as the tab's cache keys are
B_KEY = "0f1e:/models/b"


@pytest.fixture
def tab(tmp_path) -> InspectTab:
    """The tab of an app whose cache holds the sample, scored (no checkpoint is ever loaded)."""
    state = AppState(AppConfig(checkpoint_dir=tmp_path / "ckpt", data_dir=tmp_path))
    conversations = sample()
    gold, predicted = gold_and_predicted(conversations)
    metrics = {**classification_metrics(gold, predicted, MELD_LABELS), "n_dialogues": 2, "modalities_used": ["text"]}
    without = {"0": ["neutral", "anger", "sadness", "joy"], "1": ["anger", "sadness", "neutral"]}
    state.keep_scored_file(A_KEY, ScoredFile("sample.csv", conversations, metrics, MELD_LABELS, 0.1, without, 1))
    other = sample()
    other[0].utterances[1].prediction = prediction("joy", 0.55)
    metrics_b = {**classification_metrics(*gold_and_predicted(other), MELD_LABELS), "n_dialogues": 2}
    state.keep_scored_file(B_KEY, ScoredFile("sample.csv", other, metrics_b, MELD_LABELS, 0.1, {}, 0))
    return InspectTab(state, CsvLimits(max_bytes=10_000, max_rows=3))


def select(index: list[int], row_value: list) -> gr.SelectData:
    return gr.SelectData(None, {"index": index, "value": "", "row_value": row_value, "selected": True})


def test_browse_pages_and_filters(tab):
    view = tab.browse(A_KEY, [], [], [], 0, 1, True, SortOrder.TURN_ORDER.value, "", 1)
    assert view.page_number == 1 and view.turns_page == "**Turns:** rows 1-4 of 4 (page 1 of 1)"
    assert list(view.file_errors.data["text"])[0] == "=cmd|' /C calc'!A0"  # full text, shown as is
    again = tab.next_page(A_KEY, [], [], [], 0, 1, False, SortOrder.TURN_ORDER.value, "", 1)
    assert again.page_number == 1 and "rows 1-7 of 7" in again.turns_page  # clamped to the one page there is
    monica = tab.first_page(A_KEY, [], [], ["Monica"], 0, 1, False, SortOrder.TURN_ORDER.value, "")
    assert list(monica.file_errors.data["text"]) == ["Ugh.", "Who knows."]
    searched = tab.first_page(A_KEY, [], [], [], 0, 1, False, SortOrder.TURN_ORDER.value, "WHO")
    assert list(searched.file_errors.data["text"]) == ["Who knows."]
    download = pd.read_csv(tab.download_filtered(A_KEY, [], [], [], 0, 1, True, SortOrder.TURN_ORDER.value, ""),
                           keep_default_na=False)
    assert len(download) == 4 and (download["gold"] != download["predicted"]).all()  # every filtered turn
    assert download["text"].iloc[0] == "'=cmd|' /C calc'!A0"  # spreadsheet-safe
    with pytest.raises(gr.Error, match="Score a CSV first"):
        tab.browse("gone", [], [], [], 0, 1, True, SortOrder.TURN_ORDER.value, "", 1)


def test_clicking_a_confusion_cell_lists_its_turns(tab):
    joy, anger = MELD_LABELS.index("joy"), MELD_LABELS.index("anger")
    picked = tab.select_cell(A_KEY, SortOrder.TURN_ORDER.value, select([joy, anger + 1], ["joy", 0, 0]))
    assert (picked.gold_filter, picked.predicted_filter, picked.errors_only) == (["joy"], ["anger"], False)
    assert (picked.min_confidence, picked.max_confidence, picked.speaker_filter) == (0.0, 1.0, [])
    assert picked.text_search == ""  # a cell lists all of its turns
    assert list(picked.file_errors.data["text"]) == ["=cmd|' /C calc'!A0"]
    assert "rows 1-1 of 1" in picked.turns_page
    correct = tab.select_cell(A_KEY, SortOrder.TURN_ORDER.value, select([0, 1], ["neutral"]))
    assert list(correct.file_errors.data["text"]) == ["Hi.", "Okay."]  # the diagonal: correct turns, listed too
    with pytest.raises(gr.Error, match="No such cell|no cell"):
        tab.select_cell(A_KEY, SortOrder.TURN_ORDER.value, select([0, 9], ["neutral"]))


def test_clicking_a_turn_opens_its_whole_dialogue_in_order(tab):
    view = tab.open_turn(A_KEY, select([0, 3], ["1", 2, "anger", "sadness"]))
    rows = view.dialogue_table.data
    assert view.dialogue["value"] == "1"
    assert list(rows["text"]) == ["Ugh.", "Could this be worse?", "Who knows."]  # every turn, in order
    assert list(rows["focus"]) == ["", FOCUS_MARK, ""]
    assert list(rows["correct"]) == ["NO", "NO", ""]
    assert "turn 2 of 3" in view.dialogue_focus and md("Could this be worse?") in view.dialogue_focus
    assert "(**error**)" in view.dialogue_focus and "Without DSWA: sadness" in view.dialogue_focus
    assert "font-weight: bold" in view.dialogue_table.to_html()
    plain = tab.show_dialogue(A_KEY, "0")
    assert list(plain.dialogue_table.data["focus"]) == [""] * 4 and "2 errors in 4 turns" in plain.dialogue_focus
    with pytest.raises(gr.Error, match="turns 1 to 3"):
        tab.open_turn(A_KEY, select([0, 0], ["1", 9]))
    with pytest.raises(gr.Error, match="not in sample.csv"):
        tab.open_turn(A_KEY, select([0, 0], ["77", 1]))


def test_compared_checkpoints_list_their_disagreements(tab):
    view = tab.compared((A_KEY, B_KEY), DisagreementOrder.TURN_ORDER.value)
    assert "**A (spikemo\\-a)**" in view.compare_summary  # named by the checkpoint folder (escaped)
    assert "**B (b)**" in view.compare_summary and "disagree on **1 of 7** turns" in view.compare_summary
    assert "B on 1" in view.compare_summary
    assert list(view.disagreements["right"]) == ["B"]
    download = pd.read_csv(view.compare_download)
    assert download.loc[0, "text"] == "'=cmd|' /C calc'!A0"  # spreadsheet-safe
    with pytest.raises(gr.Error, match="Compare two checkpoints first"):
        tab.compared(None, DisagreementOrder.TURN_ORDER.value)
    with pytest.raises(gr.Error, match="Sort must be one of"):
        tab.compared((A_KEY, B_KEY), "backwards")


def test_an_upload_over_the_limits_is_refused_before_scoring(tab, tmp_path):
    big = tmp_path / "big.csv"
    big.write_text("Utterance,Speaker,Dialogue_ID,Utterance_ID,Emotion\n" + "Hi.,A,0,{},neutral\n" * 4)
    with pytest.raises(gr.Error, match="more than 3 data rows"):
        tab.score(None, str(big))
    big.write_text("x" * 10_001)
    with pytest.raises(gr.Error, match="10,001 bytes; the limit is 10,000 bytes"):
        tab.score(None, str(big))


def test_turns_can_be_searched_by_their_text():
    turns = scored_turns(sample())
    assert list(filter_turns(turns, TurnFilter(text="  NO way ")).text) == ["No way!"]
    assert len(filter_turns(turns, TurnFilter(text="o", errors_only=True))) == 2  # "No way!", "Could this be worse?"
    assert len(filter_turns(turns, TurnFilter(text="[a-z]"))) == 0  # plain text, not a pattern


def test_scores_per_slice_of_speaker_position_and_length():
    turns = scored_turns(sample())
    table = slice_scores(turns, MELD_LABELS, min_speaker_turns=2)
    assert list(table.columns) == ["slice by", "slice", "turns", "weighted F1", "accuracy"]
    by = {kind: dict(zip(rows["slice"], zip(rows["turns"], rows["accuracy"])))
          for kind, rows in table.groupby("slice by")}
    # labelled turns: Ross 2 (both right), Rachel 2 (both wrong), Monica 1 (wrong), Chandler 1 (wrong)
    assert by["speaker"] == {"Rachel": (2, 0.0), "Ross": (2, 100.0), "other speakers": (2, 0.0)}
    assert by["position"] == {"1st turn": (2, 50.0), "turns 2-3": (3, 33.33), "turns 4-6": (1, 0.0)}
    assert sum(n for n, _ in by["length"].values()) == 6  # the unlabelled turn is not scored
    assert list(table[table["slice by"] == "position"]["slice"]) == ["1st turn", "turns 2-3", "turns 4-6"]


def test_dialogue_lookup_and_choices_count_errors():
    conversations = sample()
    assert [error_count(c) for c in conversations] == [2, 2]
    assert dialogue_choices(conversations) == [("0: 2 errors in 4 turns", "0"), ("1: 2 errors in 3 turns", "1")]
    assert find_dialogue(conversations, "1", "sample.csv") is conversations[1]
    with pytest.raises(InputError, match="Dialogue 7 is not in sample.csv"):
        find_dialogue(conversations, "7", "sample.csv")


def test_compare_is_offered_only_with_a_second_checkpoint():
    with gr.Blocks():
        hidden = compare_panel([])
        shown = compare_panel(["/models/other"])
    assert hidden.accordion.visible is False and shown.accordion.visible is True
    assert [value for _, value in shown.other.choices] == ["/models/other"]
