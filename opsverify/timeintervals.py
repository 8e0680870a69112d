"""Alertmanager time intervals, as Grafana applies them to notification policies (pure, no I/O).

A route's `mute_time_intervals` silence its notifications while any of them holds; its
`active_time_intervals`, when given, silence them while none holds. Neither is inherited by child
routes (Alertmanager dispatch/route.go sets both from the route's own config). An interval holds at
an instant when every field it gives matches (timeinterval.TimeInterval.ContainsTime): `times`
(minutes of the day, end exclusive, up to 24:00), `weekdays`, `days_of_month` (negative from the
month's end), `months`, `years`, read in `location` (UTC when absent).
"""

import calendar
import re
from dataclasses import dataclass
from datetime import timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
MONTHS = tuple(m.lower() for m in calendar.month_name)  # "" at 0, so index = month number
TIME = re.compile(r"^(?:([01][0-9]|2[0-3]):([0-5][0-9])|(24):(00))$")


class IntervalError(ValueError):
    """A time interval this code cannot read; the message names the field."""


@dataclass(frozen=True)
class Interval:
    times: tuple = ()  # ((start_minute, end_minute), ...)
    weekdays: tuple = ()  # ((first, last), ...) with 0 = Sunday
    days_of_month: tuple = ()
    months: tuple = ()
    years: tuple = ()
    zone: object = timezone.utc
    text: str = ""  # how the interval was given, for messages

    def holds(self, instant):
        t = instant.astimezone(self.zone)
        minute = t.hour * 60 + t.minute
        if self.times and not any(start <= minute < end for start, end in self.times):
            return False
        if self.days_of_month and not any(_day_in(t, first, last) for first, last in self.days_of_month):
            return False
        for ranges, value in ((self.months, t.month), (self.weekdays, (t.weekday() + 1) % 7),
                              (self.years, t.year)):
            if ranges and not any(first <= value <= last for first, last in ranges):
                return False
        return True


def _day_in(t, first, last):
    days = calendar.monthrange(t.year, t.month)[1]
    first = days + first + 1 if first < 0 else first
    last = days + last + 1 if last < 0 else last
    if first > days:
        return False
    return max(first, -days) <= t.day <= min(last, days)


def _minute(text, where):
    match = TIME.match(str(text))
    if not match:
        raise IntervalError(f"{where}: couldn't parse timestamp {text!r}, invalid format (HH:MM, up to 24:00)")
    hours, minutes = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
    return int(hours) * 60 + int(minutes)


def _ranges(values, where, member):
    found = []
    for value in values or ():
        parts = str(value).strip().lower().split(":")
        if len(parts) > 2 or not all(parts):
            raise IntervalError(f"{where}: {value!r} is not a value or a range 'first:last'")
        first, last = member(parts[0]), member(parts[-1])
        if first is None or last is None:
            raise IntervalError(f"{where}: {value!r} is not valid here")
        found.append((first, last))
    return tuple(found)


def _number(text):
    return int(text) if re.fullmatch(r"-?[0-9]+", text) else None


def _weekday(text):
    return WEEKDAYS.index(text) if text in WEEKDAYS else None


def _month(text):
    return MONTHS.index(text) if text in MONTHS[1:] else _number(text)


def parse_interval(data, where="time interval"):
    """One entry of a mute timing's `time_intervals` (the provisioning API's JSON)."""
    if not isinstance(data, dict):
        raise IntervalError(f"{where}: not a mapping")
    times = []
    for k, item in enumerate(data.get("times") or ()):
        if not isinstance(item, dict):
            raise IntervalError(f"{where}.times[{k}]: not a mapping with start_time and end_time")
        start = _minute(item.get("start_time"), f"{where}.times[{k}].start_time")
        end = _minute(item.get("end_time"), f"{where}.times[{k}].end_time")
        times.append((start, end))
    zone_name = data.get("location") or data.get("time_zone") or "UTC"
    try:
        zone = ZoneInfo(str(zone_name))
    except (ZoneInfoNotFoundError, ValueError):
        raise IntervalError(f"{where}.location: unknown time zone {zone_name!r}") from None
    interval = Interval(times=tuple(times), weekdays=_ranges(data.get("weekdays"), f"{where}.weekdays", _weekday),
                        days_of_month=_ranges(data.get("days_of_month"), f"{where}.days_of_month", _number),
                        months=_ranges(data.get("months"), f"{where}.months", _month),
                        years=_ranges(data.get("years"), f"{where}.years", _number), zone=zone)
    return Interval(**{**interval.__dict__, "text": describe(data, zone_name)})


def describe(data, zone_name):
    parts = [", ".join(f"{t.get('start_time')}–{t.get('end_time')}" for t in data.get("times") or ()) or "all day"]
    for key in ("weekdays", "days_of_month", "months", "years"):
        if data.get(key):
            parts.append(f"{key} {', '.join(str(v) for v in data[key])}")
    return f"{' '.join(parts)} {zone_name}"


def parse_timings(body):
    """{name: (Interval, ...)} from GET /api/v1/provisioning/mute-timings ([{name, time_intervals}])."""
    if not isinstance(body, list):
        raise IntervalError("not a list of mute timings")
    timings = {}
    for i, entry in enumerate(body):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise IntervalError(f"mute timing [{i}]: no name")
        intervals = entry.get("time_intervals") or []
        if not isinstance(intervals, list):
            raise IntervalError(f"mute timing {entry['name']!r}: time_intervals is not a list")
        timings[entry["name"]] = tuple(parse_interval(x, f"mute timing {entry['name']!r} time_intervals[{k}]")
                                       for k, x in enumerate(intervals))
    return timings


def silenced_by(mute, active, timings, instant):
    """Why a route with these interval names sends nothing at `instant`, or "" when it sends.
    A name Grafana does not know is reported (Grafana refuses such a tree; a stale read may show one)."""
    for name in mute:
        if name not in timings:
            return f"mute timing {name!r} (not defined in Grafana)"
        hit = next((i for i in timings[name] if i.holds(instant)), None)
        if hit is not None:
            return f"mute timing {name!r} ({hit.text})"
    if active:
        unknown = [n for n in active if n not in timings]
        if unknown:
            return f"active time interval {unknown[0]!r} (not defined in Grafana)"
        if not any(i.holds(instant) for n in active for i in timings[n]):
            shown = "; ".join(f"{n}: " + ", ".join(i.text for i in timings[n]) for n in active)
            return f"outside its active time intervals ({shown})"
    return ""
