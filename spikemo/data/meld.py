"""Reader for MELD-format transcript CSVs (train/dev/test of MELD, or a user's own file in that format).

Columns: `Sr No., Utterance, Speaker, Emotion, Sentiment, Dialogue_ID, Utterance_ID, Season, Episode,
StartTime, EndTime`. Only Utterance, Speaker, Dialogue_ID and Utterance_ID are required; without an Emotion
column the utterances are unlabelled (emotion None), without StartTime/EndTime their times are None.
"""

import re
from pathlib import Path

import pandas as pd

from spikemo.data.conversation import Conversation, Utterance
from spikemo.data.labels import MELD_LABELS
from spikemo.errors import InputError

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

_TIME_PATTERN = re.compile(r"^(\d+):(\d{1,2}):(\d{1,2})(?:[,.](\d{1,3}))?$")


def clean_text(text: str) -> str:
    """Repair mojibake, turn typographic quotes into ASCII and collapse runs of whitespace."""
    for broken, fixed in MOJIBAKE_REPAIRS:
        text = text.replace(broken, fixed)
    return " ".join(text.translate(TYPOGRAPHIC_QUOTES).split())


def parse_timestamp(value: str) -> float:
    """'00:16:16,059' (or '0:16:16.059') -> 976.059 seconds. Raises ValueError on anything else."""
    match = _TIME_PATTERN.match(value.strip())
    if match is None:
        raise ValueError(f"not a time like 00:16:16,059: {value!r}")
    hours, minutes, seconds, millis = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds) + int((millis or "0").ljust(3, "0")) / 1000


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"MELD CSV not found: {path}")
    try:
        # Every cell as text, and no 'NA'/'None' -> NaN guessing: an utterance may literally say "None".
        table = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    except UnicodeDecodeError as error:
        raise InputError(f"{path} is not a UTF-8 text CSV ({error.reason} at byte {error.start})") from error
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise InputError(f"{path} could not be read as a CSV: {error}") from error
    table.columns = [str(column).strip() for column in table.columns]
    return table


def _row_int(value: str, column: str, row_number: int, path: Path) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise InputError(f"{path}, data row {row_number}: {column} must be an integer, got {value!r}") from None


def read_meld_csv(path: str | Path) -> list[Conversation]:
    """Read a CSV in MELD's format into conversations ordered by Dialogue_ID, utterances by Utterance_ID.

    Ids may have gaps (MELD's train split has no dialogue 60, and 72 dialogues skip utterance ids), so order
    comes from sorting the ids, never from assuming 0..n-1. Data rows are numbered from 1 in error messages.
    """
    path = Path(path)
    table = _read_table(path)
    missing = [column for column in REQUIRED_COLUMNS if column not in table.columns]
    if missing:
        raise InputError(
            f"{path} is missing required column(s) {', '.join(missing)}; "
            f"a MELD CSV needs {', '.join(REQUIRED_COLUMNS)} (found: {', '.join(table.columns) or 'none'})"
        )
    has_emotion = "Emotion" in table.columns
    has_times = "StartTime" in table.columns and "EndTime" in table.columns

    dialogues: dict[int, dict[int, Utterance]] = {}
    for row_number, row in enumerate(table.to_dict("records"), start=1):
        dialogue_id = _row_int(row["Dialogue_ID"], "Dialogue_ID", row_number, path)
        utterance_id = _row_int(row["Utterance_ID"], "Utterance_ID", row_number, path)
        emotion = None
        if has_emotion and row["Emotion"].strip():
            emotion = row["Emotion"].strip().lower()
            if emotion not in MELD_LABELS:
                raise InputError(
                    f"{path}, data row {row_number} (dialogue {dialogue_id}, utterance {utterance_id}): "
                    f"unknown emotion {row['Emotion']!r}; expected one of {', '.join(MELD_LABELS)}"
                )
        start = end = None
        if has_times and row["StartTime"].strip() and row["EndTime"].strip():
            try:
                start, end = parse_timestamp(row["StartTime"]), parse_timestamp(row["EndTime"])
            except ValueError as error:
                raise InputError(f"{path}, data row {row_number}: {error}") from None
        utterances = dialogues.setdefault(dialogue_id, {})
        if utterance_id in utterances:
            raise InputError(
                f"{path}, data row {row_number}: dialogue {dialogue_id} has utterance {utterance_id} twice"
            )
        utterances[utterance_id] = Utterance(
            speaker=clean_text(row["Speaker"]),
            text=clean_text(row["Utterance"]),
            start=start,
            end=end,
            emotion=emotion,
            utterance_id=utterance_id,
        )
    return [
        Conversation(str(dialogue_id), [utterances[i] for i in sorted(utterances)])
        for dialogue_id, utterances in sorted(dialogues.items())
    ]
