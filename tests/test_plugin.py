"""The plugin, through pytester: options, status, ledger, Week 1 table, evidence, secrets."""

import json
import xml.etree.ElementTree as ET

import pytest
from bs4 import BeautifulSoup

# Imported here so pytester's in-process runs share one copy (it drops modules first imported inside a run).
import fixtures.clients  # noqa: F401
import fixtures.site  # noqa: F401
import fixtures.week  # noqa: F401
import opsverify.plugin  # noqa: F401
from pytester_project import INI, OFFLINE

CONFTEST = 'pytest_plugins = ["opsverify.plugin", "fixtures.site", "fixtures.clients", "fixtures.week"]\n'
CHECKS = """
import pytest

pytestmark = pytest.mark.nightly

@pytest.mark.severity("critical")
def test_started(evidence):
    evidence.add("counts", {"query": "sum(count_over_time(...))", "total": 1})

@pytest.mark.severity("warning")
def test_duration(evidence):
    pytest.fail("Loki (http://x): expected a reset within 60 s; saw 90000 ms. What to do: check the DB", pytrace=False)
"""


@pytest.fixture
def suite(pytester, monkeypatch):
    for name in ("OPSVERIFY_SITE", "OPSVERIFY_NIGHT", "OPSVERIFY_WEEK_START", "OPSVERIFY_GRAFANA_PASSWORD",
                 "OPSVERIFY_GRAFANA_USER", "OPSVERIFY_GRAFANA_TOKEN", "OPSVERIFY_BACKEND_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeconftest(CONFTEST)
    pytester.makeini(INI)
    return pytester


def run(pytester, *args, week_start="2026-11-23"):
    base = ["--reports-dir", str(pytester.path / "reports"), *OFFLINE]
    return pytester.runpytest(*(["--week-start", week_start] if week_start else []), *base, *args)


def ledger(pytester):
    return json.loads((pytester.path / "reports" / "ledger.json").read_text(encoding="utf-8"))["nights"]


def test_a_failed_warning_check_makes_the_night_a_warning(suite):
    suite.makepyfile(test_checks=CHECKS)
    result = run(suite, "--night", "2026-11-25", "--action", "asked the DBA")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["night 2026-11-25 (Day 3): ⚠️ Successful with warnings",
                                 "  - test_duration: Loki (http://x): expected a reset within 60 s*"])
    record = ledger(suite)["2026-11-25"]
    assert (record["day"], record["status"], record["actions"]) == (3, "warning", "asked the DBA")
    assert record["issues"] == ["test_duration: Loki (http://x): expected a reset within 60 s; saw 90000 ms. "
                                "What to do: check the DB"]


def test_a_failed_critical_check_fails_the_night_and_reruns_replace_it(suite):
    suite.makepyfile(test_checks=CHECKS.replace('severity("warning")', 'severity("critical")'))
    run(suite, "--night", "2026-11-25").assert_outcomes(passed=1, failed=1)
    assert ledger(suite)["2026-11-25"]["status"] == "failed"
    suite.makepyfile(test_checks=CHECKS.replace("pytest.fail(", "print(").replace(", pytrace=False", ""))
    run(suite, "--night", "2026-11-26").assert_outcomes(passed=2)
    run(suite, "--night", "2026-11-25").assert_outcomes(passed=2)
    nights = ledger(suite)
    assert {n: r["status"] for n, r in nights.items()} == {"2026-11-25": "passed", "2026-11-26": "passed"}


def test_week_table_in_markdown_and_html(suite):
    suite.makepyfile(test_checks=CHECKS)
    run(suite, "--night", "2026-11-24")
    markdown = (suite.path / "reports" / "week1.md").read_text(encoding="utf-8")
    # One short line per issue, escaped: the check and what it saw (the whole message is in the HTML report).
    assert "| Day 2 | 2026-11-24 | ⚠️ Successful with warnings | test\\_duration: 90000 ms |" in markdown
    assert "| Day 1 | 2026-11-23 | ⏳ Pending |  |  |" in markdown
    page = BeautifulSoup((suite.path / "reports" / "report.html").read_text(encoding="utf-8"), "html.parser")
    rows = [[td.get_text(" ", strip=True) for td in tr.find_all("td")] for tr in page.select("#week1 tbody tr")]
    assert len(rows) == 7
    assert rows[1][:3] == ["Day 2", "2026-11-24", "⚠️ Successful with warnings"]
    assert rows[0][2] == "⏳ Pending"
    facts = {tr.th.get_text(): tr.td.get_text() for tr in page.select("#night-facts tr")}
    assert facts["Day"] == "Day 2 (Day 1 = 2026-11-23)"
    assert facts["Loki endpoint"] == "http://127.0.0.1:9"
    assert facts["Loki version"].startswith("unknown (")
    assert page.select_one("#sandbox-banner") is None


