"""Turns as people take them: word-level speakers from voice windows, splits at speaker changes without a pause,
same-voice merging, transcripts kept as given, and the turn-taking evaluation (spikemo.bench.turns).

Pure logic runs on hand-made words, windows and embeddings; the tests marked slow run Whisper (the default model,
and both offered models for the quick reply) and the voice encoder on generated espeak-ng speech."""

import numpy as np
import pytest

from spikemo.__main__ import build_parser
from spikemo.bench.synthetic import (
    SHORT_REPLIES,
    TURN_RATE,
    TurnTakingConfig,
    make_turn_taking,
    speak_exchange,
    turn_taking_suite,
)
from spikemo.bench.turns import (
    METHODS,
    bench_turns,
    edit_distance,
    format_turn_bench,
    matched_boundaries,
    normalise_words,
    reference_speakers,
    score_turns,
    word_edits,
)
from spikemo.data.transcript import load_transcript
from spikemo.video.diarization import diarize
from spikemo.video.segmentation import Segment, SegmentationConfig, apply_speakers, segment_words
from spikemo.video.speakers import (
    MIN_WORD_S,
    SpeakerConfig,
    cluster_voices,
    label_transcript,
    nearest_voices,
    overlap_seconds,
    sliding_windows,
    word_voices,
)
from spikemo.video.speech import SpeechConfig, Word, transcribe
from tests.helpers import timed_words

# --- windows and word votes ---------------------------------------------------------------------------------


def test_sliding_windows_cover_each_span_to_its_end():
    windows = sliding_windows([(0.0, 2.0)], window_s=1.0, hop_s=0.25)
    assert windows[0] == (0.0, 1.0)
    assert windows[-1] == (1.0, 2.0)
    assert [round(start, 2) for start, _ in windows] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert all(end - start == pytest.approx(1.0) for start, end in windows)


def test_a_span_shorter_than_a_window_gets_one_centred_window():
    assert sliding_windows([(3.0, 3.4)], window_s=1.0, hop_s=0.25) == [pytest.approx((2.7, 3.7))]
    assert sliding_windows([], 1.0, 0.25) == []


def test_overlap_counts_the_seconds_a_word_shares_with_each_window():
    words = [Word("do", 0.0, 0.2), Word("you", 0.2, 0.5), Word("yes", 1.0, 1.0)]  # "yes" timed with zero length
    shared = overlap_seconds(words, [(0.0, 0.4), (0.3, 0.7), (0.9, 1.3)])
    assert shared.shape == (3, 3)
    assert shared[0] == pytest.approx([0.2, 0.0, 0.0])
    assert shared[1] == pytest.approx([0.2, 0.2, 0.0])
    assert shared[2] == pytest.approx([0.0, 0.0, MIN_WORD_S])


def test_each_word_takes_the_voice_with_most_window_time_on_it():
    # Four words; windows of voice 0 cover the first three, two short windows of voice 1 sit on the last word.
    words = timed_words("do you hear yes", step=0.5, length=0.4)
    windows = [(0.0, 1.0), (0.5, 1.4), (1.0, 1.8), (1.4, 1.8), (1.5, 1.9)]
    voices = np.array([0, 0, 0, 1, 1])
    assert word_voices(words, windows, voices, 2).tolist() == [0, 0, 0, 1]
    # A word Whisper timed outside every window takes the voice of the window nearest its middle.
    assert word_voices([Word("late", 2.5, 2.6)], windows, voices, 2).tolist() == [1]


def test_word_windows_choose_again_after_the_voices_are_re_estimated():
    # The learnt voices lean towards each other (as windows straddling a speaker change make them); the windows
    # that chose each voice pull it back to where they are, and the borderline window changes side.
    windows = np.array([[1.0, 0.0], [0.9, 0.436], [0.0, 1.0], [0.5, 0.866]])
    windows /= np.linalg.norm(windows, axis=1, keepdims=True)
    voices = np.array([[0.6, 0.8], [0.0, 1.0]])
    assert nearest_voices(windows, voices).tolist() == [0, 0, 1, 0]
    assert nearest_voices(windows, voices, refine_steps=1).tolist() == [0, 0, 1, 1]


