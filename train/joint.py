"""SpikEmo trained on two corpora at once: MELD transcripts (text; audio absent) and RAVDESS acted speech
(audio and its sentence), one model reading whichever modalities each dialogue carries.

    python -m train.joint --ravdess DIR             # leave-actors-out folds: MELD dev + held-out RAVDESS
    python -m train.joint --ravdess DIR --final OUT # one model on every given actor, saved as a checkpoint
    python -m train.joint --ravdess DIR --quick     # the real loop on a tiny subset (what the tests run)
    python -m train.joint --reports-only            # joint.md again from the records in --results-dir

Each RAVDESS actor's clips are shuffled and cut into single-speaker pseudo-dialogues of `--dialogue-length`
clips, each turn with its ComParE functionals (as the video pipeline extracts them) and the sentence's text
features from the same fine-tuned encoder as MELD's. Batches hold one corpus each (spikemo.data.batching),
so a MELD batch trains the text path alone and a RAVDESS batch both paths; `--modality-dropout` leaves one
modality out of a two-modality batch now and then, so the audio path also learns to decide alone.

Fold k holds out the actors of fold k (as train.voice splits them) and selects its epoch on MELD dev and
the first two actors of fold k+1 (removed from its training set): the selection score is the mean of the
two corpora's weighted F1. No clip is ever scored by a model that heard its actor. One JSON per fold goes
to `--results-dir`/runs (a finished fold is skipped on the next call), and the report to
`--results-dir`/joint.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

from spikemo.data.conversation import Conversation, without_modality
from spikemo.data.meld import read_meld_csv
from spikemo.data.ravdess import CALM_POLICIES, RavdessClip, actors_of, find_clips, ravdess_conversations, select_actors
from spikemo.errors import InputError, run_command
from spikemo.model.configuration import LossConfig, SpikEmoConfig, TrainConfig
from spikemo.model.modeling import SpikEmoModel, read_pretrained_config
from spikemo.paths import DEFAULT_CHECKPOINT, DEFAULT_DATA_DIR, REPO_ROOT, repo_relative
from spikemo.text.encoder import TextEncoder
from spikemo.training.cross_validation import actor_folds
from spikemo.training.model_card import save_scored_checkpoint
from spikemo.training.summary import mean_std
from spikemo.training.trainer import evaluate_model
from spikemo.training.two_corpus import (
    held_out_scores,
    joint_model_config,
    majority_scores,
    short_metrics,
    train_joint,
    validation_actors,
)
from spikemo.video.voice_emotion import clip_features

RESULTS_DIR = REPO_ROOT / "train" / "results" / "joint"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m train.joint", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ravdess", type=Path, help="RAVDESS speech folder (16 kHz clips)")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT,
                        help="text model whose fine-tuned encoder makes the text features and whose "
                             "architecture the joint model keeps")
    parser.add_argument("--train-csv", type=Path, default=DEFAULT_DATA_DIR / "train_sent_emo.csv")
    parser.add_argument("--dev-csv", type=Path, default=DEFAULT_DATA_DIR / "dev_sent_emo.csv")
    parser.add_argument("--calm", choices=CALM_POLICIES, default="neutral")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only-folds", type=int, nargs="+", help="run just these folds (0-based)")
    parser.add_argument("--dialogue-length", type=int, default=8, help="clips per RAVDESS pseudo-dialogue")
    parser.add_argument("--modality-dropout", type=float, default=0.3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--final", type=Path, metavar="OUT",
                        help="instead of the folds: train on every given actor (selection on MELD dev and two "
                             "of them) and save the checkpoint to OUT")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--quick", action="store_true", help="tiny subset and model: checks the loop runs")
    parser.add_argument("--reports-only", action="store_true",
                        help="rebuild joint.md from the fold records and references in --results-dir")
    args = parser.parse_args(argv)
    if args.ravdess is None and not args.reports_only:
        parser.error("--ravdess is required (or --reports-only)")
    return args


@dataclasses.dataclass
class JointData:
    """Everything a fold needs: MELD train/dev with text features, RAVDESS pseudo-dialogues with text and audio."""

    meld_train: list[Conversation]
    meld_dev: list[Conversation]
    ravdess: list[Conversation]
    source: str


def load_data(args: argparse.Namespace, clips: list[RavdessClip], encoder: TextEncoder) -> JointData:
    meld_train, meld_dev = read_meld_csv(args.train_csv), read_meld_csv(args.dev_csv)
    if args.quick:
        meld_train, meld_dev = meld_train[:12], meld_dev[:6]
    compare, _ = clip_features(clips, progress=True)
    ravdess = ravdess_conversations(clips, compare, args.dialogue_length, seed=0)
    encoder.encode_conversations(meld_train + meld_dev + ravdess, progress=True)
    source = (f"MELD transcripts ({args.train_csv.name}, {args.dev_csv.name}) and {len(clips)} RAVDESS clips of "
              f"{len(actors_of(ravdess))} actors (calm -> {args.calm}); text features of "
              f"`{repo_relative(args.checkpoint)}/text_encoder`")
    return JointData(meld_train, meld_dev, ravdess, source)


def configs(args: argparse.Namespace, metadata: dict, text_dim: int, audio_dim: int):
    """Model, loss and training configs: the text checkpoint's, with an audio path and this run's schedule."""
    model_config = joint_model_config(SpikEmoConfig.from_dict(metadata["model"]), text_dim, audio_dim)
    loss_config = LossConfig.from_dict(metadata["loss"])
    train_config = dataclasses.replace(TrainConfig.from_dict(metadata["train"]), epochs=args.epochs,
                                       batch_size=args.batch_size, modality_dropout=args.modality_dropout)
    if args.quick:
        model_config, train_config = model_config.tiny(), train_config.tiny()
    return model_config, loss_config, train_config


def run_fold(k: int, folds: list[list[int]], data: JointData, model_config, loss_config, train_config,
             patience: int) -> dict:
    """Train fold k (seed k) and score it; returns its record."""
    held, validation = set(folds[k]), validation_actors(folds, k)
    training = actors_of(data.ravdess) - held - validation
    started = time.perf_counter()
    result = train_joint(data.meld_train, data.meld_dev, select_actors(data.ravdess, training),
                         select_actors(data.ravdess, validation), model_config, loss_config,
                         dataclasses.replace(train_config, seed=k), patience)
    return {
        "fold": k,
        "seed": k,
        "held_out_actors": sorted(held),
        "validation_actors": sorted(validation),
        "training_actors": sorted(training),
        "best_epoch": result.best_epoch,
        "history": result.history,
        "scores": held_out_scores(result.model, data.meld_dev, select_actors(data.ravdess, held)),
        "seconds": round(time.perf_counter() - started, 1),
    }


def train_final(args: argparse.Namespace, argv: list[str], folds: list[list[int]], data: JointData, metadata: dict,
                encoder: TextEncoder, model_config, loss_config, train_config) -> dict:
    """One model on every actor but two (the selection set), saved as a checkpoint with its card."""
    validation = validation_actors(folds, len(folds) - 1)
    training = actors_of(data.ravdess) - validation
    started = time.perf_counter()
    result = train_joint(data.meld_train, data.meld_dev, select_actors(data.ravdess, training),
                         select_actors(data.ravdess, validation), model_config, loss_config, train_config,
                         args.patience)
    final = {
        **{k: v for k, v in metadata.items() if k not in ("format", "format_version", "model", "text_encoder")},
        "modalities": list(model_config.modalities),
        "train": train_config.to_dict(),
        "training_data": {**metadata["training_data"], "quick": args.quick,
                          "ravdess": {"actors": sorted(training), "validation_actors": sorted(validation),
                                      "calm": args.calm, "dialogue_length": args.dialogue_length,
                                      "licence": "CC BY-NC-SA 4.0"}},
        "metrics": {**metadata["metrics"], "stage2_history": result.history, "stage2_best_epoch": result.best_epoch},
        "timings": {**metadata["timings"], "joint_seconds": round(time.perf_counter() - started, 1),
                    "threads": args.threads},
        "command": "python -m train.joint " + " ".join(argv),
        "model": model_config.to_dict(),
    }
    return save_scored_checkpoint(args.final, result.model, final, encoder, args.dev_csv)


def text_only_reference(checkpoint: SpikEmoModel, ravdess: list[Conversation]) -> dict:
    """The text model on every RAVDESS clip: it reads only the sentence, so this is its floor on acted speech."""
    return short_metrics(evaluate_model(checkpoint, without_modality(ravdess, "audio")))


def render_report(records: list[dict], source: str, text_reference: dict, voice: dict | None,
                  meld_text_runs: list[float], chance_scores: dict) -> str:
    """joint.md: one row per fold, their mean ± std, and the references on the same data."""
    columns = [("meld_dev", "weighted_f1"), ("ravdess_text_audio", "accuracy"), ("ravdess_text_audio", "weighted_f1"),
               ("ravdess_audio_only", "accuracy"), ("ravdess_text_only", "accuracy")]
    rows = [
        [str(r["fold"]), ", ".join(map(str, r["held_out_actors"])), str(r["best_epoch"]),
         *(f"{r['scores'][key][metric]:.2f}" for key, metric in columns), f"{r['seconds'] / 60:.1f}"]
        for r in records
    ]
    rows.append(["mean ± std", "", "",
                 *(mean_std([r["scores"][key][metric] for r in records]) for key, metric in columns), ""])
    references = [
        [f"chance: always {chance_scores['label']}", "–", f"{chance_scores['accuracy']:.2f}",
         f"{chance_scores['weighted_f1']:.2f}"],
        ["SpikEmo text only: MELD dev over the seeds of train/results/dswa-residual/table4.md (the shipped "
         "variant); RAVDESS: the shipped checkpoint on every clip's sentence", mean_std(meld_text_runs),
         f"{text_reference['accuracy']:.2f}", f"{text_reference['weighted_f1']:.2f}"],
    ]
    if voice:
        references.append(["voice-only MLP, leave-actors-out (`assets/voice/ravdess-compare`, train/results/voice.md)",
                           "not applicable: MELD here has no audio",
                           f"{voice['accuracy_mean']:.2f} ± {voice['accuracy_std']:.2f}",
                           f"{voice['weighted_f1_mean']:.2f} ± {voice['weighted_f1_std']:.2f}"])
    header = ["fold", "held-out actors", "best epoch", "MELD dev wF1", "RAVDESS acc (text+audio)",
              "RAVDESS wF1 (text+audio)", "RAVDESS acc (audio only)", "RAVDESS acc (text only)", "minutes"]
    return f"""# SpikEmo on MELD text and RAVDESS speech at once (issue 11)

