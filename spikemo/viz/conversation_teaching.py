"""Teaching material for the conversation-time DSWA (spikemo.model.conversation_dswa): its neurons across one
dialogue, turn after turn.

`trace_conversation_neurons` runs one modality's ConversationDSWA on an analysed conversation and keeps, as
numpy arrays over conversation time (turn i's k steps at i*k ... i*k + k - 1), the membrane potential before each
spike test and the spikes of the neurons worth showing: the ones that fire, first those that fire in the most
turns, so a student sees a neuron charge over several turns and fire.
"""

from dataclasses import dataclass

import numpy as np
import torch

from spikemo.data.batching import collate_conversations
from spikemo.data.conversation import Conversation
from spikemo.errors import InputError
from spikemo.model.conversation_dswa import ConversationDSWA
from spikemo.model.modeling import SpikEmoModel
from spikemo.training.predict import available_modalities


@dataclass
class ConversationNeuronTrace:
    """A ConversationDSWA's neurons over one dialogue of L turns, k steps per turn (S = L * k steps).

    membrane: [S, N] the shown neurons' potential before each step's spike test (the smooth integrators' potential
      for a spike-free model); spikes: [S, N] their output (0/1, or the smooth step without spiking).
    neurons: the shown neurons' indices in the population; population: its size; threshold: the spike threshold;
    tau_turns: the membrane time constant in turns; weights: [L] each turn's DSWA weight (sums to 1).
    """

    modality: str
    steps_per_turn: int
    membrane: np.ndarray
    spikes: np.ndarray
    neurons: list[int]
    population: int
    threshold: float
    tau_turns: float
    spiking: bool
    weights: np.ndarray

    @property
    def num_turns(self) -> int:
        return self.membrane.shape[0] // self.steps_per_turn

    def turns_fired(self) -> np.ndarray:
        """[N] in how many turns each shown neuron emits at least one spike."""
        per_turn = self.spikes.reshape(self.num_turns, self.steps_per_turn, -1).max(axis=1)
        return (per_turn > 0.5).sum(axis=0)


def conversation_dswa(model: SpikEmoModel, modality: str) -> ConversationDSWA:
    """The model's conversation-time DSWA for `modality`; InputError when it has another variant or none."""
    if not model.config.use_dswa or not isinstance(model.dswa[modality], ConversationDSWA):
        raise InputError(f"this checkpoint's DSWA (variant {model.config.dswa_variant!r}) runs T steps per turn "
                         "over fixed features: its neurons do not carry from turn to turn")
    return model.dswa[modality]


@torch.inference_mode()
def trace_conversation_neurons(model: SpikEmoModel, conversation: Conversation, modality: str, shown: int = 6,
                               device: str | torch.device = "cpu") -> ConversationNeuronTrace:
    """The `shown` neurons of `modality`'s conversation-time DSWA that fire in the most turns (the quietest come
    last, so a silent population still shows its potentials), over the whole conversation (features filled)."""
    if modality not in available_modalities(model, [conversation]):
        raise InputError(f"the conversation has no {modality} features for this checkpoint")
    dswa = conversation_dswa(model, modality)
    model.eval()
    batch = collate_conversations([conversation], [modality], model.config.labels).to(device)
    inputs = model.dswa_inputs(batch.features, batch.speakers, batch.mask)[modality]
    steps = dswa.time_steps
    membrane = dswa.membrane(inputs, batch.mask, steps)[:, 0]  # [k, L, n]
    spikes = dswa.turn_spikes(inputs, batch.mask, steps)[:, 0]  # [k, L, n]
    _, weights, _ = dswa(inputs, batch.mask)

    def in_conversation_time(per_turn: torch.Tensor) -> np.ndarray:  # [k, L, n] -> [L*k, n]
        return per_turn.permute(1, 0, 2).reshape(-1, per_turn.shape[-1]).float().cpu().numpy()

    membrane_all, spikes_all = in_conversation_time(membrane), in_conversation_time(spikes)
    fired_turns = (spikes.amax(dim=0) > 0.5).sum(dim=0).cpu().numpy()  # [n]
    order = np.lexsort((-membrane_all.max(axis=0), -fired_turns))[:shown]
    neurons = [int(i) for i in order]
    return ConversationNeuronTrace(
        modality=modality, steps_per_turn=steps, membrane=membrane_all[:, neurons], spikes=spikes_all[:, neurons],
        neurons=neurons, population=int(membrane.shape[-1]), threshold=float(dswa.threshold),
        tau_turns=float(dswa.tau_turns), spiking=bool(dswa.spiking), weights=weights[0].float().cpu().numpy(),
    )
