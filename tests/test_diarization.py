"""Who speaks when (spikemo.video.diarization) and its benchmark (spikemo.bench.diarization).

The rules (smoothing, word placement, cut-off sentence starts, naming, the speaker count) run on hand-made
inputs; the real-speech tests run Silero VAD and the voice encoder on the committed excerpts of real recordings
(tests/data/conversations, licences in its README), and the benchmark's scoring is pyannote.metrics."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from spikemo.__main__ import DIARIZERS
from spikemo.__main__ import main as cli_main
from spikemo.errors import CheckpointError
from spikemo.video.diarization import (
    DIARIZATION_METHODS,
    Diarization,
    DiarizationConfig,
    SpeakerTurn,
    WindowScores,
    cluster_windows,
    diarize,
    join_short_pieces,
    load_pyannote_pipeline,
    pyannote_timeline,
    renumber,
    smooth_runs,
    word_speakers,
)
from spikemo.video.segmentation import Segment
from spikemo.video.speech import SAMPLE_RATE, Transcription, Word, detect_speech
from tests.helpers import timed_words

EXCERPTS = Path(__file__).parent / "data" / "conversations"
pyannote_core = pytest.importorskip("pyannote.core", reason="pyannote.metrics (a test dependency) brings it")


def _segment(spec: str, speaker: str, start: float, step: float = 0.3) -> Segment:
    return Segment(tuple(timed_words(spec, start=start, step=step, length=step - 0.02)), speaker)


# --- rules on hand-made inputs -----------------------------------------------------------------------------


def test_short_runs_join_their_longer_neighbour_and_a_lone_run_stays():
    assert smooth_runs([0] * 10 + [1] * 2 + [0] * 5, min_frames=4) == [(0, 17, 0)]
    assert smooth_runs([0] * 10 + [1] * 6 + [2] * 1 + [1] * 3, min_frames=4) == [(0, 10, 0), (10, 20, 1)]
    assert smooth_runs([1, 1], min_frames=10) == [(0, 2, 1)]
    assert smooth_runs([0] * 3 + [1] * 5, min_frames=2) == [(0, 3, 0), (3, 8, 1)]


def test_frames_take_the_voice_the_covering_windows_favour():
    windows = np.array([[0.0, 1.0], [0.5, 1.5], [1.0, 2.0], [5.0, 6.0]])
    similarity = np.array([[0.9, 0.1], [0.5, 0.6], [0.1, 0.9], [0.8, 0.2]])
    voices = WindowScores(windows, similarity).frame_voices(np.array([0.25, 0.75, 1.75, 3.0]))
    assert voices.tolist() == [0, 0, 1, 1]  # 0.75: mean of windows 0 and 1; 3.0: none covers it, the nearest (2)


def test_a_word_takes_the_speaker_with_most_time_on_it_and_is_never_split():
    timeline = [SpeakerTurn(0.0, 1.05, "A"), SpeakerTurn(1.05, 2.0, "B"), SpeakerTurn(5.0, 6.0, "A")]
    words = [Word("one", 0.2, 0.6), Word("two", 0.9, 1.3), Word("three", 1.0, 1.2), Word("far", 3.0, 3.2)]
    assert word_speakers(words, timeline) == ["A", "B", "B", "B"]  # "far": the nearest turn (B ends at 2.0)
    assert word_speakers(words, []) == ["Speaker 1"] * 4


def test_window_scores_choose_each_words_voice_by_overlap():
    scores = WindowScores(np.array([[0.0, 0.6], [0.5, 1.1], [2.0, 2.6]]),
                          np.array([[0.9, 0.2], [0.1, 0.8], [0.7, 0.3]]))
    words = [Word("a", 0.0, 0.4), Word("b", 0.6, 1.0), Word("c", 0.45, 0.65), Word("z", 4.0, 4.2)]
    assert scores.word_voices(words) == [0, 1, 1, 0]


def test_a_cut_off_sentence_start_joins_its_sentence_and_a_whole_reply_stays():
    cut = [_segment("Do", "Speaker 3", 0.0), _segment("you hear me?", "Speaker 1", 0.3)]
    assert [(s.speaker, s.text) for s in join_short_pieces(cut)] == [("Speaker 1", "Do you hear me?")]
    reply = [_segment("Can you hear me?", "Speaker 1", 0.0), _segment("Yes.", "Speaker 2", 1.25),
             _segment("Good, then we start.", "Speaker 1", 1.6)]
    assert [s.speaker for s in join_short_pieces(reply)] == ["Speaker 1", "Speaker 2", "Speaker 1"]
    # "Sure," after a pause is someone's reply, not the start of the next voice's sentence
    paused = [_segment("Sure,", "Speaker 2", 0.0), _segment("please pass the salt.", "Speaker 1", 0.6)]
    assert [s.speaker for s in join_short_pieces(paused)] == ["Speaker 2", "Speaker 1"]
    # one word of a sentence voiced oddly goes back to the sentence, which becomes one turn again
    odd = [_segment("I think that", "Speaker 1", 0.0), _segment("we", "Speaker 2", 0.9),
           _segment("should go now.", "Speaker 1", 1.2)]
    assert [(s.speaker, s.text) for s in join_short_pieces(odd)] == [("Speaker 1", "I think that we should go now.")]


def test_speakers_are_numbered_by_their_first_turn_with_words():
    timeline = [SpeakerTurn(0.0, 0.5, "x"), SpeakerTurn(0.5, 2.0, "y"), SpeakerTurn(2.0, 3.0, "z")]
    turns = [_segment("hello there", "y", 0.6), _segment("fine thanks", "z", 2.1)]
    named = renumber(Diarization(timeline, turns))
    assert [s.speaker for s in named.segments] == ["Speaker 1", "Speaker 2"]
    assert [t.speaker for t in named.timeline] == ["Speaker 3", "Speaker 1", "Speaker 2"]


def test_the_speaker_count_honours_a_hint_and_has_a_floor_for_little_speech():
    rng = np.random.default_rng(0)
    centres = np.eye(3, 8)
    embeddings = np.concatenate([c + 0.05 * rng.standard_normal((10, 8)) for c in centres])
    config = DiarizationConfig()
    assert len(set(cluster_windows(embeddings, 30.0, None, config))) == 3
    assert len(set(cluster_windows(embeddings, 30.0, 2, config))) == 2
    assert len(set(cluster_windows(embeddings, 2.0, None, config))) == 1  # under single_speaker_below_s
    assert len(set(cluster_windows(embeddings, 2.0, 3, config))) == 3  # the user's count wins


def test_methods_are_checked_and_the_command_line_offers_the_same():
    assert DIARIZERS == DIARIZATION_METHODS
    with pytest.raises(ValueError, match="unknown diarization method 'magic'"):
        DiarizationConfig(method="magic")
    with pytest.raises(ValueError, match="num_speakers must be at least 1"):
        diarize(np.zeros(SAMPLE_RATE, dtype=np.float32), Transcription([], [], 1.0), 0)


def test_silence_has_no_speakers_and_no_turns():
    result = diarize(np.zeros(3 * SAMPLE_RATE, dtype=np.float32), Transcription([], [], 3.0))
    assert result.timeline == [] and result.segments == []


# --- the optional pyannote.audio backend, against a stand-in pipeline --------------------------------------


def test_the_pyannote_adapter_reads_its_annotation_into_the_timeline(monkeypatch):
    from pyannote.core import Annotation
    from pyannote.core import Segment as Span

    annotation = Annotation()
    annotation[Span(0.5, 2.0)] = "SPEAKER_01"
    annotation[Span(1.8, 3.0)] = "SPEAKER_00"
    calls = []

    def pipeline(waveform, **options):
        calls.append((waveform["waveform"].shape, waveform["sample_rate"], options))
        return SimpleNamespace(speaker_diarization=annotation)  # pyannote.audio 4 wraps its Annotation

    monkeypatch.setattr("spikemo.video.diarization.load_pyannote_pipeline", lambda pipeline_id, token: pipeline)
    audio = np.zeros(4 * SAMPLE_RATE, dtype=np.float32)
    timeline = pyannote_timeline(audio, 2)
    assert timeline == [SpeakerTurn(0.5, 2.0, "SPEAKER_01"), SpeakerTurn(1.8, 3.0, "SPEAKER_00")]
    assert calls == [((1, 4 * SAMPLE_RATE), SAMPLE_RATE, {"num_speakers": 2})]
    words = [Word("Hi", 0.6, 1.0), Word("there.", 1.0, 1.4), Word("Hello.", 2.2, 2.8)]
    result = diarize(audio, Transcription(words, [], 4.0), None, DiarizationConfig(method="pyannote"))
    assert [(s.speaker, s.text) for s in result.segments] == [("Speaker 1", "Hi there."), ("Speaker 2", "Hello.")]
    assert calls[-1][2] == {}  # no count given: pyannote estimates it


def test_the_pyannote_backend_says_what_it_needs(monkeypatch):
    load_pyannote_pipeline.cache_clear()
    monkeypatch.setitem(__import__("sys").modules, "pyannote.audio", None)  # as where it is not installed
    with pytest.raises(CheckpointError, match="pip install pyannote.audio"):
        load_pyannote_pipeline("pyannote/speaker-diarization-3.1", "token")
    load_pyannote_pipeline.cache_clear()


# --- real speech -------------------------------------------------------------------------------------------


def _read(name: str) -> np.ndarray:
    import soundfile

    samples, rate = soundfile.read(EXCERPTS / f"{name}.flac", dtype="float32")
    assert rate == SAMPLE_RATE
    return samples


def test_one_real_voice_is_one_speaker_and_two_real_voices_two():
    config = DiarizationConfig()
    for name, expected in (("one-voice", 1), ("two-voices", 2)):
        audio = _read(name)
        regions = [(r.start, r.end) for r in detect_speech(audio, config.vad)]
        result = diarize(audio, Transcription([], [], len(audio) / SAMPLE_RATE))
        assert result.segments == []  # no words given: a timeline only
        assert len({t.speaker for t in result.timeline}) == expected, (name, result.timeline)
        assert sum(t.end - t.start for t in result.timeline) == pytest.approx(
            sum(end - start for start, end in regions), abs=0.2)  # all the speech heard belongs to someone


def test_two_real_voices_change_where_the_reference_says():
    result = diarize(_read("two-voices"), Transcription([], [], 9.0))
    changes = [b.start for a, b in zip(result.timeline, result.timeline[1:]) if a.speaker != b.speaker]
    assert len(changes) == 1 and changes[0] == pytest.approx(4.0, abs=0.5), result.timeline


@pytest.mark.slow
def test_bench_diarization_scores_the_excerpts_with_pyannote_metrics(capsys):
    assert cli_main(["bench", "diarization", "--data", str(EXCERPTS), "--json", "--threads", "1"]) == 0
    table, raw = capsys.readouterr().out.strip().rsplit("\n", 1)
    result = json.loads(raw)
    assert [row["file"] for row in result["files"]] == ["one-voice", "two-voices"]
    assert "one-voice" in table and "mean of 2 files" in table
    for row in result["files"]:
        assert row["speakers_found"] == row["speakers_reference"]
        assert row["der"] == pytest.approx(row["missed"] + row["false_alarm"] + row["confusion"], abs=0.01)
        assert row["der"] < 25 and row["der_collar"] <= row["der"] and row["seconds_per_minute"] > 0
    assert result["mean"]["count_exact"] == 2


def test_bench_diarization_refuses_what_it_cannot_score(tmp_path, capsys):
    assert cli_main(["bench", "diarization"]) == 2
    assert "needs --data DIR" in capsys.readouterr().err
    (tmp_path / "talk.wav").write_bytes(b"")
    assert cli_main(["bench", "diarization", "--data", str(tmp_path)]) == 2
    assert "no audio or video file there has a reference RTTM" in capsys.readouterr().err
    assert cli_main(["bench", "diarization", "--data", str(EXCERPTS), "--num-speakers", "0"]) == 2
    assert "--num-speakers must be at least 1" in capsys.readouterr().err


def test_a_perfect_hypothesis_scores_zero_and_a_silent_one_misses_everything():
    from spikemo.bench.diarization import annotation, find_recordings, score_file

    recording = {r.uri: r for r in find_recordings(EXCERPTS)}["two-voices"]
    uem = pyannote_core.Timeline([pyannote_core.Segment(0.0, 9.0)])
    perfect = annotation([SpeakerTurn(0.0, 4.0, "x"), SpeakerTurn(4.0, 9.0, "y")], "two-voices")
    assert score_file(recording.reference, perfect, uem)["der"] == pytest.approx(0.0)
    silent = score_file(recording.reference, annotation([], "two-voices"), uem)
    assert silent["der"] == pytest.approx(100.0) and silent["missed"] == pytest.approx(100.0)
    one = score_file(recording.reference, annotation([SpeakerTurn(0.0, 9.0, "x")], "two-voices"), uem)
    assert one["confusion"] == pytest.approx(100 * 4 / 9, abs=0.1) and one["speakers_found"] == 1


def test_the_apps_diarizer_setting_reaches_the_pipeline(monkeypatch, tmp_path):
    from demo.config import AppConfig
    from demo.state import AppState

    assert AppConfig().diarizer == "timeline"
    monkeypatch.setenv("SPIKEMO_DIARIZER", "words")
    state = AppState(AppConfig(temp_root=tmp_path))
    try:
        assert state.model_setup().pipeline.diarization.method == "words"
    finally:
        state.remove_temp_dir()
    with pytest.raises(ValueError, match="unknown diarizer 'magic'"):
        AppConfig(diarizer="magic")
