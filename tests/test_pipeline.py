"""The video pipeline end to end with the real parts (Whisper, resemblyzer, openSMILE, BlazeFace, the
expression CNN, the text encoder) on generated two-speaker conversations, with small random-init checkpoints
(tests/helpers.py): one text-only, one over all three modalities."""

import json
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import imageio_ffmpeg
import jiwer
import numpy as np
import pandas as pd
import pytest

import spikemo.video.visual_features as visual_features
from spikemo.bench.synthetic import SyntheticConfig, SyntheticConversation, make_conversation
from spikemo.errors import CheckpointError, InputError
from spikemo.video.analysis import AnalysisWarning, WarningKind
from spikemo.video.analyzer import STAGES, Analyzer, PipelineConfig, audio_span
from spikemo.video.media import MediaConfig
from spikemo.video.speakers import attribution_accuracy
from spikemo.video.visual_features import VisualFeatureConfig, VisualFeatureExtractor, visual_features_for_span
from tests.helpers import make_test_checkpoint

NORMALISE = jiwer.Compose(
    [jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(), jiwer.Strip(),
     jiwer.ReduceToListOfListOfWords()]
)

pytestmark = pytest.mark.slow  # real models on generated media, or training (see pyproject.toml)
UTTERANCE_KEYS = {"start", "end", "speaker", "text", "emotion", "probabilities", "dswa_weights", "spike_rates", "cues"}
NAMES = {"A": "Ann", "B": "Bob"}


def srt_time(seconds: float) -> str:
    millis = int(round(seconds * 1000))
    return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d},{millis % 1000:03d}"


def write_srt(path: Path, cues: list[tuple[float, float, str]]) -> Path:
    blocks = [f"{i}\n{srt_time(start)} --> {srt_time(end)}\n{text}\n" for i, (start, end, text) in enumerate(cues, 1)]
    path.write_text("\n".join(blocks), encoding="utf-8")
    return path


def script_srt(path: Path, conversation: SyntheticConversation, with_speakers: bool) -> Path:
    return write_srt(path, [
        (t.start, t.end, f"{NAMES[t.speaker]}: {t.text}" if with_speakers else t.text) for t in conversation.turns
    ])


@pytest.fixture(scope="session")
def text_checkpoint(tmp_path_factory) -> Path:
    return make_test_checkpoint(tmp_path_factory.mktemp("ckpt") / "text", ("text",))


@pytest.fixture(scope="session")
def full_checkpoint(tmp_path_factory) -> Path:
    return make_test_checkpoint(tmp_path_factory.mktemp("ckpt") / "all", ("text", "audio", "visual"))


@pytest.fixture(scope="module")
def analyzer(text_checkpoint):
    with Analyzer(text_checkpoint) as analyzer:
        yield analyzer


@pytest.fixture(scope="module")
def full_analyzer(full_checkpoint):
    with Analyzer(full_checkpoint) as analyzer:
        yield analyzer


@pytest.fixture(scope="module")
def progress_calls() -> list[tuple[float, str]]:
    return []


@pytest.fixture(scope="module")
def analysis(analyzer, conversation, progress_calls):
    """The text-only checkpoint on conftest's ~20 s, 6-turn conversation, speech recognised by Whisper."""
    return analyzer.analyze(conversation.path, num_speakers=2,
                            progress=lambda fraction, message: progress_calls.append((fraction, message)))


@pytest.fixture(scope="module")
def transcript_analysis(full_analyzer, conversation, tmp_path_factory):
    """The three-modality checkpoint with the script supplied as an SRT naming the speakers."""
    srt = script_srt(tmp_path_factory.mktemp("srt") / "script.srt", conversation, with_speakers=True)
    return full_analyzer.analyze(conversation.path, transcript_path=srt)


