"""Transcript parsers (SRT, WebVTT, MELD CSV) on small strings, and their error messages."""

import pytest

from spikemo.data.timestamps import parse_timestamp
from spikemo.data.transcript import UNKNOWN_SPEAKER, load_transcript, parse_transcript
from spikemo.errors import InputError

SRT = """1
00:00:01,000 --> 00:00:02,500
Ross: We were on a break!

2
00:00:03,000 --> 00:00:04,200
<i>No, we were not.</i>
Really not.
"""

VTT = """WEBVTT

NOTE written by hand

intro
00:01.000 --> 00:02.000
<v Rachel>I can't believe it.</v>

00:00:02.500 --> 00:00:03.000 align:start
Monica: Oh my God!
"""

CSV = """Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime
1,"Oh my God, he’s lost it.",Phoebe,sadness,negative,0,0,4,7,"00:00:00,256","00:00:03,049"
2,What?,Monica,surprise,negative,0,1,4,7,"00:00:03,927","00:00:05,261"
"""


def _summary(utterances):
    return [(u.speaker, u.text, u.start, u.end) for u in utterances]


def test_srt_with_name_prefix_and_markup():
    assert _summary(parse_transcript(SRT, "srt")) == [
        ("Ross", "We were on a break!", 1.0, 2.5),
        (UNKNOWN_SPEAKER, "No, we were not. Really not.", 3.0, 4.2),
    ]


def test_text_in_angle_brackets_that_is_not_markup_is_kept_as_written():
    srt = ("1\n00:00:01,000 --> 00:00:02,000\n"
           "Ross: <b>Hi</b> <laughs> I <3 you {\\an8}<font color=\"red\">now</font>\n\n"
           "2\n00:00:02,500 --> 00:00:03,000\n<script>alert(1)</script> <c.yellow>a</c> <00:00:02.700>b\n")
    assert [u.text for u in parse_transcript(srt, "srt")] == [
        "Hi <laughs> I <3 you now", "<script>alert(1)</script> a b"]


def test_vtt_voice_tags_prefixes_and_notes():
    assert _summary(parse_transcript(VTT, "vtt")) == [
        ("Rachel", "I can't believe it.", 1.0, 2.0),
        ("Monica", "Oh my God!", 2.5, 3.0),
    ]


def test_meld_csv_keeps_speaker_text_and_gold_emotion():
    utterances = parse_transcript(CSV, "csv", video_duration=6.0)
    assert _summary(utterances) == [
        ("Phoebe", "Oh my God, he’s lost it.", 0.256, 3.049),
        ("Monica", "What?", 3.927, 5.261),
    ]
    assert [u.emotion for u in utterances] == ["sadness", "surprise"]
    assert [u.utterance_id for u in utterances] == [0, 1]


def test_timestamps():
    assert parse_timestamp("01:02:03,5") == pytest.approx(3723.5)
    assert parse_timestamp("02:03.250") == pytest.approx(123.25)
    with pytest.raises(ValueError, match="'1:2' is not a time"):
        parse_timestamp("1:2")
    with pytest.raises(InputError, match="SRT cue at line 1: '1:2' is not a time"):
        parse_transcript("1\n1:2 --> 00:00:02,000\nhi\n", "srt")


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        ("1\n00:00:01,000 -> 00:00:02,000\nhi\n", "srt", "SRT cue at line 1: no 'start --> end'"),
        ("1\n00:00:01,000 --> soon\nhi\n", "srt", "SRT cue at line 1: 'soon' is not a time"),
        (SRT + "\n3\n00:00:09,000 --> 00:00:08,000\nbackwards\n", "srt",
         "SRT cue at line 10: ends .* before it starts"),
        ("1\n00:00:01,000 --> 00:00:02,000\n", "srt", "no text"),
        ("00:01.000 --> 00:02.000\nhi\n", "vtt", "first line must be 'WEBVTT'"),
        ("WEBVTT\n", "vtt", "contains no cues"),
        ("Utterance,Speaker\nhi,Joey\n", "csv", "missing column\\(s\\) StartTime, EndTime"),
        (CSV.replace("surprise", "bored"), "csv", "CSV line 3: unknown emotion 'bored'"),
        (CSV.replace('"00:00:03,927"', "later"), "csv", "CSV line 3: 'later' is not a time"),
        (SRT, "docx", "Unknown transcript format 'docx'"),
    ],
)
def test_bad_transcripts_name_the_problem(text, kind, message):
    with pytest.raises(InputError, match=message):
        parse_transcript(text, kind)


def test_cue_past_the_video_end_is_refused():
    with pytest.raises(InputError, match="SRT cue at line 5: runs to 4.200 s, past the video's end at 3.000 s"):
        parse_transcript(SRT, "srt", video_duration=3.0)
    assert len(parse_transcript(SRT, "srt", video_duration=4.0)) == 2


def test_load_transcript_reads_files_by_suffix(tmp_path):
    path = tmp_path / "talk.vtt"
    path.write_text(VTT, encoding="utf-8")
    assert [u.speaker for u in load_transcript(path, video_duration=10.0)] == ["Rachel", "Monica"]
    with pytest.raises(InputError, match="not found"):
        load_transcript(tmp_path / "missing.srt")
    latin = tmp_path / "latin.srt"
    latin.write_bytes("1\n00:00:01,000 --> 00:00:02,000\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        load_transcript(latin)