def test_junit_xml_carries_severity(suite):
    suite.makepyfile(test_checks=CHECKS)
    run(suite, "--night", "2026-11-24")
    tree = ET.parse(suite.path / "reports" / "junit.xml")
    props = {tc.get("name"): {p.get("name"): p.get("value") for p in tc.iter("property")}
             for tc in tree.iter("testcase")}
    assert props["test_started"]["severity"] == "critical"
    assert props["test_duration"]["severity"] == "warning"


def test_evidence_is_attached_to_the_html_report(suite):
    suite.makepyfile(test_checks=CHECKS)
    run(suite, "--night", "2026-11-24")
    page = BeautifulSoup((suite.path / "reports" / "report.html").read_text(encoding="utf-8"), "html.parser")
    data = json.loads(page.select_one("#data-container")["data-jsonblob"])
    extras = [e for test in data["tests"].values() for run_ in test for e in run_.get("extras", [])]
    assert any(e["name"] == "counts" for e in extras)


def test_a_check_that_does_not_apply_reads_as_such_in_the_html_report(suite):
    suite.makepyfile(test_checks=CHECKS + """

@pytest.mark.severity("warning")
def test_healthcheck():
    from opsverify.evidence import not_applicable
    not_applicable("container escashop-backend-prod defines no healthcheck")
""")
    run(suite, "--night", "2026-11-24")
    page = BeautifulSoup((suite.path / "reports" / "report.html").read_text(encoding="utf-8"), "html.parser")
    data = json.loads(page.select_one("#data-container")["data-jsonblob"])
    row = data["tests"]["test_checks.py::test_healthcheck"][0]
    # "Skipped" to pytest-html's sorting (after failures, before passes); the page shows n/a and the reason alone.
    assert row["resultsTableRow"][0] == '<td class="col-result not-applicable">Skipped</td>'
    assert row["log"] == "Does not apply here: container escashop-backend-prod defines no healthcheck"
    assert '.col-result.not-applicable::after { content: "n/a";' in page.decode()
    failed = data["tests"]["test_checks.py::test_duration"][0]
    assert failed["resultsTableRow"][0] == '<td class="col-result">Failed</td>'


def test_secrets_never_reach_any_output(suite, monkeypatch):
    secret = "pw-DISTINCT-8472"
    monkeypatch.setenv("OPSVERIFY_GRAFANA_USER", "admin")
    monkeypatch.setenv("OPSVERIFY_GRAFANA_PASSWORD", secret)
    suite.makepyfile(test_checks=CHECKS.replace("saw 90000 ms", f"saw {secret}").replace(
        'evidence.add("counts", {', f'print("{secret}"); evidence.add("counts", {{"leak": "{secret}", '))
    result = run(suite, "--night", "2026-11-24", "-rA")
    assert "***" in result.stdout.str()
    assert secret not in result.stdout.str() + result.stderr.str()
    written = [p for p in (suite.path / "reports").rglob("*") if p.is_file()]
    assert any(p.name == "results.json" for p in written)  # the evidence bundle too
    for path in written:
        assert secret not in path.read_text(encoding="utf-8"), path.name


