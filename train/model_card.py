"""Rewrite a trained checkpoint's model card (spikemo.training.model_card) after training.

    python -m train.model_card CHECKPOINT --choice NOTE [--choice NOTE ...]   # record choices made on dev after
                                                                              # training, and rewrite the card
    python -m train.model_card CHECKPOINT --rescore-dev data/meld/dev_sent_emo.csv   # score dev again here (CPU)
"""

import argparse
import sys
from pathlib import Path

from spikemo.errors import run_command
from spikemo.training.model_card import record_choices, rescore_dev


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m train.model_card", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--choice", action="append", metavar="NOTE",
                        help="a choice made on dev and where it was measured (repeatable; replaces the list)")
    parser.add_argument("--rescore-dev", type=Path, metavar="CSV",
                        help="score this dev CSV again on this machine's CPU and make it the card's dev result")
    args = parser.parse_args(argv)
    if not args.choice and not args.rescore_dev:
        parser.error("give --choice NOTE and/or --rescore-dev CSV")
    metadata = record_choices(args.checkpoint, args.choice) if args.choice else None
    if args.rescore_dev:
        metadata = rescore_dev(args.checkpoint, args.rescore_dev)
    return metadata


if __name__ == "__main__":
    sys.exit(run_command(main))
