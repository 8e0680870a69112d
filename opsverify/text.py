"""Text a system sent (a log line, an error body), fit to show in a terminal, a report or a document."""

import re

# C0/C1 controls but tab and newline, and the Unicode marks that reorder or hide text (bidi, zero width).
INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def visible(text, limit=None):
    """Text a system sent, fit to show: every control character written out (`\\x1b`), so that a log line
    cannot clear the terminal, set its title or make git take the document for binary; and, with
    `limit`, cut to that many characters, saying how many were cut."""
    text = INVISIBLE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256
                         else f"\\u{ord(m.group()):04x}", str(text))
    if limit is not None and len(text) > limit:
        text = text[:limit] + f"… ({len(text) - limit} more characters cut)"
    return text
