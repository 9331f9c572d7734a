"""The running app driven in a real browser: `python app.py` in a subprocess, headless Debian Chromium driven
by Playwright. tests/test_browser.py checks what the page shows; scripts/make_screenshot.py keeps a picture
of it. Playwright is a development dependency, imported only when a page is opened."""

from __future__ import annotations

import os
import re
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
DESKTOP_WIDTH = 1400
PHONE_WIDTH = 400
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
def serve_app(checkpoint: Path, log_path: Path, timeout_s: float = START_TIMEOUT_S,
              data_dir: Path | None = None) -> Iterator[str]:
    """Run `python app.py` with `checkpoint` (and `data_dir` for Inspect errors, when given) on a free port (its
    output goes to log_path) until the block ends; yields the page's URL once it answers."""
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, str(REPO_ROOT / "app.py"), "--checkpoint", str(checkpoint), "--port", str(port)]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
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
def open_page(url: str, width: int = DESKTOP_WIDTH, height: int = 1000) -> Iterator[Page]:
    """The app's page in headless Chromium, `width` x `height` pixels, once its Analyse button is there."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height}, accept_downloads=True)
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


def first_screen(page: Page) -> dict:
    """What the page shows before any scrolling: for the examples' gallery and the Analyse button, where they end
    (px from the top) against the viewport's height; the examples' names as shown and their pictures' addresses."""
    page.locator("#examples img").first.wait_for(timeout=STEP_TIMEOUT_MS)
    bottom = {name: page.locator(selector).bounding_box() for name, selector in
              (("examples", "#examples"), ("analyse", "#analyse-button"))}
    return {
        "height": page.viewport_size["height"],
        "bottom": {name: round(box["y"] + box["height"]) for name, box in bottom.items()},
        "names": [t.strip() for t in page.locator("#examples .caption-label").all_inner_texts()],
        "pictures": page.locator("#examples img").evaluate_all("images => images.map(i => i.src)"),
    }


def pick_example(page: Page, label: str) -> None:
    """Click the bundled example named `label` in the examples' gallery and wait for its video (its transcript
    comes with it)."""
    page.locator("#examples").get_by_text(label, exact=True).click()
    page.locator("#video-input video").wait_for(timeout=STEP_TIMEOUT_MS)
    page.wait_for_timeout(1500)


def replace_video(page: Page, video: Path) -> None:
    """Clear the video input and upload `video` as a visitor does."""
    clear = page.locator("#video-input button[aria-label='Clear']")
    if clear.count():
        clear.click()
    page.locator("#video-input input[type=file]").set_input_files(str(video))
    page.locator("#video-input video").wait_for(timeout=STEP_TIMEOUT_MS)
    page.wait_for_timeout(1500)


def attached_transcript(page: Page) -> str:
    """The file name the transcript input holds, or "" when it holds none."""
    names = page.locator("#transcript-input .filename")
    return (names.first.get_attribute("aria-label") or "").strip() if names.count() else ""


def attach_transcript(page: Page, transcript: Path) -> None:
    """Upload `transcript` into the transcript input and wait until it shows there."""
    page.locator("#transcript-input input[type=file]").set_input_files(str(transcript))
    page.locator(f"#transcript-input .filename[aria-label='{transcript.name}']").wait_for(timeout=STEP_TIMEOUT_MS)


def analyse_and_read_status(page: Page, done_text: str, timeout_ms: int = RESULT_TIMEOUT_MS) -> str:
    """Click Analyse, wait until the status panel shows `done_text`; returns the panel's text."""
    page.locator("#analyse-button").click()
    page.locator("#analysis-status").get_by_text(done_text).wait_for(timeout=timeout_ms)
    return page.locator("#analysis-status").inner_text()


