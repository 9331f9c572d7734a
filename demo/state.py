"""The app's long-lived parts, shared by every tab and every session."""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from PIL import Image

from demo.config import DEFAULT_SPEECH_MODEL, AppConfig, Example, find_examples
from demo.worker import ZERO_GPU, ModelSetup, ScoredFile, analyse_video, get_analyzer, run_analysis
from spikemo.errors import SpikEmoError
from spikemo.video.analysis import Analysis
from spikemo.video.analyzer import PipelineConfig
from spikemo.video.diarization import DiarizationConfig
from spikemo.video.media import MediaConfig, read_frame

logger = logging.getLogger(__name__)

TEMP_PREFIX = "spikemo-app-"
# The file in an app's temporary folder that its process holds locked (flock) for as long as it runs: the lock
# goes with the process, however it ends, so a folder whose lock is free belongs to no running app.
IN_USE_NAME = ".in-use"
# A temporary folder without its lock file is kept this long: its app may be starting.
STALE_GRACE_S = 60.0
# An admission whose analysis never starts (cancelled while it waited, a full queue) counts this long at most.
ADMISSION_GRACE_S = 10.0


def folder_bytes(folder: Path) -> int:
    """The bytes of the files under `folder` (those that vanish while counting count 0)."""
    total = 0
    for path in folder.rglob("*"):
        try:
            total += path.stat().st_size if path.is_file() else 0
        except OSError:
            continue
    return total


def folder_in_use(folder: Path) -> bool:
    """Whether a running app owns `folder`: its lock file is held, or it has none yet and is recent."""
    lock = folder / IN_USE_NAME
    if not lock.is_file():
        return time.time() - folder.stat().st_mtime < STALE_GRACE_S
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def remove_stale_temp_folders(root: Path) -> list[Path]:
    """Remove this user's app temporary folders under `root` (spikemo-app-*) that no running app owns: those
    of app processes that ended without cleaning up (killed, crashed). Returns the folders removed."""
    removed = []
    for folder in root.glob(f"{TEMP_PREFIX}*"):
        try:
            if folder.is_symlink() or not folder.is_dir() or folder.stat().st_uid != os.getuid():
                continue
            if folder_in_use(folder):
                continue
        except OSError:  # removed meanwhile, or not ours to read
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


class Refusal(StrEnum):
    """Why a submit was refused."""

    SESSION_LIMIT = "session limit"
    QUEUE_FULL = "queue full"


@dataclass(frozen=True)
class QueueView:
    """What the validator reads off the queue as a submit arrives: when each analysis of any session now waiting
    or running entered it (time.monotonic()), and how many events of any kind wait (what its max_size bounds)."""

    all_events: list[float]
    waiting: int


def on_the_way(admitted: list[float], entered: list[float]) -> int:
    """How many admissions (times) no queue event stands for yet: each is paired with the first unpaired event
    that entered the queue after it; those left without one are still on their way in."""
    events, unpaired, next_event = sorted(entered), 0, 0
    for admission in sorted(admitted):
        while next_event < len(events) and events[next_event] < admission:
            next_event += 1
        if next_event < len(events):
            next_event += 1
        else:
            unpaired += 1
    return unpaired


