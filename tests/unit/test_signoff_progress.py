"""The sign-off document's progress places: dates, status, Day N issues, the criteria boxes. What the
suite wrote it updates; what a human wrote it never touches; twice is once."""

from datetime import date
from pathlib import Path

from opsverify.signoff_progress import CRITERIA, fill, hand_ticked_against, progress
from opsverify.week import NightRecord, week_rows

DATA = Path(__file__).resolve().parents[1] / "data"
SEED = (DATA / "signoff-seed.md").read_text(encoding="utf-8")
CHECKOUT = (Path(__file__).resolve().parents[2] / "sandbox" / "escashop-repo" / "STEP8_LESSONS_LEARNED.md").read_text(
    encoding="utf-8")
START = date(2026, 11, 23)
TODAY = date(2026, 11, 29)
CRITICAL = {"checks/test_reset.py::test_reset_completed": {"outcome": "failed", "severity": "critical"}}
WARNED = {"checks/test_reset.py::test_no_restart_in_window": {"outcome": "failed", "severity": "warning"}}


def records(days=7, failed=(), warned=(), issue="test_reset_completed: no completion line"):
    found = {}
    for day in range(1, days + 1):
        night = date(2026, 11, 22 + day).isoformat()
        status = "failed" if day in failed else "warning" if day in warned else "passed"
        found[night] = NightRecord(night, day, status, [issue] if status != "passed" else [],
                                   checks=CRITICAL if day in failed else WARNED if day in warned else {})
    return found


def week(found, criteria=None, evidence="ESC-142-week-2026-11-23-to-2026-11-29"):
    return progress(week_rows(found, START), found, START, criteria=criteria, today=TODAY, evidence=evidence)


def all_passed(**changed):
    return {**dict.fromkeys(CRITERIA, "passed"), **changed}


def section(text, title):
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#") and title in line)
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("---") or lines[i].startswith("## "))
    return lines[start + 1:end]


def field(text, name):
    return next(line for line in text.splitlines() if line.startswith(f"**{name}:**"))


def test_a_healthy_week_before_the_criteria_dates_it_and_says_there_were_no_issues():
    text = fill(SEED, week(records()))
    assert field(text, "Date Started") == "**Date Started:** 2026-11-23  "
    # Before the criteria ran the status, Date Completed and the boxes wait for them.
    assert field(text, "Date Completed") == "**Date Completed:** [TO BE FILLED - After One Successful Week]  "
    assert field(text, "Status") == field(SEED, "Status")
    assert section(text, "Week 1 Completion Criteria") == section(SEED, "Week 1 Completion Criteria")
    # The template's placeholder entries go; no Day N entry comes; one line of the suite's says so.
    assert section(text, "Issues Encountered") == [
        "<!-- Fill this section as issues are discovered -->", "",
        "- No issues: the 7 night(s) judged so far passed every check. <!-- opsverify -->", ""]


def test_every_line_it_does_not_own_keeps_its_bytes():
    text = fill(SEED, week(records(), criteria=all_passed()))
    owned = ("**Date", "**Status", "- [", "####", "- **Issue", "- **Severity", "- **Resolution", "- **Follow",
             "[Continue", "- No issues")
    kept = [line for line in SEED.splitlines() if line.strip() and not line.startswith(owned)]
    assert [line for line in text.splitlines() if line.strip() and not line.startswith(owned)] == kept
    # The Final Sign-off boxes are the humans': never ticked.
    assert section(text, "Technical Sign-off") == section(SEED, "Technical Sign-off")


def test_a_failed_night_adds_its_entry_critical_with_follow_up_and_the_status_says_restarted():
    found = records(failed={7}, warned={3}, issue="test_reset_completed: <img src=x onerror=alert(1)> *boom* | x")
    text = fill(SEED, week(found, criteria=all_passed(test_seven_consecutive_successful_resets="failed")))
    entries = section(text, "Issues Encountered")
    assert entries[2:] == [
        "#### Day 3 Issues (2026-11-25) <!-- opsverify night 2026-11-25 -->",
        r"- **Issue:** test\_reset\_completed: &lt;img src=x onerror=alert(1)&gt; \*boom\* \| x",
        "- **Severity:** Warning",
        "- **Resolution:** [Action taken]",
        "- **Follow-up Required:** [Yes/No]",
        "",
        "#### Day 7 Issues (2026-11-29) <!-- opsverify night 2026-11-29 -->",
        r"- **Issue:** test\_reset\_completed: &lt;img src=x onerror=alert(1)&gt; \*boom\* \| x",
        "- **Severity:** Critical",
        "- **Resolution:** [Action taken]",
        "- **Follow-up Required:** Yes",
        ""]
    assert field(text, "Status") == ("**Status:** 🔄 IN PROGRESS - Monitoring Phase, restarted after the failed "
                                     "night of Day 7 (2026-11-29): 0 of 7 consecutive successful nights  ")
    assert field(text, "Date Completed").endswith("[TO BE FILLED - After One Successful Week]  ")
    assert fill(text, week(found, criteria=all_passed(test_seven_consecutive_successful_resets="failed"))) == text


def test_a_long_issue_is_one_short_line():
    found = records(warned={2}, issue="test_log_labels_bounded: " + "x" * 400)
    issue = next(line for line in fill(SEED, week(found)).splitlines() if line.startswith("- **Issue:**"))
    assert len(issue) < 200 and issue.endswith("…")


