"""Time the app as a user meets it: start-up, and Analyse-to-results on the bundled examples. Prints medians.

Each run starts `python app.py` in a fresh process, times how long until the page answers, then sends the
bundled examples through the app's /analyse endpoint with gradio_client (the same call the Analyse button
makes) and times each until its results arrive: the first call of a run also waits for the models, which
load in the background from start-up, so it is reported apart from the later ones.

    PYTHONPATH=. .venv/bin/python scripts/bench_app.py [--checkpoint FOLDER] [--runs 3] [--repeats 2]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from gradio_client import Client, handle_file  # noqa: E402

from demo.browser import START_TIMEOUT_S, free_port, wait_until_serving  # noqa: E402
from demo.config import find_examples  # noqa: E402
from spikemo.paths import DEFAULT_CHECKPOINT, EXAMPLES_DIR, REPO_ROOT  # noqa: E402


def serve(checkpoint: Path, port: int, log: Path) -> tuple[subprocess.Popen, float]:
    """Start app.py; return the process and the seconds until its page answered."""
    started = time.perf_counter()
    with log.open("w") as handle:
        process = subprocess.Popen([sys.executable, str(REPO_ROOT / "app.py"), "--checkpoint", str(checkpoint),
                                    "--port", str(port)], cwd=REPO_ROOT, stdout=handle, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/", process, START_TIMEOUT_S)
    except (RuntimeError, TimeoutError) as error:
        process.kill()
        raise RuntimeError(f"{error}; see {log}") from error
    return process, time.perf_counter() - started


def analyse(client: Client, video: Path, transcript: Path | None) -> float:
    started = time.perf_counter()
    client.predict(handle_file(str(video)), handle_file(str(transcript)) if transcript else None, 0, "tiny.en",
                   api_name="/analyse")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--runs", type=int, default=3, help="fresh app processes")
    parser.add_argument("--repeats", type=int, default=2, help="analyses per example per run after the first")
    args = parser.parse_args()
    if not (args.checkpoint / "config.json").is_file():
        sys.exit(f"no checkpoint at {args.checkpoint}: pass --checkpoint FOLDER")
    examples = [(example.video, example.transcript) for example in find_examples(EXAMPLES_DIR)]
    startup, first, later = [], [], {video.name: [] for video, _ in examples}
    with tempfile.TemporaryDirectory(prefix="spikemo-bench-") as scratch:
        for run in range(args.runs):
            process, seconds = serve(args.checkpoint, free_port(), Path(scratch) / f"app-{run}.log")
            startup.append(seconds)
            try:
                client = Client(f"http://127.0.0.1:{process.args[-1]}/", verbose=False)
                first.append(analyse(client, *examples[0]))
                for _ in range(args.repeats):
                    for video, transcript in examples:
                        later[video.name].append(analyse(client, video, transcript))
            finally:
                process.terminate()
                process.wait(timeout=30)
            print(f"run {run + 1}: start-up {seconds:.1f} s, first analysis {first[-1]:.1f} s", flush=True)
    print(f"\ncpu threads: {os.cpu_count()}, checkpoint: {args.checkpoint}")
    print(f"start-up until the page answers: median {statistics.median(startup):.1f} s over {len(startup)} runs")
    print(f"first Analyse after start-up ({examples[0][0].name}, models loading in the background): "
          f"median {statistics.median(first):.1f} s")
    for name, times in later.items():
        print(f"Analyse to results, {name}: median {statistics.median(times):.1f} s over {len(times)} "
              f"(min {min(times):.1f}, max {max(times):.1f})")


if __name__ == "__main__":
    main()
