"""Reader for MELD-format transcript CSVs (train/dev/test of MELD, or a user's own file in that format).

Columns: `Sr No., Utterance, Speaker, Emotion, Sentiment, Dialogue_ID, Utterance_ID, Season, Episode,
StartTime, EndTime`. `read_meld_csv` needs Utterance, Speaker, Dialogue_ID and Utterance_ID; without an Emotion
column the utterances are unlabelled (emotion None), without StartTime/EndTime their times are None. A
transcript in this format (spikemo.data.transcript) is read by the same row parsing: `parse_meld_rows` and
`row_utterance`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from spikemo.data.conversation import Conversation, Utterance
from spikemo.data.labels import MELD_LABELS
from spikemo.data.timestamps import parse_timestamp
from spikemo.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

REQUIRED_COLUMNS: tuple[str, ...] = ("Utterance", "Speaker", "Dialogue_ID", "Utterance_ID")

# UTF-8 text that was once decoded as Windows-1252 ("mojibake"), and the Windows-1252 punctuation bytes that
# arrive as C1 control characters when such a file is read as Latin-1. Longest sequences first.
MOJIBAKE_REPAIRS: tuple[tuple[str, str], ...] = (
    ("\u00e2\u20ac\u2122", "'"),  # â€™  right single quote
    ("\u00e2\u20ac\u02dc", "'"),  # â€˜  left single quote
    ("\u00e2\u20ac\u0153", '"'),  # â€œ  left double quote
    ("\u00e2\u20ac\u009d", '"'),  # â€\x9d right double quote
    ("\u00e2\u20ac\u00a6", "\u2026"),  # â€¦  ellipsis
    ("\u00e2\u20ac\u201d", "\u2014"),  # â€”  em dash
    ("\u00e2\u20ac\u201c", "\u2013"),  # â€“  en dash
    ("\u00c3\u00a9", "\u00e9"),  # Ã©  é
    ("\u00c3\u00b3", "\u00f3"),  # Ã³  ó
    ("\u00c3\u00b1", "\u00f1"),  # Ã±  ñ
    ("\u00c2\u00a0", " "),  # Â + no-break space
    ("\u0091", "'"),
    ("\u0092", "'"),
    ("\u0093", '"'),
    ("\u0094", '"'),
    ("\u0085", "\u2026"),
    ("\u0096", "\u2013"),
    ("\u0097", "\u2014"),
)

# Typographic quotes to ASCII, so "don't" and "don’t" are the same words for a tokenizer.
TYPOGRAPHIC_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})


def _collapse_whitespace(text: str) -> str:
    return " ".join(text.split())


def clean_text(text: str) -> str:
    """Repair mojibake, turn typographic quotes into ASCII and collapse runs of whitespace."""
    for broken, fixed in MOJIBAKE_REPAIRS:
        text = text.replace(broken, fixed)
    return _collapse_whitespace(text.translate(TYPOGRAPHIC_QUOTES))


@dataclass(frozen=True)
class MeldRow:
    """One data row of a MELD-format CSV, with what an error message needs to point at it."""

    number: int  # data rows counted from 1, the header and blank lines not counted
    line: int  # the line of the file the row ends on (a quoted cell may span lines)
    cells: dict[str, str]  # column name -> cell text, "" where the row is short


def parse_meld_rows(text: str, required: Sequence[str], source: str) -> list[MeldRow]:
    """The data rows of MELD-format CSV text, whose header must name the `required` columns.

    InputError names `source` (a path, or e.g. "Transcript CSV") when the text is not a CSV, lacks a required
    column, or has a row with more cells than the header has columns.
    """
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")), strict=True)
    rows: list[MeldRow] = []
    try:
        header = [name.strip() for name in next(reader, [])]
        if not header:
            raise InputError(f"{source} could not be read as a CSV: it has no header line")
        missing = [column for column in required if column not in header]
        if missing:
            raise InputError(
                f"{source}: missing column(s) {', '.join(missing)}; a MELD CSV needs {', '.join(required)} "
                f"(found: {', '.join(header)})"
            )
        for values in reader:
            if len(values) <= 1 and not "".join(values).strip():
                continue  # a blank line
            if len(values) > len(header):
                raise InputError(
                    f"{source} could not be read as a CSV: line {reader.line_num} has {len(values)} cells "
                    f"for {len(header)} columns"
                )
            cells = dict(zip(header, values + [""] * (len(header) - len(values))))
            rows.append(MeldRow(len(rows) + 1, reader.line_num, cells))
    except csv.Error as error:
        raise InputError(f"{source} could not be read as a CSV: {error} (line {reader.line_num})") from error
    return rows


def row_utterance(row: MeldRow, where: str, *, repair_text: bool = True, times_required: bool = False) -> Utterance:
    """The utterance of one MELD-format row; InputError names `where` when a cell cannot be used.

    Speaker and Utterance get their whitespace collapsed and, with `repair_text`, their mojibake and typographic
    quotes repaired (`clean_text`). Emotion: lower-cased and one of MELD_LABELS, None when empty or absent.
    StartTime and EndTime: seconds; both None unless both are filled, an error when `times_required`.
    """
    cells = row.cells
    emotion = cells.get("Emotion", "").strip().lower() or None
    if emotion is not None and emotion not in MELD_LABELS:
        raise InputError(
            f"{where}: unknown emotion {cells['Emotion'].strip()!r}; expected one of {', '.join(MELD_LABELS)}"
        )
    start_cell, end_cell = cells.get("StartTime", ""), cells.get("EndTime", "")
    start = end = None
    if times_required or (start_cell.strip() and end_cell.strip()):
        try:
            start, end = parse_timestamp(start_cell), parse_timestamp(end_cell)
        except ValueError as error:
            raise InputError(f"{where}: {error}") from None
    tidy = clean_text if repair_text else _collapse_whitespace
    return Utterance(tidy(cells["Speaker"]), tidy(cells["Utterance"]), start=start, end=end, emotion=emotion)


def _read_csv_text(path: Path) -> str:
    if not path.is_file():
        raise InputError(f"MELD CSV not found: {path}")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"{path} is not a UTF-8 text CSV ({error.reason} at byte {error.start})") from error


def _row_int(row: MeldRow, column: str, where: str) -> int:
    try:
        return int(row.cells[column].strip())
    except ValueError:
        raise InputError(f"{where}: {column} must be an integer, got {row.cells[column]!r}") from None


def read_meld_table(path: str | Path) -> pd.DataFrame:
    """A MELD-format CSV exactly as written: every column, every cell a string (nothing parsed or dropped)."""
    import pandas as pd  # a table only here: reading conversations needs no pandas

    return pd.read_csv(io.StringIO(_read_csv_text(Path(path))), dtype=str, keep_default_na=False)


def read_meld_csv(path: str | Path) -> list[Conversation]:
    """Read a CSV in MELD's format into conversations ordered by Dialogue_ID, utterances by Utterance_ID.

    Ids may have gaps (MELD's train split has no dialogue 60, and 72 dialogues skip utterance ids), so order
    comes from sorting the ids, never from assuming 0..n-1. Data rows are numbered from 1 in error messages.
    """
    path = Path(path)
    dialogues: dict[int, dict[int, Utterance]] = {}
    for row in parse_meld_rows(_read_csv_text(path), REQUIRED_COLUMNS, str(path)):
        where = f"{path}, data row {row.number}"
        dialogue_id = _row_int(row, "Dialogue_ID", where)
        utterance_id = _row_int(row, "Utterance_ID", where)
        utterance = row_utterance(row, f"{where} (dialogue {dialogue_id}, utterance {utterance_id})")
        utterances = dialogues.setdefault(dialogue_id, {})
        if utterance_id in utterances:
            raise InputError(f"{where}: dialogue {dialogue_id} has utterance {utterance_id} twice")
        utterances[utterance_id] = replace(utterance, utterance_id=utterance_id)
    return [
        Conversation(str(dialogue_id), [utterances[i] for i in sorted(utterances)])
        for dialogue_id, utterances in sorted(dialogues.items())
    ]
