"""The Inspect errors tab: score the checkpoint on a MELD-format CSV, browse every turn page by page (filtered by
class, speaker and confidence, or by a click in the confusion matrix), open any turn in its dialogue, download
the scored file, and compare the checkpoint with a second one on the same file."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

import gradio as gr
import pandas as pd
from matplotlib.figure import Figure
from pandas.io.formats.style import Styler

from demo.errors import parse_choice, user_errors
from demo.markup import NO_LATEX, html_text, md
from demo.state import AppState
from demo.worker import MODEL_CONCURRENCY_ID, ScoredFile, run_score, run_score_other
from spikemo.data.conversation import Conversation
from spikemo.integrity import sha256_of
from spikemo.model.modeling import CONFIG_NAME
from spikemo.training.inspection import (
    SCORED_COLUMNS_HELP,
    ConfusionView,
    CsvLimits,
    DisagreementOrder,
    TurnFilter,
    check_csv_limits,
    confusion_cell,
    confusion_table,
    disagreements,
    filter_turns,
    first_dialogue_with_errors,
    is_error,
    page_of,
    scored_source_table,
    scored_turns,
    slice_scores,
    sort_disagreements,
)
from spikemo.video.analysis import spreadsheet_safe
from spikemo.viz import plots

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
PAGE_SIZE = 50
# Narrow fixed columns and a wide text column, so an utterance wraps inside its cell and stays readable at any
# width (the other columns scroll sideways on a phone). One width per column of display_turns.
TURN_WIDTHS = ["88px", "56px", "45%", "84px", "84px", "92px", "84px", "100px", "76px"]
DIALOGUE_WIDTHS = [*TURN_WIDTHS[:2], "60px", "40%", *TURN_WIDTHS[3:]]  # with the focus mark after the turn
DISAGREEMENT_WIDTHS = ["88px", "56px", "35%", "84px", "84px", "92px", "100px", "92px", "100px", "72px"]
ERROR_SHADE = "background-color: #fde2e1"
FOCUS_SHADE = "background-color: #ffe8a3; font-weight: bold"
FOCUS_MARK = "▶"
# Run in the browser after a click opens a dialogue or a confusion cell: bring what changed into view (on a
# phone it is screens away).
SCROLL_INTO_VIEW = "() => document.getElementById('{}')?.scrollIntoView({{block: 'start'}})"


class SortOrder(StrEnum):
    """How the error tables order their turns."""

    TURN_ORDER = "turn order"
    MOST_CONFIDENT = "most confident first"
    LEAST_CONFIDENT = "least confident first"
    DSWA_DECIDES = "turns DSWA decides first"


class ScoreResult(NamedTuple):
    """A scored CSV: its cache key, summary, per-class F1, confusion counts (clickable), F1 per slice, the scored
    file to download, the filters' choices for this file, and its dialogues to pick from (one with errors
    chosen)."""

    scored_key: str
    score_summary: str
    per_class: Figure
    confusion: Styler
    slices: pd.DataFrame
    scored_download: str
    gold_filter: dict
    predicted_filter: dict
    speaker_filter: dict
    dialogue: dict


class TurnsView(NamedTuple):
    """One page of the file's filtered turns, and the line saying which rows it shows."""

    page_number: int
    turns_page: str
    file_errors: Styler


class CellSelection(NamedTuple):
    """A click in the confusion matrix: the filters set to that cell, and the first page of its turns."""

    gold_filter: list[str]
    predicted_filter: list[str]
    speaker_filter: list[str]
    min_confidence: float
    max_confidence: float
    errors_only: bool
    text_search: str
    page_number: int
    turns_page: str
    file_errors: Styler


class DialogueView(NamedTuple):
    """One dialogue of a scored CSV, every turn in order, the focused turn marked: gold vs predicted per turn
    (errors shaded), the focused turn's details, DSWA weights and probabilities."""

    dialogue: dict
    dialogue_focus: str
    dialogue_table: Styler
    dialogue_strips: Figure
    dialogue_heatmap: Figure
    dialogue_probabilities: Figure