def save_screenshot(page: Page, path: Path) -> None:
    """The whole page as a PNG at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)


def score_preselected_csv(page: Page) -> dict:
    """On the Inspect errors tab, score the preselected CSV (the data folder's dev set); returns the summary, the
    header of the table of turns and the line saying which of its rows show."""
    page.get_by_role("tab", name="Inspect errors").click()
    page.locator("#score-button").click()
    page.locator("#score-summary").get_by_text("weighted F1").wait_for(timeout=RESULT_TIMEOUT_MS)
    page.locator("#file-errors [role=row]").nth(1).wait_for(timeout=STEP_TIMEOUT_MS)
    page.locator("#turns-page").get_by_text("rows 1-").wait_for(timeout=STEP_TIMEOUT_MS)
    return {
        "score_summary": page.locator("#score-summary").inner_text(),
        "error_header": page.locator("#file-errors [role=row]").first.inner_text(),
        "turns_page": turns_page(page),
    }


def turns_page(page: Page) -> str:
    """The line above the table of turns: "Turns: rows X-Y of N (page P of Q)" or "Turns: no rows"."""
    return page.locator("#turns-page").inner_text().strip()


def wait_for_turns_page(page: Page, text: str) -> str:
    """Wait until the line above the table of turns contains `text`; returns the line."""
    page.locator("#turns-page").get_by_text(text).wait_for(timeout=STEP_TIMEOUT_MS)
    return turns_page(page)


def table_cells(page: Page, table_id: str, row: int) -> list[str]:
    """The texts of the cells of data row `row` (0-based) of the table with this element id, as shown."""
    cells = page.locator(f"#{table_id} [role=row]").nth(row + 1).locator("[role=gridcell]")
    return [text.strip() for text in cells.all_inner_texts()]


def filter_by_gold_class(page: Page, label: str, expected_rows: int) -> str:
    """Pick `label` in the gold-class filter; waits for the table of turns to list `expected_rows` turns and
    returns the line above it."""
    page.locator("#gold-filter input").click()
    page.get_by_role("option", name=label, exact=True).click()
    page.locator("#turns-page").click()  # closes the list of options
    return wait_for_turns_page(page, f"of {expected_rows} " if expected_rows else "no rows")


def click_confusion_cell(page: Page, row: int, column: int) -> dict:
    """Click the confusion matrix's cell in data row `row` and column `column` (0 is the gold class's name); waits
    until the table of turns lists that many turns. Returns the cell's count and gold class, the line above the
    table of turns, and the classes the gold and predicted filters now show."""
    cells = page.locator("#confusion-matrix [role=row]").nth(row + 1).locator("[role=gridcell]")
    gold = cells.nth(0).inner_text().strip()
    count = int(cells.nth(column).inner_text())
    cells.nth(column).click()
    line = wait_for_turns_page(page, f"of {count} " if count else "no rows")
    return {
        "gold": gold, "count": count, "turns_page": line,
        "gold_filter": page.locator("#gold-filter").inner_text(),
        "predicted_filter": page.locator("#predicted-filter").inner_text(),
    }


def next_turns_page(page: Page) -> str:
    """Click "Next" above the table of turns; returns the new line once it shows the next page."""
    # Wait for the next page's number: while the table reloads, a progress timer also changes the line.
    current = int(re.search(r"\(page (\d+) of", turns_page(page)).group(1))
    page.locator("#next-page").click()
    return wait_for_turns_page(page, f"(page {current + 1} of")


def open_turn(page: Page, row: int) -> dict:
    """Click the text of data row `row` of the table of turns; waits for its dialogue to open. Returns the turn
    clicked (dialogue id, turn), the details of the turn in focus, and the dialogue table's rows as shown."""
    dialogue, turn = table_cells(page, "file-errors", row)[:2]
    page.locator("#file-errors [role=row]").nth(row + 1).locator("[role=gridcell]").nth(2).click()
    focus = page.locator("#dialogue-focus")
    focus.get_by_text(f"Dialogue {dialogue}, turn {turn} of").wait_for(timeout=STEP_TIMEOUT_MS)
    page.wait_for_timeout(500)  # let the dialogue table repaint
    rows = page.locator("#dialogue-table [role=row]").count() - 1
    return {
        "dialogue": dialogue, "turn": int(turn), "focus": focus.inner_text(),
        "dialogue_rows": [table_cells(page, "dialogue-table", i) for i in range(rows)],
    }


def download_scored_file(page: Page, folder: Path) -> Path:
    """Click the scored file's download link; returns where the downloaded CSV was saved in `folder`."""
    with page.expect_download(timeout=STEP_TIMEOUT_MS) as download:
        page.locator("#scored-download a").first.click()
    path = folder / download.value.suggested_filename
    download.value.save_as(path)
    return path


def search_turns(page: Page, text: str, expected_rows: int) -> str:
    """Type `text` in the turns' text search and press Enter; waits for the table of turns to list
    `expected_rows` turns and returns the line above it."""
    page.locator("#text-search textarea, #text-search input").first.fill(text)
    page.locator("#text-search textarea, #text-search input").first.press("Enter")
    return wait_for_turns_page(page, f"of {expected_rows} " if expected_rows else "no rows")


def download_filtered_turns(page: Page, folder: Path) -> Path:
    """Click "Download these turns", then its file's link; returns where the CSV was saved in `folder`."""
    page.locator("#download-view").click()
    link = page.locator("#view-download a").first
    link.wait_for(timeout=STEP_TIMEOUT_MS)
    with page.expect_download(timeout=STEP_TIMEOUT_MS) as download:
        link.click()
    path = folder / download.value.suggested_filename
    download.value.save_as(path)
    return path


