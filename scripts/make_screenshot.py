"""Make the README's screenshot: the Analyse tab after the bundled example has been analysed, turn 3 selected.

Starts `python app.py` with the shipped checkpoint, drives the page in headless Chromium (the same steps as
tests/test_browser.py, from demo/browser.py) and saves the whole page.

    .venv/bin/python scripts/make_screenshot.py [--checkpoint FOLDER] [--output docs/screenshot.png]
"""

import argparse
import sys
import tempfile
from pathlib import Path

# Run as a file, this script sees only scripts/ on its path: make the repository's packages importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demo.browser import CHROMIUM, analyse_video, open_page, save_screenshot, serve_app  # noqa: E402
from spikemo.paths import DEFAULT_CHECKPOINT, EXAMPLES_DIR, REPO_ROOT  # noqa: E402

EXAMPLE_VIDEO = EXAMPLES_DIR / "two_friends.mp4"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "docs" / "screenshot.png")
    args = parser.parse_args(argv)
    if not (args.checkpoint / "config.json").is_file():
        sys.exit(f"no checkpoint at {args.checkpoint}: pass --checkpoint FOLDER")
    if not CHROMIUM.exists():
        sys.exit(f"needs Debian chromium at {CHROMIUM}")
    with (
        tempfile.TemporaryDirectory(prefix="spikemo-screenshot-") as scratch,
        serve_app(args.checkpoint, Path(scratch) / "app.log") as url,
        open_page(url) as page,
    ):
        found = analyse_video(page, EXAMPLE_VIDEO)
        save_screenshot(page, args.output)
    print(f"wrote {args.output}: {found['rows']} turns of {EXAMPLE_VIDEO.name}, analysed in {found['seconds']:.1f} s")


if __name__ == "__main__":
    main()
