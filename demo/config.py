"""Where the app finds its checkpoint, data and examples, the limits it serves under, and the bundled examples."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from spikemo.paths import DEFAULT_CHECKPOINT, DEFAULT_DATA_DIR, EXAMPLES_DIR
from spikemo.video.diarization import DIARIZATION_METHODS


class SpeechModel(StrEnum):
    """The Whisper models the app offers for speech recognition; the first is the default (base: it finds turns
    as well as tiny.en and makes fewer word errors, at about twice the recognition time; README, "Turn-taking")."""

    BASE = "base"
    TINY_EN = "tiny.en"


DEFAULT_SPEECH_MODEL = next(iter(SpeechModel))


@dataclass
class AppConfig:
    """Where the app finds its checkpoint, data and examples, and the limits it serves under.

    checkpoint_dir: None means $SPIKEMO_CHECKPOINT, else the shipped checkpoint.
    data_dir: MELD-format CSVs offered in "Inspect errors" ($SPIKEMO_DATA_DIR, else data/meld).
    diarizer: who speaks when ($SPIKEMO_DIARIZER, else "timeline", the offline default; "pyannote" needs
    pyannote.audio installed and a Hugging Face token in $HF_TOKEN: spikemo.video.diarization).
    max_video_seconds / max_upload_mb: refuse longer or bigger uploads. concurrency_limit: model runs at once.
    downloads_max_age_s: download folders older than this are deleted when a new analysis writes one.
    uploads_max_age_s / uploads_cleanup_every_s: uploads (Gradio's cache, inside the app's temporary folder) older
    than this are deleted, checked this often. disk_budget_bytes / min_free_disk_bytes: new uploads are refused
    while the app's temporary folder holds more than the budget, or the disk has less free space than the floor.
    """

    checkpoint_dir: Path | None = None
    data_dir: Path = field(default_factory=lambda: Path(os.environ.get("SPIKEMO_DATA_DIR", DEFAULT_DATA_DIR)))
    examples_dir: Path = EXAMPLES_DIR
    device: str | None = None
    diarizer: str = field(default_factory=lambda: os.environ.get("SPIKEMO_DIARIZER", "timeline"))
    max_video_seconds: float = 300.0
    # A 5-minute video (max_video_seconds) at up to 2.7 Mbit/s, a 720p web video's rate; transcripts are far
    # smaller (spikemo.data.transcript.TranscriptLimits: 1 MB).
    max_upload_mb: int = 100
    concurrency_limit: int = 1
    max_queue_size: int = 16
    scored_cache_size: int = 4
    downloads_max_age_s: float = 3600.0
    # Bytes the app's temporary folder may hold: past it, the oldest download folders go first.
    downloads_max_bytes: int = 256 * 1024**2
    # Analyses one session (a browser tab or an API client) may have waiting or running; more are refused.
    max_analyses_per_session: int = 2
    # Where the app's temporary folder goes (None: the system's); stale ones of dead app processes are removed.
    temp_root: Path | None = None
    # An upload waits in the queue for at most max_queue_size analyses of about a minute each (a 5-minute video).
    uploads_max_age_s: int = 900
    uploads_cleanup_every_s: int = 60
    disk_budget_bytes: int = 2 * 1024**3
    min_free_disk_bytes: int = 1024**3

    def __post_init__(self) -> None:
        if self.checkpoint_dir is None:
            self.checkpoint_dir = Path(os.environ.get("SPIKEMO_CHECKPOINT", DEFAULT_CHECKPOINT))
        self.checkpoint_dir = Path(self.checkpoint_dir)
        self.data_dir, self.examples_dir = Path(self.data_dir), Path(self.examples_dir)
        if self.diarizer not in DIARIZATION_METHODS:
            raise ValueError(f"unknown diarizer {self.diarizer!r} ($SPIKEMO_DIARIZER or --diarizer); known: "
                             f"{', '.join(DIARIZATION_METHODS)}")


@dataclass(frozen=True)
class Example:
    """A bundled example: its video, its transcript if it ships one, and the script it was made from."""

    name: str
    video: Path
    transcript: Path | None
    script: dict | None


def example_label(example: Example) -> str:
    """The name a bundled example is listed under."""
    name = example.name.replace("_with_transcript", "").replace("_", " ").capitalize()
    return f"{name}, with transcript" if example.transcript else f"{name}, by Whisper"


def find_examples(folder: Path) -> list[Example]:
    """The *.mp4 files of `folder` with their .srt transcript and .script.json, sorted by name."""
    examples = []
    for video in sorted(folder.glob("*.mp4")):
        transcript = video.with_suffix(".srt")
        script = video.with_name(video.stem + ".script.json")
        examples.append(Example(
            video.stem, video, transcript if transcript.is_file() else None,
            json.loads(script.read_text(encoding="utf-8")) if script.is_file() else None,
        ))
    return examples
