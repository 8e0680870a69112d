"""Queries the reset checks send, and the pure judgements on what Loki answered."""

from datetime import date, time, timedelta

from opsverify.night import night_window
from opsverify.resetlog import (EVENTS, EventCount, ResetLog, count_query, distinct, durations_ms, excerpt_query,
                                lines_matching, logql_string, reconcile, starts_on_time)

NIGHT = night_window(date(2026, 11, 29), time(0, 0), "Asia/Manila", grace=timedelta(minutes=5),
                     before=timedelta(minutes=15), after=timedelta(minutes=30))
RESET = NIGHT.reset_at


def at(minutes, seconds=0):
    return RESET + timedelta(minutes=minutes, seconds=seconds)


def log(starts=(), lines=()):
    counts = {e: EventCount(e, "q", ()) for e in EVENTS}
    counts["start"] = EventCount("start", "q", tuple(starts))
    return ResetLog(NIGHT, '{container="c"}', counts, tuple(lines), "q")


def test_patterns_go_in_raw_strings_so_regex_escapes_survive():
    assert logql_string(r"in (?P<ms>\d+)ms") == r"`in (?P<ms>\d+)ms`"
    assert logql_string('a`b"c\\d') == '"a`b\\"c\\\\d"'


def test_count_query_counts_on_the_server_per_minute():
    assert count_query('{container="c"}', "Starting daily") == \
        'sum(count_over_time({container="c"} |~ `Starting daily` [60s]))'


def test_excerpt_query_matches_any_event():
    assert excerpt_query('{container="c"}', ["a", "b|c"]) == '{container="c"} |~ `(?:a)|(?:b|c)`'


def test_a_start_in_the_first_minutes_is_on_time():
    assert starts_on_time(log(starts=[(at(1), 1)])) == 1  # bucket (00:00, 00:01]
    assert starts_on_time(log(starts=[(at(5), 1)])) == 1  # bucket (00:04, 00:05]
    assert starts_on_time(log(starts=[(at(6), 1)])) == 0  # bucket (00:05, 00:06]: after the grace end
    assert starts_on_time(log(starts=[(at(0), 1)])) == 0  # bucket (23:59, 00:00]: before the reset time


def test_durations_come_from_the_completion_lines():
    lines = [(at(0, 2), "✅ Daily reset completed successfully in 1834ms"),
             (at(5, 3), "✅ Daily reset completed successfully in 2100ms"),
             (at(0, 1), "Daily queue reset completed successfully")]
    assert durations_ms(log(lines=lines), r"Daily reset completed successfully in (?P<ms>[0-9]+)ms") == [1834, 2100]


def test_lines_matching_keeps_times():
    lines = [(at(0), "🚀 Starting daily queue reset at 2026-11-29 00:00:00 Philippine Time"), (at(1), "other")]
    assert lines_matching(log(lines=lines), "Starting daily queue reset at ") == [lines[0]]


def test_evidence_holds_window_queries_counts_and_excerpt():
    evidence = log(starts=[(at(1), 1)], lines=[(at(0), "x")]).evidence("start")
    assert evidence["window_utc"] == ["2026-11-28T15:45:00+00:00", "2026-11-28T16:30:00+00:00"]
    assert evidence["counts"]["start"]["total"] == 1
    assert evidence["excerpt"] == ["2026-11-28T16:00:00+00:00 x"]
    assert set(evidence["counts"]) == {"start"}


def test_reconcile_finds_lines_lost_and_lines_shipped_twice():
    printed = [(at(0), "🚀 Starting daily queue reset at x"), (at(0, 1), "Queue data archived successfully"),
               (at(0, 2), "✅ Daily reset completed successfully in 1834ms")]
    shipped = [(at(0), "🚀 Starting daily queue reset at x"), (at(0) + timedelta(milliseconds=1),
                                                             "🚀 Starting daily queue reset at x"),
               (at(0, 2), "✅ Daily reset completed successfully in 1834ms")]
    missing, duplicated = reconcile(printed, shipped)
    assert missing == [printed[1]] and duplicated == [printed[0]]


def test_distinct_collapses_resent_copies_only():
    lines = [(at(0), "start"), (at(0) + timedelta(milliseconds=1), "start"), (at(1), "start")]
    assert distinct(lines) == [lines[0], lines[2]]  # a second start a minute later is a second reset
