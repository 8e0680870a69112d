"""The alert-rule checks end to end: each defect class fails exactly its check, replay judges nights."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
import requests

from suite_runs import NIGHT, ROOT, Outputs, clean_env, nightly, start_sandbox

pytestmark = pytest.mark.e2e


def run_scenario(tmp_path, name):
    reports = tmp_path / "reports"
    result = nightly(reports, f"--sandbox={name}", f"--night={NIGHT}")
    return Outputs(reports, result)


def failed_checks(out):
    return sorted(issue.split(":")[0] for issue in out.record()["issues"] if not issue.startswith("not checked"))


@pytest.mark.parametrize("scenario, check, words", [
    ("rule-never-fires", "test_rule_can_fire[midnight_errors_001]",
     ["Midnight Reset Errors", "B < 0", "absent, not 0", "use 'gt 0'"]),
    ("rule-nodata-alerting", "test_rule_quiet_without_data[midnight_reset_failure_002]",
     ["Midnight Reset Process Failure", "noDataState Alerting", "h a day", "set noDataState to OK"]),
    ("rule-invalid-query", "test_rule_queries_valid[midnight_queue_anomaly_003]",
     ["Midnight Queue Reset Anomaly", "missing closing )", "execErrState Alerting", "fix the LogQL"]),
    ("rule-wrong-route", "test_rule_routes_as_promised[midnight_errors_001]",
     ["Midnight Reset Errors", "reach midnight-critical", "they reach devops-team", 'routes[1] team="devops"',
      "fix the rule's labels or the notification policy"]),
    ("rule-wrong-severity", "test_rule_well_formed[midnight_reset_failure_002]",
     ["Midnight Reset Process Failure", "severity 'warning'", "expect 'critical'", "fix the rule's provisioning"]),
    ("contact-placeholder", "test_contact_point_delivers[midnight-critical]",
     ["midnight-critical", "placeholder", "https://hooks.slack.com/***", "real webhook URL"]),
    ("contact-wrong-grafana-link", "test_notification_links_point_at_this_grafana",
     ["contact point 'midnight-critical' slack text links to https://grafana-staging.escashop.ph/d/",
      "grafana.escashop.ph", "point the link at this Grafana's root URL"]),
    ("loki-short-retention", "test_loki_keeps_the_week",
     ["limits_config.retention_period is 3 days", "compactor", "fix Loki's retention settings"]),
    ("loki-retention-ignored", "test_loki_keeps_the_week",
     ["retention_period is set (28 days) but neither compactor.retention_enabled", "never deletes anything"]),
    ("promtail-path-matches-nothing", "test_promtail_jobs_have_targets",
     ["job 'midnight-reset-logs' has 0 of 1 targets ready", "matches no file inside the Promtail container",
      "a file job's __path__"]),
    ("labels-unbounded", "test_log_labels_bounded",
     ["'timestamp' has", "values for", "stop promoting that field to a label"]),
    ("dashboard-broken", "test_dashboard_queries_valid",
     ["panel 'Reset errors (24h)'", "parse error", "datasource 'loki-old', which does not exist", "fix the panels"]),
])
def test_each_defect_class_fails_exactly_its_check(tmp_path, scenario, check, words):
    out = run_scenario(tmp_path, scenario)
    assert failed_checks(out) == [check]
    record = out.record()
    assert record["status"] == "warning"  # the reset itself was fine
    message = next(i for i in record["issues"] if i.startswith(check))
    for word in words:
        assert word in message, (word, message)
    assert "YOUR/WEBHOOK" not in out.everything()  # a webhook's path is a secret, even a placeholder's


def test_replay_is_quiet_on_a_good_night_and_fires_on_a_failed_one(tmp_path):
    good = run_scenario(tmp_path / "good", "healthy").record()["alerts"]
    bad = run_scenario(tmp_path / "bad", "failed-night").record()["alerts"]
    uids = ["midnight_errors_001", "midnight_queue_anomaly_003", "midnight_reset_failure_002"]
    assert sorted(good) == sorted(bad) == uids
    assert {uid: good[uid]["classification"] for uid in uids} == dict.fromkeys(uids, "true negative")
    assert {uid: bad[uid]["classification"] for uid in uids} == dict.fromkeys(uids, "true positive")
    assert all("firing" not in [s for _, s in good[uid]["timeline"]] for uid in uids)
    assert bad["midnight_errors_001"]["firing"][0].startswith("00:0")  # fired right after the failure


def test_replay_timeline_is_in_the_report(tmp_path):
    out = run_scenario(tmp_path, "failed-night")
    row = out.page.select_one('#alert-replay tr[data-rule="midnight_errors_001"]')
    assert row.select_one("td:nth-of-type(2)").get_text(strip=True) == "true positive"
    cells = [span["class"][0] for span in row.select(".timeline span")]
    assert len(cells) == 45 and "firing" in cells and cells[0] == "normal"


VARIANTS = ["expressions", "notifications", "reset-and-env"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_provisioning_not_written_for_escashop_is_read_without_errors(tmp_path, sandboxes, variant):
    """Rules, policies and contact points in shapes EscaShop does not use: every check runs to a verdict."""
    directory = ROOT / "tests" / "data" / "provisioning-variants" / variant
    process, values = start_sandbox(tmp_path, variant, f"--night={NIGHT}", f"--grafana-provisioning={directory}")
    sandboxes.append(process)
    assert isinstance(values, dict), values
    grafana = values["OPSVERIFY_GRAFANA_URL"]
    auth = (values["OPSVERIFY_GRAFANA_USER"], values["OPSVERIFY_GRAFANA_PASSWORD"])
    rules = requests.get(f"{grafana}/api/v1/provisioning/alert-rules", auth=auth, timeout=10).json()
    datasources = [f"{grafana}/api/datasources/uid/{uid}" for uid in ("logs", "loki")]
    loki_uid = next((d.rsplit("/", 1)[1] for d in datasources
                     if requests.get(d, auth=auth, timeout=10).status_code == 200), "loki")
    site_rules = [{"uid": r["uid"], "title": r["title"], "severity": "critical"} for r in rules]
    overrides = ["--set", f"rules={json.dumps(site_rules)}"] if site_rules else []  # else EscaShop's: missing
    reports = tmp_path / "reports"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "smoke", "-p", "no:cacheprovider", f"--reports-dir={reports}",
         f"--night={NIGHT}", *overrides, "--set", f"datasource_uid={loki_uid}", "--set", "receivers={}"],
        cwd=ROOT, env=clean_env(**values), capture_output=True, text=True, timeout=300)
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    cases = ET.parse(reports / "junit.xml").getroot().iter("testcase")
    verdicts = {case.get("name"): [child.tag for child in case if child.tag in ("error", "failure", "skipped")]
                for case in cases}
    assert verdicts, result.stdout[-3000:]
    assert not [name for name, tags in verdicts.items() if "error" in tags], result.stdout[-3000:]
    for case in ET.parse(reports / "junit.xml").getroot().iter("testcase"):
        skipped = case.find("skipped")
        if case.get("name").startswith("test_rule_can_fire") and skipped is not None:
            assert "cannot analyse" not in skipped.get("message", ""), skipped.get("message")


def test_promtail_jobs_the_site_does_not_list_are_notes_and_a_docker_job_is_told_what_it_lacks(tmp_path):
    """Issue 13: real Promtail shows jobs the site file does not list; an idle one is a note, not a failed
    night. Listed, an idle docker job is told about its socket and filters, not about __path__."""
    out = run_scenario(tmp_path / "unlisted", "promtail-idle-jobs")
    assert failed_checks(out) == []
    listed = tmp_path / "listed" / "reports"
    result = nightly(listed, "--sandbox=promtail-idle-jobs", f"--night={NIGHT}", "--set",
                     "promtail_jobs=[docker-containers, escashop-backend, midnight-reset-logs, docker-legacy]")
    (issue,) = [i for i in Outputs(listed, result).record()["issues"] if i.startswith("test_promtail_jobs")]
    assert "job 'docker-legacy/tcp://10.0.0.5:2375:80' has 0 of 0 targets ready: it discovers no running " \
        "container (is the Docker socket mounted into Promtail, do its filters match?)" in issue
    assert "legacy-logs" not in issue and "__path__" not in issue.split("What to do")[0]
