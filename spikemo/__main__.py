"""Command line: `python -m spikemo {analyze,evaluate,evaluate-voice,bench} ...`."""

import argparse
import json
import os
import sys
from pathlib import Path

from spikemo.errors import exit_now, run_command
from spikemo.paths import DEFAULT_DATA_DIR

DIARIZERS = ("timeline", "pyannote", "words")  # spikemo.video.diarization's methods, without importing it


def _evaluate(args: argparse.Namespace) -> None:
    from spikemo.training.evaluate import evaluate_csv

    result = evaluate_csv(args.csv, args.checkpoint, device=args.device, progress=True)
    print(json.dumps(result if args.confusion else {k: v for k, v in result.items() if k != "confusion"}))


def _evaluate_voice(args: argparse.Namespace) -> None:
    from spikemo.video.voice_emotion import evaluate_voice

    result = evaluate_voice(args.data, args.model, progress=True)
    print(json.dumps(result if args.confusion else {k: v for k, v in result.items() if k != "confusion"}))


def _analyze(args: argparse.Namespace) -> None:
    from spikemo.data.transcript import TranscriptLimits, load_transcript
    from spikemo.errors import InputError
    from spikemo.video.media import MediaConfig, check_video

    # Bad files fail here, in a second, before the models load: the output name, every probe-level check of the
    # video (size, duration, readable, an audio track) and the transcript, with the limits the pipeline uses.
    if args.out is not None:
        if args.out.suffix.lower() not in (".json", ".csv"):
            raise InputError(f"--out {args.out}: the output must end in .json or .csv")
        if args.out.is_dir():
            raise InputError(f"--out {args.out} is a folder; give a file name ending in .json or .csv")
        folder = args.out.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise InputError(f"--out {args.out}: its folder {folder} does not exist or cannot be written")
    if args.num_speakers is not None and args.num_speakers < 1:
        raise InputError(f"--num-speakers must be at least 1, got {args.num_speakers}")
    media, limits = MediaConfig(), TranscriptLimits()
    info = check_video(args.video, media)
    if args.transcript is not None:
        load_transcript(args.transcript, info.duration, limits)

    from spikemo.video.analyzer import Analyzer, PipelineConfig
    from spikemo.video.diarization import DiarizationConfig
    from spikemo.video.speech import SpeechConfig

    def progress(fraction: float, message: str) -> None:
        print(f"[{fraction:4.0%}] {message}", file=sys.stderr, flush=True)

    speech = SpeechConfig(model=args.speech_model or SpeechConfig().model)
    config = PipelineConfig(media=media, transcript=limits, speech=speech,
                            diarization=DiarizationConfig(method=args.diarizer))
    progress(0.0, "loading the models")
    with Analyzer(args.checkpoint, config, device=args.device) as analyzer:
        analysis = analyzer.analyze(args.video, args.transcript, args.num_speakers, progress=progress)
    for warning in analysis.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.out is None:
        print(json.dumps(analysis.to_dict()))
    else:
        analysis.write(args.out)
        print(f"wrote {args.out}", file=sys.stderr)


def _bench(args: argparse.Namespace) -> None:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.target == "pipeline":
        _bench_pipeline(args)
        return
    if args.target == "text":
        _bench_text(args)
        return
    if args.target == "turns":
        _bench_turns(args)
        return
    if args.target == "diarization":
        _bench_diarization(args)
        return
    if args.target == "scoring":
        from spikemo.bench.scoring import bench_scoring, format_scoring_bench

        result = bench_scoring(args.csv, args.checkpoint, args.repeats, args.device, args.text_runtime,
                               args.compare_runtimes)
        print(format_scoring_bench(result))
        if args.json:
            print(json.dumps(result))
        return
    from spikemo.bench.model import bench_model, bench_training, bench_variants, format_bench
    from spikemo.model.checkpoint import load_checkpoint
    from spikemo.runtime import pick_device

    checkpoint = load_checkpoint(args.checkpoint)
    devices = ["cpu"] + (["cuda"] if pick_device().type == "cuda" else [])
    for device in devices:
        model = checkpoint.model.to(device)
        print(format_bench(bench_model(model, time_steps=tuple(args.time_steps), device=device)))
        print(format_bench(bench_variants(checkpoint.model.config, checkpoint.model.config.time_steps,
                                          device=device)))
    print(format_bench(bench_training(checkpoint.model.to("cpu"), _loss_config(checkpoint))))


