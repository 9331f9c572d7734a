"""Speaker attribution with the real voice encoder on generated two-voice conversations."""

import numpy as np
import pytest

from spikemo.bench.synthetic import SyntheticConfig, make_conversation
from spikemo.data.conversation import Conversation, Utterance, appearance_indices
from spikemo.video.media import load_audio
from spikemo.video.segmentation import segment_words
from spikemo.video.speakers import (
    FRAMES_PER_SECOND,
    attribute_speakers,
    attribution_accuracy,
    cluster_speakers,
    embed_spans,
    label_segments,
)
from spikemo.video.speech import transcribe


@pytest.mark.slow
def test_two_voices_are_told_apart_with_the_count_hint(conversation, conversation_audio, recognised):
    segments = segment_words(recognised.words, recognised.regions)
    assert len(segments) == len(conversation.turns)
    spans = [(s.start, s.end) for s in segments]
    reference = [turn.speaker for turn in conversation.turns]
    hinted = attribute_speakers(conversation_audio, spans, num_speakers=2)
    estimated = attribute_speakers(conversation_audio, spans)
    print(
        f"\nattribution accuracy: {attribution_accuracy(hinted, reference):.3f} with num_speakers=2, "
        f"{attribution_accuracy(estimated, reference):.3f} estimated ({len(set(estimated))} speakers)"
    )
    assert hinted[0] == "Speaker 1"
    assert attribution_accuracy(hinted, reference) >= 0.8
    assert len(set(estimated)) == 2


@pytest.mark.slow
def test_scripted_turns_embed_closer_within_a_speaker(conversation, conversation_audio):
    embeddings = embed_spans(conversation_audio, [(t.start, t.end) for t in conversation.turns])
    assert embeddings.shape == (len(conversation.turns), 256)
    assert np.linalg.norm(embeddings, axis=1) == pytest.approx(1.0, abs=1e-3)
    speakers = np.array([t.speaker for t in conversation.turns])
    similarity = embeddings @ embeddings.T
    same = similarity[(speakers[:, None] == speakers[None, :]) & ~np.eye(len(speakers), dtype=bool)]
    different = similarity[speakers[:, None] != speakers[None, :]]
    assert same.mean() > different.mean() + 0.05


def test_count_is_estimated_from_separated_clusters():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    points = np.concatenate([centre + 0.05 * rng.normal(size=(5, 16)) for centre in centres])
    order = rng.permutation(len(points))
    labels = cluster_speakers(points[order])
    assert len(set(labels)) == 3
    assert labels[0] == 0
    assert cluster_speakers(centres[0] + 0.01 * rng.normal(size=(6, 16))) == [0] * 6


def test_labels_follow_first_appearance():
    assert appearance_indices([2, 2, 0, 1, 0]) == [0, 0, 1, 2, 1]
    talk = Conversation("c", [Utterance(name, "hi") for name in ("Ross", "Ross", "Monica", "Joey", "Monica")])
    assert talk.speakers() == ["Ross", "Monica", "Joey"]
    assert talk.speaker_indices() == [0, 0, 1, 2, 1]


def test_accuracy_uses_the_best_renaming():
    assert attribution_accuracy(["x", "y", "x"], ["B", "A", "B"]) == 1.0
    assert attribution_accuracy(["x", "x", "x", "y"], ["A", "B", "A", "B"]) == 0.75
    with pytest.raises(ValueError):
        attribution_accuracy(["x"], [])


@pytest.mark.slow
def test_label_segments_gives_utterances_their_speakers(conversation, conversation_audio, recognised):
    segments = label_segments(conversation_audio, segment_words(recognised.words, recognised.regions), 2)
    reference = [turn.speaker for turn in conversation.turns]
    assert len(segments) == len(reference)
    assert attribution_accuracy([s.speaker for s in segments], reference) >= 0.8
    assert segments[0].speaker == "Speaker 1"


@pytest.mark.slow
def test_turns_without_a_pause_are_split_at_the_speaker_change(tmp_path):
    # 0.2 s between turns is below the 0.5 s utterance pause, so only the voices can separate the turns.
    video = make_conversation(tmp_path / "tight.mp4", SyntheticConfig(num_turns=4, gap_s=0.2, seed=1))
    audio = load_audio(video.path)
    recognised = transcribe(audio)
    segments = segment_words(recognised.words, recognised.regions)
    labelled = label_segments(audio, segments, num_speakers=2)
    reference = [turn.speaker for turn in video.turns]
    changes = sum(a != b for a, b in zip(reference, reference[1:]))
    print(f"\n{len(segments)} pause-based segments, {len(labelled)} after speaker splits, {len(video.turns)} turns")
    assert len(segments) < len(video.turns)
    middles = [(t.start + t.end) / 2 for t in video.turns]
    found = [next(s.speaker for s in labelled if s.start - 0.3 <= m <= s.end + 0.3) for m in middles]
    assert changes >= 1
    assert attribution_accuracy(found, reference) == 1.0


def test_window_frames_follow_the_encoders_mel_step():
    """FRAMES_PER_SECOND is written out (resemblyzer is imported only where a voice is embedded): it must stay the
    encoder's own mel frame rate."""
    from resemblyzer.hparams import mel_window_step

    assert 1000 // mel_window_step == FRAMES_PER_SECOND
