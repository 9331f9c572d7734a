"""How long scoring a MELD-format CSV takes, as the Inspect tab scores it (score_csv_and_without_dswa): the checkpoint
and its text encoder already loaded, the encoder run over every turn, SpikEmo, then every turn again with the DSWA
step skipped.

    python -m spikemo bench scoring [--csv data/meld/dev_sent_emo.csv] [--repeats 3] [--text-runtime onnx]
                                    [--compare-runtimes]

Each repeat scores the file twice: first with an empty feature cache (the text features are computed, as on a
file's first scoring), then again with the features that first scoring kept (as on every later one, across
restarts too). The figures are medians. The text encoder runs as the app runs it (ONNX Runtime on a CPU, unless
--text-runtime torch); --compare-runtimes scores the file once more with torch's encoder and reports how many
decisions, and how much weighted F1, the runtime changes.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch

from spikemo.data.conversation import Conversation
from spikemo.errors import InputError
from spikemo.model.checkpoint import Checkpoint, load_checkpoint
from spikemo.runtime import pick_device
from spikemo.text.encoder import UtteranceEncoder
from spikemo.text.onnx_runtime import load_text_encoder
from spikemo.training.evaluate import score_csv, score_csv_and_without_dswa


def _score_seconds(csv: Path, checkpoint: Checkpoint, encoder: UtteranceEncoder, device: torch.device,
                   feature_cache: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    _, metrics, _ = score_csv_and_without_dswa(csv, checkpoint, device, encoder, feature_cache)
    return time.perf_counter() - started, metrics


def _decisions(conversations: list[Conversation]) -> list[str | None]:
    return [u.prediction.emotion if u.prediction else None for c in conversations for u in c.utterances]


def runtime_agreement(csv: Path, checkpoint: Checkpoint, encoder: UtteranceEncoder, device: torch.device) -> dict:
    """How `encoder`'s features change the checkpoint's decisions on `csv` against torch's encoder:
    {"runtime", "changed_decisions", "turns", "weighted_f1" (this runtime), "torch_weighted_f1"}."""
    served, metrics = score_csv(csv, checkpoint, device, text_encoder=encoder)
    reference, torch_metrics = score_csv(csv, checkpoint, device, text_encoder=load_text_encoder(
        checkpoint.text_encoder_dir, device, runtime="torch"))
    changed = sum(a != b for a, b in zip(_decisions(served), _decisions(reference)))
    return {"runtime": encoder.runtime, "changed_decisions": changed, "turns": len(_decisions(served)),
            "weighted_f1": metrics["weighted_f1"], "torch_weighted_f1": torch_metrics["weighted_f1"]}


def bench_scoring(csv: str | Path, checkpoint_dir: str | Path | None = None, repeats: int = 3,
                  device: str | None = None, text_runtime: str = "onnx", compare_runtimes: bool = False) -> dict:
    """Median seconds of `repeats` first scorings (features computed) and later scorings (features cached), with
    the text encoder served by `text_runtime` (on a CPU; a GPU runs torch); with `compare_runtimes`, also
    runtime_agreement's figures under "agreement"."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    torch_device = pick_device(device)
    checkpoint = load_checkpoint(checkpoint_dir, device=torch_device)
    if checkpoint.text_encoder_dir is None:
        raise InputError("this checkpoint has no text encoder, so it cannot score a transcript on its own")
    encoder = load_text_encoder(checkpoint.text_encoder_dir, torch_device, text_runtime, torch.get_num_threads())
    first, later = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="spikemo-features-") as cache:
            seconds, metrics = _score_seconds(Path(csv), checkpoint, encoder, torch_device, Path(cache))
            first.append(seconds)
            seconds, cached = _score_seconds(Path(csv), checkpoint, encoder, torch_device, Path(cache))
            later.append(seconds)
    if not cached["text_features_cached"] or cached["weighted_f1"] != metrics["weighted_f1"]:
        raise RuntimeError("the second scoring did not read the first one's features back, or scored otherwise")
    result = {"csv": Path(csv).name, "turns": metrics["n_utterances"], "dialogues": metrics["n_dialogues"],
              "weighted_f1": metrics["weighted_f1"], "device": str(torch_device), "text_runtime": encoder.runtime,
              "repeats": repeats, "first_seconds": first, "cached_seconds": later,
              "median_first_seconds": statistics.median(first), "median_cached_seconds": statistics.median(later)}
    if compare_runtimes:
        result["agreement"] = runtime_agreement(Path(csv), checkpoint, encoder, torch_device)
    return result


def format_scoring_bench(result: dict) -> str:
    """A short human-readable report of `bench_scoring`'s result."""
    return "\n".join([
        f"scoring {result['csv']} ({result['turns']} labelled turns, {result['dialogues']} dialogues) on "
        f"{result['device']}, text encoder on {result['text_runtime']}, as the Inspect tab does (DSWA compared too), "
        f"median of {result['repeats']}",
        f"  first scoring (text features computed): {result['median_first_seconds']:.1f} s (runs: "
        + ", ".join(f"{s:.1f}" for s in result["first_seconds"]) + ")",
        f"  later scorings (text features from the cache): {result['median_cached_seconds']:.1f} s (runs: "
        + ", ".join(f"{s:.1f}" for s in result["cached_seconds"]) + ")",
        *([] if "agreement" not in result else [_format_agreement(result["agreement"])]),
    ])


def _format_agreement(agreement: dict) -> str:
    return (f"  {agreement['runtime']} against torch's encoder: {agreement['changed_decisions']} of "
            f"{agreement['turns']} decisions changed, weighted F1 {agreement['weighted_f1']:.2f} against "
            f"{agreement['torch_weighted_f1']:.2f}")
