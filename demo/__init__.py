"""SpikEmo's Gradio app: `build_demo()` makes the Blocks, `launch()` serves them (see app.py)."""

import os

# Gradio otherwise phones home at start-up and on every event (and waits on DNS where there is no internet).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from demo.callbacks import AppConfig, SpikEmoApp  # noqa: E402
from demo.ui import build_demo, launch  # noqa: E402

__all__ = ["AppConfig", "SpikEmoApp", "build_demo", "launch"]
