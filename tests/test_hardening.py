"""The app and the CLI under untrusted input: user text shown as text, spreadsheet-safe CSV exports, exact limit
messages, cheap checks before the models load, limits on transcripts, temporary files owned and bounded, face cues
only from frames the video holds, and the load test's bounds. Cancellation and per-session limits:
test_cancellation.py."""

import html
import re
from pathlib import Path

import gradio as gr
import pytest

from demo.app import checkpoint_status
from demo.errors import user_errors
from demo.markup import html_text, md
from demo.tabs.analyse_views import analysis_summary, turn_details
from demo.tabs.inspect_views import scored_summary
from demo.worker import ScoredFile
from spikemo.data.conversation import Conversation, Prediction, Utterance
from spikemo.errors import InputError
from spikemo.video.analysis import Analysis, AnalysisWarning, UtteranceCues, WarningKind

REPO_EXAMPLE = Path(__file__).resolve().parents[1] / "assets" / "examples" / "two_friends_with_transcript.mp4"

HOSTILE = [
    "Bob: ![x](http://host/pixel.png)",
    "[click](http://evil.example) and <http://evil.example> and www.evil.example",
    '<img src="http://host/p.png" onerror="alert(1)"> <script>alert(1)</script> &amp; &lt;',
    "# heading\n\n> quote\n- item\n1. item | a | b |\n---",
    "*em* __strong__ `code` ~~gone~~ $$x^2$$ \\*not em\\* a_b_c [ref]: http://host",
]


def render(markdown: str) -> str:
    """CommonMark (with GFM tables and strikethrough) as HTML."""
    markdown_it = pytest.importorskip("markdown_it")
    return markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_text_renders_as_exactly_its_text(text):
    rendered = render(md(text))
    assert not re.search(r"<(?!/?p>)", rendered), rendered  # one paragraph, no other element
    assert html.unescape(rendered.strip().removeprefix("<p>").removesuffix("</p>")) == " ".join(text.split())
    assert "<" not in html_text(text) and html.unescape(html_text(text)) == text


def make_analysis(speaker: str, text: str, video_name: str = "talk.mp4") -> Analysis:
    utterance = Utterance(speaker=speaker, text=text, start=0.0, end=1.0)
    utterance.prediction = Prediction("joy", {"joy": 0.9, "anger": 0.1}, {"text": 1.0}, {"text/layer0": [0.1]})
    cues = UtteranceCues(None, 0.0, 0.0, {"loudness": -3.5})
    return Analysis(video_name, 2.0, Conversation("talk", [utterance]), [cues], {}, ("anger", "joy"), ("text",),
                    ("text",), [AnalysisWarning(WarningKind.TRANSCRIPT_USED, "a note with ![x](http://host/note.png)")],
                    {"total": 1.0})


def test_user_content_in_the_apps_markdown_is_escaped(tmp_path):
    analysis = make_analysis("![s](http://host/s.png)", "Bob: ![x](http://host/pixel.png) [l](http://host)",
                             "[v](http://host)<img src=x>.mp4")
    details = turn_details(analysis, 0)
    summary = analysis_summary(analysis)
    scored = ScoredFile("![f](http://host/f.png).csv", [], {"weighted_f1": 50.0, "accuracy": 50.0,
                                                            "n_utterances": 1, "n_dialogues": 1}, (), 1.0, {}, 0)
    folder = tmp_path / "![c](http://host)"
    for markdown in (details, summary, scored_summary(scored), checkpoint_status(folder)):
        rendered = render(markdown)
        assert "<img" not in rendered and "<a " not in rendered and "](http:" in rendered
    assert "Bob: ![x](http://host/pixel.png) [l](http://host)" in html.unescape(render(details))


def test_error_messages_are_html_escaped():
    with pytest.raises(gr.Error) as caught, user_errors("read"):
        raise InputError("cannot read the time line '<img src=http://host/p.png>'")
    assert caught.value.message == "cannot read the time line '&lt;img src=http://host/p.png&gt;'"


def test_the_apps_tables_show_cells_as_text(tmp_path):
    from demo import AppConfig, build_demo

    blocks = build_demo(AppConfig(checkpoint_dir=tmp_path / "none", data_dir=tmp_path))
    tables = [block for block in blocks.blocks.values() if isinstance(block, gr.Dataframe)]
    assert len(tables) >= 3  # the turn table, the scores and the errors (a tab may add more)
    assert all(table.datatype == "str" for table in tables)  # not "markdown" or "html"


