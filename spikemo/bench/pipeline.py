"""End-to-end speed and memory of the video pipeline on a generated conversation.

`bench_pipeline` writes a two-speaker conversation of about `duration_s` seconds (spikemo.bench.synthetic) into a
temporary folder (or takes a given video), loads an Analyzer (timed on its own: checkpoint, text encoder,
extractors, Whisper, voice encoder), runs one untimed warm-up analysis (its time is reported on its own:
first-call costs such as openSMILE and MediaPipe start-up), then times `repeats` analyses and reports medians.

Memory is the peak resident set size of this process from `resource.getrusage(RUSAGE_SELF).ru_maxrss`: the
high-water mark over the whole benchmark, model loading included. The short-lived ffmpeg processes that
decode audio and frames are not in it (RUSAGE_CHILDREN cannot measure them on Linux: a child's high-water
mark starts from the parent's size at fork).
"""

from __future__ import annotations

import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch

from spikemo.bench.synthetic import SyntheticConfig, make_conversation
from spikemo.paths import repo_relative
from spikemo.video.analyzer import STAGES, Analyzer, PipelineConfig
from spikemo.video.speech import whisper_device


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB."""
    unit = 1 if platform.system() == "Darwin" else 1024  # bytes per ru_maxrss unit: KiB on Linux, bytes on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit / 2**20


def bench_pipeline(
    duration_s: float = 60.0,
    repeats: int = 3,
    checkpoint_dir: str | Path | None = None,
    config: PipelineConfig | None = None,
    seed: int = 0,
    device: str | None = None,
    video_path: Path | None = None,
) -> dict:
    """Median end-to-end seconds of `repeats` analyses of a generated ~duration_s conversation (or of the video
    at `video_path`), per-stage medians, the ratio to the video's duration, and peak memory. See the module
    docstring."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    with tempfile.TemporaryDirectory(prefix="spikemo-bench-") as scratch:
        if video_path is None:
            video = make_conversation(
                Path(scratch) / "conversation.mp4", SyntheticConfig(target_duration_s=duration_s, seed=seed))
            path, described, speakers, scripted = video.path, "generated two-speaker video", 2, len(video.turns)
        else:
            path, described, speakers, scripted = video_path, video_path.name, None, None
        started = time.perf_counter()
        analyzer = Analyzer(checkpoint_dir, config, device)
        load_s = time.perf_counter() - started
        try:
            warm_up = analyzer.analyze(path, num_speakers=speakers)
            runs = [analyzer.analyze(path, num_speakers=speakers) for _ in range(repeats)]
        finally:
            analyzer.close()
    totals = [run.timings["total"] for run in runs]
    median_total = statistics.median(totals)
    speech_s = statistics.median(run.timings["speech"] for run in runs)
    return {
        "video": described,
        "video_seconds": runs[-1].duration,
        "scripted_turns": scripted,
        "utterances_found": len(runs[-1].conversation.utterances),
        "checkpoint": repo_relative(analyzer.checkpoint.directory),
        "modalities_used": list(runs[-1].modalities_used),
        "speech_model": analyzer.config.speech.model,
        "device": str(analyzer.device),
        "whisper_device": whisper_device(analyzer.config.speech)[0],
        "torch_threads": torch.get_num_threads(),
        "load_seconds": load_s,
        "warm_up_seconds": warm_up.timings["total"],
        "repeats": repeats,
        "run_seconds": totals,
        "median_seconds": median_total,
        "real_time_ratio": median_total / runs[-1].duration,
        "speech_ratio": median_total / speech_s,
        "stage_median_seconds": {s: statistics.median(r.timings[s] for r in runs) for s in STAGES},
        "peak_rss_mib": peak_rss_mib(),
    }


def format_pipeline_bench(result: dict) -> str:
    """A short human-readable report of `bench_pipeline`'s result."""
    scripted = f"{result['scripted_turns']} scripted turns, " if result["scripted_turns"] else ""
    lines = [
        f"pipeline on a {result['video_seconds']:.1f} s {result['video']} "
        f"({scripted}{result['utterances_found']} utterances found; "
        f"Whisper {result['speech_model']} on {result['whisper_device']}; models on {result['device']}; "
        f"model modalities {'+'.join(result['modalities_used'])}; "
        f"{result['torch_threads']} torch threads)",
        f"  loading (checkpoint, text encoder, extractors, Whisper, voice encoder): {result['load_seconds']:.1f} s",
        f"  first analysis (warm-up, not in the median): {result['warm_up_seconds']:.1f} s",
        f"  median end-to-end of {result['repeats']}: {result['median_seconds']:.1f} s = "
        f"{result['real_time_ratio']:.2f} x real time (runs: "
        + ", ".join(f"{s:.1f}" for s in result["run_seconds"]) + " s), "
        f"{result['speech_ratio']:.2f} x its speech stage",
        "  per stage (median s; text, audio and visual run side by side): "
        + ", ".join(f"{stage} {seconds:.2f}" for stage, seconds in result["stage_median_seconds"].items()),
        f"  peak RSS of this process (resource.getrusage ru_maxrss, whole benchmark incl. loading; ffmpeg "
        f"child processes not included): {result['peak_rss_mib']:.0f} MiB",
    ]
    return "\n".join(lines)