def _bench_pipeline(args: argparse.Namespace) -> None:
    if args.cold:
        from spikemo.bench.cold import DEFAULT_VIDEO, bench_cold, format_cold_bench

        result = bench_cold(args.video or DEFAULT_VIDEO, args.repeats, args.speech_model)
        print(format_cold_bench(result))
        if args.json:
            print(json.dumps(result))
        return
    from spikemo.bench.pipeline import bench_pipeline, format_pipeline_bench
    from spikemo.video.analyzer import PipelineConfig
    from spikemo.video.speech import SpeechConfig

    config = PipelineConfig(speech=SpeechConfig(model=args.speech_model or SpeechConfig().model),
                            text_runtime=args.text_runtime)
    if args.no_voice_emotion:
        config.voice_model = None
    result = bench_pipeline(args.duration, args.repeats, args.checkpoint, config, device=args.device,
                            video_path=args.video)
    print(format_pipeline_bench(result))
    if args.json:
        print(json.dumps(result))


def _bench_text(args: argparse.Namespace) -> None:
    from spikemo.bench.text import (
        bench_text_encoder,
        bench_text_training,
        format_text_bench,
        format_text_training_bench,
    )

    for encoder in args.encoders:
        if args.training:
            result = bench_text_training(encoder, args.csv, lora_rank=args.lora_rank, repeats=args.repeats)
            print(format_text_training_bench(result))
        else:
            result = bench_text_encoder(encoder, args.csv, repeats=args.repeats, runtime=args.text_runtime)
            print(format_text_bench(result))
        if args.json:
            print(json.dumps(result))


def _bench_turns(args: argparse.Namespace) -> None:
    from spikemo.bench.turns import bench_turns, format_turn_bench

    result = bench_turns(args.models, args.conversations, args.seed, not args.estimate_speakers, args.threads or 0)
    print(format_turn_bench(result))
    if args.json:
        print(json.dumps(result))


def _bench_diarization(args: argparse.Namespace) -> None:
    from spikemo.bench.diarization import bench_diarization, format_diarization_bench
    from spikemo.errors import InputError
    from spikemo.video.diarization import DiarizationConfig
    from spikemo.video.speech import SpeechConfig

    if args.data is None:
        raise InputError("bench diarization needs --data DIR: recordings with reference RTTM files")
    if args.num_speakers is not None and args.num_speakers < 1:
        raise InputError(f"--num-speakers must be at least 1, got {args.num_speakers}")
    speech = SpeechConfig(model=args.speech_model or SpeechConfig().model, cpu_threads=args.threads or 0)
    result = bench_diarization(args.data, speech, args.num_speakers, DiarizationConfig(method=args.diarizer))
    print(format_diarization_bench(result))
    if args.json:
        print(json.dumps(result))


def _loss_config(checkpoint):
    from spikemo.model.configuration import LossConfig

    return LossConfig.from_dict(checkpoint.metadata["loss"]) if "loss" in checkpoint.metadata else LossConfig()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m spikemo",
        description="SpikEmo: emotion recognition in conversations with spiking temporal attention.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    analyze = commands.add_parser(
        "analyze", help="emotions of each utterance of a video; writes JSON (or CSV), progress on stderr"
    )
    analyze.add_argument("video", type=Path, help="video file with an audio track")
    analyze.add_argument("--transcript", type=Path, help=".srt, .vtt or MELD .csv transcript used instead of ASR")
    analyze.add_argument("--num-speakers", type=int, help="how many people speak (default: estimated)")
    analyze.add_argument("--speech-model", help="base (default), tiny.en, a faster-whisper model name or folder")
    analyze.add_argument("--diarizer", choices=list(DIARIZERS), default=DIARIZERS[0],
                         help="who speaks when: timeline (default, offline), pyannote (needs pyannote.audio and "
                              "$HF_TOKEN), words (the earlier word-window turns)")
    analyze.add_argument("--checkpoint", help="checkpoint folder (default: the shipped MELD checkpoint)")
    analyze.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    analyze.add_argument("--out", type=Path, help="output .json or .csv (default: JSON on stdout)")
    analyze.set_defaults(run=_analyze)

    evaluate = commands.add_parser(
        "evaluate", help="score a checkpoint on a MELD-format CSV; prints one JSON object"
    )
    evaluate.add_argument("--csv", required=True, help="MELD-format CSV with an Emotion column")
    evaluate.add_argument("--checkpoint", help="checkpoint folder (default: the shipped MELD checkpoint)")
    evaluate.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    evaluate.add_argument("--confusion", action="store_true", help="also print the confusion matrix")
    evaluate.set_defaults(run=_evaluate)

    evaluate_voice = commands.add_parser(
        "evaluate-voice", help="score the voice-emotion model on every RAVDESS clip of a folder; prints one JSON object"
    )
    evaluate_voice.add_argument("--data", required=True, type=Path, help="RAVDESS speech folder (Actor_NN/*.flac)")
    evaluate_voice.add_argument("--model", type=Path, help="voice-emotion asset folder (default: the shipped one)")
    evaluate_voice.add_argument("--confusion", action="store_true", help="also print the confusion matrix")
    evaluate_voice.set_defaults(run=_evaluate_voice)

    _add_bench_command(commands)
    return parser


