"""The app's long-lived parts, shared by every tab and every session."""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from demo.config import AppConfig, Example, SpeechModel, find_examples
from demo.worker import ModelSetup, ScoredFile, get_analyzer, run_analysis
from spikemo.errors import SpikEmoError
from spikemo.video.analysis import Analysis
from spikemo.video.analyzer import PipelineConfig
from spikemo.video.media import MediaConfig

logger = logging.getLogger(__name__)


class AppState:
    """One per running app: the config, the bundled examples, a temporary folder for downloads, the cache of
    scored CSVs (the latest few, by file content and checkpoint) and the analyses of the bundled examples."""

    def __init__(self, config: AppConfig | None = None) -> None:
        self.config = config or AppConfig()
        self.examples = find_examples(self.config.examples_dir)
        self.temp_dir = Path(tempfile.mkdtemp(prefix="spikemo-app-"))
        atexit.register(shutil.rmtree, self.temp_dir, ignore_errors=True)
        self._scored: OrderedDict[str, ScoredFile] = OrderedDict()
        self._scored_lock = threading.Lock()
        self._example_analyses: dict[str, Analysis] = {}

    def model_setup(self) -> ModelSetup:
        """The checkpoint, pipeline settings (with this app's upload limits) and device the model work uses."""
        media = replace(MediaConfig(), max_duration_s=self.config.max_video_seconds,
                        max_file_bytes=self.config.max_upload_mb * 1024**2)
        return ModelSetup(self.config.checkpoint_dir, PipelineConfig(media=media), self.config.device)

    def warm_up(self) -> None:
        """Run at start-up in a background thread: load the Analyzer, then analyse the first bundled example
        (its first call pays each model's one-off set-up; the result serves the Learn tab's sweep)."""
        try:
            get_analyzer(self.model_setup())
            if self.examples:
                self.example_analysis(self.examples[0])
        except SpikEmoError as error:
            logger.warning("the app starts without a model: %s", error)

    def example(self, name: str | None) -> Example | None:
        """The bundled example called `name`, if there is one."""
        return next((e for e in self.examples if e.name == name), None)

    def example_analysis(self, example: Example, progress: Callable[[float, str], None] | None = None) -> Analysis:
        """The analysis of a bundled example, computed once per process."""
        if example.name not in self._example_analyses:
            transcript = str(example.transcript) if example.transcript else None
            self._example_analyses[example.name] = run_analysis(
                self.model_setup(), str(example.video), transcript, None, SpeechModel.TINY_EN.value, progress)
        return self._example_analyses[example.name]

    def download_folder(self, stem: str) -> Path:
        """A fresh folder for one analysis's downloads; folders older than downloads_max_age_s are removed."""
        now = time.time()
        for old in self.temp_dir.iterdir():
            if now - old.stat().st_mtime > self.config.downloads_max_age_s:
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(prefix=f"{stem}-", dir=self.temp_dir))

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
