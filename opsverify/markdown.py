"""Text from logs and from Grafana, made safe to put in a Markdown document: it reads as the characters
it is, never as HTML or formatting. Pure."""

import re

# Backslash escapes CommonMark honours; &, < and > as entities, so that no tag or entity survives.
_ESCAPED = re.compile(r"([\\`*_\[\]|])")
SHORT_CHARS = 150  # one issue as a person reads it in a cell or a bullet; the full text stays in the report


def escape(text):
    """`text` on one line, with Markdown's and HTML's special characters escaped."""
    flat = " ".join(str(text).split())
    return _ESCAPED.sub(r"\\\1", flat.replace("&", "&amp;")).replace("<", "&lt;").replace(">", "&gt;")


def short(text, limit=SHORT_CHARS):
    """`text` on one line, cut to `limit` characters with an ellipsis."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "…"
