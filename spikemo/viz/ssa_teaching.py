"""Teaching material: spiking self-attention (SSA) inside the real model, for one turn of one dialogue.

`trace_turn_attention` runs one modality's DSWA step on an analysed conversation with `DSWA.trace` and keeps,
as small numpy arrays, what a student needs to see of one turn and one attention head: the query, key and
value spike trains, the coincidence counts Q K^T between the dialogue's turns, the attention neurons' output,
each layer's firing rates, and how the per-utterance DSWA weights form as the time steps accumulate.
"""

from dataclasses import dataclass

import numpy as np
import torch

from spikemo.data.batching import collate_conversations
from spikemo.data.conversation import Conversation
from spikemo.errors import InputError
from spikemo.model.modeling import SpikEmoModel
from spikemo.training.predict import available_modalities

# The spike populations each layer reports a firing rate for, in the order of the computation.
RATE_NAMES: tuple[str, ...] = ("query", "key", "value", "attention", "mlp")


@dataclass
class TurnAttentionTrace:
    """Spiking self-attention of one dialogue (L turns) seen from one turn and one head, over T time steps.

    Every list holds one entry per Spikformer layer. With H heads of d neurons each (h = H * d):
    query, key, value: the chosen turn's spikes in the chosen head, [T, d] each (0/1).
    coincidence: Q K^T of every head averaged over the T steps, [H, L, L]: entry (i, j) is how many of the head's
      d neurons fire in both turn i's query and turn j's key at the same step, on average.
    turn_coincidence: the chosen turn's row of Q K^T in the chosen head at every step, [T, L] (integer counts).
    attention_spikes: the chosen turn's attention neurons (the LIF after Q K^T V), [T, h] (0/1, all heads).
    firing_rates: per layer, RATE_NAMES -> the fraction of (step, turn, neuron) slots holding a spike.
    weights_by_step: [T, L] each turn's DSWA weight had the model stopped after t + 1 steps; the last row is
      the model's weights and every row sums to 1.
    turn and head are 0-based.
    """

    modality: str
    turn: int
    head: int
    query: list[np.ndarray]
    key: list[np.ndarray]
    value: list[np.ndarray]
    coincidence: list[np.ndarray]
    turn_coincidence: list[np.ndarray]
    attention_spikes: list[np.ndarray]
    firing_rates: list[dict[str, float]]
    weights_by_step: np.ndarray

    @property
    def layers(self) -> int:
        return len(self.query)

    @property
    def heads(self) -> int:
        return self.coincidence[0].shape[0]

    @property
    def time_steps(self) -> int:
        return self.weights_by_step.shape[0]

    @property
    def num_turns(self) -> int:
        return self.weights_by_step.shape[1]


@torch.inference_mode()
def trace_turn_attention(
    model: SpikEmoModel, conversation: Conversation, modality: str, turn: int, head: int = 0
) -> TurnAttentionTrace:
    """Run `modality`'s DSWA step of `model` on `conversation` (features filled) at the model's T and record
    spiking self-attention for turn `turn` and head `head` (both 0-based)."""
    if not model.config.use_dswa:
        raise InputError("this checkpoint was trained without DSWA, so it has no spiking self-attention to show")
    if model.config.dswa_variant == "conversation":
        raise InputError("this checkpoint's DSWA runs in conversation time (neurons that read the dialogue turn by "
                         "turn), without spiking self-attention: there is no attention map to show")
    if modality not in model.dswa:
        raise InputError(f"the model has no {modality} stream; its modalities are {', '.join(model.dswa)}")
    if modality not in available_modalities(model, [conversation]):
        raise InputError(f"the conversation has no {modality} features for every turn; analyse it first")
    length = len(conversation)
    if not 0 <= turn < length:
        raise InputError(f"turn {turn + 1} does not exist: the conversation has {length} turns")
    heads = model.config.spikformer_heads
    if not 0 <= head < heads:
        raise InputError(f"head {head + 1} does not exist: the model has {heads} attention heads")
    model.eval()
    device = next(model.parameters()).device
    batch = collate_conversations([conversation], (modality,), model.config.labels).to(device)
    features = model.dswa_inputs(batch.features, batch.speakers, batch.mask)[modality]
    trace = model.dswa[modality].trace(features, batch.mask)

    def numpy(tensor: torch.Tensor) -> np.ndarray:
        return tensor.float().cpu().numpy()

    query, key, value, coincidence, turn_coincidence, attention_spikes, firing_rates = [], [], [], [], [], [], []
    for layer, rates in zip(trace.attention, trace.firing_rates):
        # Batch of one dialogue: index 0 of B; Q/K/V are [T, B, H, L, d].
        query.append(numpy(layer.query[:, 0, head, turn]))
        key.append(numpy(layer.key[:, 0, head, turn]))
        value.append(numpy(layer.value[:, 0, head, turn]))
        coincidence.append(numpy(layer.coincidence[:, 0].mean(dim=0)))
        turn_coincidence.append(numpy(layer.coincidence[:, 0, head, turn]))
        attention_spikes.append(numpy(layer.attention_spikes[:, 0, turn]))
        # One unpadded dialogue, so a plain mean is the rate over its real turns.
        firing_rates.append({"query": float(layer.query.mean()), "key": float(layer.key.mean()),
                             "value": float(layer.value.mean()), **rates})
    return TurnAttentionTrace(
        modality=modality,
        turn=turn,
        head=head,
        query=query,
        key=key,
        value=value,
        coincidence=coincidence,
        turn_coincidence=turn_coincidence,
        attention_spikes=attention_spikes,
        firing_rates=firing_rates,
        weights_by_step=numpy(trace.weights_by_step[:, 0]),
    )