class CompareView(NamedTuple):
    """Two checkpoints on one CSV: both weighted F1s, the turns they disagree on, and that table to download."""

    compare_summary: str
    disagreements: pd.DataFrame
    compare_download: str


class CompareResult(NamedTuple):
    """A finished comparison: the cache keys of both scorings (to re-sort without scoring again), and its view."""

    compare_keys: tuple[str, str]
    compare_summary: str
    disagreements: pd.DataFrame
    compare_download: str


class InspectTab:
    """The Inspect errors tab of one app: its components, events and handlers. `upload_limits` bound a CSV a
    user uploads (the data folder's files are the operator's and are not limited)."""

    def __init__(self, state: AppState, upload_limits: CsvLimits = CsvLimits()) -> None:
        self.state = state
        self.upload_limits = upload_limits

    def render(self) -> None:
        """Build the tab inside the current Blocks and wire its events."""
        config = self.state.config
        limits = self.upload_limits
        with gr.Tab("Inspect errors", id="inspect"):
            gr.Markdown(TEXT.format(rows=limits.max_rows, megabytes=limits.max_bytes / 1024**2))
            files = self.state.data_files()
            with gr.Row():
                data_file = gr.Dropdown(files, value=next((f for f in files if "dev" in f), None),
                                        label=f"CSV in {config.data_dir}")
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
            scored_download = gr.File(label="Download the scored file (CSV, one row per turn)",
                                      elem_id="scored-download")
            gr.Markdown(SCORED_FILE_NOTE, elem_classes="caption")

            gr.Markdown(TURNS_TEXT)
            with gr.Row():
                gold_filter = gr.Dropdown(label="Gold class", choices=[], multiselect=True, elem_id="gold-filter")
                predicted_filter = gr.Dropdown(label="Predicted class", choices=[], multiselect=True,
                                               elem_id="predicted-filter")
                speaker_filter = gr.Dropdown(label="Speaker", choices=[], multiselect=True, elem_id="speaker-filter")
            with gr.Row():
                min_confidence = gr.Slider(0, 1, value=0, step=0.01, label="Confidence from",
                                           elem_id="min-confidence")
                max_confidence = gr.Slider(0, 1, value=1, step=0.01, label="Confidence to", elem_id="max-confidence")
                errors_only = gr.Checkbox(value=True, label="Errors only", elem_id="errors-only")
                sort = gr.Dropdown([o.value for o in SortOrder], value=SortOrder.MOST_CONFIDENT.value, label="Sort",
                                   elem_id="turn-sort")
                text_search = gr.Textbox(label="Text contains", placeholder="e.g. sorry", elem_id="text-search")
            turns_page = gr.Markdown(label="rows shown", show_label=False, elem_id="turns-page")
            with gr.Row(elem_classes="pager"):
                previous_page = gr.Button("Previous", size="sm", min_width=80, elem_id="previous-page")
                page_number = gr.Number(value=1, precision=0, minimum=1, label="Page", min_width=80,
                                        elem_id="page-number")
                next_page = gr.Button("Next", size="sm", min_width=80, elem_id="next-page")
            with gr.Row(elem_classes="pager"):
                download_view = gr.Button("Download these turns", size="sm", elem_id="download-view")
                view_download = gr.File(label="The filtered turns (CSV)", elem_id="view-download")
            file_errors = gr.Dataframe(label="Turns of the file (click one to open its dialogue)", interactive=False,
                                       wrap=True, max_height=520, column_widths=TURN_WIDTHS, elem_id="file-errors")

            with gr.Column(elem_id="dialogue-view"):
                gr.Markdown("### Dialogue")
                dialogue = gr.Dropdown(label="Dialogue", choices=[], elem_id="dialogue-choice")
                dialogue_focus = gr.Markdown(label="turn details", show_label=False, elem_id="dialogue-focus",
                                             latex_delimiters=NO_LATEX)
                dialogue_table = gr.Dataframe(label="Every turn in order (errors shaded, the opened turn marked)",
                                              interactive=False, wrap=True, max_height=900,
                                              column_widths=DIALOGUE_WIDTHS, elem_id="dialogue-table")
                dialogue_strips = gr.Plot(label="Gold vs predicted", show_label=False)
                with gr.Row():
                    dialogue_heatmap = gr.Plot(label="DSWA weights", show_label=False, elem_id="dialogue-heatmap")
                    dialogue_probabilities = gr.Plot(label="Probabilities per turn", show_label=False,
                                                     elem_id="dialogue-probabilities")

            with gr.Accordion("Compare with a second checkpoint", open=False, elem_id="compare"):
                gr.Markdown(COMPARE_TEXT)
                with gr.Row():
                    other = gr.Dropdown(
                        other_checkpoints(config.checkpoint_dir), value=None,
                        label="Checkpoint B: one of the checkpoints beside the app's", elem_id="other-checkpoint")
                    compare_order = gr.Dropdown([o.value for o in DisagreementOrder],
                                                value=DisagreementOrder.TURN_ORDER.value, label="Sort",
                                                elem_id="disagreement-sort")
                    compare_button = gr.Button("Compare", elem_id="compare-button")
                compare_summary = gr.Markdown(label="comparison summary", show_label=False,
                                              elem_id="compare-summary", latex_delimiters=NO_LATEX)
                disagreement_table = gr.Dataframe(label="Turns where A and B disagree", interactive=False,
                                                  wrap=True, max_height=520, column_widths=DISAGREEMENT_WIDTHS,
                                                  elem_id="disagreements")
                compare_download = gr.File(label="Download the disagreements (CSV)", elem_id="compare-download")
            scored_key = gr.State()
            compare_keys = gr.State()

        filters = [scored_key, gold_filter, predicted_filter, speaker_filter, min_confidence, max_confidence,
                   errors_only, sort, text_search]
        turns_view = [page_number, turns_page, file_errors]
        dialogue_view = [dialogue, dialogue_focus, dialogue_table, dialogue_strips, dialogue_heatmap,
                         dialogue_probabilities]
        scored = score_button.click(
            self.score, [data_file, upload],
            [scored_key, score_summary, per_class, confusion, slices, scored_download, gold_filter, predicted_filter,
             speaker_filter, dialogue],
            concurrency_limit=config.concurrency_limit, concurrency_id=MODEL_CONCURRENCY_ID, api_name="score",
        )
        scored.success(self.first_page, filters, turns_view, api_name=False)
        scored.success(self.show_dialogue, [scored_key, dialogue], dialogue_view, api_name=False)

        gr.on([gold_filter.input, predicted_filter.input, speaker_filter.input, min_confidence.release,
               max_confidence.release, errors_only.input, sort.input, text_search.submit],
              self.first_page, filters, turns_view, api_name=False)
        download_view.click(self.download_filtered, filters, view_download, api_name=False)
        previous_page.click(self.previous_page, [*filters, page_number], turns_view, api_name=False)
        next_page.click(self.next_page, [*filters, page_number], turns_view, api_name=False)
        page_number.submit(self.browse, [*filters, page_number], turns_view, api_name=False)
        confusion_view.input(self.show_confusion, [scored_key, confusion_view], confusion, api_name=False)
        confusion.select(
            self.select_cell, [scored_key, sort],
            [gold_filter, predicted_filter, speaker_filter, min_confidence, max_confidence, errors_only, text_search,
             *turns_view],
            api_name=False,
        ).success(None, js=SCROLL_INTO_VIEW.format("turns-page"))

        dialogue.input(self.show_dialogue, [scored_key, dialogue], dialogue_view, api_name="show_dialogue")
        for table in (file_errors, dialogue_table, disagreement_table):
            table.select(self.open_turn, [scored_key], dialogue_view, api_name=False).success(
                None, js=SCROLL_INTO_VIEW.format("dialogue-view"))

        compare_button.click(
            self.compare, [data_file, upload, other, compare_order],
            [compare_keys, compare_summary, disagreement_table, compare_download],
            concurrency_limit=config.concurrency_limit, concurrency_id=MODEL_CONCURRENCY_ID, api_name=False,
        )
        compare_order.input(self.compared, [compare_keys, compare_order],
                            [compare_summary, disagreement_table, compare_download], api_name=False)

    def csv_path(self, data_file: str | None, upload: str | None) -> Path:
        """The CSV to score: an upload (within upload_limits) wins over the data-folder choice; gr.Error when
        there is none, it is not a .csv, or an upload is too big."""
        if upload:
            path = Path(upload)
        elif data_file:
            path = self.state.config.data_dir / Path(data_file).name  # a bare name: no path outside the data folder
        else:
            raise gr.Error("Choose a CSV from the data folder or upload a MELD-format CSV.", title="No CSV")
        if path.suffix.lower() != ".csv":
            raise gr.Error(f"'{html_text(path.name)}' is not a .csv file.", title="Not a CSV")
        if not path.is_file():
            raise gr.Error(f"'{html_text(path.name)}' was not found.", title="No such file")
        if upload:
            with user_errors("score the CSV"):
                check_csv_limits(path, self.upload_limits)
        return path

    def score_file(self, path: Path, checkpoint_dir: Path, progress: gr.Progress) -> tuple[str, ScoredFile]:
        """The cache key and scoring of `path` by a checkpoint (the app's, or another): scored once per (file
        content, checkpoint)."""
        checkpoint_dir = checkpoint_dir.resolve()
        key = f"{sha256_of([path])}:{checkpoint_dir}"
        scored = self.state.scored_file(key)
        if scored is None:
            progress(0.0, desc=f"scoring {path.name} with {checkpoint_dir.name}")
            if checkpoint_dir == self.state.config.checkpoint_dir.resolve():
                scored = run_score(self.state.model_setup(), path)
            else:
                scored = run_score_other(checkpoint_dir, self.state.config.device, path)
            self.state.keep_scored_file(key, scored)
        return key, scored

    def score(self, data_file: str | None, upload: str | None = None,
              progress: gr.Progress = gr.Progress(track_tqdm=True)) -> ScoreResult:
        """Score a CSV (an upload wins over the data-folder choice); cached per (file content, checkpoint)."""
        path = self.csv_path(data_file, upload)
        with user_errors("score the CSV"):
            key, scored = self.score_file(path, self.state.config.checkpoint_dir, progress)
            turns = scored_turns(scored.conversations, scored.without_dswa)
            download = self.download(scored_source_table(path, turns), f"{Path(scored.name).stem}-scored.csv")
        labels = list(scored.labels)
        return ScoreResult(
            scored_key=key,
            score_summary=scored_summary(scored),
            per_class=plots.plot_per_class_f1(scored.metrics["per_class_f1"], scored.metrics["weighted_f1"]),
            confusion=confusion_styler(scored.metrics["confusion"], labels, ConfusionView.COUNTS),
            slices=slice_scores(turns, labels),
            scored_download=download,
            gold_filter=gr.update(choices=labels, value=[]),
            predicted_filter=gr.update(choices=labels, value=[]),
            speaker_filter=gr.update(choices=sorted(set(turns["speaker"])), value=[]),
            dialogue=gr.update(choices=dialogue_choices(scored),
                               value=first_dialogue_with_errors(scored.conversations)),
        )

    def scored(self, key: str | None) -> ScoredFile:
        """The scored CSV behind `key`; gr.Error when it is not (or no longer) cached."""
        scored = self.state.scored_file(key)
        if scored is None:
            raise gr.Error("Score a CSV first (the earlier result was dropped from the cache).", title="Nothing scored")
        return scored

    def filtered(self, key: str | None, gold: list[str] | None, predicted: list[str] | None,
                 speakers: list[str] | None, min_confidence: float | None, max_confidence: float | None,
                 errors_only: bool, sort: str, text: str | None) -> pd.DataFrame:
        """The file's turns that pass the filters, sorted (a `scored_turns` table)."""
        scored = self.scored(key)
        chosen = TurnFilter(tuple(gold or ()), tuple(predicted or ()), tuple(speakers or ()),
                            0.0 if min_confidence is None else float(min_confidence),
                            1.0 if max_confidence is None else float(max_confidence), bool(errors_only), text or "")
        return sort_turns(filter_turns(scored_turns(scored.conversations, scored.without_dswa), chosen),
                          parse_sort(sort))

    def download_filtered(self, key: str | None, gold: list[str] | None, predicted: list[str] | None,
                          speakers: list[str] | None, min_confidence: float | None, max_confidence: float | None,
                          errors_only: bool, sort: str, text: str | None) -> str:
        """The turns that pass the filters, in the order shown, as a CSV to download (every page, not just one)."""
        turns = self.filtered(key, gold, predicted, speakers, min_confidence, max_confidence, errors_only, sort, text)
        return self.download(turns, f"{Path(self.scored(key).name).stem}-filtered.csv")

    def browse(self, key: str | None, gold: list[str] | None, predicted: list[str] | None,
               speakers: list[str] | None, min_confidence: float | None, max_confidence: float | None,
               errors_only: bool, sort: str, text: str | None, page: float | None) -> TurnsView:
        """Page `page` (clamped to the pages there are) of the file's turns that pass the filters, sorted."""
        turns = self.filtered(key, gold, predicted, speakers, min_confidence, max_confidence, errors_only, sort, text)
        shown = page_of(len(turns), int(page or 1), PAGE_SIZE)
        rows = display_turns(turns.iloc[shown.first:shown.stop])
        return TurnsView(shown.number, f"**Turns:** {shown.describe()}", highlight_errors(rows))

    def first_page(self, key: str | None, gold: list[str] | None, predicted: list[str] | None,
                   speakers: list[str] | None, min_confidence: float | None, max_confidence: float | None,
                   errors_only: bool, sort: str, text: str | None) -> TurnsView:
        """The first page after the filters or the sort changed."""
        return self.browse(key, gold, predicted, speakers, min_confidence, max_confidence, errors_only, sort, text,
                           1)

    def previous_page(self, key: str | None, gold: list[str] | None, predicted: list[str] | None,
                      speakers: list[str] | None, min_confidence: float | None, max_confidence: float | None,
                      errors_only: bool, sort: str, text: str | None, page: float | None) -> TurnsView:
        """The page before `page`."""
        return self.browse(key, gold, predicted, speakers, min_confidence, max_confidence, errors_only, sort, text,
                           int(page or 1) - 1)

    def next_page(self, key: str | None, gold: list[str] | None, predicted: list[str] | None,
                  speakers: list[str] | None, min_confidence: float | None, max_confidence: float | None,
                  errors_only: bool, sort: str, text: str | None, page: float | None) -> TurnsView:
        """The page after `page`."""
        return self.browse(key, gold, predicted, speakers, min_confidence, max_confidence, errors_only, sort, text,
                           int(page or 1) + 1)

    def show_confusion(self, key: str | None, view: str) -> Styler:
        """The scored file's confusion matrix in the chosen view (counts, or shares of each gold row)."""
        chosen = parse_choice(ConfusionView, view, f"Cells show one of: {', '.join(v.value for v in ConfusionView)}.",
                              "Unknown view")
        scored = self.scored(key)
        return confusion_styler(scored.metrics["confusion"], list(scored.labels), chosen)

    def select_cell(self, key: str | None, sort: str, event: gr.SelectData) -> CellSelection:
        """A click in the confusion matrix: every filter set to list exactly that cell's turns (all of a gold
        class for its first column), and their first page."""
        labels = list(self.scored(key).labels)
        row, column = event.index
        try:
            if event.row_value:  # the gold class named in the row, whatever order the table is shown in
                row = labels.index(str(event.row_value[0]))
            cell = confusion_cell(labels, int(row), int(column))
        except ValueError as error:
            raise gr.Error(html_text(error), title="No such cell") from None
        view = self.browse(key, list(cell.gold), list(cell.predicted), [], cell.min_confidence, cell.max_confidence,
                           cell.errors_only, sort, "", 1)
        return CellSelection(list(cell.gold), list(cell.predicted), [], cell.min_confidence, cell.max_confidence,
                             cell.errors_only, "", *view)

    def show_dialogue(self, key: str | None, dialogue_id: str | None, turn: int | None = None) -> DialogueView:
        """One dialogue, every turn in order: gold vs predicted per turn (errors shaded), DSWA weights and
        probabilities; with `turn` (1-based), that turn marked and its details shown."""
        scored = self.scored(key)
        if not dialogue_id:
            raise gr.Error("Pick a dialogue.", title="No dialogue")
        conversation = find_dialogue(scored, str(dialogue_id))
        if turn is not None and not 1 <= turn <= len(conversation):
            raise gr.Error(f"Dialogue {html_text(dialogue_id)} has turns 1 to {len(conversation)}.",
                           title="No such turn")
        focus = None if turn is None else turn - 1
        utterances = conversation.utterances
        strips = {"gold": [u.emotion for u in utterances], "predicted": [u.prediction.emotion for u in utterances]}
        if scored.without_dswa:
            strips["without DSWA"] = scored.without_dswa[conversation.conversation_id]
        rows = display_turns(scored_turns([conversation], scored.without_dswa))
        rows.insert(2, "focus", ["" if i != focus else FOCUS_MARK for i in range(len(rows))])
        return DialogueView(
            dialogue=gr.update(value=conversation.conversation_id),
            dialogue_focus=focus_details(scored, conversation, focus),
            dialogue_table=highlight_errors(rows, focus),
            dialogue_strips=plots.plot_label_strips(
                strips, scored.labels, title=f"Dialogue {conversation.conversation_id}: gold vs predicted "
                "(hatched: error)"),
            dialogue_heatmap=plots.plot_dswa_heatmap(conversation, selected=focus),
            dialogue_probabilities=plots.plot_turn_probabilities(conversation, scored.labels),
        )

    def open_turn(self, key: str | None, event: gr.SelectData) -> DialogueView:
        """A click on a turn in any table whose first two columns are dialogue and turn: its dialogue, that
        turn in focus."""
        if not event.row_value or len(event.row_value) < 2:
            raise gr.Error("Click a row of the table.", title="No turn")
        dialogue_id, turn = event.row_value[0], event.row_value[1]
        try:
            number = int(float(turn))
        except (TypeError, ValueError):
            raise gr.Error(f"'{html_text(turn)}' is not a turn number.", title="No turn") from None
        return self.show_dialogue(key, str(dialogue_id), number)

    def compare(self, data_file: str | None, upload: str | None, other: str | None, order: str,
                progress: gr.Progress = gr.Progress(track_tqdm=True)) -> CompareResult:
        """Score the CSV with the app's checkpoint (A) and checkpoint folder `other` (B), and list the turns
        they predict differently."""
        path = self.csv_path(data_file, upload)
        other_dir = checkpoint_folder(other, other_checkpoints(self.state.config.checkpoint_dir))
        with user_errors("compare the checkpoints"):
            first, _ = self.score_file(path, self.state.config.checkpoint_dir, progress)
            second, _ = self.score_file(path, other_dir, progress)
        return CompareResult((first, second), *self.compared((first, second), order))

    def compared(self, keys: tuple[str, str] | None, order: str) -> CompareView:
        """The comparison of two cached scorings of one file: summary, disagreements in `order`, and their CSV."""
        if not keys:
            raise gr.Error("Compare two checkpoints first.", title="Nothing compared")
        a, b = (self.scored(key) for key in keys)
        order = parse_choice(DisagreementOrder, order, f"Sort must be one of: "
                             f"{', '.join(o.value for o in DisagreementOrder)}.", "Unknown sort order")
        table = sort_disagreements(disagreements(a.conversations, b.conversations), order)
        download = self.download(table, f"{Path(a.name).stem}-disagreements.csv")
        return CompareView(compare_summary(a, b, keys, table), table.round({"confidence A": 3, "confidence B": 3}),
                           download)

    def download(self, table: pd.DataFrame, name: str) -> str:
        """`table` written as a spreadsheet-safe CSV called `name` into a download folder; its path."""
        with self.state.request_folder() as scratch:
            path = scratch / name
            spreadsheet_safe(table).to_csv(path, index=False)
            return str(self.state.keep_downloads([path], Path(name).stem)[0])


