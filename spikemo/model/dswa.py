"""DSWA: dynamic spiking weight adaptation (SpikEmo, section "Feature-level dynamic modelling").

A Spikformer-style encoder runs over a dialogue's utterance features for T time steps (direct encoding: the
same input at every step). Its output averaged over T, E [B, L, h], is turned into per-utterance weights by a
softmax across the dialogue's real utterances, channel by channel, and re-weights the features:
`F <- softmax_over_utterances(E) * F + F`.

Two variants (`SpikEmoConfig.dswa_variant`):
- "reference", the structure of the paper's published code: the input is first turned into spikes (a
  Heaviside step with the ATan surrogate gradient, after a LayerNorm so that about half the channels fire for
  any modality), the Spikformer blocks run on those spikes, and a final LayerNorm precedes the mean over T.
  E is then made of spikes only, so what the LIF neurons do decides the weights.
- "residual", the first checkpoints' structure: the continuous features enter the blocks directly and there
  is no final norm, so E = F + spikes and the weights mostly follow softmax(F) (`train.dswa_effect` measures
  how much).

Every LIF neuron is spikingjelly's `LIFNode` in multi-step mode (`LIFNeuron` only swaps in a leaner CPU loop
with identical spikes), and every LIF input is LayerNorm-ed over its features first, per position, so padding
never leaks into real utterances' statistics. Masking keeps padding out of attention and of the softmax.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from spikingjelly.activation_based import functional, surrogate
from torch import Tensor, nn

from spikemo.model.configuration import DEFAULT_LIF_TAU
from spikemo.model.neuron import lif_neuron

# The variants built here, over T simulated steps (the conversation variant is spikemo.model.conversation_dswa).
SPIKFORMER_VARIANTS: tuple[str, ...] = tuple(DEFAULT_LIF_TAU)
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


@dataclass
class AttentionTrace:
    """What one spiking self-attention layer computed (recorded on request, for teaching and inspection).

    query, key, value: spikes [T, B, H, L, d]; coincidence: Q K^T [T, B, H, L, L], how many neurons of two
    utterances fire together; attention_spikes: the attention neuron's output [T, B, L, h].
    """

    query: Tensor
    key: Tensor
    value: Tensor
    coincidence: Tensor
    attention_spikes: Tensor


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

    def forward(
        self, x: Tensor, mask: Tensor, time_steps: int | None = None, trace: list[AttentionTrace] | None = None
    ) -> Tensor:
        """x [T, B, L, h] (or time-constant [B, L, h] with time_steps), mask [B, L] -> spikes [T, B, L, h].

        With `trace` given, appends this layer's AttentionTrace to it.
        """
        keep = mask[None, :, None, :, None].to(x.dtype)  # [1, B, 1, L, 1]
        q, k, v = (self._split_heads(s) for s in self.query_key_value(x, time_steps).chunk(3, dim=-1))
        k, v = k * keep, v * keep
        coincidence = q @ k.transpose(-2, -1)  # [T, B, H, L, L]
        mixed = coincidence @ v * SSA_SCALE  # [T, B, H, L, d]
        t, b, h, length, d = mixed.shape
        mixed = mixed.permute(0, 1, 3, 2, 4).reshape(t, b, length, h * d)
        attention_spikes = self.attention_lif(self.attention_norm(mixed))
        if trace is not None:
            trace.append(AttentionTrace(q.detach(), k.detach(), v.detach(), coincidence.detach(),
                                        attention_spikes.detach()))
        return self.projection(attention_spikes)

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

    def forward(
        self, x: Tensor, mask: Tensor, time_steps: int | None = None, trace: list[AttentionTrace] | None = None
    ) -> tuple[Tensor, Tensor]:
        """x [T, B, L, h] (or time-constant [B, L, h] with time_steps) -> ([T, B, L, h], spikes [T, B, L, h])."""
        x = x + self.attention(x, mask, time_steps, trace)
        spikes = self.mlp(x)
        return x + spikes, spikes


class SpikformerEncoder(nn.Module):
    """A stack of Spikformer blocks over [T, B, L, h], fed the same utterance features at every step."""

    def __init__(self, size: int, layers: int, heads: int, mlp_ratio: int, tau: float, threshold: float):
        super().__init__()
        self.blocks = nn.ModuleList(SpikformerBlock(size, heads, mlp_ratio, tau, threshold) for _ in range(layers))

    def forward(
        self, features: Tensor, mask: Tensor, time_steps: int, trace: list[AttentionTrace] | None = None
    ) -> tuple[Tensor, list[Tensor]]:
        """features [B, L, h], mask [B, L] -> (residual stream [T, B, L, h], each block's output spikes).

        The neurons' membrane state is reset afterwards, so nothing carries over to the next call.
        """
        try:
            x, block_spikes = features, []
            for i, block in enumerate(self.blocks):
                # The first block sees a time-constant input: its Q/K/V projections are computed once.
                x, spikes = block(x, mask, time_steps if i == 0 else None, trace)
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


class SpikeInput(nn.Module):
    """The reference variant's spike encoding: LayerNorm, then a Heaviside step (spike where x >= 0).

    Training passes gradients through the step with the ATan surrogate, as the LIF neurons do. The LayerNorm
    centres each utterance's features, so about half the channels fire whatever the modality's range (the
    published code fired on raw post-ReLU features, where every channel fires and every weight is 1/L).
    forward: [B, L, h] -> spikes [B, L, h] (0/1 floats).
    """

    def __init__(self, size: int):
        super().__init__()
        self.norm = nn.LayerNorm(size)
        self.step = surrogate.ATan()

    def forward(self, features: Tensor) -> Tensor:
        return self.step(self.norm(features))


@dataclass
class DSWATrace:
    """One DSWA forward pass in detail, for one batch (every tensor detached).

    input: what enters the blocks [B, L, h] (spikes for "reference", continuous features for "residual");
    attention: each layer's AttentionTrace; block_spikes: each block's MLP output spikes [T, B, L, h];
    firing_rates: per layer, the mean spike rate of its attention neurons and of its MLP output over real
    utterances; scores: E per step [T, B, L, h]; weights_by_step: [T, B, L] the per-utterance weight the model
    would give had it stopped after t + 1 steps (the softmax of E averaged over the first t + 1 steps).
    """

    input: Tensor
    attention: list[AttentionTrace]
    block_spikes: list[Tensor]
    firing_rates: list[dict[str, float]]
    scores: Tensor
    weights_by_step: Tensor


class DSWA(nn.Module):
    """Dynamic spiking weight adaptation for one modality stream.

    forward: features [B, L, h], mask [B, L] bool ->
      reweighted features [B, L, h] (softmax(E) * F + F, zero at padding),
      per-utterance weight [B, L] (the channel-mean of softmax(E); 0 at padding; rows sum to 1),
      each block's output spikes [T, B, L, h] (float 0/1, padding zeroed).
    """

    def __init__(
        self,
        size: int,
        layers: int,
        heads: int,
        mlp_ratio: int,
        time_steps: int,
        tau: float,
        threshold: float,
        variant: str = "reference",
    ):
        super().__init__()
        if variant not in SPIKFORMER_VARIANTS:
            raise ValueError(f"unknown Spikformer DSWA variant {variant!r}; known: {', '.join(SPIKFORMER_VARIANTS)} "
                             "(the conversation variant is spikemo.model.conversation_dswa.ConversationDSWA)")
        self.time_steps, self.variant = time_steps, variant
        self.spike_input = SpikeInput(size) if variant == "reference" else None
        self.encoder = SpikformerEncoder(size, layers, heads, mlp_ratio, tau, threshold)
        self.output_norm = nn.LayerNorm(size) if variant == "reference" else None

    def forward(
        self, features: Tensor, mask: Tensor, time_steps: int | None = None
    ) -> tuple[Tensor, Tensor, list[Tensor]]:
        _, scores, block_spikes = self._scores(features, mask, time_steps or self.time_steps)
        weights = masked_utterance_softmax(scores.mean(dim=0), mask)
        keep = mask.unsqueeze(-1).to(features.dtype)
        reweighted = (weights * features + features) * keep
        block_spikes = [spikes * keep for spikes in block_spikes]
        return reweighted, weights.mean(dim=-1), block_spikes

    def _scores(
        self, features: Tensor, mask: Tensor, time_steps: int, trace: list[AttentionTrace] | None = None
    ) -> tuple[Tensor, Tensor, list[Tensor]]:
        """What enters the blocks [B, L, h], E per step [T, B, L, h] (before the mean over T) and each block's
        output spikes."""
        encoder_input = self.spike_input(features) if self.spike_input is not None else features
        stream, block_spikes = self.encoder(encoder_input, mask, time_steps, trace)
        scores = self.output_norm(stream) if self.output_norm is not None else stream
        return encoder_input, scores, block_spikes

    @torch.no_grad()
    def trace(self, features: Tensor, mask: Tensor, time_steps: int | None = None) -> DSWATrace:
        """Run DSWA on features [B, L, h] with mask [B, L] and record every intermediate (see DSWATrace)."""
        attention: list[AttentionTrace] = []
        encoder_input, scores, block_spikes = self._scores(features, mask, time_steps or self.time_steps, attention)
        keep = mask.to(features.dtype)[None, :, :, None]  # [1, B, L, 1]
        real = keep.sum() * features.shape[-1]

        def rate(spikes: Tensor) -> float:  # mean over steps, real utterances and channels
            return float((spikes * keep).sum() / (real * spikes.shape[0]).clamp_min(1))

        firing_rates = [
            {"attention": rate(layer.attention_spikes), "mlp": rate(spikes)}
            for layer, spikes in zip(attention, block_spikes)
        ]
        steps = torch.arange(1, scores.shape[0] + 1, dtype=scores.dtype).view(-1, 1, 1, 1)
        running_mean = scores.cumsum(dim=0) / steps
        weights_by_step = torch.stack([masked_utterance_softmax(e, mask).mean(dim=-1) for e in running_mean])
        return DSWATrace(encoder_input, attention, [s * keep for s in block_spikes], firing_rates, scores,
                         weights_by_step)
