"""Night status from outcomes, the ledger, and the Week 1 table."""

import errno
import json
import os
import threading
from datetime import date

import pytest

from opsverify.status import FAILED, PASSED, PENDING, WARNING, CheckOutcome, issues, label, night_status
from opsverify.week import EARLIER, Ledger, LedgerError, NightRecord, markdown_table, merge_night, streak, week_rows


def outcome(name, severity, result, reason=""):
    return CheckOutcome(f"checks/x.py::{name}", name, severity, result, reason)


@pytest.mark.parametrize("outcomes, expected", [
    ([outcome("a", "critical", "passed"), outcome("b", "warning", "passed")], PASSED),
    ([outcome("a", "critical", "passed"), outcome("b", "warning", "failed")], WARNING),
    ([outcome("a", "critical", "failed"), outcome("b", "warning", "passed")], FAILED),
    ([outcome("a", "critical", "error")], FAILED),
    ([outcome("a", "critical", "skipped"), outcome("b", "warning", "passed")], WARNING),  # could not see
    ([outcome("a", "critical", "n/a"), outcome("b", "warning", "passed")], PASSED),  # does not apply here
    ([], PENDING),
])
def test_night_status(outcomes, expected):
    assert night_status(outcomes) == expected


def test_issues_list_critical_first_with_reasons():
    found = issues([outcome("slow", "warning", "failed", "took 90 s"), outcome("ok", "critical", "passed"),
                    outcome("start", "critical", "failed", "no start line"),
                    outcome("dur", "warning", "skipped", "unknown")])
    assert found == ["start: no start line", "slow: took 90 s", "not checked: dur: unknown"]


def test_labels_are_the_documents_words():
    assert label(PASSED) == "✅ Successful"
    assert label(WARNING) == "⚠️ Successful with warnings"
    assert label(FAILED) == "❌ Failed"
    assert label(PENDING) == "⏳ Pending"


def record(night, day, status, **kw):
    return NightRecord(night=night, day=day, status=status, **kw)


def test_a_rerun_replaces_only_that_night_and_keeps_the_humans_actions(tmp_path):
    ledger = Ledger(tmp_path / "ledger.json")
    ledger.record([record("2026-11-23", 1, PASSED)])
    ledger.record([record("2026-11-24", 2, FAILED, issues=["x"], actions="restarted the DB")])
    records = ledger.record([record("2026-11-24", 2, WARNING, issues=["y"])])
    assert records["2026-11-23"].status == PASSED
    assert records["2026-11-24"].status == WARNING and records["2026-11-24"].issues == ["y"]
    assert records["2026-11-24"].actions == "restarted the DB"
    assert Ledger(tmp_path / "ledger.json").load() == records


def test_several_nights_at_once_and_the_week_summary_keep_each_other(tmp_path):
    ledger = Ledger(tmp_path / "ledger.json")
    ledger.record([record("2026-11-23", 1, PASSED), record("2026-11-24", 2, WARNING)])
    ledger.save_week({"metrics": {"successful": 2}})
    records = ledger.record([record("2026-11-25", 3, PASSED, basis="history", reset="succeeded")])
    assert sorted(records) == ["2026-11-23", "2026-11-24", "2026-11-25"]
    assert ledger.week() == {"metrics": {"successful": 2}}
    assert ledger.load()["2026-11-25"].basis == "history"