def test_a_check_without_severity_is_refused(suite):
    suite.makepyfile(test_checks="import pytest\n\n@pytest.mark.nightly\ndef test_x():\n    pass\n")
    result = run(suite, "--night", "2026-11-24")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*opsverify: test_checks.py::test_x needs @pytest.mark.severity(*"])


@pytest.mark.parametrize("args, message", [
    (["--night", "2026-02-30"], "ERROR: opsverify: setting 'night' from the command line: '2026-02-30' is not a "
                                "date in the form YYYY-MM-DD. Fix --night."),
    (["--night", "2026-11-20"], "ERROR: opsverify: night 2026-11-20 is before Day 1 (2026-11-23); pass a later "
                                "--night or an earlier --week-start"),
    (["--sandbox", "--night=2026-11-24"], "ERROR: opsverify: --sandbox starts its own stack: drop --grafana-url"),
    (["--ticket", "ESC 142/../x"], "ERROR: opsverify: --ticket 'ESC 142/../x': use letters, digits, '.', '_' and "
                                   "'-' (it names a directory), e.g. --ticket ESC-142"),
    (["--set", "timezone=Mars/Olympus"], "ERROR: opsverify: setting 'timezone' from the command line: "
                                         "'Mars/Olympus' is not a known IANA time zone such as Asia/Manila. "
                                         "Fix --set timezone=...."),
])
def test_bad_options_stop_the_run_at_start(suite, args, message):
    suite.makepyfile(test_checks=CHECKS)
    result = run(suite, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.lines
    assert not (suite.path / "reports" / "ledger.json").exists()


def test_a_corrupt_ledger_stops_the_run_and_is_kept(suite):
    suite.makepyfile(test_checks=CHECKS)
    (suite.path / "reports").mkdir()
    (suite.path / "reports" / "ledger.json").write_text("{not json")
    result = run(suite, "--night", "2026-11-24")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ledger.json is corrupt*a copy is kept at*ledger.json.corrupt*"])
    assert (suite.path / "reports" / "ledger.json").read_text() == "{not json"


def test_week_start_defaults_to_the_first_night_in_the_ledger(suite):
    suite.makepyfile(test_checks=CHECKS)
    run(suite, "--night", "2026-11-26", week_start=None)
    run(suite, "--night", "2026-11-28", week_start=None)
    nights = ledger(suite)
    assert (nights["2026-11-26"]["day"], nights["2026-11-28"]["day"]) == (1, 3)


def test_a_sandbox_that_cannot_start_is_a_usage_error(suite):
    suite.makepyfile(test_checks=CHECKS)
    result = suite.runpytest("--sandbox=no-such-scenario", "--night=2026-11-24",
                             f"--reports-dir={suite.path / 'reports'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*opsverify: the sandbox (-m sandbox --scenario no-such-scenario*exited: "
                                 "*unknown scenario 'no-such-scenario'*"])


def test_an_unwritable_ledger_keeps_the_record_on_the_console(suite):
    suite.makepyfile(test_checks=CHECKS)
    (suite.path / "reports").mkdir()
    (suite.path / "reports" / "ledger.json.lock").mkdir()  # the lock cannot be taken: the write fails
    result = run(suite, "--night", "2026-11-24")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["LEDGER NOT UPDATED: *",
                                 'the nights\' records, to add by hand: {"night": "2026-11-24"*'])


def test_a_check_that_does_not_apply_keeps_the_night_green(suite):
    checks = """
import pytest
from opsverify.evidence import not_applicable

pytestmark = pytest.mark.nightly

@pytest.mark.severity("critical")
def test_ok():
    pass

@pytest.mark.severity("warning")
def test_healthcheck():
    not_applicable("no healthcheck defined")
"""
    suite.makepyfile(test_checks=checks)
    run(suite, "--night", "2026-11-24").assert_outcomes(passed=1, skipped=1)
    assert ledger(suite)["2026-11-24"]["status"] == "passed"
    suite.makepyfile(test_checks=checks + """
@pytest.mark.severity("warning")
def test_blind():
    pytest.skip("could not see")
""")
    run(suite, "--night", "2026-11-24").assert_outcomes(passed=1, skipped=2)
    assert ledger(suite)["2026-11-24"]["issues"] == ["not checked: test_blind: could not see"]


def test_update_doc_fills_the_sign_off_document(suite):
    from pathlib import Path
    seed = Path(__file__).resolve().parent / "data" / "signoff-seed.md"
    doc = suite.path / "lessons.md"
    doc.write_bytes(seed.read_bytes())
    suite.makepyfile(test_checks=CHECKS)
    result = run(suite, "--night", "2026-11-24", f"--update-doc={doc}")
    result.stdout.fnmatch_lines([f"sign-off document updated: {doc}"])
    assert "| Day 2 | 2026-11-24 | ⚠️ Successful with warnings | test\\_duration: 90000 ms |" in doc.read_text(
        encoding="utf-8")
    result = run(suite, "--night", "2026-11-24", f"--update-doc={doc}")
    result.stdout.fnmatch_lines([f"sign-off document already up to date: {doc}"])


def test_update_doc_needs_an_existing_document(suite):
    suite.makepyfile(test_checks=CHECKS)
    result = run(suite, "--night", "2026-11-24", "--update-doc=missing.md")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "ERROR: opsverify: --update-doc missing.md: no such file (give the sign-off document's path)" in \
        result.stderr.lines


WAIVERS = """\
- check: test_duration
  justification: the DB migration slows resets until Friday
  approver: Backend Lead
  expires: {expires}
"""


