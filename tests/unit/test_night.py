"""Which night, its window, Day N: pure functions, frozen clocks at the edges."""

from datetime import date, datetime, time, timedelta, timezone

import pytest
from freezegun import freeze_time

from opsverify.night import (NightError, day_number, latest_night, next_reset, night_window, parse_clock,
                             parse_date, reset_instant)

MANILA = "Asia/Manila"
MIDNIGHT = time(0, 0)
SETTLE = timedelta(minutes=10)


def now():
    return datetime.now(timezone.utc)


def test_midnight_in_manila_is_1600_utc_the_day_before():
    assert reset_instant(date(2026, 11, 29), MIDNIGHT, MANILA) == datetime(2026, 11, 28, 16, 0, tzinfo=timezone.utc)


def test_window_is_computed_locally_and_given_in_utc():
    night = night_window(date(2026, 11, 29), MIDNIGHT, MANILA, grace=timedelta(minutes=5),
                         before=timedelta(minutes=15), after=timedelta(minutes=30))
    assert night.window_start == datetime(2026, 11, 28, 15, 45, tzinfo=timezone.utc)
    assert night.grace_end == datetime(2026, 11, 28, 16, 5, tzinfo=timezone.utc)
    assert night.window_end == datetime(2026, 11, 28, 16, 30, tzinfo=timezone.utc)
    assert night.window_seconds == 45 * 60


@pytest.mark.parametrize("frozen, expected", [
    ("2026-11-28 15:59:59", date(2026, 11, 28)),  # 23:59:59 Manila: tonight's reset has not happened
    ("2026-11-28 16:00:00", date(2026, 11, 28)),  # 00:00:00 Manila: it happens now, not yet settled
    ("2026-11-28 16:09:59", date(2026, 11, 28)),  # inside the settle time
    ("2026-11-28 16:10:00", date(2026, 11, 29)),  # settled: the new night is judged
    ("2026-11-29 05:48:00", date(2026, 11, 29)),  # a morning run
])
def test_latest_night_waits_for_the_settle_time(frozen, expected):
    with freeze_time(frozen):
        assert latest_night(now(), MIDNIGHT, MANILA, settle=SETTLE) == expected


def test_next_reset_at_the_stroke_of_midnight_is_the_following_one():
    with freeze_time("2026-11-28 16:00:00"):
        assert next_reset(now(), MIDNIGHT, MANILA) == datetime(2026, 11, 29, 16, 0, tzinfo=timezone.utc)
    with freeze_time("2026-11-28 15:59:59"):
        assert next_reset(now(), MIDNIGHT, MANILA) == datetime(2026, 11, 28, 16, 0, tzinfo=timezone.utc)


def test_dst_zone_uses_the_offset_of_each_night():
    # Europe/Berlin leaves summer time on 2026-10-25: 00:00 is 22:00 UTC before, 23:00 UTC after.
    assert reset_instant(date(2026, 10, 25), MIDNIGHT, "Europe/Berlin") == datetime(2026, 10, 24, 22, 0,
                                                                                    tzinfo=timezone.utc)
    assert reset_instant(date(2026, 10, 26), MIDNIGHT, "Europe/Berlin") == datetime(2026, 10, 25, 23, 0,
                                                                                    tzinfo=timezone.utc)


def test_a_midnight_skipped_by_dst_resolves_to_the_instant_of_the_jump():
    # America/Santiago springs forward at 24:00 on 2026-09-05: 00:00 on the 6th does not exist locally.
    instant = reset_instant(date(2026, 9, 6), MIDNIGHT, "America/Santiago")
    assert instant == datetime(2026, 9, 6, 4, 0, tzinfo=timezone.utc)
    with freeze_time("2026-09-06 04:10:00"):
        assert latest_night(now(), MIDNIGHT, "America/Santiago", settle=SETTLE) == date(2026, 9, 6)
    with freeze_time("2026-09-06 04:09:59"):
        assert latest_night(now(), MIDNIGHT, "America/Santiago", settle=SETTLE) == date(2026, 9, 5)


def test_a_repeated_local_time_resolves_to_its_first_occurrence():
    # 02:30 happens twice in Europe/Berlin on 2026-10-25; the first is still summer time (UTC+2).
    assert reset_instant(date(2026, 10, 25), time(2, 30), "Europe/Berlin") == datetime(2026, 10, 25, 0, 30,
                                                                                      tzinfo=timezone.utc)


def test_day_number_counts_nights_from_day_one():
    assert day_number(date(2026, 11, 23), date(2026, 11, 23)) == 1
    assert day_number(date(2026, 11, 29), date(2026, 11, 23)) == 7
    assert day_number(date(2026, 12, 2), date(2026, 11, 23)) == 10


def test_a_night_before_day_one_is_a_clear_error():
    with pytest.raises(NightError, match=r"night 2026-11-22 is before Day 1 \(2026-11-23\)"):
        day_number(date(2026, 11, 22), date(2026, 11, 23))


@pytest.mark.parametrize("bad", ["2026-13-01", "29/11/2026", "", None])
def test_parse_date_names_the_expected_form(bad):
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_date(bad)


def test_parse_clock():
    assert parse_clock("00:00") == time(0, 0)
    assert parse_clock("15:04:05") == time(15, 4, 5)
    with pytest.raises(ValueError, match="HH:MM"):
        parse_clock("24:61")
