"""A feature store of per-utterance features extracted from MELD-style raw clips, for training SpikEmo.

MELD ships one clip per utterance, `{clips}/dia{Dialogue_ID}_utt{Utterance_ID}.mp4`, beside a CSV of its
transcripts (one store per split: dialogue ids repeat across train/dev/test). Extraction uses the same
extractors as the video pipeline, so a model trains on the features it will see when serving:
  audio   openSMILE ComParE_2016 functionals of the clip's audio (6373-d)
  visual  face-expression summary of frames sampled in the clip (16-d)
  text    the text encoder over the CSV's dialogues, with dialogue context

Layout: `{store}/{modality}/dia{D}.safetensors`, one small file per dialogue and modality holding
  features       float32 [n, dim]  (zeros where the clip could not be used)
  present        uint8 [n]         1 where the features were extracted
  utterance_ids  int64 [n]         the CSV's Utterance_IDs, in dialogue order
and metadata (JSON strings) naming the source and every failed clip with its reason. Each file is written
to a temporary name and renamed, so a file that exists is complete: that is what makes extraction resumable
(existing files are skipped) and safe to shard over processes or machines writing the same folder (shard
i of n owns the dialogues with id % n == i, so no two shards write one file). The files themselves are the
manifest: `summarize_store` reads their metadata.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from spikemo.data.conversation import Conversation
from spikemo.data.labels import MODALITIES
from spikemo.data.meld import read_meld_csv
from spikemo.errors import InputError
from spikemo.integrity import sha256_of

STORE_FORMAT = "spikemo-feature-store/1"
CLIP_MODALITIES: tuple[str, ...] = ("audio", "visual")


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (0-based) owns the dialogues whose integer id % count == index."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise InputError(f"shard {self.index}/{self.count}: need 0 <= index < count")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """'I/N' (0-based index, e.g. '0/4' .. '3/4') -> Shard."""
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise InputError(f"shard '{text}' is not of the form I/N, e.g. 0/4") from None
        return cls(index, count)

    def owns(self, conversation_id: str) -> bool:
        try:
            return int(conversation_id) % self.count == self.index
        except ValueError:
            raise InputError(f"dialogue id '{conversation_id}' is not an integer; cannot shard by it") from None


def clip_path(clips_dir: Path, dialogue_id: str, utterance_id: int) -> Path:
    """MELD's clip layout: {clips}/dia{D}_utt{U}.mp4."""
    return Path(clips_dir) / f"dia{dialogue_id}_utt{utterance_id}.mp4"


def feature_path(store_dir: Path, modality: str, dialogue_id: str) -> Path:
    return Path(store_dir) / modality / f"dia{dialogue_id}.safetensors"


def text_encoder_fingerprint(name_or_path: str | Path) -> str:
    """SHA-256 of a local encoder's weights (so copies on other machines match), else the model id."""
    weights = Path(name_or_path) / "model.safetensors"
    if not weights.is_file():
        return str(name_or_path)
    return f"sha256:{sha256_of([weights])}"


@dataclass
class DialogueFeatures:
    """One modality of one dialogue as stored: features [n, dim] float32, present [n] bool."""

    utterance_ids: list[int]
    features: np.ndarray
    present: np.ndarray
    source: str
    errors: dict[int, str]