def test_a_waived_critical_failure_makes_the_night_a_warning(suite):
    suite.makepyfile(test_checks=CHECKS.replace('severity("warning")', 'severity("critical")'))
    (suite.path / "waivers.yml").write_text(WAIVERS.format(expires="2026-11-30"))
    run(suite, "--night", "2026-11-24", f"--waivers={suite.path / 'waivers.yml'}")
    record = ledger(suite)["2026-11-24"]
    assert record["status"] == "warning"
    assert record["issues"][0].startswith("waived: test_duration: Loki (http://x): expected a reset within 60 s")
    assert record["issues"][0].endswith("— the DB migration slows resets until Friday (approved by Backend Lead, "
                                        "until 2026-11-30)")


def test_an_expired_waiver_no_longer_applies_and_says_so(suite):
    suite.makepyfile(test_checks=CHECKS.replace('severity("warning")', 'severity("critical")'))
    (suite.path / "waivers.yml").write_text(WAIVERS.format(expires="2026-11-23"))
    run(suite, "--night", "2026-11-24", f"--waivers={suite.path / 'waivers.yml'}")
    record = ledger(suite)["2026-11-24"]
    assert record["status"] == "failed"
    assert record["issues"][0].endswith("(its waiver expired on 2026-11-23)")


def test_a_malformed_waiver_file_stops_the_run_naming_the_line(suite):
    suite.makepyfile(test_checks=CHECKS)
    (suite.path / "waivers.yml").write_text(WAIVERS.format(expires="someday"))
    result = run(suite, "--night", "2026-11-24", f"--waivers={suite.path / 'waivers.yml'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: opsverify: waiver file *waivers.yml, line 4: expires 'someday' is not a "
                                 "date YYYY-MM-DD"])


# --- the week: backfill, criteria, bundle ---

NIGHT_CHECKS = """
import pytest

pytestmark = pytest.mark.nightly

@pytest.mark.severity("critical")
def test_reset(night, run):
    run.facts_of(night).record("reset", "failed" if night.date.isoformat() == "2026-11-25" else "succeeded")
    if night.date.isoformat() == "2026-11-25":
        pytest.fail("no completion line", pytrace=False)

@pytest.mark.smoke
@pytest.mark.severity("critical")
def test_stack_up():
    pass
"""
CRITERIA = """
import pytest

pytestmark = pytest.mark.criteria

def test_criterion_sees_the_week(week_records):
    records = week_records
    print("SEEN", sorted(records))
    if "2026-11-25" in records and records["2026-11-25"].status != "passed":
        pytest.fail("Day 3 failed", pytrace=False)
"""


def test_week_backfills_only_the_nights_without_a_record(suite):
    suite.makepyfile(test_checks=NIGHT_CHECKS)
    run(suite, "--night", "2026-11-24")  # Day 2 has its record
    result = run(suite, "--night", "2026-11-27", "--week", "-v")
    ran = [line.split("::")[1].split(" ")[0] for line in result.stdout.lines
           if line.startswith("test_checks.py::test_reset") and "%]" in line]
    assert ran == ["test_reset[2026-11-23]", "test_reset[2026-11-25]", "test_reset[2026-11-26]",
                   "test_reset[2026-11-27]"]
    nights = ledger(suite)
    assert {n: (r["status"], r["basis"]) for n, r in nights.items()} == {
        "2026-11-23": ("passed", "history"), "2026-11-24": ("passed", "live"), "2026-11-25": ("failed", "history"),
        "2026-11-26": ("passed", "history"), "2026-11-27": ("passed", "live")}
    # A backfilled night is judged by its own checks only; the live state belongs to the run's night.
    # The night's record names the check, not the parameter this run gave it.
    assert nights["2026-11-25"]["issues"] == ["test_reset: no completion line"]
    assert list(nights["2026-11-25"]["checks"]) == ["test_checks.py::test_reset"]
    assert nights["2026-11-25"]["reset"] == "failed" and nights["2026-11-25"]["smoke"] == {}
    assert nights["2026-11-27"]["smoke"] == {"ran": 1, "failed": []}
    result.stdout.fnmatch_lines(["night 2026-11-25 (Day 3, from Loki's history): ❌ Failed",
                                 "night 2026-11-27 (Day 5): ✅ Successful"])


def test_week_needs_to_know_day_one(suite):
    suite.makepyfile(test_checks=NIGHT_CHECKS)
    result = suite.runpytest("--night", "2026-11-27", "--week", f"--reports-dir={suite.path / 'reports'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: opsverify: --week: which night was Day 1? Set --week-start=YYYY-MM-DD*"])


