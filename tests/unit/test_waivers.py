"""Waivers: known exceptions agreed until a date; a malformed file names its line."""

from datetime import date

import pytest

from opsverify.status import WARNING, CheckOutcome, issues, night_status
from opsverify.waivers import WaiverError, find_waiver, load_waivers

GOOD = """\
- check: "test_rule_can_fire[midnight_queue_anomaly_003]"
  justification: the anomaly rule is being rewritten in TICKET-42
  approver: DevOps Lead
  expires: 2026-12-15
- check: "test_container_*"
  justification: staging host without Docker
  approver: Ops Manager
  expires: 2026-11-20
"""


def write(tmp_path, text):
    path = tmp_path / "waivers.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_active_waiver_applies_and_an_expired_one_says_so(tmp_path):
    waivers = load_waivers(write(tmp_path, GOOD))
    active, expired = find_waiver(waivers, "test_rule_can_fire[midnight_queue_anomaly_003]", date(2026, 11, 29))
    assert active.approver == "DevOps Lead" and expired is None
    active, expired = find_waiver(waivers, "test_container_running", date(2026, 11, 29))
    assert active is None and expired.expires == date(2026, 11, 20)
    assert find_waiver(waivers, "test_reset_completed", date(2026, 11, 29)) == (None, None)


def test_a_waived_failure_is_a_warning_never_a_success():
    outcomes = [CheckOutcome("x", "test_rule_can_fire[r]", "critical", "waived", "cannot fire — rewritten (approved "
                             "by DevOps Lead, until 2026-12-15)")]
    assert night_status(outcomes) == WARNING
    assert issues(outcomes) == ["waived: test_rule_can_fire[r]: cannot fire — rewritten (approved by DevOps Lead, "
                                "until 2026-12-15)"]


@pytest.mark.parametrize("text, message", [
    ("- check: x\n  justification: y\n  approver: z\n", "line 1: missing expires"),
    (GOOD + "- check: a\n  justification: b\n  approver: c\n  expires: soon\n", "line 12: expires 'soon' is not a date"),
    (GOOD + "- check: a\n  justificaton: b\n", "line 9: missing justification"),
    ("- check: a\n  justification: b\n  approver: c\n  expires: 2026-12-01\n  ticket: T-1\n", "line 1: unknown key ticket"),
    ("check: a\n", "line 1: expected a list of waivers"),
    ("- check: [unclosed\n", "not valid YAML at line 2"),
    # Issue 11: a list or mapping where one text belongs crashed the run at the first failure.
    ("- check: [test_reset_completed]\n  justification: b\n  approver: c\n  expires: 2026-12-01\n",
     "line 1: check must be one text value, not a list"),
    ("- check: x\n  justification: b\n  approver:\n    name: c\n  expires: 2026-12-01\n",
     "line 4: approver must be one text value, not a mapping"),
    ("- check: x\n  justification: b\n  approver: c\n  expires: [2026-12-01]\n",
     "line 4: expires must be one text value, not a list"),
    ("- check: x\n  justification: b\n  approver: c\n  expires: 2026-12-01\n  counts_for_signoff: maybe\n",
     "line 5: counts_for_signoff must be true or false"),
])
def test_a_malformed_file_names_the_line(tmp_path, text, message):
    with pytest.raises(WaiverError, match=message.replace("[", r"\[")):
        load_waivers(write(tmp_path, text))


def test_a_waiver_counts_for_the_sign_off_only_when_it_says_so(tmp_path):
    waivers = load_waivers(write(tmp_path, GOOD + "  counts_for_signoff: true\n"))
    assert [w.counts_for_signoff for w in waivers] == [False, True]
