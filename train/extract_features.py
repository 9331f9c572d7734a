"""Extract per-utterance features of MELD's raw clips into a feature store (spikemo.data.feature_store).

    python -m train.extract_features --clips MELD.Raw/train_splits --csv train_sent_emo.csv --store features/train
    python -m train.extract_features ... --shard 0/4     # one of four processes or machines (0-based)
    python -m train.extract_features ... --modalities text --checkpoint assets/checkpoints/spikemo-meld-text

Re-running skips what is already stored; failed clips are listed at the end, not fatal. Prints a JSON
summary of this run on stdout, progress on stderr.
"""

import argparse
import json
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm

from spikemo.data.feature_store import Shard, summarize_store
from spikemo.data.labels import MODALITIES
from spikemo.errors import CheckpointError, run_command
from spikemo.model.checkpoint import load_checkpoint
from spikemo.paths import DEFAULT_CHECKPOINT
from spikemo.text.encoder import TextEncoder
from spikemo.text.packaged import default_text_encoder_path
from spikemo.video.clip_features import ExtractionConfig, extract_features


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m train.extract_features", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, required=True, help="folder of dia{D}_utt{U}.mp4 clips")
    parser.add_argument("--csv", type=Path, required=True, help="the split's MELD-format CSV")
    parser.add_argument("--store", type=Path, required=True, help="feature store folder (one per split)")
    parser.add_argument("--checkpoint", type=Path,
                        help="checkpoint whose text encoder makes the text features (default: the shipped "
                             "checkpoint's when present, else the offline base encoder)")
    parser.add_argument("--text-encoder", help="a text encoder folder or id instead of a checkpoint's")
    parser.add_argument("--shard", default="0/1", help="I/N: this process takes dialogues with id %% N == I")
    parser.add_argument("--modalities", nargs="+", default=list(MODALITIES), choices=MODALITIES)
    parser.add_argument("--fps", type=float, default=2.0, help="frames sampled per second of each clip")
    parser.add_argument("--retry-failed", action="store_true", help="re-extract dialogues with failed clips")
    parser.add_argument("--threads", type=int, help="torch threads for the text encoder (default: torch's)")
    return parser.parse_args(argv)


def resolve_text_encoder(args: argparse.Namespace) -> str:
    """--text-encoder, else the checkpoint's encoder, else the shipped checkpoint's, else the base encoder."""
    if args.text_encoder:
        return args.text_encoder
    if args.checkpoint is not None:
        folder = load_checkpoint(args.checkpoint).text_encoder_dir
        if folder is None:
            raise CheckpointError(f"{args.checkpoint} has no text encoder; give --text-encoder")
        return str(folder)
    if DEFAULT_CHECKPOINT.is_dir():
        folder = load_checkpoint(DEFAULT_CHECKPOINT).text_encoder_dir
        if folder is not None:
            return str(folder)
    return default_text_encoder_path()


def run(args: argparse.Namespace) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    shard = Shard.parse(args.shard)
    encoder = None
    if "text" in args.modalities:
        encoder = TextEncoder.from_pretrained(resolve_text_encoder(args))
        print(f"text encoder: {encoder.config.name_or_path}", file=sys.stderr)
    bar = tqdm(desc=f"clips, shard {shard.index}/{shard.count}", unit="dialogue", file=sys.stderr)

    def progress(done: int, total: int, dialogue_id: str) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        report = extract_features(
            args.clips, args.csv, args.store, args.modalities, encoder, shard,
            ExtractionConfig(frames_per_second=args.fps, retry_failed=args.retry_failed), progress,
        )
    finally:
        bar.close()
    # this shard's work, then the whole store as it stands (other shards may be writing to it too)
    return {
        "shard": f"{shard.index}/{shard.count}",
        "store": str(args.store),
        **report.to_dict(),
        "store_contents": summarize_store(args.store),
    }


def print_summary(summary: dict) -> None:
    """The run's summary as JSON on stdout, and a count of the failed clips on stderr."""
    print(json.dumps(summary, indent=2))
    if summary["failures"]:
        print(f"{len(summary['failures'])} clip(s) could not be used; see \"failures\" above", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_command(lambda: print_summary(run(args)))


if __name__ == "__main__":
    sys.exit(main())
