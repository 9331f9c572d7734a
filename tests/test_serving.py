"""The running app as a server under real users: uploads land in the app's own folder and are bounded, a disk
guard refuses uploads when the budget is spent, SIGTERM removes everything the app wrote, and messages name files,
never the server's folders."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import gradio as gr
import httpx
import pytest

from demo import AppConfig, build_demo, launch
from demo.errors import user_errors
from demo.markup import file_names_only
from demo.state import AppState, folder_bytes
from spikemo.data.meld import read_meld_csv
from spikemo.data.transcript import load_transcript
from spikemo.paths import EXAMPLES_DIR, REPO_ROOT
from spikemo.video.media import check_video
from tests.helpers import make_test_checkpoint

EXAMPLE = EXAMPLES_DIR / "two_friends_with_transcript.mp4"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_file_names_only_keeps_names_and_urls():
    assert file_names_only("/tmp/gradio/3d14e75a/formula.csv, data row 12: bad") == "formula.csv, data row 12: bad"
    assert file_names_only("Video file not found: /work/x/talk.mp4") == "Video file not found: talk.mp4"
    assert file_names_only("see https://host/a/b.png and 3/4") == "see https://host/a/b.png and 3/4"


@pytest.mark.parametrize("make_error", [
    lambda folder: read_meld_csv(write(folder / "formula.csv", "Sr No.,Utterance\n1,x\n")),
    lambda folder: check_video(write(folder / "talk.mp4", "not a video")),
    lambda folder: check_video(folder / "gone.mp4"),
    lambda folder: check_video(folder),
    lambda folder: load_transcript(write(folder / "talk.srt", "1\nnot a time\nhello\n"), 10.0),
], ids=["csv", "video", "missing video", "folder", "transcript"])
def test_no_server_path_reaches_the_client(tmp_path, make_error):
    folder = tmp_path / "upload-cache" / "3d14e75a"
    folder.mkdir(parents=True)
    with pytest.raises(gr.Error) as raised, user_errors("do it"):
        make_error(folder)
    message = str(raised.value.message)
    assert str(tmp_path) not in message and "/" not in message.replace("</", "")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def running_app(tmp_path):
    """The app in this process, its temporary folder under tmp_path."""
    config = AppConfig(checkpoint_dir=tmp_path / "none", temp_root=tmp_path)
    blocks = build_demo(config)
    launch(blocks, port=free_port(), warm_up=False, prevent_thread_lock=True, quiet=True)
    try:
        yield blocks
    finally:
        blocks.close()


def upload(blocks: gr.Blocks, name: str, size: int) -> httpx.Response:
    return httpx.post(f"{blocks.local_url}gradio_api/upload", files={"files": (name, b"x" * size)}, timeout=30)


def test_uploads_land_in_the_apps_folder_and_the_disk_guard_refuses_past_the_budget(running_app):
    state: AppState = running_app.app_state
    state.config.disk_budget_bytes = folder_bytes(state.temp_dir) + 1024**2  # room for 1 MiB more
    first = upload(running_app, "small.srt", 1000)
    assert first.status_code == 200
    stored = Path(first.json()[0])
    assert stored.is_file() and state.gradio_dir in stored.parents  # in the app's own folder
    assert upload(running_app, "big.mp4", 2 * 1024**2).status_code == 200  # the budget is checked before each
    refused = upload(running_app, "more.mp4", 1000)
    assert refused.status_code == 507 and "upload space is full" in refused.text
    assert str(state.temp_dir) not in refused.text


def test_an_upload_over_the_size_limit_is_refused(tmp_path):
    config = AppConfig(checkpoint_dir=tmp_path / "none", temp_root=tmp_path, max_upload_mb=1)
    blocks = build_demo(config)
    launch(blocks, port=free_port(), warm_up=False, prevent_thread_lock=True, quiet=True)
    try:
        response = upload(blocks, "big.mp4", 2 * 1024**2)
        assert response.status_code == 413
    finally:
        blocks.close()


@pytest.mark.slow
def test_sigterm_mid_analysis_removes_everything_the_app_wrote(tmp_path):
    from gradio_client import Client, handle_file

    checkpoint = make_test_checkpoint(tmp_path / "ckpt", ("text",))
    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    port = free_port()
    env = {**os.environ, "TMPDIR": str(temp_root), "GRADIO_ANALYTICS_ENABLED": "False"}
    server = subprocess.Popen([sys.executable, "app.py", "--checkpoint", str(checkpoint), "--port", str(port)],
                              cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "the app did not start"
            time.sleep(0.5)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        client.submit(handle_file(str(EXAMPLE)), api_name="/analyse")
        app_folders = list(temp_root.glob("spikemo-app-*"))
        assert len(app_folders) == 1
        while not list((app_folders[0] / "requests").iterdir()):  # the analysis is under way
            assert time.monotonic() < deadline, "the analysis never started"
            time.sleep(0.2)
        assert any(p.is_file() for p in (app_folders[0] / "gradio").rglob("*"))  # the upload is in the app's folder
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    assert not list(temp_root.glob("spikemo-app-*")), server.stdout.read()
    assert not list(temp_root.glob("gradio*"))
