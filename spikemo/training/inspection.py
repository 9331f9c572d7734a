"""Reading a scored MELD-format CSV turn by turn: one table of every turn and its prediction, filters over it
(gold class, predicted class, speaker, confidence, errors only, text), sort orders, scores per slice (speaker,
position in the dialogue, length), pages of it, the turns behind one cell of the confusion matrix, dialogue
lookup, the turns on which two checkpoints disagree, and the size limits on a CSV before it is scored.

Tables are pandas DataFrames with one row per turn, in file order (dialogues by id, turns in order); `turn` is
1-based (its position in the dialogue), `utterance_id` the CSV's own Utterance_ID, and `gold` is "" for an
unlabelled turn. `scored_source_table` puts the predictions back beside the source CSV's own columns, to join or
filter with the rest of a corpus.
"""

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pandas as pd

from spikemo.data.conversation import Conversation
from spikemo.data.meld import read_meld_table
from spikemo.errors import InputError
from spikemo.training.metrics import classification_metrics

TURN_COLUMNS: tuple[str, ...] = ("dialogue", "turn", "speaker", "text", "gold", "predicted", "confidence")
CONFUSION_CORNER = "gold \\ predicted"
DISAGREEMENT_COLUMNS: tuple[str, ...] = (
    "dialogue", "turn", "text", "speaker", "gold", "predicted A", "confidence A", "predicted B", "confidence B",
    "right",
)


@dataclass(frozen=True)
class CsvLimits:
    """The most a CSV may hold before it is scored: bytes on disk and data rows (scoring time grows with rows)."""

    max_bytes: int = 2 * 1024**2
    max_rows: int = 5_000


def check_csv_limits(path: str | Path, limits: CsvLimits) -> int:
    """The number of data rows of the CSV at `path` (blank lines not counted); InputError when the file is bigger
    than `limits.max_bytes` or has more than `limits.max_rows` rows. Reads no further than the limit."""
    path = Path(path)
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise InputError(f"{path.name} is {size:,} bytes; the limit is {limits.max_bytes:,} bytes. Score a smaller "
                         "file, or run `python -m spikemo evaluate --csv FILE` on your own machine.")
    rows = -1  # the header is not a data row
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        try:
            for cells in csv.reader(handle):
                if any(cell.strip() for cell in cells):
                    rows += 1
                if rows > limits.max_rows:
                    raise InputError(
                        f"{path.name} has more than {limits.max_rows:,} data rows, the limit. Score a smaller file, "
                        "or run `python -m spikemo evaluate --csv FILE` on your own machine.")
        except csv.Error as error:
            raise InputError(f"{path.name} could not be read as a CSV: {error}") from error
    return max(rows, 0)


def scored_turns(conversations: Sequence[Conversation],
                 without_dswa: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """One row per predicted turn: TURN_COLUMNS, then prob_<label> per class, then `without_dswa` (the label
    predicted with the DSWA step skipped, when given: dialogue id -> label per turn), then dswa_<modality> (the
    turn's DSWA weight per modality, when the model has DSWA), then utterance_id (the source's id, or None)."""
    rows = []
    for conversation in conversations:
        skipped = without_dswa[conversation.conversation_id] if without_dswa else None
        for i, utterance in enumerate(conversation.utterances):
            p = utterance.prediction
            row = {"dialogue": conversation.conversation_id, "turn": i + 1, "speaker": utterance.speaker,
                   "text": utterance.text, "gold": utterance.emotion or "", "predicted": p.emotion,
                   "confidence": p.probabilities[p.emotion]}
            row.update({f"prob_{label}": value for label, value in p.probabilities.items()})
            if skipped is not None:
                row["without_dswa"] = skipped[i]
            row.update({f"dswa_{modality}": weight for modality, weight in p.dswa_weights.items()})
            row["utterance_id"] = utterance.utterance_id
            rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else list(TURN_COLUMNS))


# What each column that scoring adds to a source CSV holds (scored_source_table); <label> and <modality> stand for
# each emotion and each modality the checkpoint reads.
SCORED_COLUMNS_HELP: dict[str, str] = {
    "text_read": "the turn's text as the model read it (whitespace collapsed, mojibake and typographic quotes "
                 "repaired)",
    "predicted": "the checkpoint's emotion for the turn",
    "confidence": "the probability of that emotion",
    "prob_<label>": "the probability of each emotion (they sum to 1)",
    "without_dswa": "the emotion the same model predicts with its DSWA step skipped",
    "dswa_<modality>": "the turn's DSWA weight, its share of the dialogue (a dialogue's weights sum to 1)",
    "dswa_<modality>_x_turns": "that weight times the dialogue's number of turns, as the app shows it: 1 is an "
                               "average turn, 2 twice as much",
}


