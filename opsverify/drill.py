"""The alert fire drill, as pure logic (pytest -m drill --drill; the I/O is checks/test_drill.py's).

A drill pushes, for each rule that exists to report a failed reset, one failure line its own query
matches into Loki (the backend's stream labels plus opsverify_drill="<id>"), then follows the rule in
Grafana: Normal -> Pending (its `for`) -> Firing, and the alert into Grafana's Alertmanager with its
receivers. Every instant is read from the systems' own clocks (the Date of their answers, the rules
API's activeAt, the alert's startsAt), so a drill measures the monitoring, not this host's clock.

This module says which line to push, how long each stage may take, and what a rule's timeline means.
"""

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from opsverify.criteria import DRILL_LABEL

# A stream selector (its strings may hold braces) and the line filters right after it.
SELECTOR = re.compile(r'\{(?:[^{}"`]|"(?:\\.|[^"\\])*"|`[^`]*`)*\}')
LINE_FILTER = re.compile(r'\s*(\|=|\|~|!=|!~)\s*("(?:\\.|[^"\\])*"|`[^`]*`)')


class DrillRefused(Exception):
    """The drill must not run now or here; the text says why and what to do."""


def line_filters(expr):
    """The line filters of each stream selector of a LogQL query: [[(operator, text), ...], ...]."""
    found = []
    for selector in SELECTOR.finditer(expr):
        filters, at = [], selector.end()
        while match := LINE_FILTER.match(expr, at):
            literal = match.group(2)
            filters.append((match.group(1), literal[1:-1] if literal.startswith("`") else json.loads(literal)))
            at = match.end()
        found.append(filters)
    return found


def passes(line, filters):
    """Whether `line` gets through the line filters (Go's RE2 read as Python's re: the same for the
    alternations and groups rules use)."""
    for operator, text in filters:
        try:
            hit = text in line if operator in ("|=", "!=") else re.search(text, line) is not None
        except re.error:
            return False
        if hit != operator.startswith("|"):
            return False
    return True


def drill_line(exprs, candidates, drill_id):
    """The first candidate line (its "{id}" filled) that some selector of the rule's queries lets
    through, or None: then no failure line of the site can make the rule fire."""
    for candidate in candidates:
        line = candidate.replace("{id}", drill_id)
        if any(passes(line, filters) for expr in exprs for filters in line_filters(expr)):
            return line
    return None


def drill_labels(stream_labels, drill_id):
    """The labels of the drill's stream: the backend's, plus the drill label."""
    return {**{k: v for k, v in stream_labels.items() if k != DRILL_LABEL}, DRILL_LABEL: drill_id}


def budget(interval_s, for_s, group_wait_s, margin_s):
    """Seconds from the line's push to the alert with its receivers: the next evaluation, the rule's
    `for`, the route's group_wait and a margin (ingestion, the Alertmanager's own cycle)."""
    return interval_s + for_s + group_wait_s + margin_s


@dataclass
class Timeline:
    """What the drill saw of one rule, every instant in unix seconds by the systems' clocks."""

    uid: str
    title: str
    line: str = ""
    pushed: float = None  # the line's timestamp (Loki's clock)
    budget_s: float = 0
    state_before: str = ""  # the rule's state before the push
    health: str = ""  # the rules API's, last seen
    last_error: str = ""
    pending: float = None  # Normal -> Pending (the alert's activeAt)
    firing: float = None  # -> Firing (the Alertmanager alert's startsAt, else when first seen firing)
    routed: float = None  # first seen in Grafana's Alertmanager with receivers
    receivers: tuple = ()
    states: list = field(default_factory=list)  # (seen at, state) at each change

    def latencies(self):
        """Seconds from the push to each stage reached."""
        return {stage: round(at - self.pushed, 1) for stage, at in
                (("pending", self.pending), ("firing", self.firing), ("routed", self.routed))
                if at is not None and self.pushed is not None}

    def done(self):
        return self.routed is not None or self.health == "error"

    def as_evidence(self):
        """The timeline for the report, its instants as seconds after the push."""
        shown = asdict(self)
        for stage in ("pending", "firing", "routed"):
            shown[stage] = None if shown[stage] is None else round(shown[stage] - self.pushed, 1)
        return shown