Data: {source}. Made by `python -m train.joint --ravdess RAVDESS_DIR` (per-fold records in `runs/`).
Fold k: seed k, RAVDESS actors of fold k held out, epoch selected on the mean of MELD dev and two validation
actors' weighted F1. Held-out actors' clips are scored three ways: with text and audio (as the app reads a
real clip), audio only and text only (the sentence, the same two for every emotion).

{_table(header, rows)}

References on the same data:

{_table(["model", "MELD dev wF1", "RAVDESS accuracy", "RAVDESS wF1"], references)}
"""


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


REFERENCES_FILE = "references.json"


def write_report(args: argparse.Namespace) -> str:
    """joint.md from the fold records, the references recorded beside them and the voice model's results."""
    records = [json.loads(p.read_text()) for p in sorted((args.results_dir / "runs").glob("fold*.json"))]
    references_path = args.results_dir / REFERENCES_FILE
    if not records or not references_path.is_file():
        raise InputError(f"nothing to report in {args.results_dir}: it needs runs/fold*.json and {REFERENCES_FILE}")
    references = json.loads(references_path.read_text())
    voice_path = REPO_ROOT / "train" / "results" / "voice.json"
    voice = json.loads(voice_path.read_text())["chosen"]["cv"] if voice_path.is_file() and not args.quick else None
    meld_text_runs = [json.loads(p.read_text())["dev"]["weighted_f1"]
                      for p in sorted((REPO_ROOT / "train/results/dswa-residual/runs").glob("table4-full-seed*.json"))]
    report = render_report(records, records[0]["source"], references["text_only"], voice, meld_text_runs,
                           references["chance"])
    (args.results_dir / "joint.md").write_text(report)
    return report


