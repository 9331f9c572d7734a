"""Cold start: what a fresh `python -m spikemo analyze VIDEO` costs beside a fresh process that only loads
Whisper and transcribes the same file (the floor an analysis cannot go under).

    python -m spikemo bench pipeline --cold [--video FILE] [--repeats 3]

Each repeat starts both commands as new processes, alternating which goes first, and times them from start to
exit (wall clock, imports and model loading included); the figures are medians. The transcription-only
process is this module run as a program:

    python -m spikemo.bench.cold VIDEO [--speech-model M]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from spikemo.errors import exit_now
from spikemo.paths import EXAMPLES_DIR, REPO_ROOT

DEFAULT_VIDEO = EXAMPLES_DIR / "two_friends.mp4"


def transcribe_only(video: Path, speech_model: str | None = None) -> int:
    """Load Whisper and transcribe `video`'s audio, as the pipeline's speech stage does; the number of words."""
    from spikemo.video.media import load_audio
    from spikemo.video.speech import SpeechConfig, transcribe

    config = SpeechConfig(model=speech_model or SpeechConfig().model)
    return len(transcribe(load_audio(video), config).words)


def _timed(command: list[str]) -> float:
    """Seconds from start to exit of `command` (run from the repository, output discarded)."""
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def bench_cold(video: Path = DEFAULT_VIDEO, repeats: int = 3, speech_model: str | None = None) -> dict:
    """Median wall-clock seconds of `repeats` fresh analyses of `video` and of `repeats` fresh transcription-only
    processes, and their ratio."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    model = ["--speech-model", speech_model] if speech_model else []
    analyze, transcribe = [], []
    with tempfile.TemporaryDirectory(prefix="spikemo-cold-") as scratch:
        analysis = [sys.executable, "-m", "spikemo", "analyze", str(video), "--out", str(Path(scratch) / "a.json"),
                    *model]
        whisper = [sys.executable, "-m", "spikemo.bench.cold", str(video), *model]
        for repeat in range(repeats):
            if repeat % 2 == 0:
                analyze.append(_timed(analysis))
                transcribe.append(_timed(whisper))
            else:
                transcribe.append(_timed(whisper))
                analyze.append(_timed(analysis))
    analyze_s, transcribe_s = statistics.median(analyze), statistics.median(transcribe)
    return {"video": video.name, "repeats": repeats, "analyze_seconds": analyze, "transcribe_seconds": transcribe,
            "median_analyze_seconds": analyze_s, "median_transcribe_seconds": transcribe_s,
            "ratio": analyze_s / transcribe_s}


def format_cold_bench(result: dict) -> str:
    """A short human-readable report of `bench_cold`'s result."""
    runs = ", ".join(f"{s:.1f}" for s in result["analyze_seconds"])
    floor = ", ".join(f"{s:.1f}" for s in result["transcribe_seconds"])
    return "\n".join([
        f"cold start on {result['video']}: fresh processes, median of {result['repeats']}",
        f"  python -m spikemo analyze: {result['median_analyze_seconds']:.1f} s (runs: {runs})",
        f"  load Whisper and transcribe only: {result['median_transcribe_seconds']:.1f} s (runs: {floor})",
        f"  ratio: {result['ratio']:.2f} x",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spikemo.bench.cold", description=transcribe_only.__doc__)
    parser.add_argument("video", type=Path)
    parser.add_argument("--speech-model")
    args = parser.parse_args(argv)
    print(transcribe_only(args.video, args.speech_model))
    return 0


if __name__ == "__main__":
    exit_now(main())  # ends as `python -m spikemo` does, so both sides skip the interpreter's teardown
