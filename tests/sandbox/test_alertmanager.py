"""The sandbox plays an alert fire drill for real (issue 16): a failure line pushed into its Loki makes its
Grafana's rule pending, then firing, on the group's evaluation ticks; its Alertmanager holds the alert with the
receiver the policy tree gives it and notifies that receiver's contact points group_wait later (a webhook one
posts to the sandbox's receiver). The sandbox's clock runs 30 times as fast, so a drill of minutes takes seconds."""

import time
from datetime import datetime, timezone
from pathlib import Path
from email.utils import parsedate_to_datetime

import pytest
import requests

from sandbox.clock import Clock
from sandbox.grafana_alertmanager import fingerprint

RATE = 30
PROVISIONING = Path(__file__).resolve().parents[2] / "sandbox" / "provisioning" / "escashop"
AM_ALERTS = "/api/alertmanager/grafana/api/v2/alerts"
RULES = "/api/prometheus/grafana/api/v1/rules"
STREAM = {"container": "escashop-backend-prod", "service": "backend", "stream": "stderr"}


def server_now(url):
    """The sandbox's clock as a server's Date header gives it (whole seconds)."""
    return parsedate_to_datetime(requests.get(url + "/ready", timeout=5).headers["Date"])


def push(env, line, drill):
    """One failure line into the sandbox's Loki, dated by Loki's own clock, in a drill stream of its own."""
    at = server_now(env["OPSVERIFY_LOKI_URL"])
    body = {"streams": [{"stream": {**STREAM, "opsverify_drill": drill},
                         "values": [[str(int(at.timestamp()) * 10**9), line]]}]}
    response = requests.post(env["OPSVERIFY_LOKI_URL"] + "/loki/api/v1/push", json=body, timeout=5)
    assert response.status_code == 204, response.text
    return at


def wait_for(what, probe, timeout=40):
    """probe() until it returns something truthy; on timeout fail naming what never came and the last answer."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.1)
    pytest.fail(f"{what} never came within {timeout} s; last seen: {last!r}")


def rule_state(env, uid, seen):
    """The rule's state in the rules API; records (state, lastEvaluation) the first time each state shows."""
    body = requests.get(env["OPSVERIFY_GRAFANA_URL"] + RULES, auth=("admin", env["OPSVERIFY_GRAFANA_PASSWORD"]),
                        timeout=10).json()
    rule = next(r for g in body["data"]["groups"] for r in g["rules"] if r["uid"] == uid)
    seen.setdefault(rule["state"], rule["lastEvaluation"])
    return rule


def am_alerts(env, **params):
    return requests.get(env["OPSVERIFY_GRAFANA_URL"] + AM_ALERTS, params=params, timeout=10,
                        auth=("admin", env["OPSVERIFY_GRAFANA_PASSWORD"]))


def drill_alert(env, uid):
    return next((a for a in am_alerts(env).json() if a["labels"].get("__alert_rule_uid__") == uid), None)


def deliveries(env, path):
    return requests.get(env["SANDBOX_WEBHOOK_RECEIVER_URL"] + "/deliveries", params={"path": path},
                        timeout=5).json()