def test_concurrent_runs_lose_no_record(tmp_path):
    path = tmp_path / "ledger.json"
    nights = [f"2026-11-{d:02d}" for d in range(1, 21)]
    threads = [threading.Thread(target=Ledger(path).record, args=([record(n, i + 1, PASSED)],))
               for i, n in enumerate(nights)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(Ledger(path).load()) == nights


def test_a_corrupt_ledger_is_kept_and_stops_the_run(tmp_path):
    path = tmp_path / "ledger.json"
    path.write_text('{"format": 1, "nights": {"2026-11-23": ')
    with pytest.raises(LedgerError, match=r"is corrupt .*a copy is kept at .*ledger.json.corrupt"):
        Ledger(path).load()
    assert (tmp_path / "ledger.json.corrupt").read_text() == path.read_text()
    with pytest.raises(LedgerError):
        Ledger(path).record([record("2026-11-24", 2, PASSED)])
    assert path.read_text().endswith(": ")  # untouched


@pytest.mark.parametrize("where", ["opsverify.week.tempfile.mkstemp", "opsverify.week.os.fsync"])
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_full_or_read_only_directory_is_a_clear_error_and_the_ledger_stays_whole(tmp_path, monkeypatch, where,
                                                                                   code):
    ledger = Ledger(tmp_path / "ledger.json")
    ledger.record([record("2026-11-23", 1, PASSED)])
    before = (tmp_path / "ledger.json").read_bytes()

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(where, fail)
    with pytest.raises(LedgerError, match=rf"cannot be written \({os.strerror(code)}\); check the reports "
                                          r"directory's permissions and free space"):
        ledger.record([record("2026-11-24", 2, PASSED)])
    assert (tmp_path / "ledger.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.json", "ledger.json.lock"]


def test_the_ledger_is_readable_json_in_utf8(tmp_path):
    Ledger(tmp_path / "l.json").record([record("2026-11-23", 1, FAILED, issues=["❌ Daily reset failed: x"])])
    document = json.loads((tmp_path / "l.json").read_text(encoding="utf-8"))
    assert document["nights"]["2026-11-23"]["issues"] == ["❌ Daily reset failed: x"]


def test_week_has_seven_rows_with_pending_nights():
    rows = week_rows({"2026-11-23": record("2026-11-23", 1, PASSED)}, date(2026, 11, 23))
    assert [r.day for r in rows] == list(range(1, 8))
    assert [r.status for r in rows] == [PASSED] + [PENDING] * 6
    assert rows[6].date == date(2026, 11, 29)


def test_a_failed_night_grows_the_table_to_seven_nights_after_it():
    records = {f"2026-11-{22 + d}": record(f"2026-11-{22 + d}", d, FAILED if d == 3 else PASSED)
               for d in range(1, 5)}
    rows = week_rows(records, date(2026, 11, 23))
    assert len(rows) == 10  # Day 3 failed: Days 4..10 can still make seven in a row
    assert streak(rows) == 2


def test_markdown_table_is_the_documents_format_and_escapes_pipes():
    rows = week_rows({"2026-11-23": record("2026-11-23", 1, FAILED, issues=["a | b", "c"], actions="x\ny")},
                     date(2026, 11, 23))
    lines = markdown_table(rows).splitlines()
    assert lines[0] == "| Day | Date | Midnight Reset Status | Issues Detected | Actions Taken |"
    assert lines[2] == "| Day 1 | 2026-11-23 | ❌ Failed | a \\| b; c | x y |"
    assert lines[3] == "| Day 2 | 2026-11-24 | ⏳ Pending |  |  |"


def verdict(outcome, severity="critical", reason=""):
    return {"outcome": outcome, "severity": severity, "reason": reason, "smoke": False}


def test_a_partial_run_keeps_the_facts_it_did_not_learn():
    full = merge_night(None, record("2026-11-25", 3, PASSED, reset_duration_ms=1834, reset="succeeded",
                                    alerts={"r1": {"classification": "true negative"}}, actions="watched",
                                    checks={"x::a": verdict("passed"), "x::b": verdict("passed")}))
    again = merge_night(full, record("2026-11-25", 3, PASSED, complete=False, checks={"x::b": verdict("passed")}))
    assert (again.reset_duration_ms, again.reset, again.alerts, again.actions) == (
        1834, "succeeded", {"r1": {"classification": "true negative"}}, "watched")
    assert (again.status, again.complete, list(again.checks)) == (PASSED, True, ["x::a", "x::b"])


def test_a_full_run_replaces_every_verdict_even_of_checks_it_no_longer_has():
    old = merge_night(None, record("2026-11-25", 3, FAILED, checks={"x::gone": verdict("failed", reason="r")}))
    new = merge_night(old, record("2026-11-25", 3, PASSED, checks={"x::a": verdict("passed")}))
    assert (new.status, list(new.checks), new.issues) == (PASSED, ["x::a"], [])


def test_a_record_from_before_per_check_verdicts_is_one_verdict_a_partial_run_cannot_overturn():
    legacy = record("2026-11-25", 3, FAILED, issues=["test_reset_completed: no completion line"])
    merged = merge_night(legacy, record("2026-11-25", 3, PASSED, complete=False, checks={"x::a": verdict("passed")}))
    assert merged.status == FAILED
    assert merged.issues == [f"{EARLIER}: test_reset_completed: no completion line"]


def test_a_record_remembers_a_bounded_number_of_runs():
    rec = None
    for index in range(30):
        rec = merge_night(rec, record("2026-11-25", 3, PASSED, run=f"r{index}", checks={"x::a": verdict("passed")}))
    assert len(rec.changes) == 20 and rec.changes[-1]["run"] == "r29"


def test_a_record_edited_by_hand_no_longer_matches_its_digest():
    from opsverify.week import edited

    rec = merge_night(None, record("2026-11-25", 3, FAILED, checks={"x::a": verdict("failed", reason="late")}))
    assert edited({"2026-11-25": rec}) == []
    rec.status, rec.issues = PASSED, []
    assert edited({"2026-11-25": rec}) == ["2026-11-25"]
    assert edited({"2026-11-26": record("2026-11-26", 4, PASSED)}) == []  # unsigned (older): not flagged
