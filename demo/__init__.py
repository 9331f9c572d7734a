"""SpikEmo's Gradio app: `build_demo()` makes the Blocks, `launch()` serves them (see app.py at the root).

config (where the app finds its files, its limits, the bundled examples), errors (library errors shown to
the user), markup (user content escaped, so Markdown and HTML show it as text), worker (the model work, inside
`spaces.GPU` for ZeroGPU, in-process elsewhere), state (what the tabs share), queue_events (what the handlers
read from Gradio's queue: a cancelled or departed request, a session's waiting events), tabs/ (one module per
tab: its texts, components, event wiring and handlers) and app (the page around the tabs). browser drives the
running app in headless Chromium, for the browser test and the README's screenshot.
"""

import os

# Gradio otherwise phones home at start-up and on every event (and waits on DNS where there is no internet).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from demo.app import build_demo, configure_logging, launch  # noqa: E402
from demo.config import AppConfig  # noqa: E402

__all__ = ["AppConfig", "build_demo", "configure_logging", "launch"]
