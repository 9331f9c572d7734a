"""The Inspect errors tab's layout: its texts and the components of each panel, named. demo/tabs/inspect.py
wires them to its handlers."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import gradio as gr

from demo.markup import NO_LATEX
from demo.tabs.inspect_views import DIALOGUE_WIDTHS, DISAGREEMENT_WIDTHS, TURN_WIDTHS
from spikemo.training.inspection import SCORED_COLUMNS_HELP, ConfusionView, CsvLimits, DisagreementOrder, SortOrder

TEXT = """Score the checkpoint on a MELD-format CSV (from the data folder, or upload your own with
Utterance, Speaker, Dialogue_ID, Utterance_ID and Emotion columns, up to {rows:,} rows and {megabytes:g} MB). The
first scoring of a file takes a while on a CPU; it is then cached for this checkpoint. The *without DSWA* column
is what the same model predicts with its DSWA step skipped: where it differs from *predicted*, DSWA made the
decision."""
TURNS_TEXT = """### Turns
Filter by class, speaker and confidence, or click a cell of the confusion matrix to list exactly its turns (its
first column lists a whole gold class). Click any turn to open its dialogue below."""
COMPARE_TEXT = """Score the same CSV with a second checkpoint (B) beside the app's (A): both weighted F1s, and
every turn on which the two predict differently. Click a turn to open its dialogue."""

# Under the scored file's download: it keeps the source's columns, and what each added column holds.
SCORED_FILE_NOTE = ("The scored file keeps every column of the CSV as written (Sr No., Dialogue_ID, Utterance_ID, "
                    "Season, Episode, times, text) and adds: " + "; ".join(
                        f"`{column}`: {meaning}" for column, meaning in SCORED_COLUMNS_HELP.items()) + ".")


class ScorePanel(NamedTuple):
    """The scoring controls and the file's scores."""

    data_file: gr.Dropdown
    upload: gr.File
    score_button: gr.Button
    score_summary: gr.Markdown
    per_class: gr.Plot
    confusion: gr.Dataframe
    confusion_view: gr.Radio
    slices: gr.Dataframe
    scored_download: gr.File


class TurnsPanel(NamedTuple):
    """The turn filters, the pager and the page of turns."""

    gold_filter: gr.Dropdown
    predicted_filter: gr.Dropdown
    speaker_filter: gr.Dropdown
    min_confidence: gr.Slider
    max_confidence: gr.Slider
    errors_only: gr.Checkbox
    sort: gr.Dropdown
    text_search: gr.Textbox
    turns_page: gr.Markdown
    previous_page: gr.Button
    page_number: gr.Number
    next_page: gr.Button
    download_view: gr.Button
    view_download: gr.File
    file_errors: gr.Dataframe


class DialoguePanel(NamedTuple):
    """The dialogue view, in the order of DialogueView's fields."""

    dialogue: gr.Dropdown
    dialogue_focus: gr.Markdown
    dialogue_table: gr.Dataframe
    dialogue_strips: gr.Plot
    dialogue_heatmap: gr.Plot
    dialogue_probabilities: gr.Plot


class ComparePanel(NamedTuple):
    """The comparison with a second checkpoint."""

    accordion: gr.Accordion
    other: gr.Dropdown
    compare_order: gr.Dropdown
    compare_button: gr.Button
    compare_summary: gr.Markdown
    disagreement_table: gr.Dataframe
    compare_download: gr.File


def score_panel(files: list[str], data_dir: Path, limits: CsvLimits) -> ScorePanel:
    """The CSV choice (`files` of the data folder), the Score button and the file's scores: summary, per-class
    F1, confusion, slices."""
    gr.Markdown(TEXT.format(rows=limits.max_rows, megabytes=limits.max_bytes / 1024**2))
    with gr.Row():
        data_file = gr.Dropdown(files, value=next((f for f in files if "dev" in f), None),
                                label=f"CSV in {data_dir}")
        upload = gr.File(label="...or upload a MELD-format CSV", file_types=[".csv"])
        score_button = gr.Button("Score", variant="primary", elem_id="score-button")
    score_summary = gr.Markdown(label="score summary", show_label=False, elem_id="score-summary",
                                latex_delimiters=NO_LATEX)
    with gr.Row():
        per_class = gr.Plot(label="Per-class F1", show_label=False, scale=2, elem_id="per-class-plot")
        with gr.Column(scale=3):
            confusion = gr.Dataframe(label="Confusion matrix: rows gold, columns predicted (click a cell)",
                                     interactive=False, elem_id="confusion-matrix")
            confusion_view = gr.Radio([v.value for v in ConfusionView], value=ConfusionView.COUNTS.value,
                                      label="Cells show (and are shaded by)", elem_id="confusion-view")
    slices = gr.Dataframe(label="Weighted F1 and accuracy (%) by slice: speaker, position in the dialogue, "
                                "length (labelled turns)", interactive=False, elem_id="slice-scores")
    scored_download = gr.File(label="Download the scored file (CSV, one row per turn)", elem_id="scored-download")
    gr.Markdown(SCORED_FILE_NOTE, elem_classes="caption")
    return ScorePanel(data_file, upload, score_button, score_summary, per_class, confusion, confusion_view, slices,
                      scored_download)

