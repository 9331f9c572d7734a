"""The LIF neuron every spiking layer of SpikEmo is built from: spikingjelly's LIFNode, leaner on CPU.

Multi-step mode on [T, ...] inputs, hard reset to 0 detached from the graph, ATan surrogate gradient.
"""

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from spikingjelly.activation_based import neuron, surrogate
from torch import Tensor


class _HardResetLIF(torch.autograd.Function):
    """LIF over [T, ...] with decay_input, hard reset to 0, detached reset and the ATan surrogate gradient.

    The same arithmetic as spikingjelly's CPU reference (h = v + (x - v) / tau; spike = h >= threshold;
    v = h where no spike, else 0), so spikes are bit-identical, but 5 tensor ops per step instead of ~12 and
    a hand-written backward over T instead of autograd through every step.
    """

    @staticmethod
    def forward(ctx, x_seq: Tensor, v: Tensor, tau: float, threshold: float, alpha: float):
        charged = torch.empty_like(x_seq)
        for t in range(x_seq.shape[0]):
            h = torch.sub(x_seq[t], v, out=charged[t]).div_(tau).add_(v)
            v = torch.where(h >= threshold, 0.0, h)
        ctx.save_for_backward(charged)
        ctx.tau, ctx.threshold, ctx.alpha = tau, threshold, alpha
        return (charged >= threshold).to(x_seq.dtype), v

    @staticmethod
    def backward(ctx, grad_spikes: Tensor, grad_v: Tensor):
        (charged,) = ctx.saved_tensors
        tau, alpha = ctx.tau, ctx.alpha
        z = (charged - ctx.threshold) * (math.pi / 2 * alpha)
        from_spikes = grad_spikes * ((alpha / 2) / (1 + z * z))  # d spike / d h (ATan surrogate)
        no_reset = (charged < ctx.threshold).to(charged.dtype)  # d v_t / d h_t with the reset detached
        decay = 1 - 1 / tau  # d h_t / d v_{t-1}
        grad_charged = torch.empty_like(charged)
        last_v = grad_v if grad_v is not None else torch.zeros_like(charged[0])
        torch.addcmul(from_spikes[-1], last_v, no_reset[-1], out=grad_charged[-1])
        through_v = no_reset * decay
        for t in range(charged.shape[0] - 2, -1, -1):  # dL/dh_t = spike term + dL/dh_{t+1} * dh_{t+1}/dh_t
            torch.addcmul(from_spikes[t], grad_charged[t + 1], through_v[t], out=grad_charged[t])
        carry = grad_charged[0] * decay
        return grad_charged / tau, carry, None, None, None


class LIFNeuron(neuron.LIFNode):
    """spikingjelly's LIFNode (multi-step, ATan surrogate, detached hard reset to 0), leaner on CPU.

    spikingjelly 2.0.0 runs LIF on CPU as a Python loop of ~12 small tensor ops per time step with autograd
    through each; that loop was most of SpikEmo's CPU time. On CPU this node runs `_HardResetLIF` instead;
    elsewhere (CUDA kernels) and for any other configuration it is the stock LIFNode. State, reset and
    parameters are LIFNode's own.

    `silenced` (False unless `spikes_silenced` sets it) makes the node output no spike at all: the ablation
    that asks what a network decides without its spikes.
    """

    silenced: bool = False

    def multi_step_forward(self, x_seq: Tensor, *args: Tensor, **kwargs: object) -> Tensor:
        if self.silenced:
            return torch.zeros_like(x_seq)
        lean = (
            x_seq.device.type == "cpu"
            and x_seq.dtype == torch.float32
            and self.decay_input
            and self.v_reset == 0.0
            and self.detach_reset
            and not self.store_v_seq
            and isinstance(self.surrogate_function, surrogate.ATan)
            and not args
        )
        if not lean:
            return super().multi_step_forward(x_seq, *args, **kwargs)
        v = self.v if isinstance(self.v, Tensor) else torch.full_like(x_seq[0], self.v)
        spikes, self.v = _HardResetLIF.apply(x_seq, v, self.tau, self.v_threshold, self.surrogate_function.alpha)
        return spikes


def lif_neuron(tau: float, threshold: float) -> LIFNeuron:
    """A multi-step LIF layer on [T, ...] inputs, ATan surrogate gradient, reset detached from the graph."""
    return LIFNeuron(
        tau=tau, v_threshold=threshold, detach_reset=True, surrogate_function=surrogate.ATan(), step_mode="m"
    )




@contextmanager
def spikes_silenced(module: torch.nn.Module) -> Iterator[None]:
    """Within the block every LIFNeuron inside `module` outputs zeros (everything else runs unchanged)."""
    neurons = [m for m in module.modules() if isinstance(m, LIFNeuron)]
    for node in neurons:
        node.silenced = True
    try:
        yield
    finally:
        for node in neurons:
            node.silenced = False
