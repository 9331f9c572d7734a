"""Voice embeddings (resemblyzer's d-vector encoder, weights bundled in the package), their windows, and the
earlier word-level turns. The pipeline's turns now come from spikemo.video.diarization, which builds on the
windows and embeddings here; `label_segments` stays as its "words" method, to measure against, and
`label_transcript` names the speakers of a transcript's unnamed cues. Labels read "Speaker 1", "Speaker 2", ... in
order of first appearance.

The word-level turns (`label_segments`, SpeakerConfig.turns = "words"), in three steps:
1. Voices: embeddings of sliding voice windows (1.0 s every 0.25 s) over the speech are clustered (Ward linkage)
   into one cluster per speaker; each cluster's mean embedding is that speaker's voice.
2. Words: short word windows (0.4 s every 0.1 s) each take the voice they are most similar to (once more after
   the voices are re-estimated from the word windows that chose them), and every word takes the voice with the
   most window time on it (each window counts by how many seconds of the word it covers). Short windows are
   what let a one-word reply between two longer turns win its own word.
3. Turns: a segment is split wherever the word-level speaker changes, pause or not, and a short piece joins a
   neighbour only when that neighbour has the same voice (segmentation.apply_speakers).
SpeakerConfig.turns = "pauses" keeps the earlier behaviour to measure against: voices compared between pieces of
at least a second cut at pauses and sentence ends (`attribution_pieces`), so a quick reply rarely got its own turn.

A transcript's turns are kept exactly as given: `label_transcript` only names the speaker of cues that have none.
With a speaker-count hint the clustering cuts at that many clusters; without one the count is estimated (voices
closer than SpeakerConfig.same_voice_distance are one). The window sizes and thresholds were chosen on generated
conversations (seeds 100-117 of spikemo.bench.synthetic.turn_taking_suite, kept apart from the benchmark's).
Synthetic voices that differ in timbre and pitch separate well; similar real voices less so: treat the labels as
a best guess.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from spikemo.data.conversation import Utterance, appearance_indices
from spikemo.data.transcript import UNKNOWN_SPEAKER
from spikemo.runtime import torch_threads
from spikemo.video.segmentation import (
    Segment,
    SegmentationConfig,
    apply_speakers,
    merge_fragments,
    split_at_pauses,
    split_long,
)
from spikemo.video.speech import SAMPLE_RATE, Word

if TYPE_CHECKING:
    from resemblyzer import VoiceEncoder
    from sklearn.cluster import AgglomerativeClustering

FRAMES_PER_SECOND = 100  # the encoder's mel frames: one every 10 ms (resemblyzer's mel_window_step)
MIN_WORD_S = 0.05


@dataclass(frozen=True)
class SpeakerConfig:
    """How voices are told apart and turns are formed (see the module docstring for the steps)."""

    # "words": a speaker per word from sliding voice windows, turns split wherever it changes (the default).
    # "pauses": the earlier behaviour, kept so the difference can be measured (python -m spikemo bench turns).
    turns: Literal["words", "pauses"] = "words"
    max_speakers: int = 6  # the most speakers the count estimate may return
    # Voice windows, clustered into speakers: long enough for a steady voice print. Only windows at least
    # min_speech_fraction covered by recognised words are clustered, so pauses and noise form no "speaker".
    voice_window_s: float = 1.0
    voice_hop_s: float = 0.25
    min_speech_fraction: float = 0.3
    # Word windows, each given its nearest voice: short enough that a one-word reply ("Yes.", ~0.4 s) fills them.
    word_window_s: float = 0.4
    word_hop_s: float = 0.1
    # Then each voice is re-estimated this many times from the word windows that chose it, and they choose again:
    # voices learnt from the longer windows are blurred by windows that straddle a change of speaker.
    refine_steps: int = 1
    # Without a count hint, voices whose mean embeddings are closer than this cosine distance are one speaker.
    same_voice_distance: float = 0.2
    # "pauses" only: voices are compared between pieces cut at pauses this long (and at sentence ends), at least
    # min_span_s long (shorter spans are widened around their centre so the encoder hears enough voice).
    piece_pause_s: float = 0.15
    min_span_s: float = 1.0
    # "pauses" and transcript cues: without a count hint, clusters closer than this (average cosine distance) are
    # one speaker; it sits between the distances of one voice's pieces and of two voices' pieces on the
    # generated conversations of the tests.
    distance_threshold: float = 0.35
    # The encoder's tiny LSTM batches gain nothing from more threads; on a busy machine extra threads spin-wait.
    torch_threads: int = 1


@functools.lru_cache(maxsize=1)
def load_voice_encoder() -> VoiceEncoder:
    """resemblyzer's encoder on CPU, loaded once per process."""
    from resemblyzer import VoiceEncoder

    return VoiceEncoder(device="cpu", verbose=False)


