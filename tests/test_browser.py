"""A real browser on the running app: headless Debian Chromium (driven by Playwright, see demo/browser.py)
uploads the bundled example through the page, clicks Analyse and waits for the results (and the banner saying
what the prediction rests on); on Inspect errors it scores a slice of MELD dev, pages through the errors, filters
them, clicks a confusion-matrix cell, opens a turn in its dialogue and downloads the scored file; at phone width
(400 px) it checks that every plot and table takes the whole width, that the text of the turns wraps on both tabs,
and that every tab can be reached. Screenshots at desktop and phone width go to tmp_path.

The app runs as `python app.py` in a subprocess, once for the module. It serves the shipped checkpoint when that
exists, else a random-init test checkpoint. The test writes nothing into the repository: scripts/make_screenshot.py
makes the README's screenshot.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from demo.browser import (
    CHROMIUM,
    PHONE_WIDTH,
    analyse_and_read_status,
    analyse_video,
    attach_transcript,
    attached_transcript,
    click_confusion_cell,
    confusion_row_shares,
    download_filtered_turns,
    download_scored_file,
    filter_by_gold_class,
    first_screen,
    learn_on_my_analysis,
    lif_figure_width,
    next_turns_page,
    open_page,
    open_turn,
    phone_layout,
    pick_example,
    replace_video,
    save_screenshot,
    score_preselected_csv,
    search_turns,
    serve_app,
)
from demo.tabs.analyse_views import TURN_TABLE_COLUMNS
from demo.tabs.inspect import PAGE_SIZE
from demo.tabs.inspect_views import FOCUS_MARK
from demo.tabs.learn_views import MEASURED_HEADING, YOUR_ANALYSIS
from spikemo.data.labels import MELD_LABELS
from spikemo.paths import DEFAULT_CHECKPOINT, DEFAULT_DATA_DIR, EXAMPLES_DIR
from spikemo.video.analysis import FORMULA_PREFIXES
from tests.helpers import make_test_checkpoint
from tests.test_plots import PHONE_FIGURE_PX

if TYPE_CHECKING:
    from playwright.sync_api import Page

EXAMPLE_VIDEO = EXAMPLES_DIR / "two_friends.mp4"
DIALOGUES = 40  # of MELD dev: ~420 turns, enough for several pages of errors, scored in about half a minute

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium"),
]


@pytest.fixture(scope="module")
def dev_slice(tmp_path_factory) -> Path:
    """The first DIALOGUES dialogues of MELD dev, alone in a data folder."""
    table = pd.read_csv(DEFAULT_DATA_DIR / "dev_sent_emo.csv", dtype=str, keep_default_na=False)
    first = table["Dialogue_ID"].drop_duplicates().head(DIALOGUES)
    path = tmp_path_factory.mktemp("data") / "dev_slice.csv"
    table[table["Dialogue_ID"].isin(first)].to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, dev_slice):
    folder = tmp_path_factory.mktemp("app")
    shipped = (DEFAULT_CHECKPOINT / "config.json").is_file()
    checkpoint = DEFAULT_CHECKPOINT if shipped else make_test_checkpoint(folder / "ckpt", ("text",))
    with serve_app(checkpoint, folder / "app.log", data_dir=dev_slice.parent) as url:
        yield url


def cut_text_cells(page: Page, table_id: str, column: int) -> tuple[int, int]:
    """Column `column` (0-based) of the table with this element id: how many data cells it shows, and how many of
    them do not show all their text (it overflows the cell, or the cell runs past the window's right edge)."""
    counts = page.locator(f"#{table_id} [role=row]").evaluate_all(
        """(rows, column) => {
            const cells = rows.slice(1).map(row => row.querySelectorAll('[role=gridcell]')[column]).filter(Boolean);
            const cut = cells.filter(cell => cell.scrollWidth > cell.clientWidth + 1
                                     || cell.getBoundingClientRect().right > window.innerWidth);
            return [cells.length, cut.length];
        }""", column)
    return counts[0], counts[1]


def as_written(cell: str) -> str:
    """A text cell of the downloaded CSV as the utterance was written: without the quote that keeps a spreadsheet
    from running it as a formula."""
    return cell[1:] if cell[:1] == "'" and cell[1:2] in FORMULA_PREFIXES else cell


@pytest.mark.parametrize("width, height", [(1366, 800), (390, 844)], ids=["laptop", "phone"])
def test_the_first_screen_shows_the_named_examples(app_url, width, height):
    with open_page(app_url, width, height) as page:
        screen = first_screen(page)
    assert screen["bottom"]["examples"] <= height, screen  # no scrolling to find something to try
    if width > PHONE_WIDTH:
        assert screen["bottom"]["analyse"] <= height, screen  # and, on a laptop, the button
    assert screen["names"] == ["Two friends, by Whisper", "Two friends, with transcript"], screen
    assert len(set(screen["pictures"])) == 2, screen


def test_browser_uploads_the_example_and_sees_results(app_url, tmp_path):
    shot = tmp_path / "analyse.png"
    with open_page(app_url) as page:
        notice = page.locator("#analysis-notice")
        shown_before = notice.is_visible()
        found = analyse_video(page, EXAMPLE_VIDEO)
        found["notice"] = notice.inner_text() if notice.is_visible() else ""
        save_screenshot(page, shot)
        found["lif"] = lif_figure_width(page)
    assert not shown_before  # the banner is empty until an analysis, and takes no room
    assert found["notice"].startswith("The loaded checkpoint was trained on"), found
    assert found["rows"] >= 5, found  # ~9 spoken turns; speech recognition may merge or split a few
    assert found["timeline"] == 1 and found["timeline_width"] > 100
    assert found["heatmap"] == 1 and found["heatmap_width"] > 100
    assert "two_friends.mp4" in found["summary"]
    assert "0:0" in found["first_row"]  # the row shows the turn's time
    assert shot.stat().st_size > 50_000
    assert found["lif"] > 100


def test_a_new_video_drops_the_examples_transcript_and_errors_stay_readable(app_url, tmp_path):
    """The sequence a visitor met: pick the example with a transcript, replace only the video with their own, and
    press Analyse. The example's transcript must not describe someone else's video: the run drops it, says so and
    removes it from the page. A transcript that runs past the video is refused in the status panel, where the
    message stays, without red badges on every output."""
    late = tmp_path / "late.srt"
    late.write_text("1\n00:01:00,000 --> 00:01:02,000\nAlex: this cue is after the video ends\n", encoding="utf-8")
    with open_page(app_url) as page:
        pick_example(page, "Two friends, with transcript")
        attached_with_example = attached_transcript(page)
        replace_video(page, EXAMPLE_VIDEO)
        page.locator("#analyse-button").click()
        page.wait_for_timeout(300)
        while_running = {"analyse": page.locator("#analyse-button").is_enabled(),
                         "stop": page.locator("#stop-button").is_enabled()}
        page.locator("#analysis-status").get_by_text("Analysed two_friends.mp4").wait_for(timeout=240_000)
        done = page.locator("#analysis-status").inner_text()
        note = page.locator("#transcript-note").inner_text()
        attached_after = attached_transcript(page)
        summary = page.locator("#analysis-summary").inner_text()
        first_text = page.locator("#turn-table [role=row]").nth(1).inner_text()
        attach_transcript(page, late)
        refused = analyse_and_read_status(page, "past the video's end", 60_000)
        note_refused = page.locator("#transcript-note").inner_text()
        page.wait_for_timeout(20_000)  # a toast would have faded by now
        still = page.locator("#analysis-status").inner_text()
        badges = page.get_by_text("Error", exact=True).count()
        save_screenshot(page, tmp_path / "refused.png")
    assert attached_with_example == "two_friends_with_transcript.srt"
    assert while_running == {"analyse": False, "stop": True}  # one run at a time, and a way to stop it
    assert "two_friends.mp4" in done and "two_friends.mp4" in summary
    assert "example's transcript was not used and was removed" in note and attached_after == ""
    assert "transcript supplied" not in summary  # speech recognition found the words of this video
    assert "furious" not in first_text  # the example's scripted first line did not come along
    assert "late.srt" in note_refused and "uploaded" in note_refused
    assert "late.srt" in refused and "past the video's end" in refused and "/" not in refused.split("late.srt")[0]
    assert still == refused and badges == 0


def test_stop_ends_a_run_and_the_next_one_starts_at_once(app_url):
    with open_page(app_url) as page:
        replace_video(page, EXAMPLE_VIDEO)
        page.locator("#analyse-button").click()
        page.locator("#analysis-status").get_by_text("speech recognition").wait_for(timeout=120_000)
        page.locator("#stop-button").click()
        page.locator("#analysis-status").get_by_text("Stopped").wait_for(timeout=30_000)
        after_stop = {"analyse": page.locator("#analyse-button").is_enabled(),
                      "stop": page.locator("#stop-button").is_enabled()}
        done = analyse_and_read_status(page, "Analysed two_friends.mp4", 240_000)  # not "Nothing was analysed"
    assert after_stop == {"analyse": True, "stop": False}
    assert "two_friends.mp4" in done  # the stopped run freed the worker for this one


def test_inspect_errors_pages_filters_cells_turns_and_download(app_url, dev_slice, tmp_path):
    shot = tmp_path / "inspect-desktop.png"
    with open_page(app_url) as page:
        scored = score_preselected_csv(page)
        download = download_scored_file(page, tmp_path)
        turns = pd.read_csv(download, keep_default_na=False)
        errors = turns[(turns["Emotion"] != "") & (turns["Emotion"] != turns["predicted"])]
        second_page = next_turns_page(page)
        joy_errors = int((errors["Emotion"] == "joy").sum())
        joy = filter_by_gold_class(page, "joy", joy_errors)
        cells = turns.groupby(["Emotion", "predicted"]).size()
        gold, predicted = cells.idxmax()  # the biggest cell: more than one page of turns
        cell = click_confusion_cell(page, MELD_LABELS.index(gold), 1 + MELD_LABELS.index(predicted))
        opened = open_turn(page, 0)
        save_screenshot(page, shot)
        shares = confusion_row_shares(page)
        word = "you"
        with_word = turns[(turns["Emotion"] == gold) & (turns["predicted"] == predicted)
                          & turns["text_read"].str.contains(word, case=False, regex=False)]
        searched = search_turns(page, word, len(with_word))
        filtered = pd.read_csv(download_filtered_turns(page, tmp_path), keep_default_na=False)

    assert "weighted F1" in scored["score_summary"] and "dev_slice.csv" in scored["score_summary"]
    assert "without DSWA" in scored["error_header"] and "predicted" in scored["error_header"]
    pages = math.ceil(len(errors) / PAGE_SIZE)
    assert scored["turns_page"] == f"Turns: rows 1-{min(len(errors), PAGE_SIZE)} of {len(errors)} (page 1 of {pages})"
    assert len(errors) > PAGE_SIZE  # every error is reachable, page by page
    assert second_page == f"Turns: rows 51-{min(len(errors), 2 * PAGE_SIZE)} of {len(errors)} (page 2 of {pages})"
    assert joy == (f"Turns: rows 1-{min(joy_errors, PAGE_SIZE)} of {joy_errors} "
                   f"(page 1 of {math.ceil(joy_errors / PAGE_SIZE)})" if joy_errors else "Turns: no rows")

    source = pd.read_csv(dev_slice, dtype=str, keep_default_na=False)
    assert len(turns) == len(source)  # one row per turn, the source's own columns first, then the predictions
    width = len(source.columns)
    assert list(turns.columns[:width + 3]) == [*source.columns, "text_read", "predicted", "confidence"]
    assert [f"prob_{label}" for label in MELD_LABELS] == [c for c in turns.columns if c.startswith("prob_")]
    assert "without_dswa" in turns.columns
    assert (turns["Sr No."].astype(str) == source["Sr No."]).all()  # joinable back to the corpus
    assert not turns["Utterance"].str.startswith(FORMULA_PREFIXES).any()  # spreadsheet-safe
    assert not turns["text_read"].str.startswith(FORMULA_PREFIXES).any()

    assert (cell["gold"], cell["count"]) == (gold, cells.max())
    assert cell["turns_page"].startswith(f"Turns: rows 1-{min(cell['count'], PAGE_SIZE)} of {cell['count']} ")
    assert gold in cell["gold_filter"] and predicted in cell["predicted_filter"]
    assert sum(shares) == pytest.approx(100, abs=0.5)  # a gold row's shares
    assert searched.endswith(f"of {len(with_word)} (page 1 of {max(1, math.ceil(len(with_word) / PAGE_SIZE))})") \
        if len(with_word) else searched == "Turns: no rows"
    assert len(filtered) == len(with_word)  # the cell's turns that say the word, every page of them
    assert filtered["text"].str.contains(word, case=False, regex=False).all()

    dialogue = turns[turns["Dialogue_ID"].astype(str) == opened["dialogue"]]
    assert f"Dialogue {opened['dialogue']}, turn {opened['turn']} of {len(dialogue)}" in opened["focus"]
    shown = opened["dialogue_rows"]
    assert len(shown) >= min(len(dialogue), 10)
    assert [row[1] for row in shown] == [str(i) for i in range(1, len(shown) + 1)]  # every turn, in order
    assert [row[3] for row in shown] == [as_written(text) for text in dialogue["text_read"]][:len(shown)]
    marked = [row[1] for row in shown if row[2] == FOCUS_MARK]
    assert marked == ([str(opened["turn"])] if opened["turn"] <= len(shown) else [])
    assert shot.stat().st_size > 50_000


def test_phone_width_stacks_plots_and_tables_and_keeps_every_tab(app_url, tmp_path):
    shot = tmp_path / "inspect-phone.png"
    with open_page(app_url, PHONE_WIDTH) as page:
        analyse_video(page, EXAMPLE_VIDEO)
        analysed_cells, analysed_cut = cut_text_cells(page, "turn-table", TURN_TABLE_COLUMNS.index("text"))
        first_columns = {name: cut_text_cells(page, "turn-table", TURN_TABLE_COLUMNS.index(name))[1]
                         for name in ("time", "speaker", "emotion", "confidence")}
        save_screenshot(page, tmp_path / "analyse-phone.png")
        score_preselected_csv(page)
        open_turn(page, 0)
        save_screenshot(page, shot)
        layout = phone_layout(page)
        lif = lif_figure_width(page)
    assert layout["tabs"] == ["Analyse", "Inspect errors", "Learn how the spikes work"]
    assert layout["hidden_tab_menu"] == 0
    left = layout["boxes"]["file-errors"][0]
    for element, (x, width) in layout["boxes"].items():
        assert x == left and width >= PHONE_WIDTH - 2 * left - 2, (element, layout)  # one per row, full width
    assert layout["text_cells"] > 0 and layout["cut_text_cells"] == 0, layout  # utterances wrap, none cut off
    assert analysed_cells >= 5 and analysed_cut == 0, (analysed_cells, analysed_cut)  # so do the analysed turns
    assert first_columns == {"time": 0, "speaker": 0, "emotion": 0, "confidence": 0}, first_columns  # on screen
    assert lif > 100  # the Learn tab is reachable and draws
    assert min(layout["figure_widths"].values()) >= PHONE_FIGURE_PX, layout  # what test_plots' sizes assume
    assert shot.stat().st_size > 50_000


def test_learn_reads_the_measured_effect_and_runs_on_the_visitors_analysis(app_url, tmp_path):
    with open_page(app_url) as page:
        shown = analyse_video(page, EXAMPLE_VIDEO)
        learned = learn_on_my_analysis(page, YOUR_ANALYSIS, threshold=2.5)
        save_screenshot(page, tmp_path / "learn.png")
    assert learned["measured"].startswith(MEASURED_HEADING.lstrip("# "))
    shipped = (DEFAULT_CHECKPOINT / "config.json").is_file()
    assert ("of 1109 decisions" if shipped else "carries no measurement") in learned["measured"]
    # the threshold's box redraws the neuron: the default input (1.5) is now below the threshold
    assert "can never lift the membrane" in learned["lif_after"] and learned["lif_after"] != learned["lif_before"]
    assert learned["attention"].startswith(f"Turn 1 of {shown['rows']}")  # the visitor's turns, not an example's
    assert learned["coincidence_width"] > 300
