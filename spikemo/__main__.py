"""Command line: `python -m spikemo {evaluate,bench} ...`."""

import argparse
import json
import sys

from spikemo.errors import SpikEmoError


def _evaluate(args: argparse.Namespace) -> None:
    from spikemo.evaluate import evaluate_csv

    result = evaluate_csv(args.csv, args.checkpoint, device=args.device, progress=True)
    print(json.dumps(result if args.confusion else {k: v for k, v in result.items() if k != "confusion"}))


def _bench(args: argparse.Namespace) -> None:
    from spikemo.bench import bench_model, bench_training, format_bench
    from spikemo.checkpoint import load_checkpoint, pick_device

    checkpoint = load_checkpoint(args.checkpoint)
    devices = ["cpu"] + (["cuda"] if pick_device().type == "cuda" else [])
    for device in devices:
        model = checkpoint.model.to(device)
        print(format_bench(bench_model(model, time_steps=tuple(args.time_steps), device=device)))
    print(format_bench(bench_training(checkpoint.model.to("cpu"), _loss_config(checkpoint))))


def _loss_config(checkpoint):
    from spikemo.config import LossConfig

    return LossConfig.from_dict(checkpoint.metadata["loss"]) if "loss" in checkpoint.metadata else LossConfig()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m spikemo",
        description="SpikEmo: emotion recognition in conversations with spiking temporal attention.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    evaluate = commands.add_parser(
        "evaluate", help="score a checkpoint on a MELD-format CSV; prints one JSON object"
    )
    evaluate.add_argument("--csv", required=True, help="MELD-format CSV with an Emotion column")
    evaluate.add_argument("--checkpoint", help="checkpoint folder (default: the shipped MELD checkpoint)")
    evaluate.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    evaluate.add_argument("--confusion", action="store_true", help="also print the confusion matrix")
    evaluate.set_defaults(run=_evaluate)

    bench = commands.add_parser("bench", help="speed benchmarks; prints medians of several runs")
    bench.add_argument("target", choices=["model"], help="model: forward latency per T and training throughput")
    bench.add_argument("--checkpoint", help="checkpoint folder (default: the shipped MELD checkpoint)")
    bench.add_argument("--time-steps", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    bench.set_defaults(run=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except SpikEmoError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
