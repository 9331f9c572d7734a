"""`python -m spikemo analyze` as a user runs it (a subprocess, and main() in-process where a second model load
would only cost time): real models, a random-init test checkpoint."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from spikemo.__main__ import _bench, build_parser, main
from spikemo.bench.synthetic import SyntheticConfig, make_conversation
from spikemo.data.transcript import TranscriptLimits
from tests.helpers import make_test_checkpoint, write_srt

pytestmark = pytest.mark.slow  # real models on generated media, or training (see pyproject.toml)

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spikemo", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return make_test_checkpoint(tmp_path_factory.mktemp("cli") / "text", ("text",))


@pytest.fixture(scope="module")
def srt(conversation, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "script.srt"
    lines = []
    for i, turn in enumerate(conversation.turns, start=1):
        start, end = (f"00:00:{t:06.3f}".replace(".", ",") for t in (turn.start, turn.end))
        lines.append(f"{i}\n{start} --> {end}\n{turn.text}\n")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def assert_clean_failure(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert f"error: {message}" in result.stderr
    assert result.stdout == ""


def test_analyze_writes_json(conversation, checkpoint, tmp_path):
    out = tmp_path / "analysis.json"
    result = run_cli("analyze", str(conversation.path), "--checkpoint", str(checkpoint), "--num-speakers", "2",
                     "--out", str(out))
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert {"utterances", "modalities_used", "timings"} <= set(data)
    assert len(data["utterances"]) == len(conversation.turns)
    for utterance in data["utterances"]:
        assert {"start", "end", "speaker", "text", "emotion", "probabilities", "dswa_weights"} <= set(utterance)
    assert data["modalities_used"] == ["text"]
    assert "[100%] done" in result.stderr and "speech recognition" in result.stderr
    assert "warning: the checkpoint was trained on text only" in result.stderr


def test_analyze_with_transcript_prints_json_and_writes_csv(conversation, checkpoint, srt, tmp_path, capsys):
    # In-process main() (the code path of the subprocess above) to spare two more model loads.
    common = ["analyze", str(conversation.path), "--checkpoint", str(checkpoint), "--transcript", str(srt)]
    assert main(common) == 0
    data = json.loads(capsys.readouterr().out)
    assert [u["text"] for u in data["utterances"]] == [t.text for t in conversation.turns]
    out = tmp_path / "analysis.csv"
    assert main([*common, "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert table["text"].tolist() == [t.text for t in conversation.turns]
    assert table["emotion"].tolist() == [u["emotion"] for u in data["utterances"]]


def test_bad_files_give_a_clean_message_before_models_load(checkpoint, conversation, tmp_path):
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("plain text\n" * 50)
    assert_clean_failure(run_cli("analyze", str(not_video), "--checkpoint", str(checkpoint)),
                         "notes.mp4 could not be read as a video")
    assert_clean_failure(run_cli("analyze", str(tmp_path / "gone.mp4")), "Video file not found")
    assert_clean_failure(run_cli("analyze", str(conversation.path), "--out", str(tmp_path / "x.txt")), "--out")
    broken = tmp_path / "broken.srt"
    broken.write_text("1\n00:00:01,000 --> soon\nHello\n", encoding="utf-8")
    assert_clean_failure(run_cli("analyze", str(conversation.path), "--transcript", str(broken)),
                         "broken.srt: SRT cue at line 1: 'soon' is not a time")


def test_error_found_during_analysis_is_a_clean_message(checkpoint, tmp_path, capsys):
    mute = make_conversation(tmp_path / "mute.mp4", SyntheticConfig(num_turns=2, audio="none")).path
    assert main(["analyze", str(mute), "--checkpoint", str(checkpoint)]) == 2
    captured = capsys.readouterr()
    assert "error: mute.mp4 has no audio track" in captured.err and captured.out == ""


def test_evaluate_voice_on_a_missing_folder_is_one_error_line(tmp_path):
    result = run_cli("evaluate-voice", "--data", str(tmp_path / "missing"))
    assert_clean_failure(result, "RAVDESS folder not found")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_bench_accepts_both_targets():
    parser = build_parser()
    for target in ("model", "pipeline"):
        args = parser.parse_args(["bench", target])
        assert args.run is _bench and args.target == target
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "everything"])
    assert parser.parse_args(["bench", "pipeline", "--no-voice-emotion"]).no_voice_emotion


def test_analyze_any_count_of_turns(conversation, checkpoint, tmp_path, capsys):
    limit = TranscriptLimits().max_cues(conversation.duration)
    for count in (1, 2, limit):
        srt = write_srt(tmp_path / f"cues{count}.srt", count, conversation.duration - 0.5)
        assert main(["analyze", str(conversation.path), "--checkpoint", str(checkpoint), "--transcript",
                     str(srt)]) == 0
        utterances = json.loads(capsys.readouterr().out)["utterances"]
        assert [u["text"] for u in utterances] == [f"line {i + 1}" for i in range(count)]
