"""How failures reach the user: library errors and bad choices become gr.Error, which Gradio shows in the page
while the app keeps serving."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TypeVar

import gradio as gr

from demo.markup import file_names_only, html_text
from demo.queue_events import Cancelled
from spikemo.errors import SpikEmoError

logger = logging.getLogger(__name__)

Choice = TypeVar("Choice", bound=StrEnum)


@contextmanager
def user_errors(action: str) -> Iterator[None]:
    """Turn library errors into gr.Error (shown to the user); anything unexpected is logged and reported. The
    message is HTML-escaped (it may quote a file name or a line of the user's file) and names files, never the
    server's folders."""
    try:
        yield
    except (gr.Error, Cancelled):  # already for the user; a stopped request is the caller's to report
        raise
    except SpikEmoError as error:
        raise gr.Error(html_text(file_names_only(str(error))), title=f"Could not {action}") from error
    except Exception as error:
        logger.exception("unexpected failure while trying to %s", action)
        message = file_names_only(f"Unexpected {type(error).__name__}: {error}")
        raise gr.Error(html_text(message), title=f"Could not {action}") from error


def parse_choice(choices: type[Choice], value: str | None, message: str, title: str) -> Choice:
    """`value` as a member of `choices` (an API caller may send any string); gr.Error(message) when it is none."""
    try:
        return choices(value)
    except ValueError:
        raise gr.Error(message, title=title) from None
