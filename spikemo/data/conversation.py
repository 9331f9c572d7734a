"""The one data shape that flows through SpikEmo: a conversation of ordered utterances.

Readers (MELD CSV, MultiEMO pickles, the video pipeline) produce `Conversation`s; feature extractors fill
`Utterance.features`; the model's analysis fills `Utterance.prediction`.
"""

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

import numpy as np

_Item = TypeVar("_Item", bound=Hashable)


def in_order_of_appearance(items: Iterable[_Item]) -> list[_Item]:
    """The distinct items, each where it first appears: ["b", "b", "a", "b"] -> ["b", "a"]."""
    return list(dict.fromkeys(items))


def appearance_indices(items: Sequence[_Item]) -> list[int]:
    """Each item as its index in `in_order_of_appearance(items)`: ["b", "b", "a", "c", "a"] -> [0, 0, 1, 2, 1].

    Speaker labels become local indices this way: the first to speak is 0, whatever their name or cluster id.
    """
    index = {item: i for i, item in enumerate(in_order_of_appearance(items))}
    return [index[item] for item in items]


@dataclass
class Prediction:
    """What the model says about one utterance.

    probabilities: label -> probability (sums to 1).
    dswa_weights: modality -> this utterance's DSWA weight (softmax over the dialogue's utterances).
    spike_rates: layer name -> [T] mean firing rate of that layer's output neurons at each time step.
    """

    emotion: str
    probabilities: dict[str, float]
    dswa_weights: dict[str, float] = field(default_factory=dict)
    spike_rates: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class Utterance:
    """One turn. Times are seconds from the start of the video (None when unknown, as in MELD without clips).

    features: modality name ("text", "audio", "visual") -> 1-D float32 vector.
    emotion: gold label when known (training data), else None.
    """

    speaker: str
    text: str
    start: float | None = None
    end: float | None = None
    emotion: str | None = None
    utterance_id: int | None = None
    features: dict[str, np.ndarray] = field(default_factory=dict)
    prediction: Prediction | None = None


@dataclass
class Conversation:
    """An ordered list of utterances with an id (MELD: the Dialogue_ID as a string)."""

    conversation_id: str
    utterances: list[Utterance]

    def __len__(self) -> int:
        return len(self.utterances)

    def speakers(self) -> list[str]:
        """The speakers, in order of first appearance."""
        return in_order_of_appearance(u.speaker for u in self.utterances)

    def speaker_indices(self) -> list[int]:
        """Each utterance's speaker as an index in order of first appearance (0, 1, ...)."""
        return appearance_indices([u.speaker for u in self.utterances])


def without_modality(conversations: Sequence[Conversation], modality: str) -> list[Conversation]:
    """Copies whose utterances lack `modality`'s features and any prediction (the originals are untouched)."""
    return [
        Conversation(c.conversation_id, [
            replace(u, features={m: x for m, x in u.features.items() if m != modality}, prediction=None)
            for u in c.utterances
        ])
        for c in conversations
    ]
