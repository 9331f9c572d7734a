"""A Hugging Face Space as its visitors meet it: the front matter the Hub accepts, the deploy command's file list and
calls (the Hub itself mocked: no network here), ZeroGPU's per-call GPU duration and a warm-up outside any GPU task,
and Whisper's choice of device."""

import importlib.util
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from demo import state as app_state
from demo import worker
from spikemo.text.packaged import MPNET_HUB_FILES, MPNET_HUB_ID, MPNET_HUB_REVISION
from spikemo.video import speech
from spikemo.video.speech import SpeechConfig, whisper_device

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("deploy_space", REPO / "scripts" / "deploy_space.py")
deploy_space = importlib.util.module_from_spec(spec)
sys.modules["deploy_space"] = deploy_space  # its dataclasses look their module up while they are built
spec.loader.exec_module(deploy_space)


def test_the_readme_front_matter_passes_the_hub_rules_and_matches_the_pins():
    meta = deploy_space.front_matter(REPO / "README.md")
    files, problems = deploy_space.check()
    assert problems == []
    assert meta["python_version"] == "3.12" and meta["suggested_hardware"] == "zero-a10g"
    assert len(meta["short_description"]) <= 60
    assert str(meta["sdk_version"]) == deploy_space.pinned_version(REPO / "requirements.txt", "gradio")
    repo, names, revision = meta["preload_from_hub"][0].split()
    assert (repo, revision) == (MPNET_HUB_ID, MPNET_HUB_REVISION)
    assert set(names.split(",")) == set(MPNET_HUB_FILES)


def test_front_matter_problems_name_what_the_hub_refuses():
    good = deploy_space.front_matter(REPO / "README.md")
    assert deploy_space.front_matter_problems(good, ["app.py"], "6.31.0") == []
    bad = {**good, "short_description": "x" * 64, "python_version": 3.1, "sdk_version": "5.0.0", "colorTo": "teal",
           "preload_from_hub": ["not a repo id at all here"]}
    problems = "\n".join(deploy_space.front_matter_problems(bad, ["app.py"], "6.31.0"))
    assert "64 characters" in problems and "at most 60" in problems
    assert "`python_version` is 3.1" in problems
    assert "gradio==6.31.0" in problems and "colorTo" in problems and "preload_from_hub" in problems
    missing = deploy_space.front_matter_problems({"sdk": "gradio"}, [], None)
    assert any("`python_version` is missing" in p for p in missing)