def test_criteria_run_last_read_this_runs_nights_and_leave_the_night_alone(suite):
    suite.makepyfile(test_a_criteria=CRITERIA, test_checks=NIGHT_CHECKS)
    result = run(suite, "--night", "2026-11-25", "-m", "nightly or criteria", "-s")
    # test_a_criteria.py comes first by name, yet it ran after the night's checks and saw their record.
    result.stdout.fnmatch_lines(["*SEEN ?'2026-11-25'?", "completion criteria: 0 of 1 met",
                                 "  - test_criterion_sees_the_week: Day 3 failed"])
    # The criterion failed, but the night is failed by its own check only, and the ledger keeps the criterion.
    assert [i.split(":")[0] for i in ledger(suite)["2026-11-25"]["issues"]] == ["test_reset"]
    week = json.loads((suite.path / "reports" / "ledger.json").read_text(encoding="utf-8"))["week"]
    assert week["criteria"]["test_criterion_sees_the_week"]["outcome"] == "failed"


@pytest.mark.parametrize("night, joins", [("2026-11-28", False), ("2026-11-29", True)])
def test_from_day_seven_the_criteria_join_the_nightly_run(suite, night, joins):
    suite.makepyfile(test_a_criteria=CRITERIA, test_checks=NIGHT_CHECKS)
    result = run(suite, "--night", night, "-m", "nightly", "-v")
    assert any("test_criterion_sees_the_week" in line for line in result.stdout.lines) == joins


def test_the_bundle_verifies_with_sha256sum_and_names_the_ticket(suite):
    import shutil
    import subprocess

    suite.makepyfile(test_checks=CHECKS)
    run(suite, "--night", "2026-11-24", "--ticket", "ESC-142")
    bundle = suite.path / "reports" / "ESC-142-2026-11-24"
    assert sorted(p.name for p in bundle.iterdir()) == ["SHA256SUMS", "junit.xml", "report.html", "results.json",
                                                        "week1.md"]
    if shutil.which("sha256sum"):
        check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=bundle, capture_output=True, text=True)
        assert check.returncode == 0 and check.stdout.count(": OK") == 5 - 1, check.stdout
    page = BeautifulSoup((bundle / "report.html").read_text(encoding="utf-8"), "html.parser")
    assert page.select_one("#head-title").get_text().startswith("opsverify — ESC-142 — ")
    results = json.loads((bundle / "results.json").read_text(encoding="utf-8"))
    assert results["ticket"] == "ESC-142" and results["status"] == "warning"
    by_name = {c["nodeid"].split("::")[-1]: c for c in results["checks"]}
    assert by_name["test_started"]["evidence"][0] == {"name": "counts", "content": {
        "query": "sum(count_over_time(...))", "total": 1}}
    assert by_name["test_duration"]["outcome"] == "failed" and "90000 ms" in by_name["test_duration"]["reason"]
    # A changed byte is caught.
    (bundle / "week1.md").write_text("forged", encoding="utf-8")
    if shutil.which("sha256sum"):
        assert subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=bundle, capture_output=True).returncode == 1


def test_a_reports_directory_that_cannot_be_written_stops_the_run_at_start(suite):
    suite.makepyfile(test_checks=CHECKS)
    (suite.path / "not-a-dir").write_text("a file where the reports should go")
    result = suite.runpytest("--night", "2026-11-24", "--week-start", "2026-11-23",
                             f"--reports-dir={suite.path / 'not-a-dir'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: opsverify: reports directory */not-a-dir is not writable (*); set "
                                 "--reports-dir or OPSVERIFY_REPORTS_DIR to a writable directory"])


def test_sandbox_faults_are_refused_without_the_sandbox(suite):
    suite.makepyfile(test_checks=CHECKS)
    result = run(suite, "--night", "2026-11-24", "--sandbox-fault", "loki=down")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: opsverify: --sandbox-fault needs --sandbox: faults are made in the bundled "
                                 "sandbox, never in production"])


# --- a night's record holds only what judged it (issue 10) ---

def test_a_smoke_run_leaves_the_night_and_week1_alone(suite):
    suite.makepyfile(test_checks=NIGHT_CHECKS)
    run(suite, "--night", "2026-11-25").assert_outcomes(passed=1, failed=1)
    before = ledger(suite)["2026-11-25"]
    week1 = (suite.path / "reports" / "week1.md").read_bytes()
    result = run(suite, "--night", "2026-11-25", "-m", "smoke")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["smoke run, night 2026-11-25: ✅ Successful — no night judged: the ledger, "
                                 "week1.md and the sign-off document are left as they were"])
    assert ledger(suite)["2026-11-25"] == before and before["status"] == "failed"
    assert (suite.path / "reports" / "week1.md").read_bytes() == week1
    # Its evidence is its own bundle; the night's bundle is not replaced.
    bundles = sorted(p.name for p in (suite.path / "reports").iterdir() if p.is_dir())
    assert bundles[0] == "2026-11-25" and bundles[1].startswith("2026-11-25-smoke-")


