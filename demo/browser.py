"""The running app driven in a real browser: `python app.py` in a subprocess, headless Debian Chromium driven
by Playwright. tests/test_browser.py checks what the page shows; scripts/make_screenshot.py keeps a picture
of it. Playwright is a development dependency, imported only when a page is opened."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from spikemo.paths import REPO_ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
START_TIMEOUT_S = 120
RESULT_TIMEOUT_MS = 240_000
STEP_TIMEOUT_MS = 60_000


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, timeout_s: float) -> float:
    """Poll `url` until it answers 200; returns the seconds it took. Fails if the process exits first."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"the app did not answer at {url} within {timeout_s} s")


@contextmanager
def serve_app(checkpoint: Path, log_path: Path, timeout_s: float = START_TIMEOUT_S) -> Iterator[str]:
    """Run `python app.py` with `checkpoint` on a free port (its output goes to log_path) until the block ends;
    yields the page's URL once it answers."""
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "app.py"), "--checkpoint", str(checkpoint), "--port", str(port)],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}/"
        try:
            wait_until_serving(url, process, timeout_s)
        except (RuntimeError, TimeoutError) as error:
            raise RuntimeError(f"{error}; its output:\n{log_path.read_text()}") from error
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def open_page(url: str) -> Iterator[Page]:
    """The app's page in headless Chromium, 1400 x 1000, once its Analyse button is there."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url, wait_until="load", timeout=STEP_TIMEOUT_MS)
            page.locator("#analyse-button").wait_for(timeout=STEP_TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def analyse_video(page: Page, video: Path) -> dict:
    """Upload `video` on the Analyse tab, click Analyse, wait for the results and select turn 3; returns what
    the page shows: rows, first_row, timeline, heatmap (image counts and natural widths), summary, seconds."""
    page.locator("#video-input input[type=file]").set_input_files(str(video))
    page.locator("#video-input video").wait_for(timeout=STEP_TIMEOUT_MS)  # the upload finished and plays
    clicked = time.perf_counter()
    page.locator("#analyse-button").click()
    rows = page.locator("#turn-table [role=row]")  # the header row, then one per turn
    rows.nth(1).wait_for(timeout=RESULT_TIMEOUT_MS)
    page.locator("#heatmap-plot img").wait_for(timeout=STEP_TIMEOUT_MS)
    seconds = time.perf_counter() - clicked
    page.get_by_text("Turn 1 of").wait_for(timeout=STEP_TIMEOUT_MS)
    rows.nth(3).locator("[role=gridcell], td").nth(3).click()  # the text cell of turn 3
    page.locator("#turn-details").get_by_text("Turn 3 of").wait_for(timeout=STEP_TIMEOUT_MS)
    page.wait_for_timeout(1500)  # let the last figures paint
    return {
        "rows": rows.count() - 1,
        "first_row": rows.nth(1).inner_text(),
        "timeline": page.locator("#timeline-plot img").count(),
        "heatmap": page.locator("#heatmap-plot img").count(),
        "summary": page.locator("#analysis-summary").inner_text(),
        "seconds": seconds,
        "timeline_width": page.locator("#timeline-plot img").first.evaluate("img => img.naturalWidth"),
        "heatmap_width": page.locator("#heatmap-plot img").first.evaluate("img => img.naturalWidth"),
    }


def save_screenshot(page: Page, path: Path) -> None:
    """The whole page as a PNG at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)


def score_preselected_csv(page: Page) -> dict:
    """On the Inspect errors tab, score the preselected CSV (the data folder's dev set); returns the summary
    and the header of the table of errors."""
    page.get_by_role("tab", name="Inspect errors").click()
    page.locator("#score-button").click()
    page.locator("#score-summary").get_by_text("What DSWA decides").wait_for(timeout=RESULT_TIMEOUT_MS)
    page.locator("#file-errors [role=row]").nth(1).wait_for(timeout=STEP_TIMEOUT_MS)
    return {
        "score_summary": page.locator("#score-summary").inner_text(),
        "error_header": page.locator("#file-errors [role=row]").first.inner_text(),
    }


def lif_figure_width(page: Page) -> int:
    """On the Learn tab, the natural width of the LIF figure (drawn when the page loads)."""
    page.get_by_role("tab", name="Learn how the spikes work").click()
    page.locator("#lif-plot img").wait_for(timeout=STEP_TIMEOUT_MS)
    return page.locator("#lif-plot img").first.evaluate("img => img.naturalWidth")
