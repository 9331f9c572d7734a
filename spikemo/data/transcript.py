"""A user-supplied transcript instead of speech recognition: SRT, WebVTT, or a MELD-format CSV.

Speakers come from WebVTT voice tags (`<v Name>text`), a "Name: text" prefix (SRT/VTT), or the CSV's Speaker
column; a cue that names none gets speaker "" (UNKNOWN_SPEAKER), which the pipeline can fill in by voice
(spikemo.video.speakers). Text is used as given, less markup. Every problem raises InputError naming the cue or line.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from spikemo.data.conversation import Utterance
from spikemo.data.labels import MELD_LABELS
from spikemo.errors import InputError

UNKNOWN_SPEAKER = ""
MELD_COLUMNS = ("StartTime", "EndTime", "Speaker", "Utterance")
# Seconds a cue may run past the video's end (subtitle tools round end times up).
END_TOLERANCE_S = 0.5

_TIME = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2})[,.](\d{1,3})$")
_CUE_TIMES = re.compile(r"^\s*(\S+)\s+-->\s+(\S+)")
_VOICE = re.compile(r"<v(?:\.[\w.-]+)?\s+([^>]+)>")
_TAG = re.compile(r"<[^>]*>|\{\\[^}]*\}")
_NAME_PREFIX = re.compile(r"^([A-Z][\w.'’-]*(?: [A-Z][\w.'’-]*){0,2}):\s+(\S.*)$")


@dataclass(frozen=True)
class _Cue:
    where: str
    start: float
    end: float
    speaker: str
    text: str
    emotion: str | None = None


def parse_timestamp(value: str, where: str) -> float:
    """'HH:MM:SS,mmm', 'HH:MM:SS.mmm' or 'MM:SS.mmm' -> seconds."""
    match = _TIME.match(value.strip())
    if match is None:
        raise InputError(f"{where}: '{value}' is not a time like 00:01:02,500.")
    hours, minutes, seconds, fraction = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(fraction.ljust(3, "0")) / 1000


def _speaker_and_text(raw_lines: list[str]) -> tuple[str, str]:
    joined = " ".join(line.strip() for line in raw_lines if line.strip())
    voice = _VOICE.search(joined)
    text = " ".join(_TAG.sub("", joined).split())
    if voice is not None:
        return voice.group(1).strip(), text
    prefixed = _NAME_PREFIX.match(text)
    if prefixed is not None:
        return prefixed.group(1), prefixed.group(2)
    return UNKNOWN_SPEAKER, text


def _blocks(text: str) -> list[tuple[int, list[str]]]:
    """Blank-line separated blocks as (first line number, lines)."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            if not current:
                blocks.append((number, current))
            current.append(line)
        else:
            current = []
    return blocks


def _cue_from_block(first_line: int, lines: list[str], label: str) -> _Cue:
    timing = next((i for i, line in enumerate(lines) if "-->" in line), None)
    where = f"{label} at line {first_line}"
    if timing is None:
        raise InputError(f"{where}: no 'start --> end' time line.")
    times = _CUE_TIMES.match(lines[timing])
    if times is None:
        raise InputError(f"{where}: cannot read the time line '{lines[timing].strip()}'.")
    start = parse_timestamp(times.group(1), where)
    end = parse_timestamp(times.group(2), where)
    speaker, text = _speaker_and_text(lines[timing + 1 :])
    if not text:
        raise InputError(f"{where}: the cue has no text.")
    return _Cue(where, start, end, speaker, text)


def _parse_srt(text: str) -> list[_Cue]:
    return [_cue_from_block(number, lines, "SRT cue") for number, lines in _blocks(text)]


def _parse_vtt(text: str) -> list[_Cue]:
    blocks = _blocks(text.lstrip("\ufeff"))
    if not blocks or not blocks[0][1][0].startswith("WEBVTT"):
        raise InputError("WebVTT file: the first line must be 'WEBVTT'.")
    cues = []
    for number, lines in blocks[1:]:
        # NOTE, STYLE and REGION blocks carry no speech.
        if lines[0].split(" ", 1)[0] in ("NOTE", "STYLE", "REGION"):
            continue
        cues.append(_cue_from_block(number, lines, "WebVTT cue"))
    return cues


def _parse_meld_csv(text: str) -> list[_Cue]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in MELD_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(f"Transcript CSV: missing column(s) {', '.join(missing)}; need {', '.join(MELD_COLUMNS)}.")
    cues = []
    for row in reader:
        where = f"CSV line {reader.line_num}"
        emotion = (row.get("Emotion") or "").strip().lower() or None
        if emotion is not None and emotion not in MELD_LABELS:
            raise InputError(f"{where}: unknown emotion '{emotion}'; expected one of {', '.join(MELD_LABELS)}.")
        text_value = " ".join((row["Utterance"] or "").split())
        if not text_value:
            raise InputError(f"{where}: the Utterance is empty.")
        cues.append(
            _Cue(
                where,
                parse_timestamp(row["StartTime"] or "", where),
                parse_timestamp(row["EndTime"] or "", where),
                (row["Speaker"] or "").strip(),
                text_value,
                emotion,
            )
        )
    return cues


def _check_times(cues: list[_Cue], video_duration: float | None) -> None:
    for cue in cues:
        if cue.end <= cue.start:
            raise InputError(f"{cue.where}: ends ({cue.end:.3f} s) before it starts ({cue.start:.3f} s).")
        if video_duration is not None and cue.end > video_duration + END_TOLERANCE_S:
            raise InputError(
                f"{cue.where}: runs to {cue.end:.3f} s, past the video's end at {video_duration:.3f} s."
            )


PARSERS = {"srt": _parse_srt, "vtt": _parse_vtt, "csv": _parse_meld_csv}


def parse_transcript(text: str, kind: str, video_duration: float | None = None) -> list[Utterance]:
    """Parse transcript text of `kind` ("srt", "vtt", "csv") into utterances ordered by start time.

    video_duration: seconds; when given, a cue that ends after the video (beyond END_TOLERANCE_S) is an error.
    """
    if kind not in PARSERS:
        raise InputError(f"Unknown transcript format '{kind}'; use SRT (.srt), WebVTT (.vtt) or MELD CSV (.csv).")
    cues = PARSERS[kind](text)
    if not cues:
        raise InputError(f"The {kind.upper()} transcript contains no cues.")
    _check_times(cues, video_duration)
    cues.sort(key=lambda cue: cue.start)
    return [
        Utterance(speaker=c.speaker, text=c.text, start=c.start, end=c.end, emotion=c.emotion, utterance_id=i)
        for i, c in enumerate(cues)
    ]


def load_transcript(path: str | Path, video_duration: float | None = None) -> list[Utterance]:
    """Read an .srt, .vtt or .csv transcript file (UTF-8); see `parse_transcript`."""
    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    if not path.is_file():
        raise InputError(f"Transcript file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"{path.name} is not UTF-8 text.") from error
    return parse_transcript(text, kind, video_duration)
