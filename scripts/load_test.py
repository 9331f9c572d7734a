"""Load test of the app on this machine, loopback only: concurrent clients, refused extra submits, a burst of
sessions against the queue's limit, submit-then-cancel cycles and a soak, each analysing a bundled example through
/analyse with gradio_client. Prints latency percentiles, admitted and refused submits, the server's memory (RSS,
every 10 soak runs) and its temporary files before and after.

    PYTHONPATH=. .venv/bin/python scripts/load_test.py [--clients 4] [--soak 6] [--cancels 3] [--burst 48]
    PYTHONPATH=. .venv/bin/python scripts/load_test.py --url http://127.0.0.1:7860/ --pid PID [--temp-dir DIR]

Without --url it starts `python app.py` on a free loopback port with a temporary folder of its own (TMPDIR, so
the app's folder and Gradio's upload cache are counted apart from anything else), and stops it with Ctrl-C at
the end. With --url it uses an app already running on 127.0.0.1 (--pid for its memory; --temp-dir, default
the system's, for its files). Bounded: at most 16 clients, 50 soak runs, 20 cancel cycles, and --time-limit
seconds in all; a burst of at most 64 sessions.
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import ValidationError  # noqa: E402
from gradio_client.utils import QueueError, Status  # noqa: E402

from spikemo.paths import DEFAULT_CHECKPOINT, EXAMPLES_DIR, REPO_ROOT  # noqa: E402

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_CLIENTS, MAX_SOAK, MAX_CANCELS, MAX_BURST = 16, 200, 20, 64
BURST = 4  # analyses one client submits at once, past the app's per-session limit


class Deadline:
    """The time left of the whole test; every wait takes at most that."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError("the load test ran past --time-limit")
        return left


def rss_mib(pid: int | None) -> float | None:
    """Resident memory of process `pid` in MiB: psutil when installed, else /proc; None when unknown."""
    if pid is None:
        return None
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss / 1024**2
    except ImportError:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def temp_files(root: Path) -> dict[str, int]:
    """Files the app keeps under the temp folder `root`: its folders (spikemo-app-*, split into requests in
    progress and downloads kept for users) and Gradio's upload cache."""
    apps = list(root.glob("spikemo-app-*"))
    return {
        "app folders": len(apps),
        "request files": sum(1 for app in apps for p in (app / "requests").rglob("*") if p.is_file()),
        "download files": sum(1 for app in apps for p in (app / "downloads").rglob("*") if p.is_file()),
        "gradio cache files": sum(1 for app in apps for p in (app / "gradio").rglob("*") if p.is_file())
        + sum(1 for p in (root / "gradio").rglob("*") if p.is_file()),
    }


def percentiles(seconds: list[float]) -> str:
    if not seconds:
        return "no runs"
    ordered = sorted(seconds)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return (f"p50 {statistics.median(ordered):.2f} s, p90 {p90:.2f} s, max {ordered[-1]:.2f} s "
            f"(n={len(ordered)})")


class Analyses:
    """The example's /analyse call, as a fresh client (a session of its own) or on a given one."""

    def __init__(self, url: str, video: Path, transcript: Path | None) -> None:
        self.url = url
        self.arguments = (handle_file(str(video)), handle_file(str(transcript)) if transcript else None, 0,
                          "tiny.en")

    def client(self) -> Client:
        return Client(self.url, verbose=False)

    def submit(self, client: Client):
        return client.submit(*self.arguments, api_name="/analyse")

    def timed(self, client: Client, deadline: Deadline) -> float:
        started = time.perf_counter()
        self.submit(client).result(timeout=deadline.left())
        return time.perf_counter() - started


def concurrent_clients(analyses: Analyses, count: int, deadline: Deadline) -> list[float]:
    """`count` clients, each its own session, submit at once; each one's seconds until its result."""
    clients = [analyses.client() for _ in range(count)]
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda client: analyses.timed(client, deadline), clients))