def test_csv_export_neutralises_formula_cells_but_keeps_numbers(tmp_path):
    import pandas as pd

    from spikemo.video.analysis import neutralise_formula

    cells = ["=HYPERLINK(\"http://host\")", "+1+1", "-2", "@SUM(A1)", "\tx", "\rx"]
    assert [neutralise_formula(c) for c in cells] == ["'" + c for c in cells]
    assert [neutralise_formula(c) for c in ("Hi - there", "", -3.5, 0, None)] == ["Hi - there", "", -3.5, 0, None]
    analysis = make_analysis("=cmd|' /C calc'!A0", "-5 degrees, @home")
    analysis.write(tmp_path / "a.csv")
    table = pd.read_csv(tmp_path / "a.csv", keep_default_na=False)
    assert table["speaker"][0] == "'=cmd|' /C calc'!A0" and table["text"][0] == "'-5 degrees, @home"
    assert table["voice_loudness"][0] == -3.5  # a negative number stays a number
    analysis.write(tmp_path / "a.json")  # the JSON keeps the text as it is
    assert '"text": "-5 degrees, @home"' in (tmp_path / "a.json").read_text()


@pytest.fixture(scope="module")
def mute_video(tmp_path_factory):
    """A 7 s generated video without an audio track."""
    from spikemo.bench.synthetic import SyntheticConfig, make_conversation

    return make_conversation(tmp_path_factory.mktemp("mute") / "mute.mp4",
                             SyntheticConfig(num_turns=2, audio="none")).path


def test_limit_messages_show_numbers_that_differ():
    from spikemo.video.media import over_limit

    assert over_limit(300.5, 300) == ("300.5", "300") and over_limit(300.004, 300) == ("300.004", "300")
    assert over_limit(20.2, 5) == ("20", "5") and over_limit(7.0, 6.999) == ("7.000", "6.999")
    assert over_limit(0.1234568, 0.123456789) == ("0.12345680", "0.12345679")  # a limit :g would round up


def test_a_video_just_over_the_limits_is_refused_with_both_numbers(mute_video):
    from spikemo.video.media import MediaConfig, probe_video

    with pytest.raises(InputError, match=r"lasts 7\.0+ s; the limit is 6\.999 s"):
        probe_video(mute_video, MediaConfig(max_duration_s=6.999))
    size = mute_video.stat().st_size
    with pytest.raises(InputError) as caught:
        probe_video(mute_video, MediaConfig(max_file_bytes=size - 1))
    stated, limit = re.findall(r"([\d.e+-]+) MiB", str(caught.value))
    assert float(stated) > float(limit)


def test_cli_refuses_a_video_without_audio_before_loading_any_model(mute_video, monkeypatch, capsys):
    import time

    from spikemo.__main__ import main
    from spikemo.video import analyzer

    class NoModels:
        def __init__(self, *args, **kwargs):
            raise AssertionError("the Analyzer (every model) was loaded before the video was checked")

    monkeypatch.setattr(analyzer, "Analyzer", NoModels)
    started = time.perf_counter()
    assert main(["analyze", str(mute_video)]) == 2
    assert time.perf_counter() - started < 5
    captured = capsys.readouterr()
    assert "error: mute.mp4 has no audio track" in captured.err and captured.out == ""
    assert main(["analyze", str(mute_video), "--out", "x.txt"]) == 2  # the output name too
    assert "must end in .json or .csv" in capsys.readouterr().err