def _span_audio(audio: np.ndarray, start: float, end: float, min_span_s: float) -> np.ndarray:
    if end - start < min_span_s:
        middle = (start + end) / 2
        start, end = middle - min_span_s / 2, middle + min_span_s / 2
    first = max(0, int(start * SAMPLE_RATE))
    return audio[first : max(first + 1, int(end * SAMPLE_RATE))]


def embed_spans(
    audio: np.ndarray, spans: Sequence[tuple[float, float]], config: SpeakerConfig = SpeakerConfig()
) -> np.ndarray:
    """Voice embeddings of the (start, end) second spans of 16 kHz mono audio [n_samples].

    Returns: [n_spans, 256] float32, each row L2-normalised.
    """
    from resemblyzer import preprocess_wav

    encoder = load_voice_encoder()
    rows = []
    with torch_threads(config.torch_threads):
        for start, end in spans:
            piece = _span_audio(audio, start, end, config.min_span_s)
            cleaned = preprocess_wav(piece.astype(np.float32))
            # preprocess_wav drops silences; a very short span can vanish, so fall back to the raw samples.
            rows.append(encoder.embed_utterance(cleaned if cleaned.size >= SAMPLE_RATE // 4 else piece))
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, 256), dtype=np.float32)


def agglomerative(**settings: object) -> AgglomerativeClustering:
    """scikit-learn's AgglomerativeClustering with `settings`, imported where first used (a cold start imports it
    while Whisper runs, not before)."""
    from sklearn.cluster import AgglomerativeClustering

    return AgglomerativeClustering(**settings)


def _cluster(embeddings: np.ndarray, num_clusters: int) -> np.ndarray:
    model = agglomerative(n_clusters=num_clusters, metric="cosine", linkage="average")
    return model.fit_predict(embeddings)


def estimate_num_speakers(embeddings: np.ndarray, config: SpeakerConfig = SpeakerConfig()) -> int:
    """How many speakers: average-linkage clusters still further apart than config.distance_threshold
    (cosine distance), capped at config.max_speakers."""
    if len(embeddings) < 2:
        return len(embeddings)
    model = agglomerative(
        n_clusters=None, distance_threshold=config.distance_threshold, metric="cosine", linkage="average"
    )
    return min(int(model.fit(embeddings).n_clusters_), config.max_speakers)


def cluster_speakers(
    embeddings: np.ndarray, num_speakers: int | None = None, config: SpeakerConfig = SpeakerConfig()
) -> list[int]:
    """Speaker index per embedding [n, d], numbered by first appearance. num_speakers=None: estimated."""
    n = len(embeddings)
    if num_speakers is not None and num_speakers < 1:
        raise ValueError(f"num_speakers must be at least 1, got {num_speakers}")
    count = estimate_num_speakers(embeddings, config) if num_speakers is None else min(num_speakers, n)
    if count <= 1:
        return [0] * n
    return appearance_indices(_cluster(embeddings, count).tolist())