def scored_source_table(source: str | Path, turns: pd.DataFrame) -> pd.DataFrame:
    """The rows of the source CSV with every column as written (Sr No., Utterance_ID, Dialogue_ID, Season,
    Episode, the times, the original text, ...), in file order, followed by the predictions of `turns` (the
    scored_turns table of that CSV) joined on Dialogue_ID and Utterance_ID; SCORED_COLUMNS_HELP says what each
    added column holds."""
    table = read_meld_table(source)
    added = turns.drop(columns=[c for c in (*TURN_COLUMNS[:5], "utterance_id") if c in turns])
    added.insert(0, "text_read", turns["text"])
    turns_in_dialogue = turns.groupby("dialogue")["turn"].transform("size")
    for column in [c for c in turns.columns if c.startswith("dswa_")]:
        added[f"{column}_x_turns"] = turns[column] * turns_in_dialogue
    added["_dialogue"] = turns["dialogue"].astype(int)
    added["_utterance"] = turns["utterance_id"].astype(int)
    ids = {key: pd.to_numeric(table[column].str.strip(), errors="coerce")
           for key, column in (("_dialogue", "Dialogue_ID"), ("_utterance", "Utterance_ID"))}
    joined = table.assign(**ids).merge(added, on=["_dialogue", "_utterance"], how="left", validate="one_to_one")
    return joined.drop(columns=["_dialogue", "_utterance"])


def is_error(turns: pd.DataFrame) -> pd.Series:
    """True for the labelled turns whose prediction differs from the gold label."""
    return (turns["gold"] != "") & (turns["gold"] != turns["predicted"])


@dataclass(frozen=True)
class TurnFilter:
    """Which turns to show: an empty tuple of classes or speakers means any; confidence (the predicted class's
    probability) within [min_confidence, max_confidence], both ends included, in either order; `text`: only turns
    whose text contains it (ignoring case; "" for any)."""

    gold: tuple[str, ...] = ()
    predicted: tuple[str, ...] = ()
    speakers: tuple[str, ...] = ()
    min_confidence: float = 0.0
    max_confidence: float = 1.0
    errors_only: bool = False
    text: str = ""


def filter_turns(turns: pd.DataFrame, chosen: TurnFilter) -> pd.DataFrame:
    """The rows of `turns` (a `scored_turns` table) that `chosen` lets through, in their order, index reset."""
    low, high = sorted((chosen.min_confidence, chosen.max_confidence))
    keep = turns["confidence"].between(low, high)
    if chosen.gold:
        keep &= turns["gold"].isin(chosen.gold)
    if chosen.predicted:
        keep &= turns["predicted"].isin(chosen.predicted)
    if chosen.speakers:
        keep &= turns["speaker"].isin(chosen.speakers)
    if chosen.errors_only:
        keep &= is_error(turns)
    if chosen.text.strip():
        keep &= turns["text"].str.contains(chosen.text.strip(), case=False, regex=False)
    return turns[keep].reset_index(drop=True)


# The slices of `slice_scores`: a turn's position in its dialogue and its length in words, in bins.
POSITION_BINS: tuple[tuple[str, int, int], ...] = (("1st turn", 1, 1), ("turns 2-3", 2, 3), ("turns 4-6", 4, 6),
                                                   ("turn 7 on", 7, 10**9))
LENGTH_BINS: tuple[tuple[str, int, int], ...] = (("up to 3 words", 0, 3), ("4-8 words", 4, 8), ("9-15 words", 9, 15),
                                                 ("16 words on", 16, 10**9))
SLICE_COLUMNS: tuple[str, ...] = ("slice by", "slice", "turns", "weighted F1", "accuracy")