def parse_sort(sort: str | None) -> SortOrder:
    """The SortOrder named `sort`; gr.Error when it names none."""
    return parse_choice(SortOrder, sort, f"Sort must be one of: {', '.join(o.value for o in SortOrder)}.",
                        "Unknown sort order")


def other_checkpoints(checkpoint_dir: Path) -> list[str]:
    """The checkpoint folders beside the app's (each holding a config.json), as paths to offer for a comparison."""
    folder = checkpoint_dir.parent
    if not folder.is_dir():
        return []
    return sorted(str(p) for p in folder.iterdir()
                  if (p / CONFIG_NAME).is_file() and p.resolve() != checkpoint_dir.resolve())


def checkpoint_folder(value: str | None, offered: list[str]) -> Path:
    """The checkpoint folder picked for a comparison; gr.Error unless it is one the page `offered` (a visitor
    never names a server path of their own)."""
    if not value or not value.strip():
        raise gr.Error("Pick the second checkpoint.", title="No checkpoint")
    if value not in offered:
        raise gr.Error(f"'{html_text(value)}' is not one of the checkpoints this app offers.", title="No checkpoint")
    return Path(value)


def find_dialogue(scored: ScoredFile, dialogue_id: str) -> Conversation:
    """The dialogue of a scored CSV with this id; gr.Error when the file has none."""
    for conversation in scored.conversations:
        if conversation.conversation_id == dialogue_id:
            return conversation
    raise gr.Error(html_text(f"Dialogue {dialogue_id} is not in {scored.name}."))


