"""Filling the sign-off document: the table and metrics change, every other byte stays, twice is once."""

import shutil
from datetime import date
from pathlib import Path

import pytest

from opsverify.signoff_fill import (SignoffError, contradicted_figures, table_disagreements, update_file, update_text,
                                    week_metrics)
from opsverify.status import normalise_glyphs
from opsverify.week import NightRecord, week_rows

SEED = Path(__file__).resolve().parents[1] / "data" / "signoff-seed.md"
START = date(2026, 11, 23)
# The Day 3 issue of records(), as the table shows it: Markdown-escaped.
ESCAPED_ISSUE = r"test\_no\_restart\_in\_window: Loki (...): saw 1 start-up(s) (at 23:52:03)"


def records():
    found = {}
    for day in range(1, 8):
        night = date(2026, 11, 22 + day).isoformat()
        status = "warning" if day == 3 else "passed"
        issues = ["test_no_restart_in_window: Loki (...): saw 1 start-up(s) (at 23:52:03)"] if day == 3 else []
        alerts = {"midnight_errors_001": {"classification": "true negative"}}
        found[night] = NightRecord(night, day, status, issues, reset_duration_ms=1500 + 100 * day, alerts=alerts)
    return found


def filled(tmp_path):
    doc = tmp_path / "lessons-learned.md"
    shutil.copyfile(SEED, doc)
    rows = week_rows(records(), START)
    return doc, rows, week_metrics(records(), rows)


def test_the_table_and_metrics_are_filled_and_nothing_else_changes(tmp_path):
    doc, rows, metrics = filled(tmp_path)
    assert update_file(doc, rows, metrics) is True
    before, after = SEED.read_bytes().decode("utf-8").splitlines(), doc.read_text(encoding="utf-8").splitlines()
    assert len(before) == len(after)
    changed = [(b, a) for b, a in zip(before, after) if b != a]
    assert [a for _, a in changed][:7] == [
        f"| Day {d} | 2026-11-{22 + d} | {'⚠️ Successful with warnings' if d == 3 else '✅ Successful'} | "
        f"{ESCAPED_ISSUE if d == 3 else ''} |  |"
        for d in range(1, 8)]
    assert [a for _, a in changed][7:] == [
        "- **Successful Resets:** 7/7",
        "- **Average Reset Duration:** 1.9 seconds (longest 2.2 s)",
        "- **Zero Downtime Achieved:** No (Day 3: test_no_restart_in_window)",
        "- **Total Alerts Fired:** 0",
        "- **False Positives:** 0",
        "- **True Positives:** 0",
    ]
    assert "- **Alert Response Time:** [Average X minutes]" in after  # not measured: the human's text stays
    assert "‚úÖ **Loki Service:**" in doc.read_text(encoding="utf-8")  # human lines keep their bytes


def test_it_is_idempotent_and_keeps_a_backup(tmp_path):
    doc, rows, metrics = filled(tmp_path)
    update_file(doc, rows, metrics)
    once = doc.read_bytes()
    assert update_file(doc, rows, metrics) is False
    assert doc.read_bytes() == once
    assert (tmp_path / "lessons-learned.md.bak").read_bytes() == SEED.read_bytes()


def test_actions_a_human_wrote_are_kept(tmp_path):
    doc, rows, metrics = filled(tmp_path)
    text = doc.read_text(encoding="utf-8").replace("| Day 3 | [TO BE FILLED] | ‚è≥ Pending | | |",
                                                   "| Day 3 | [TO BE FILLED] | ‚è≥ Pending | | Restarted by ops |")
    doc.write_text(text, encoding="utf-8")
    update_file(doc, rows, metrics)
    assert "| Day 3 | 2026-11-25 | ⚠️ Successful with warnings |" in doc.read_text(encoding="utf-8")
    assert "| Restarted by ops |" in doc.read_text(encoding="utf-8")


