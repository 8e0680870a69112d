"""Text from logs and from Grafana, made safe to put in a Markdown document: it reads as the characters
it is, never as HTML or formatting. Pure."""

import re

from opsverify.status import ISSUE_PREFIXES
from opsverify.text import visible

# Backslash escapes CommonMark honours; &, < and > as entities, so that no tag or entity survives.
_ESCAPED = re.compile(r"([\\`*_\[\]|])")
SHORT_CHARS = 150  # one issue as a person reads it in a cell or a bullet; the full text stays in the report


def escape(text):
    """`text` on one line, control characters written out, Markdown's and HTML's special characters escaped."""
    flat = " ".join(visible(text).split())
    return _ESCAPED.sub(r"\\\1", flat.replace("&", "&amp;")).replace("<", "&lt;").replace(">", "&gt;")


def short(text, limit=SHORT_CHARS):
    """`text` on one line, cut to `limit` characters with an ellipsis."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "…"


SAW = re.compile(r"; saw (.+?)(?:\. What to do:.*)?$")


def short_issue(line, limit=SHORT_CHARS):
    """One issue as a person reads it in a table: the check and what was wrong (the "saw" of its message),
    cut to `limit` characters; the whole message stays in the HTML report and results.json."""
    prefix = next((p for p in ISSUE_PREFIXES.values() if line.startswith(p)), "")
    name, sep, reason = line[len(prefix):].partition(": ")
    saw = SAW.search(reason)
    return short(f"{prefix}{name}: {saw.group(1) if saw else reason}" if sep else line, limit)