def test_a_partial_rerun_keeps_the_verdicts_it_did_not_rerun(suite):
    suite.makepyfile(test_checks=NIGHT_CHECKS)
    run(suite, "--night", "2026-11-25").assert_outcomes(passed=1, failed=1)
    first = ledger(suite)["2026-11-25"]
    result = run(suite, "--night", "2026-11-25", "-k", "stack_up")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["night 2026-11-25 (Day 3): ❌ Failed", "  - test_reset: no completion line",
                                 "  night 2026-11-25: this run judged 1 of the night's checks; the other verdicts*"])
    record = ledger(suite)["2026-11-25"]
    assert record["status"] == "failed" and record["issues"] == ["test_reset: no completion line"]
    assert record["complete"] is True  # a full run judged it before
    reset, stack = record["checks"]["test_checks.py::test_reset"], record["checks"]["test_checks.py::test_stack_up"]
    assert reset == first["checks"]["test_checks.py::test_reset"]  # kept as the first run judged it
    assert stack["run"] == record["run"] != first["run"]  # re-judged by the second
    assert [(c["from"], c["to"], c["scope"]) for c in record["changes"]] == [
        (None, "failed", "every check"), ("failed", "failed", "1 of the night's checks")]


def test_rerunning_the_failed_check_after_the_fix_says_which_run_changed_the_night(suite):
    suite.makepyfile(test_checks=NIGHT_CHECKS)
    run(suite, "--night", "2026-11-25").assert_outcomes(passed=1, failed=1)
    suite.makepyfile(test_checks=NIGHT_CHECKS.replace('== "2026-11-25":\n        pytest.fail', '== "never":\n'
                                                                                               '        pytest.fail'))
    result = run(suite, "--night", "2026-11-25", "-k", "test_reset")
    result.assert_outcomes(passed=1)
    record = ledger(suite)["2026-11-25"]
    assert record["status"] == "passed" and record["issues"] == []
    result.stdout.fnmatch_lines([f"  night 2026-11-25: changed by this run ({record['run']}): ❌ Failed → "
                                 "✅ Successful"])
    assert record["changes"][-1] == {"run": record["run"], "at": record["run_at"],
                                     "scope": "1 of the night's checks", "from": "failed", "to": "passed"}


def test_a_partial_run_of_a_night_without_a_record_is_never_green(suite):
    suite.makepyfile(test_checks=NIGHT_CHECKS)
    run(suite, "--night", "2026-11-24", "-k", "stack_up").assert_outcomes(passed=1)
    record = ledger(suite)["2026-11-24"]
    assert (record["status"], record["complete"]) == ("warning", False)
    assert record["issues"] == ["not judged in full: only 1 check(s) ran for this night (a partial or interrupted "
                                "run); run `pytest -m nightly --night=2026-11-24` to judge it"]
    # A full run afterwards judges it in full.
    run(suite, "--night", "2026-11-24").assert_outcomes(passed=2)
    assert (ledger(suite)["2026-11-24"]["status"], ledger(suite)["2026-11-24"]["complete"]) == ("passed", True)


def test_a_run_stopped_early_is_not_a_full_verdict(suite):
    suite.makepyfile(test_checks=NIGHT_CHECKS)
    run(suite, "--night", "2026-11-25", "-x").assert_outcomes(failed=1)  # test_stack_up never ran
    record = ledger(suite)["2026-11-25"]
    assert (record["status"], record["complete"], list(record["checks"])) == (
        "failed", False, ["test_checks.py::test_reset"])
    assert record["issues"][-1].startswith("not judged in full: only 1 check(s) ran for this night")


@pytest.mark.parametrize("marks", ["smoke", "criteria"])
def test_smoke_and_criteria_runs_change_no_record(suite, marks):
    suite.makepyfile(test_checks=NIGHT_CHECKS, test_a_criteria=CRITERIA)
    run(suite, "--night", "2026-11-25", "-m", "nightly and not criteria")
    before = (suite.path / "reports" / "ledger.json").read_text(encoding="utf-8")
    run(suite, "--night", "2026-11-25", "-m", marks)
    after = json.loads((suite.path / "reports" / "ledger.json").read_text(encoding="utf-8"))
    assert after["nights"] == json.loads(before)["nights"]


def test_a_night_whose_reset_has_not_happened_is_refused(suite):
    suite.makepyfile(test_checks=CHECKS)
    result = run(suite, "--night", "2099-01-01")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: opsverify: --night 2099-01-01: its reset has not happened yet, or happened "
                                 "less than settle_minutes (10) ago; it can be checked from 2099-01-01 00:10 +08:00 "
                                 "(Asia/Manila)"])
    assert not (suite.path / "reports" / "ledger.json").exists()


