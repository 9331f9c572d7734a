"""Speed of the text encoders: the cost per utterance of turning a dialogue's turns into features.

Encodes the first dialogues of a MELD-format CSV (with their context, as serving does) several times and
reports the median; loading time is reported apart, since the app pays it once at start-up. Stage 1's training
steps are timed too, in float32 and under bfloat16 autocast (`--text-bf16` in train.meld).
"""

import statistics
import time
from pathlib import Path

import torch
from torch import nn

from spikemo.data.conversation import Conversation
from spikemo.data.labels import MELD_LABELS
from spikemo.data.meld import read_meld_csv
from spikemo.errors import InputError
from spikemo.text.encoder import TextEncoder
from spikemo.text.finetune import (
    TextFinetuneConfig,
    labelled_utterances,
    optimizer_and_schedule,
    prepare_training,
    training_step,
)
from spikemo.text.onnx_runtime import load_text_encoder


def _first_dialogues(csv_path: str | Path, utterances: int) -> list[Conversation]:
    """The CSV's first dialogues, enough of them to hold at least `utterances` utterances."""
    conversations, count = [], 0
    for conversation in read_meld_csv(csv_path):
        if count >= utterances:
            break
        conversations.append(conversation)
        count += len(conversation)
    return conversations


def bench_text_encoder(name_or_path: str, csv_path: str | Path, utterances: int = 200, repeats: int = 3,
                       runtime: str = "onnx") -> dict:
    """{"encoder", "runtime", "load_seconds", "utterances", "ms_per_utterance" (median of `repeats` encodings)},
    the encoder served on the CPU by `runtime` ("onnx", as the app serves a folder, or "torch")."""
    conversations = _first_dialogues(csv_path, utterances)
    count = sum(len(c) for c in conversations)
    started = time.perf_counter()
    encoder = load_text_encoder(name_or_path, "cpu", runtime, torch.get_num_threads())
    load_seconds = time.perf_counter() - started
    encoder.encode_conversations(conversations)  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        encoder.encode_conversations(conversations)
        times.append(time.perf_counter() - started)
    return {
        "encoder": name_or_path,
        "runtime": encoder.runtime,
        "load_seconds": round(load_seconds, 2),
        "utterances": count,
        "ms_per_utterance": round(1000 * statistics.median(times) / count, 2),
    }


def format_text_bench(result: dict) -> str:
    return (
        f"text encoder {result['encoder']} on {result['runtime']}: {result['ms_per_utterance']:.2f} ms per utterance "
        f"(median of runs over {result['utterances']} utterances in context), loaded in {result['load_seconds']:.1f} s"
    )


def bench_text_training(name_or_path: str, csv_path: str | Path, lora_rank: int | None = None,
                        batch_size: int = 32, steps: int = 3, repeats: int = 3) -> dict:
    """Stage 1's cost per training utterance (forward, backward, optimiser step), in float32 and under bfloat16
    autocast, on the first labelled utterances of a MELD-format CSV.

    Each precision gets a fresh encoder, one warm-up step, then `repeats` timings of `steps` steps.
    Returns {"encoder", "lora_rank", "batch_size", "ms_per_utterance": {"float32": ms, "bfloat16": ms}}.
    """
    conversations = _first_dialogues(csv_path, batch_size * steps)
    timings = {}
    for precision, bf16 in (("float32", False), ("bfloat16", True)):
        config = TextFinetuneConfig(batch_size=batch_size, lora_rank=lora_rank, bf16=bf16)
        seconds = _time_training_steps(name_or_path, conversations, config, steps, repeats)
        timings[precision] = round(1000 * seconds / (batch_size * steps), 2)
    return {"encoder": name_or_path, "lora_rank": lora_rank, "batch_size": batch_size, "ms_per_utterance": timings}


def _time_training_steps(name_or_path: str, conversations: list[Conversation], config: TextFinetuneConfig,
                         steps: int, repeats: int) -> float:
    """Median seconds of `steps` training steps of a fresh encoder, after one warm-up step."""
    encoder = TextEncoder.from_pretrained(name_or_path)
    head, parameters = prepare_training(encoder, len(MELD_LABELS), config)
    optimizer, _ = optimizer_and_schedule(parameters, config, total_steps=steps * (repeats + 1))
    items, labels = labelled_utterances(encoder, conversations, MELD_LABELS)
    if len(items) < config.batch_size * steps:
        raise InputError(f"the CSV's labelled utterances ({len(items)}) do not fill {steps} batches")
    targets = torch.tensor(labels)
    loss_fn = nn.CrossEntropyLoss()
    encoder.model.train()

    def step(index: int) -> None:
        rows = list(range(index * config.batch_size, (index + 1) * config.batch_size))
        training_step(encoder, head, loss_fn, optimizer, parameters, [items[i] for i in rows], targets[rows],
                      config.bf16)

    step(0)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for index in range(steps):
            step(index)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def format_text_training_bench(result: dict) -> str:
    how = f"LoRA rank {result['lora_rank']}" if result["lora_rank"] else "full fine-tune"
    ms = result["ms_per_utterance"]
    return (f"stage 1 training {result['encoder']} ({how}, batches of {result['batch_size']}): "
            f"{ms['float32']:.1f} ms per utterance in float32, {ms['bfloat16']:.1f} ms under bfloat16 autocast "
            f"({ms['float32'] / ms['bfloat16']:.2f}x)")
