"""Speed benchmarks for the SpikEmo network: forward latency per dialogue over T, the DSWA variants side by
side, and training throughput.

Figures are medians of several timed runs after a warm-up, on random features of the model's input sizes.
"""

import copy
import dataclasses
import statistics
import time
from functools import partial

import torch

from spikemo.model.configuration import DSWA_VARIANTS, LossConfig, SpikEmoConfig
from spikemo.model.losses import SpikEmoLoss
from spikemo.model.modeling import SpikEmoModel


def random_batch(
    model: SpikEmoModel, batch_size: int, dialogue_length: int, device: str = "cpu", seed: int = 0
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random (features, speakers, mask, labels) for full-length dialogues with all the model's modalities."""
    config = model.config
    generator = torch.Generator().manual_seed(seed)
    shape = (batch_size, dialogue_length)
    features = {m: torch.randn(*shape, config.input_dims[m], generator=generator) for m in config.modalities}
    speakers = torch.randint(0, min(3, config.max_speakers), shape, generator=generator)
    labels = torch.randint(0, config.num_labels, shape, generator=generator)
    mask = torch.ones(shape, dtype=torch.bool)
    return {m: x.to(device) for m, x in features.items()}, speakers.to(device), mask.to(device), labels.to(device)


def _median_ms(run, repeats: int, device: str) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bench_model(
    model: SpikEmoModel,
    time_steps: tuple[int, ...] = (4, 8, 16, 32, 64),
    dialogue_length: int = 20,
    repeats: int = 7,
    device: str = "cpu",
) -> dict:
    """Median forward latency (ms) of one dialogue of `dialogue_length` utterances, per number of time steps T."""
    model = model.to(device).eval()
    features, speakers, mask, _ = random_batch(model, 1, dialogue_length, device)
    latency = {}
    with torch.inference_mode():
        for steps in time_steps:
            model(features, speakers, mask, time_steps=steps)  # warm-up
            latency[steps] = _median_ms(partial(model, features, speakers, mask, time_steps=steps), repeats, device)
    return {
        "kind": "inference",
        "modalities": list(model.config.modalities),
        "parameters": sum(p.numel() for p in model.parameters()),
        "dialogue_length": dialogue_length,
        "repeats": repeats,
        "device": device,
        "threads": torch.get_num_threads(),
        "latency_ms": latency,
    }


def bench_variants(
    config: SpikEmoConfig,
    time_steps: int,
    dialogue_length: int = 20,
    repeats: int = 7,
    device: str = "cpu",
) -> dict:
    """Median forward latency (ms) of one dialogue for each DSWA variant (and without DSWA) on the sizes of
    `config` at the same T, freshly initialised (latency does not depend on the weights), and each one's ratio
    to the residual variant's."""
    variants = {"no_dswa": {"use_dswa": False}} | {name: {"use_dswa": True, "dswa_variant": name}
                                                   for name in DSWA_VARIANTS}
    latency = {}
    for name, changes in variants.items():
        torch.manual_seed(0)
        model = SpikEmoModel(dataclasses.replace(config, **changes))
        latency[name] = bench_model(model, (time_steps,), dialogue_length, repeats, device)["latency_ms"][time_steps]
    return {
        "kind": "variants",
        "modalities": list(config.modalities),
        "time_steps": time_steps,
        "dialogue_length": dialogue_length,
        "repeats": repeats,
        "device": device,
        "threads": torch.get_num_threads(),
        "latency_ms": latency,
        "ratio_to_residual": {name: ms / latency["residual"] for name, ms in latency.items()},
    }


def bench_training(
    model: SpikEmoModel,
    loss_config: LossConfig,
    batch_size: int = 8,
    dialogue_length: int = 20,
    steps: int = 5,
    device: str = "cpu",
) -> dict:
    """Median time of one Adam training step (forward, loss, backward, update) on a batch of full dialogues.

    Runs on a copy, so `model`'s weights are left as they were.
    """
    model = copy.deepcopy(model).to(device).train()
    loss_fn = SpikEmoLoss(loss_config)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    features, speakers, mask, labels = random_batch(model, batch_size, dialogue_length, device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(features, speakers, mask), labels, mask)["loss"].backward()
        optimizer.step()

    step()  # warm-up (allocates Adam's state)
    step_ms = _median_ms(step, steps, device)
    return {
        "kind": "training",
        "modalities": list(model.config.modalities),
        "time_steps": model.config.time_steps,
        "batch_size": batch_size,
        "dialogue_length": dialogue_length,
        "steps": steps,
        "device": device,
        "threads": torch.get_num_threads(),
        "step_ms": step_ms,
        "dialogues_per_s": batch_size / (step_ms / 1000),
    }


def format_bench(results: dict) -> str:
    """A short human-readable report of `bench_model` or `bench_training` results."""
    where = f"{results['device']}, {results['threads']} threads, modalities {'+'.join(results['modalities'])}"
    if results["kind"] == "variants":
        lines = [f"DSWA variants ({where}, T={results['time_steps']}): one dialogue of {results['dialogue_length']} "
                 f"utterances, median of {results['repeats']}", "  variant      latency (ms)   x residual"]
        lines += [f"  {name:<12} {ms:12.1f}   {results['ratio_to_residual'][name]:9.2f}"
                  for name, ms in results["latency_ms"].items()]
        return "\n".join(lines)
    if results["kind"] == "training":
        return (
            f"training ({where}, T={results['time_steps']}): batch {results['batch_size']} x "
            f"{results['dialogue_length']} utterances, median step {results['step_ms']:.0f} ms "
            f"({results['dialogues_per_s']:.1f} dialogues/s, median of {results['steps']})"
        )
    lines = [
        f"forward latency ({where}, {results['parameters'] / 1e6:.1f}M parameters): one dialogue of "
        f"{results['dialogue_length']} utterances, median of {results['repeats']}",
        "      T   latency (ms)",
    ]
    lines += [f"  {steps:5d}   {ms:12.1f}" for steps, ms in results["latency_ms"].items()]
    return "\n".join(lines)
