"""DSWA in conversation time: spiking neurons whose time axis is the dialogue itself.

The other DSWA variants (spikemo.model.dswa) present the same features at every one of T simulated steps, so
utterance order is invisible to the spikes and the neurons settle to a steady rate. Here a population of n LIF
neurons reads the dialogue turn by turn: utterance i is presented for k = T steps (steps i*k ... i*k + k - 1),
in order, and the membrane potentials carry from one turn to the next. A neuron can charge over several turns
and fire; what an utterance's turn makes the neurons emit depends on it and on the turns before it (causal), never
on later ones. Padding comes after a dialogue's real turns, so it cannot reach them, and every dialogue of a batch
has its own neurons, reset after each forward.

Shapes: features F [B, L, h] -> input current [B, L, n] (Linear, LayerNorm over the n neurons) -> repeated k
times per turn, [L*k, B, n] -> LIF -> spikes [L*k, B, n], viewed as [k, B, L, n] (the steps of each turn) ->
rate per turn [B, L, n] -> read-out E [B, L, h] (Linear). Then, as in the other variants, the weights are
softmax(E) over the dialogue's real turns and F <- softmax(E) * F + F ("weight"); with "features" the read-out
is added to F instead (F <- F + E), with "both" both.

The membrane time constant is counted in turns (`tau_turns`): the LIF's tau is tau_turns * k, so a neuron
forgets at the same pace per turn whatever T is, and T sets only how finely a turn is resolved. With
`spiking=False` (the spike-free control) the same leaky integrators emit the ATan surrogate's smooth step of
their potential instead of spikes, and never reset: what a gain owes to spiking shows against it.
"""

import math

import torch
from spikingjelly.activation_based import functional
from torch import Tensor, nn

from spikemo.model.dswa import masked_utterance_softmax
from spikemo.model.neuron import lif_neuron

CONVERSATION_OUTPUTS: tuple[str, ...] = ("weight", "features", "both")


def lif_charge(current: Tensor, tau: float, threshold: float) -> Tensor:
    """The LIF's potential before each spike test, h_t = v_{t-1} + (x_t - v_{t-1}) / tau, with v_t = 0 after a
    spike (h_t >= threshold) and h_t otherwise, v_{-1} = 0: the arithmetic of spikemo.model.neuron's LIF.
    current [S, ...] -> [S, ...]."""
    charged, v = [], torch.zeros_like(current[0])
    for x in current:
        h = v + (x - v) / tau
        charged.append(h)
        v = torch.where(h >= threshold, 0.0, h)
    return torch.stack(charged)


def leaky_integration(current: Tensor, tau: float) -> Tensor:
    """The potentials of the same integrators without threshold or reset (the spike-free control): lif_charge
    with a threshold never reached. current [S, ...] -> potentials [S, ...]."""
    return lif_charge(current, tau, math.inf)


def smooth_step(potential: Tensor, threshold: float, alpha: float = 2.0) -> Tensor:
    """The ATan surrogate's continuous step: arctan(pi/2 * alpha * (v - threshold)) / pi + 1/2, in (0, 1)."""
    return torch.atan((math.pi / 2 * alpha) * (potential - threshold)) / math.pi + 0.5


class ConversationDSWA(nn.Module):
    """DSWA whose spiking neurons integrate the dialogue turn by turn (see the module docstring).

    forward: features [B, L, h], mask [B, L] bool ->
      reweighted features [B, L, h] (zero at padding),
      per-utterance weight [B, L] (the channel-mean of softmax(E); 0 at padding; rows sum to 1),
      [spikes [k, B, L, n]] (each turn's k steps; float 0/1, or the smooth step without spiking; padding zeroed).
    """

    def __init__(self, size: int, neurons: int, time_steps: int, tau_turns: float, threshold: float,
                 output: str = "weight", spiking: bool = True):
        super().__init__()
        if output not in CONVERSATION_OUTPUTS:
            raise ValueError(f"unknown conversation output {output!r}; known: {', '.join(CONVERSATION_OUTPUTS)}")
        self.time_steps, self.tau_turns, self.threshold = time_steps, tau_turns, threshold
        self.output, self.spiking = output, spiking
        self.input = nn.Linear(size, neurons)
        self.input_norm = nn.LayerNorm(neurons)
        self.lif = lif_neuron(tau_turns * time_steps, threshold)
        self.readout = nn.Linear(neurons, size)

    def forward(self, features: Tensor, mask: Tensor, time_steps: int | None = None
                ) -> tuple[Tensor, Tensor, list[Tensor]]:
        spikes = self.turn_spikes(features, mask, time_steps or self.time_steps)  # [k, B, L, n]
        scores = self.readout(spikes.mean(dim=0))  # [B, L, h]
        keep = mask.unsqueeze(-1).to(features.dtype)
        weights = masked_utterance_softmax(scores, mask)
        reweighted = features
        if self.output in ("weight", "both"):
            reweighted = weights * features + features
        if self.output in ("features", "both"):
            reweighted = reweighted + scores
        return reweighted * keep, weights.mean(dim=-1), [spikes]

    def turn_spikes(self, features: Tensor, mask: Tensor, steps: int) -> Tensor:
        """The neurons' output during each turn's `steps` steps: features [B, L, h] -> [steps, B, L, n]."""
        sequence = self._input_sequence(features, mask, steps)
        tau = self.tau_turns * steps
        if self.spiking:
            self.lif.tau = tau
            try:
                output = self.lif(sequence)
            finally:
                functional.reset_net(self)
        elif self.lif.silenced:  # spikes_silenced() reaches the control through its (unused) LIF node
            output = torch.zeros_like(sequence)
        else:
            output = smooth_step(leaky_integration(sequence, tau), self.threshold)
        return self._per_turn(output, mask, steps)

    @torch.no_grad()
    def membrane(self, features: Tensor, mask: Tensor, steps: int | None = None) -> Tensor:
        """Each neuron's membrane potential before each step's spike test (for teaching: a neuron charging over
        several turns, then firing and resetting): features [B, L, h] -> [steps, B, L, n]."""
        steps = steps or self.time_steps
        sequence = self._input_sequence(features, mask, steps)
        tau = self.tau_turns * steps
        potential = lif_charge(sequence, tau, self.threshold) if self.spiking else leaky_integration(sequence, tau)
        return self._per_turn(potential, mask, steps)

    def _input_sequence(self, features: Tensor, mask: Tensor, steps: int) -> Tensor:
        """The input current in conversation time: [B, L, h] -> [L*steps, B, n], turn i at steps i*k ... i*k+k-1."""
        current = self.input_norm(self.input(features)) * mask.unsqueeze(-1).to(features.dtype)  # [B, L, n]
        return current.transpose(0, 1).repeat_interleave(steps, dim=0)

    @staticmethod
    def _per_turn(sequence: Tensor, mask: Tensor, steps: int) -> Tensor:
        """[L*k, B, n] -> [k, B, L, n] (turn i's steps at [:, :, i]), zero at padding."""
        length = mask.shape[1]
        per_turn = sequence.view(length, steps, *sequence.shape[1:]).permute(1, 2, 0, 3)
        return per_turn * mask[None, :, :, None].to(sequence.dtype)