def test_a_re_run_updates_its_own_entries_and_keeps_what_a_human_wrote_in_them():
    found = records(failed={4})
    text = fill(SEED, week(found))
    text = text.replace("- **Resolution:** [Action taken]", "- **Resolution:** Restarted the scheduler by hand")
    text = text.replace("- **Severity:** Critical", "- **Severity:** Critical\n- **Ticket:** OPS-77")
    again = records(failed={4}, issue="test_reset_completed: still no completion line")
    updated = fill(text, week(again))
    entry = section(updated, "Day 4 Issues")
    assert entry == ["- **Issue:** test\\_reset\\_completed: still no completion line", "- **Severity:** Critical",
                     "- **Ticket:** OPS-77", "- **Resolution:** Restarted the scheduler by hand",
                     "- **Follow-up Required:** Yes", ""]
    # The night judged again, fine now: an entry a human wrote in stays; an untouched one goes.
    healthy = fill(updated, week(records()))
    assert "Restarted the scheduler by hand" in healthy and "#### Day 4 Issues" in healthy
    assert "#### Day 4 Issues" not in fill(fill(SEED, week(found)), week(records()))


def test_entries_a_human_wrote_are_never_touched():
    text = fill(CHECKOUT, week(records(failed={7}), criteria=all_passed()))
    before, after = section(CHECKOUT, "Issues Encountered"), section(text, "Issues Encountered")
    assert after[:len(before)] == before  # Day 1, Day 2, "Days 3 to 7": the team's words
    assert after[len(before):] == [
        "#### Day 7 Issues (2026-11-29) <!-- opsverify night 2026-11-29 -->",
        "- **Issue:** test\\_reset\\_completed: no completion line", "- **Severity:** Critical",
        "- **Resolution:** [Action taken]", "- **Follow-up Required:** Yes", ""]
    assert "- No issues" not in fill(CHECKOUT, week(records()))  # the team wrote the section: no line of ours


def test_the_week_completes_only_when_all_eight_criteria_pass_and_the_date_stays():
    text = fill(CHECKOUT, week(records(), criteria=all_passed(test_lessons_learned_documented="failed")))
    assert field(text, "Status") == ("**Status:** 🔄 IN PROGRESS - Monitoring Phase: 7 of 7 consecutive successful "
                                     "nights  ")
    assert field(text, "Date Completed").endswith("[TO BE FILLED - After One Successful Week]  ")
    done = fill(text, week(records(), criteria=all_passed()))
    assert field(done, "Status") == ("**Status:** ✅ COMPLETED - 7 consecutive successful midnight resets, all 8 "
                                     "completion criteria met  ")
    assert field(done, "Date Completed") == "**Date Completed:** 2026-11-29  "
    later = progress(week_rows(records(), START), records(), START, criteria=all_passed(), today=date(2026, 12, 3))
    assert fill(done, later) == done  # completed on the 29th, whenever it is run again
    # A partial criteria run that failed nothing leaves the completed week as it is; a failure reopens it.
    assert fill(done, week(records(), criteria={"test_lessons_learned_documented": "passed"})) == done
    reopened = fill(done, week(records(), criteria={"test_no_critical_production_issues": "failed"}))
    assert "IN PROGRESS" in field(reopened, "Status")
    assert field(reopened, "Date Completed").endswith("[TO BE FILLED - After One Successful Week]  ")


def test_a_status_or_date_a_human_wrote_is_kept():
    text = CHECKOUT.replace("[TO BE FILLED - Start Date]", "2026-11-20 (deployment day)")
    text = text.replace("IN PROGRESS - Monitoring Phase", "ON HOLD - waiting for the DBA")
    done = fill(text, week(records(), criteria=all_passed()))
    assert field(done, "Date Started") == "**Date Started:** 2026-11-20 (deployment day)  "
    assert "ON HOLD - waiting for the DBA" in field(done, "Status")


def test_boxes_tick_exactly_the_passed_criteria_with_a_pointer_and_untick_when_one_fails():
    criteria = all_passed(test_lessons_learned_documented="failed",
                          test_documentation_complete_and_accessible="skipped")
    boxes = section(fill(SEED, week(records(), criteria=criteria)), "Week 1 Completion Criteria")
    ticked = [line for line in boxes if line.startswith("- [x]")]
    assert len(ticked) == 6 and all(line.endswith(" — met, evidence: ESC-142-week-2026-11-23-to-2026-11-29 "
                                                  "(opsverify)") for line in ticked)
    assert "- [ ] **Lessons Learned Documented**" in boxes
    assert "- [ ] **Documentation Complete and Accessible**" in boxes  # not judged: as it was
    text = fill(SEED, week(records(), criteria=all_passed()))
    # Judged again under another bundle name: the pointer of a box still met stays (twice is once).
    assert fill(text, week(records(), criteria=all_passed(), evidence="week-criteria-r2")) == text
    failed = fill(text, week(records(), criteria=all_passed(test_no_critical_production_issues="failed")))
    assert "- [ ] **No Critical Production Issues**" in section(failed, "Week 1 Completion Criteria")


def test_a_box_a_human_ticked_is_left_alone_and_reported_when_the_criterion_fails():
    text = SEED.replace("- [ ] **No Critical Production Issues**", "- [x] **No Critical Production Issues**")
    criteria = all_passed(test_no_critical_production_issues="failed")
    filled = fill(text, week(records(), criteria=criteria))
    assert "- [x] **No Critical Production Issues**" in filled.splitlines()
    assert hand_ticked_against(filled, criteria) == [
        f"line {filled.splitlines().index('- [x] **No Critical Production Issues**') + 1}: 'No Critical Production "
        "Issues' is ticked by hand, but test_no_critical_production_issues failed in this run"]
    assert hand_ticked_against(filled, all_passed()) == []


def test_line_endings_are_kept():
    crlf = SEED.replace("\n", "\r\n")
    text = fill(crlf, week(records(failed={2}), criteria=all_passed()))
    assert "\n" not in text.replace("\r\n", "")
    assert text == fill(SEED, week(records(failed={2}), criteria=all_passed())).replace("\n", "\r\n")
