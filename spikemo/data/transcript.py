"""A user-supplied transcript instead of speech recognition: SRT, WebVTT, or a MELD-format CSV.

Speakers come from WebVTT voice tags (`<v Name>text`), a "Name: text" prefix (SRT/VTT), or the CSV's Speaker
column; a cue that names none gets speaker "" (UNKNOWN_SPEAKER), which the pipeline can fill in by voice
(spikemo.video.speakers). Text is used as given, less markup. Every problem raises InputError naming the cue or line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from spikemo.data.conversation import Utterance
from spikemo.data.meld import parse_meld_rows, row_utterance
from spikemo.data.timestamps import parse_timestamp
from spikemo.errors import InputError

UNKNOWN_SPEAKER = ""
CSV_COLUMNS = ("StartTime", "EndTime", "Speaker", "Utterance")
# Seconds a cue may run past the video's end (subtitle tools round end times up).
END_TOLERANCE_S = 0.5

_CUE_TIMES = re.compile(r"^\s*(\S+)\s+-->\s+(\S+)")
_VOICE = re.compile(r"<v(?:\.[\w.-]+)?\s+([^>]+)>")
_TAG = re.compile(r"<[^>]*>|\{\\[^}]*\}")
_NAME_PREFIX = re.compile(r"^([A-Z][\w.'’-]*(?: [A-Z][\w.'’-]*){0,2}):\s+(\S.*)$")


@dataclass(frozen=True)
class _Cue:
    where: str
    utterance: Utterance


def _cue_time(value: str, where: str) -> float:
    try:
        return parse_timestamp(value)
    except ValueError as error:
        raise InputError(f"{where}: {error}.") from None


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
    start = _cue_time(times.group(1), where)
    end = _cue_time(times.group(2), where)
    speaker, text = _speaker_and_text(lines[timing + 1 :])
    if not text:
        raise InputError(f"{where}: the cue has no text.")
    return _Cue(where, Utterance(speaker, text, start=start, end=end))


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
    """MELD-format rows with times and speakers; the text is kept as written, less runs of whitespace."""
    cues = []
    for row in parse_meld_rows(text, CSV_COLUMNS, "Transcript CSV"):
        where = f"CSV line {row.line}"
        utterance = row_utterance(row, where, repair_text=False, times_required=True)
        if not utterance.text:
            raise InputError(f"{where}: the Utterance is empty.")
        cues.append(_Cue(where, utterance))
    return cues


def _check_times(cues: list[_Cue], video_duration: float | None) -> None:
    for cue in cues:
        start, end = cue.utterance.start, cue.utterance.end
        if end <= start:
            raise InputError(f"{cue.where}: ends ({end:.3f} s) before it starts ({start:.3f} s).")
        if video_duration is not None and end > video_duration + END_TOLERANCE_S:
            raise InputError(f"{cue.where}: runs to {end:.3f} s, past the video's end at {video_duration:.3f} s.")


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
    cues.sort(key=lambda cue: cue.utterance.start)
    return [replace(cue.utterance, utterance_id=i) for i, cue in enumerate(cues)]


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