def extra_submits(analyses: Analyses, deadline: Deadline) -> tuple[int, int]:
    """One client submits BURST analyses at once: how many the app admitted and how many it refused."""
    client = analyses.client()
    jobs = [analyses.submit(client) for _ in range(BURST)]
    admitted = refused = 0
    for job in jobs:
        try:
            job.result(timeout=deadline.left())
            admitted += 1
        except ValidationError:
            refused += 1
    return admitted, refused


def session_burst(analyses: Analyses, sessions: int, deadline: Deadline) -> tuple[int, int]:
    """`sessions` clients, each its own session, submit one analysis each at the same moment: how many the app
    admitted (they run to the end) and how many it refused with a message (its validator, or Gradio's own check
    of the queue's size)."""
    clients = [analyses.client() for _ in range(sessions)]
    with ThreadPoolExecutor(sessions) as pool:
        jobs = list(pool.map(analyses.submit, clients))
    admitted = refused = 0
    for job in jobs:
        try:
            job.result(timeout=deadline.left())
            admitted += 1
        except (ValidationError, QueueError):
            refused += 1
    return admitted, refused


def cancel_cycles(analyses: Analyses, cycles: int, deadline: Deadline) -> list[float]:
    """Submit, cancel once the analysis runs, then at once time a full analysis on a fresh client: if the
    cancelled one stopped, that takes about as long as an analysis alone."""
    after_cancel = []
    for _ in range(cycles):
        client = analyses.client()
        job = analyses.submit(client)
        while job.status().code not in (Status.PROCESSING, Status.PROGRESS, Status.FINISHED):
            time.sleep(0.05)
            deadline.left()
        time.sleep(0.5)  # into the pipeline
        job.cancel()
        after_cancel.append(analyses.timed(analyses.client(), deadline))
    return after_cancel


def soak(analyses: Analyses, runs: int, deadline: Deadline, pid: int | None) -> list[float]:
    """`runs` analyses one after another on one client; the server's RSS is printed every 10."""
    client = analyses.client()
    seconds = []
    for run in range(1, runs + 1):
        seconds.append(analyses.timed(client, deadline))
        if run % 10 == 0:
            rss = rss_mib(pid)
            print(f"  soak {run}/{runs}: server RSS {'unknown' if rss is None else f'{rss:.0f} MiB'}", flush=True)
    return seconds


