"""The night's reset as Loki saw it: counts per event (on the server) and a bounded excerpt.

Requests per night are fixed -- one metric range query per event and one
excerpt query -- however many lines the backend printed.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

EVENTS = ("start", "completed", "failed", "skipped", "recovery_ok", "recovery_failed", "startup")
BUCKET_SECONDS = 60
EXCERPT_LIMIT = 100


def logql_string(text):
    """A LogQL string literal: a raw `backtick` string unless the text holds a backtick."""
    if "`" not in text:
        return f"`{text}`"
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def patterns(settings):
    """The site's pattern of each event, by event."""
    return {event: getattr(settings, f"pattern_{event}") for event in EVENTS}


def count_query(selector, pattern, bucket_seconds=BUCKET_SECONDS):
    return f"sum(count_over_time({selector} |~ {logql_string(pattern)} [{bucket_seconds}s]))"


def excerpt_query(selector, patterns):
    combined = "|".join(f"(?:{p})" for p in patterns)
    return f"{selector} |~ {logql_string(combined)}"


@dataclass(frozen=True)
class EventCount:
    event: str
    query: str
    buckets: tuple  # ((bucket end in UTC, count), ...) for minutes with lines; a bucket is (end - 60 s, end]

    @property
    def total(self):
        return int(sum(n for _, n in self.buckets))


@dataclass(frozen=True)
class ResetLog:
    night: object
    selector: str
    counts: dict  # event -> EventCount
    lines: tuple  # ((UTC datetime, line), ...) oldest first, at most EXCERPT_LIMIT
    excerpt_query: str
    where: str = ""  # the Loki endpoint it was read from (no credentials)

    def total(self, event):
        return self.counts[event].total

    def evidence(self, *events):
        """The queries and counts behind a judgement, plus the excerpt."""
        chosen = events or EVENTS
        return {
            "window_utc": [self.night.window_start.isoformat(), self.night.window_end.isoformat()],
            "counts": {
                e: {"query": self.counts[e].query, "total": self.counts[e].total,
                    "per_minute": {t.isoformat(): n for t, n in self.counts[e].buckets}}
                for e in chosen
            },
            "excerpt_query": self.excerpt_query,
            "excerpt": [f"{t.isoformat()} {line}" for t, line in self.lines],
        }


def gather(loki, night, selector, patterns):
    """Ask Loki about the night: `patterns` maps each event of EVENTS to its regex."""
    step = timedelta(seconds=BUCKET_SECONDS)
    counts = {}
    for event in EVENTS:
        query = count_query(selector, patterns[event])
        result = loki.query_range(query, start=night.window_start + step, end=night.window_end,
                                  step=BUCKET_SECONDS)
        totals = {}
        for series in result.items:
            for ts, value in series.points:
                moment = datetime.fromtimestamp(ts, timezone.utc)
                totals[moment] = totals.get(moment, 0) + value
        counts[event] = EventCount(event, query, tuple(sorted((t, int(n)) for t, n in totals.items() if n)))
    query = excerpt_query(selector, [patterns[e] for e in EVENTS])
    result = loki.query_range(query, start=night.window_start, end=night.window_end,
                              limit=EXCERPT_LIMIT, direction="forward")
    lines = tuple((datetime.fromtimestamp(ns / 1e9, timezone.utc), line) for ns, line, _ in result.entries())
    return ResetLog(night, selector, counts, lines[:EXCERPT_LIMIT], query, loki.url(loki.QUERY_RANGE))


# --- pure judgements on a ResetLog ---


def starts_on_time(log):
    """Start lines in the minute buckets that overlap [reset, grace end]."""
    return sum(n for t, n in log.counts["start"].buckets
               if t > log.night.reset_at and t - timedelta(seconds=BUCKET_SECONDS) < log.night.grace_end)


def durations_ms(log, completed_pattern):
    """Durations printed by the completion lines of the excerpt, in order."""
    regex = re.compile(completed_pattern)
    found = []
    for _, line in log.lines:
        match = regex.search(line)
        if match and match.groupdict().get("ms"):
            found.append(int(match.group("ms")))
    return found


def lines_matching(log, pattern):
    regex = re.compile(pattern)
    return [(t, line) for t, line in log.lines if regex.search(line)]


def outcome(log):
    """What happened to the night's reset: succeeded | recovered | failed | missing."""
    if log.total("start") == 0:
        return "missing"
    failed, recovered = log.total("failed"), log.total("recovery_ok")
    if log.total("recovery_failed") or (failed and not recovered):
        return "failed"
    if not (log.total("completed") or recovered):
        return "failed"
    return "recovered" if failed else "succeeded"


DUPLICATE_TOLERANCE = timedelta(seconds=1)


def reconcile(printed, shipped, tolerance=DUPLICATE_TOLERANCE):
    """Lines the container printed against the lines Loki holds: (missing, duplicated), each a list of
    (time, text) of the container's lines; a line matches when its text is equal and its time within
    `tolerance`."""
    missing, duplicated = [], []
    for moment, text in printed:
        found = sum(1 for t, line in shipped if line == text and abs(t - moment) <= tolerance)
        if found == 0:
            missing.append((moment, text))
        elif found > 1:
            duplicated.append((moment, text))
    return missing, duplicated


def distinct(lines, tolerance=DUPLICATE_TOLERANCE):
    """`lines` [(time, text)] without the re-sent copies: equal text within `tolerance` counts once."""
    kept = []
    for moment, text in sorted(lines):
        if not any(line == text and abs(moment - t) <= tolerance for t, line in kept):
            kept.append((moment, text))
    return kept