def _stamp(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def drill_sandbox(sandboxes):
    def start(scenario="healthy"):
        return sandboxes("--scenario", scenario, "--clock-rate", str(RATE), "--webhook-receiver", timeout=40).env
    return start


def test_clock_runs_at_its_rate():
    start = datetime(2026, 11, 29, 0, 30, tzinfo=timezone.utc)
    clock = Clock(start, rate=RATE)
    time.sleep(0.2)
    elapsed = (clock.now() - start).total_seconds()
    assert 0.2 * RATE <= elapsed < 2 * RATE
    with pytest.raises(ValueError, match="positive"):
        Clock(start, rate=0)


def test_a_pushed_failure_goes_pending_firing_and_reaches_midnight_critical(drill_sandbox):
    env = drill_sandbox()
    assert env["SANDBOX_CLOCK_RATE"] == str(RATE)
    # Every emulated server dates its answers by the sandbox's clock.
    dates = [server_now(env[k]) for k in ("OPSVERIFY_LOKI_URL", "OPSVERIFY_GRAFANA_URL")]
    assert abs((dates[1] - dates[0]).total_seconds()) < RATE
    uid = "midnight_reset_failure_002"  # for 1m, severity critical: midnight-critical
    seen = {}
    assert rule_state(env, uid, seen)["state"] == "inactive"
    pushed = push(env, "Daily queue reset failed: drill", "t-route")
    wait_for("rule 002 firing", lambda: rule_state(env, uid, seen)["state"] == "firing")
    assert "pending" in seen, seen  # `for` 1m: pending on the first tick that sees the line, firing a tick later
    pending_at, firing_at = _stamp(seen["pending"]), _stamp(seen["firing"])
    assert pending_at.second == 0 and 0 < (pending_at - pushed).total_seconds() <= 60
    assert (firing_at - pending_at).total_seconds() == 60

    alert = wait_for("the alert in Grafana's Alertmanager", lambda: drill_alert(env, uid))
    assert [r["name"] for r in alert["receivers"]] == ["midnight-critical"]
    assert alert["status"] == {"inhibitedBy": [], "silencedBy": [], "state": "active"}
    assert alert["labels"]["alertname"] == "Midnight Reset Process Failure"
    assert alert["labels"]["grafana_folder"] == "alerts"
    assert alert["fingerprint"] == fingerprint(alert["labels"])
    assert _stamp(alert["startsAt"]) == firing_at
    assert alert["generatorURL"] == f"https://grafana.escashop.ph/alerting/grafana/{uid}/view"
    # The anomaly rule (003, severity warning) matched the same line: it goes to devops-team.
    assert [r["name"] for r in wait_for("rule 003's alert", lambda: drill_alert(env, "midnight_queue_anomaly_003"))
            ["receivers"]] == ["devops-team"]

    # midnight-critical's route has group_wait 0s: its webhook is posted at the firing tick itself.
    posted = wait_for("the webhook delivery", lambda: deliveries(env, "/midnight-critical"))
    body = posted[0]["body"]
    assert body["receiver"] == "midnight-critical" and body["status"] == "firing" and body["state"] == "alerting"
    assert body["version"] == "1" and body["orgId"] == 1 and body["truncatedAlerts"] == 0
    assert body["groupLabels"] == {"alertname": "Midnight Reset Process Failure", "grafana_folder": "alerts"}
    assert body["groupKey"] == ('{}/{process="midnight_reset",severity="critical"}:'
                                '{alertname="Midnight Reset Process Failure", grafana_folder="alerts"}')
    assert body["title"] == ("[FIRING:1] Midnight Reset Process Failure alerts "
                             "(scheduler midnight_reset critical devops)")
    assert [a["labels"]["alertname"] for a in body["alerts"]] == ["Midnight Reset Process Failure"]
    assert "__alert_rule_uid__" not in body["alerts"][0]["labels"]
    assert body["alerts"][0]["values"] == {"B": 1, "C": 1}
    assert body["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    assert posted[0]["userAgent"].startswith("Grafana/")
    received = parsedate_to_datetime(posted[0]["received"])
    assert 0 <= (received - firing_at).total_seconds() < 2 * RATE  # group_wait 0s, plus the poll's real delay
    # The devops-team group (the root's group_wait 30s) is notified 30 s of sandbox time after its alert.
    devops = wait_for("devops-team's delivery", lambda: deliveries(env, "/devops-team"))
    anomaly = devops[0]["body"]["alerts"][0]
    assert anomaly["labels"]["alertname"] == "Midnight Queue Reset Anomaly"
    assert (parsedate_to_datetime(devops[0]["received"]) - _stamp(anomaly["startsAt"])).total_seconds() >= 30


def test_wrong_route_sends_the_critical_alert_to_devops_team(drill_sandbox):
    env = drill_sandbox("rule-wrong-route")  # rule 001's process label is misspelt: midnight-reset
    uid = "midnight_errors_001"
    push(env, "Daily reset failed: drill", "t-wrong")
    alert = wait_for("rule 001's alert", lambda: drill_alert(env, uid))
    assert [r["name"] for r in alert["receivers"]] == ["devops-team"]
    assert am_alerts(env, receiver="midnight-critical").json() == []
    only = am_alerts(env, filter='alertname="Midnight Reset Errors"').json()
    assert [a["labels"]["__alert_rule_uid__"] for a in only] == [uid]
    posted = wait_for("devops-team's delivery", lambda: deliveries(env, "/devops-team"))
    assert posted[0]["body"]["receiver"] == "devops-team"
    groups = requests.get(env["OPSVERIFY_GRAFANA_URL"] + AM_ALERTS + "/groups", timeout=10,
                          auth=("admin", env["OPSVERIFY_GRAFANA_PASSWORD"])).json()
    assert [(g["receiver"]["name"], g["labels"]["alertname"]) for g in groups] == [
        ("devops-team", "Midnight Reset Errors")]
    assert deliveries(env, "/midnight-critical") == []


def test_a_filter_it_cannot_read_is_refused(drill_sandbox):
    env = drill_sandbox()
    response = am_alerts(env, filter="{alertname=~\"x\"}")
    assert response.status_code == 501
    assert "filter" in response.json()["message"]
    assert am_alerts(env, active="false").json() == []


# --- the dispatcher, over a state machine given outright ---

class FakeGrafana:
    """Stands in for sandbox.grafana.Grafana where the Alertmanager reads it: the provisioning, the rule's
    recorded transitions and one evaluation answer."""

    def __init__(self, changes):
        from sandbox import grafana

        self.provisioning = grafana.load(PROVISIONING, "http://127.0.0.1:9")
        self.changes = changes
        self.app_url = "https://grafana.escashop.ph/"

    def history(self, rule):
        return self.changes if rule["uid"] == "midnight_errors_001" else []

    def evaluate(self, rule, now):
        return "ok", "", {(): {"B": 2.0, "C": 1.0}}


T0 = 1_800_000_000 // 60 * 60  # an evaluation tick


def test_no_data_and_errors_are_their_own_alerts():
    from sandbox.grafana_alertmanager import Alertmanager

    am = Alertmanager(FakeGrafana([(T0, "Normal", "NoData"), (T0 + 120, "NoData", "Error")]), T0 - 30)
    rule = next(r for r in am.grafana.provisioning.rules if r["uid"] == "midnight_errors_001")
    sends = am.sends(rule, T0 + 180)
    names = [(t - T0, a["labels"]["alertname"], a["firing"]) for t, a in sends]
    assert names == [(0, "DatasourceNoData", True), (60, "DatasourceNoData", True),
                     (120, "DatasourceNoData", False), (120, "DatasourceError", True),
                     (180, "DatasourceError", True)]
    assert sends[0][1]["labels"]["rulename"] == "Midnight Reset Errors"


def test_group_interval_repeat_and_resolved_notifications():
    from sandbox.grafana_alertmanager import Alertmanager

    # Rule 001 fires at T0 and resolves 10 min later; its route (midnight-critical) has group_wait 0s,
    # group_interval 5m (the root's) and repeat_interval 30m.
    am = Alertmanager(FakeGrafana([(T0, "Normal", "Alerting"), (T0 + 600, "Alerting", "Normal")]), T0 - 30)
    notes, alive = am.play(T0 + 3600)
    slack = [(int(_stamp(n["at"]).timestamp()) - T0, n["status"]) for n in notes if n["integration"] == "slack"]
    assert slack == [(0, "firing"), (600, "resolved")]  # nothing new at +300; resolved at the +600 flush
    assert alive == {}
    # Still firing an hour later: repeated once repeat_interval (30m) has passed before a flush (DedupStage: the log
    # entry strictly before now - repeat), i.e. at the first group_interval flush after +30m: +35m.
    am = Alertmanager(FakeGrafana([(T0, "Normal", "Alerting")]), T0 - 30)
    notes, alive = am.play(T0 + 3600)
    assert [int(_stamp(n["at"]).timestamp()) - T0 for n in notes if n["integration"] == "email"] == [0, 2100]
    assert len(alive) == 1


def test_quiet_hours_mute_the_midnight_critical_route():
    from sandbox import grafana, grafana_routing

    prov = grafana.load(PROVISIONING, "http://127.0.0.1:9", alerting_files=[
        PROVISIONING.parent / "patches" / "route-muted-at-midnight.yml"])
    tree = grafana_routing.build(prov.policy)
    [route] = tree.match({"severity": "critical", "process": "midnight_reset", "team": "devops"})
    assert (route.receiver, route.group_wait, route.group_interval, route.repeat_interval) == (
        "midnight-critical", 0, 300, 1800)
    midnight_manila = datetime(2026, 11, 28, 16, 0, 30, tzinfo=timezone.utc).timestamp()
    assert grafana_routing.muted(route, prov.mute_times, midnight_manila)
    assert not grafana_routing.muted(route, prov.mute_times, midnight_manila + 7 * 3600)
    assert not grafana_routing.muted(tree.routes[1], prov.mute_times, midnight_manila)