def start_app(port: int, temp_root: Path, threads: int) -> subprocess.Popen:
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1", "TMPDIR": str(temp_root),
           "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    log = (temp_root / "app.log").open("w")
    return subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "app.py"), "--checkpoint", str(DEFAULT_CHECKPOINT), "--host", "127.0.0.1",
         "--port", str(port)], cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an app already running on this machine (127.0.0.1 / localhost only)")
    parser.add_argument("--pid", type=int, help="with --url: the app's process id, for its memory")
    parser.add_argument("--temp-dir", type=Path, help="with --url: the app's temp folder (default: the system's)")
    parser.add_argument("--clients", type=int, default=4, help=f"concurrent clients (at most {MAX_CLIENTS})")
    parser.add_argument("--soak", type=int, default=6, help=f"sequential runs on one client (at most {MAX_SOAK})")
    parser.add_argument("--cancels", type=int, default=3, help=f"submit-then-cancel cycles (at most {MAX_CANCELS})")
    parser.add_argument("--burst", type=int, default=0,
                        help=f"sessions submitting at the same moment (at most {MAX_BURST}; 3x the queue's limit "
                             "tests that it holds)")
    parser.add_argument("--example", default="two_friends_with_transcript", help="bundled example to analyse")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the app started here")
    parser.add_argument("--time-limit", type=float, default=900.0, help="seconds for the whole test")
    args = parser.parse_args()
    if not (1 <= args.clients <= MAX_CLIENTS and 0 <= args.soak <= MAX_SOAK and 0 <= args.cancels <= MAX_CANCELS
            and 0 <= args.burst <= MAX_BURST):
        sys.exit(f"--clients 1..{MAX_CLIENTS}, --soak 0..{MAX_SOAK}, --cancels 0..{MAX_CANCELS}, "
                 f"--burst 0..{MAX_BURST}")
    if args.url and urlparse(args.url).hostname not in LOOPBACK:
        sys.exit("--url must point at this machine (127.0.0.1, localhost or ::1)")
    video, transcript = EXAMPLES_DIR / f"{args.example}.mp4", EXAMPLES_DIR / f"{args.example}.srt"
    if not video.is_file():
        sys.exit(f"no bundled example called {args.example}")
    # Imported once the arguments are checked: the app's package loads Gradio, torch and the pipeline.
    from demo.browser import START_TIMEOUT_S, free_port, wait_until_serving
    from demo.config import AppConfig

    deadline = Deadline(args.time_limit)
    own_temp = None if args.url else Path(tempfile.mkdtemp(prefix="spikemo-load-"))
    temp_root = own_temp or args.temp_dir or Path(tempfile.gettempdir())
    process = None
    try:
        if args.url:
            url, pid = args.url, args.pid
        else:
            process = start_app(free_port(), own_temp, args.threads)
            url, pid = f"http://127.0.0.1:{process.args[-1]}/", process.pid
            wait_until_serving(url, process, min(START_TIMEOUT_S, deadline.left()))
        analyses = Analyses(url, video, transcript if transcript.is_file() else None)
        limit, queue_limit = AppConfig().max_analyses_per_session, AppConfig().max_queue_size
        print(f"app {url}, example {args.example}, {args.clients} clients, soak {args.soak}, "
              f"{args.cancels} cancel cycles, burst {args.burst}, session limit {limit}, queue limit {queue_limit}",
              flush=True)

        first = analyses.timed(analyses.client(), deadline)
        before = temp_files(temp_root)
        rss_before = rss_mib(pid)
        print(f"first analysis (models may still be loading): {first:.2f} s", flush=True)

        concurrent = concurrent_clients(analyses, args.clients, deadline)
        print(f"{args.clients} concurrent clients: {percentiles(concurrent)}", flush=True)
        admitted, refused = extra_submits(analyses, deadline)
        print(f"one client submitting {BURST} at once: {admitted} admitted, {refused} refused", flush=True)
        burst_admitted = 0
        if args.burst:
            burst_admitted, burst_refused = session_burst(analyses, args.burst, deadline)
            print(f"{args.burst} sessions submitting at once (queue limit {queue_limit}, one running): "
                  f"{burst_admitted} admitted, {burst_refused} refused", flush=True)
        after_cancel = cancel_cycles(analyses, args.cancels, deadline)
        print(f"{args.cancels} submit-then-cancel cycles, the analysis right after each: {percentiles(after_cancel)}",
              flush=True)
        soaked = soak(analyses, args.soak, deadline, pid)
        print(f"soak of {args.soak} runs: {percentiles(soaked)}", flush=True)
        time.sleep(1.0)  # a cancelled run stops at its next stage
        rss_after = rss_mib(pid)
        after = temp_files(temp_root)

        every = concurrent + after_cancel + soaked
        print(f"\nall analyses: {percentiles(every)}")
        print(f"queue rejections (refused submits): {refused}")
        if rss_before is None or rss_after is None:
            print("server RSS: unknown (pass --pid)")
        else:
            print(f"server RSS: {rss_before:.0f} MiB before, {rss_after:.0f} MiB after")
        print(f"temp files before: {before}")
        print(f"temp files after:  {after}")
        # Every finished analysis leaves its JSON and CSV; a cancelled one that ran to the end would leave them too.
        finished = len(every) + admitted + burst_admitted
        extra = (after["download files"] - before["download files"]) // 2 - finished
        print(f"analyses finished since 'before': {finished}; cancelled analyses that still wrote results: {extra}")
        if process is not None:
            process.send_signal(signal.SIGTERM)  # as a Space stops it: the app removes its folder on the way out
            process.wait(timeout=60)
            print(f"temp files after the app stopped: {temp_files(temp_root)}")
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        if own_temp is not None:
            shutil.rmtree(own_temp, ignore_errors=True)


if __name__ == "__main__":
    main()