def attribute_speakers(
    audio: np.ndarray,
    spans: Sequence[tuple[float, float]],
    num_speakers: int | None = None,
    config: SpeakerConfig = SpeakerConfig(),
) -> list[str]:
    """"Speaker k" for each (start, end) span of 16 kHz mono audio [n_samples], k by first appearance."""
    if not spans:
        return []
    labels = cluster_speakers(embed_spans(audio, spans, config), num_speakers, config)
    return [f"Speaker {label + 1}" for label in labels]


def attribution_accuracy(predicted: Sequence[str], reference: Sequence[str]) -> float:
    """Fraction of utterances whose predicted speaker matches the reference under the best one-to-one
    renaming of predicted labels (labels are arbitrary names, so only the grouping is scored)."""
    if len(predicted) != len(reference):
        raise ValueError(f"{len(predicted)} predicted labels for {len(reference)} reference labels")
    if not reference:
        return 1.0
    predicted_names, reference_names = sorted(set(predicted)), sorted(set(reference))
    counts = np.zeros((len(predicted_names), len(reference_names)))
    for p, r in zip(predicted, reference):
        counts[predicted_names.index(p), reference_names.index(r)] += 1
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / len(reference))


def attribution_pieces(segment: Segment, config: SpeakerConfig = SpeakerConfig()) -> list[Segment]:
    """Cut a segment into the pieces whose voices are compared: at every sentence end and every pause of
    config.piece_pause_s, then pieces shorter than config.min_span_s rejoin their closer neighbour. Turn
    changes without a real pause almost always fall on such a cut."""
    pieces = [
        sentence
        for part in split_at_pauses(segment.words, config.piece_pause_s)
        for sentence in split_long(part, 0.0)
    ]
    return merge_fragments(pieces, SegmentationConfig(min_duration_s=config.min_span_s, min_words=1))


def sliding_windows(
    spans: Sequence[tuple[float, float]], window_s: float, hop_s: float
) -> list[tuple[float, float]]:
    """(start, end) windows of window_s seconds every hop_s over each (start, end) span; the last window of a span
    ends with it, and a span shorter than a window gets one window centred on it (it may reach past the span)."""
    windows = []
    for start, end in spans:
        if end - start <= window_s:
            middle = (start + end) / 2
            windows.append((middle - window_s / 2, middle + window_s / 2))
            continue
        starts = np.arange(start, end - window_s, hop_s)
        windows += [(float(t), float(t) + window_s) for t in starts] + [(end - window_s, end)]
    return windows


def embed_windows(
    audio: np.ndarray, windows: Sequence[tuple[float, float]], config: SpeakerConfig = SpeakerConfig()
) -> np.ndarray:
    """Voice embeddings of (start, end) second windows of 16 kHz mono audio [n_samples], in batches.

    The volume is normalised and the mel spectrogram computed once for the whole audio; each window is then its
    slice of mel frames (zero-padded past the audio's ends). No silence is trimmed, so a window keeps its times.
    Returns: [n_windows, 256] float32, each row L2-normalised.
    """
    if not windows:
        return np.zeros((0, 256), dtype=np.float32)
    from resemblyzer.audio import normalize_volume, wav_to_mel_spectrogram
    from resemblyzer.hparams import audio_norm_target_dBFS

    cleaned = normalize_volume(np.asarray(audio, dtype=np.float32), audio_norm_target_dBFS, increase_only=True)
    mel = wav_to_mel_spectrogram(cleaned)  # [n_frames, 40]
    first = [int(round(start * FRAMES_PER_SECOND)) for start, _ in windows]
    lengths = [max(1, int(round((end - start) * FRAMES_PER_SECOND))) for start, end in windows]
    padding = max(0, -min(first)), max(0, max(f + n for f, n in zip(first, lengths)) - len(mel))
    mel = np.pad(mel, (padding, (0, 0)))
    embeddings = np.zeros((len(windows), 256), dtype=np.float32)
    encoder = load_voice_encoder()
    # Windows of one length go through the encoder's LSTM together.
    for length in sorted(set(lengths)):
        rows = [i for i, n in enumerate(lengths) if n == length]
        frames = np.stack([mel[first[i] + padding[0] : first[i] + padding[0] + length] for i in rows])
        with torch_threads(config.torch_threads), torch.inference_mode():
            embeddings[rows] = encoder(torch.from_numpy(frames)).numpy()
    return embeddings