@pytest.mark.parametrize("arguments, message", [
    (["--out", "{tmp}/nowhere/analysis.json"], "does not exist or cannot be written"),
    (["--out", "{tmp}"], "is a folder"),
    (["--num-speakers", "0"], "--num-speakers must be at least 1"),
], ids=["missing folder", "folder", "speakers"])
def test_cli_checks_its_options_before_loading_any_model(tmp_path, monkeypatch, capsys, arguments, message):
    from spikemo.__main__ import main
    from spikemo.video import analyzer

    monkeypatch.setattr(analyzer, "Analyzer", lambda *a, **k: pytest.fail("the models were loaded first"))
    folder = tmp_path / "out.json"
    folder.mkdir()
    video = REPO_EXAMPLE
    arguments = [a.format(tmp=folder if a == "{tmp}" else tmp_path) for a in arguments]
    assert main(["analyze", str(video), *arguments]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and message in captured.err and captured.err.count("\n") == 1


def test_cli_names_a_folder_and_an_audio_only_file_in_one_line(tmp_path, capsys):
    import subprocess

    from spikemo.__main__ import main

    assert main(["analyze", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path.name} is a folder, not a video file.\n"
    audio = tmp_path / "voice.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
                    str(audio)], check=True)
    assert main(["analyze", str(audio)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: voice.mp4") and err.count("\n") == 1, err


def tiny_cues_srt(count: int) -> str:
    return "".join(f"{i + 1}\n00:00:00,{i % 900:03d} --> 00:00:00,{i % 900 + 1:03d}\nA: hi\n\n" for i in range(count))


def test_a_transcript_with_more_cues_than_the_video_allows_is_refused_quickly(tmp_path):
    import time

    from spikemo.data.transcript import TranscriptLimits, load_transcript, parse_transcript

    limits = TranscriptLimits()
    assert limits.max_cues(10.0) == 60
    assert len(parse_transcript(tiny_cues_srt(60), "srt", 10.0)) == 60  # at the limit: accepted
    path = tmp_path / "many.srt"
    path.write_text(tiny_cues_srt(20_000), encoding="utf-8")  # ~0.85 MB: under the size limit
    started = time.perf_counter()
    with pytest.raises(InputError, match=r"many\.srt has 20,000 cues; a 10\.0 s video allows at most 60 "
                                         r"\(4 a second plus 20\)"):
        load_transcript(path, 10.0, limits)
    assert time.perf_counter() - started < 1.0
    vtt = "WEBVTT\n\nNOTE not a cue\n\n" + tiny_cues_srt(61)
    with pytest.raises(InputError, match="61 cues"):
        parse_transcript(vtt, "vtt", 10.0)
    csv = "StartTime,EndTime,Speaker,Utterance\n" + "00:00:00,00:00:01,A,hi\n" * 61
    with pytest.raises(InputError, match="61 cues"):
        parse_transcript(csv, "csv", 10.0)
    assert len(parse_transcript(tiny_cues_srt(61), "srt")) == 61  # no video duration: no count limit


def test_a_transcript_over_the_size_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from spikemo.data.transcript import TranscriptLimits, load_transcript, parse_transcript

    path = tmp_path / "big.srt"
    path.write_text(tiny_cues_srt(40_000), encoding="utf-8")  # ~1.4 MB
    monkeypatch.setattr(Path, "read_text", lambda *args, **kwargs: pytest.fail("the whole file was read"))
    with pytest.raises(InputError, match=r"big\.srt is [\d,]+ bytes; the limit for a transcript is 1,000,000 bytes"):
        load_transcript(path, 10_000.0)
    monkeypatch.undo()
    with pytest.raises(InputError, match="the limit for a transcript is 100 bytes"):
        parse_transcript(tiny_cues_srt(5), "srt", limits=TranscriptLimits(max_bytes=100))


def test_the_app_checks_video_and_transcript_before_the_models(mute_video, tmp_path, monkeypatch):
    from demo import AppConfig
    from demo.state import AppState
    from demo.tabs import analyse

    monkeypatch.setattr(analyse, "run_analysis", lambda *args: pytest.fail("the models ran"))
    tab = analyse.AnalyseTab(AppState(AppConfig(checkpoint_dir=tmp_path / "none", data_dir=tmp_path)))
    with pytest.raises(gr.Error, match="mute.mp4 has no audio track"):
        tab.analyse(str(mute_video), None, None, "tiny.en", progress=lambda *args, **kwargs: None)
    # The pipeline's own limits are the ones the app checks with (the CLI passes the same defaults).
    limits = tab.state.model_setup().pipeline.transcript
    from spikemo.data.transcript import TranscriptLimits

    assert limits == TranscriptLimits()


# --- temporary files: owned, cleaned, bounded ------------------------------------------------------------------


def test_stale_app_folders_of_dead_processes_are_removed_at_start_up(tmp_path):
    import fcntl
    import os

    from demo import AppConfig
    from demo.state import IN_USE_NAME, AppState

    dead = tmp_path / "spikemo-app-99999-dead"  # its app ended: the lock file is there, nobody holds it
    (dead / "downloads" / "talk-x").mkdir(parents=True)
    (dead / "downloads" / "talk-x" / "talk-spikemo.json").write_text("{}")
    (dead / IN_USE_NAME).write_text("")
    live = tmp_path / "spikemo-app-1-live"  # another app, still running: it holds its lock
    live.mkdir()
    held = (live / IN_USE_NAME).open("w")
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    old_style = tmp_path / "spikemo-app-abc123"  # an earlier version's folder, no lock file, long untouched
    old_style.mkdir()
    os.utime(old_style, (0, 0))
    starting = tmp_path / "spikemo-app-2-starting"  # no lock file yet, but new: its app may be starting
    starting.mkdir()
    unrelated = tmp_path / "spikemo-bench-1"
    unrelated.mkdir()
    try:
        state = AppState(AppConfig(checkpoint_dir=tmp_path / "none", temp_root=tmp_path))
        assert not dead.exists() and not old_style.exists()
        assert live.is_dir() and starting.is_dir() and unrelated.is_dir()
        assert state.temp_dir.parent == tmp_path and state.temp_dir.name.startswith(f"spikemo-app-{os.getpid()}-")
        AppState(AppConfig(checkpoint_dir=tmp_path / "none", temp_root=tmp_path))  # another app starting now
        assert state.temp_dir.is_dir()  # leaves the running one's folder alone
    finally:
        held.close()


def test_downloads_are_bounded_by_age_and_by_total_size_oldest_first(tmp_path):
    import os
    import time

    from demo import AppConfig
    from demo.state import AppState

    state = AppState(AppConfig(checkpoint_dir=tmp_path / "none", temp_root=tmp_path, downloads_max_bytes=2500,
                               downloads_max_age_s=3600))

    def finish_request(stem: str) -> Path:
        with state.request_folder() as scratch:
            file = scratch / f"{stem}.json"
            file.write_bytes(b"x" * 1000)
            (kept,) = state.keep_downloads([file], stem)
        assert not scratch.exists() and kept.read_bytes() == b"x" * 1000
        return kept.parent

    first = finish_request("first")
    os.utime(first, (time.time() - 30, time.time() - 30))
    second = finish_request("second")
    assert first.is_dir() and second.is_dir()  # 2000 bytes: within the bound
    os.utime(second, (time.time() - 20, time.time() - 20))
    third = finish_request("third")  # 3000 bytes: over it, so the oldest goes
    assert not first.exists() and second.is_dir() and third.is_dir()
    os.utime(second, (time.time() - 7200, time.time() - 7200))  # past downloads_max_age_s
    fourth = finish_request("fourth")
    assert not second.exists() and third.is_dir() and fourth.is_dir()
    alone = AppState(AppConfig(checkpoint_dir=tmp_path / "none", temp_root=tmp_path, downloads_max_bytes=10))
    with alone.request_folder() as scratch:
        (scratch / "big.csv").write_bytes(b"y" * 100)
        (kept,) = alone.keep_downloads([scratch / "big.csv"], "big")
    assert kept.is_file()  # the newest download stays even over the bound: its user has yet to fetch it
    assert list(state.requests_dir.iterdir()) == [] and list(alone.requests_dir.iterdir()) == []


# --- face cues only from frames the video holds ---------------------------------------------------------------


def make_single_frame_video(folder: Path, seconds: float = 6.0) -> Path:
    """A video whose picture stream is one frame (the astronaut photo) and whose audio lasts `seconds`."""
    import subprocess

    import imageio_ffmpeg
    from skimage import data

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    photo = data.astronaut()
    picture = folder / "picture.mp4"
    subprocess.run([ffmpeg, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "512x512",
                    "-i", "-", "-frames:v", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(picture)],
                   input=photo.tobytes(), check=True)
    video = folder / "single_frame.mp4"
    subprocess.run([ffmpeg, "-y", "-loglevel", "error", "-i", str(picture), "-f", "lavfi", "-i",
                    f"sine=frequency=220:duration={seconds}", "-c:v", "copy", "-c:a", "aac", str(video)], check=True)
    return video


@pytest.fixture(scope="module")
def single_frame_video(tmp_path_factory) -> Path:
    return make_single_frame_video(tmp_path_factory.mktemp("single"))


def test_a_single_frame_video_gives_its_frame_once_and_no_face_cue(single_frame_video):
    from spikemo.video.media import probe_video
    from spikemo.video.visual_features import VisualFeatureExtractor, decode_span, visual_features_for_span

    assert probe_video(single_frame_video).duration == pytest.approx(6.0, abs=0.1)  # a playable 6 s video
    assert [t for t, _ in decode_span(single_frame_video, 0.0, 6.0, 2.0)] == [0.0]  # one frame, not 12 copies
    assert decode_span(single_frame_video, 2.0, 4.0, 2.0) == []
    with VisualFeatureExtractor() as extractor:
        covering = visual_features_for_span(extractor, single_frame_video, 0.0, 2.0, 2.0)
        later = visual_features_for_span(extractor, single_frame_video, 2.0, 4.0, 2.0)
        astronaut = decode_span(single_frame_video, 0.0, 1.0, 2.0)[0][1]
        repeated = extractor.extract([(0.0, astronaut)] * 5)  # a player handing out one frame five times
        several = extractor.extract([(0.0, astronaut), (0.5, astronaut), (1.0, astronaut)])
    cue = covering.face_cue()
    assert covering.face_found and covering.num_frames == 1  # the face is there, in one frame
    assert cue["face_expression"] is None and cue["face_frames"] == 1
    assert cue["face_note"] == "only 1 video frame in this turn; a cue needs 2"
    assert later.face_cue() == {"face_expression": None, "face_expression_prob": 0.0, "face_presence": 0.0,
                                "face_frames": 0, "face_note": "no video frame in this turn"}
    assert repeated.num_frames == 1 and repeated.face_cue()["face_expression"] is None
    assert several.face_cue()["face_expression"] == "joy" and several.face_cue()["face_frames"] == 3


def test_the_turn_table_shows_a_dash_and_the_details_say_why_a_turn_has_no_face_cue():
    from demo.tabs.analyse_views import turn_details, turn_rows

    analysis = make_analysis("Ann", "Hello there.")
    analysis.cues[0].face_frames = 1
    analysis.cues[0].face_note = "only 1 video frame in this turn; a cue needs 2"
    assert turn_rows(analysis)["face"][0] == "-"  # a short cell keeps the row one line; the reason is below
    assert "**Face cue:** none: only 1 video frame in this turn; a cue needs 2." in turn_details(analysis, 0)
    record = analysis.to_dict()["utterances"][0]["cues"]
    assert record["face_frames"] == 1 and record["face_note"].startswith("only 1 video frame")


@pytest.mark.slow
def test_the_pipeline_gives_a_single_frame_video_no_face_cue_and_says_why(single_frame_video, tmp_path):
    import json

    from spikemo.runtime import torch_threads
    from spikemo.video.analyzer import Analyzer
    from tests.helpers import make_test_checkpoint

    srt = tmp_path / "single_frame.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:02,500\nAnn: Hello there.\n\n"
                   "2\n00:00:03,000 --> 00:00:05,500\nBob: Hi, how are you?\n", encoding="utf-8")
    checkpoint = make_test_checkpoint(tmp_path / "ckpt", ("text",))
    with torch_threads(1), Analyzer(checkpoint) as analyzer:
        analysis = analyzer.analyze(single_frame_video, transcript_path=srt)
    assert [c.face_expression for c in analysis.cues] == [None, None]
    assert [c.face_frames for c in analysis.cues] == [1, 0]
    assert [c.face_note for c in analysis.cues] == ["only 1 video frame in this turn; a cue needs 2",
                                                    "no video frame in this turn"]
    analysis.write(tmp_path / "single_frame.json")
    written = json.loads((tmp_path / "single_frame.json").read_text())["utterances"]
    assert [u["cues"]["face_frames"] for u in written] == [1, 0]


# --- the load test ---------------------------------------------------------------------------------------------


def test_the_load_test_only_talks_to_this_machine_and_stays_bounded():
    import subprocess
    import sys

    from spikemo.paths import REPO_ROOT

    script = [sys.executable, str(REPO_ROOT / "scripts" / "load_test.py")]
    env = {"PYTHONPATH": str(REPO_ROOT), "GRADIO_ANALYTICS_ENABLED": "False", "PATH": "/usr/bin:/bin"}
    remote = subprocess.run([*script, "--url", "http://10.1.2.3:7860/"], capture_output=True, text=True, env=env,
                            timeout=120)
    assert remote.returncode != 0 and "must point at this machine" in remote.stderr
    many = subprocess.run([*script, "--clients", "500"], capture_output=True, text=True, env=env, timeout=120)
    assert many.returncode != 0 and "--clients 1..16" in many.stderr
