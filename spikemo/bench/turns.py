"""Turn-taking evaluation: how well speech recognition, segmentation and speaker attribution find the turns of
generated quick exchanges (spikemo.bench.synthetic.turn_taking_suite: 2-4 espeak voices, one- and two-word
replies, 0-150 ms gaps, a little overlap, background noise), for each Whisper model, with the earlier pause-based
turns ("pauses") and word-level speaker turns ("words"; see spikemo.video.speakers), and the speaker timeline
("timeline", the pipeline's default; spikemo.video.diarization).

Scores, summed over the conversations:
- turn boundaries: every turn start after the first, predicted against scripted, paired one to one (at most
  `tolerance_s` apart, closest pairs first by linear_sum_assignment); precision, recall and F1 of the pairs.
- speaker accuracy per word: each recognised word's reference speaker is the scripted turn it overlaps most
  (the nearest one when it overlaps none); predicted labels are renamed by the best one-to-one mapping per
  conversation (speakers.attribution_accuracy), then words are counted.
- WER: word edits against the script over its word count, both lowercased without punctuation; jiwer counts
  the edits when it is installed (a test dependency), else `edit_distance`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from spikemo.bench.synthetic import ScriptTurn, SpokenConversation, make_turn_taking, turn_taking_suite
from spikemo.video.diarization import DiarizationConfig, diarize
from spikemo.video.segmentation import Segment
from spikemo.video.speakers import SpeakerConfig, attribution_accuracy
from spikemo.video.speech import SpeechConfig, Word, transcribe

try:
    import jiwer
except ImportError:  # jiwer is a test dependency; the benchmark runs without it
    jiwer = None

TOLERANCE_S = 0.3
# The turn methods compared: the pause-based and word-window turns of spikemo.video.speakers, and the speaker timeline
# of spikemo.video.diarization (the pipeline's default).
METHODS = {
    "pauses": DiarizationConfig(method="words", speakers=SpeakerConfig(turns="pauses")),
    "words": DiarizationConfig(method="words"),
    "timeline": DiarizationConfig(),
}


@dataclass
class TurnCounts:
    """Counts behind the scores, additive over conversations."""

    matched: int = 0  # boundaries paired within the tolerance
    predicted: int = 0  # predicted boundaries (turns after the first)
    reference: int = 0  # scripted boundaries
    words_right: float = 0.0  # recognised words with the right speaker, after the best renaming
    extra_speakers: int = 0  # speakers found beyond the scripted ones (a cut-off word given to a phantom voice)
    words: int = 0  # recognised words
    edits: int = 0  # word edits against the script
    script_words: int = 0  # words in the script

    def __add__(self, other: TurnCounts) -> TurnCounts:
        return TurnCounts(*(a + b for a, b in zip(vars(self).values(), vars(other).values())))

    def scores(self) -> dict[str, float]:
        precision = self.matched / self.predicted if self.predicted else 0.0
        recall = self.matched / self.reference if self.reference else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {
            "boundary_precision": precision,
            "boundary_recall": recall,
            "boundary_f1": f1,
            "word_speaker_accuracy": self.words_right / self.words if self.words else 0.0,
            "extra_speakers": self.extra_speakers,
            "wer": self.edits / self.script_words if self.script_words else 0.0,
        }


def matched_boundaries(predicted: Sequence[float], reference: Sequence[float], tolerance_s: float = TOLERANCE_S) -> int:
    """How many predicted boundary times pair one to one with reference times at most tolerance_s apart."""
    if not predicted or not reference:
        return 0
    distance = np.abs(np.subtract.outer(np.asarray(predicted), np.asarray(reference)))
    # Pairs beyond the tolerance get a cost no valid pairing can beat, then are not counted.
    rows, cols = linear_sum_assignment(np.where(distance <= tolerance_s, distance, 1e6))
    return int((distance[rows, cols] <= tolerance_s).sum())


def reference_speakers(words: Sequence[Word], turns: Sequence[ScriptTurn]) -> list[str]:
    """The scripted speaker of each recognised word: the turn it overlaps most, else the nearest turn."""
    speakers = []
    for word in words:
        shared = [min(word.end, t.end) - max(word.start, t.start) for t in turns]
        best = int(np.argmax(shared))
        if shared[best] <= 0:
            best = int(np.argmin([max(t.start - word.end, word.start - t.end) for t in turns]))
        speakers.append(turns[best].speaker)
    return speakers


def normalise_words(text: str) -> list[str]:
    """Lowercase words without punctuation (apostrophes kept): "Oh, no!" -> ["oh", "no"]."""
    return re.sub(r"[^\w\s']", " ", text.lower()).split()


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Word substitutions + deletions + insertions turning `reference` into `hypothesis` (Levenshtein)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, start=1):
        current = [i]
        for j, hyp_word in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word)))
        previous = current
    return previous[-1]


def word_edits(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word edits, reference words) after `normalise_words`; jiwer counts the edits when installed."""
    ref, hyp = normalise_words(reference), normalise_words(hypothesis)
    if jiwer is None or not ref or not hyp:
        return edit_distance(ref, hyp), len(ref)
    out = jiwer.process_words(" ".join(ref), " ".join(hyp))
    return out.substitutions + out.deletions + out.insertions, len(ref)


