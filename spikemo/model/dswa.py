"""DSWA: dynamic spiking weight adaptation (SpikEmo, section "Feature-level dynamic modelling").

A Spikformer-style encoder runs over a dialogue's utterance features for T time steps (direct encoding: the
same input at every step). Its output averaged over T, E [B, L, h], is turned into per-utterance weights by a
softmax across the dialogue's real utterances, channel by channel, and re-weights the features:
`F <- softmax_over_utterances(E) * F + F`.

Every LIF neuron here is spikingjelly's `LIFNode` in multi-step mode (`LIFNeuron` only swaps in a leaner
CPU loop with identical spikes), and every LIF input is LayerNorm-ed over its features first. That
normalisation is what makes the weights input dependent: the published code fired on `x >= 0` after a
ReLU, so every position spiked alike and all weights came out exactly 1/L. LayerNorm works per position,
so padding never leaks into real utterances' statistics.
"""

import torch
import torch.nn.functional as F
from spikingjelly.activation_based import functional
from torch import Tensor, nn

from spikemo.model.neuron import lif_neuron

# Spikformer's fixed attention scale (it has no softmax to temper Q K^T V, whose entries are spike counts).
SSA_SCALE = 0.125


class NormLIF(nn.Module):
    """Linear -> LayerNorm -> LIF: the spiking unit every Spikformer projection is built from.

    With groups > 1 it is `groups` such units side by side (own weights, own LayerNorm over each group's
    d_out features) sharing one LIF call: LIF is elementwise, so this equals separate units, with fewer steps.
    forward: x [T, B, L, d_in] (or [B, L, d_in] with time_steps, when the input is the same at every step)
    -> spikes [T, B, L, groups * d_out].
    """

    def __init__(self, d_in: int, d_out: int, tau: float, threshold: float, groups: int = 1):
        super().__init__()
        self.groups, self.d_out = groups, d_out
        self.linear = nn.Linear(d_in, groups * d_out)
        self.norm_weight = nn.Parameter(torch.ones(groups, d_out))
        self.norm_bias = nn.Parameter(torch.zeros(groups, d_out))
        self.lif = lif_neuron(tau, threshold)

    def forward(self, x: Tensor, time_steps: int | None = None) -> Tensor:
        current = self.linear(x).unflatten(-1, (self.groups, self.d_out))
        current = (F.layer_norm(current, (self.d_out,)) * self.norm_weight + self.norm_bias).flatten(-2)
        if time_steps is not None:  # time-constant input: project once, then repeat over T
            current = current.unsqueeze(0).expand(time_steps, *current.shape)
        return self.lif(current)


