"""The alert fire drill end to end: pytest -m drill --drill against the sandbox, whose Grafana evaluates
its rules against its Loki and routes their alerts (on a clock 20 times as fast: a drill of minutes in
seconds; the drill reads every instant from the systems' own clocks)."""

import email.utils
import json
import subprocess
import sys

import pytest
import requests

from suite_runs import NIGHT, ROOT, SECRETS, WEEK_START, Outputs, clean_env, nightly, start_sandbox

pytestmark = pytest.mark.e2e
RULES = ["midnight_errors_001", "midnight_queue_anomaly_003", "midnight_reset_failure_002"]


def drill(reports, *args, env=None):
    command = [sys.executable, "-m", "pytest", "-m", "drill", "--drill", "-p", "no:cacheprovider",
               f"--reports-dir={reports}", f"--night={NIGHT}", *args]
    return subprocess.run(command, cwd=ROOT, env=env or clean_env(**SECRETS), capture_output=True, text=True,
                          encoding="utf-8", timeout=300)


def drills(reports):
    return json.loads((reports / "ledger-sandbox.json").read_text(encoding="utf-8"))["drills"]


@pytest.mark.parametrize("scenario, broken, stage, fragment", [
    ("rule-never-fires", "midnight_errors_001", "pending", "never left Normal within 120 s of the drill's line: its "
                                                           "condition cannot be true"),
    ("rule-wrong-route", "midnight_errors_001", "receivers", "alert routed to devops-team, expected midnight-critical"),
    ("rule-invalid-query", "midnight_queue_anomaly_003", "query", "query fails in Grafana ([sse.dataQueryError]"),
    ("contact-placeholder", "midnight_errors_001", "integrations", "midnight-critical's slack integration: the url "
                                                                   "is a placeholder"),
])
def test_a_defect_fails_the_drill_at_the_stage_it_breaks(tmp_path, scenario, broken, stage, fragment):
    reports = tmp_path / "reports"
    result = drill(reports, f"--sandbox={scenario}", "--now=2026-11-29T06:00:00+08:00")
    assert result.returncode == 1, result.stdout[-3000:]
    found = drills(reports)[-1]["rules"]
    assert (found[broken]["ok"], found[broken]["stage"]) == (False, stage)
    assert fragment in found[broken]["message"]
    # Only what the defect breaks fails (a placeholder Slack URL breaks both rules that route there).
    broken_too = {"contact-placeholder": {"midnight_reset_failure_002"}}.get(scenario, set())
    assert {uid for uid, f in found.items() if not f["ok"]} == {broken} | broken_too
    assert f"FAILED checks/test_drill.py::test_drill_reaches_its_receivers[{broken}]" in result.stdout


def test_a_healthy_drill_then_a_night_and_a_week_that_cite_it(tmp_path, sandboxes):
    process, values = start_sandbox(tmp_path, "healthy", "--night", NIGHT, "--clock-rate", "20")
    sandboxes.append(process)
    assert isinstance(values, dict), values
    env = clean_env(**{k: v for k, v in values.items() if k != "OPSVERIFY_NIGHT"})
    reports = tmp_path / "reports"
    result = drill(reports, env=env)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "3 of 3 rule(s) reached their receivers in time" in result.stdout
    # Its evidence is a bundle of its own, which the summary names as for any run.
    assert f"evidence bundle: {reports}/{NIGHT}-drill-" in result.stdout
    record = drills(reports)[-1]
    assert record["ok"] and sorted(record["rules"]) == sorted(RULES)
    assert record["rules"]["midnight_errors_001"]["receivers"] == ["midnight-critical"]
    assert record["rules"]["midnight_queue_anomaly_003"]["receivers"] == ["devops-team"]
    # The rule with `for: 1m` went Pending first, then fired about a minute later (Grafana's clock).
    seen = record["rules"]["midnight_reset_failure_002"]["latencies_s"]
    assert 0 < seen["pending"] < seen["firing"] <= seen["routed"] and 50 <= seen["firing"] - seen["pending"] <= 70
    assert len(record["writes"]) == 1 and "opsverify_drill" in record["writes"][0]
    page = Outputs(reports, result).page
    row = page.select_one('#drill tr[data-rule="midnight_reset_failure_002"]')
    assert [td.get_text() for td in row.find_all("td")][1:4] == [f"{seen[s]:g} s" for s in ("pending", "firing",
                                                                                           "routed")]
    assert page.select_one("#drill-writes li").get_text().startswith("POST http://127.0.0.1:")

    # The night after: its checks do not see the drill's lines, and the week's criteria cite the drill.
    date = requests.get(values["OPSVERIFY_GRAFANA_URL"] + "/api/health", timeout=10).headers["Date"]
    now = email.utils.parsedate_to_datetime(date).isoformat()  # the sandbox's clock, ahead by now
    after = nightly(reports, f"--night={NIGHT}", "--week", f"--week-start={WEEK_START}", f"--now={now}", env=env,
                    marks="nightly or criteria")
    out = Outputs(reports, after)
    assert out.record()["status"] == "passed", after.stdout[-3000:]
    assert {uid: a["classification"] for uid, a in out.record()["alerts"].items()} == dict.fromkeys(
        RULES, "true negative")
    criteria = json.loads((reports / "ledger-sandbox.json").read_text(encoding="utf-8"))["week"]["criteria"]
    assert criteria["test_no_critical_production_issues"]["outcome"] == "passed", criteria
    assert criteria["test_all_alerts_configured_and_tested"]["outcome"] == "passed", criteria
    results = next(p for p in reports.iterdir() if p.name.startswith("week-")) / "results.json"
    checks = {c["nodeid"].split("::")[-1]: c for c in json.loads(results.read_text(encoding="utf-8"))["checks"]}
    # A rule the drill's line still fires is no incident: its check says so (or it is quiet again).
    for uid in RULES:
        healthy = checks[f"test_rule_healthy_now[{uid}]"]
        assert healthy["outcome"] == "passed" or (
            healthy["outcome"] == "n/a" and f"because of the alert drill {record['id']}" in healthy["reason"]), healthy
    shown = next(e["content"] for e in checks["test_all_alerts_configured_and_tested"]["evidence"]
                 if e["name"] == "rules")
    assert any(f"the opsverify drill {record['id']}" in why for why in shown["midnight_reset_failure_002"][
        "shown to fire by"])


def test_a_drill_that_cannot_read_grafanas_alerting_pushes_nothing(tmp_path):
    reports = tmp_path / "reports"
    result = drill(reports, "--sandbox=healthy", "--sandbox-fault=grafana=unauthorized",
                   "--now=2026-11-29T06:00:00+08:00")
    assert result.returncode == 1
    assert "drill refused, nothing was pushed: the drill needs Grafana's alert rules, their state, its " \
           "Alertmanager's alerts, the notification policies and contact points, and Grafana said: GET " \
           "http://127.0.0.1:" in result.stdout
    record = drills(reports)[-1]
    assert (record["writes"], record["rules"], record["ok"]) == ([], {}, False)
