"""Speaker attribution: a voice embedding per span of speech (resemblyzer's d-vector encoder, weights bundled in
the package) and agglomerative clustering on cosine distance. `label_segments` embeds sentence-sized pieces of
each utterance, so it also finds a turn change that has no pause. Labels read "Speaker 1", "Speaker 2", ... in order
of first appearance.

With a speaker-count hint the clustering cuts at that many clusters; without one the count is estimated
(see `estimate_num_speakers`). Synthetic voices that differ in timbre and pitch separate well; similar real
voices less so: treat the labels as a best guess.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from resemblyzer import VoiceEncoder, preprocess_wav
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import AgglomerativeClustering

from spikemo.data.conversation import appearance_indices
from spikemo.runtime import torch_threads
from spikemo.video.segmentation import (
    Segment,
    SegmentationConfig,
    apply_speakers,
    merge_fragments,
    split_at_pauses,
    split_long,
)
from spikemo.video.speech import SAMPLE_RATE


@dataclass(frozen=True)
class SpeakerConfig:
    """How voices are told apart: resemblyzer embeddings of utterance pieces, clustered by cosine distance."""

    max_speakers: int = 6  # the most speakers the count estimate may return
    # Within a segment, voices are compared between pieces cut at pauses this long (and at sentence ends), so a
    # turn change without a pause long enough to end an utterance is still found.
    piece_pause_s: float = 0.15
    min_span_s: float = 1.0  # shorter spans are widened around their centre so the encoder hears enough voice
    # Without a count hint, clusters closer than this (average cosine distance) are one speaker. It sits between
    # the distances of one voice's pieces and of two voices' pieces on the generated conversations of the tests.
    distance_threshold: float = 0.35
    # The encoder's tiny LSTM batches gain nothing from more threads; on a busy machine extra threads spin-wait.
    torch_threads: int = 1


@functools.lru_cache(maxsize=1)
def load_voice_encoder() -> VoiceEncoder:
    """resemblyzer's encoder on CPU, loaded once per process."""
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
    encoder = load_voice_encoder()
    rows = []
    with torch_threads(config.torch_threads):
        for start, end in spans:
            piece = _span_audio(audio, start, end, config.min_span_s)
            cleaned = preprocess_wav(piece.astype(np.float32))
            # preprocess_wav drops silences; a very short span can vanish, so fall back to the raw samples.
            rows.append(encoder.embed_utterance(cleaned if cleaned.size >= SAMPLE_RATE // 4 else piece))
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, 256), dtype=np.float32)


def _cluster(embeddings: np.ndarray, num_clusters: int) -> np.ndarray:
    model = AgglomerativeClustering(n_clusters=num_clusters, metric="cosine", linkage="average")
    return model.fit_predict(embeddings)


def estimate_num_speakers(embeddings: np.ndarray, config: SpeakerConfig = SpeakerConfig()) -> int:
    """How many speakers: average-linkage clusters still further apart than config.distance_threshold
    (cosine distance), capped at config.max_speakers."""
    if len(embeddings) < 2:
        return len(embeddings)
    model = AgglomerativeClustering(
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


def label_segments(
    audio: np.ndarray,
    segments: Sequence[Segment],
    num_speakers: int | None = None,
    config: SpeakerConfig = SpeakerConfig(),
    segmentation: SegmentationConfig = SegmentationConfig(),
) -> list[Segment]:
    """Attribute speakers within segments of 16 kHz mono audio [n_samples]: every attribution piece (see
    `attribution_pieces`) gets a clustered speaker, its words take that label, and segments are split where
    the label changes and re-merged (`segmentation.apply_speakers`)."""
    pieces = [attribution_pieces(segment, config) for segment in segments]
    flat = [piece for group in pieces for piece in group]
    labels = iter(attribute_speakers(audio, [(p.start, p.end) for p in flat], num_speakers, config))
    word_labels = []
    for group in pieces:
        word_labels.append([label for piece in group for label in [next(labels)] * len(piece.words)])
    return apply_speakers(segments, word_labels, segmentation)