def dialogue_choices(scored: ScoredFile) -> list[tuple[str, str]]:
    """(label, dialogue id) per dialogue, the label counting its errors, e.g. "12: 3 errors in 9 turns"."""
    choices = []
    for c in scored.conversations:
        errors = sum(u.emotion is not None and u.prediction.emotion != u.emotion for u in c.utterances)
        choices.append((f"{c.conversation_id}: {errors} error{'s' if errors != 1 else ''} in {len(c)} turns",
                        c.conversation_id))
    return choices


def sort_turns(turns: pd.DataFrame, order: SortOrder | str) -> pd.DataFrame:
    """A `scored_turns` table in `order`; ties (and "turn order") keep file order."""
    order = SortOrder(order)
    if order is SortOrder.MOST_CONFIDENT:
        turns = turns.sort_values("confidence", ascending=False, kind="stable")
    elif order is SortOrder.LEAST_CONFIDENT:
        turns = turns.sort_values("confidence", ascending=True, kind="stable")
    elif order is SortOrder.DSWA_DECIDES and "without_dswa" in turns:
        decided = turns["predicted"] != turns["without_dswa"]
        turns = turns.loc[decided.sort_values(ascending=False, kind="stable").index]
    return turns.reset_index(drop=True)


def display_turns(turns: pd.DataFrame) -> pd.DataFrame:
    """A `scored_turns` table as the app shows it: dialogue, turn, text, speaker, gold, predicted, without DSWA
    ("" when the model has no DSWA step), confidence (3 decimals), correct ("yes", "NO", or "" unlabelled)."""
    correct = pd.Series("yes", index=turns.index).where(~is_error(turns), "NO").where(turns["gold"] != "", "")
    return pd.DataFrame({
        "dialogue": turns["dialogue"], "turn": turns["turn"], "text": turns["text"], "speaker": turns["speaker"],
        "gold": turns["gold"], "predicted": turns["predicted"],
        "without DSWA": turns.get("without_dswa", ""),
        "confidence": turns["confidence"].round(3), "correct": correct,
    }).reset_index(drop=True)


