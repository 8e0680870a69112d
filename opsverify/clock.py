"""The run's clock: the machine's, or — against a sandbox whose clock was set alike — one that reads
the instant given with --now when the run starts and runs on from there."""

import time
from datetime import datetime, timezone


class RunClock:
    def __init__(self, start=None):
        """`start`: an aware datetime that is "now" at this moment; None for the machine's clock."""
        self.start = start
        self._offset = 0.0 if start is None else start.timestamp() - time.time()

    def now(self):
        """Now, aware, in UTC."""
        return datetime.fromtimestamp(time.time() + self._offset, timezone.utc)


def parse_instant(text):
    """'2026-11-29T00:30:00+08:00' (or ...Z) to an aware datetime in UTC; ValueError naming the form."""
    try:
        instant = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not an ISO 8601 instant like 2026-11-29T00:30:00+08:00") from None
    if instant.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset; write it like 2026-11-29T00:30:00+08:00 or with Z")
    return instant.astimezone(timezone.utc)