def write_dialogue_features(path: Path, modality: str, dialogue: DialogueFeatures) -> None:
    """Write one dialogue's features atomically (temporary name in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        "features": torch.from_numpy(np.ascontiguousarray(dialogue.features, dtype=np.float32)),
        "present": torch.from_numpy(dialogue.present.astype(np.uint8)),
        "utterance_ids": torch.tensor(dialogue.utterance_ids, dtype=torch.int64),
    }
    metadata = {
        "format": STORE_FORMAT,
        "modality": modality,
        "source": dialogue.source,
        "errors": json.dumps({str(k): v for k, v in dialogue.errors.items()}),
    }
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        save_file(tensors, partial, metadata=metadata)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def read_dialogue_features(path: Path) -> DialogueFeatures:
    """Read one file of the store; InputError when it is not a store file."""
    try:
        with safe_open(path, framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in ("features", "present", "utterance_ids")}
    except (OSError, SafetensorError) as error:
        raise InputError(f"{path} is not a readable feature-store file: {error}") from error
    if metadata.get("format") != STORE_FORMAT:
        raise InputError(f"{path} is not a feature-store file of format {STORE_FORMAT}")
    return DialogueFeatures(
        utterance_ids=tensors["utterance_ids"].tolist(),
        features=tensors["features"].numpy(),
        present=tensors["present"].numpy().astype(bool),
        source=metadata.get("source", ""),
        errors={int(k): v for k, v in json.loads(metadata.get("errors", "{}")).items()},
    )


def stored_modalities(store_dir: str | Path) -> tuple[str, ...]:
    """The modalities with at least one file in the store, in MODALITIES order."""
    store_dir = Path(store_dir)
    return tuple(m for m in MODALITIES if any((store_dir / m).glob("dia*.safetensors")))


def _fill(conversation: Conversation, modality: str, dialogue: DialogueFeatures, path: Path) -> None:
    rows = {utterance_id: row for row, utterance_id in enumerate(dialogue.utterance_ids)}
    missing = [u.utterance_id for u in conversation.utterances if u.utterance_id not in rows]
    if missing:
        raise InputError(f"{path} has no features for utterance(s) {missing}: it was extracted from another CSV")
    for utterance in conversation.utterances:
        utterance.features[modality] = dialogue.features[rows[utterance.utterance_id]]


def load_feature_store(
    store_dir: str | Path,
    csv_path: str | Path,
    modalities: Sequence[str] | None = None,
    require_complete: bool = True,
) -> list[Conversation]:
    """The CSV's conversations with `utterance.features` filled from the store.

    modalities: default every modality the store holds. An utterance whose clip failed keeps zeros for that
    modality (as the pipeline gives zeros to an utterance without a face). A dialogue without a file for
    some modality is an InputError when require_complete, else it is left out.
    """
    store_dir = Path(store_dir)
    if not store_dir.is_dir():
        raise InputError(f"feature store not found: {store_dir}")
    modalities = tuple(modalities) if modalities is not None else stored_modalities(store_dir)
    if not modalities:
        raise InputError(f"{store_dir} holds no features")
    loaded, incomplete = [], []
    for conversation in read_meld_csv(csv_path):
        paths = {m: feature_path(store_dir, m, conversation.conversation_id) for m in modalities}
        absent = [m for m, path in paths.items() if not path.is_file()]
        if absent:
            incomplete.append(f"dia{conversation.conversation_id} ({', '.join(absent)})")
            continue
        for modality, path in paths.items():
            _fill(conversation, modality, read_dialogue_features(path), path)
        loaded.append(conversation)
    if incomplete and require_complete:
        shown = ", ".join(incomplete[:5]) + (f" and {len(incomplete) - 5} more" if len(incomplete) > 5 else "")
        raise InputError(f"{len(incomplete)} dialogue(s) of {Path(csv_path).name} are not in the store: {shown}")
    return loaded


def summarize_store(store_dir: str | Path) -> dict:
    """Per modality: dialogues, utterances, utterances present, sources, and the failed clips with reasons."""
    store_dir = Path(store_dir)
    summary = {}
    for modality in stored_modalities(store_dir):
        dialogues = utterances = present = 0
        sources, failures = set(), {}
        for path in sorted((store_dir / modality).glob("dia*.safetensors")):
            dialogue = read_dialogue_features(path)
            dialogues += 1
            utterances += len(dialogue.utterance_ids)
            present += int(dialogue.present.sum())
            sources.add(dialogue.source)
            dialogue_id = path.stem.removeprefix("dia")
            failures.update({f"dia{dialogue_id}_utt{u}": message for u, message in dialogue.errors.items()})
        summary[modality] = {
            "dialogues": dialogues,
            "utterances": utterances,
            "present": present,
            "sources": sorted(sources),
            "failures": failures,
        }
    return summary
