"""Teaching material: one LIF neuron simulated step by step, and how DSWA's weights depend on T.

`simulate_lif` drives spikingjelly's `LIFNode` (the neuron every SpikEmo spiking layer is built from) with an
input current over T steps and records what a student needs to see: the membrane potential before the
threshold test (charge), the spikes (fire), the potential after the hard reset, and the ATan surrogate
gradient that stands in for the Heaviside step's derivative during training.

`dswa_weights_by_time_steps` runs the real model on a conversation at several numbers of time steps T and
returns each modality's per-utterance DSWA weights, the quantity the app shows over the turns.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from spikingjelly.activation_based import functional, neuron, surrogate

from spikemo.data.batching import collate_conversations
from spikemo.data.conversation import Conversation
from spikemo.errors import InputError
from spikemo.model.modeling import SpikEmoModel
from spikemo.training.predict import available_modalities

InputShape = Literal["constant", "ramp", "pulses"]
INPUT_SHAPES: tuple[str, ...] = ("constant", "ramp", "pulses")
SWEEP_TIME_STEPS: tuple[int, ...] = (2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class LIFDemoConfig:
    """One LIF neuron: input current level and shape, membrane time constant tau, threshold, steps T.

    shape: "constant" (the same current every step, as SpikEmo's direct encoding feeds each utterance),
    "ramp" (rising linearly from 0 to `current`) or "pulses" (`current` on every fourth step, else 0).
    surrogate_alpha: sharpness of the ATan surrogate (spikingjelly's default, 2).
    """

    current: float = 1.5
    tau: float = 2.0
    threshold: float = 1.0
    time_steps: int = 32
    shape: InputShape = "constant"
    surrogate_alpha: float = 2.0

    def __post_init__(self) -> None:
        if self.tau <= 1.0:
            raise InputError(f"tau must be greater than 1 (the leak is 1/tau per step), got {self.tau}")
        if self.threshold <= 0.0:
            raise InputError(f"the threshold must be positive, got {self.threshold}")
        if not 1 <= self.time_steps <= 1024:
            raise InputError(f"T must be between 1 and 1024 time steps, got {self.time_steps}")
        if self.shape not in INPUT_SHAPES:
            raise InputError(f"input shape must be one of {', '.join(INPUT_SHAPES)}, got {self.shape!r}")


@dataclass
class LIFTrace:
    """One simulation, every array [T].

    charged: membrane potential H[t] after integrating the input, before the threshold test.
    membrane: V[t] after the reset (0 where the neuron fired).
    surrogate_gradient: ATan'(H[t] - threshold), the stand-in for d spike / d H used by backpropagation.
    input_gradient: d(total spikes) / d input[t], backpropagated through time with that surrogate.
    """

    config: LIFDemoConfig
    current: np.ndarray
    charged: np.ndarray
    spikes: np.ndarray
    membrane: np.ndarray
    surrogate_gradient: np.ndarray
    input_gradient: np.ndarray

    @property
    def spike_count(self) -> int:
        return int(self.spikes.sum())

    @property
    def firing_rate(self) -> float:
        return float(self.spikes.mean())


def input_current(config: LIFDemoConfig) -> np.ndarray:
    """The input current [T] for the config's shape."""
    steps = np.arange(config.time_steps)
    if config.shape == "constant":
        return np.full(config.time_steps, config.current, dtype=np.float32)
    if config.shape == "ramp":
        return (config.current * (steps + 1) / config.time_steps).astype(np.float32)
    return np.where(steps % 4 == 0, config.current, 0.0).astype(np.float32)


def simulate_lif(config: LIFDemoConfig) -> LIFTrace:
    """Run spikingjelly's LIFNode (hard reset to 0, detached reset, ATan surrogate) over the input current."""
    node = neuron.LIFNode(
        tau=config.tau,
        v_threshold=config.threshold,
        detach_reset=True,
        surrogate_function=surrogate.ATan(alpha=config.surrogate_alpha),
        step_mode="m",
        store_v_seq=True,
    )
    current = torch.from_numpy(input_current(config)).unsqueeze(-1).requires_grad_(True)  # [T, 1]
    try:
        spikes = node(current)
        membrane = node.v_seq.detach()[:, 0]
    finally:
        functional.reset_net(node)
    spikes.sum().backward()
    # H[t] = V[t-1] + (X[t] - V[t-1]) / tau: LIFNode's charge step, rebuilt from its recorded V[t].
    previous = torch.cat([torch.zeros(1), membrane[:-1]])
    charged = previous + (current.detach()[:, 0] - previous) / config.tau
    distance = (charged - config.threshold).requires_grad_(True)
    surrogate.ATan(alpha=config.surrogate_alpha)(distance).sum().backward()
    return LIFTrace(
        config=config,
        current=current.detach()[:, 0].numpy(),
        charged=charged.numpy(),
        spikes=spikes.detach()[:, 0].numpy(),
        membrane=membrane.numpy(),
        surrogate_gradient=distance.grad.numpy(),
        input_gradient=current.grad[:, 0].numpy(),
    )


@dataclass
class TimeStepSweep:
    """DSWA weights of one conversation at several T. weights: modality -> [len(time_steps), L], rows sum to 1."""

    time_steps: tuple[int, ...]
    weights: dict[str, np.ndarray]
    predictions: list[list[str]]  # [len(time_steps)][L] predicted emotion per utterance at each T
    without_dswa: list[str]  # [L] predicted emotion per utterance with the DSWA step skipped


@torch.inference_mode()
def dswa_weights_by_time_steps(
    model: SpikEmoModel,
    conversation: Conversation,
    time_steps: Sequence[int] = SWEEP_TIME_STEPS,
    device: str | torch.device = "cpu",
) -> TimeStepSweep:
    """Run `model` on one conversation (features filled) at each T; collect DSWA weights and predictions, and
    the predictions with DSWA skipped (the baseline the weights move away from)."""
    if not model.config.use_dswa:
        raise InputError("this checkpoint was trained without DSWA, so it has no spike-attention weights")
    modalities = available_modalities(model, [conversation])
    if not modalities:
        raise InputError(f"the conversation has no features for the model's modalities {model.config.modalities}")
    batch = collate_conversations([conversation], modalities, model.config.labels).to(device)
    model.eval()
    weights: dict[str, list[np.ndarray]] = {m: [] for m in modalities}
    predictions = []
    for steps in time_steps:
        output = model(batch.features, batch.speakers, batch.mask, time_steps=int(steps))
        for m in modalities:
            weights[m].append(output.dswa_weights[m][0].float().cpu().numpy())
        predictions.append([model.config.labels[i] for i in output.logits[0].argmax(-1).tolist()])
    skipped = model(batch.features, batch.speakers, batch.mask, skip_dswa=True)
    without_dswa = [model.config.labels[i] for i in skipped.logits[0].argmax(-1).tolist()]
    return TimeStepSweep(tuple(int(t) for t in time_steps), {m: np.stack(w) for m, w in weights.items()}, predictions,
                         without_dswa)