def turns_panel() -> TurnsPanel:
    """The filters, the pager, the download of the filtered turns and the page of turns."""
    gr.Markdown(TURNS_TEXT)
    with gr.Row():
        gold_filter = gr.Dropdown(label="Gold class", choices=[], multiselect=True, elem_id="gold-filter")
        predicted_filter = gr.Dropdown(label="Predicted class", choices=[], multiselect=True,
                                       elem_id="predicted-filter")
        speaker_filter = gr.Dropdown(label="Speaker", choices=[], multiselect=True, elem_id="speaker-filter")
    with gr.Row():
        min_confidence = gr.Slider(0, 1, value=0, step=0.01, label="Confidence from", elem_id="min-confidence")
        max_confidence = gr.Slider(0, 1, value=1, step=0.01, label="Confidence to", elem_id="max-confidence")
        errors_only = gr.Checkbox(value=True, label="Errors only", elem_id="errors-only")
        sort = gr.Dropdown([o.value for o in SortOrder], value=SortOrder.MOST_CONFIDENT.value, label="Sort",
                           elem_id="turn-sort")
        text_search = gr.Textbox(label="Text contains", placeholder="e.g. sorry", elem_id="text-search")
    turns_page = gr.Markdown(label="rows shown", show_label=False, elem_id="turns-page")
    with gr.Row(elem_classes="pager"):
        previous_page = gr.Button("Previous", size="sm", min_width=80, elem_id="previous-page")
        page_number = gr.Number(value=1, precision=0, minimum=1, label="Page", min_width=80, elem_id="page-number")
        next_page = gr.Button("Next", size="sm", min_width=80, elem_id="next-page")
    with gr.Row(elem_classes="pager"):
        download_view = gr.Button("Download these turns", size="sm", elem_id="download-view")
        view_download = gr.File(label="The filtered turns (CSV)", elem_id="view-download")
    file_errors = gr.Dataframe(label="Turns of the file (click one to open its dialogue)", interactive=False,
                               wrap=True, max_height=520, column_widths=TURN_WIDTHS, elem_id="file-errors")
    return TurnsPanel(gold_filter, predicted_filter, speaker_filter, min_confidence, max_confidence, errors_only,
                      sort, text_search, turns_page, previous_page, page_number, next_page, download_view,
                      view_download, file_errors)

def dialogue_panel() -> DialoguePanel:
    """One dialogue, every turn in order, with the opened turn's details and its figures."""
    with gr.Column(elem_id="dialogue-view"):
        gr.Markdown("### Dialogue")
        dialogue = gr.Dropdown(label="Dialogue", choices=[], elem_id="dialogue-choice")
        dialogue_focus = gr.Markdown(label="turn details", show_label=False, elem_id="dialogue-focus",
                                     latex_delimiters=NO_LATEX)
        dialogue_table = gr.Dataframe(label="Every turn in order (errors shaded, the opened turn marked)",
                                      interactive=False, wrap=True, max_height=900, column_widths=DIALOGUE_WIDTHS,
                                      elem_id="dialogue-table")
        dialogue_strips = gr.Plot(label="Gold vs predicted", show_label=False)
        with gr.Row():
            dialogue_heatmap = gr.Plot(label="DSWA weights", show_label=False, elem_id="dialogue-heatmap")
            dialogue_probabilities = gr.Plot(label="Probabilities per turn", show_label=False,
                                             elem_id="dialogue-probabilities")
    return DialoguePanel(dialogue, dialogue_focus, dialogue_table, dialogue_strips, dialogue_heatmap,
                         dialogue_probabilities)

def compare_panel(offered: list[str]) -> ComparePanel:
    """A second checkpoint (one of `offered`) beside the app's on the same CSV; shown only when there is one."""
    with gr.Accordion("Compare with a second checkpoint", open=False, visible=bool(offered),
                      elem_id="compare") as accordion:
        gr.Markdown(COMPARE_TEXT)
        with gr.Row():
            other = gr.Dropdown(offered, value=None, label="Checkpoint B: one of the checkpoints beside the app's",
                                elem_id="other-checkpoint")
            compare_order = gr.Dropdown([o.value for o in DisagreementOrder],
                                        value=DisagreementOrder.TURN_ORDER.value, label="Sort",
                                        elem_id="disagreement-sort")
            compare_button = gr.Button("Compare", elem_id="compare-button")
        compare_summary = gr.Markdown(label="comparison summary", show_label=False, elem_id="compare-summary",
                                      latex_delimiters=NO_LATEX)
        disagreement_table = gr.Dataframe(label="Turns where A and B disagree", interactive=False, wrap=True,
                                          max_height=520, column_widths=DISAGREEMENT_WIDTHS,
                                          elem_id="disagreements")
        compare_download = gr.File(label="Download the disagreements (CSV)", elem_id="compare-download")
    return ComparePanel(accordion, other, compare_order, compare_button, compare_summary, disagreement_table,
                        compare_download)
