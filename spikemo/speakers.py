"""Speaker attribution: a voice embedding per utterance (resemblyzer's d-vector encoder, weights bundled in the
package) and agglomerative clustering on cosine distance. Labels read "Speaker 1", "Speaker 2", ... in order
of first appearance.

With a speaker-count hint the clustering cuts at that many clusters; without one the count is estimated
(see `estimate_num_speakers`). Synthetic voices that differ in timbre and pitch separate well; similar real
voices less so: treat the labels as a best guess.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from resemblyzer import VoiceEncoder, preprocess_wav
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import silhouette_score

from spikemo.speech import SAMPLE_RATE


@dataclass(frozen=True)
class SpeakerConfig:
    """min_span_s: shorter spans are widened around their centre so the encoder sees enough voice.
    min_silhouette: the estimated count must beat this cosine silhouette, else everything is one speaker.
    torch_threads: the encoder's tiny LSTM batches gain nothing from more threads, and on a busy machine
    extra threads spin-wait (measured: 18 spans took ~80 s on 2 contended threads, 1.5 s on 1)."""

    max_speakers: int = 6
    min_span_s: float = 1.0
    min_silhouette: float = 0.15
    torch_threads: int = 1


@functools.lru_cache(maxsize=1)
def load_voice_encoder() -> VoiceEncoder:
    """resemblyzer's encoder on CPU, loaded once per process."""
    return VoiceEncoder(device="cpu", verbose=False)


@contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    """Run the block with `count` torch intra-op threads, then restore the previous setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


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
    with _torch_threads(config.torch_threads):
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
    """The cluster count in 2..max_speakers with the best cosine silhouette, or 1 if none reaches
    config.min_silhouette (or there are too few utterances to tell)."""
    best_count, best_score = 1, config.min_silhouette
    for count in range(2, min(config.max_speakers, len(embeddings) - 1) + 1):
        score = silhouette_score(embeddings, _cluster(embeddings, count), metric="cosine")
        if score > best_score:
            best_count, best_score = count, score
    return best_count


def order_of_appearance(labels: Sequence[int]) -> list[int]:
    """Renumber cluster ids 0, 1, ... in the order they first appear."""
    order: dict[int, int] = {}
    return [order.setdefault(label, len(order)) for label in labels]


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
    return order_of_appearance(_cluster(embeddings, count).tolist())


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
