"""Text features computed once per encoder and transcript file, then read back from disk.

Encoding MELD's 11k utterances with the shipped mpnet encoder takes about 25 minutes on two CPU cores, and every
stage-2 experiment (train.experiments) starts from the same features. A cache file
is named by the SHA-256 of everything that decides the features (the encoder folder's files, and the transcript
file's bytes), so a retrained encoder or an edited CSV never meets stale features. Layout:
`{cache}/text-features/{key}.safetensors` holding `features` float32 [N, dim], N the utterances in the
conversations' order; it is written to a temporary name and renamed, so a file that exists is complete.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from spikemo.data.conversation import Conversation
from spikemo.paths import cache_dir
from spikemo.text.encoder import UtteranceEncoder


def features_key(encoder_dir: str | Path, source: str | Path, reading: str = "") -> str:
    """The cache key of the features `encoder_dir`'s encoder gives for the transcript file `source`; `reading`
    names a change to how the folder's encoder reads a turn (e.g. "no context"), "" for its own settings."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(encoder_dir).rglob("*") if p.is_file()):
        digest.update(path.relative_to(encoder_dir).as_posix().encode())
        digest.update(path.read_bytes())
    digest.update(b"\0source\0")
    digest.update(Path(source).read_bytes())
    if reading:
        digest.update(b"\0reading\0" + reading.encode())
    return digest.hexdigest()[:32]


def encode_cached(encoder: UtteranceEncoder, encoder_dir: str | Path, conversations: list[Conversation],
                  source: str | Path, cache: Path | None = None, progress: bool = False, reading: str = "") -> bool:
    """Fill every utterance's text features, as encoder.encode_conversations does, from the cache when it holds
    them for (encoder_dir, source, reading), else by encoding and then caching them. `conversations` must be the
    ones read from `source`, in order; `reading` as in features_key. Returns whether the cache had them."""
    key = features_key(encoder_dir, source, reading)
    path = (cache or cache_dir()) / "text-features" / f"{key}.safetensors"
    utterances = [u for c in conversations for u in c.utterances]
    if not utterances:
        return False
    if path.is_file():
        try:
            features = load_file(path)["features"]
        except (SafetensorError, OSError, KeyError):
            features = None
        if features is not None and features.shape == (len(utterances), encoder.dim):
            for utterance, vector in zip(utterances, features.numpy()):
                utterance.features["text"] = vector
            return True
    encoder.encode_conversations(conversations, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    save_file({"features": torch.stack([torch.as_tensor(u.features["text"]) for u in utterances])}, partial)
    partial.replace(path)
    return False
