"""User content shown as text: transcripts, speaker names, file names and CSV cells come from a user's files, and
the app shows them inside Markdown (gr.Markdown) and HTML (gr.Error, gr.Warning). Unescaped, a cue like
`Bob: ![x](http://host/pixel.png)` would make every viewer's browser fetch that URL, and links would render.

`md` escapes text for Markdown (every ASCII punctuation character backslash-escaped, `&`, `<`, `>` as HTML
entities, line breaks as spaces), so it shows literally; `html_text` escapes text for the HTML of a message.
"""

from __future__ import annotations

import html
import string

_MARKDOWN_ESCAPES = {ord(c): "\\" + c for c in string.punctuation}
_MARKDOWN_ESCAPES.update({ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;"})

# Markdown components that show user content render no LaTeX either (`$$...$$` stays text).
NO_LATEX: list[dict[str, str | bool]] = []


def md(value: object) -> str:
    """`value` as Markdown that renders as exactly its text, on one line (runs of whitespace become one space)."""
    return " ".join(str(value).split()).translate(_MARKDOWN_ESCAPES)


def html_text(value: object) -> str:
    """`value` as HTML text: `&`, `<` and `>` escaped (quotes need none outside attributes)."""
    return html.escape(str(value), quote=False)
