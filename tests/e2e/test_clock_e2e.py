"""The instants production meets, each with the sandbox's clock and the suite's set to the same instant
(--now): just after and just before midnight in Manila, weeks across a month's end and New Year, a host
whose own zone changes its clocks that day, and the days after a failed night."""

import pytest
from suite_runs import NIGHT, NOW, SECRETS, Outputs, clean_env, day, nightly


def night_facts(out):
    """The report's table of the night's facts, as {heading: text}."""
    return {row.th.get_text(strip=True): row.td.get_text(" ", strip=True)
            for row in out.page.select("#night-facts tr")}


@pytest.mark.parametrize("now, night, why", [
    # cron at 00:07 in Manila: tonight's reset is not settled yet (settle_minutes 10), so the night before.
    ("2026-12-02T00:07:00+08:00", "2026-12-01",
     "the latest reset at least settle_minutes before now (2026-12-02 00:07 +08:00, Asia/Manila); today's reset "
     "at 00:00 is less than settle_minutes (10) ago, so the night before"),
    # 23:56, just before the reset: the latest is the one 23 h 56 min ago.
    ("2026-12-01T23:56:00+08:00", "2026-12-01",
     "the latest reset at least settle_minutes before now (2026-12-01 23:56 +08:00, Asia/Manila)"),
])
def test_without_night_the_run_judges_the_latest_settled_reset_and_says_why(tmp_path, now, night, why):
    reports = tmp_path / "reports"
    result = nightly(reports, "--sandbox=healthy", f"--week-start={day(-6, night)}", now=now)
    out = Outputs(reports, result)
    assert sorted(out.ledger) == [night], result.stdout[-3000:]
    assert out.record(night)["status"] == "passed", out.record(night)["issues"]
    assert f"night {night}: {why}" in result.stdout
    assert night_facts(out)["Which night"] == why
    assert out.week_row(7)[:3] == ["Day 7", night, "✅ Successful"]


@pytest.mark.parametrize("first, last", [
    ("2027-02-25", "2027-03-03"),  # February's end
    ("2026-12-28", "2027-01-03"),  # New Year: Dec 31 -> Jan 1
])
def test_a_week_across_a_months_end_is_numbered_and_recorded_day_by_day(tmp_path, first, last):
    reports = tmp_path / "reports"
    result = nightly(reports, "--sandbox=healthy", "--week", f"--week-start={first}", f"--night={last}",
                     now=f"{last}T06:00:00+08:00")
    out = Outputs(reports, result)
    dates = [day(offset, first) for offset in range(7)]
    assert sorted(out.ledger) == dates, result.stdout[-3000:]
    rows = [out.week_row(n) for n in range(1, 8)]
    assert [row[:2] for row in rows] == [[f"Day {n}", dates[n - 1]] for n in range(1, 8)]
    # Days 1-6 backfilled from Loki's history, Day 7 the run's own night.
    assert [row[2] for row in rows] == ["✅ Successful from Loki's history"] * 6 + ["✅ Successful"]
    assert {r["day"] for r in out.ledger.values()} == set(range(1, 8))
    assert (reports / f"week-{first}-to-{last}").is_dir()


def test_a_host_whose_zone_changes_its_clocks_still_judges_manilas_midnight(tmp_path):
    """cron on a TZ=America/New_York host on 2027-03-14, the day its clocks go forward: the week and
    the window are still Asia/Manila's (00:00 PHT = 16:00 UTC the day before, every night)."""
    reports = tmp_path / "reports"
    env = clean_env(**SECRETS, TZ="America/New_York")
    result = nightly(reports, "--sandbox=healthy", "--week", "--week-start=2027-03-09", env=env,
                     now="2027-03-15T00:30:00+08:00")
    out = Outputs(reports, result)
    assert sorted(out.ledger) == [day(offset, "2027-03-09") for offset in range(7)], result.stdout[-3000:]
    assert {r["status"] for r in out.ledger.values()} == {"passed"}, [r["issues"] for r in out.ledger.values()]
    facts = night_facts(out)
    assert facts["Night"] == "2027-03-15 (reset 2027-03-15 00:00 +08:00 = 2027-03-14 16:00 UTC)"
    assert facts["Window searched (UTC)"] == "2027-03-14 15:45 – 2027-03-14 16:30"


def test_after_a_failed_night_the_week_goes_on_past_day_seven(tmp_path):
    reports = tmp_path / "reports"
    failed = Outputs(reports, nightly(reports, "--sandbox=failed-night", f"--night={NIGHT}"))
    assert failed.record()["status"] == "failed"
    # The next night, on a clock a day later: Day 8 of a table that now needs seven more good nights.
    result = nightly(reports, "--sandbox=healthy", now=NOW.replace(NIGHT, day(1)))
    out = Outputs(reports, result)
    assert out.record(day(1))["day"] == 8 and out.record(day(1))["status"] == "passed", result.stdout[-3000:]
    rows = out.page.select("#week1 tbody tr")
    assert len(rows) == 14  # the failed Day 7, then seven more
    assert out.week_row(7)[:3] == ["Day 7", NIGHT, "❌ Failed"]
    assert out.week_row(8)[:3] == ["Day 8", day(1), "✅ Successful"]
    assert [out.week_row(n)[2] for n in range(9, 15)] == ["⏳ Pending"] * 6
    assert f"| Day 8 | {day(1)} | ✅ Successful |" in (reports / "week1.md").read_text(encoding="utf-8")