def test_a_night_before_the_ledgers_day_one_does_not_renumber_the_week(suite):
    suite.makepyfile(test_checks=CHECKS)
    run(suite, "--night", "2026-11-26", week_start=None)
    result = run(suite, "--night", "2026-08-01", week_start=None)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: opsverify: --night 2026-08-01 is before Day 1 of the ledger's week "
                                 "(2026-11-26): to start the week there, say so with --week-start=2026-08-01"])
    assert list(ledger(suite)) == ["2026-11-26"] and ledger(suite)["2026-11-26"]["day"] == 1


def test_a_ledger_of_another_site_is_refused_not_mixed(suite):
    suite.makepyfile(test_checks=CHECKS)
    run(suite, "--night", "2026-11-25")
    assert json.loads((suite.path / "reports" / "ledger.json").read_text(encoding="utf-8"))["site"] == "escashop"
    result = run(suite, "--night", "2026-11-25", "--set", "site_name=escashop-staging")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: opsverify: ledger */reports/ledger.json holds the nights of site "
                                 "'escashop', not of 'escashop-staging': give each site its own reports directory*"])
    assert list(ledger(suite)) == ["2026-11-25"]


def test_a_waiver_of_a_check_covers_it_in_a_week_run_too(suite):
    """Issue 11: in a --week run the check's id gains the night ([2026-11-25]); the waiver still applies."""
    suite.makepyfile(test_checks=NIGHT_CHECKS)
    (suite.path / "waivers.yml").write_text(WAIVERS.replace("test_duration", "test_reset").format(
        expires="2026-11-30"))
    run(suite, "--night", "2026-11-27", "--week", f"--waivers={suite.path / 'waivers.yml'}")
    record = ledger(suite)["2026-11-25"]
    assert record["status"] == "warning"
    assert record["issues"] == ["waived: test_reset: no completion line — the DB migration slows resets until "
                                "Friday (approved by Backend Lead, until 2026-11-30)"]


def test_facts_are_recorded_as_declared_and_a_misspelt_one_fails_its_check(suite):
    suite.makepyfile(test_checks="""
import pytest

pytestmark = pytest.mark.nightly

@pytest.mark.severity("critical")
def test_duration(record_fact):
    record_fact("reset_duration_ms", 2100)

@pytest.mark.severity("warning")
def test_typo(record_fact):
    record_fact("reset_duraton_ms", 1)
""")
    result = run(suite, "--night", "2026-11-25")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*'reset_duraton_ms' is not a fact a check may record of a night (declared in "
                                 "opsverify/runstate.py NightFacts: reset, reset_duration_ms, alerts, promtail)*"])
    assert ledger(suite)["2026-11-25"]["reset_duration_ms"] == 2100


def test_a_mapping_fact_gathers_what_each_check_records():
    from opsverify.runstate import NightFacts, WeekFacts

    facts = NightFacts()
    facts.record("alerts", {"rule_a": {"classification": "true negative"}})
    facts.record("alerts", {"rule_b": {"classification": "true positive"}})
    assert sorted(facts.alerts) == ["rule_a", "rule_b"]
    week = WeekFacts()
    assert week.response_minutes is None  # not measured: the ledger's last measure stands
    week.record("response_minutes", [])
    assert week.response_minutes == []


def test_an_output_is_a_plugin_that_receives_the_run_result(suite):
    """A new format is a new plugin: it implements the project's hook and gets the run's result."""
    suite.makeconftest(CONFTEST + '''
import json


class TinyWriter:
    def pytest_opsverify_run_finished(self, result, session):
        with open("tiny.json", "w", encoding="utf-8") as out:
            json.dump({"title": result.title, "status": result.status, "kind": result.kind,
                       "judged": [r.night for r in result.judged], "records": sorted(result.records),
                       "rows": [[row.day, row.status] for row in result.rows]}, out)

    def pytest_opsverify_summary_lines(self, result):
        return [(f"tiny writer: tiny.json ({result.status})", False)]


def pytest_configure(config):
    config.pluginmanager.register(TinyWriter(), "tiny-writer")
''')
    suite.makepyfile(test_checks=CHECKS)
    result = run(suite, "--night", "2026-11-25")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*= opsverify =*", "week table: *week1.md", "tiny writer: tiny.json (warning)"])
    seen = json.loads((suite.path / "tiny.json").read_text(encoding="utf-8"))
    assert seen["title"] == "opsverify — escashop night 2026-11-25 (Day 3)"
    assert (seen["status"], seen["kind"], seen["judged"], seen["records"]) == (
        "warning", "nightly", ["2026-11-25"], ["2026-11-25"])
    assert seen["rows"][2] == [3, "warning"] and len(seen["rows"]) == 7