def _add_bench_command(commands: argparse._SubParsersAction) -> None:
    """`bench TARGET` and its options."""
    bench = commands.add_parser("bench", help="speed benchmarks; prints medians of several runs")
    bench.add_argument(
        "target",
        choices=["model", "pipeline", "text", "turns", "diarization", "scoring"],
        help="model: forward latency per T, the DSWA variants at the checkpoint's T and training throughput; "
        "pipeline: end-to-end video analysis; "
        "text: the text encoders' cost per utterance; turns: turn-taking scores on generated quick exchanges; "
        "diarization: speaker turns (DER, JER) against reference RTTM files; scoring: a MELD-format CSV scored as "
        "the Inspect tab does, its text features computed and cached",
    )
    bench.add_argument("--checkpoint", help="checkpoint folder (default: the shipped MELD checkpoint)")
    bench.add_argument("--time-steps", type=int, nargs="+", default=[4, 8, 16, 32, 64], help="model only")
    bench.add_argument("--duration", type=float, default=60.0, help="pipeline only: seconds of generated video")
    bench.add_argument("--repeats", type=int, default=3, help="pipeline, text, scoring: timed runs")
    bench.add_argument("--json", action="store_true",
                       help="pipeline, text, turns, diarization: also print the figures as JSON")
    bench.add_argument("--encoders", nargs="+", default=["minilm", "mpnet"],
                       help="text only: encoder names, folders or checkpoint text_encoder folders")
    bench.add_argument("--csv", default=str(DEFAULT_DATA_DIR / "dev_sent_emo.csv"),
                       help="text: MELD-format CSV whose first dialogues are encoded; scoring: the CSV to score")
    bench.add_argument("--training", action="store_true",
                       help="text only: time stage 1's training steps (float32 and bfloat16 autocast) instead")
    bench.add_argument("--lora-rank", type=int, help="text --training only: LoRA adapters of this rank in every "
                       "layer (default: full fine-tuning)")
    bench.add_argument("--cold", action="store_true",
                       help="pipeline only: fresh `analyze` processes against fresh processes that only load Whisper "
                       "and transcribe the same video")
    bench.add_argument("--video", type=Path, help="pipeline only: a video to analyse instead of a generated one "
                       "(with --cold, default: the bundled example)")
    bench.add_argument("--no-voice-emotion", action="store_true",
                       help="pipeline only: without the voice-emotion model (to measure what it costs)")
    bench.add_argument("--speech-model",
                       help="pipeline, diarization: the Whisper model (default: the pipeline's default)")
    bench.add_argument("--data", type=Path, help="diarization only: recordings with <stem>.rttm or reference.rttm")
    bench.add_argument("--num-speakers", type=int, help="diarization only: the count to give (default: estimated)")
    bench.add_argument("--diarizer", choices=list(DIARIZERS), default=DIARIZERS[0],
                       help="diarization, and analyze: timeline (default, offline), pyannote (pyannote.audio and "
                            "$HF_TOKEN), words (the earlier word-window turns)")
    bench.add_argument("--device", help="pipeline, scoring: cpu or cuda (default: cuda when present)")
    bench.add_argument("--text-runtime", choices=["onnx", "torch"], default="onnx",
                       help="pipeline, text, scoring: what runs the text encoder on a CPU (default: ONNX Runtime, as "
                            "the app does)")
    bench.add_argument("--compare-runtimes", action="store_true",
                       help="scoring only: also score once with torch's text encoder and count the decisions the "
                            "runtime changes")
    bench.add_argument("--conversations", type=int, default=9,
                       help="turns only: generated conversations (2-4 voices, 3 noise levels, about 20 s each)")
    bench.add_argument("--models", nargs="+", default=["tiny.en", "base"], help="turns only: Whisper models")
    bench.add_argument("--seed", type=int, default=0, help="turns only: the first conversation's seed")
    bench.add_argument("--estimate-speakers", action="store_true",
                       help="turns only: estimate the number of voices instead of giving it")
    bench.add_argument("--threads", type=int,
                       help="torch CPU threads, and Whisper's for turns (default: the libraries' choice)")
    bench.set_defaults(run=_bench)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: args.run(args))


if __name__ == "__main__":
    exit_now(main())
