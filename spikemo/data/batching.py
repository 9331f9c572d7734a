"""Turn conversations into padded tensors for the model."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from spikemo.data.conversation import Conversation
from spikemo.errors import InputError


@dataclass
class Batch:
    """A padded batch of B dialogues of at most L utterances.

    features: modality -> [B, L, D_m] float32 (zeros at padding)
    speakers: [B, L] long, speaker index in order of first appearance within each dialogue
    mask: [B, L] bool, True at real utterances
    labels: [B, L] long, label index, -1 at padding or where the gold emotion is unknown
    """

    features: dict[str, torch.Tensor]
    speakers: torch.Tensor
    mask: torch.Tensor
    labels: torch.Tensor
    conversation_ids: list[str]

    def to(self, device: str | torch.device) -> "Batch":
        return Batch(
            features={m: x.to(device) for m, x in self.features.items()},
            speakers=self.speakers.to(device),
            mask=self.mask.to(device),
            labels=self.labels.to(device),
            conversation_ids=self.conversation_ids,
        )


def collate_conversations(
    conversations: Sequence[Conversation], modalities: Sequence[str], labels: Sequence[str]
) -> Batch:
    """Pad `conversations` into one Batch holding the given modalities' features."""
    if not conversations:
        raise ValueError("cannot build a batch from no conversations")
    label_index = {label: i for i, label in enumerate(labels)}
    batch_size, max_len = len(conversations), max(len(c) for c in conversations)
    speakers = torch.zeros(batch_size, max_len, dtype=torch.long)
    mask = torch.zeros(batch_size, max_len, dtype=torch.bool)
    gold = torch.full((batch_size, max_len), -1, dtype=torch.long)
    features: dict[str, torch.Tensor] = {}
    for modality in modalities:
        dim = _feature_dim(conversations, modality)
        padded = np.zeros((batch_size, max_len, dim), dtype=np.float32)
        for b, conversation in enumerate(conversations):
            for i, utterance in enumerate(conversation.utterances):
                padded[b, i] = utterance.features[modality]
        features[modality] = torch.from_numpy(padded)
    for b, conversation in enumerate(conversations):
        n = len(conversation)
        mask[b, :n] = True
        speakers[b, :n] = torch.tensor(conversation.speaker_indices(), dtype=torch.long)
        for i, utterance in enumerate(conversation.utterances):
            if utterance.emotion is not None:
                gold[b, i] = label_index[utterance.emotion]
    return Batch(features, speakers, mask, gold, [c.conversation_id for c in conversations])


def _feature_dim(conversations: Sequence[Conversation], modality: str) -> int:
    dims = set()
    for conversation in conversations:
        for utterance in conversation.utterances:
            if modality not in utterance.features:
                raise InputError(
                    f"conversation {conversation.conversation_id} has no {modality} features; "
                    f"extract them first or leave {modality} out of the modalities"
                )
            dims.add(int(np.shape(utterance.features[modality])[-1]))
    if len(dims) != 1:
        raise InputError(f"{modality} features have mixed dimensions {sorted(dims)}")
    return dims.pop()


def modalities_by_conversation(
    conversations: Sequence[Conversation], modalities: Sequence[str]
) -> dict[tuple[str, ...], list[int]]:
    """Conversation indices grouped by which of `modalities` all their utterances carry (in the given order).

    A corpus with audio and one without (RAVDESS clips and MELD transcripts) train together this way: each
    batch holds one group, so it carries exactly the features its dialogues have. InputError when a
    conversation has none of `modalities`.
    """
    groups: dict[tuple[str, ...], list[int]] = {}
    for index, conversation in enumerate(conversations):
        present = tuple(m for m in modalities if all(m in u.features for u in conversation.utterances))
        if not present:
            raise InputError(
                f"conversation {conversation.conversation_id} has no features for any of {', '.join(modalities)}; "
                "extract them first"
            )
        groups.setdefault(present, []).append(index)
    return groups


def iterate_batches(
    conversations: Sequence[Conversation],
    batch_size: int,
    modalities: Sequence[str],
    labels: Sequence[str],
    shuffle_generator: torch.Generator | None = None,
):
    """Yield Batches of `batch_size` dialogues; in order, or shuffled when a generator is given.

    Each batch carries the modalities its dialogues all have (`modalities_by_conversation`): with one corpus
    that is every batch the same. Shuffled batches are length-bucketed: dialogues are shuffled, sorted by
    length inside pools of 8 batches, cut into batches, and the batches shuffled, so little compute goes to
    padding.
    """
    chunks: list[tuple[tuple[str, ...], list[int]]] = []
    for present, indices in modalities_by_conversation(conversations, modalities).items():
        order = indices
        if shuffle_generator is not None:
            order = [indices[i] for i in torch.randperm(len(indices), generator=shuffle_generator).tolist()]
            pool = 8 * batch_size
            order = [
                i
                for start in range(0, len(order), pool)
                for i in sorted(order[start : start + pool], key=lambda i: len(conversations[i]))
            ]
        chunks += [(present, order[start : start + batch_size]) for start in range(0, len(order), batch_size)]
    if shuffle_generator is not None:
        chunks = [chunks[i] for i in torch.randperm(len(chunks), generator=shuffle_generator).tolist()]
    for present, chunk in chunks:
        yield collate_conversations([conversations[i] for i in chunk], present, labels)
