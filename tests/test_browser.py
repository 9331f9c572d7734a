"""A real browser on the running app: headless Debian Chromium (driven by Playwright) uploads the bundled
example through the page, clicks Analyse and waits for the results (the page is saved as a screenshot), then
scores the dev CSV on the Inspect errors tab.

The app runs as `python app.py` in a subprocess. It serves the shipped checkpoint when that exists (then the
screenshot goes to docs/screenshot.png), else a random-init test checkpoint (screenshot kept in tmp_path).
$SPIKEMO_SCREENSHOT, when set, names where the screenshot is copied in either case.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from spikemo.paths import DEFAULT_CHECKPOINT
from tests.helpers import make_test_checkpoint

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
EXAMPLE_VIDEO = REPO / "assets" / "examples" / "two_friends.mp4"
SCREENSHOT = REPO / "docs" / "screenshot.png"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
START_TIMEOUT_S = 120
RESULT_TIMEOUT_MS = 240_000

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, timeout_s: float) -> float:
    """Poll `url` until it answers 200; returns the seconds it took. Fails if the process dies first."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with code {process.returncode}:\n{process.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"the app did not answer at {url} within {timeout_s} s")


def start_app(checkpoint: Path, port: int, log_path: Path) -> subprocess.Popen:
    """`python app.py` on `port` with `checkpoint`; stdout and stderr go to log_path."""
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    log = log_path.open("w")
    return subprocess.Popen(
        [sys.executable, str(REPO / "app.py"), "--checkpoint", str(checkpoint), "--port", str(port)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )


def analyse_in_browser(url: str, video: Path, screenshot: Path) -> dict:
    """Upload `video` on the Analyse tab, click Analyse, wait for the results; returns what was found."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url, wait_until="load", timeout=60_000)
            page.locator("#analyse-button").wait_for(timeout=60_000)
            page.locator("#video-input input[type=file]").set_input_files(str(video))
            page.locator("#video-input video").wait_for(timeout=60_000)  # the upload finished and plays
            clicked = time.perf_counter()
            page.locator("#analyse-button").click()
            rows = page.locator("#turn-table [role=row]")  # the header row, then one per turn
            rows.nth(1).wait_for(timeout=RESULT_TIMEOUT_MS)
            page.locator("#heatmap-plot img").wait_for(timeout=60_000)
            seconds = time.perf_counter() - clicked
            page.get_by_text("Turn 1 of").wait_for(timeout=60_000)
            rows.nth(3).locator("[role=gridcell], td").nth(3).click()  # the text cell of turn 3
            page.locator("#turn-details").get_by_text("Turn 3 of").wait_for(timeout=60_000)
            page.wait_for_timeout(1500)  # let the last figures paint before the screenshot
            found = {
                "rows": rows.count() - 1,
                "first_row": rows.nth(1).inner_text(),
                "timeline": page.locator("#timeline-plot img").count(),
                "heatmap": page.locator("#heatmap-plot img").count(),
                "summary": page.locator("#analysis-summary").inner_text(),
                "seconds": seconds,
                "timeline_width": page.locator("#timeline-plot img").first.evaluate("img => img.naturalWidth"),
                "heatmap_width": page.locator("#heatmap-plot img").first.evaluate("img => img.naturalWidth"),
            }
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
            page.get_by_role("tab", name="Inspect errors").click()
            page.locator("#score-button").click()  # the data folder's dev CSV is preselected
            page.locator("#score-summary").get_by_text("What DSWA decides").wait_for(timeout=RESULT_TIMEOUT_MS)
            page.locator("#file-errors [role=row]").nth(1).wait_for(timeout=60_000)
            found["score_summary"] = page.locator("#score-summary").inner_text()
            found["error_header"] = page.locator("#file-errors [role=row]").first.inner_text()
            page.get_by_role("tab", name="Learn how the spikes work").click()
            page.locator("#lif-plot img").wait_for(timeout=60_000)  # drawn by the LIF demo on page load
            found["lif"] = page.locator("#lif-plot img").first.evaluate("img => img.naturalWidth")
            return found
        finally:
            browser.close()


def test_browser_uploads_the_example_and_sees_results(tmp_path):
    shipped = (DEFAULT_CHECKPOINT / "config.json").is_file()
    checkpoint = DEFAULT_CHECKPOINT if shipped else make_test_checkpoint(tmp_path / "ckpt", ("text",))
    port = _free_port()
    process = start_app(checkpoint, port, tmp_path / "app.log")
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/", process, START_TIMEOUT_S)
        shot = tmp_path / "screenshot.png"
        found = analyse_in_browser(f"http://127.0.0.1:{port}/", EXAMPLE_VIDEO, shot)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert found["rows"] >= 5, found  # ~9 spoken turns; speech recognition may merge or split a few
    assert found["timeline"] == 1 and found["timeline_width"] > 100
    assert found["heatmap"] == 1 and found["heatmap_width"] > 100
    assert "two_friends.mp4" in found["summary"]
    assert "0:0" in found["first_row"]  # the row shows the turn's time
    assert shot.stat().st_size > 50_000
    assert found["lif"] > 100
    assert "weighted F1" in found["score_summary"] and "dev_sent_emo.csv" in found["score_summary"]
    assert "without DSWA" in found["error_header"] and "predicted" in found["error_header"]
    target = os.environ.get("SPIKEMO_SCREENSHOT") or (SCREENSHOT if shipped else None)
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)
