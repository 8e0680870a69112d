"""The live mode (python -m sandbox --docker --live): the last night happens now, in a real container.

Docker stamps a container's log lines with the time they are printed, so the stand-in cannot print
last midnight's lines. Live, the last night's reset R is a few seconds from now (a whole second)
and every night of the scenario resets at R's local time of day; nights 1..N-1 are preloaded into
Loki, and the last night's lines are printed by the stand-in container at their offsets from R
(schedule) and shipped from its log into Loki as Promtail's docker discovery does (DockerShipper).

What the live mode compresses or cuts:
- lines before R (restart-in-window's start-up lines at -477 s, the night's traffic before R) cannot
  be printed in the past: the container prints them at once when it starts, so their offsets
  before R are compressed to "now" (a few seconds before R);
- only lines up to the horizon (--live-horizon, default 15 s) after R are printed: later ones (the
  failed night's retry at +300 s, the traffic up to +1200 s) would make every run that slow.
"""

import re
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

LEAD = 3  # seconds from "now" to the live reset (rounded up to a whole second)
DEFAULT_HORIZON = 15  # seconds after the reset that are printed
RESTART_BEFORE = 2  # seconds before the reset at which a restart-in-window container restarts
# Loki drops an entry identical to one it holds (same stream, timestamp and line), so a re-sent
# line only shows twice in Loki with another timestamp; Promtail's re-send after a Docker restart
# re-reads the line with a new timestamp, here 1 ms later.
DUPLICATE_AFTER_NS = 1_000_000
SHIPPED_WITHIN = 10  # seconds after R + horizon by which every printed line must have been shipped

STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d) (.*)$")


def reset_instant(now, lead=LEAD):
    """The live reset: `now` + lead, rounded up to the whole second (aware, UTC)."""
    moment = now + timedelta(seconds=lead)
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + timedelta(seconds=1)


def schedule(reset, live):
    """The container's --lines entries [(delay, stream, text)] for live [(instant, stream, text)].

    Lines before `reset` print at once (delay 0: the past is compressed to the container's start);
    the first line at or after it waits for the reset's epoch second, then each sleeps its offset
    from the line before.
    """
    epoch = int(reset.timestamp())
    entries, previous = [], None
    for instant, stream, text in live:
        if instant < reset:
            entries.append((0, stream, text))
            continue
        offset = (instant - reset).total_seconds()
        if previous is None:
            entries.append((f"@{epoch}+{offset:.3f}", stream, text))
        else:
            entries.append((max(0.0, offset - previous), stream, text))
        previous = offset
    return entries


def parse_stamp(text):
    """Docker's RFC3339Nano timestamp (trailing zeros trimmed) in ns since the epoch."""
    match = STAMP.match(text + " ")
    if not match:
        raise ValueError(f"not an RFC3339Nano timestamp: {text!r}")
    seconds, fraction, zone, _ = match.groups()
    base = datetime.fromisoformat(seconds + ("+00:00" if zone == "Z" else zone))
    return int(base.timestamp()) * 1_000_000_000 + int((fraction or "0").ljust(9, "0"))


class DockerShipper:
    """Follows a container's stdout and stderr with the engine's timestamps and ships each line into
    Loki through the Promtail Shipper (so its counters count them), with the scenario's labels
    for the stream; the scenario's ship_drop lines are not shipped, its ship_duplicate lines twice.

    A follow ends when the container stops (e.g. a restart): it follows again, skipping the
    lines it has already seen, until stop() or the container is gone.
    """

    def __init__(self, container, scenario, shipper):
        self.container, self.scenario, self.shipper = container, scenario, shipper
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.seen = {}  # (stream, ns, text) -> times shipped (0: dropped)
        self.threads = [threading.Thread(target=self._follow, args=(stream,), daemon=True)
                        for stream in ("stdout", "stderr")]

    def start(self):
        for thread in self.threads:
            thread.start()
        return self

    def seen_texts(self):
        with self._lock:
            return [text for _, _, text in self.seen]

    def wait_for(self, texts, deadline):
        """Wait until every one of `texts` (with repeats) was seen; False at `deadline` (time.time())."""
        while time.time() < deadline:
            seen = self.seen_texts()
            if all(seen.count(text) >= texts.count(text) for text in set(texts)):
                return True
            time.sleep(0.1)
        return False

    def _follow(self, stream):
        import docker

        while not self._stop.is_set():
            try:
                chunks = self.container.logs(stream=True, follow=True, timestamps=True,
                                             stdout=stream == "stdout", stderr=stream == "stderr")
                pending = b""
                for chunk in chunks:
                    pending += chunk
                    *complete, pending = pending.split(b"\n")
                    for raw in complete:
                        self._line(stream, raw.decode("utf-8", "replace"))
                    if self._stop.is_set():
                        return
                if pending:
                    self._line(stream, pending.decode("utf-8", "replace"))
            except docker.errors.NotFound:
                return
            except docker.errors.DockerException as exc:
                if self._stop.is_set():
                    return
                print(f"sandbox: following {self.container.name}'s {stream}: {exc}", file=sys.stderr, flush=True)
            self._stop.wait(0.1)

    def _line(self, stream, raw):
        stamp, _, text = raw.partition(" ")
        ns = parse_stamp(stamp)
        key = (stream, ns, text)
        with self._lock:
            if key in self.seen:
                return
        copies = 0 if any(p.search(text) for p in self.scenario.ship_drop) else (
            2 if any(p.search(text) for p in self.scenario.ship_duplicate) else 1)
        instant = datetime.fromtimestamp(ns // 1_000_000_000, timezone.utc)
        labels = self.scenario.stream_labels(stream, instant)
        for copy in range(copies):
            self.shipper.ship([(labels, [(ns + copy * DUPLICATE_AFTER_NS, text)])])
        with self._lock:
            self.seen[key] = copies

    def stop(self):
        self._stop.set()
        for thread in self.threads:
            thread.join(2)

