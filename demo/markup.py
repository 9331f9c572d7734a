"""User content shown as text: transcripts, speaker names, file names and CSV cells come from a user's files, and
the app shows them inside Markdown (gr.Markdown) and HTML (gr.Error, gr.Warning). Unescaped, a cue like
`Bob: ![x](http://host/pixel.png)` would make every viewer's browser fetch that URL, and links would render.

`file_names_only` cuts every absolute server path in a message down to its file name: a visitor learns nothing of
the server's folders from an error about their own file. `md` escapes text for Markdown (every ASCII punctuation
character backslash-escaped, `&`, `<`, `>` as HTML entities, line breaks as spaces), so it shows literally;
`html_text` escapes text for the HTML of a message.
"""

from __future__ import annotations

import html
import re
import string

_MARKDOWN_ESCAPES = {ord(c): "\\" + c for c in string.punctuation}
_MARKDOWN_ESCAPES.update({ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;"})

# An absolute path (two or more parts), and its last part: what file_names_only keeps.
_SERVER_PATH = re.compile(r"(?<![\w.~:/])/(?:[^\s/:,;'\"()\[\]]+/)+([^\s/:,;'\"()\[\]]+)")

# Markdown components that show user content render no LaTeX either (`$$...$$` stays text).
NO_LATEX: list[dict[str, str | bool]] = []


def file_names_only(message: str) -> str:
    """`message` with every absolute path (/tmp/gradio/3d1.../formula.csv) replaced by its file name."""
    return _SERVER_PATH.sub(r"\1", message)


def md(value: object) -> str:
    """`value` as Markdown that renders as exactly its text, on one line (runs of whitespace become one space)."""
    return " ".join(str(value).split()).translate(_MARKDOWN_ESCAPES)


def html_text(value: object) -> str:
    """`value` as HTML text: `&`, `<` and `>` escaped (quotes need none outside attributes)."""
    return html.escape(str(value), quote=False)


def speaker_name(speaker: str | None) -> str:
    """A speaker's name as Markdown text, or "unknown speaker"."""
    return md(speaker) if speaker else "unknown speaker"


def top_probabilities(probabilities: dict[str, float], count: int = 3) -> str:
    """The `count` likeliest labels with their probabilities, e.g. "joy 0.61, neutral 0.20, surprise 0.09"."""
    ranked = sorted(probabilities.items(), key=lambda item: -item[1])[:count]
    return ", ".join(f"{label} {prob:.2f}" for label, prob in ranked)