def test_more_than_seven_days_add_rows(tmp_path):
    more = records()
    more["2026-11-26"] = NightRecord("2026-11-26", 4, "failed", ["test_reset_completed: no completion"])
    rows = week_rows(more, START)
    text = update_text(SEED.read_text(encoding="utf-8"), rows, week_metrics(more, rows))
    assert "| Day 11 | 2026-12-03 | ⏳ Pending |  |  |" in text
    assert "- **Successful Resets:** 6/11" in text


def test_mangled_glyphs_read_as_what_they_are():
    # 🔄 read as Mac Roman begins with the Apple logo (U+F8FF), which most fonts do not draw: the seed has it.
    assert "\uf8ffüîÑ IN PROGRESS" in SEED.read_text(encoding="utf-8")
    assert normalise_glyphs("‚úÖ ‚ö†Ô∏è ‚ùå ‚è≥ \uf8ffüîÑ") == "✅ ⚠️ ❌ ⏳ 🔄"


def test_a_document_without_the_table_is_refused(tmp_path):
    with pytest.raises(SignoffError, match="no '| Day | Date | Midnight Reset Status |' table"):
        update_text("# Notes\n", [], None)


def test_response_times_from_history_fill_both_response_lines_and_rules_get_their_counts():
    rows = week_rows(records(), START)
    metrics = week_metrics(records(), rows, response_minutes=[4.0, 9.0])
    assert metrics.per_rule == {"midnight_errors_001": {"true positive": 0, "false positive": 0,
                                                        "false negative": 0, "true negative": 7}}
    text = update_text(SEED.read_text(encoding="utf-8"), rows, metrics)
    line = "Average 6.5 minutes (2 alert(s) fired to resolved, longest 9.0)"
    assert f"- **Alert Response Time:** {line}" in text and f"- **Response Time:** {line}" in text


def test_a_pipe_in_an_action_or_an_issue_stays_in_its_cell(tmp_path):
    """Issue 11: the reader split on every |, so 'restarted postgres | cleared cache' lost its second half
    and a LogQL error's | moved a fragment into Actions Taken, kept later as a human's words."""
    found = records()
    found["2026-11-25"] = NightRecord("2026-11-25", 3, "failed", ['test_rule_queries_valid: {x="y"} |= "a" | b'],
                                      actions="restarted postgres | cleared cache")
    rows = week_rows(found, START)
    doc = tmp_path / "doc.md"
    shutil.copyfile(SEED, doc)
    update_file(doc, rows, week_metrics(found, rows))
    # The issue is escaped Markdown (its | too); the action, a person's words, only has its | escaped.
    row = '| Day 3 | 2026-11-25 | ❌ Failed | test\\_rule\\_queries\\_valid: {x="y"} \\|= "a" \\| b | ' \
          'restarted postgres \\| cleared cache |'
    assert row in doc.read_text(encoding="utf-8")
    assert update_file(doc, rows, week_metrics(found, rows)) is False  # read back as it was written


def test_a_humans_action_stays_with_its_date_when_day_one_moves(tmp_path):
    doc, rows, metrics = filled(tmp_path)
    update_file(doc, rows, metrics)
    text = doc.read_text(encoding="utf-8").replace(f"| Day 3 | 2026-11-25 | ⚠️ Successful with warnings | "
                                                   f"{ESCAPED_ISSUE} |  |", "| Day 3 | 2026-11-25 | ⚠️ Successful "
                                                   "with warnings | x | Restarted by ops |")
    doc.write_text(text, encoding="utf-8")
    later = week_rows(records(), date(2026, 11, 24))  # Day 1 moved a day later
    update_file(doc, later, week_metrics(records(), later))
    after = doc.read_text(encoding="utf-8")
    assert "| Day 2 | 2026-11-25 | ⚠️ Successful with warnings |" in after
    assert after.count("Restarted by ops") == 1
    assert f"2026-11-25 | ⚠️ Successful with warnings | {ESCAPED_ISSUE} | Restarted by ops |" in after