def highlight_errors(table: pd.DataFrame, focus: int | None = None) -> Styler:
    """A pandas Styler that shades the rows whose prediction is wrong, and marks row `focus` (0-based)."""
    def shade(row: pd.Series) -> list[str]:
        if row.name == focus:
            return [FOCUS_SHADE] * len(row)
        return [ERROR_SHADE if row["correct"] == "NO" else ""] * len(row)

    return table.style.apply(shade, axis=1).format({"confidence": "{:.3f}"})


def confusion_styler(confusion: list[list[int]], labels: list[str],
                     view: ConfusionView = ConfusionView.COUNTS) -> Styler:
    """The confusion matrix as a table in `view`, shaded as it reads: counts across the whole table, shares of a
    gold row along each row."""
    axis = 1 if view == ConfusionView.ROW_SHARE else None
    return confusion_table(confusion, labels, view).style.background_gradient(cmap="Blues", axis=axis,
                                                                               subset=labels)


def focus_details(scored: ScoredFile, conversation: Conversation, focus: int | None) -> str:
    """Markdown for the opened turn: speaker, full text, gold, predicted and its top probabilities, the label
    without DSWA; without a focus, the dialogue's errors (user text escaped)."""
    utterances = conversation.utterances
    if focus is None:
        errors = sum(u.emotion is not None and u.prediction.emotion != u.emotion for u in utterances)
        return (f"**Dialogue {md(conversation.conversation_id)}**: {errors} error{'s' if errors != 1 else ''} in "
                f"{len(utterances)} turns. Click a turn for its details.")
    u = utterances[focus]
    p = u.prediction
    top = sorted(p.probabilities.items(), key=lambda item: -item[1])[:3]
    verdict = "" if u.emotion is None else (" (correct)" if u.emotion == p.emotion else " (**error**)")
    lines = [
        f"**Dialogue {md(conversation.conversation_id)}, turn {focus + 1} of {len(utterances)}: "
        f"{md(u.speaker) if u.speaker else 'unknown speaker'}**",
        f"> {md(u.text)}",
        f"Gold: **{u.emotion or 'unlabelled'}**; predicted: **{p.emotion}**{verdict}; "
        + ", ".join(f"{label} {prob:.2f}" for label, prob in top),
    ]
    if scored.without_dswa:
        lines.append(f"Without DSWA: {scored.without_dswa[conversation.conversation_id][focus]}.")
    return "\n\n".join(lines)