def score_turns(turns: Sequence[Segment], conversation: SpokenConversation,
                tolerance_s: float = TOLERANCE_S) -> TurnCounts:
    """The counts of one conversation's predicted turns (segments with speakers) against its script."""
    words = [word for turn in turns for word in turn.words]
    predicted = [turn.speaker or "" for turn in turns for _ in turn.words]
    edits, script_words = word_edits(conversation.text, " ".join(w.text for w in words))
    return TurnCounts(
        matched=matched_boundaries([t.start for t in turns[1:]], [t.start for t in conversation.turns[1:]],
                                   tolerance_s),
        predicted=max(0, len(turns) - 1),
        reference=len(conversation.turns) - 1,
        words_right=attribution_accuracy(predicted, reference_speakers(words, conversation.turns)) * len(words),
        extra_speakers=max(0, len(set(predicted)) - len({turn.speaker for turn in conversation.turns})),
        words=len(words),
        edits=edits,
        script_words=script_words,
    )


def bench_turns(
    models: Sequence[str] = ("tiny.en", "base"),
    conversations: int = 9,
    seed: int = 0,
    hint_speakers: bool = True,
    threads: int = 0,
) -> dict:
    """Turn-taking scores (see the module docstring) per Whisper model and turn method, on `conversations`
    generated conversations (turn_taking_suite(conversations, seed)). hint_speakers: give the clustering the
    true number of voices (as the app's speaker field does); False: estimate it. threads: CTranslate2 threads
    for Whisper (0: its default). Seconds are wall-clock totals over all conversations."""
    spoken = [make_turn_taking(config) for config in turn_taking_suite(conversations, seed)]
    rows = []
    for model in models:
        speech = SpeechConfig(model=model, cpu_threads=threads)
        counts = {method: TurnCounts() for method in METHODS}
        seconds = {"speech": 0.0, **{method: 0.0 for method in METHODS}}
        for conversation in spoken:
            began = time.perf_counter()
            transcription = transcribe(conversation.audio, speech)
            seconds["speech"] += time.perf_counter() - began
            hint = len({turn.speaker for turn in conversation.turns}) if hint_speakers else None
            for method, config in METHODS.items():
                began = time.perf_counter()
                turns = diarize(conversation.audio, transcription, hint, config).segments
                seconds[method] += time.perf_counter() - began
                counts[method] += score_turns(turns, conversation)
        for method in METHODS:
            rows.append({"model": model, "turns": method, **counts[method].scores(),
                         "speech_seconds": seconds["speech"], "speaker_seconds": seconds[method],
                         "boundaries": counts[method].reference, "words": counts[method].words})
    return {
        "conversations": conversations,
        "seed": seed,
        "audio_seconds": sum(c.duration for c in spoken),
        "scripted_turns": sum(len(c.turns) for c in spoken),
        "hint_speakers": hint_speakers,
        "methods": list(METHODS),
        "tolerance_s": TOLERANCE_S,
        "rows": rows,
    }


def format_turn_bench(result: dict) -> str:
    """A table of `bench_turns`'s result."""
    lines = [
        f"turn taking on {result['conversations']} generated conversations ({result['audio_seconds']:.0f} s, "
        f"{result['scripted_turns']} scripted turns, seed {result['seed']}; speaker count "
        f"{'given' if result['hint_speakers'] else 'estimated'}; a boundary counts within "
        f"{result['tolerance_s']} s)",
        f"{'model':8} {'turns':8} {'bnd P':>6} {'bnd R':>6} {'bnd F1':>6} {'spk acc':>7} {'extra':>5} {'WER':>6} "
        f"{'ASR s':>6} {'spk s':>6}",
    ]
    for row in result["rows"]:
        lines.append(
            f"{row['model']:8} {row['turns']:8} {row['boundary_precision']:6.3f} {row['boundary_recall']:6.3f} "
            f"{row['boundary_f1']:6.3f} {row['word_speaker_accuracy']:7.3f} {row['extra_speakers']:5d} "
            f"{row['wer']:6.3f} "
            f"{row['speech_seconds']:6.1f} {row['speaker_seconds']:6.1f}"
        )
    return "\n".join(lines)
