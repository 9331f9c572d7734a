"""What the Inspect errors tab shows: the named outputs of its handlers, and the tables, stylers and Markdown they
are built from (user text escaped). demo/tabs/inspect.py lays the tab out and wires it."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pandas as pd
from matplotlib.figure import Figure
from pandas.io.formats.style import Styler

from demo.markup import md, speaker_name, top_probabilities
from demo.worker import ScoredFile
from spikemo.data.conversation import Conversation
from spikemo.training.inspection import ConfusionView, confusion_table, error_count

# Narrow fixed columns and a wide text column, so an utterance wraps inside its cell and stays readable at any
# width (the other columns scroll sideways on a phone). One width per column of display_turns.
TURN_WIDTHS = ["88px", "56px", "45%", "84px", "84px", "92px", "84px", "100px", "76px"]
DIALOGUE_WIDTHS = [*TURN_WIDTHS[:2], "60px", "40%", *TURN_WIDTHS[3:]]  # with the focus mark after the turn
DISAGREEMENT_WIDTHS = ["88px", "56px", "35%", "84px", "84px", "92px", "100px", "92px", "100px", "72px"]
ERROR_SHADE = "background-color: #fde2e1"
FOCUS_SHADE = "background-color: #ffe8a3; font-weight: bold"
FOCUS_MARK = "▶"


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
        errors = error_count(conversation)
        return (f"**Dialogue {md(conversation.conversation_id)}**: {errors} error{'s' if errors != 1 else ''} in "
                f"{len(utterances)} turns. Click a turn for its details.")
    u = utterances[focus]
    p = u.prediction
    verdict = "" if u.emotion is None else (" (correct)" if u.emotion == p.emotion else " (**error**)")
    lines = [
        f"**Dialogue {md(conversation.conversation_id)}, turn {focus + 1} of {len(utterances)}: "
        f"{speaker_name(u.speaker)}**",
        f"> {md(u.text)}",
        f"Gold: **{u.emotion or 'unlabelled'}**; predicted: **{p.emotion}**{verdict}; "
        f"{top_probabilities(p.probabilities)}",
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
        f"{m['n_utterances']} labelled utterances in {m['n_dialogues']} dialogues, scored in {scored.seconds:.1f} s"
        + (" (text features read from the cache an earlier scoring of this file made)."
           if m.get("text_features_cached") else "."),
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
