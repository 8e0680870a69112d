"""Mute timings and active time intervals, as Alertmanager (and so Grafana) applies them to a route."""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from opsverify.rules import route
from opsverify.timeintervals import IntervalError, parse_interval, parse_timings, silenced_by

MANILA = ZoneInfo("Asia/Manila")
QUIET = {"name": "quiet-hours", "time_intervals": [
    {"times": [{"start_time": "23:00", "end_time": "24:00"}, {"start_time": "00:00", "end_time": "06:00"}],
     "location": "Asia/Manila"}]}


def at(*parts, zone=MANILA):
    return datetime(*parts, tzinfo=zone)


def test_a_night_muted_in_two_ranges_holds_across_midnight_in_its_own_zone():
    (interval,) = parse_timings([QUIET])["quiet-hours"]
    assert interval.holds(at(2026, 11, 29, 0, 0)) and interval.holds(at(2026, 11, 28, 23, 30))
    assert interval.holds(at(2026, 11, 29, 5, 59)) and not interval.holds(at(2026, 11, 29, 6, 0))  # end exclusive
    # The same instants read in UTC: 16:00 UTC is 00:00 Manila.
    assert interval.holds(datetime(2026, 11, 28, 16, 0, tzinfo=timezone.utc))
    assert not interval.holds(datetime(2026, 11, 28, 22, 0, tzinfo=timezone.utc))


def test_every_field_given_must_match():
    interval = parse_interval({"weekdays": ["monday:friday"], "days_of_month": ["-7:-1"], "months": ["november"],
                               "years": ["2026:2027"]})  # UTC when no location
    assert interval.holds(datetime(2026, 11, 27, 12, tzinfo=timezone.utc))  # Friday, last week of November
    assert not interval.holds(datetime(2026, 11, 28, 12, tzinfo=timezone.utc))  # a Saturday
    assert not interval.holds(datetime(2026, 11, 20, 12, tzinfo=timezone.utc))  # not in the last 7 days
    assert not interval.holds(datetime(2028, 11, 27, 12, tzinfo=timezone.utc))  # not in those years
    assert parse_interval({"months": ["5:8"]}).holds(datetime(2026, 6, 1, tzinfo=timezone.utc))  # as Grafana gives it


def test_silenced_by_mute_timings_and_by_active_intervals():
    timings = parse_timings([QUIET, {"name": "office", "time_intervals": [
        {"times": [{"start_time": "09:00", "end_time": "18:00"}], "weekdays": ["monday:friday"],
         "location": "Asia/Manila"}]}])
    midnight = at(2026, 11, 30, 0, 5)  # a Monday
    assert "mute timing 'quiet-hours' (23:00–24:00, 00:00–06:00 Asia/Manila)" == silenced_by(
        ("quiet-hours",), (), timings, midnight)
    assert silenced_by((), ("office",), timings, midnight).startswith("outside its active time intervals (office: "
                                                                      "09:00–18:00 weekdays monday:friday")
    assert silenced_by((), ("office",), timings, at(2026, 11, 30, 10, 0)) == ""
    assert silenced_by(("quiet-hours",), (), timings, at(2026, 11, 30, 12, 0)) == ""
    assert "not defined in Grafana" in silenced_by(("gone",), (), timings, midnight)


def test_a_route_mutes_with_its_own_intervals_only():
    """Alertmanager's NewRoute sets both lists from the route's own config: a child does not inherit them."""
    tree = {"receiver": "root", "routes": [
        {"receiver": "critical", "matchers": ['severity="critical"'], "mute_time_intervals": ["quiet-hours"],
         "routes": [{"receiver": "db", "matchers": ['component="db"'], "active_time_intervals": ["office"]}]}]}
    (parent,) = route(tree, {"severity": "critical"})
    (child,) = route(tree, {"severity": "critical", "component": "db"})
    assert (parent.receiver, parent.mute, parent.active) == ("critical", ("quiet-hours",), ())
    assert (child.receiver, child.mute, child.active) == ("db", (), ("office",))


@pytest.mark.parametrize("body, message", [
    ([{"name": "m", "time_intervals": [{"times": [{"start_time": "7:00", "end_time": "08:00"}]}]}],
     "times[0].start_time: couldn't parse timestamp '7:00'"),
    ([{"name": "m", "time_intervals": [{"weekdays": ["funday"]}]}], "weekdays: 'funday' is not valid here"),
    ([{"name": "m", "time_intervals": [{"location": "Mars/Olympus"}]}], "unknown time zone 'Mars/Olympus'"),
    ({"name": "m"}, "not a list of mute timings"),
    ([{"time_intervals": []}], "no name"),
])
def test_what_cannot_be_read_is_named(body, message):
    with pytest.raises(IntervalError, match=message.replace("(", r"\(").replace("[", r"\[").replace(".", r"\.")):
        parse_timings(body)
