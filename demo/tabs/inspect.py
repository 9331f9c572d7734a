"""The Inspect errors tab: score the checkpoint on a MELD-format CSV, then read its errors dialogue by dialogue,
beside what the same model predicts with its DSWA step skipped."""

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
from demo.worker import MODEL_CONCURRENCY_ID, ScoredFile, run_score
from spikemo.data.conversation import Conversation
from spikemo.integrity import sha256_of
from spikemo.viz import plots

TEXT = """Score the checkpoint on a MELD-format CSV (from the data folder, or upload your own with
Utterance, Speaker, Dialogue_ID, Utterance_ID and Emotion columns). The first scoring of a file takes a while on
a CPU; it is then cached for this checkpoint. The *without DSWA* column is what the same model predicts with its
DSWA step skipped: where it differs from *predicted*, DSWA made the decision."""

FILE_ERRORS_ROWS = 200


class SortOrder(StrEnum):
    """How the error tables order their turns."""

    TURN_ORDER = "turn order"
    MOST_CONFIDENT = "most confident first"
    LEAST_CONFIDENT = "least confident first"
    DSWA_DECIDES = "turns DSWA decides first"


class ScoreResult(NamedTuple):
    """A scored CSV: its cache key, summary, per-class F1 and confusion matrix, and its dialogues to pick from."""

    scored_key: str
    score_summary: str
    per_class: Figure
    confusion: Figure
    dialogue: dict


class DialogueView(NamedTuple):
    """One dialogue of a scored CSV: gold vs predicted per turn, DSWA weights and probabilities."""

    dialogue_table: Styler
    dialogue_strips: Figure
    dialogue_heatmap: Figure
    dialogue_probabilities: Figure


class InspectTab:
    """The Inspect errors tab of one app: its components, events and handlers."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    def render(self) -> None:
        """Build the tab inside the current Blocks and wire its events."""
        config = self.state.config
        with gr.Tab("Inspect errors", id="inspect"):
            gr.Markdown(TEXT)
            files = self.state.data_files()
            with gr.Row():
                data_file = gr.Dropdown(files, value=next((f for f in files if "dev" in f), None),
                                        label=f"CSV in {config.data_dir}")
                upload = gr.File(label="...or upload a MELD-format CSV", file_types=[".csv"])
                score_button = gr.Button("Score", variant="primary", elem_id="score-button")
            score_summary = gr.Markdown(elem_id="score-summary", latex_delimiters=NO_LATEX)
            with gr.Row():
                per_class = gr.Plot(label="Per-class F1", show_label=False)
                confusion = gr.Plot(label="Confusion matrix", show_label=False)
            with gr.Row():
                errors_only = gr.Checkbox(value=True, label="Errors only")
                sort = gr.Dropdown([o.value for o in SortOrder], value=SortOrder.MOST_CONFIDENT.value, label="Sort")
            file_errors = gr.Dataframe(label=f"Across the file (first {FILE_ERRORS_ROWS} rows)", interactive=False,
                                       wrap=True, max_height=320, elem_id="file-errors")
            dialogue = gr.Dropdown(label="Dialogue", choices=[])
            dialogue_table = gr.Dataframe(label="Gold vs predicted (errors shaded)", interactive=False, wrap=True)
            dialogue_strips = gr.Plot(label="Gold vs predicted", show_label=False)
            with gr.Row():
                dialogue_heatmap = gr.Plot(label="DSWA weights", show_label=False)
                dialogue_probabilities = gr.Plot(label="Probabilities per turn", show_label=False)
            scored_key = gr.State()

        file_errors_args = [scored_key, errors_only, sort]
        score_button.click(
            self.score, [data_file, upload], [scored_key, score_summary, per_class, confusion, dialogue],
            concurrency_limit=config.concurrency_limit, concurrency_id=MODEL_CONCURRENCY_ID, api_name="score",
        ).success(self.file_errors, file_errors_args, file_errors, api_name=False)
        dialogue_args = [scored_key, dialogue, errors_only, sort]
        dialogue_view = [dialogue_table, dialogue_strips, dialogue_heatmap, dialogue_probabilities]
        dialogue.change(self.show_dialogue, dialogue_args, dialogue_view, api_name="show_dialogue")
        gr.on([errors_only.input, sort.input], self.show_dialogue, dialogue_args, dialogue_view, api_name=False)
        gr.on([errors_only.input, sort.input], self.file_errors, file_errors_args, file_errors, api_name=False)

    def score(self, data_file: str | None, upload: str | None,
              progress: gr.Progress = gr.Progress(track_tqdm=True)) -> ScoreResult:
        """Score a CSV (an upload wins over the data-folder choice); cached per (file content, checkpoint)."""
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
        with user_errors("score the CSV"):
            key = f"{sha256_of([path])}:{self.state.config.checkpoint_dir.resolve()}"
            scored = self.state.scored_file(key)
            if scored is None:
                progress(0.0, desc=f"scoring {path.name}")
                scored = run_score(self.state.model_setup(), path)
                self.state.keep_scored_file(key, scored)
        return ScoreResult(
            scored_key=key,
            score_summary=scored_summary(scored),
            per_class=plots.plot_per_class_f1(scored.metrics["per_class_f1"], scored.metrics["weighted_f1"]),
            confusion=plots.plot_confusion(scored.metrics["confusion"], scored.labels),
            dialogue=gr.update(choices=dialogue_choices(scored), value=scored.conversations[0].conversation_id),
        )

    def scored(self, key: str | None) -> ScoredFile:
        """The scored CSV behind `key`; gr.Error when it is not (or no longer) cached."""
        scored = self.state.scored_file(key)
        if scored is None:
            raise gr.Error("Score a CSV first (the earlier result was dropped from the cache).", title="Nothing scored")
        return scored

    def show_dialogue(self, key: str | None, dialogue_id: str | None, errors_only: bool, sort: str) -> DialogueView:
        """One dialogue: gold vs predicted per turn (errors shaded), DSWA weights and probabilities."""
        scored = self.scored(key)
        if not dialogue_id:
            raise gr.Error("Pick a dialogue.", title="No dialogue")
        conversation = find_dialogue(scored, str(dialogue_id))
        utterances = conversation.utterances
        strips = {"gold": [u.emotion for u in utterances], "predicted": [u.prediction.emotion for u in utterances]}
        if scored.without_dswa:
            strips["without DSWA"] = scored.without_dswa[conversation.conversation_id]
        table = error_rows([conversation], errors_only, parse_sort(sort), scored.without_dswa)
        return DialogueView(
            dialogue_table=highlight_errors(table),
            dialogue_strips=plots.plot_label_strips(
                strips, scored.labels, title=f"Dialogue {conversation.conversation_id}: gold vs predicted "
                "(hatched: error)"),
            dialogue_heatmap=plots.plot_dswa_heatmap(conversation),
            dialogue_probabilities=plots.plot_turn_probabilities(conversation, scored.labels),
        )

    def file_errors(self, key: str | None, errors_only: bool, sort: str) -> Styler:
        """The whole file's turns (or only its errors), sorted as asked; the first FILE_ERRORS_ROWS rows."""
        scored = self.scored(key)
        table = error_rows(scored.conversations, errors_only, parse_sort(sort), scored.without_dswa)
        return highlight_errors(table.head(FILE_ERRORS_ROWS))


