"""The night's reset, judged from Loki: started on time, completed, once, without failure."""

import pytest

from opsverify.evidence import require
from opsverify.night import clock_text, utc_offset
from opsverify.resetlog import distinct, durations_ms, lines_matching, starts_on_time

pytestmark = pytest.mark.nightly


def _at(night, moments):
    """Times of lines as the site reads them, e.g. '00:00:01 PST'."""
    return ", ".join(night.local(t).strftime("%H:%M:%S") for t in moments) or "none"


def _window(night):
    start, end = night.local(night.window_start), night.local(night.window_end)
    return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} {utc_offset(start)}"


@pytest.mark.severity("critical")
def test_reset_started_on_time(reset_log, settings, night, evidence):
    evidence.add("loki", reset_log.evidence("start", "skipped"))
    on_time = starts_on_time(reset_log)
    started = [t for t, _ in lines_matching(reset_log, settings.pattern_start)]
    seen = f"{reset_log.total('start')} start line(s) in {_window(night)} (at {_at(night, started)})"
    if reset_log.total("skipped") and not reset_log.total("start"):
        seen += "; only an 'already performed today, skipping' line"
    require(on_time >= 1, "Loki", reset_log.where,
            f"a start line within {settings.grace_minutes} min after {clock_text(night.local(night.reset_at))}", seen,
            f"check the scheduler in {settings.container}: docker logs {settings.container}, and "
            f"GET /api/scheduler/status; run the reset by hand if the day's queue was not reset")


@pytest.mark.severity("critical")
def test_reset_completed(reset_log, settings, night, evidence):
    evidence.add("loki", reset_log.evidence("start", "completed", "recovery_ok", "failed"))
    completed, recovered = reset_log.total("completed"), reset_log.total("recovery_ok")
    require(completed >= 1 or recovered >= 1, "Loki", reset_log.where,
            "a 'Daily reset completed successfully' line (or a successful recovery)",
            f"{completed} completion and {recovered} recovery line(s) in {_window(night)}",
            "the queue was not reset: read the failure in the excerpt, fix it, and reset the queue by hand")


@pytest.mark.severity("warning")
def test_reset_duration_within_limit(reset_log, settings, record_fact, evidence):
    durations = durations_ms(reset_log, settings.pattern_completed)
    evidence.add("durations", {"durations_ms": durations, "max_reset_seconds": settings.max_reset_seconds})
    if not durations:
        pytest.skip("no completion line with a duration in the excerpt: the reset's duration is unknown")
    record_fact("reset_duration_ms", durations[0])
    longest = max(durations)
    require(longest <= settings.max_reset_seconds * 1000, "Loki", reset_log.where,
            f"a reset within {settings.max_reset_seconds:g} s", f"{longest} ms",
            "the reset is slow: check the database (locks, table sizes) around midnight")


@pytest.mark.severity("critical")
def test_no_unrecovered_failure(reset_log, settings, night, evidence):
    evidence.add("loki", reset_log.evidence("failed", "recovery_ok", "recovery_failed"))
    failed, recovered = reset_log.total("failed"), reset_log.total("recovery_ok")
    recovery_failed = reset_log.total("recovery_failed")
    failures = [line for _, line in lines_matching(reset_log, settings.pattern_failed)][:3]
    require((failed == 0 or recovered >= 1) and recovery_failed == 0, "Loki", reset_log.where,
            "no failed reset, or a failure followed by a successful recovery",
            f"{failed} failure(s), {recovery_failed} failed recovery(ies), {recovered} successful recovery(ies): "
            f"{' | '.join(failures) or 'no excerpt'}",
            "the day's queue was not reset: fix the error shown and run the reset by hand")


@pytest.mark.severity("warning")
def test_no_recovered_failure(reset_log, settings, night, evidence):
    evidence.add("loki", reset_log.evidence("failed", "recovery_ok"))
    failed, recovered = reset_log.total("failed"), reset_log.total("recovery_ok")
    require(not (failed and recovered), "Loki", reset_log.where, "a reset that succeeded at the first attempt",
            f"{failed} failure(s) then a successful recovery",
            "the reset recovered, but find the cause of the first failure before it fails twice")


@pytest.mark.severity("critical")
def test_exactly_one_reset(reset_log, settings, night, evidence):
    evidence.add("loki", reset_log.evidence("start"))
    starts = lines_matching(reset_log, settings.pattern_start)
    total = reset_log.total("start")
    if total > 1 and len(starts) == total and len(distinct(starts)) < total:
        # Copies of one line re-sent by the shipper are one reset (test_no_duplicated_lines_in_loki warns).
        evidence.add("re-sent copies", f"{total} start lines in Loki, {len(distinct(starts))} distinct")
        starts, total = distinct(starts), len(distinct(starts))
    times = [t for t, _ in starts]
    require(total == 1, "Loki", reset_log.where, f"exactly one start line in {_window(night)}",
            f"{total} (at {_at(night, times)})",
            "no reset ran" if total == 0 else
            "two starts mean two replicas or a double run: check how many backend containers run")


@pytest.mark.severity("critical")
def test_not_only_skipped(reset_log, settings, night, evidence):
    evidence.add("loki", reset_log.evidence("start", "skipped"))
    skipped, started = reset_log.total("skipped"), reset_log.total("start")
    require(not (skipped and not started), "Loki", reset_log.where,
            "a reset for the new day", f"only {skipped} 'already performed today, skipping' line(s)",
            "the scheduler compares with the UTC date: at 00:00 Manila it is still yesterday in UTC, so the "
            "skip means the new day's queue was NOT reset. Reset it by hand and fix the date check")


@pytest.mark.severity("warning")
def test_no_restart_in_window(reset_log, settings, night, evidence):
    evidence.add("loki", reset_log.evidence("startup"))
    restarts = [t for t, _ in lines_matching(reset_log, settings.pattern_startup)]
    total = reset_log.total("startup")
    require(total == 0, "Loki", reset_log.where, f"no scheduler start-up in {_window(night)}",
            f"{total} start-up(s) (at {_at(night, restarts)}): the container restarted",
            f"find why {settings.container} restarted (docker inspect: RestartCount, OOMKilled, State)")
