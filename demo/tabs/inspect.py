"""The Inspect errors tab: score the checkpoint on a MELD-format CSV, browse every turn page by page (filtered by
class, speaker and confidence, or by a click in the confusion matrix), open any turn in its dialogue, download
the scored file, and compare the checkpoint with a second one on the same file.

This module wires the tab and holds its handlers; the layout is in inspect_layout.py, what the handlers return
and how it is drawn in inspect_views.py, and the sorting, filtering, slicing and lookups in
spikemo.training.inspection."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd
from pandas.io.formats.style import Styler

from demo.errors import parse_choice, user_errors
from demo.markup import html_text
from demo.state import AppState
from demo.tabs.inspect_layout import (
    ScorePanel,
    TurnsPanel,
    compare_panel,
    dialogue_panel,
    score_panel,
    turns_panel,
)
from demo.tabs.inspect_views import (
    FOCUS_MARK,
    CellSelection,
    CompareResult,
    CompareView,
    DialogueView,
    ScoreResult,
    TurnsView,
    compare_summary,
    confusion_styler,
    focus_details,
    highlight_errors,
    scored_summary,
)
from demo.worker import MODEL_CONCURRENCY_ID, ScoredFile, run_score, run_score_other
from spikemo.integrity import sha256_of
from spikemo.model.checkpoint import sibling_checkpoints
from spikemo.training.inspection import (
    ConfusionView,
    CsvLimits,
    DisagreementOrder,
    SortOrder,
    TurnFilter,
    check_csv_limits,
    confusion_cell,
    dialogue_choices,
    disagreements,
    display_turns,
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
from spikemo.video.analysis import spreadsheet_safe
from spikemo.viz import plots

PAGE_SIZE = 50
# Run in the browser after a click opens a dialogue or a confusion cell: bring what changed into view (on a
# phone it is screens away).
SCROLL_INTO_VIEW = "() => document.getElementById('{}')?.scrollIntoView({{block: 'start'}})"


class InspectTab:
    """The Inspect errors tab of one app: its components, events and handlers. `upload_limits` bound a CSV a
    user uploads (the data folder's files are the operator's and are not limited)."""

    def __init__(self, state: AppState, upload_limits: CsvLimits = CsvLimits()) -> None:
        self.state = state
        self.upload_limits = upload_limits

    def render(self) -> None:
        """Build the tab inside the current Blocks and wire its events."""
        with gr.Tab("Inspect errors", id="inspect"):
            score = score_panel(self.state.data_files(), self.state.config.data_dir, self.upload_limits)
            turns = turns_panel()
            dialogue = dialogue_panel()
            compare = compare_panel(other_checkpoints(self.state.config.checkpoint_dir))
            scored_key = gr.State()
            compare_keys = gr.State()
        filters = [scored_key, turns.gold_filter, turns.predicted_filter, turns.speaker_filter, turns.min_confidence,
                   turns.max_confidence, turns.errors_only, turns.sort, turns.text_search]
        turns_view = [turns.page_number, turns.turns_page, turns.file_errors]
        dialogue_view = list(dialogue)
        limit = {"concurrency_limit": self.state.config.concurrency_limit, "concurrency_id": MODEL_CONCURRENCY_ID}
        scored = score.score_button.click(
            self.score, [score.data_file, score.upload],
            [scored_key, score.score_summary, score.per_class, score.confusion, score.slices, score.scored_download,
             turns.gold_filter, turns.predicted_filter, turns.speaker_filter, dialogue.dialogue],
            api_name="score", **limit,
        )
        scored.success(self.first_page, filters, turns_view, api_name=False)
        scored.success(self.show_dialogue, [scored_key, dialogue.dialogue], dialogue_view, api_name=False)
        self._wire_turns(score, turns, filters, turns_view, scored_key)
        dialogue.dialogue.input(self.show_dialogue, [scored_key, dialogue.dialogue], dialogue_view,
                                api_name="show_dialogue")
        for table in (turns.file_errors, dialogue.dialogue_table, compare.disagreement_table):
            table.select(self.open_turn, [scored_key], dialogue_view, api_name=False).success(
                None, js=SCROLL_INTO_VIEW.format("dialogue-view"))
        compare.compare_button.click(
            self.compare, [score.data_file, score.upload, compare.other, compare.compare_order],
            [compare_keys, compare.compare_summary, compare.disagreement_table, compare.compare_download],
            api_name=False, **limit,
        )
        compare.compare_order.input(self.compared, [compare_keys, compare.compare_order],
                                    [compare.compare_summary, compare.disagreement_table, compare.compare_download],
                                    api_name=False)

    def _wire_turns(self, score: ScorePanel, turns: TurnsPanel, filters: list, turns_view: list,
                    scored_key: gr.State) -> None:
        """Filters, pager, download of the view, the confusion view switch and a click on a confusion cell."""
        gr.on([turns.gold_filter.input, turns.predicted_filter.input, turns.speaker_filter.input,
               turns.min_confidence.release, turns.max_confidence.release, turns.errors_only.input, turns.sort.input,
               turns.text_search.submit],
              self.first_page, filters, turns_view, api_name=False)
        turns.download_view.click(self.download_filtered, filters, turns.view_download, api_name=False)
        turns.previous_page.click(self.previous_page, [*filters, turns.page_number], turns_view, api_name=False)
        turns.next_page.click(self.next_page, [*filters, turns.page_number], turns_view, api_name=False)
        turns.page_number.submit(self.browse, [*filters, turns.page_number], turns_view, api_name=False)
        score.confusion_view.input(self.show_confusion, [scored_key, score.confusion_view], score.confusion,
                                   api_name=False)
        score.confusion.select(
            self.select_cell, [scored_key, turns.sort],
            [turns.gold_filter, turns.predicted_filter, turns.speaker_filter, turns.min_confidence,
             turns.max_confidence, turns.errors_only, turns.text_search, *turns_view],
            api_name=False,
        ).success(None, js=SCROLL_INTO_VIEW.format("turns-page"))

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
            dialogue=gr.update(choices=dialogue_choices(scored.conversations),
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
        with user_errors("open the dialogue"):
            conversation = find_dialogue(scored.conversations, str(dialogue_id), scored.name)
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
    """The checkpoint folders beside the app's, as paths to offer for a comparison."""
    return [str(path) for path in sibling_checkpoints(checkpoint_dir)]


def checkpoint_folder(value: str | None, offered: list[str]) -> Path:
    """The checkpoint folder picked for a comparison; gr.Error unless it is one the page `offered` (a visitor
    never names a server path of their own)."""
    if not value or not value.strip():
        raise gr.Error("Pick the second checkpoint.", title="No checkpoint")
    if value not in offered:
        raise gr.Error(f"'{html_text(value)}' is not one of the checkpoints this app offers.", title="No checkpoint")
    return Path(value)
