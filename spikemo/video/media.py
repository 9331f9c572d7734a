"""Video input: validate a file, extract its audio as 16 kHz mono, and stream frames from a time window.

moviepy 2 drives a bundled ffmpeg. Nothing here writes to disk: audio and frames stream through ffmpeg pipes, so
a long video never sits in memory as frames, and a bad file leaves nothing behind.
"""

from __future__ import annotations

import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from moviepy import VideoFileClip

from spikemo.errors import InputError


@dataclass(frozen=True)
class MediaConfig:
    """Limits on accepted videos and the audio format handed to speech and audio features."""

    max_duration_s: float = 600.0
    max_file_bytes: int = 1024**3
    min_duration_s: float = 0.5
    sample_rate: int = 16_000
    # Decoded audio shorter than this fraction of the stated duration means the file is cut short.
    min_audio_coverage: float = 0.9


@dataclass(frozen=True)
class VideoInfo:
    """What `probe_video` found. size is (width, height) in pixels."""

    path: Path
    duration: float
    fps: float
    size: tuple[int, int]
    has_audio: bool


@contextmanager
def _open_clip(path: Path, with_audio: bool = True) -> Iterator[VideoFileClip]:
    """Open a clip, turning ffmpeg's failures into an InputError, and always close it."""
    try:
        with warnings.catch_warnings():  # moviepy warns about odd streams; the caller's message says what matters
            warnings.simplefilter("ignore")
            clip = VideoFileClip(str(path), audio=with_audio)
    except (OSError, KeyError, IndexError, ValueError, AttributeError) as error:
        raise InputError(
            f"{path.name} could not be read as a video (corrupt, truncated, or not a video file)."
        ) from error
    try:
        yield clip
    finally:
        clip.close()


def read_frame(path: str | Path, seconds: float) -> np.ndarray:
    """The video frame shown at `seconds` (clamped to the video): [height, width, 3] uint8 RGB."""
    with _open_clip(Path(path), with_audio=False) as clip:
        return np.asarray(clip.get_frame(min(max(seconds, 0.0), max(clip.duration - 1 / clip.fps, 0.0))))


def over_limit(value: float, limit: float) -> tuple[str, str]:
    """`value` (> `limit`) and `limit` as text, with just enough decimals that the value reads larger than the
    limit: "300.5" beside "300", "300.004" beside "300", never "300 s; the limit is 300 s". A limit written
    exactly by `:g` (300, 6.999) keeps that form."""
    for decimals in range(10):
        shown_value, shown_limit = f"{value:.{decimals}f}", f"{limit:.{decimals}f}"
        if float(shown_value) > float(shown_limit):
            break
    else:
        return repr(value), repr(limit)
    if float(f"{limit:g}") == limit:
        shown_limit = f"{limit:g}"
    return shown_value, shown_limit


def _check_file(path: str | Path, config: MediaConfig) -> Path:
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path.name or path} is a folder, not a video file.")
    if not path.is_file():
        raise InputError(f"Video file not found: {path.name}")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path.name} is empty.")
    if size > config.max_file_bytes:
        raise InputError(
            "{} is {} MiB; the limit is {} MiB.".format(path.name, *over_limit(size / 1024**2,
                                                                                config.max_file_bytes / 1024**2))
        )
    return path


def probe_video(path: str | Path, config: MediaConfig = MediaConfig()) -> VideoInfo:
    """Check that `path` is a readable video within the limits and return its properties.

    Raises InputError for a missing, empty, oversized, corrupt or non-video file, or one too long or too short.
    """
    path = _check_file(path, config)
    with _open_clip(path) as clip:
        duration, fps = clip.duration, clip.fps
        if not duration or not fps or duration < config.min_duration_s:
            raise InputError(f"{path.name} is not a video with a playable picture stream.")
        if duration > config.max_duration_s:
            raise InputError(
                "{} lasts {} s; the limit is {} s.".format(path.name, *over_limit(duration, config.max_duration_s))
            )
        try:
            clip.get_frame(0.0)
        except (OSError, ValueError, IndexError) as error:
            raise InputError(f"{path.name}: its picture stream cannot be decoded.") from error
        width, height = clip.size
        return VideoInfo(path, float(duration), float(fps), (int(width), int(height)), clip.audio is not None)


def check_video(path: str | Path, config: MediaConfig = MediaConfig()) -> VideoInfo:
    """Every check that needs no decoding, for a video the pipeline will analyse: `probe_video`'s (the file exists,
    is within the size and duration limits, and is a readable video) and an audio track. Cheap (about a second),
    so callers run it before loading any model."""
    info = probe_video(path, config)
    if not info.has_audio:
        raise InputError(f"{info.path.name} has no audio track; speech and audio features need one.")
    return info


def load_audio(path: str | Path, config: MediaConfig = MediaConfig()) -> np.ndarray:
    """Decode the audio track to mono float32 at `config.sample_rate`.

    Returns: [n_samples] float32 in [-1, 1].
    Raises InputError when the file is not a valid video or has no audio track (see `check_video`), or its audio
    stops well before the video's stated end (a truncated file).
    """
    info = check_video(path, config)
    # ffmpeg itself (the binary moviepy uses) resamples with a proper filter and reports the true length;
    # moviepy's reader pads a short read with zeros, which would hide a truncated file.
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(info.path),
        "-vn", "-ac", "1", "-ar", str(config.sample_rate), "-f", "f32le", "-",
    ]
    result = subprocess.run(command, capture_output=True, check=False)
    audio = np.frombuffer(result.stdout, dtype=np.float32).copy()
    if result.returncode != 0 or audio.size < config.min_audio_coverage * info.duration * config.sample_rate:
        raise InputError(
            f"{info.path.name}: the audio track ends at {audio.size / config.sample_rate:.1f} s of "
            f"{info.duration:.1f} s; the file looks truncated or damaged."
        )
    return audio