def parse_sort(sort: str | None) -> SortOrder:
    """The SortOrder named `sort`; gr.Error when it names none."""
    return parse_choice(SortOrder, sort, f"Sort must be one of: {', '.join(o.value for o in SortOrder)}.",
                        "Unknown sort order")


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


def error_rows(conversations: list[Conversation], errors_only: bool, sort: SortOrder | str,
               without_dswa: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """Gold vs predicted per turn, filtered and sorted as asked; with `without_dswa` (dialogue id -> label per
    turn) also what the model predicts with its DSWA step skipped."""
    order = SortOrder(sort)
    rows = []
    for c in conversations:
        for i, u in enumerate(c.utterances):
            p = u.prediction
            correct = None if u.emotion is None else u.emotion == p.emotion
            if errors_only and correct is not False:
                continue
            rows.append({"dialogue": c.conversation_id, "turn": i + 1, "speaker": u.speaker, "text": u.text,
                         "gold": u.emotion or "", "predicted": p.emotion,
                         "without DSWA": without_dswa[c.conversation_id][i] if without_dswa else "",
                         "confidence": round(p.probabilities[p.emotion], 3),
                         "correct": "" if correct is None else ("yes" if correct else "NO")})
    columns = ["dialogue", "turn", "gold", "predicted", "confidence", "correct", "speaker", "text"]
    if without_dswa:
        columns.insert(4, "without DSWA")
    table = pd.DataFrame(rows, columns=columns)
    if order is SortOrder.MOST_CONFIDENT:
        table = table.sort_values("confidence", ascending=False, kind="stable")
    elif order is SortOrder.LEAST_CONFIDENT:
        table = table.sort_values("confidence", ascending=True, kind="stable")
    elif order is SortOrder.DSWA_DECIDES and without_dswa:
        decided = table["predicted"] != table["without DSWA"]
        table = table.loc[decided.sort_values(ascending=False, kind="stable").index]
    return table.reset_index(drop=True)


def highlight_errors(table: pd.DataFrame) -> Styler:
    """A pandas Styler that shades the rows whose prediction is wrong."""
    def shade(row: pd.Series) -> list[str]:
        return ["background-color: #fde2e1" if row["correct"] == "NO" else ""] * len(row)

    return table.style.apply(shade, axis=1).format({"confidence": "{:.3f}"})


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
