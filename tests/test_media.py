"""Video probing, audio extraction and frame streaming on generated videos, and every bad-input case."""

import subprocess
import tempfile
from pathlib import Path

import imageio.v3 as iio
import imageio_ffmpeg
import numpy as np
import pytest
from skimage import data as skimage_data

from spikemo.bench.synthetic import SyntheticConfig, make_conversation
from spikemo.errors import InputError
from spikemo.video.media import MediaConfig, load_audio, probe_video
from spikemo.video.visual_features import decode_span


def test_probe_reports_the_generated_video(conversation):
    info = probe_video(conversation.path)
    assert info.has_audio
    assert info.size == (256, 256)
    assert info.fps == pytest.approx(10.0)
    assert info.duration == pytest.approx(conversation.duration, abs=0.2)


def test_audio_is_16k_mono_and_loud_only_in_turns(conversation, conversation_audio):
    audio = conversation_audio
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert audio.size == pytest.approx(conversation.duration * 16_000, rel=0.02)

    def rms(start: float, end: float) -> float:
        return float(np.sqrt(np.mean(audio[int(start * 16_000) : int(end * 16_000)] ** 2)))

    for turn, following in zip(conversation.turns, conversation.turns[1:]):
        assert rms(turn.start, turn.end) > 0.02
        assert rms(turn.end + 0.1, following.start - 0.1) < 0.002


def frame_at(path: Path, seconds: float) -> np.ndarray:
    """The first frame the video holds from `seconds` on (the pipeline's own decoder)."""
    return decode_span(path, seconds, seconds + 1.0, 1.0)[0][1]


def test_generated_video_shows_each_speakers_face(conversation):
    first_a = next(t for t in conversation.turns if t.speaker == "A")
    first_b = next(t for t in conversation.turns if t.speaker == "B")
    face_a = frame_at(conversation.path, (first_a.start + first_a.end) / 2)
    face_b = frame_at(conversation.path, (first_b.start + first_b.end) / 2)
    assert face_a.shape == (256, 256, 3) and face_a.dtype == np.uint8
    # B is A mirrored with its colour channels rotated: the two frames must differ clearly.
    assert np.abs(face_a.astype(int) - face_b.astype(int)).mean() > 20
    assert face_a.std() > 30


def test_no_face_variant_has_plain_frames(tmp_path):
    video = make_conversation(tmp_path / "blank.mp4", SyntheticConfig(num_turns=2, faces=False))
    assert frame_at(video.path, 1.0).std() < 3


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """Route Python's temp files into an empty folder so a test can prove none are left behind."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder


def _bad_file(kind: str, folder: Path, good_video: Path) -> Path:
    path = folder / f"{kind}.mp4"
    if kind == "text":
        path.write_text("this is a text file, not a video\n")
    elif kind == "image":
        iio.imwrite(path, skimage_data.astronaut(), extension=".png")
    elif kind == "truncated":
        path.write_bytes(good_video.read_bytes()[: good_video.stat().st_size // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("text", "could not be read as a video"),
        ("image", "could not be read as a video"),
        ("truncated", "could not be read as a video"),
        ("empty", "is empty"),
        ("missing", "not found"),
    ],
)
def test_bad_files_raise_a_plain_input_error_and_leave_no_temp_files(
    kind, message, conversation, tmp_path, private_tmp
):
    path = _bad_file(kind, tmp_path, conversation.path)
    before = path.read_bytes() if path.exists() else None
    with pytest.raises(InputError, match=message) as caught:
        load_audio(path)
    assert path.name in str(caught.value)
    assert list(private_tmp.iterdir()) == []
    assert (path.read_bytes() if path.exists() else None) == before


def test_truncated_with_index_up_front_is_caught_by_the_audio_length(conversation, tmp_path, private_tmp):
    # A "faststart" file keeps its index at the front, so a cut copy still opens; its audio stops early.
    video = make_conversation(tmp_path / "long.mp4", SyntheticConfig(num_turns=6, seed=3))
    faststart = tmp_path / "faststart.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(video.path), "-c", "copy",
         "-movflags", "+faststart", str(faststart)],
        check=True,
    )
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(faststart.read_bytes()[: faststart.stat().st_size // 3])
    with pytest.raises(InputError, match="truncated"):
        load_audio(cut)
    assert list(private_tmp.iterdir()) == []


def test_video_without_audio_track_is_refused_for_audio(tmp_path, private_tmp):
    video = make_conversation(tmp_path / "mute.mp4", SyntheticConfig(num_turns=2, audio="none"))
    assert not probe_video(video.path).has_audio
    with pytest.raises(InputError, match="no audio track"):
        load_audio(video.path)
    assert list(private_tmp.iterdir()) == []


def test_limits_are_configurable(conversation):
    with pytest.raises(InputError, match="the limit is 5 s"):
        probe_video(conversation.path, MediaConfig(max_duration_s=5))
    with pytest.raises(InputError, match="MiB; the limit"):
        probe_video(conversation.path, MediaConfig(max_file_bytes=1000))