def scored_summary(scored: ScoredFile) -> str:
    """The file's weighted F1 and accuracy, its size, the modalities the model saw, and what DSWA decides (the
    file's name escaped: it shows as text)."""
    m = scored.metrics
    used = m.get("modalities_used", ["text"])
    lines = [
        f"### {md(scored.name)}: weighted F1 **{m['weighted_f1']:.2f}**, accuracy {m['accuracy']:.2f}",
        f"{m['n_utterances']} labelled utterances in {m['n_dialogues']} dialogues, scored in {scored.seconds:.1f} s.",
        f"**Text only:** a MELD-format CSV holds transcripts, not video clips, so the model saw "
        f"{' + '.join(used)} and nothing else." if tuple(used) == ("text",) else f"Modalities used: {', '.join(used)}.",
    ]
    if scored.without_dswa:
        total = sum(len(c) for c in scored.conversations)
        lines.append(f"**What DSWA decides:** with its DSWA step skipped, the same model predicts another emotion for "
                     f"{scored.changed_without_dswa} of {total} turns (column *without DSWA*).")
    return "\n\n".join(lines)


def compare_summary(a: ScoredFile, b: ScoredFile, keys: tuple[str, str], table: pd.DataFrame) -> str:
    """Both checkpoints' weighted F1 on the file and how their disagreements split (names escaped)."""
    names = [Path(key.split(":", 1)[-1]).name for key in keys]  # a key is "<file's SHA-256>:<checkpoint folder>"
    total = sum(len(c) for c in a.conversations)
    right = table["right"].value_counts()
    return "\n\n".join([
        f"**A ({md(names[0])})**: weighted F1 **{a.metrics['weighted_f1']:.2f}**, accuracy "
        f"{a.metrics['accuracy']:.2f}. **B ({md(names[1])})**: weighted F1 **{b.metrics['weighted_f1']:.2f}**, "
        f"accuracy {b.metrics['accuracy']:.2f}. On {md(a.name)}.",
        f"They disagree on **{len(table)} of {total}** turns: A is right on {right.get('A', 0)}, B on "
        f"{right.get('B', 0)}, neither on {right.get('neither', 0)}.",
    ])