def test_voices_are_cluster_means_and_unhinted_near_duplicates_merge():
    rng = np.random.default_rng(0)
    centres = np.eye(3, 16)  # three orthogonal voices
    points = np.concatenate([c + 0.05 * rng.normal(size=(12, 16)) for c in centres])
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    hinted = cluster_voices(points, num_speakers=3)
    assert hinted.shape == (3, 16)
    assert np.linalg.norm(hinted, axis=1) == pytest.approx(1.0)
    assert sorted(np.argmax(hinted @ centres.T, axis=1).tolist()) == [0, 1, 2]
    # Without a hint the clustering starts at max_speakers clusters; splits of one voice merge back.
    assert len(cluster_voices(points, config=SpeakerConfig(max_speakers=6))) == 3
    assert len(cluster_voices(points[:12], config=SpeakerConfig(max_speakers=6))) == 1
    with pytest.raises(ValueError):
        cluster_voices(points, num_speakers=0)


def test_the_command_line_runs_the_turn_benchmark_with_its_options():
    args = build_parser().parse_args(["bench", "turns", "--conversations", "2", "--models", "tiny.en",
                                      "--threads", "1", "--estimate-speakers"])
    assert (args.target, args.conversations, args.models, args.threads) == ("turns", 2, ["tiny.en"], 1)
    assert args.estimate_speakers and args.seed == 0


# --- splitting and merging ----------------------------------------------------------------------------------


def test_a_one_word_reply_by_another_voice_is_its_own_turn():
    words = timed_words("do you hear me yes")  # no pause anywhere
    segments = segment_words(words)
    assert len(segments) == 1
    turns = apply_speakers(segments, [["S1"] * 4 + ["S2"]])
    assert [(t.speaker, t.text) for t in turns] == [("S1", "do you hear me"), ("S2", "yes")]


def test_a_short_piece_merges_only_into_the_same_voice():
    words = timed_words("good morning to you | yes")  # a pause, then a one-word fragment
    segments = segment_words(words)
    assert len(segments) == 1  # the fragment joined its neighbour before voices were known
    same = apply_speakers(segments, [["S1"] * 5])
    other = apply_speakers(segments, [["S1"] * 4 + ["S2"]])
    assert [t.text for t in same] == ["good morning to you yes"]
    assert [(t.speaker, t.text) for t in other] == [("S1", "good morning to you"), ("S2", "yes")]


def test_a_same_voice_pause_still_splits():
    words = timed_words("the meeting starts at nine | I will take the train")
    turns = apply_speakers(segment_words(words), [["S1"] * 5, ["S1"] * 5])
    assert [(t.speaker, t.text) for t in turns] == [("S1", "the meeting starts at nine"),
                                                    ("S1", "I will take the train")]


@pytest.mark.parametrize("seed", range(20))
def test_every_word_lands_in_exactly_one_turn_in_order(seed):
    rng = np.random.default_rng(seed)
    spec = " ".join("|" if rng.random() < 0.15 else f"w{i}" for i in range(40))
    words = timed_words(spec, step=float(rng.uniform(0.2, 0.5)))
    segments = segment_words(words, config=SegmentationConfig(max_duration_s=3.0))
    labels = [[f"S{rng.integers(3)}" for _ in s.words] for s in segments]
    turns = apply_speakers(segments, labels)
    assert [w for t in turns for w in t.words] == words
    assert all(t.words for t in turns)


# --- the generated turn-taking conversations ----------------------------------------------------------------


def test_turn_taking_conversations_are_deterministic_and_quick():
    config = TurnTakingConfig(num_speakers=3, snr_db=10.0, seed=4)
    first, second = make_turn_taking(config), make_turn_taking(config)
    assert np.array_equal(first.audio, second.audio) and first.turns == second.turns
    assert first.audio.dtype == np.float32 and first.duration == pytest.approx(first.audio.size / TURN_RATE)
    assert {t.speaker for t in first.turns} <= {"A", "B", "C"}
    for previous, turn in zip(first.turns, first.turns[1:]):
        gap = turn.start - previous.end
        if turn.speaker == previous.speaker:
            assert 0.79 <= gap <= 1.11  # a same-voice turn comes after a real pause
        else:
            assert -0.16 <= gap <= 0.16  # a quick exchange, or a little overlap