def slice_scores(turns: pd.DataFrame, labels: Sequence[str], min_speaker_turns: int = 20) -> pd.DataFrame:
    """Weighted F1 and accuracy (percent) of the labelled turns of `turns` (a `scored_turns` table) in each slice:
    by speaker (those with at least min_speaker_turns labelled turns; the rest together as "other speakers"), by
    position in the dialogue and by length in words (POSITION_BINS, LENGTH_BINS). Rows SLICE_COLUMNS."""
    labelled = turns[turns["gold"] != ""]
    counts = labelled["speaker"].value_counts()
    frequent = set(counts[counts >= min_speaker_turns].index)
    speaker = labelled["speaker"].where(labelled["speaker"].isin(frequent), "other speakers")
    words = labelled["text"].str.split().str.len()
    slices = {"speaker": speaker,
              "position": _binned(labelled["turn"], POSITION_BINS),
              "length": _binned(words, LENGTH_BINS)}
    orders = {"speaker": [*sorted(frequent, key=lambda name: (-counts[name], name)), "other speakers"],
              "position": [name for name, _, _ in POSITION_BINS], "length": [name for name, _, _ in LENGTH_BINS]}
    rows = []
    for kind, names in slices.items():
        for name in orders[kind]:
            chosen = labelled[names == name]
            if len(chosen):
                scores = classification_metrics(list(chosen["gold"]), list(chosen["predicted"]), labels)
                rows.append((kind, name, len(chosen), scores["weighted_f1"], scores["accuracy"]))
    return pd.DataFrame(rows, columns=list(SLICE_COLUMNS))


def _binned(values: pd.Series, bins: Sequence[tuple[str, int, int]]) -> pd.Series:
    """Each value's bin name: the (name, low, high) whose closed range holds it."""
    return values.map(lambda v: next(name for name, low, high in bins if low <= v <= high))


@dataclass(frozen=True)
class Page:
    """One page of a table: `number` of `count` (1-based), its rows `first` to `stop` (0-based, stop excluded)
    of `total`."""

    number: int
    count: int
    first: int
    stop: int
    total: int

    def describe(self) -> str:
        """E.g. "rows 51-100 of 452 (page 2 of 10)", or "no rows"."""
        if self.total == 0:
            return "no rows"
        return f"rows {self.first + 1}-{self.stop} of {self.total} (page {self.number} of {self.count})"