def test_the_upload_holds_what_the_space_runs_and_nothing_else():
    names = {f.path for f in deploy_space.space_files()}
    for needed in ("app.py", "README.md", "requirements.txt", "packages.txt", ".gitattributes",
                   "spikemo/__init__.py", "demo/app.py", "assets/checkpoints/spikemo-meld-text/config.json",
                   "data/meld/dev_sent_emo.csv"):
        assert needed in names
    assert not [n for n in names if n.split("/")[0] in ("tests", "train", ".venv", "runs", ".git", "scripts")]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_dry_run_lists_the_files_offline_and_fails_on_a_refused_front_matter(tmp_path):
    run = subprocess.run([sys.executable, str(REPO / "scripts" / "deploy_space.py"), "me/spikemo", "--dry-run"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "assets/checkpoints/spikemo-meld-text/model.safetensors" in run.stdout
    assert "accepted by the Hub's rules" in run.stdout

    # A copy of the repository whose README says what the Hub used to refuse.
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("app.py", "requirements.txt", "README.md"):
        shutil.copy(REPO / name, copy / name)
    readme = (copy / "README.md").read_text(encoding="utf-8")
    readme = readme.replace('python_version: "3.12"\n', "").replace(
        "short_description: Emotions in video conversations, by spiking attention",
        "short_description: Emotions in video conversations, with spiking temporal attention")
    (copy / "README.md").write_text(readme, encoding="utf-8")
    subprocess.run(["git", "init", "-q"], cwd=copy, check=True)
    files, problems = deploy_space.check(copy)
    assert [f.path for f in files] == ["README.md", "app.py", "requirements.txt"]
    assert any("64 characters" in p for p in problems)
    assert any("`python_version` is missing" in p for p in problems)


def test_deploy_creates_a_gradio_space_and_uploads_exactly_the_listed_files(monkeypatch):
    calls = {}

    class FakeApi:
        def create_repo(self, repo_id, **kwargs):
            calls["create"] = (repo_id, kwargs)
            return f"https://huggingface.co/spaces/{repo_id}"

        def upload_folder(self, **kwargs):
            calls["upload"] = kwargs

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    files = deploy_space.space_files()
    url = deploy_space.deploy("me/spikemo", files, private=True, hardware="zero-a10g")
    assert url.endswith("/spaces/me/spikemo")
    repo_id, options = calls["create"]
    assert repo_id == "me/spikemo"
    assert options == {"repo_type": "space", "space_sdk": "gradio", "space_hardware": "zero-a10g",
                       "private": True, "exist_ok": True}
    upload = calls["upload"]
    assert upload["repo_type"] == "space" and Path(upload["folder_path"]) == REPO
    assert upload["allow_patterns"] == [f.path for f in files]
    assert upload["delete_patterns"] == ["*"]


def test_deploy_refuses_a_malformed_space_name(capsys):
    with pytest.raises(SystemExit):
        deploy_space.main(["spikemo", "--dry-run"])
    assert "OWNER/SPACE" in capsys.readouterr().err


def test_gpu_duration_follows_the_video_length():
    assert worker.analysis_gpu_seconds(30) < 45  # a 30 s clip asks for well under a minute
    assert worker.analysis_gpu_seconds(0) == worker.GPU_SECONDS_FIXED
    assert worker.analysis_gpu_seconds(60) < worker.analysis_gpu_seconds(300)


def test_gpu_duration_reads_the_video_and_survives_a_bad_file(tmp_path):
    setup = app_state.AppState().model_setup()
    example = REPO / "assets" / "examples" / "two_friends_with_transcript.mp4"
    seconds = worker.analysis_gpu_duration(setup, str(example), None, None, "base")
    assert worker.GPU_SECONDS_FIXED < seconds < 45
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    assert worker.analysis_gpu_duration(setup, str(junk), None, None, "base") == worker.GPU_SECONDS_FIXED


@pytest.mark.parametrize("zero_gpu", [False, True])
def test_the_warm_up_never_enters_a_gpu_task(monkeypatch, zero_gpu):
    done = []
    monkeypatch.setattr(app_state, "ZERO_GPU", zero_gpu)
    monkeypatch.setattr(app_state, "get_analyzer", lambda setup: done.append("load"))
    monkeypatch.setattr(app_state, "analyse_video", lambda *args: done.append("analyse") or object())
    monkeypatch.setattr(app_state, "run_analysis", lambda *args: pytest.fail("the warm-up entered a GPU task"))
    state = app_state.AppState()
    state.warm_up()
    assert done == (["load"] if zero_gpu else ["load", "analyse"])


def test_whisper_runs_on_the_cpu_unless_cuda_is_asked_for_and_works(monkeypatch):
    assert whisper_device(SpeechConfig()) == ("cpu", "int8")
    assert whisper_device(SpeechConfig(device="cpu")) == ("cpu", "int8")
    monkeypatch.setattr(speech, "cuda_unavailable_reason", lambda: None)
    assert whisper_device(SpeechConfig(device="cuda")) == ("cuda", "float16")
    monkeypatch.setattr(speech, "cuda_unavailable_reason", lambda: "no cuBLAS")
    assert whisper_device(SpeechConfig(device="cuda")) == ("cpu", "int8")


def test_a_missing_cublas_is_named_in_one_warning_line(monkeypatch, caplog):
    def refuse(*args, **kwargs):
        raise OSError("cannot open shared object file")

    speech.cuda_unavailable_reason.cache_clear()
    monkeypatch.setattr(speech.ctranslate2, "get_cuda_device_count", lambda: 1)
    monkeypatch.setattr(speech.ctypes, "CDLL", refuse)
    monkeypatch.setattr(speech.sys, "path", [])
    try:
        with caplog.at_level(logging.WARNING, logger=speech.__name__):
            reason = speech.cuda_unavailable_reason()
            assert speech.cuda_unavailable_reason() is reason  # checked once per process
    finally:
        speech.cuda_unavailable_reason.cache_clear()
    assert "libcublas.so.12" in reason and "nvidia-cublas-cu12" in reason
    assert [r.getMessage() for r in caplog.records] == [f"Whisper runs on the CPU: {reason}"]


def test_without_a_gpu_cuda_is_not_tried():
    if speech.ctranslate2.get_cuda_device_count():
        pytest.skip("this machine has a GPU")
    speech.cuda_unavailable_reason.cache_clear()
    try:
        assert speech.cuda_unavailable_reason() == "CTranslate2 sees no CUDA device"
        assert whisper_device(SpeechConfig(device="cuda")) == ("cpu", "int8")
    finally:
        speech.cuda_unavailable_reason.cache_clear()