def overlap_seconds(words: Sequence[Word], windows: Sequence[tuple[float, float]]) -> np.ndarray:
    """Seconds each word shares with each window: [n_words, n_windows]. A word counts as lasting at least
    MIN_WORD_S around its middle, so one that Whisper timed with zero length still meets its windows."""
    if not words or not windows:
        return np.zeros((len(words), len(windows)))
    middles = np.array([(w.start + w.end) / 2 for w in words])
    halves = np.array([max(w.end - w.start, MIN_WORD_S) / 2 for w in words])
    word_times = np.stack([middles - halves, middles + halves], axis=1)
    window_times = np.array(windows)
    shared = (np.minimum(word_times[:, 1:], window_times[None, :, 1])
              - np.maximum(word_times[:, :1], window_times[None, :, 0]))
    return np.clip(shared, 0.0, None)


def cluster_voices(
    embeddings: np.ndarray, num_speakers: int | None = None, config: SpeakerConfig = SpeakerConfig()
) -> np.ndarray:
    """The voices among window embeddings [n, d]: the mean embedding of each cluster, L2-normalised, [k, d].

    Ward linkage on the (unit-length) embeddings, at num_speakers clusters; without a hint at config.max_speakers
    clusters, then the two closest voices are merged while they are nearer than config.same_voice_distance."""
    if num_speakers is not None and num_speakers < 1:
        raise ValueError(f"num_speakers must be at least 1, got {num_speakers}")
    count = min(num_speakers or config.max_speakers, len(embeddings))
    labels = (agglomerative(n_clusters=count, linkage="ward").fit_predict(embeddings)
              if count > 1 else np.zeros(len(embeddings), dtype=int))
    groups = [embeddings[labels == k] for k in range(count)]
    while num_speakers is None and len(groups) > 1:
        voices = _unit([g.mean(axis=0) for g in groups])
        distance = 1.0 - voices @ voices.T
        np.fill_diagonal(distance, np.inf)
        i, j = np.unravel_index(np.argmin(distance), distance.shape)
        if distance[i, j] >= config.same_voice_distance:
            break
        groups[i] = np.concatenate([groups[i], groups[j]])
        del groups[j]
    return _unit([g.mean(axis=0) for g in groups])


def _unit(rows: Sequence[np.ndarray]) -> np.ndarray:
    matrix = np.stack(rows)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def word_voices(
    words: Sequence[Word], windows: Sequence[tuple[float, float]], window_voices: np.ndarray, num_voices: int
) -> np.ndarray:
    """Each word's voice: the one with the most window time on the word (overlap_seconds); a word that no window
    touches (Whisper timed it outside the speech) takes the voice of the window nearest its middle.

    window_voices: [n_windows] the voice index of each window. Returns [n_words] voice indices (ties go to the
    lower index)."""
    votes = overlap_seconds(words, windows) @ np.eye(num_voices)[window_voices]  # [n_words, n_voices] seconds
    chosen = votes.argmax(axis=1)
    centres = np.array([(start + end) / 2 for start, end in windows])
    for index in np.flatnonzero(votes.sum(axis=1) == 0):
        middle = (words[index].start + words[index].end) / 2
        chosen[index] = window_voices[np.argmin(np.abs(centres - middle))]
    return chosen