def test_the_suite_has_short_replies_overlap_several_voices_and_noise_levels():
    configs = turn_taking_suite(6)
    assert {c.num_speakers for c in configs} == {2, 3, 4}
    assert {c.snr_db for c in configs} == {30.0, 15.0}
    assert len({c.seed for c in configs}) == 6
    turns = [(c, make_turn_taking(c).turns) for c in configs[:3]]
    replies = {text for texts in SHORT_REPLIES.values() for text in texts}
    assert sum(t.text in replies for _, ts in turns for t in ts) >= 3
    assert any(b.start < a.end for _, ts in turns for a, b in zip(ts, ts[1:]))


# --- scoring ------------------------------------------------------------------------------------------------


def test_boundaries_pair_one_to_one_within_the_tolerance():
    assert matched_boundaries([1.0, 2.1, 5.0], [1.2, 2.0, 3.0], 0.3) == 2
    assert matched_boundaries([1.0, 1.1], [1.05], 0.3) == 1  # one reference boundary pairs once
    assert matched_boundaries([1.0], [1.31], 0.3) == 0
    assert matched_boundaries([], [1.0], 0.3) == 0


def test_word_error_counts_agree_with_jiwer():
    assert normalise_words("Oh, no! I'm FINE.") == ["oh", "no", "i'm", "fine"]
    assert edit_distance(["a", "b", "c", "d"], ["a", "x", "c"]) == 2
    assert edit_distance([], ["a"]) == 1
    jiwer = pytest.importorskip("jiwer")
    reference, hypothesis = "Do you hear me? Yes. The meeting starts at nine.", "do you here me yes meeting starts 9 ok"
    assert word_edits(reference, hypothesis)[0] == edit_distance(normalise_words(reference),
                                                                 normalise_words(hypothesis))
    assert word_edits(reference, hypothesis)[0] / 10 == pytest.approx(
        jiwer.wer(" ".join(normalise_words(reference)), " ".join(normalise_words(hypothesis))))


def test_scores_of_a_perfect_and_of_a_merged_answer():
    conversation = speak_exchange([("A", "neutral", "Do you hear me?", 0.0), ("B", "neutral", "Yes.", 0.05)])
    first, second = conversation.turns
    words = [Word("Do", first.start, first.start + 0.2), Word("you", first.start + 0.2, first.start + 0.4),
             Word("hear", first.start + 0.4, first.start + 0.6), Word("me?", first.start + 0.6, first.end),
             Word("Yes.", second.start, second.end)]
    assert reference_speakers(words, conversation.turns) == ["A"] * 4 + ["B"]
    perfect = score_turns([Segment(tuple(words[:4]), "x"), Segment(tuple(words[4:]), "y")], conversation)
    assert perfect.scores() == {"boundary_precision": 1.0, "boundary_recall": 1.0, "boundary_f1": 1.0,
                                "word_speaker_accuracy": 1.0, "extra_speakers": 0, "wer": 0.0}
    merged = score_turns([Segment(tuple(words), "x")], conversation)
    assert merged.scores()["boundary_recall"] == 0.0 and merged.scores()["word_speaker_accuracy"] == 0.8
    total = perfect + merged
    assert (total.matched, total.reference, total.words) == (1, 2, 10)


# --- real speech (Whisper tiny.en and the voice encoder) ------------------------------------------------------


def _recognised_turns(conversation, num_speakers, method="timeline", model=SpeechConfig().model):
    recognised = transcribe(conversation.audio, SpeechConfig(model=model))
    return recognised, diarize(conversation.audio, recognised, num_speakers, METHODS[method]).segments


