"""Timed words -> utterances: split at pauses, at sentence ends when long, and wherever the speaker of the words
changes (pause or not); a tiny fragment joins a neighbour only when both have the same speaker. Pure functions over
small dataclasses, so each rule is tested without audio; the speakers come from spikemo.video.speakers.

A pause is measured on the word timestamps and, where Silero VAD regions are given, on the silence between
regions too (Whisper's word edges drift by a few hundred ms; VAD edges are tighter).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from spikemo.data.conversation import Utterance
from spikemo.video.speech import SpeechRegion, Word

SENTENCE_END = (".", "?", "!")


@dataclass(frozen=True)
class SegmentationConfig:
    """Seconds. A gap of at least pause_s starts a new utterance; one longer than max_duration_s is cut at
    sentence ends; a fragment shorter than min_duration_s or with fewer than min_words words joins the
    closer neighbour of the same speaker when the gap to it is under merge_gap_s."""

    pause_s: float = 0.5
    max_duration_s: float = 10.0
    min_duration_s: float = 0.8
    min_words: int = 2
    merge_gap_s: float = 1.5


@dataclass(frozen=True)
class Segment:
    """A run of words from one speaker (None until speakers are known)."""

    words: tuple[Word, ...]
    speaker: str | None = None

    @property
    def start(self) -> float:
        return self.words[0].start

    @property
    def end(self) -> float:
        return self.words[-1].end

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)


def _region_index(word: Word, regions: Sequence[SpeechRegion]) -> int:
    """The VAD region that contains the word's midpoint, else the nearest one."""
    middle = (word.start + word.end) / 2
    distances = [max(r.start - middle, middle - r.end, 0.0) for r in regions]
    return min(range(len(regions)), key=distances.__getitem__)


def pause_between(left: Word, right: Word, regions: Sequence[SpeechRegion] = ()) -> float:
    """Silence between two consecutive words: the word gap, or the VAD silence between their regions if larger."""
    gap = right.start - left.end
    if regions:
        i, j = _region_index(left, regions), _region_index(right, regions)
        if i != j:
            gap = max(gap, regions[j].start - regions[i].end)
    return gap


def split_at_pauses(
    words: Sequence[Word], pause_s: float, regions: Sequence[SpeechRegion] = ()
) -> list[Segment]:
    """Cut the word stream wherever the silence between consecutive words reaches pause_s."""
    segments: list[list[Word]] = []
    for index, word in enumerate(words):
        if index == 0 or pause_between(words[index - 1], word, regions) >= pause_s:
            segments.append([])
        segments[-1].append(word)
    return [Segment(tuple(group)) for group in segments]


def split_long(segment: Segment, max_duration_s: float) -> list[Segment]:
    """Cut a segment longer than max_duration_s at the sentence end closest to its middle, recursively."""
    if segment.duration <= max_duration_s:
        return [segment]
    middle = (segment.start + segment.end) / 2
    cuts = [i + 1 for i, w in enumerate(segment.words[:-1]) if w.text.endswith(SENTENCE_END)]
    if not cuts:
        return [segment]
    cut = min(cuts, key=lambda i: abs(segment.words[i - 1].end - middle))
    left = replace(segment, words=segment.words[:cut])
    right = replace(segment, words=segment.words[cut:])
    return split_long(left, max_duration_s) + split_long(right, max_duration_s)


def split_at_speaker_changes(segment: Segment, word_speakers: Sequence[str]) -> list[Segment]:
    """Cut a segment wherever the per-word speaker label changes; each piece takes its words' speaker."""
    if len(word_speakers) != len(segment.words):
        raise ValueError(f"{len(word_speakers)} speaker labels for {len(segment.words)} words")
    pieces: list[Segment] = []
    start = 0
    for index in range(1, len(segment.words) + 1):
        if index == len(segment.words) or word_speakers[index] != word_speakers[start]:
            pieces.append(Segment(segment.words[start:index], word_speakers[start]))
            start = index
    return pieces


def _is_fragment(segment: Segment, config: SegmentationConfig) -> bool:
    return segment.duration < config.min_duration_s or len(segment.words) < config.min_words


def merge_fragments(segments: Sequence[Segment], config: SegmentationConfig) -> list[Segment]:
    """Join each tiny fragment to its closer neighbour of the same speaker, if that gap is under merge_gap_s."""
    merged = list(segments)
    index = 0
    while index < len(merged):
        segment = merged[index]
        if not _is_fragment(segment, config):
            index += 1
            continue
        candidates = []
        if index > 0 and merged[index - 1].speaker == segment.speaker:
            candidates.append((segment.start - merged[index - 1].end, index - 1))
        if index + 1 < len(merged) and merged[index + 1].speaker == segment.speaker:
            candidates.append((merged[index + 1].start - segment.end, index + 1))
        candidates = [c for c in candidates if c[0] < config.merge_gap_s]
        if not candidates:
            index += 1
            continue
        _, other = min(candidates)
        first, second = sorted((index, other))
        merged[first] = Segment(merged[first].words + merged[second].words, segment.speaker)
        del merged[second]
        index = first
    return merged


def segment_words(
    words: Sequence[Word],
    regions: Sequence[SpeechRegion] = (),
    config: SegmentationConfig = SegmentationConfig(),
) -> list[Segment]:
    """Speaker-agnostic utterance segments from timed words (optionally with VAD regions)."""
    segments = split_at_pauses(words, config.pause_s, regions)
    segments = [piece for segment in segments for piece in split_long(segment, config.max_duration_s)]
    return merge_fragments(segments, config)


def apply_speakers(
    segments: Sequence[Segment],
    word_speakers: Sequence[Sequence[str]],
    config: SegmentationConfig = SegmentationConfig(),
) -> list[Segment]:
    """Give every word its speaker (one label list per segment), split where it changes, re-merge fragments."""
    if len(word_speakers) != len(segments):
        raise ValueError(f"{len(word_speakers)} label lists for {len(segments)} segments")
    pieces = [p for segment, labels in zip(segments, word_speakers) for p in split_at_speaker_changes(segment, labels)]
    return merge_fragments(pieces, config)


def to_utterances(segments: Sequence[Segment]) -> list[Utterance]:
    """Segments -> the project's Utterance records (ids 0..n-1; speaker "" when unknown)."""
    return [
        Utterance(speaker=s.speaker or "", text=s.text, start=s.start, end=s.end, utterance_id=i)
        for i, s in enumerate(segments)
    ]
