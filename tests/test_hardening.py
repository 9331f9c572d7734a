"""The app and the CLI under untrusted input: user text shown as text, spreadsheet-safe CSV exports, exact limit
messages, cheap checks before the models load, and limits on transcripts."""

import html
import re

import gradio as gr
import pytest

from demo.app import checkpoint_status
from demo.errors import user_errors
from demo.markup import html_text, md
from demo.tabs.analyse import analysis_summary, turn_details
from demo.tabs.inspect import scored_summary
from demo.worker import ScoredFile
from spikemo.data.conversation import Conversation, Prediction, Utterance
from spikemo.errors import InputError
from spikemo.video.analysis import Analysis, UtteranceCues

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
                    ("text",), ["a note with ![x](http://host/note.png)"], {"total": 1.0})


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
    assert len(tables) == 3
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
    from pathlib import Path

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
