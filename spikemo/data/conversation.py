"""The one data shape that flows through SpikEmo: a conversation of ordered utterances.

Readers (MELD CSV, MultiEMO pickles, the video pipeline) produce `Conversation`s; feature extractors fill
`Utterance.features`; the model's analysis fills `Utterance.prediction`.
"""

from dataclasses import dataclass, field

import numpy as np


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

    def speaker_indices(self) -> list[int]:
        """Each utterance's speaker as an index in order of first appearance (0, 1, ...)."""
        order: dict[str, int] = {}
        return [order.setdefault(u.speaker, len(order)) for u in self.utterances]
