"""A real browser on the running app: headless Debian Chromium (driven by Playwright, see demo/browser.py)
uploads the bundled example through the page, clicks Analyse and waits for the results (the page is saved as
a screenshot under tmp_path), then scores the dev CSV on the Inspect errors tab and opens the Learn tab.

The app runs as `python app.py` in a subprocess. It serves the shipped checkpoint when that exists, else a
random-init test checkpoint. The test writes nothing into the repository: scripts/make_screenshot.py makes
the README's screenshot.
"""

import pytest

from demo.browser import (
    CHROMIUM,
    analyse_video,
    lif_figure_width,
    open_page,
    save_screenshot,
    score_preselected_csv,
    serve_app,
)
from spikemo.paths import DEFAULT_CHECKPOINT, EXAMPLES_DIR
from tests.helpers import make_test_checkpoint

EXAMPLE_VIDEO = EXAMPLES_DIR / "two_friends.mp4"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium"),
]


def test_browser_uploads_the_example_and_sees_results(tmp_path):
    shipped = (DEFAULT_CHECKPOINT / "config.json").is_file()
    checkpoint = DEFAULT_CHECKPOINT if shipped else make_test_checkpoint(tmp_path / "ckpt", ("text",))
    shot = tmp_path / "screenshot.png"
    with serve_app(checkpoint, tmp_path / "app.log") as url, open_page(url) as page:
        found = analyse_video(page, EXAMPLE_VIDEO)
        save_screenshot(page, shot)
        found |= score_preselected_csv(page)
        found["lif"] = lif_figure_width(page)
    assert found["rows"] >= 5, found  # ~9 spoken turns; speech recognition may merge or split a few
    assert found["timeline"] == 1 and found["timeline_width"] > 100
    assert found["heatmap"] == 1 and found["heatmap_width"] > 100
    assert "two_friends.mp4" in found["summary"]
    assert "0:0" in found["first_row"]  # the row shows the turn's time
    assert shot.stat().st_size > 50_000
    assert found["lif"] > 100
    assert "weighted F1" in found["score_summary"] and "dev_sent_emo.csv" in found["score_summary"]
    assert "without DSWA" in found["error_header"] and "predicted" in found["error_header"]
