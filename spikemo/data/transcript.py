"""A user-supplied transcript instead of speech recognition: SRT, WebVTT, or a MELD-format CSV.

Speakers come from WebVTT voice tags (`<v Name>text`), a "Name: text" prefix (SRT/VTT), or the CSV's Speaker
column; a cue that names none gets speaker "" (UNKNOWN_SPEAKER), which the pipeline can fill in by voice
(spikemo.video.speakers). Text is used as given, less the formats' own markup (<i>, <b>, <font ...>, <v Name>, ...):
other text in angle brackets stays, as written. Every problem raises InputError naming the cue or line.

A transcript comes from a user, so `TranscriptLimits` bounds it before it is parsed: its size in bytes (checked
before the file is read) and its number of cues (counted before any cue is parsed), which may not exceed what a
fast speaker could produce over the video's duration.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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
# The markup SRT and WebVTT define (bold, italic, underline, font, class, voice, language, ruby, cue timestamps)
# and SSA-style override blocks ({\an8}); anything else in angle brackets ("<laughs>", "<3") is the cue's text.
_TAG = re.compile(r"</?(?:[biu]|font|c|v|lang|ruby|rt)(?:[.\s][^>]*)?>|<\d{2}:[\d:.]+>|\{\\[^}]*\}",
                  re.IGNORECASE)
_NAME_PREFIX = re.compile(r"^([A-Z][\w.'’-]*(?: [A-Z][\w.'’-]*){0,2}):\s+(\S.*)$")


@dataclass(frozen=True)
class TranscriptLimits:
    """What a transcript may hold: at most max_bytes bytes (UTF-8), and, for a video of D seconds, at most
    cues_per_second * D + extra_cues cues (several short cues a second is already a very fast speaker)."""

    max_bytes: int = 1_000_000
    cues_per_second: float = 4.0
    extra_cues: int = 20

    def max_cues(self, video_duration: float) -> int:
        return int(self.cues_per_second * video_duration) + self.extra_cues

    def check_size(self, size: int, name: str) -> None:
        """InputError when `size` bytes is over max_bytes."""
        if size > self.max_bytes:
            raise InputError(f"{name} is {size:,} bytes; the limit for a transcript is {self.max_bytes:,} bytes.")

    def check_cues(self, count: int, video_duration: float | None, name: str) -> None:
        """InputError when `count` cues is more than a video of `video_duration` seconds allows (None: no check)."""
        if video_duration is not None and count > self.max_cues(video_duration):
            raise InputError(
                f"{name} has {count:,} cues; a {video_duration:.1f} s video allows at most "
                f"{self.max_cues(video_duration):,} ({self.cues_per_second:g} a second plus {self.extra_cues})."
            )


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


def _parse_srt(text: str, check_count: Callable[[int], None]) -> list[_Cue]:
    blocks = _blocks(text)
    check_count(len(blocks))
    return [_cue_from_block(number, lines, "SRT cue") for number, lines in blocks]


def _parse_vtt(text: str, check_count: Callable[[int], None]) -> list[_Cue]:
    blocks = _blocks(text.lstrip("\ufeff"))
    if not blocks or not blocks[0][1][0].startswith("WEBVTT"):
        raise InputError("WebVTT file: the first line must be 'WEBVTT'.")
    cue_blocks = [(number, lines) for number, lines in blocks[1:] if _is_cue_block(lines)]
    check_count(len(cue_blocks))
    return [_cue_from_block(number, lines, "WebVTT cue") for number, lines in cue_blocks]


def _is_cue_block(lines: list[str]) -> bool:
    """Whether a WebVTT block is a cue (NOT a NOTE, STYLE or REGION block, which carry no speech)."""
    return lines[0].split(" ", 1)[0] not in ("NOTE", "STYLE", "REGION")


def _parse_meld_csv(text: str, check_count: Callable[[int], None]) -> list[_Cue]:
    """MELD-format rows with times and speakers; the text is kept as written, less runs of whitespace."""
    rows = parse_meld_rows(text, CSV_COLUMNS, "Transcript CSV")
    check_count(len(rows))
    cues = []
    for row in rows:
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


def parse_transcript(text: str, kind: str, video_duration: float | None = None,
                     limits: TranscriptLimits = TranscriptLimits(), name: str = "The transcript") -> list[Utterance]:
    """Parse transcript text of `kind` ("srt", "vtt", "csv") into utterances ordered by start time.

    video_duration: seconds; when given, a cue that ends after the video (beyond END_TOLERANCE_S) is an error,
    and so are more cues than `limits` allows for that duration (counted before any cue is parsed). A text over
    limits.max_bytes is refused first. name: what the messages call the transcript (its file name).
    """
    if kind not in PARSERS:
        raise InputError(f"Unknown transcript format '{kind}'; use SRT (.srt), WebVTT (.vtt) or MELD CSV (.csv).")
    limits.check_size(len(text.encode("utf-8")), name)
    cues = PARSERS[kind](text, lambda count: limits.check_cues(count, video_duration, name))
    if not cues:
        raise InputError(f"The {kind.upper()} transcript contains no cues.")
    _check_times(cues, video_duration)
    cues.sort(key=lambda cue: cue.utterance.start)
    return [replace(cue.utterance, utterance_id=i) for i, cue in enumerate(cues)]


def load_transcript(path: str | Path, video_duration: float | None = None,
                    limits: TranscriptLimits = TranscriptLimits()) -> list[Utterance]:
    """Read an .srt, .vtt or .csv transcript file (UTF-8); see `parse_transcript`. A file over limits.max_bytes is
    refused before it is read. The CLI and the app both read transcripts here, with the pipeline's limits; every
    error names the file."""
    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    if not path.is_file():
        raise InputError(f"Transcript file not found: {path.name}")
    limits.check_size(path.stat().st_size, path.name)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"{path.name} is not UTF-8 text.") from error
    try:
        return parse_transcript(text, kind, video_duration, limits, path.name)
    except InputError as error:  # every message names the file it is about
        if str(error).startswith(path.name):
            raise
        raise InputError(f"{path.name}: {error}") from error
