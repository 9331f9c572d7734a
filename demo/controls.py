"""Component updates the tabs share."""

from __future__ import annotations

import gradio as gr


def position_slider(count: int, value: int = 1) -> dict:
    """A 1-based slider over `count` items (turns, heads). Gradio refuses a slider whose minimum is not below its
    maximum, so a single item gets the range 1-2 with the slider locked at 1."""
    return gr.update(minimum=1, maximum=max(count, 2), value=min(max(value, 1), max(count, 1)), step=1,
                     interactive=count > 1)