class SpikingSelfAttention(nn.Module):
    """SSA: Q, K, V = LIF(Norm(Linear(x))); out = LIF(Norm(scale * Q K^T V)); then LIF(Norm(Linear(out))).

    No softmax. Padded keys and values are zeroed, so padding adds nothing to any real utterance.
    """

    def __init__(self, size: int, heads: int, tau: float, threshold: float):
        super().__init__()
        self.heads = heads
        self.query_key_value = NormLIF(size, size, tau, threshold, groups=3)
        self.attention_norm = nn.LayerNorm(size)
        self.attention_lif = lif_neuron(tau, threshold)
        self.projection = NormLIF(size, size, tau, threshold)

    def forward(self, x: Tensor, mask: Tensor, time_steps: int | None = None) -> Tensor:
        """x [T, B, L, h] (or time-constant [B, L, h] with time_steps), mask [B, L] -> spikes [T, B, L, h]."""
        keep = mask[None, :, None, :, None].to(x.dtype)  # [1, B, 1, L, 1]
        q, k, v = (self._split_heads(s) for s in self.query_key_value(x, time_steps).chunk(3, dim=-1))
        k, v = k * keep, v * keep
        mixed = (q @ k.transpose(-2, -1)) @ v * SSA_SCALE  # [T, B, H, L, d]
        t, b, h, length, d = mixed.shape
        mixed = mixed.permute(0, 1, 3, 2, 4).reshape(t, b, length, h * d)
        return self.projection(self.attention_lif(self.attention_norm(mixed)))

    def _split_heads(self, x: Tensor) -> Tensor:
        t, b, length, size = x.shape
        return x.reshape(t, b, length, self.heads, size // self.heads).transpose(2, 3)


class SpikingMLP(nn.Module):
    """Two spiking projections, h -> ratio*h -> h, each Linear -> LayerNorm -> LIF."""

    def __init__(self, size: int, ratio: int, tau: float, threshold: float):
        super().__init__()
        self.up = NormLIF(size, ratio * size, tau, threshold)
        self.down = NormLIF(ratio * size, size, tau, threshold)

    def forward(self, x: Tensor) -> Tensor:
        return self.down(self.up(x))


class SpikformerBlock(nn.Module):
    """x <- x + SSA(x); x <- x + MLP(x). Returns the new residual stream and the MLP's output spikes."""

    def __init__(self, size: int, heads: int, mlp_ratio: int, tau: float, threshold: float):
        super().__init__()
        self.attention = SpikingSelfAttention(size, heads, tau, threshold)
        self.mlp = SpikingMLP(size, mlp_ratio, tau, threshold)

    def forward(self, x: Tensor, mask: Tensor, time_steps: int | None = None) -> tuple[Tensor, Tensor]:
        """x [T, B, L, h] (or time-constant [B, L, h] with time_steps) -> ([T, B, L, h], spikes [T, B, L, h])."""
        x = x + self.attention(x, mask, time_steps)
        spikes = self.mlp(x)
        return x + spikes, spikes


class SpikformerEncoder(nn.Module):
    """A stack of Spikformer blocks over [T, B, L, h], fed the same utterance features at every step."""

    def __init__(self, size: int, layers: int, heads: int, mlp_ratio: int, tau: float, threshold: float):
        super().__init__()
        self.blocks = nn.ModuleList(SpikformerBlock(size, heads, mlp_ratio, tau, threshold) for _ in range(layers))

    def forward(self, features: Tensor, mask: Tensor, time_steps: int) -> tuple[Tensor, list[Tensor]]:
        """features [B, L, h], mask [B, L] -> (residual stream [T, B, L, h], each block's output spikes).

        The neurons' membrane state is reset afterwards, so nothing carries over to the next call.
        """
        try:
            x, block_spikes = features, []
            for i, block in enumerate(self.blocks):
                # The first block sees a time-constant input: its Q/K/V projections are computed once.
                x, spikes = block(x, mask, time_steps if i == 0 else None)
                block_spikes.append(spikes)
            return x, block_spikes
        finally:
            functional.reset_net(self)


def masked_utterance_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax over the utterance axis, per channel, with padding excluded and given weight 0.

    scores [B, L, h], mask [B, L] -> [B, L, h]; each (dialogue, channel) sums to 1 over real utterances
    (to 0 for a dialogue with no real utterance, rather than NaN).
    """
    keep = mask.unsqueeze(-1)
    filled = scores.masked_fill(~keep, torch.finfo(scores.dtype).min)
    return filled.softmax(dim=1) * keep


class DSWA(nn.Module):
    """Dynamic spiking weight adaptation for one modality stream.

    forward: features [B, L, h], mask [B, L] bool ->
      reweighted features [B, L, h] (softmax(E) * F + F, zero at padding),
      per-utterance weight [B, L] (the channel-mean of softmax(E); 0 at padding; rows sum to 1),
      each block's output spikes [T, B, L, h] (float 0/1, padding zeroed).
    """

    def __init__(
        self, size: int, layers: int, heads: int, mlp_ratio: int, time_steps: int, tau: float, threshold: float
    ):
        super().__init__()
        self.time_steps = time_steps
        self.encoder = SpikformerEncoder(size, layers, heads, mlp_ratio, tau, threshold)

    def forward(
        self, features: Tensor, mask: Tensor, time_steps: int | None = None
    ) -> tuple[Tensor, Tensor, list[Tensor]]:
        stream, block_spikes = self.encoder(features, mask, time_steps or self.time_steps)
        weights = masked_utterance_softmax(stream.mean(dim=0), mask)
        keep = mask.unsqueeze(-1).to(features.dtype)
        reweighted = (weights * features + features) * keep
        block_spikes = [spikes * keep for spikes in block_spikes]
        return reweighted, weights.mean(dim=-1), block_spikes