def run_folds(args: argparse.Namespace, folds: list[list[int]], data: JointData, configs: tuple) -> None:
    """Train and record every requested fold that has no record yet."""
    runs_dir = args.results_dir / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    for k in args.only_folds if args.only_folds is not None else range(len(folds)):
        path = runs_dir / f"fold{k}.json"
        if path.is_file():
            continue
        record = run_fold(k, folds, data, *configs, args.patience)
        record["source"] = data.source
        path.write_text(json.dumps(record, indent=1) + "\n")


def main(argv: list[str] | None = None) -> list[dict] | str:
    args = parse_args(argv)
    if args.reports_only:
        report = write_report(args)
        print(report)
        return report
    torch.set_num_threads(args.threads)
    clips = find_clips(args.ravdess, calm=args.calm)  # bad data fails here, before any model loads
    metadata = read_pretrained_config(args.checkpoint)
    encoder = TextEncoder.from_pretrained(str(args.checkpoint / "text_encoder"))
    data = load_data(args, clips, encoder)
    audio_dim = int(data.ravdess[0].utterances[0].features["audio"].shape[0])
    model_config, loss_config, train_config = configs(args, metadata, encoder.dim, audio_dim)
    folds = actor_folds(sorted(actors_of(data.ravdess)), args.folds)
    if len(folds) < 3:
        raise InputError(f"leave-actors-out needs at least 3 actors (held out, validation, training), got "
                         f"{len(actors_of(data.ravdess))}")
    if args.final:
        command_line = argv if argv is not None else sys.argv[1:]
        final = train_final(args, command_line, folds, data, metadata, encoder, model_config, loss_config,
                            train_config)
        print(json.dumps({"dev": {k: v for k, v in final["metrics"]["dev"].items() if k != "per_class_f1"}}))
        return [final]
    run_folds(args, folds, data, (model_config, loss_config, train_config))
    shipped = SpikEmoModel.from_pretrained(args.checkpoint)
    references = {"text_only": text_only_reference(shipped, data.ravdess),
                  "chance": majority_scores(data.ravdess, shipped.config.labels)}
    (args.results_dir / REFERENCES_FILE).write_text(json.dumps(references, indent=1) + "\n")
    print(write_report(args))
    return [json.loads(p.read_text()) for p in sorted((args.results_dir / "runs").glob("fold*.json"))]


if __name__ == "__main__":
    sys.exit(run_command(main))
