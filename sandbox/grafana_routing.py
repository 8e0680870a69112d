"""The notification policy tree as Grafana's embedded Alertmanager walks it (prometheus/alertmanager
dispatch/route.go NewRoute, Match, Key; pkg/labels/matcher.go Matcher.String, Matchers.Less; timeinterval
for mute timings), over the tree in its API shape (GET /api/v1/provisioning/policies, definitions.Route).

A route inherits its parent's receiver, group_by and timings (DefaultRouteOpts at the root: Grafana's
defaults group_wait 30s, group_interval 5m, repeat_interval 4h); matchers and mute_time_intervals are
its own. `matchers` (strings) and `object_matchers` ([name, op, value]) are one list, sorted as
Alertmanager sorts them, which its Key() prints.
"""

import calendar
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from .grafana_files import MATCHER, parse_duration

DEFAULTS = {"group_wait": 30, "group_interval": 300, "repeat_interval": 4 * 3600}  # seconds
WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


@dataclass
class Matcher:
    name: str
    op: str
    value: str

    def matches(self, labels):
        """labels.Matcher.Matches on the label's value ("" when absent); regexps anchored ^(?:...)$."""
        value = labels.get(self.name, "")
        if self.op in ("=", "!="):
            return (value == self.value) == (self.op == "=")
        return bool(re.fullmatch(f"(?:{self.value})", value)) == (self.op == "=~")

    def __str__(self):
        # Matcher.String: name, operator, value in double quotes (openMetricsEscape: \\, \n and ")
        escaped = self.value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


@dataclass
class Route:
    receiver: str
    group_by: tuple  # label names; ("...",) groups by all labels
    group_wait: int
    group_interval: int
    repeat_interval: int
    matchers: list
    mute_time_intervals: tuple = ()
    active_time_intervals: tuple = ()
    cont: bool = False
    parent: "Route" = None
    routes: list = field(default_factory=list)

    def key(self):
        """Route.Key(): the parent's key, "/", then this route's matchers as {m1,m2}."""
        own = "{" + ",".join(str(m) for m in self.matchers) + "}"
        return (self.parent.key() + "/" if self.parent else "") + own

    def match(self, labels):
        """Route.Match: the deepest matching routes, following `continue`; this route if no child matches."""
        if not all(m.matches(labels) for m in self.matchers):
            return []
        found = []
        for child in self.routes:
            matched = child.match(labels)
            found += matched
            if matched and not child.cont:
                break
        return found or [self]

    def group_labels(self, labels):
        """The aggregation group's labels: those of group_by the alert has (all with `...`)."""
        if "..." in self.group_by:
            return dict(labels)
        return {name: labels[name] for name in self.group_by if name in labels}


def _matchers(route):
    found = []
    for text in route.get("matchers", []):
        name, op, quoted, plain = MATCHER.match(text).groups()
        found.append(Matcher(name, op, json.loads(f'"{quoted}"') if quoted is not None else plain))
    found += [Matcher(*m) for m in route.get("object_matchers", [])]
    return sorted(found, key=lambda m: (m.name, m.value, m.op))  # Matchers.Less: name, value, type


def build(tree, parent=None):
    """The dispatcher's Route tree from definitions.Route (the policies API shape)."""
    def inherited(key, default):
        if key in tree:
            return parse_duration(tree[key], key) // 1000
        return getattr(parent, key) if parent else default

    route = Route(receiver=tree.get("receiver") or (parent.receiver if parent else ""),
                  group_by=tuple(tree["group_by"]) if "group_by" in tree else (parent.group_by if parent else ()),
                  group_wait=inherited("group_wait", DEFAULTS["group_wait"]),
                  group_interval=inherited("group_interval", DEFAULTS["group_interval"]),
                  repeat_interval=inherited("repeat_interval", DEFAULTS["repeat_interval"]),
                  matchers=_matchers(tree) if parent else [],
                  mute_time_intervals=tuple(tree.get("mute_time_intervals", ())),
                  active_time_intervals=tuple(tree.get("active_time_intervals", ())),
                  cont=bool(tree.get("continue")), parent=parent)
    route.routes = [build(child, route) for child in tree.get("routes", [])]
    return route


def in_interval(interval, instant):
    """timeinterval.TimeInterval.ContainsTime: every given part (times, weekdays, days_of_month, months,
    years) contains `instant` (aware), read in the interval's location (UTC by default)."""
    local = instant.astimezone(ZoneInfo(interval.get("location", "UTC")))
    minute = local.hour * 60 + local.minute
    if "times" in interval and not any(_clock(t["start_time"]) <= minute < _clock(t["end_time"])
                                       for t in interval["times"]):
        return False
    weekday = WEEKDAYS[(local.weekday() + 1) % 7]
    if "weekdays" in interval and not any(_in_range(WEEKDAYS.index(weekday), r, WEEKDAYS)
                                          for r in interval["weekdays"]):
        return False
    if "days_of_month" in interval and not any(_day_in(local, r) for r in interval["days_of_month"]):
        return False
    if "months" in interval and not any(_in_range(local.month, r) for r in interval["months"]):
        return False
    if "years" in interval and not any(_in_range(local.year, r) for r in interval["years"]):
        return False
    return True


def muted(route, mute_times, unix_seconds):
    """TimeMuteStage / TimeActiveStage: whether a route's notifications are held at that instant."""
    instant = datetime.fromtimestamp(unix_seconds, timezone.utc)
    by_name = {m["name"]: m["time_intervals"] for m in mute_times}
    if any(in_interval(i, instant) for name in route.mute_time_intervals for i in by_name.get(name, [])):
        return True
    if route.active_time_intervals:
        return not any(in_interval(i, instant) for name in route.active_time_intervals
                       for i in by_name.get(name, []))
    return False


def _clock(text):
    return int(text[:2]) * 60 + int(text[3:])


def _in_range(value, text, names=None):
    begin, _, end = text.partition(":")
    begin, end = (names.index(p) if names else int(p) for p in (begin, end or begin))
    return begin <= value <= end


def _day_in(local, text):
    days = calendar.monthrange(local.year, local.month)[1]
    begin, _, end = text.partition(":")
    begin, end = (int(p) + days + 1 if int(p) < 0 else int(p) for p in (begin, end or begin))
    return begin <= local.day <= end
