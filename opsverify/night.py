"""Which night, its window in UTC, and Day N of the monitoring period. Pure: no I/O, no clock.

A "night" is named by the local date whose reset is checked: night 2026-11-29
in Asia/Manila is the reset at 2026-11-29 00:00 PH, which is 2026-11-28 16:00 UTC.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

UTC = timezone.utc


class NightError(ValueError):
    """A night that cannot be judged (for example one before Day 1)."""


@dataclass(frozen=True)
class Night:
    date: date
    zone: str
    reset_at: datetime  # UTC
    grace_end: datetime  # UTC: the start line must appear in [reset_at, grace_end]
    window_start: datetime  # UTC: the span searched in the logs
    window_end: datetime  # UTC

    @property
    def window_seconds(self):
        return int((self.window_end - self.window_start).total_seconds())

    def local(self, instant):
        """An instant shown in the site's time zone."""
        return instant.astimezone(ZoneInfo(self.zone))

    def stamp(self, unix_seconds):
        """Unix seconds as the site reads a moment: '2026-11-21 14:00 +08:00'."""
        return clock_text(datetime.fromtimestamp(unix_seconds, ZoneInfo(self.zone)))

    def clock(self, unix_seconds):
        """'HH:MM' in the site's time zone."""
        return datetime.fromtimestamp(unix_seconds, ZoneInfo(self.zone)).strftime("%H:%M")


def clock_text(instant, form="%Y-%m-%d %H:%M"):
    """An aware instant as people read it: its local time and UTC offset ('2026-11-29 00:00 +08:00'), never
    a zone abbreviation (zoneinfo calls Manila's 'PST', which reads as Pacific time)."""
    return f"{instant.strftime(form)} {utc_offset(instant)}"


def utc_offset(instant):
    """'+08:00': an aware instant's offset from UTC."""
    offset = instant.strftime("%z")
    return f"{offset[:3]}:{offset[3:5]}"


def reset_instant(local_date, reset_time, zone):
    """The UTC instant of `reset_time` on `local_date` in `zone`.

    A local time skipped by a daylight-saving jump (00:00 in America/Santiago
    on the first Sunday of September) resolves to the first instant after the
    jump, as cron daemons run it; a repeated local time resolves to its first
    occurrence.
    """
    naive = datetime.combine(local_date, reset_time)
    # fold=0 maps a skipped time with the offset before the jump, i.e. to the instant of the jump.
    return naive.replace(tzinfo=ZoneInfo(zone), fold=0).astimezone(UTC)


def night_window(local_date, reset_time, zone, *, grace, before, after):
    """The Night for `local_date`: reset instant, grace end and search window (timedeltas)."""
    reset_at = reset_instant(local_date, reset_time, zone)
    return Night(
        date=local_date,
        zone=zone,
        reset_at=reset_at,
        grace_end=reset_at + grace,
        window_start=reset_at - before,
        window_end=reset_at + after,
    )


def latest_night(now, reset_time, zone, *, settle):
    """The most recent local date whose reset is at least `settle` before `now` (aware)."""
    candidate = now.astimezone(ZoneInfo(zone)).date()
    while reset_instant(candidate, reset_time, zone) + settle > now:
        candidate -= timedelta(days=1)
    return candidate


def next_reset(now, reset_time, zone):
    """The first reset instant strictly after `now` (aware), in UTC."""
    candidate = now.astimezone(ZoneInfo(zone)).date()
    while reset_instant(candidate, reset_time, zone) <= now:
        candidate += timedelta(days=1)
    return reset_instant(candidate, reset_time, zone)


def day_number(night_date, week_start):
    """Day N of the monitoring period: nights since `week_start`, plus one."""
    if night_date < week_start:
        raise NightError(
            f"night {night_date} is before Day 1 ({week_start}); "
            f"pass a later --night or an earlier --week-start"
        )
    return (night_date - week_start).days + 1


def parse_date(text):
    """YYYY-MM-DD to a date; ValueError with the expected form otherwise."""
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not a date in the form YYYY-MM-DD") from None


def parse_clock(text):
    """HH:MM or HH:MM:SS (24 h) to a time."""
    try:
        parts = [int(p) for p in str(text).split(":")]
        if len(parts) not in (2, 3):
            raise ValueError
        return time(*parts)
    except (ValueError, TypeError):
        raise ValueError(f"{text!r} is not a time of day in the form HH:MM") from None