@pytest.fixture
def scratch_tmp(tmp_path, monkeypatch) -> Path:
    """Point every temporary file (Python's tempfile and child processes) at an empty folder to inspect."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# --- speech recognition path, text-only checkpoint ---------------------------------------------------------


def test_utterances_transcript_and_speakers_match_the_script(analysis, conversation):
    utterances = analysis.conversation.utterances
    wer = jiwer.wer(conversation.text, " ".join(u.text for u in utterances),
                    reference_transform=NORMALISE, hypothesis_transform=NORMALISE)
    reference = [turn.speaker for turn in conversation.turns]
    print(f"\n{len(utterances)} utterances for {len(conversation.turns)} turns; WER {wer:.3f}")
    assert len(utterances) == len(conversation.turns)
    accuracy = attribution_accuracy([u.speaker for u in utterances], reference)
    print(f"speaker attribution accuracy {accuracy:.3f}")
    assert wer < 0.15
    assert accuracy >= 0.8
    for utterance, turn in zip(utterances, conversation.turns):
        overlap = min(utterance.end, turn.end) - max(utterance.start, turn.start)
        assert overlap > 0.6 * (turn.end - turn.start)


def test_the_speaker_timeline_holds_every_turn_under_its_speaker(analysis):
    timeline = analysis.speaker_timeline
    assert [t.start for t in timeline] == sorted(t.start for t in timeline)
    assert {t.speaker for t in timeline} == {u.speaker for u in analysis.conversation.utterances}
    for utterance in analysis.conversation.utterances:
        own = sum(max(0.0, min(t.end, utterance.end) - max(t.start, utterance.start))
                  for t in timeline if t.speaker == utterance.speaker)
        assert own > 0.5 * (utterance.end - utterance.start), utterance
    assert analysis.to_dict()["speaker_timeline"][0] == vars(timeline[0])


def test_voices_heard_beside_whisper_match_one_after_the_other(analyzer, conversation):
    """With parallel_stages the speaker stage hears the voices while Whisper transcribes; in turn, the same turns,
    speakers, timeline and predictions."""
    beside = analyzer.analyze(conversation.path)
    analyzer.config = replace(analyzer.config, parallel_stages=False)
    try:
        in_turn = analyzer.analyze(conversation.path)
    finally:
        analyzer.config = replace(analyzer.config, parallel_stages=True)
    assert beside.speaker_timeline == in_turn.speaker_timeline and beside.speaker_timeline
    for a, b in zip(beside.conversation.utterances, in_turn.conversation.utterances, strict=True):
        assert (a.speaker, a.text, a.start, a.end) == (b.speaker, b.text, b.start, b.end)
        assert a.prediction == b.prediction


def test_features_side_by_side_match_one_after_the_other(full_analyzer, conversation, tmp_path):
    """parallel_stages (the default) computes the text, voice and face features in three threads; one after the
    other must give the same analysis, bit for bit, with the three-modality checkpoint that reads them all."""
    srt = script_srt(tmp_path / "script.srt", conversation, with_speakers=True)
    side_by_side = full_analyzer.analyze(conversation.path, transcript_path=srt)
    full_analyzer.config = replace(full_analyzer.config, parallel_stages=False)
    try:
        in_turn = full_analyzer.analyze(conversation.path, transcript_path=srt)
    finally:
        full_analyzer.config = replace(full_analyzer.config, parallel_stages=True)
    for a, b in zip(side_by_side.conversation.utterances, in_turn.conversation.utterances, strict=True):
        assert all(np.array_equal(a.features[m], b.features[m]) for m in ("text", "audio", "visual"))
        assert a.prediction == b.prediction
    assert side_by_side.cues == in_turn.cues
    assert all(side_by_side.timings[stage] > 0 for stage in ("text", "audio", "visual"))


def test_all_three_modalities_are_extracted_with_their_sizes(analysis):
    for utterance in analysis.conversation.utterances:
        assert utterance.features["text"].shape == (384,)
        assert utterance.features["audio"].shape == (6373,)
        assert utterance.features["visual"].shape == (16,)
        assert all(np.isfinite(f).all() for f in utterance.features.values())
    # Audio features differ between utterances (real openSMILE on each span, not one vector reused).
    audio = np.stack([u.features["audio"] for u in analysis.conversation.utterances])
    assert len({row.tobytes() for row in audio}) == len(audio)


def test_text_only_checkpoint_uses_text_and_warns_about_the_rest(analysis):
    assert analysis.modalities_trained == ("text",)
    assert analysis.modalities_used == ("text",)
    assert [w.kind for w in analysis.warnings] == [WarningKind.CUES_ONLY]  # the astronaut is visible throughout
    assert "audio and visual features were extracted" in analysis.warnings[0].message


def test_predictions_weights_and_spike_rasters(analysis):
    utterances = analysis.conversation.utterances
    length = len(utterances)
    for utterance in utterances:
        probabilities = utterance.prediction.probabilities
        assert tuple(probabilities) == analysis.labels
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-4)
        assert utterance.prediction.emotion == max(probabilities, key=probabilities.get)
    for modality in analysis.modalities_used:
        weights = [u.prediction.dswa_weights[modality] for u in utterances]
        assert sum(weights) == pytest.approx(1.0, abs=1e-5)
    assert set(analysis.spikes) == {"text/layer0"}
    raster = analysis.spikes["text/layer0"]
    assert raster.dtype == np.uint8 and raster.shape == (length, 4, 16)  # [L, T, h] of the tiny test model
    assert set(np.unique(raster)) <= {0, 1}
    # The stored spike rates are the rasters' firing rates over neurons, utterance by utterance.
    for i, utterance in enumerate(utterances):
        assert np.allclose(utterance.prediction.spike_rates["text/layer0"], raster[i].mean(axis=1), atol=1e-6)


def test_cues_timings_and_progress(analysis, progress_calls):
    for cues in analysis.cues:
        assert cues.face_expression in analysis.labels
        assert cues.face_presence == 1.0
        assert cues.voice["pitch_mean_hz"] > 50 and cues.voice["loudness"] > 0
        assert cues.voice_emotion in analysis.labels
        assert list(cues.voice_probabilities) == list(analysis.labels)
        assert abs(sum(cues.voice_probabilities.values()) - 1) < 1e-4
        assert cues.voice_emotion == max(cues.voice_probabilities, key=cues.voice_probabilities.get)
    assert set(analysis.timings) == set(STAGES) | {"total"}
    assert analysis.timings["speech"] > 0 and analysis.timings["visual"] > 0
    # PipelineConfig.parallel_stages: the three cues overlap each other, the speaker stage partly overlaps speech
    side_by_side = ("text", "audio", "visual")
    in_turn = sum(analysis.timings[s] for s in STAGES if s not in (*side_by_side, "speakers"))
    assert analysis.timings["total"] >= in_turn + max(analysis.timings[s] for s in side_by_side)
    fractions = [fraction for fraction, _ in progress_calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("Whisper" in message for _, message in progress_calls)


def test_json_and_csv_outputs(analysis, tmp_path):
    data = analysis.to_dict()
    assert {"video", "duration", "utterances", "modalities_used", "modalities_trained", "warnings",
            "timings"} <= set(data)
    assert all(set(u) == UTTERANCE_KEYS for u in data["utterances"])
    analysis.write(tmp_path / "out.json")
    assert json.loads((tmp_path / "out.json").read_text()) == json.loads(json.dumps(data))
    analysis.write(tmp_path / "out.csv")
    table = pd.read_csv(tmp_path / "out.csv")
    assert len(table) == len(analysis.conversation.utterances)
    assert {"start", "end", "speaker", "text", "emotion", "confidence", "dswa_text", "face_expression",
            "voice_pitch_mean_hz", "voice_emotion"} | {f"prob_{label}" for label in analysis.labels} \
        | {f"voice_prob_{label}" for label in analysis.labels} <= set(table.columns)
    assert all({"voice_emotion", "voice_probabilities"} <= set(u["cues"]) for u in data["utterances"])
    with pytest.raises(InputError, match=".json or .csv"):
        analysis.write(tmp_path / "out.txt")


# --- supplied transcript, three-modality checkpoint ---------------------------------------------------------


def test_supplied_transcript_is_used_as_given(transcript_analysis, conversation):
    utterances = transcript_analysis.conversation.utterances
    assert [u.text for u in utterances] == [t.text for t in conversation.turns]
    assert [u.speaker for u in utterances] == [NAMES[t.speaker] for t in conversation.turns]
    assert [u.start for u in utterances] == pytest.approx([t.start for t in conversation.turns], abs=1e-3)
    assert [u.end for u in utterances] == pytest.approx([t.end for t in conversation.turns], abs=1e-3)
    assert transcript_analysis.timings["speech"] == 0.0 and transcript_analysis.timings["speakers"] == 0.0
    assert [w.kind for w in transcript_analysis.warnings] == [WarningKind.TRANSCRIPT_USED]
    assert transcript_analysis.to_dict()["warnings"] == [
        {"kind": "transcript_used", "message": "transcript supplied: no speech recognition"}]


def test_three_modality_checkpoint_uses_every_modality(transcript_analysis):
    assert transcript_analysis.modalities_used == ("text", "audio", "visual")
    assert not any(w.kind == WarningKind.CUES_ONLY for w in transcript_analysis.warnings)
    utterances = transcript_analysis.conversation.utterances
    for modality in ("text", "audio", "visual"):
        assert sum(u.prediction.dswa_weights[modality] for u in utterances) == pytest.approx(1.0, abs=1e-5)
        assert transcript_analysis.spikes[f"{modality}/layer0"].shape == (len(utterances), 4, 16)


def test_transcript_without_speakers_gets_them_by_voice(analyzer, conversation, tmp_path):
    srt = script_srt(tmp_path / "anonymous.srt", conversation, with_speakers=False)
    result = analyzer.analyze(conversation.path, transcript_path=srt, num_speakers=2)
    found = [u.speaker for u in result.conversation.utterances]
    assert set(found) == {"Speaker 1", "Speaker 2"}
    assert attribution_accuracy(found, [t.speaker for t in conversation.turns]) >= 0.8
    assert any(w.kind == WarningKind.SPEAKERS_BY_VOICE and "name no speaker" in w.message for w in result.warnings)


def test_audio_span_bounds():
    audio = np.arange(16_000, dtype=np.float32)  # 1 s at 16 kHz
    assert audio_span(audio, 0.25, 0.5, 16_000).tolist() == audio[4000:8000].tolist()
    assert audio_span(audio, 0.5, 0.5, 16_000).size == 1  # a zero-length word still gets its sample
    assert audio_span(audio, 0.9, 1.4, 16_000).size == 1600  # clipped to the audio's end
    with pytest.raises(InputError, match="outside the audio track"):
        audio_span(audio, 1.2, 1.5, 16_000)


# --- memory bound on long utterances ------------------------------------------------------------------------


def test_a_long_span_decodes_at_most_max_frames(conversation, monkeypatch):
    decoded = []
    real_decode_span = visual_features.decode_span

    def counting_decode_span(*args, **kwargs):
        frames = real_decode_span(*args, **kwargs)
        decoded.extend(t for t, _ in frames)
        return frames

    monkeypatch.setattr(visual_features, "decode_span", counting_decode_span)
    with VisualFeatureExtractor(VisualFeatureConfig(max_frames=4)) as extractor:
        visual = visual_features_for_span(extractor, conversation.path, 0.0, conversation.duration, 2.0)
    assert visual.face_found
    assert len(decoded) <= 5  # 2 fps over ~20 s would be 40 frames


# --- bad input ------------------------------------------------------------------------------------------------


def _assert_input_error(analyzer, video, scratch, match, **kwargs):
    before = Path(video).read_bytes() if Path(video).is_file() else None
    with pytest.raises(InputError, match=match):
        analyzer.analyze(video, **kwargs)
    assert list(scratch.iterdir()) == []  # no temporary file left behind
    if before is not None:
        assert Path(video).read_bytes() == before  # the input is untouched


def test_corrupt_file(analyzer, tmp_path, scratch_tmp):
    video = tmp_path / "corrupt.mp4"
    video.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    _assert_input_error(analyzer, video, scratch_tmp, "could not be read as a video")


def test_truncated_file(analyzer, conversation, tmp_path, scratch_tmp):
    video = tmp_path / "truncated.mp4"
    data = conversation.path.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    _assert_input_error(analyzer, video, scratch_tmp, "truncated|could not be read|cannot be decoded")


def test_not_a_video(analyzer, tmp_path, scratch_tmp):
    video = tmp_path / "notes.mp4"
    video.write_text("this is a text file, not a video\n" * 100)
    _assert_input_error(analyzer, video, scratch_tmp, "could not be read as a video")


def test_missing_file_and_bad_speaker_count(analyzer, conversation, tmp_path, scratch_tmp):
    _assert_input_error(analyzer, tmp_path / "nowhere.mp4", scratch_tmp, "not found")
    _assert_input_error(analyzer, conversation.path, scratch_tmp, "at least 1", num_speakers=0)


def test_no_audio_track(analyzer, tmp_path, scratch_tmp):
    video = make_conversation(tmp_path / "mute.mp4", SyntheticConfig(num_turns=2, audio="none")).path
    _assert_input_error(analyzer, video, scratch_tmp, "no audio track")


def test_silence(analyzer, tmp_path, scratch_tmp):
    video = make_conversation(tmp_path / "silent.mp4", SyntheticConfig(num_turns=2, audio="silent")).path
    _assert_input_error(analyzer, video, scratch_tmp, "No speech found")


def test_music_only(analyzer, tmp_path, scratch_tmp):
    # two pulsing tones, no voice: the VAD or Whisper finds no speech, and says so
    video = tmp_path / "music.mp4"
    tones = "[1:a][2:a]amix=inputs=2,volume=0.5,apulsator=hz=2[a]"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error",
                    "-f", "lavfi", "-i", "color=c=gray:s=320x240:r=10",
                    "-f", "lavfi", "-i", "sine=frequency=440:duration=8",
                    "-f", "lavfi", "-i", "sine=frequency=554:duration=8",
                    "-filter_complex", tones, "-map", "0:v", "-map", "[a]", "-t", "8", str(video)], check=True)
    _assert_input_error(analyzer, video, scratch_tmp, "No speech found")


def test_too_long(text_checkpoint, conversation, scratch_tmp):
    with Analyzer(text_checkpoint, PipelineConfig(media=MediaConfig(max_duration_s=5.0))) as short_limit:
        _assert_input_error(short_limit, conversation.path, scratch_tmp, "the limit is 5 s")


def test_transcript_that_does_not_parse(analyzer, conversation, tmp_path, scratch_tmp):
    srt = tmp_path / "broken.srt"
    srt.write_text("1\n00:00:01,000 -> 00:00:02,000\nHello there\n", encoding="utf-8")
    _assert_input_error(analyzer, conversation.path, scratch_tmp, "no 'start --> end' time line",
                        transcript_path=srt)


def test_transcript_times_outside_the_video(analyzer, conversation, tmp_path, scratch_tmp):
    srt = write_srt(tmp_path / "late.srt", [(1.0, 2.0, "Ann: Hello."), (60.0, 62.0, "Bob: Too late.")])
    _assert_input_error(analyzer, conversation.path, scratch_tmp, "past the video's end", transcript_path=srt)


def test_no_face_is_a_warning(analyzer, tmp_path, scratch_tmp):
    faceless = make_conversation(tmp_path / "faceless.mp4", SyntheticConfig(num_turns=2, faces=False, seed=3))
    srt = script_srt(tmp_path / "faceless.srt", faceless, with_speakers=True)
    result = analyzer.analyze(faceless.path, transcript_path=srt)
    no_face = AnalysisWarning(WarningKind.NO_FACE, "no face found in any frame: visual features are zeros")
    assert no_face in result.warnings
    assert all(c.face_expression is None and c.face_presence == 0.0 for c in result.cues)
    assert all(not u.features["visual"].any() for u in result.conversation.utterances)
    assert list(scratch_tmp.iterdir()) == []



def test_a_checkpoint_that_cannot_load_fails_the_constructor_with_its_own_message(tmp_path):
    """The models load side by side in threads; an error in one of them still reaches the caller, named."""
    missing = tmp_path / "no-checkpoint"
    missing.mkdir()
    with pytest.raises(CheckpointError, match="no-checkpoint"):
        Analyzer(missing)
