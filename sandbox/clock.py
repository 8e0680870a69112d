"""The sandbox's clock: the machine's, or one set to an instant (--now) that runs on from there.

Everything the sandbox dates reads this one clock: the week it renders, Loki's retention and
push limits, Grafana's rule evaluations, the backend's /health and nextReset, the recent traffic.
A test that needs a fixed night sets the sandbox's clock and the suite's (pytest --now) to the
same instant, so that no retention or "now" can overtake the date it names.

A clock may also run faster than real time (`rate`, the CLI's --clock-rate): a test of an alert drill
whose rules evaluate every minute, hold `for` a minute and wait 30 s to group then takes seconds. Only
the sandbox's own dates speed up; sleeps, timeouts and Docker keep the machine's time.
"""

import time
from datetime import datetime, timezone


class Clock:
    """The real clock shifted by a fixed offset; `start` (aware) is "now" when the clock is made. With
    `rate` r it advances r sandbox seconds each real second from there (the real clock's now when no start)."""

    def __init__(self, start=None, rate=1.0):
        if not rate > 0:
            raise ValueError(f"clock rate {rate!r}: it must be a positive number")
        self.rate = rate
        self.real_origin_ns = time.time_ns()
        self.origin_ns = self.real_origin_ns if start is None else int(start.timestamp() * 1e9)

    def time_ns(self):
        elapsed = time.time_ns() - self.real_origin_ns
        return self.origin_ns + (elapsed if self.rate == 1 else int(elapsed * self.rate))

    def time(self):
        return self.time_ns() / 1e9

    def now(self):
        """Now, aware, in UTC."""
        ns = self.time_ns()
        return datetime.fromtimestamp(ns // 1_000_000_000, timezone.utc).replace(microsecond=ns % 1_000_000_000
                                                                                 // 1000)


def parse_instant(text):
    """An ISO 8601 instant with its UTC offset ('2026-11-29T00:30:00+08:00', or Z) to an aware datetime."""
    try:
        instant = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 instant like 2026-11-29T00:30:00+08:00") from None
    if instant.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset: write it like 2026-11-29T00:30:00+08:00 or ...Z")
    return instant.astimezone(timezone.utc)