DRILL_CHECK = """
import pytest

@pytest.mark.drill
def test_drilled():
    pass
"""


def _reset_hours_from_now(hours):
    """--set options that put the site's reset `hours` from now (UTC): a window the clock is in, or not."""
    from datetime import datetime, timedelta, timezone

    at = datetime.now(timezone.utc) + timedelta(hours=hours)
    return ["--set", "timezone=UTC", "--set", f"reset_time={at:%H:%M}"]


def test_a_drill_needs_its_own_confirmation_and_runs_alone(suite):
    suite.makepyfile(test_checks=CHECKS, test_drills=DRILL_CHECK)
    away = _reset_hours_from_now(12)
    result = run(suite, "--night", "2026-11-25", "-m", "drill", *away)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*opsverify: -m drill pushes failure lines into Loki and fires your alerts: add "
                                 "--drill to the same command line to confirm"])
    result = run(suite, "--night", "2026-11-25", "-m", "drill or nightly", "--drill", *away)
    result.stderr.fnmatch_lines(["*a drill runs alone (-m drill), never with nightly, smoke or criteria checks"])
    result = run(suite, "--night", "2026-11-25", "-m", "nightly", "--drill", *away)
    result.stderr.fnmatch_lines(["*--drill confirms an alert drill: give it with -m drill, alone"])
    # Not asked for by name, a drill check never runs: a plain run deselects it.
    result = run(suite, "--night", "2026-11-25", *away)
    result.assert_outcomes(passed=1, failed=1, deselected=1)


def test_a_drill_is_refused_around_a_reset(suite):
    suite.makepyfile(test_drills=DRILL_CHECK)
    result = run(suite, "--night", "2026-11-25", "-m", "drill", "--drill", *_reset_hours_from_now(0.25))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--drill refused: it is * +00:00, within 30 min of the night *'s window *: a drill's "
                                 "lines would meet that night's checks; run it after *"])
    result = run(suite, "--night", "2026-11-25", "-m", "drill", "--drill", *_reset_hours_from_now(12))
    result.assert_outcomes(passed=1)


def test_a_nightly_run_pings_its_heartbeat_and_a_ping_that_fails_changes_nothing(suite, httpserver):
    httpserver.expect_request("/ping/k3y/start", method="POST").respond_with_data("OK")
    httpserver.expect_request("/ping/k3y/fail", method="POST").respond_with_data("OK")
    suite.makepyfile(test_checks=CHECKS)
    url = httpserver.url_for("/ping/k3y")
    result = run(suite, "--night", "2026-11-25", "--set", f"heartbeat_url={url}")
    result.assert_outcomes(passed=1, failed=1)
    pings = [(request.path, request.get_data(as_text=True)) for request, _ in httpserver.log]
    assert [path for path, _ in pings] == ["/ping/k3y/start", "/ping/k3y/fail"]
    assert pings[0][1].startswith("opsverify escashop: checking the night 2026-11-25 (Day 3), run ")
    assert pings[1][1].startswith("opsverify escashop: night 2026-11-25 (Day 3) ⚠️ Successful with warnings; "
                                  "exit 1; run ")
    result.stdout.fnmatch_lines([f"heartbeat: start, fail ping(s) sent to http://{httpserver.host}:"
                                 f"{httpserver.port}/***"])
    assert "k3y" not in result.stdout.str()  # the switch's key is its path: never shown

    # A successful night whose ping cannot be sent: still a success, and the summary says so.
    suite.makepyfile(test_checks=CHECKS.replace(", pytrace=False)", ")").replace('pytest.fail("Loki', 'print("Loki'))
    result = run(suite, "--night", "2026-11-26", "--set", "heartbeat_url=http://127.0.0.1:9/ping/k3y")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["HEARTBEAT NOT SENT (the run's outcome stands): start ping to "
                                 "http://127.0.0.1:9/*** not sent: ConnectionError",
                                 "HEARTBEAT NOT SENT (the run's outcome stands): success ping to *"])
    assert ledger(suite)["2026-11-26"]["status"] == "passed"


def test_a_smoke_run_does_not_ping(suite, httpserver):
    suite.makepyfile(test_checks=CHECKS.replace("pytest.mark.nightly", "pytest.mark.smoke"))
    run(suite, "--night", "2026-11-25", "-m", "smoke", "--set", f"heartbeat_url={httpserver.url_for('/ping/k3y')}")
    assert httpserver.log == []