def nearest_voices(embeddings: np.ndarray, voices: np.ndarray, refine_steps: int = 0) -> np.ndarray:
    """The index of the most similar voice [k, d] for each embedding [n, d] -> [n]. Each refinement step then
    replaces every voice by the mean of the embeddings that chose it (a voice none chose stays) and lets them
    choose again."""
    chosen = np.argmax(embeddings @ voices.T, axis=1)
    for _ in range(refine_steps):
        voices = reestimate_voices(embeddings, voices, chosen)
        chosen = np.argmax(embeddings @ voices.T, axis=1)
    return chosen


def reestimate_voices(embeddings: np.ndarray, voices: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Each voice [k, d] replaced by the unit mean of the embeddings [n, d] that chose it (chosen [n]); a voice
    none chose stays."""
    return _unit([embeddings[chosen == k].mean(axis=0) if np.any(chosen == k) else voices[k]
                  for k in range(len(voices))])


def label_words(
    audio: np.ndarray,
    segments: Sequence[Segment],
    num_speakers: int | None = None,
    config: SpeakerConfig = SpeakerConfig(),
) -> list[list[str]]:
    """A speaker label per word of each segment of 16 kHz mono audio [n_samples] (steps 1 and 2 of the module
    docstring). Returns one list of "Speaker k" per segment, k numbered by first appearance."""
    words = [word for segment in segments for word in segment.words]
    if not words:
        return [[] for _ in segments]
    spans = [(segment.start, segment.end) for segment in segments]
    voice_windows = sliding_windows(spans, config.voice_window_s, config.voice_hop_s)
    speech = overlap_seconds(words, voice_windows).sum(axis=0) / config.voice_window_s
    kept = [w for w, fraction in zip(voice_windows, speech) if fraction >= config.min_speech_fraction]
    voices = cluster_voices(embed_windows(audio, kept or voice_windows, config), num_speakers, config)

    word_windows = sliding_windows(spans, config.word_window_s, config.word_hop_s)
    window_voices = nearest_voices(embed_windows(audio, word_windows, config), voices, config.refine_steps)
    labels = iter(appearance_indices(word_voices(words, word_windows, window_voices, len(voices)).tolist()))
    return [[f"Speaker {next(labels) + 1}" for _ in segment.words] for segment in segments]


def label_segments(
    audio: np.ndarray,
    segments: Sequence[Segment],
    num_speakers: int | None = None,
    config: SpeakerConfig = SpeakerConfig(),
    segmentation: SegmentationConfig = SegmentationConfig(),
) -> list[Segment]:
    """Turns with speakers from pause-based segments of 16 kHz mono audio [n_samples]: every word gets a speaker
    (config.turns "words": `label_words`; "pauses": the speaker of its attribution piece, see
    `attribution_pieces`), segments are split where it changes and same-voice fragments re-merged
    (`segmentation.apply_speakers`)."""
    if config.turns == "words":
        return apply_speakers(segments, label_words(audio, segments, num_speakers, config), segmentation)
    pieces = [attribution_pieces(segment, config) for segment in segments]
    flat = [piece for group in pieces for piece in group]
    labels = iter(attribute_speakers(audio, [(p.start, p.end) for p in flat], num_speakers, config))
    word_labels = []
    for group in pieces:
        word_labels.append([label for piece in group for label in [next(labels)] * len(piece.words)])
    return apply_speakers(segments, word_labels, segmentation)


def label_transcript(
    audio: np.ndarray,
    utterances: Sequence[Utterance],
    num_speakers: int | None = None,
    config: SpeakerConfig = SpeakerConfig(),
) -> int:
    """Name by voice the speaker of each transcript cue that names none (one embedding per cue, clustered with
    the others that name none); returns how many. The cues keep their times, text and order exactly: a given
    transcript's turns are never split or merged."""
    unnamed = [u for u in utterances if u.speaker == UNKNOWN_SPEAKER]
    labels = attribute_speakers(audio, [(u.start, u.end) for u in unnamed], num_speakers, config)
    for utterance, label in zip(unnamed, labels):
        utterance.speaker = label
    return len(unnamed)
