"""What DSWA changes in a trained checkpoint: its decisions on a labelled MELD CSV with and without DSWA.

    python -m train.dswa_effect                    # shipped checkpoint on MELD dev -> train/results/dswa_effect.*
    python -m train.dswa_effect --checkpoint DIR --csv CSV --out-dir DIR
"""

import argparse
import json
import sys
from pathlib import Path

import torch

from spikemo.data.meld import read_meld_csv
from spikemo.errors import run_command
from spikemo.model.checkpoint import load_checkpoint
from spikemo.paths import DEFAULT_CHECKPOINT, REPO_ROOT, repo_relative
from spikemo.training.dswa_ablation import dswa_effect
from spikemo.training.evaluate import encode_transcripts

RESULTS_DIR = REPO_ROOT / "train" / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m train.dswa_effect", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--csv", type=Path, default=REPO_ROOT / "data" / "meld" / "dev_sent_emo.csv")
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    return parser.parse_args(argv)


def render_markdown(effect: dict, checkpoint: str, csv: str) -> str:
    """The effect as a short markdown report: headline counts, then per-class F1 with and without DSWA."""
    labels = list(effect["with_dswa"]["per_class_f1"])
    rows = [
        "| | weighted F1 | accuracy | " + " | ".join(labels) + " |",
        "|" + "---|" * (3 + len(labels)),
    ]
    for name in ("with_dswa", "without_dswa"):
        scores = effect[name]
        per_class = " | ".join(f"{scores['per_class_f1'][label]:.2f}" for label in labels)
        rows.append(f"| {name.replace('_', ' ')} | {scores['weighted_f1']:.2f} | {scores['accuracy']:.2f} | "
                    f"{per_class} |")
    ratios = ", ".join(f"{m} {r:.3f}" for m, r in effect["weight_ratio_median"].items())
    return "\n".join([
        "# What DSWA changes in the trained model",
        "",
        f"Checkpoint `{checkpoint}` on `{csv}`, made by `python -m train.dswa_effect`. The same trained model "
        "predicts every utterance twice: as trained, and with its DSWA step skipped (features pass unchanged). "
        "DSWA multiplies each utterance's features by 1 + w, where w is a softmax over the dialogue's "
        "utterances (per channel), so the weights of a dialogue sum to 1.",
        "",
        f"- Predictions that change: {effect['changed']} of {effect['utterances']} utterances "
        f"({effect['changed_percent']:.2f} %).",
        "- Mean shift of the predicted distribution (total variation): "
        f"{effect['mean_probability_shift_percent']:.3f} %.",
        f"- Median over dialogues of the largest / smallest DSWA utterance weight: {ratios} (1 would be uniform).",
        "",
        *rows,
        "",
    ])


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    checkpoint = load_checkpoint(args.checkpoint)
    conversations = read_meld_csv(args.csv)
    encode_transcripts(conversations, checkpoint, torch.device("cpu"), progress=True)
    effect = dswa_effect(checkpoint.model, conversations)
    checkpoint_name = repo_relative(args.checkpoint)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "dswa_effect.json").write_text(json.dumps(
        {"checkpoint": checkpoint_name, "csv": args.csv.name, **effect}, indent=1) + "\n")
    (args.out_dir / "dswa_effect.md").write_text(render_markdown(effect, checkpoint_name, args.csv.name))
    print(json.dumps({k: effect[k] for k in ("changed", "utterances", "mean_probability_shift_percent")}))
    return effect


if __name__ == "__main__":
    sys.exit(run_command(main))