@dataclass(frozen=True)
class Verdict:
    uid: str
    ok: bool
    stage: str  # the first stage that failed, or "in time"
    message: str


def judge(timeline, expected_receivers, integration_problems=(), never_fires_why=""):
    """The drill's verdict on one rule from its timeline: the first stage that was late or never came."""
    uid, budget_s = timeline.uid, timeline.budget_s
    receivers = ", ".join(timeline.receivers) or "no receiver"
    if timeline.health == "error":
        error = " ".join(timeline.last_error.split()) or "health error"
        return Verdict(uid, False, "query", f"rule {uid}'s query fails in Grafana ({error}): it cannot see a "
                       "failed reset, and a firing on its own error is no drill")
    if timeline.state_before in ("firing", "pending", "recovering"):
        return Verdict(uid, False, "quiet", f"rule {uid} was already {timeline.state_before} before the drill: "
                       "wait until it is Normal (a drill minutes ago?), or find why it fires")
    if timeline.line == "":
        return Verdict(uid, False, "pending", f"rule {uid}: none of the site's drill lines (drill.lines) passes "
                       "its query's line filters, so no failure line the backend prints can make it fire")
    if timeline.firing is None and timeline.pending is None:
        why = never_fires_why or "its condition cannot be true, or its query does not see the line"
        return Verdict(uid, False, "pending", f"rule {uid} never left Normal within {budget_s:g} s of the "
                       f"drill's line: {why}")
    if timeline.firing is None:
        pending = timeline.pending - timeline.pushed
        return Verdict(uid, False, "firing", f"rule {uid} went Pending after {pending:.0f} s but did not fire "
                       f"within {budget_s:g} s: its `for` holds longer than the failure lasts")
    if timeline.routed is None:
        return Verdict(uid, False, "routed", f"rule {uid} fired, but its alert never reached Grafana's "
                       f"Alertmanager within {budget_s:g} s (alerts sent only to an external Alertmanager?)")
    expected = sorted(expected_receivers)
    if expected and sorted(timeline.receivers) != expected:
        return Verdict(uid, False, "receivers", f"rule {uid}'s alert routed to {receivers}, expected "
                       f"{', '.join(expected)}")
    if integration_problems:
        return Verdict(uid, False, "integrations", f"rule {uid}'s alert routed to {receivers}, but "
                       f"{'; '.join(integration_problems)}: no one is notified through that")
    took, seen = timeline.routed - timeline.pushed, timeline.latencies()
    if took > budget_s:
        return Verdict(uid, False, "in time", f"rule {uid}'s alert reached {receivers} after {took:.0f} s, over "
                       f"its budget of {budget_s:g} s (evaluation interval + for + group_wait + margin)")
    pending = f"Pending after {seen['pending']:g} s, " if "pending" in seen else ""
    return Verdict(uid, True, "in time", f"rule {uid}: {pending}Firing after {seen['firing']:g} s, at {receivers} "
                   f"after {took:.0f} s (budget {budget_s:g} s)")


REFUSAL_MARGIN = timedelta(minutes=30)  # longer than a rule's lookback and `for`: the line is gone from both


def refusal_window(night):
    """The instants in which no drill may run: the night's search window (opsverify.night.Night) widened
    by REFUSAL_MARGIN, so that no replay or check of the night can meet the drill's line."""
    return night.window_start - REFUSAL_MARGIN, night.window_end + REFUSAL_MARGIN


def drill_behind(uid, active_since, drills):
    """The ledger's drill (a dict) whose line made rule `uid` fire at `active_since` (unix seconds): the
    alert began between the drill's push and the end of that rule's budget. None when no drill did."""
    for drill in reversed(drills):
        found = drill.get("rules", {}).get(uid)
        at = datetime.fromisoformat(drill["at"]).timestamp() if drill.get("at") else None
        if found and at is not None and at - 1 <= active_since <= at + found.get("budget_s", 0):
            return drill
    return None