def page_of(total: int, number: int, size: int) -> Page:
    """Page `number` (clamped to the pages there are) of a table of `total` rows, `size` rows a page."""
    if size < 1:
        raise ValueError(f"a page needs at least one row, got size {size}")
    count = max(1, -(-total // size))
    number = min(max(int(number), 1), count)
    first = (number - 1) * size
    return Page(number, count, first, min(first + size, total), total)


class ConfusionView(StrEnum):
    """What the confusion matrix's cells show: the counts, or each count's share of its gold row in percent (the
    recall of the diagonal), so a rare class's row reads as clearly as a common one's."""

    COUNTS = "counts"
    ROW_SHARE = "% of each gold row"


def confusion_table(confusion: Sequence[Sequence[int]], labels: Sequence[str],
                    view: ConfusionView = ConfusionView.COUNTS) -> pd.DataFrame:
    """The confusion matrix (rows gold, columns predicted, in `labels` order) as a table: column
    CONFUSION_CORNER names each row's gold class, then one column per predicted class, of counts or of shares of
    the row (percent, one decimal; an empty row stays 0)."""
    counts = pd.DataFrame([list(row) for row in confusion], columns=list(labels))
    if view == ConfusionView.ROW_SHARE:
        totals = counts.sum(axis=1).replace(0, 1)
        counts = (100 * counts.div(totals, axis=0)).round(1)
    counts.insert(0, CONFUSION_CORNER, list(labels))
    return counts


def confusion_cell(labels: Sequence[str], row: int, column: int) -> TurnFilter:
    """The filter that lists exactly the turns counted in one cell of a `confusion_table`: gold labels[row],
    predicted labels[column - 1]; column 0 (the gold class's name) selects the whole row."""
    if not 0 <= row < len(labels) or not 0 <= column <= len(labels):
        raise ValueError(f"no cell ({row}, {column}) in a confusion table of {len(labels)} classes")
    return TurnFilter(gold=(labels[row],), predicted=(labels[column - 1],) if column else ())


def error_count(conversation: Conversation) -> int:
    """Labelled turns of a scored dialogue whose prediction is wrong."""
    return sum(u.emotion is not None and u.prediction.emotion != u.emotion for u in conversation.utterances)


def first_dialogue_with_errors(conversations: Sequence[Conversation]) -> str | None:
    """The id of the first dialogue with a wrong prediction on a labelled turn, else of the first dialogue (None
    when there is none)."""
    for conversation in conversations:
        if error_count(conversation):
            return conversation.conversation_id
    return conversations[0].conversation_id if conversations else None


def find_dialogue(conversations: Sequence[Conversation], dialogue_id: str, file_name: str) -> Conversation:
    """The dialogue with this id; InputError, naming the file, when there is none."""
    for conversation in conversations:
        if conversation.conversation_id == dialogue_id:
            return conversation
    raise InputError(f"Dialogue {dialogue_id} is not in {file_name}.")


def dialogue_choices(conversations: Sequence[Conversation]) -> list[tuple[str, str]]:
    """(label, dialogue id) per dialogue, the label counting its errors, e.g. "12: 3 errors in 9 turns"."""
    choices = []
    for c in conversations:
        errors = error_count(c)
        choices.append((f"{c.conversation_id}: {errors} error{'s' if errors != 1 else ''} in {len(c)} turns",
                        c.conversation_id))
    return choices


class SortOrder(StrEnum):
    """How the turn tables order their turns."""

    TURN_ORDER = "turn order"
    MOST_CONFIDENT = "most confident first"
    LEAST_CONFIDENT = "least confident first"
    DSWA_DECIDES = "turns DSWA decides first"


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
    """A `scored_turns` table as a reader sees it: dialogue, turn, text, speaker, gold, predicted, without DSWA
    ("" when the model has no DSWA step), confidence (3 decimals), correct ("yes", "NO", or "" unlabelled)."""
    correct = pd.Series("yes", index=turns.index).where(~is_error(turns), "NO").where(turns["gold"] != "", "")
    return pd.DataFrame({
        "dialogue": turns["dialogue"], "turn": turns["turn"], "text": turns["text"], "speaker": turns["speaker"],
        "gold": turns["gold"], "predicted": turns["predicted"],
        "without DSWA": turns.get("without_dswa", ""),
        "confidence": turns["confidence"].round(3), "correct": correct,
    }).reset_index(drop=True)


class DisagreementOrder(StrEnum):
    """How a table of disagreements orders its turns."""

    TURN_ORDER = "turn order"
    LARGEST_GAP = "largest confidence gap first"
    A_RIGHT_FIRST = "A right first"
    B_RIGHT_FIRST = "B right first"


def disagreements(first: Sequence[Conversation], second: Sequence[Conversation]) -> pd.DataFrame:
    """The turns that two scorings of the same file (A: `first`, B: `second`) predict differently, in file order:
    DISAGREEMENT_COLUMNS, `right` saying which of the two matches the gold label ("A", "B", "neither", or ""
    for an unlabelled turn). ValueError when the two do not hold the same dialogues and turns."""
    if [(c.conversation_id, len(c)) for c in first] != [(c.conversation_id, len(c)) for c in second]:
        raise ValueError("the two scorings do not hold the same dialogues and turns")
    rows = []
    for a_conversation, b_conversation in zip(first, second):
        for i, (a, b) in enumerate(zip(a_conversation.utterances, b_conversation.utterances)):
            pa, pb = a.prediction, b.prediction
            if pa.emotion == pb.emotion:
                continue
            gold = a.emotion or ""
            right = "" if not gold else "A" if pa.emotion == gold else "B" if pb.emotion == gold else "neither"
            rows.append((a_conversation.conversation_id, i + 1, a.text, a.speaker, gold,
                         pa.emotion, pa.probabilities[pa.emotion], pb.emotion, pb.probabilities[pb.emotion], right))
    return pd.DataFrame(rows, columns=list(DISAGREEMENT_COLUMNS))


def sort_disagreements(table: pd.DataFrame, order: DisagreementOrder) -> pd.DataFrame:
    """A `disagreements` table in `order` (ties keep file order), index reset."""
    if order is DisagreementOrder.LARGEST_GAP:
        gap = (table["confidence A"] - table["confidence B"]).abs()
        table = table.loc[gap.sort_values(ascending=False, kind="stable").index]
    elif order in (DisagreementOrder.A_RIGHT_FIRST, DisagreementOrder.B_RIGHT_FIRST):
        winner = "A" if order is DisagreementOrder.A_RIGHT_FIRST else "B"
        table = table.loc[(table["right"] == winner).sort_values(ascending=False, kind="stable").index]
    return table.reset_index(drop=True)