def confusion_row_shares(page: Page) -> list[float]:
    """Switch the confusion matrix to its rows' shares; returns the first data row's cells once they change."""
    first_row = page.locator("#confusion-matrix [role=row]").nth(1).locator("[role=gridcell]")
    counts = first_row.all_inner_texts()
    page.locator("#confusion-view").get_by_text("% of each gold row").click()
    for _ in range(100):
        shown = first_row.all_inner_texts()
        if shown != counts:
            return [float(cell) for cell in shown[1:]]
        page.wait_for_timeout(100)
    raise TimeoutError("the confusion matrix did not change view")


def phone_layout(page: Page) -> dict:
    """At the page's current width, with a CSV scored: the page width, the tabs that can be clicked (none hidden
    behind a menu), the left edge and width of each plot and table of Inspect errors and Analyse, and whether the
    text cells of the table of turns show all their text (wrapped, none cut off); how wide two of Analyse's
    figures are shown."""
    boxes = {}
    for element in ("per-class-plot", "confusion-matrix", "file-errors", "dialogue-table", "dialogue-heatmap",
                    "dialogue-probabilities"):
        box = page.locator(f"#{element}").bounding_box()
        boxes[element] = (round(box["x"]), round(box["width"]))
    text = page.locator("#file-errors [role=row]").evaluate_all(
        """rows => {
            const cells = rows.slice(1).map(row => row.querySelectorAll('[role=gridcell]')[2]).filter(Boolean);
            const cut = cells.filter(cell => cell.scrollWidth > cell.clientWidth + 1
                                     || cell.getBoundingClientRect().right > window.innerWidth);
            return {cells: cells.length, cut: cut.length};
        }""")
    page.get_by_role("tab", name="Analyse").click()
    for element in ("timeline-plot", "heatmap-plot", "turn-table"):
        box = page.locator(f"#{element}").bounding_box()
        boxes[element] = (round(box["x"]), round(box["width"]))
    figures = {element: page.locator(f"#{element} img").evaluate("image => image.getBoundingClientRect().width")
               for element in ("timeline-plot", "heatmap-plot")}
    tabs = [t.strip() for t in page.get_by_role("tab").all_inner_texts() if t.strip()]
    return {
        "width": page.viewport_size["width"], "boxes": boxes, "tabs": tabs, "text_cells": text["cells"],
        "cut_text_cells": text["cut"], "hidden_tab_menu": page.locator(".overflow-menu").count(),
        "figure_widths": figures,
    }


def lif_figure_width(page: Page) -> int:
    """On the Learn tab, the natural width of the LIF figure (drawn when the page loads)."""
    page.get_by_role("tab", name="Learn how the spikes work").click()
    page.locator("#lif-plot img").wait_for(timeout=STEP_TIMEOUT_MS)
    return page.locator("#lif-plot img").first.evaluate("img => img.naturalWidth")


def learn_on_my_analysis(page: Page, conversation: str, threshold: float) -> dict:
    """On the Learn tab after an analysis: the measured panel's text; the LIF reading once the threshold's box is
    set to `threshold`; then, with `conversation` (the visitor's analysis) picked, spiking self-attention shown:
    its reading and the coincidence figure's natural width."""
    page.get_by_role("tab", name="Learn how the spikes work").click()
    measured = page.locator("#learn-measured").inner_text(timeout=STEP_TIMEOUT_MS)
    before = page.locator("#lif-reading").inner_text(timeout=STEP_TIMEOUT_MS)
    box = page.locator("#lif-threshold input[type=number]")
    box.fill(str(threshold))
    box.press("Enter")
    box.blur()
    for _ in range(200):  # until the new reading is in (not the old one, nor the pending event's timer)
        reading = page.locator("#lif-reading").inner_text()
        if reading != before and reading.startswith("The neuron"):
            break
        page.wait_for_timeout(100)
    page.locator("#learn-conversation input").click()
    page.get_by_role("option", name=conversation).click()
    page.locator("#attention-button").click()
    page.locator("#attention-reading").get_by_text("Turn 1 of").wait_for(timeout=RESULT_TIMEOUT_MS)
    page.locator("#coincidence-plot img").wait_for(timeout=STEP_TIMEOUT_MS)
    return {
        "measured": measured,
        "lif_before": before,
        "lif_after": reading,
        "attention": page.locator("#attention-reading").inner_text(),
        "coincidence_width": page.locator("#coincidence-plot img").first.evaluate("img => img.naturalWidth"),
    }
