"""Who speaks when: a speaker timeline over all the speech of a recording, and turns of words placed in it.

method "timeline" (the default), in four steps:
1. Speech: Silero VAD over the whole track, more sensitive than the recogniser's (DiarizationConfig.vad), so
   laughs, backchannels and quiet or overlapped speech that Whisper gives no words still belong to someone.
2. Voices: resemblyzer embeddings of long windows (2 s every 0.5 s) over the speech, clustered by average-linkage
   cosine distance; clusters closer than `same_speaker_distance` are one speaker, unless the user gives the count.
   A recording with less speech than `single_speaker_below_s` is one speaker (too little to tell voices apart).
3. Timeline: short windows (0.4 s every 0.1 s) each scored against the voices (once more after the voices are
   re-estimated from the windows that chose them); every 50 ms frame of speech takes the voice with the highest
   mean score over the windows that cover it, and a run shorter than `min_turn_s` joins the longer of its
   neighbouring runs. Overlapped speech goes to the voice that dominates it (one speaker per frame).
4. Turns: every recognised word takes the voice the same short windows favour over its own time, weighted by
   overlap (no change inside a word); segments are split where it
   changes (spikemo.video.segmentation.apply_speakers), and a short piece that ends no sentence joins a
   neighbour: the turn it runs straight into (a cut-off sentence start: "Do" / "you hear me?"), else the one it
   follows. A short whole reply ("Yes.") keeps its own turn.

method "pyannote" (optional, for users with internet): the timeline comes from pyannote.audio's pretrained
pipeline (`pip install pyannote.audio`, a Hugging Face token that has accepted the model's terms in
DiarizationConfig.hf_token or $HF_TOKEN); each word then takes the speaker with the most timeline time on it, and
step 4's joins apply. Its weights are downloaded from the hub, so it was
never run on this project's offline machines: only its adapter is tested, against a stand-in pipeline.

method "words" keeps the earlier turns to measure against: every word gets a voice from short word windows
(spikemo.video.speakers.label_segments) and the timeline is the turns' word spans.

The settings were chosen on the development conversations (AMI excerpts and a four-speaker recording, mean over
all files; `python -m spikemo bench diarization`) and checked on generated quick exchanges (bench turns).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from spikemo.errors import CheckpointError
from spikemo.video.segmentation import (
    SENTENCE_END,
    Segment,
    SegmentationConfig,
    apply_speakers,
    segment_words,
)
from spikemo.video.speakers import (
    SpeakerConfig,
    agglomerative,
    embed_windows,
    label_segments,
    nearest_voices,
    overlap_seconds,
    reestimate_voices,
    sliding_windows,
)
from spikemo.video.speech import SAMPLE_RATE, Transcription, VadConfig, Word, detect_speech

DIARIZATION_METHODS: tuple[str, ...] = ("timeline", "pyannote", "words")  # the first is the default


@dataclass(frozen=True)
class DiarizationConfig:
    """Seconds unless named otherwise; see the module docstring for each step."""

    method: str = DIARIZATION_METHODS[0]
    # Speech activity for the timeline: a lower threshold and wider padding than the recogniser's VAD, chosen on
    # the development conversations (missed plus false-alarm speech lowest on average).
    vad: VadConfig = field(default_factory=lambda: VadConfig(threshold=0.25, min_silence_ms=300, speech_pad_ms=250))
    # Voices: long windows for a steady voice print, clustered until clusters are this far apart (cosine); the
    # window, hop and distance had the lowest mean DER on the development conversations (docs/speaker-turns.md).
    cluster_window_s: float = 2.0
    cluster_hop_s: float = 0.5
    same_speaker_distance: float = 0.4
    max_speakers: int = 8  # the largest clusters are kept when more are found
    single_speaker_below_s: float = 3.0  # less speech than this is too little to tell voices apart
    # Short windows, scored against the voices for the timeline's frames and for each word: short enough that a
    # quick one-word reply ("Sure.", ~0.4 s) fills one.
    short_window_s: float = 0.4
    short_hop_s: float = 0.1
    frame_s: float = 0.05
    min_turn_s: float = 0.5  # a shorter run of one voice inside a speech region joins its longer neighbour
    # A sentence start cut off as its own turn: at most this many words and seconds, running into the next turn
    # with a gap under this (then it joins that turn).
    cut_start_words: int = 2
    cut_start_s: float = 0.6
    cut_start_gap_s: float = 0.15
    speakers: SpeakerConfig = field(default_factory=SpeakerConfig)
    segmentation: SegmentationConfig = field(default_factory=SegmentationConfig)
    # method "pyannote": the hub id of the pipeline and the token to fetch it (None: $HF_TOKEN).
    pyannote_pipeline: str = "pyannote/speaker-diarization-3.1"
    hf_token: str | None = None

    def __post_init__(self) -> None:
        if self.method not in DIARIZATION_METHODS:
            raise ValueError(f"unknown diarization method {self.method!r}; known: {', '.join(DIARIZATION_METHODS)}")


@dataclass(frozen=True)
class SpeakerTurn:
    """A stretch of speech by one speaker; seconds from the start of the audio."""

    start: float
    end: float
    speaker: str


@dataclass
class Diarization:
    """timeline: who speaks when over all detected speech (words or not), in time order; segments: the turns
    with words, each with its speaker (what become the utterances)."""

    timeline: list[SpeakerTurn]
    segments: list[Segment]


@dataclass
class HeardVoices:
    """What the timeline method hears in the audio alone, before any word: who speaks when, and how much each
    short window sounds like each voice (to place the words later)."""

    timeline: list[SpeakerTurn]
    scores: WindowScores


def hear_voices(audio: np.ndarray, num_speakers: int | None = None, config: DiarizationConfig = DiarizationConfig(),
                regions: Sequence[tuple[float, float]] | None = None) -> HeardVoices | None:
    """Steps 1-3 of the timeline method on 16 kHz mono audio [n_samples]: speech regions (the sensitive VAD's,
    unless `regions` are given), the voices and each frame's voice. None when there is no speech. Needs no
    words, so it can run while Whisper transcribes."""
    if regions is None:
        regions = [(r.start, r.end) for r in detect_speech(audio, config.vad)]
    if not regions:
        return None
    voices = find_voices(audio, regions, num_speakers, config)
    scores = score_windows(audio, regions, voices, config)
    return HeardVoices(speaker_timeline(regions, scores, config), scores)


def diarize(audio: np.ndarray, transcription: Transcription, num_speakers: int | None = None,
            config: DiarizationConfig = DiarizationConfig(), heard: HeardVoices | None = None) -> Diarization:
    """The speaker timeline and the turns of 16 kHz mono audio [n_samples] with its recognised words.
    num_speakers: how many speak (None: estimated). heard: `hear_voices` of the same audio, count and config,
    when it already ran (beside Whisper); computed here otherwise."""
    if num_speakers is not None and num_speakers < 1:
        raise ValueError(f"num_speakers must be at least 1, got {num_speakers}")
    segments = segment_words(transcription.words, transcription.regions, config.segmentation)
    words = [word for segment in segments for word in segment.words]
    if config.method == "words":
        segments = label_segments(audio, segments, num_speakers, config.speakers, config.segmentation)
        return Diarization([SpeakerTurn(s.start, s.end, s.speaker or "") for s in segments], segments)
    if config.method == "pyannote":
        timeline = pyannote_timeline(audio, num_speakers, config)
        labels = word_speakers(words, timeline)
    else:
        heard = heard or hear_voices(audio, num_speakers, config)
        if heard is None:  # the sensitive VAD heard nothing where Whisper heard words: the words' own spans
            heard = hear_voices(audio, num_speakers, config, [(segment.start, segment.end) for segment in segments])
        if heard is None:  # no speech, no words: nobody speaks
            return Diarization([], [])
        timeline = heard.timeline
        labels = [f"Speaker {k + 1}" for k in heard.scores.word_voices(words)] if words else []
    label_iter = iter(labels)
    turns = apply_speakers(segments, [[next(label_iter) for _ in s.words] for s in segments], config.segmentation)
    return renumber(Diarization(timeline, join_short_pieces(turns, config)))


def renumber(diarization: Diarization) -> Diarization:
    """Speakers renamed "Speaker 1", "Speaker 2", ... in the order they first take a turn with words (then the
    order of the timeline for those who only laugh or hum), so the turn list starts with Speaker 1."""
    order = [s.speaker for s in diarization.segments] + [t.speaker for t in diarization.timeline]
    names = {old: f"Speaker {index + 1}" for index, old in enumerate(dict.fromkeys(order))}
    return Diarization([replace(t, speaker=names[t.speaker]) for t in diarization.timeline],
                       [replace(s, speaker=names[s.speaker]) for s in diarization.segments])


@dataclass
class WindowScores:
    """Short windows over the speech and how much each sounds like each voice: windows [n, 2] (start, end
    seconds), similarity [n, k] (cosine to the k voices)."""

    windows: np.ndarray
    similarity: np.ndarray

    def word_voices(self, words: Sequence[Word]) -> list[int]:
        """Each word's voice: the highest similarity averaged over the windows that overlap the word, each
        weighted by the seconds it shares with it (the nearest window's for a word that none overlaps)."""
        shared = overlap_seconds(words, [tuple(w) for w in self.windows])  # [n_words, n_windows]
        middles = np.array([(word.start + word.end) / 2 for word in words])
        return self.best_voices(shared, middles).tolist()

    def frame_voices(self, times: np.ndarray) -> np.ndarray:
        """The voice of each frame time [f]: the highest mean similarity over the windows that cover it (the
        nearest window's, where none does). Returns [f] voice indices."""
        cover = (self.windows[None, :, 0] <= times[:, None]) & (self.windows[None, :, 1] > times[:, None])
        return self.best_voices(cover.astype(float), times)

    def best_voices(self, weights: np.ndarray, middles: np.ndarray) -> np.ndarray:
        """The voice with the highest similarity averaged with `weights` [m, n_windows] over the windows, for m
        spans of time; a span no window weighs takes the window nearest its middle [m]. Returns [m]."""
        totals = weights.sum(axis=1, keepdims=True)
        scores = weights @ self.similarity / np.maximum(totals, 1e-9)
        centres = self.windows.mean(axis=1)
        for index in np.flatnonzero(totals[:, 0] == 0):
            scores[index] = self.similarity[np.argmin(np.abs(centres - middles[index]))]
        return scores.argmax(axis=1)


def score_windows(audio: np.ndarray, regions: Sequence[tuple[float, float]], voices: np.ndarray,
                  config: DiarizationConfig = DiarizationConfig()) -> WindowScores:
    """Short windows over the speech regions and their similarity to each of the voices [k, d], after the voices
    are re-estimated once from the windows that chose them."""
    windows = sliding_windows(regions, config.short_window_s, config.short_hop_s)
    embeddings = embed_windows(audio, windows, config.speakers)
    voices = reestimate_voices(embeddings, voices, nearest_voices(embeddings, voices))
    return WindowScores(np.asarray(windows, dtype=float).reshape(-1, 2), embeddings @ voices.T)


def speaker_timeline(regions: Sequence[tuple[float, float]], scores: WindowScores,
                     config: DiarizationConfig = DiarizationConfig()) -> list[SpeakerTurn]:
    """Step 3: a voice for every frame of the (start, end) speech regions, runs shorter than config.min_turn_s
    smoothed away, as turns of "Speaker k+1" for voice k."""
    turns = []
    for start, end in regions:
        times = np.arange(start, end, config.frame_s) + config.frame_s / 2
        labels = scores.frame_voices(times)
        for first, last, voice in smooth_runs(labels, round(config.min_turn_s / config.frame_s)):
            turns.append(SpeakerTurn(float(max(start, times[first] - config.frame_s / 2)),
                                     float(min(end, times[last - 1] + config.frame_s / 2)), f"Speaker {voice + 1}"))
    return turns


def find_voices(audio: np.ndarray, regions: Sequence[tuple[float, float]], num_speakers: int | None,
                config: DiarizationConfig) -> np.ndarray:
    """Step 2: the voices among long windows over the speech regions, as unit mean embeddings [k, 256]."""
    windows = sliding_windows(regions, config.cluster_window_s, config.cluster_hop_s)
    embeddings = embed_windows(audio, windows, config.speakers)
    labels = cluster_windows(embeddings, sum(end - start for start, end in regions), num_speakers, config)
    sizes = np.bincount(labels)
    kept = np.argsort(-sizes)[: num_speakers or config.max_speakers]  # the largest clusters, when over the cap
    voices = np.stack([embeddings[labels == k].mean(axis=0) for k in sorted(kept)])
    return voices / np.linalg.norm(voices, axis=1, keepdims=True)


def cluster_windows(embeddings: np.ndarray, speech_s: float, num_speakers: int | None,
                    config: DiarizationConfig) -> np.ndarray:
    """A cluster index per window embedding [n, d] -> [n]: num_speakers clusters when given; else one when there is
    under config.single_speaker_below_s of speech, else as many as average linkage leaves further apart than
    config.same_speaker_distance (cosine)."""
    if num_speakers is not None and min(num_speakers, len(embeddings)) > 1:
        clustering = agglomerative(n_clusters=min(num_speakers, len(embeddings)), metric="cosine",
                                   linkage="average")
    elif num_speakers is None and speech_s >= config.single_speaker_below_s and len(embeddings) > 1:
        clustering = agglomerative(n_clusters=None, distance_threshold=config.same_speaker_distance, metric="cosine",
                                  linkage="average")
    else:
        return np.zeros(len(embeddings), dtype=int)
    return clustering.fit_predict(embeddings)


def smooth_runs(labels: Sequence[int], min_frames: int) -> list[tuple[int, int, int]]:
    """Runs (first, end, label) of equal labels, after each run shorter than min_frames (shortest first) joins the
    longer of its neighbours; a region's only run stays whatever its length."""
    runs = []
    for index, label in enumerate(labels):
        if runs and runs[-1][2] == label:
            runs[-1][1] = index + 1
        else:
            runs.append([index, index + 1, int(label)])
    while len(runs) > 1:
        index = min(range(len(runs)), key=lambda i: runs[i][1] - runs[i][0])
        if runs[index][1] - runs[index][0] >= min_frames:
            break
        neighbours = [i for i in (index - 1, index + 1) if 0 <= i < len(runs)]
        other = max(neighbours, key=lambda i: runs[i][1] - runs[i][0])
        first, second = sorted((index, other))
        runs[first] = [runs[first][0], runs[second][1], runs[other][2]]
        del runs[second]
        if first > 0 and runs[first - 1][2] == runs[first][2]:
            runs[first - 1][1] = runs[first][1]
            del runs[first]
        elif first + 1 < len(runs) and runs[first + 1][2] == runs[first][2]:
            runs[first][1] = runs[first + 1][1]
            del runs[first + 1]
    return [tuple(run) for run in runs]


def word_speakers(words: Sequence[Word], timeline: Sequence[SpeakerTurn]) -> list[str]:
    """Each word's speaker: the one with the most timeline time inside the word (the nearest turn's when no turn
    meets it), so a word is never split between speakers."""
    if not timeline:
        return ["Speaker 1"] * len(words)
    starts = np.array([t.start for t in timeline])
    ends = np.array([t.end for t in timeline])
    names = sorted({t.speaker for t in timeline})
    column = np.array([names.index(t.speaker) for t in timeline])
    chosen = []
    for word in words:
        shared = np.clip(np.minimum(ends, word.end) - np.maximum(starts, word.start), 0.0, None)
        if shared.max() > 0:
            chosen.append(names[np.bincount(column, weights=shared, minlength=len(names)).argmax()])
        else:
            middle = (word.start + word.end) / 2
            chosen.append(timeline[int(np.argmin(np.maximum(starts - middle, middle - ends)))].speaker)
    return chosen


def join_short_pieces(segments: Sequence[Segment], config: DiarizationConfig = DiarizationConfig()) -> list[Segment]:
    """Join every short piece that ends no sentence (at most config.cut_start_words words and config.cut_start_s
    seconds) to a neighbour of another speaker: the turn it runs into within config.cut_start_gap_s (a cut-off
    sentence start: "Do" / "you hear me?"), else the turn it follows (a word of a sentence voiced oddly). A whole
    short reply ("Yes.", "No.") ends a sentence and keeps its own turn."""
    joined: list[Segment] = []
    carried: tuple[Word, ...] = ()
    grew = False  # whether a piece just joined joined[-1] or the segment at hand: then two turns of one speaker
    for index, segment in enumerate(segments):  # that a piece had parted join up again
        if carried:
            segment, carried, grew = replace(segment, words=carried + segment.words), (), True
        following = segments[index + 1] if index + 1 < len(segments) else None
        close_after = following is not None and following.start - segment.end < config.cut_start_gap_s
        close_before = bool(joined) and segment.start - joined[-1].end < config.cut_start_gap_s
        if is_short_piece(segment, config) and close_after:
            carried = segment.words
        elif close_before and (is_short_piece(segment, config) or grew and joined[-1].speaker == segment.speaker):
            joined[-1] = replace(joined[-1], words=joined[-1].words + segment.words)
            grew = True
        else:
            joined.append(segment)
            grew = False
    return joined


def is_short_piece(segment: Segment, config: DiarizationConfig) -> bool:
    """Whether `segment` is too short to be a turn of its own (see join_short_pieces)."""
    return (len(segment.words) <= config.cut_start_words and segment.duration <= config.cut_start_s
            and not segment.words[-1].text.endswith(SENTENCE_END))


@functools.lru_cache(maxsize=2)
def load_pyannote_pipeline(pipeline_id: str, token: str | None):
    """pyannote.audio's pretrained pipeline `pipeline_id`, fetched with `token`, once per process."""
    try:
        from pyannote.audio import Pipeline
    except ImportError as error:
        raise CheckpointError("the pyannote diarizer needs pyannote.audio: pip install pyannote.audio") from error
    if not token:
        raise CheckpointError(f"the pyannote diarizer needs a Hugging Face token that may read {pipeline_id} "
                              "(set HF_TOKEN, and accept the model's terms on its hub page)")
    try:
        pipeline = Pipeline.from_pretrained(pipeline_id, token=token)
    except TypeError:  # pyannote.audio 3.x names the argument use_auth_token
        pipeline = Pipeline.from_pretrained(pipeline_id, use_auth_token=token)
    if pipeline is None:
        raise CheckpointError(f"could not fetch {pipeline_id}: check the token and the model's terms")
    return pipeline


def pyannote_timeline(audio: np.ndarray, num_speakers: int | None,
                      config: DiarizationConfig = DiarizationConfig()) -> list[SpeakerTurn]:
    """The speaker timeline from pyannote.audio's pipeline for 16 kHz mono audio [n_samples], in time order;
    overlapped speech keeps every speaker pyannote found in it."""
    pipeline = load_pyannote_pipeline(config.pyannote_pipeline, config.hf_token or os.environ.get("HF_TOKEN"))
    waveform = {"waveform": torch.from_numpy(np.asarray(audio, dtype=np.float32))[None], "sample_rate": SAMPLE_RATE}
    output = pipeline(waveform, **({} if num_speakers is None else {"num_speakers": num_speakers}))
    annotation = getattr(output, "speaker_diarization", output)  # pyannote.audio 4 wraps the Annotation
    turns = [SpeakerTurn(float(segment.start), float(segment.end), str(label))
             for segment, _, label in annotation.itertracks(yield_label=True)]
    return sorted(turns, key=lambda turn: (turn.start, turn.end))
