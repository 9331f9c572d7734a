"""How long scoring a MELD-format CSV takes, as the Inspect tab scores it (score_csv_and_without_dswa): the checkpoint
and its text encoder already loaded, the encoder run over every turn, SpikEmo, then every turn again with the DSWA
step skipped.

    python -m spikemo bench scoring [--csv data/meld/dev_sent_emo.csv] [--repeats 3]

Each repeat scores the file twice: first with an empty feature cache (the text features are computed, as on a
file's first scoring), then again with the features that first scoring kept (as on every later one, across
restarts too). The figures are medians.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch

from spikemo.errors import InputError
from spikemo.model.checkpoint import Checkpoint, load_checkpoint
from spikemo.runtime import pick_device
from spikemo.text.encoder import TextEncoder
from spikemo.training.evaluate import score_csv_and_without_dswa


def _score_seconds(csv: Path, checkpoint: Checkpoint, encoder: TextEncoder, device: torch.device,
                   feature_cache: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    _, metrics, _ = score_csv_and_without_dswa(csv, checkpoint, device, encoder, feature_cache)
    return time.perf_counter() - started, metrics


def bench_scoring(csv: str | Path, checkpoint_dir: str | Path | None = None, repeats: int = 3,
                  device: str | None = None) -> dict:
    """Median seconds of `repeats` first scorings (features computed) and later scorings (features cached)."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    torch_device = pick_device(device)
    checkpoint = load_checkpoint(checkpoint_dir, device=torch_device)
    if checkpoint.text_encoder_dir is None:
        raise InputError("this checkpoint has no text encoder, so it cannot score a transcript on its own")
    encoder = TextEncoder.from_pretrained(str(checkpoint.text_encoder_dir), device=str(torch_device))
    first, later = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="spikemo-features-") as cache:
            seconds, metrics = _score_seconds(Path(csv), checkpoint, encoder, torch_device, Path(cache))
            first.append(seconds)
            seconds, cached = _score_seconds(Path(csv), checkpoint, encoder, torch_device, Path(cache))
            later.append(seconds)
    if not cached["text_features_cached"] or cached["weighted_f1"] != metrics["weighted_f1"]:
        raise RuntimeError("the second scoring did not read the first one's features back, or scored otherwise")
    return {"csv": Path(csv).name, "turns": metrics["n_utterances"], "dialogues": metrics["n_dialogues"],
            "weighted_f1": metrics["weighted_f1"], "device": str(torch_device), "repeats": repeats,
            "first_seconds": first, "cached_seconds": later, "median_first_seconds": statistics.median(first),
            "median_cached_seconds": statistics.median(later)}


def format_scoring_bench(result: dict) -> str:
    """A short human-readable report of `bench_scoring`'s result."""
    return "\n".join([
        f"scoring {result['csv']} ({result['turns']} labelled turns, {result['dialogues']} dialogues) on "
        f"{result['device']}, as the Inspect tab does (DSWA compared too), median of {result['repeats']}",
        f"  first scoring (text features computed): {result['median_first_seconds']:.1f} s (runs: "
        + ", ".join(f"{s:.1f}" for s in result["first_seconds"]) + ")",
        f"  later scorings (text features from the cache): {result['median_cached_seconds']:.1f} s (runs: "
        + ", ".join(f"{s:.1f}" for s in result["cached_seconds"]) + ")",
    ])