class AppState:
    """One per running app: the config, the bundled examples, the app's temporary folder (one folder per request
    under requests/, the downloads users still fetch under downloads/), the analyses each session has submitted,
    the cache of scored CSVs (the latest few, by file content and checkpoint) and the analyses of the bundled
    examples."""

    def __init__(self, config: AppConfig | None = None) -> None:
        self.config = config or AppConfig()
        self.examples = find_examples(self.config.examples_dir)
        root = Path(self.config.temp_root or tempfile.gettempdir())
        for folder in remove_stale_temp_folders(root):
            logger.info("removed %s, left by an app that is no longer running", folder)
        self.temp_dir = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=root))
        self._in_use = (self.temp_dir / IN_USE_NAME).open("w")
        fcntl.flock(self._in_use, fcntl.LOCK_EX | fcntl.LOCK_NB)
        atexit.register(self.remove_temp_dir)
        self.requests_dir = self.temp_dir / "requests"
        self.downloads_dir = self.temp_dir / "downloads"
        # Gradio's upload and output cache (GRADIO_TEMP_DIR, set by build_demo): inside the app's folder, so it
        # goes with the app however it stops, and a dead app's is removed at the next start.
        self.gradio_dir = self.temp_dir / "gradio"
        for folder in (self.requests_dir, self.downloads_dir, self.gradio_dir):
            folder.mkdir()
        self._downloads_lock = threading.Lock()
        self._admissions: dict[str, list[float]] = {}
        self._admissions_lock = threading.Lock()
        self._scored: OrderedDict[str, ScoredFile] = OrderedDict()
        self._scored_lock = threading.Lock()
        self._example_analyses: dict[str, Analysis] = {}

    def example_thumbnails(self) -> list[Path]:
        """A picture per bundled example, made once into the app's folder: for the i-th example, the middle of the
        first turn of its script's i-th speaker (modulo their number), so two examples show different faces."""
        folder = self.temp_dir / "examples"
        folder.mkdir(exist_ok=True)
        pictures = []
        for index, example in enumerate(self.examples):
            picture = folder / f"{example.name}.png"
            if not picture.is_file():
                turns = (example.script or {}).get("turns") or [{"speaker": "", "start": 1.0, "end": 1.0}]
                speakers = list(dict.fromkeys(t["speaker"] for t in turns))
                turn = next(t for t in turns if t["speaker"] == speakers[index % len(speakers)])
                frame = read_frame(example.video, (turn["start"] + turn["end"]) / 2)
                Image.fromarray(frame).save(picture)
            pictures.append(picture)
        return pictures

    def model_setup(self) -> ModelSetup:
        """The checkpoint, pipeline settings (with this app's upload limits) and device the model work uses."""
        media = replace(MediaConfig(), max_duration_s=self.config.max_video_seconds,
                        max_file_bytes=self.config.max_upload_mb * 1024**2)
        diarization = DiarizationConfig(method=self.config.diarizer)
        return ModelSetup(self.config.checkpoint_dir, PipelineConfig(media=media, diarization=diarization),
                          self.config.device)

    def warm_up(self) -> None:
        """Run at start-up in a background thread: load the Analyzer, then (except on ZeroGPU) analyse the first
        bundled example in this process (its first call pays each model's one-off set-up; the result serves the
        Learn tab's sweep). Never a GPU task: on ZeroGPU there is no GPU outside one, and a visitor's quota would
        pay for it, so there the example is analysed when a visitor first asks for it."""
        try:
            get_analyzer(self.model_setup())
            if self.examples and not ZERO_GPU:
                self.example_analysis(self.examples[0], analyse=analyse_video)
        except SpikEmoError as error:
            logger.warning("the app starts without a model: %s", error)

    def example(self, name: str | None) -> Example | None:
        """The bundled example called `name`, if there is one."""
        return next((e for e in self.examples if e.name == name), None)

    def example_for_transcript(self, path: Path) -> Example | None:
        """The bundled example whose transcript has exactly the content of `path` (Gradio serves a copy of it
        from its cache, under another folder), if any."""
        try:
            content = path.read_bytes()
        except OSError:
            return None
        return next((e for e in self.examples if e.transcript and e.transcript.read_bytes() == content), None)

    @staticmethod
    def is_example_video(path: Path, example: Example) -> bool:
        """Whether `path` holds exactly `example`'s video (compared by size, then content)."""
        try:
            return (path.stat().st_size == example.video.stat().st_size
                    and path.read_bytes() == example.video.read_bytes())
        except OSError:
            return False

    def example_analysis(self, example: Example, progress: Callable[[float, str], None] | None = None,
                         analyse: Callable[..., Analysis] = run_analysis) -> Analysis:
        """The analysis of a bundled example, computed once per process (by `analyse`: a GPU task by default)."""
        if example.name not in self._example_analyses:
            transcript = str(example.transcript) if example.transcript else None
            self._example_analyses[example.name] = analyse(
                self.model_setup(), str(example.video), transcript, None, DEFAULT_SPEECH_MODEL.value, progress)
        return self._example_analyses[example.name]

    @contextmanager
    def request_folder(self) -> Iterator[Path]:
        """A fresh folder for one request's files, removed when the request ends, whether it returns, fails or is
        cancelled; what the user must still fetch leaves it through `keep_downloads`."""
        folder = Path(tempfile.mkdtemp(dir=self.requests_dir))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def keep_downloads(self, files: list[Path], stem: str) -> list[Path]:
        """Move a finished request's `files` into a fresh download folder, where the user fetches them; returns
        their new paths. Older download folders go when they pass downloads_max_age_s, and, oldest first, while
        the temporary folder holds more than downloads_max_bytes (the new one always stays)."""
        with self._downloads_lock:
            folder = Path(tempfile.mkdtemp(prefix=f"{stem}-", dir=self.downloads_dir))
            kept = [Path(shutil.move(str(path), folder / path.name)) for path in files]
            self._prune_downloads(keep=folder)
        return kept

    def _prune_downloads(self, keep: Path) -> None:
        now = time.time()
        by_age = []
        for folder in self.downloads_dir.iterdir():
            if folder == keep:
                continue
            modified = folder.stat().st_mtime
            if now - modified > self.config.downloads_max_age_s:
                shutil.rmtree(folder, ignore_errors=True)
            else:
                by_age.append((modified, folder))
        total = folder_bytes(self.temp_dir)
        for _, folder in sorted(by_age):
            if total <= self.config.downloads_max_bytes:
                break
            total -= folder_bytes(folder)
            shutil.rmtree(folder, ignore_errors=True)

    def upload_refusal(self) -> str | None:
        """Why a new upload must be refused now (the app's folders over their budget, the disk nearly full), or
        None."""
        used, budget = folder_bytes(self.temp_dir), self.config.disk_budget_bytes
        if used > budget:
            return (f"The app's upload space is full ({used / 1024**2:,.0f} MiB of {budget / 1024**2:,.0f} MiB): "
                    "try again in a few minutes, when older uploads have been removed.")
        free = shutil.disk_usage(self.temp_dir).free
        if free < self.config.min_free_disk_bytes:
            return (f"The server's disk is nearly full ({free / 1024**2:,.0f} MiB free): uploads are refused until "
                    "space is freed.")
        return None

    def remove_temp_dir(self) -> None:
        """Remove the app's temporary folder (at exit, or when the process is told to stop)."""
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def admit(self, session: str, queued: list[float], view: QueueView | None = None) -> Refusal | None:
        """Whether `session` may submit another analysis: None (and the submit is counted) or why not. At most
        max_analyses_per_session of a session's analyses waiting or running, and at most max_queue_size events
        waiting in the queue in all. queued: when (time.monotonic()) each of the session's analyses now waiting
        or running entered the queue; view: the whole queue (None: only this session's analyses are in it).

        A submit is admitted a moment before its event enters the queue, and clients may submit many at once
        (a burst gets past the queue's own size check, which runs before this validator), so an admission
        counts too until its analysis starts (`started`), unless an event that entered the queue after it
        stands for it (for ADMISSION_GRACE_S at most: an analysis cancelled while it waited never starts)."""
        view = view or QueueView(all_events=queued, waiting=len(queued))
        now = time.monotonic()
        with self._admissions_lock:
            self._admissions = {key: kept for key, times in self._admissions.items()
                                if (kept := [t for t in times if now - t < ADMISSION_GRACE_S])}
            pending = self._admissions.get(session, [])
            if len(queued) + on_the_way(pending, queued) >= self.config.max_analyses_per_session:
                return Refusal.SESSION_LIMIT
            everyone = [t for times in self._admissions.values() for t in times]
            if view.waiting + on_the_way(everyone, view.all_events) >= self.config.max_queue_size:
                return Refusal.QUEUE_FULL
            self._admissions[session] = [*pending, now]
            return None

    def started(self, session: str, entered: float) -> None:
        """An analysis of `session` that entered the queue at `entered` (time.monotonic()) starts: the admission
        it came from is settled, and from now on the queue alone counts it."""
        with self._admissions_lock:
            pending = self._admissions.get(session, [])
            before = [t for t in pending if t <= entered]
            if before:
                pending.remove(min(before))

    def data_files(self) -> list[str]:
        """MELD-format CSVs in the configured data folder."""
        folder = self.config.data_dir
        return sorted(p.name for p in folder.glob("*.csv")) if folder.is_dir() else []

    def scored_file(self, key: str | None) -> ScoredFile | None:
        """The cached scoring under `key`, or None when there is none (never scored, or dropped from the cache)."""
        with self._scored_lock:
            if not key or key not in self._scored:
                return None
            self._scored.move_to_end(key)
            return self._scored[key]

    def keep_scored_file(self, key: str, scored: ScoredFile) -> None:
        """Cache `scored` under `key`, dropping the least recently used beyond scored_cache_size."""
        with self._scored_lock:
            self._scored[key] = scored
            while len(self._scored) > self.config.scored_cache_size:
                self._scored.popitem(last=False)
