"""Writes MultiEMO-layout feature pickles: the fixtures the reader's tests load. It
lives with the tests because nothing in SpikEmo writes that layout: MultiEMO's own files are what users bring."""

import pickle
from pathlib import Path

import numpy as np

from spikemo.data.conversation import Conversation
from spikemo.data.labels import IEMOCAP_LABELS, MELD_LABELS, MODALITIES
from spikemo.data.multiemo import IEMOCAP_SPEAKERS, MELD_SPEAKER_SLOTS, SPLITS
from spikemo.errors import InputError


def _speaker_codes(conversation: Conversation, dataset: str, width: int) -> list:
    if dataset == "iemocap":
        bad = sorted({u.speaker for u in conversation.utterances} - set(IEMOCAP_SPEAKERS))
        if bad:
            raise InputError(
                f"IEMOCAP speakers must be 'M' or 'F'; conversation {conversation.conversation_id} has {bad}"
            )
        return [u.speaker for u in conversation.utterances]
    return [np.eye(width, dtype=np.float32)[index].tolist() for index in conversation.speaker_indices()]


def write_multiemo_pickle(
    conversations_by_split: dict[str, list[Conversation]], path: str | Path, dataset: str = "meld"
) -> None:
    """Write conversations ({"train": [...], "test": [...]}) as a MultiEMO-layout feature pickle.

    Every utterance needs an emotion from the dataset's labels and all three features. MELD speakers are
    stored as one-hot vectors over the dialogue's speakers in order of first appearance (at least 9 wide, as
    MultiEMO's files), so reading back names them speaker0, speaker1, ...; IEMOCAP speakers must be 'M'/'F'.
    """
    dataset = dataset.lower()
    labels = {"meld": MELD_LABELS, "iemocap": IEMOCAP_LABELS}[dataset]
    unknown_splits = set(conversations_by_split) - set(SPLITS)
    if unknown_splits:
        raise InputError(f"the MultiEMO layout has only splits {SPLITS}, not {sorted(unknown_splits)}")
    everything = [c for split in SPLITS for c in conversations_by_split.get(split, [])]
    width = max([MELD_SPEAKER_SLOTS] + [len(c.speakers()) for c in everything])
    tables: dict[str, dict] = {name: {} for name in ("ids", "speakers", "labels", "sentences", *MODALITIES)}
    for conversation in everything:
        key = conversation.conversation_id
        if key in tables["ids"]:
            raise InputError(f"conversation id {key!r} appears twice")
        if not conversation.utterances:
            raise InputError(f"conversation {key} has no utterances")
        for i, utterance in enumerate(conversation.utterances):
            if utterance.emotion not in labels:
                raise InputError(f"conversation {key}, utterance {i}: emotion {utterance.emotion!r} is not in {labels}")
            missing = [m for m in MODALITIES if m not in utterance.features]
            if missing:
                raise InputError(f"conversation {key}, utterance {i}: missing features {missing}")
        utterances = conversation.utterances
        tables["ids"][key] = [u.utterance_id if u.utterance_id is not None else i for i, u in enumerate(utterances)]
        tables["speakers"][key] = _speaker_codes(conversation, dataset, width)
        tables["labels"][key] = [labels.index(u.emotion) for u in utterances]
        tables["sentences"][key] = [u.text for u in utterances]
        for modality in MODALITIES:
            tables[modality][key] = np.stack([np.asarray(u.features[modality], np.float32) for u in utterances])
    split_ids = [[c.conversation_id for c in conversations_by_split.get(split, [])] for split in SPLITS]
    content = (tables["ids"], tables["speakers"], tables["labels"], tables["text"], tables["audio"],
               tables["visual"], tables["sentences"], *split_ids)
    if dataset == "meld":
        content += (None,)
    with Path(path).open("wb") as file:
        pickle.dump(content, file, protocol=4)