@pytest.mark.slow
@pytest.mark.parametrize("model", ["tiny.en", "base"])
def test_a_quick_one_word_reply_by_the_other_voice_is_its_own_turn(model):
    # "Sure." comes 50 ms after the first voice stops, and the first voice goes on 100 ms later: no pause at all.
    conversation = speak_exchange([
        ("A", "neutral", "Can you see the screen from there?", 0.0),
        ("B", "neutral", "Sure.", 0.05),
        ("A", "neutral", "Please pass me the salt and the pepper.", 0.1),
        ("B", "neutral", "I will take the train to work on Monday.", 0.1),
    ])
    recognised, turns = _recognised_turns(conversation, num_speakers=2, model=model)
    print("\n" + "\n".join(f"{t.start:5.2f}-{t.end:5.2f} {t.speaker}: {t.text}" for t in turns))
    assert [w for t in turns for w in t.words] == recognised.words  # nothing lost or duplicated, in order
    assert [t.speaker for t in turns] == ["Speaker 1", "Speaker 2", "Speaker 1", "Speaker 2"]
    assert normalise_words(turns[1].text) == ["sure"]
    _, before = _recognised_turns(conversation, num_speakers=2, method="pauses", model=model)
    assert not any(normalise_words(t.text) == ["sure"] for t in before)  # pause-based turns missed it


@pytest.mark.slow
def test_a_same_voice_pause_still_splits_on_real_speech():
    conversation = speak_exchange([
        ("A", "neutral", "The meeting starts at nine in the morning.", 0.0),
        ("A", "neutral", "I will take the train to work on Monday.", 1.0),
        ("B", "surprise", "Really? You are getting married tomorrow?", 0.1),
    ])
    recognised, turns = _recognised_turns(conversation, num_speakers=2)
    assert [w for t in turns for w in t.words] == recognised.words
    assert [t.speaker for t in turns] == ["Speaker 1", "Speaker 1", "Speaker 2"]
    assert [normalise_words(t.text)[:2] for t in turns[1:]] == [["i", "will"], ["really", "you"]]


@pytest.mark.slow
def test_a_transcript_keeps_its_turns_exactly_as_given(tmp_path):
    # One cue holds a whole quick exchange of two voices; cues that name no speaker get one, nothing is split.
    conversation = speak_exchange([
        ("A", "neutral", "Do you hear me?", 0.0),
        ("B", "neutral", "Yes.", 0.05),
        ("A", "neutral", "Please pass me the salt and the pepper.", 0.1),
        ("B", "neutral", "Shall we take the early train tomorrow?", 0.1),
    ])
    a, b, c, d = conversation.turns
    srt = tmp_path / "exchange.srt"
    srt.write_text(
        f"1\n{_srt(a.start)} --> {_srt(b.end)}\nAnn: Do you hear me? Yes.\n\n"
        f"2\n{_srt(c.start)} --> {_srt(c.end)}\n{c.text}\n\n"
        f"3\n{_srt(d.start)} --> {_srt(d.end)}\n{d.text}\n",
        encoding="utf-8",
    )
    utterances = load_transcript(srt, conversation.duration)
    given = [(u.text, u.start, u.end) for u in utterances]
    assert label_transcript(conversation.audio, utterances, num_speakers=2) == 2
    assert [(u.text, u.start, u.end) for u in utterances] == given
    assert utterances[0].speaker == "Ann"
    assert {utterances[1].speaker, utterances[2].speaker} == {"Speaker 1", "Speaker 2"}


def _srt(seconds: float) -> str:
    millis = int(round(seconds * 1000))
    return f"00:{millis // 60_000:02d}:{millis // 1000 % 60:02d},{millis % 1000:03d}"


@pytest.mark.slow
def test_word_level_and_timeline_turns_beat_pause_based_turns_on_the_suite():
    result = bench_turns(models=(SpeechConfig().model,), conversations=3, seed=0)
    rows = {row["turns"]: row for row in result["rows"]}
    print("\n" + format_turn_bench(result))
    for method in ("words", "timeline"):
        assert rows[method]["boundary_f1"] > rows["pauses"]["boundary_f1"] + 0.1
        assert rows[method]["word_speaker_accuracy"] >= 0.85
        assert rows[method]["extra_speakers"] == 0  # the count is given
    assert rows["words"]["wer"] == rows["timeline"]["wer"] == rows["pauses"]["wer"] < 0.3