def test_a_row_the_table_no_longer_shows_keeps_a_humans_action(tmp_path):
    more = records()
    more["2026-11-26"] = NightRecord("2026-11-26", 4, "failed", ["test_reset_completed: no completion"])
    rows = week_rows(more, START)  # eleven rows
    doc = tmp_path / "doc.md"
    shutil.copyfile(SEED, doc)
    update_file(doc, rows, week_metrics(more, rows))
    text = doc.read_text(encoding="utf-8").replace("| Day 9 | 2026-12-01 | ⏳ Pending |  |  |",
                                                   "| Day 9 | 2026-12-01 | ⏳ Pending |  | Paged the DBA |")
    doc.write_text(text, encoding="utf-8")
    del more["2026-11-26"]  # the failure was a mistake: seven rows again
    rows = week_rows(more, START)
    update_file(doc, rows, week_metrics(more, rows))
    assert "| Day 9 | 2026-12-01 | ⏳ Pending |  | Paged the DBA |" in doc.read_text(encoding="utf-8")


@pytest.mark.parametrize("mode", [0o664, 0o640])
def test_the_document_keeps_its_mode(tmp_path, mode):
    doc, rows, metrics = filled(tmp_path)
    doc.chmod(mode)
    assert update_file(doc, rows, metrics) is True
    assert doc.stat().st_mode & 0o777 == mode


def test_a_read_only_document_is_refused_and_left_alone(tmp_path):
    doc, rows, metrics = filled(tmp_path)
    doc.chmod(0o444)
    with pytest.raises(SignoffError, match=r"read-only \(mode -r--r--r--\); make it writable, or drop --update-doc"):
        update_file(doc, rows, metrics)
    assert doc.read_bytes() == SEED.read_bytes() and doc.stat().st_mode & 0o777 == 0o444


# --- what the document says, against the week ---

def test_the_tables_of_a_filled_document_and_of_the_seed_against_the_ledger(tmp_path):
    doc, rows, metrics = filled(tmp_path)
    seed = SEED.read_text(encoding="utf-8")
    problems = table_disagreements(seed, rows)
    assert len(problems) == 7 and problems[2].endswith("Day 3 reads [TO BE FILLED] '⏳ Pending', the ledger "
                                                       "2026-11-25 ⚠️")
    update_file(doc, rows, metrics)
    assert table_disagreements(doc.read_text(encoding="utf-8"), rows) == []
    # A human turning Day 3 green, or writing a result for a night nobody judged, is a disagreement.
    greener = doc.read_text(encoding="utf-8").replace("| ⚠️ Successful with warnings |", "| ✅ Successful |")
    assert table_disagreements(greener, rows)[0].endswith("Day 3 reads 2026-11-25 '✅ Successful', the ledger "
                                                          "2026-11-25 ⚠️")
    early = week_rows({k: v for k, v in records().items() if k < "2026-11-29"}, START)
    assert table_disagreements(doc.read_text(encoding="utf-8"), early) == [
        "line 45: Day 7 says '✅ Successful' but the ledger has no judged night 2026-11-29"]


def test_figures_the_week_contradicts():
    metrics = week_metrics(records(), week_rows(records(), START))  # 1.6 .. 2.2 s, average 1.9 s
    text = ("## Monitoring Results\n- **Successful Resets:** 6/7\n- **Average Reset Duration:** 1.9 seconds "
            "(longest 2.2 s)\n\n## Technical Insights\n- Every reset completed in under 2 seconds.\n"
            "- Reset duration stayed between 1.5 and 2.2 seconds.\n"
            "- Promtail delayed the reset log lines by up to 40 seconds.\n"
            "| High | Make the reset complete within 1 second | Team | 2026-12-15 | |\n")
    assert contradicted_figures(text, metrics) == [
        "line 2: Successful Resets 6/7, the week measured 7/7",
        "line 6: 'under 2 seconds', but the week's longest reset took 2.2 s"]
    assert contradicted_figures(text.replace("1.9 seconds", "2.4 seconds"), metrics)[1] == \
        "line 3: Average Reset Duration 2.4 s, the week measured 1.90 s"
