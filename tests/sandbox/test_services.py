"""Fast tests of the sandbox's Grafana, Promtail, backend, scenarios and CLI."""

import re
import shutil
import signal
import socket
import subprocess
import sys
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
import yaml

from sandbox import backend, grafana, promtail, scenario
from sandbox.httpserver import App, json_response, text
from sandbox.loki import LokiStore
from sandbox.loki import make_app as make_loki_app

ROOT = Path(__file__).resolve().parents[2]
PROVISIONING = ROOT / "sandbox" / "provisioning" / "escashop"
NOW = datetime(2026, 11, 29, 5, 31, 48, tzinfo=timezone.utc)
NIGHT = date(2026, 11, 29)
MANILA = ZoneInfo("Asia/Manila")
USER, PASSWORD, TOKEN = "admin", "s3cret-pass", "glsa_test_token"
CREDENTIALS = (USER, PASSWORD)


class RecordingStore:
    """Stands in for the LokiStore where only what was added matters."""

    def __init__(self):
        self.added = []

    def ingest(self, labels, entries):
        self.added.append((labels, list(entries)))


def fake_loki(answer):
    """A Loki double: `answer(query)` -> Response for GET /loki/api/v1/query."""
    app = App("fake-loki")
    app.route("GET", "/loki/api/v1/query")(lambda request: answer(request.arg("query")))
    return app


def vector(value=None):
    result = [] if value is None else [{"metric": {}, "value": [4, str(value)]}]
    return json_response(200, {"status": "success", "data": {"resultType": "vector", "result": result}})


@pytest.fixture(scope="module")
def quiet_grafana(serve):
    """Grafana whose Loki (a Loki 2.7+ double) has no data for any rule query."""
    loki = serve(fake_loki(lambda query: vector(2 if query == "vector(1)+vector(1)" else None)))
    return serve(grafana.make_app(grafana.Grafana(grafana.load(PROVISIONING, loki), USER, PASSWORD, TOKEN)))


def dead_url():
    """A loopback URL where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def grafana_at(serve):
    """Start the sandbox's Grafana over the EscaShop provisioning, its Loki at `loki_url`."""
    def start(loki_url):
        provisioning = grafana.load(PROVISIONING, loki_url)
        return serve(grafana.make_app(grafana.Grafana(provisioning, USER, PASSWORD, TOKEN)))
    return start


# --- Grafana: provisioning in API shapes ---

def test_alert_rules_come_back_in_the_api_shape(quiet_grafana):
    rules = requests.get(quiet_grafana + "/api/v1/provisioning/alert-rules", auth=CREDENTIALS).json()
    by_uid = {rule["uid"]: rule for rule in rules}
    assert set(by_uid) == {"midnight_errors_001", "midnight_reset_failure_002", "midnight_queue_anomaly_003"}
    errors = by_uid["midnight_errors_001"]
    assert errors["for"] == "0s" and by_uid["midnight_reset_failure_002"]["for"] == "1m"
    assert errors["ruleGroup"] == "midnight_reset_alerts" and errors["provenance"] == "file"
    assert errors["noDataState"] == "OK" and errors["execErrState"] == "Error" and errors["condition"] == "C"
    assert errors["labels"] == {"severity": "critical", "team": "devops", "component": "scheduler",
                                "process": "midnight_reset"}
    assert errors["annotations"]["runbook_url"].startswith("https://")
    query = errors["data"][0]
    assert query["datasourceUid"] == "loki" and query["relativeTimeRange"] == {"from": 300, "to": 0}
    assert query["model"]["expr"] == ('sum(count_over_time({container=~"escashop-backend.*"} '
                                      '|~ "Daily reset failed|Recovery attempt failed" [5m]))')
    assert by_uid["midnight_queue_anomaly_003"]["labels"]["severity"] == "warning"

    folder = errors["folderUID"]
    group = requests.get(f"{quiet_grafana}/api/v1/provisioning/folder/{folder}/rule-groups/midnight_reset_alerts",
                         auth=CREDENTIALS).json()
    assert group["interval"] == 60 and group["folderUid"] == folder and len(group["rules"]) == 3
    one = requests.get(quiet_grafana + "/api/v1/provisioning/alert-rules/midnight_errors_001", auth=CREDENTIALS)
    assert one.json() == errors
    missing = requests.get(quiet_grafana + "/api/v1/provisioning/alert-rules/nope", auth=CREDENTIALS)
    assert missing.status_code == 404 and missing.content == b""
    no_group = requests.get(f"{quiet_grafana}/api/v1/provisioning/folder/{folder}/rule-groups/nope", auth=CREDENTIALS)
    assert no_group.status_code == 404 and no_group.json()["messageId"] == "alerting.alert-rule.notFound"


def test_contact_points_redact_the_slack_webhook(quiet_grafana):
    points = requests.get(quiet_grafana + "/api/v1/provisioning/contact-points", auth=CREDENTIALS).json()
    by_uid = {p["uid"]: p for p in points}
    slack = by_uid["midnight-critical-slack"]
    assert slack["name"] == "midnight-critical" and slack["type"] == "slack"
    assert slack["settings"]["url"] == "[REDACTED]" and slack["settings"]["recipient"] == "#alerts-critical"
    assert by_uid["midnight-critical-email"]["settings"]["addresses"] == (
        "devops@escashop.ph;oncall@escashop.ph;database-team@escashop.ph")
    assert by_uid["devops-team-slack"]["settings"]["url"] == "[REDACTED]"
    assert all(set(p) >= {"uid", "name", "type", "settings", "disableResolveMessage"} for p in points)
    named = requests.get(quiet_grafana + "/api/v1/provisioning/contact-points", params={"name": "devops-team"},
                         auth=CREDENTIALS).json()
    assert [p["uid"] for p in named] == ["devops-team-slack"]


def test_policies_keep_both_matcher_forms(quiet_grafana):
    tree = requests.get(quiet_grafana + "/api/v1/provisioning/policies", auth=CREDENTIALS).json()
    assert tree["receiver"] == "default-receiver" and tree["provenance"] == "file"
    critical, devops = tree["routes"]
    assert critical == {"receiver": "midnight-critical",
                        "object_matchers": [["severity", "=", "critical"], ["process", "=", "midnight_reset"]],
                        "group_wait": "0s", "repeat_interval": "30m"}
    assert devops == {"receiver": "devops-team", "matchers": ['team="devops"']}


PATCHES = ROOT / "sandbox" / "provisioning" / "patches"


def test_mute_timings_come_back_as_alertmanager_marshals_them(serve):
    loki = serve(fake_loki(lambda query: vector()))
    provisioning = grafana.load(PROVISIONING, loki, alerting_files=[PATCHES / "route-muted-at-midnight.yml"])
    url = serve(grafana.make_app(grafana.Grafana(provisioning, USER, PASSWORD, TOKEN)))
    timings = requests.get(url + "/api/v1/provisioning/mute-timings", auth=CREDENTIALS).json()
    assert timings == [{"name": "quiet-hours", "provenance": "file", "time_intervals": [
        {"times": [{"start_time": "23:00", "end_time": "24:00"}, {"start_time": "00:00", "end_time": "06:00"}],
         "location": "Asia/Manila"}]}]
    critical = requests.get(url + "/api/v1/provisioning/policies", auth=CREDENTIALS).json()["routes"][0]
    assert critical["mute_time_intervals"] == ["quiet-hours"]
    assert requests.get(url + "/api/v1/provisioning/mute-timings/quiet-hours", auth=CREDENTIALS).status_code == 501


@pytest.mark.parametrize("interval, message", [
    ({"times": [{"start_time": "23:00", "end_time": "06:00"}]}, "start time cannot be equal or greater than end time"),
    ({"times": [{"start_time": "7:00", "end_time": "08:00"}]}, "couldn't parse timestamp 7:00, invalid format"),
    ({"weekdays": ["friday:monday"]}, "start day cannot be before end day"),
    ({"weekdays": ["funday"]}, "funday is not a valid weekday"),
    ({"days_of_month": ["-3:5"]}, "end day must be negative if start day is negative"),
    ({"months": ["december:january"]}, "end month january is before start month december"),
    ({"location": "Asia/Nowhere"}, "unknown time zone Asia/Nowhere"),
])
def test_a_mute_timing_alertmanager_cannot_read_stops_provisioning(tmp_path, interval, message):
    copy = tmp_path / "provisioning"
    shutil.copytree(PROVISIONING, copy)
    (copy / "alerting" / "mute.yml").write_text(yaml.safe_dump(
        {"apiVersion": 1, "muteTimes": [{"orgId": 1, "name": "m", "time_intervals": [interval]}]}), encoding="utf-8")
    with pytest.raises(grafana.ProvisioningError, match=re.escape(message)):
        grafana.load(copy, "http://127.0.0.1:1")


def test_mute_timing_ranges_are_given_back_normalised(tmp_path):
    copy = tmp_path / "provisioning"
    shutil.copytree(PROVISIONING, copy)
    (copy / "alerting" / "mute.yml").write_text(yaml.safe_dump({"apiVersion": 1, "muteTimes": [
        {"orgId": 1, "name": "m", "time_intervals": [{"weekdays": ["Monday:Friday", "sunday:sunday"],
                                                      "months": ["may:august", "12"], "days_of_month": ["1:5"],
                                                      "years": ["2026"]}]}]}), encoding="utf-8")
    (interval,) = grafana.load(copy, "http://127.0.0.1:1").mute_times[0]["time_intervals"]
    assert interval == {"weekdays": ["monday:friday", "sunday"], "days_of_month": ["1:5"], "months": ["5:8", "12"],
                        "years": ["2026"]}


def test_email_addresses_as_a_list_stop_grafana_as_its_validation_does(tmp_path):
    """grafana/alerting email NewConfig: addresses is a string; a YAML list fails json.Unmarshal, Grafana
    does not start, and the message names the contact point and the integration."""
    copy = tmp_path / "provisioning"
    shutil.copytree(PROVISIONING, copy)
    points = copy / "alerting" / "contact-points.yml"
    text = points.read_text(encoding="utf-8")
    separated = "addresses: devops@escashop.ph;oncall@escashop.ph;database-team@escashop.ph\n"
    assert text.count(separated) == 1
    listed = "addresses: [devops@escashop.ph, oncall@escashop.ph, database-team@escashop.ph]\n"
    points.write_text(text.replace(separated, listed), encoding="utf-8")
    with pytest.raises(grafana.ProvisioningError) as err:
        grafana.load(copy, "http://127.0.0.1:1")
    assert 'failed to validate integration "midnight-critical" (UID ' in str(err.value)
    assert str(err.value).endswith('of type "email": failed to unmarshal settings: json: cannot unmarshal array into '
                                   "Go struct field emailSettingsRaw.addresses of type string")


def test_a_key_grafana_does_not_know_is_ignored_as_grafana_ignores_it_and_listed(tmp_path):
    """config_reader.go reads with plain yaml.Unmarshal: a misspelt noDataState leaves the default (NoData)."""
    copy = tmp_path / "provisioning"
    shutil.copytree(PROVISIONING, copy)
    rules = copy / "alerting" / "rules.yml"
    text = rules.read_text(encoding="utf-8")
    assert "noDataState: OK" in text
    changed = text.replace("  interval: 1m", "  interval: 1m\n  evaluate_every: 1m", 1).replace(
        "noDataState: OK", "no_data_state: OK", 1)
    rules.write_text(changed, encoding="utf-8")
    loaded = grafana.load(copy, "http://127.0.0.1:1")
    assert [i.split(": ", 1)[1] for i in loaded.ignored] == [
        "groups[0]: key 'evaluate_every' is not one Grafana knows; it ignores it",
        "groups[0].rules[0]: key 'no_data_state' is not one Grafana knows; it ignores it"]
    assert loaded.rules[0]["noDataState"] == "NoData"  # Grafana's default stays in force
    assert grafana.load(PROVISIONING, "http://127.0.0.1:1").ignored == []


# --- Grafana: auth, health, datasources, dashboards ---

def test_health_says_the_database_is_failing_with_a_503(serve):
    app = grafana.Grafana(grafana.load(PROVISIONING, "http://127.0.0.1:1"), USER, PASSWORD, TOKEN,
                          database_failing=True)
    health = requests.get(serve(grafana.make_app(app)) + "/api/health")
    assert health.status_code == 503
    assert health.text == '{\n  "commit": "sandbox",\n  "database": "failing",\n  "version": "11.3.0"\n}'


def test_auth(quiet_grafana):
    health = requests.get(quiet_grafana + "/api/health")
    assert health.status_code == 200 and health.json()["database"] == "ok"
    url = quiet_grafana + "/api/datasources/uid/loki"
    cases = [({}, "auth.unauthorized"), ({"auth": (USER, "wrong")}, "password-auth.failed"),
             ({"headers": {"Authorization": "Bearer wrong"}}, "api-key.invalid")]
    for kwargs, message_id in cases:
        response = requests.get(url, **kwargs)
        assert response.status_code == 401 and response.json()["messageId"] == message_id
    assert requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).json()["uid"] == "loki"
    assert requests.get(url, auth=CREDENTIALS).json()["type"] == "loki"


def test_datasource_health_asks_loki_like_the_loki_plugin(grafana_at, serve):
    queries = []

    def answer(query):
        queries.append(query)
        return vector(2)

    up = grafana_at(serve(fake_loki(answer)))
    ok = requests.get(up + "/api/datasources/uid/loki/health", auth=CREDENTIALS)
    assert ok.status_code == 200
    assert ok.json() == {"message": "Successfully queried the Loki API.", "status": "OK"}
    assert queries == ["vector(1)+vector(1)"]

    # Loki 2.6.1 (the emulated one too) has no vector(): it answers the check with a parse error.
    old = grafana_at(serve(make_loki_app(LokiStore())))
    rejected = requests.get(old + "/api/datasources/uid/loki/health", auth=CREDENTIALS)
    assert rejected.status_code == 400 and rejected.json()["status"] == "ERROR"
    assert rejected.json()["message"].endswith(": parse error at line 1, col 1: syntax error: unexpected IDENTIFIER")

    down = grafana_at(dead_url())
    refused = requests.get(down + "/api/datasources/uid/loki/health", auth=CREDENTIALS)
    assert refused.status_code == 400 and refused.json()["status"] == "ERROR"
    assert refused.json()["message"].startswith("There was an error returned querying the Loki API.: Get ")
    assert "connection refused" in refused.json()["message"]

    missing = requests.get(down + "/api/datasources/uid/nope", auth=CREDENTIALS)
    assert missing.status_code == 404 and missing.json() == {"message": "Data source not found"}


def test_dashboard_and_unknown_paths(quiet_grafana):
    found = requests.get(quiet_grafana + "/api/dashboards/uid/midnight-reset-dashboard", auth=CREDENTIALS).json()
    assert found["dashboard"]["title"] == "ESCashop Midnight Reset Monitoring"
    assert found["meta"]["provisioned"] is True
    assert all(t["datasource"] == {"type": "loki", "uid": "loki"} and 'container=~"escashop-backend.*"' in t["expr"]
               for panel in found["dashboard"]["panels"] for t in panel["targets"])
    missing = requests.get(quiet_grafana + "/api/dashboards/uid/nope", auth=CREDENTIALS)
    assert missing.status_code == 404 and missing.json() == {"message": "Dashboard not found"}
    unknown = requests.get(quiet_grafana + "/api/nothing/here", auth=CREDENTIALS)
    assert unknown.status_code == 404 and unknown.json() == {"message": "Not found"}
    refused = requests.post(quiet_grafana + "/api/v1/provisioning/alert-rules", auth=CREDENTIALS, json={})
    assert refused.status_code == 501 and "sandbox" in refused.json()["message"]


def rule_states(grafana_url):
    """The rules of the one group, from the Prometheus-compatible rules API."""
    body = requests.get(grafana_url + "/api/prometheus/grafana/api/v1/rules", auth=CREDENTIALS).json()
    return body["data"]["groups"][0]["rules"]


def test_rule_states_follow_one_evaluation(grafana_at, serve):
    quiet = grafana_at(serve(fake_loki(lambda query: vector())))
    groups = requests.get(quiet + "/api/prometheus/grafana/api/v1/rules", auth=CREDENTIALS).json()["data"]["groups"]
    assert [g["name"] for g in groups] == ["midnight_reset_alerts"] and groups[0]["file"] == "alerts"
    assert groups[0]["interval"] == 60
    # Written just now: not evaluated yet, as Grafana before its first tick.
    assert {(r["name"], r["state"], r["health"]) for r in groups[0]["rules"]} == {
        ("Midnight Reset Errors", "inactive", "ok"), ("Midnight Reset Process Failure", "inactive", "ok"),
        ("Midnight Queue Reset Anomaly", "inactive", "ok")}


T0 = datetime(2026, 11, 29, 5, 0, tzinfo=timezone.utc)  # the failure lines' counts are 1 from T0 for 12 minutes


def loki_failing_from_t0(request):
    """Loki's answer to a rule query: 1 from T0 to T0 + 12 min, else no series."""
    def value(t):
        return T0.timestamp() <= t < T0.timestamp() + 720
    if request.path.endswith("/query_range"):
        start, end, step = (int(float(request.arg(k))) for k in ("start", "end", "step"))
        points = [[t, "1"] for t in range(start, end + 1, step) if value(t)]
        result = [{"metric": {}, "values": points}] if points else []
        return json_response(200, {"status": "success", "data": {"resultType": "matrix", "result": result}})
    at = float(request.arg("time"))
    return vector(1 if value(at) else None) if request.arg("query") != "vector(1)+vector(1)" else vector(2)


def grafana_over(serve, directory, version, clock, answer=loki_failing_from_t0):
    loki = App("fake-loki")
    for path in ("/loki/api/v1/query", "/loki/api/v1/query_range"):
        loki.route("GET", path)(answer)
    provisioning = grafana.load(directory, serve(loki), rules_updated=T0 - timedelta(minutes=10),
                                grafana12=version.startswith("12."))
    return serve(grafana.make_app(grafana.Grafana(provisioning, USER, PASSWORD, TOKEN, clock=lambda: clock[0],
                                                  version=version)))


def by_uid(url):
    return {r["uid"]: r for r in rule_states(url)}


def test_a_rule_is_pending_for_its_for_then_firing_then_inactive(serve):
    """Issue 13: the rules API reads the state history's machine: `for` 1m makes 002 Pending at T0 and
    Alerting a tick later; 001 (for 0s) fires at once; both are inactive once the condition is false."""
    clock = [T0 + timedelta(seconds=30)]
    url = grafana_over(serve, PROVISIONING, "11.3.0", clock)
    rules = by_uid(url)
    assert rules["midnight_errors_001"]["state"] == "firing"
    assert rules["midnight_errors_001"]["activeAt"] == "2026-11-29T05:00:00Z"
    pending = rules["midnight_reset_failure_002"]
    assert (pending["state"], pending["alerts"][0]["state"], pending["alerts"][0]["activeAt"]) == (
        "pending", "Pending", "2026-11-29T05:00:00Z")
    assert pending["lastEvaluation"] == "2026-11-29T05:00:00Z" and pending["duration"] == 60
    clock[0] = T0 + timedelta(seconds=90)
    firing = by_uid(url)["midnight_reset_failure_002"]
    assert (firing["state"], firing["activeAt"], firing["alerts"][0]["state"]) == (
        "firing", "2026-11-29T05:01:00Z", "Alerting")
    clock[0] = T0 + timedelta(minutes=20)
    assert {r["state"] for r in rule_states(url)} == {"inactive"}


def test_a_query_loki_rejects_is_health_error_with_lokis_text(serve):
    rejection = "parse error at line 1, col 63: syntax error: unexpected )"
    url = grafana_over(serve, PROVISIONING, "11.3.0", [T0], answer=lambda request: text(400, rejection))
    rule = rule_states(url)[0]
    assert rule["health"] == "error" and rule["state"] == "inactive"  # execErrState Error
    assert rule["lastError"] == f"[sse.dataQueryError] failed to execute query [A]: {rejection}"
    assert rule["alerts"][0]["state"] == "Error"


def test_grafana_12_holds_a_resolved_alert_recovering_for_keep_firing_for(serve, tmp_path):
    """Issue 13: keepFiringFor 30m (Grafana 12): 8 minutes after the condition turned false the rule is
    recovering and its alert Recovering, not inactive; Grafana 11 refuses the key (a Grafana 12 one)."""
    copy = tmp_path / "escashop"
    shutil.copytree(PROVISIONING, copy)
    rules_file = copy / "alerting" / "rules.yml"
    content = rules_file.read_text(encoding="utf-8")
    rules_file.write_text(content.replace("    for: 0s\n", "    for: 0s\n    keepFiringFor: 30m\n", 1),
                          encoding="utf-8")
    clock = [T0 + timedelta(minutes=20)]
    rules = by_uid(grafana_over(serve, copy, "12.1.1", clock))
    recovering = rules["midnight_errors_001"]
    # The query finds nothing now, and noDataState OK resolves through Normal's path, reason NoData.
    assert (recovering["state"], recovering["alerts"][0]["state"]) == ("recovering", "Recovering (NoData)")
    assert recovering["alerts"][0]["activeAt"] == "2026-11-29T05:12:00Z"  # when it turned Recovering
    assert rules["midnight_reset_failure_002"]["state"] == "inactive"
    alert_rules = requests.get(grafana_over(serve, copy, "12.1.1", clock) + "/api/v1/provisioning/alert-rules",
                               auth=CREDENTIALS).json()
    assert [r["keep_firing_for"] for r in alert_rules] == ["30m", "0s", "0s"]
    assert "missingSeriesEvalsToResolve" not in alert_rules[0]  # omitempty
    with pytest.raises(grafana.ProvisioningError, match="keepFiringFor.*Grafana 12 key"):
        grafana.load(copy, "http://127.0.0.1:9")


@pytest.mark.parametrize("version, file, export, templates", [
    ("9.5.21", "alerts", 404, []), ("10.4.19", "alerts", 200, []),
    ("11.3.0", "EscaShop/alerts", 200, None), ("12.1.1", "EscaShop/alerts", 200, None)])
def test_each_grafana_version_answers_as_it_does(serve, tmp_path, version, file, export, templates):
    """Issue 13: /api/health's version; 9.x has no contact-point export; templates [] before 11.x, null
    from it; `file` the folder's full path from 11.x (nested folders), the folder API names the parents."""
    provisioning = grafana.load(PROVISIONING, dead_url(), grafana12=version.startswith("12."))
    provisioning.templates = []
    parents = {"alerts": ["EscaShop"]} if not version.startswith(("9.", "10.")) else {}
    url = serve(grafana.make_app(grafana.Grafana(provisioning, USER, PASSWORD, TOKEN, version=version,
                                                 folder_parents=parents)))
    assert requests.get(url + "/api/health").json()["version"] == version
    assert requests.get(url + "/api/v1/provisioning/contact-points/export", auth=CREDENTIALS).status_code == export
    assert requests.get(url + "/api/v1/provisioning/templates", auth=CREDENTIALS).json() == templates
    groups = requests.get(url + "/api/prometheus/grafana/api/v1/rules", auth=CREDENTIALS).json()["data"]["groups"]
    assert groups[0]["file"] == file
    folder = requests.get(url + f"/api/folders/{groups[0]['folderUid']}", auth=CREDENTIALS).json()
    assert folder["title"] == "alerts"
    assert [p["title"] for p in folder.get("parents", [])] == parents.get("alerts", [])
    if version.startswith(("9.", "10.")):
        with pytest.raises(ValueError, match="nested folders are Grafana 11's"):
            grafana.Grafana(provisioning, USER, PASSWORD, TOKEN, version=version, folder_parents={"alerts": ["X"]})


@pytest.mark.parametrize("name, minutes, firing", [
    ("healthy", 3, set()),
    ("failed-night", 3, {"midnight_errors_001", "midnight_reset_failure_002", "midnight_queue_anomaly_003"}),
    ("skipped-night", 1, {"midnight_queue_anomaly_003"}),
    ("failed-night", 30, set()),
])
def test_the_provisioned_rules_fire_on_the_scenarios(serve, name, minutes, firing):
    """Each rule's query runs in the emulated Loki over a scenario's last night."""
    sc = scenario.load(name)
    when = sc.reset_instant(NIGHT) + timedelta(minutes=minutes)
    store = LokiStore(clock=lambda: scenario.to_ns(when))  # retention as of `when`, not of the machine's clock
    for labels, entries in sc.render(NIGHT, when).streams():
        store.add(labels, entries)
    provisioning = grafana.load(PROVISIONING, serve(make_loki_app(store)), rules_updated=when - timedelta(hours=1))
    url = serve(grafana.make_app(grafana.Grafana(provisioning, USER, PASSWORD, TOKEN, clock=lambda: when)))
    rules = rule_states(url)
    assert {r["uid"]: r["health"] for r in rules} == dict.fromkeys(["midnight_errors_001", "midnight_reset_failure_002",
                                                                    "midnight_queue_anomaly_003"], "ok")
    assert {r["uid"] for r in rules if r["state"] == "firing"} == firing


# --- backend ---

@pytest.fixture
def backend_at(serve):
    def start(name):
        store = RecordingStore()
        rendered = scenario.load(name).render(NIGHT, NOW)
        shipper = promtail.Shipper("http://127.0.0.1:3100", store=store)
        return serve(backend.make_app(backend.Backend(rendered, "backend-token", shipper))), store
    return start


def test_backend_health_and_scheduler_status(backend_at):
    url, store = backend_at("healthy")
    health = requests.get(url + "/health")
    assert health.status_code == 200 and health.json()["status"] == "OK"
    assert datetime.strptime(health.json()["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert len(health.json()["timestamp"]) == 24  # milliseconds and Z, as Date.toISOString()

    missing = requests.get(url + "/api/scheduler/status")
    assert missing.status_code == 401 and missing.json() == {"success": False, "error": "Access token required"}
    wrong = requests.get(url + "/api/scheduler/status", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["success"] is False

    before = datetime.now(MANILA)
    status = requests.get(url + "/api/scheduler/status", headers={"Authorization": "Bearer backend-token"}).json()
    after = datetime.now(MANILA)
    expected = {f"{moment.date() + timedelta(days=1)} 00:00:00 Philippine Time" for moment in (before, after)}
    assert status["success"] is True and status["data"]["nextReset"] in expected
    assert status["data"]["isScheduled"] is True and status["data"]["timezone"] == "Asia/Manila"
    last = datetime.strptime(status["data"]["lastReset"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert last.date() == date(2026, 11, 28) and last.hour == 16  # the last night's 00:00 PH is 16:00 UTC

    page = requests.get(url + "/api/health/database")
    assert page.status_code == 404 and "<pre>Cannot GET /api/health/database</pre>" in page.text
    # Every request became an Express access line on the container's stdout stream.
    lines = [line for _, entries in store.added for _, line in entries]
    assert len(lines) == 5 and '"GET /api/health/database HTTP/1.1" 404' in lines[-1]
    assert store.added[0][0] == {"container": "escashop-backend-prod", "service": "backend", "stream": "stdout"}


def test_backend_last_reset_is_null_after_a_restart_without_success():
    rendered = scenario.load("restart-in-window").render(NIGHT, NOW)
    assert rendered.started < rendered.last_reset  # the 00:00 reset after the 23:52 restart succeeded
    # Rendered before midnight, the restart is the latest event: nothing succeeded since.
    early = scenario.load("restart-in-window").render(NIGHT, scenario.load("healthy").reset_instant(NIGHT))
    assert early.started is not None and early.last_reset is None


# --- Promtail ---

def test_promtail_metrics_count_what_was_shipped(serve):
    store = RecordingStore()
    shipper = promtail.Shipper("http://127.0.0.1:3100", store=store)
    streams = scenario.load("healthy").render(NIGHT, NOW).streams()
    shipper.ship(streams)
    url = serve(promtail.make_app(promtail.Promtail(shipper)))
    assert requests.get(url + "/ready").text == "Ready"
    response = requests.get(url + "/metrics")
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    from prometheus_client.parser import text_string_to_metric_families
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(response.text) for s in family.samples}
    host = (("host", "127.0.0.1:3100"),)
    shipped = sum(len(entries) for _, entries in streams)
    assert samples[("promtail_sent_entries_total", host)] == shipped
    assert samples[("promtail_dropped_entries_total", host)] == 0
    assert samples[("promtail_request_duration_seconds_count", host + (("status_code", "204"),))] == 1
    assert samples[("promtail_targets_active_total", ())] == 2
    assert ("process_start_time_seconds", ()) in samples
    assert "# HELP promtail_sent_entries_total Number of log entries sent to the ingester." in response.text


def test_promtail_counts_retries_and_drops_when_loki_is_down():
    shipper = promtail.Shipper(dead_url())
    status, _ = shipper.ship([({"job": "x"}, [(1, "line")])])
    assert status == -1 and shipper.dropped_entries == 1 and shipper.batch_retries == 1
    assert "promtail_batch_retries_total{host=" in promtail.Promtail(shipper).metrics()


# --- scenarios ---

def last_night_lines(name):
    sc = scenario.load(name)
    reset = sc.reset_instant(NIGHT)
    return [(round((instant - reset).total_seconds(), 3), stream, line)
            for instant, stream, line, _ in sc.render(NIGHT, NOW).lines
            if -600 < (instant - reset).total_seconds() < 900 and "HTTP/1.1" not in line]


def test_healthy_last_night():
    lines = last_night_lines("healthy")
    assert lines[0] == (0.05, "stdout", "🚀 Starting daily queue reset at 2026-11-29 00:00:00 Philippine Time")
    assert lines[1] == (0.214, "stdout", "[2026-11-28T16:00:00.214Z] Starting daily queue reset...")
    assert lines[2][2].startswith("Daily snapshot created: { date: '2026-11-28', totalCustomers: ")
    assert [line for _, _, line in lines[3:-1]] == [
        "Queue data archived successfully", "Skipping analytics update (not implemented)",
        "Analytics updated with final metrics", "Active queue reset completed", "Daily counters reset",
        "Reset activity logged", "Daily queue reset completed successfully",
        "Daily reset notification broadcasted to all clients"]
    offset, _, done = lines[-1]
    duration = int(done.removeprefix("✅ Daily reset completed successfully in ").removesuffix("ms"))
    assert 1500 <= duration <= 2500 and offset == round(0.05 + duration / 1000, 3)


def test_failed_night_last_night():
    error = "timeout exceeded when trying to connect"
    lines = last_night_lines("failed-night")
    assert [(stream, line) for _, stream, line in lines[:2]] == [
        ("stdout", "🚀 Starting daily queue reset at 2026-11-29 00:00:00 Philippine Time"),
        ("stdout", "[2026-11-28T16:00:00.214Z] Starting daily queue reset...")]
    assert [(stream, line) for _, stream, line in lines[2:5]] == [
        ("stderr", f"Daily queue reset failed: {error}"), ("stderr", f"❌ Daily reset failed: {error}"),
        ("stdout", "🔄 Attempting reset recovery...")]
    assert lines[5][1:] == ("stdout", "🔄 Retry attempt: Performing daily reset...")
    assert lines[5][0] - lines[3][0] == pytest.approx(300, abs=0.01)  # 5 minutes after the failure
    assert lines[6][2].startswith("[2026-11-28T16:05:0") and lines[6][2].endswith("Z] Starting daily queue reset...")
    assert [(stream, line) for _, stream, line in lines[7:]] == [
        ("stderr", f"Daily queue reset failed: {error}"), ("stderr", f"❌ Recovery attempt failed: {error}")]


def test_skipped_night_last_night():
    assert last_night_lines("skipped-night") == [
        (0.1, "stdout", "ℹ\ufe0f Daily reset already performed today, skipping...")]


def test_restart_in_window_last_night():
    lines = last_night_lines("restart-in-window")
    assert lines[:2] == [(-476.912, "stdout", "🕐 Initializing Daily Queue Reset Scheduler..."),
                         (-476.905, "stdout", "📅 Daily reset cron job scheduled for midnight Philippine Time")]
    assert datetime.combine(NIGHT, time(0), MANILA) + timedelta(seconds=-476.912) == datetime(
        2026, 11, 28, 23, 52, 3, 88000, MANILA)
    assert lines[2][2].startswith("🚀 Starting daily queue reset")
    assert lines[-1][2].startswith("✅ Daily reset completed")


def test_every_night_before_the_last_is_good_and_recent_traffic_is_there():
    rendered = scenario.load("failed-night").render(NIGHT, NOW)
    starts = [line for _, _, line, _ in rendered.lines if line.startswith("🚀")]
    assert len(starts) == 7 and rendered.first_night == date(2026, 11, 23)
    recent = [instant for instant, _, line, _ in rendered.lines if instant >= NOW - timedelta(hours=1)]
    assert len(recent) == 60 and max(recent) <= NOW


def test_the_rules_were_written_before_the_week_unless_the_scenario_changes_them():
    first = date(2026, 11, 23)
    assert scenario.load("healthy").rules_updated(first) == datetime(2026, 11, 20, 16, tzinfo=timezone.utc)
    assert scenario.load("rules-changed-in-week").rules_updated(first) == datetime(2026, 11, 28, 2, tzinfo=timezone.utc)
    when = datetime(2026, 11, 28, 2, tzinfo=timezone.utc)
    rules = grafana.load(PROVISIONING, "http://127.0.0.1:1", rules_updated=when).rules
    assert {r["updated"] for r in rules} == {"2026-11-28T02:00:00Z"}


def test_unknown_scenario_lists_the_available_ones():
    available = "available: " + ", ".join([
        "contact-placeholder", "contact-wrong-grafana-link", "dashboard-broken", "daytime-failure",
        "drill-before-grafana", "failed-night", "healthy", "labels-unbounded", "live-drop-lines",
        "live-duplicate-start", "loki-ingestion-limited", "loki-retention-ignored", "loki-short-retention",
        "promtail-docker-no-socket", "promtail-idle-jobs",
        "promtail-path-matches-nothing", "restart-in-window", "route-muted-at-midnight", "rule-folder-nested",
        "rule-invalid-query", "rule-keeps-firing", "rule-never-fires", "rule-nodata-alerting", "rule-wrong-route",
        "rule-wrong-severity",
        "rules-changed-in-week", "skipped-night", "slow-reset"])
    with pytest.raises(scenario.ScenarioError, match=available):
        scenario.load("no-such-night")


# --- the CLI ---

def test_cli_writes_the_env_file_and_stops_on_sigterm(sandboxes):
    # Its clock set to NOW (--now), so that Loki's retention never overtakes the night.
    box = sandboxes("--scenario", "skipped-night", "--night", "2026-11-29", "--now", NOW.isoformat(),
                    env={"SANDBOX_GRAFANA_PASSWORD": "pw-from-env", "SANDBOX_BACKEND_TOKEN": "tok-from-env"})
    assert box.first_line.strip() == f"sandbox ready: {box.env_file}"
    assert set(box.env) == {"OPSVERIFY_GRAFANA_URL", "OPSVERIFY_GRAFANA_USER", "OPSVERIFY_GRAFANA_PASSWORD",
                            "OPSVERIFY_LOKI_URL", "OPSVERIFY_PROMTAIL_URL", "OPSVERIFY_BACKEND_URL",
                            "OPSVERIFY_BACKEND_TOKEN", "OPSVERIFY_CONTAINER", "OPSVERIFY_WEEK_START",
                            "OPSVERIFY_NIGHT", "OPSVERIFY_SANDBOX", "OPSVERIFY_ALERT_DRILLS", "OPSVERIFY_NOW"}
    assert box.env["OPSVERIFY_GRAFANA_PASSWORD"] == "pw-from-env"
    # The drill: 14:00 Manila the afternoon before Day 1.
    assert box.env["OPSVERIFY_ALERT_DRILLS"] == "2026-11-22T06:00:00.000Z sandbox-devops-team"
    assert box.env["OPSVERIFY_WEEK_START"] == "2026-11-23" and box.env["OPSVERIFY_NIGHT"] == "2026-11-29"
    assert box.env["OPSVERIFY_SANDBOX"] == "skipped-night"
    assert box.env["OPSVERIFY_CONTAINER"] == "escashop-backend-prod"
    status = requests.get(box.env["OPSVERIFY_BACKEND_URL"] + "/api/scheduler/status",
                          headers={"Authorization": "Bearer tok-from-env"})
    assert status.json()["success"] is True
    assert requests.get(box.env["OPSVERIFY_PROMTAIL_URL"] + "/ready").text == "Ready"
    after_reset = scenario.load("skipped-night").reset_instant(NIGHT) + timedelta(minutes=5)
    skipped = requests.get(box.env["OPSVERIFY_LOKI_URL"] + "/loki/api/v1/query", params={
        "query": 'sum(count_over_time({container="escashop-backend-prod"} |= "already performed today" [10m]))',
        "time": str(int(after_reset.timestamp()))}).json()
    assert skipped["data"]["result"][0]["value"][1] == "1"
    assert box.stop() == 0


def test_cli_now_sets_the_clock_of_everything_the_sandbox_dates(sandboxes):
    box = sandboxes("--now", "2027-01-01T00:30:00+08:00")  # no --night: the night follows the clock too
    now = datetime.fromisoformat(box.env["OPSVERIFY_NOW"])
    assert timedelta(0) <= now - datetime(2026, 12, 31, 16, 30, tzinfo=timezone.utc) < timedelta(seconds=30)
    assert box.env["OPSVERIFY_NIGHT"] == "2027-01-01" and box.env["OPSVERIFY_WEEK_START"] == "2026-12-26"
    health = requests.get(box.env["OPSVERIFY_BACKEND_URL"] + "/health").json()
    assert health["timestamp"].startswith("2026-12-31T16:3")
    status = requests.get(box.env["OPSVERIFY_BACKEND_URL"] + "/api/scheduler/status",
                          headers={"Authorization": f"Bearer {box.env['OPSVERIFY_BACKEND_TOKEN']}"}).json()
    assert status["data"]["nextReset"] == "2027-01-02 00:00:00 Philippine Time"
    # Loki's "now" is the clock's too: a query without a time answers as of 00:30 Manila, New Year's night.
    query = requests.get(box.env["OPSVERIFY_LOKI_URL"] + "/loki/api/v1/query", params={
        "query": 'sum(count_over_time({container="escashop-backend-prod"} |= "Daily reset completed" [1h]))'})
    assert query.json()["data"]["result"][0]["value"][1] == "1"
    assert box.stop() == 0


def test_cli_now_needs_an_instant_with_its_offset():
    result = subprocess.run([sys.executable, "-m", "sandbox", "--now", "2027-01-01T00:30:00"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--now: '2027-01-01T00:30:00' has no UTC offset" in result.stderr


def test_cli_down_loki_leaves_a_url_that_refuses(sandboxes):
    box = sandboxes("--down", "loki")
    with pytest.raises(requests.ConnectionError):
        requests.get(box.env["OPSVERIFY_LOKI_URL"] + "/ready", timeout=5)
    health = requests.get(box.env["OPSVERIFY_GRAFANA_URL"] + "/api/datasources/uid/loki/health",
                          auth=("admin", box.env["OPSVERIFY_GRAFANA_PASSWORD"]))
    assert health.status_code == 400 and "connection refused" in health.json()["message"]
    assert box.stop() == 0


OWN_STREAMS = ("--stream-label", "sandbox=a")  # the receiving sandbox's week in streams of its own
FAILURE_COUNT = 'sum(count_over_time({selector} |= "Recovery attempt failed" [15m]))'


def failure_lines(box, selector='{container="escashop-backend-prod"}'):
    """The failed night's "Recovery attempt failed" lines in the Loki `box` pushed into."""
    end = datetime.combine(date.fromisoformat(box.env["OPSVERIFY_NIGHT"]), time(0, 10), MANILA).timestamp()
    found = requests.get(box.env["OPSVERIFY_LOKI_URL"] + "/loki/api/v1/query", params={
        "query": FAILURE_COUNT.format(selector=selector), "time": str(int(end))}).json()
    return [int(sample["value"][1]) for sample in found["data"]["result"]]


def test_cli_external_loki_pushes_into_another_sandbox(sandboxes):
    # Both clocks read NOW: B's week, pushed into A, is within A's reject_old_samples_max_age (168h).
    a = sandboxes("--scenario", "healthy", *OWN_STREAMS, "--now", NOW.isoformat())
    b = sandboxes("--scenario", "failed-night", "--external-loki", a.env["OPSVERIFY_LOKI_URL"], "--volume", "300",
                  "--now", NOW.isoformat())
    assert b.env["OPSVERIFY_LOKI_URL"] == a.env["OPSVERIFY_LOKI_URL"]
    assert failure_lines(b) == [1]
    assert b.stop() == 0 and a.stop() == 0


def test_cli_external_loki_refuses_a_week_behind_what_its_streams_hold(sandboxes):
    # A holds the same week: B's first lines are days behind the newest line of the same stream.
    a = sandboxes("--scenario", "healthy", "--now", NOW.isoformat())
    result = subprocess.run([sys.executable, "-m", "sandbox", "--scenario", "failed-night", "--external-loki",
                             a.env["OPSVERIFY_LOKI_URL"], "--now", NOW.isoformat()],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "refused the scenario's lines (HTTP 400)" in result.stderr
    assert "reason: 'entry too far behind' for stream: {container=\"escashop-backend-prod\"" in result.stderr
    assert "with --stream-label" in result.stderr
    assert a.stop() == 0


def test_cli_stream_label_loads_the_week_into_streams_of_its_own(sandboxes):
    a = sandboxes("--scenario", "healthy", "--now", NOW.isoformat())
    b = sandboxes("--scenario", "failed-night", "--external-loki", a.env["OPSVERIFY_LOKI_URL"],
                  "--stream-label", "opsverify_load=b", "--volume", "100", "--now", NOW.isoformat())
    selector = b.env["OPSVERIFY_LOG_SELECTOR"]
    assert selector == '{container="$container", opsverify_load="b"}'
    assert failure_lines(b, selector.replace("$container", b.env["OPSVERIFY_CONTAINER"])) == [1]
    assert failure_lines(a) == [1]  # the container's streams hold both weeks: A's healthy, B's failed
    assert b.stop() == 0 and a.stop() == 0


def test_cli_external_loki_that_asks_to_slow_down_gets_every_line(sandboxes):
    # A's Loki takes 256 KiB/s after a 512 KiB burst; the week with its volume is about 1 MB.
    a = sandboxes("--scenario", "loki-ingestion-limited", *OWN_STREAMS, "--now", NOW.isoformat())
    b = sandboxes("--scenario", "healthy", "--external-loki", a.env["OPSVERIFY_LOKI_URL"], "--volume", "1000",
                  "--now", NOW.isoformat(), timeout=90)
    assert b.stop() == 0 and a.stop() == 0
    assert "asked to slow down;" in b.process.stderr.read()  # and it read every line back (or it would not start)


def test_cli_external_loki_that_refuses_the_week_stops_the_sandbox_loudly(sandboxes):
    # A's clock two days ahead of B's: B's first lines are older than A's 168h limit.
    a = sandboxes("--scenario", "healthy", *OWN_STREAMS, "--now", (NOW + timedelta(days=2)).isoformat())
    result = subprocess.run([sys.executable, "-m", "sandbox", "--scenario", "failed-night", "--external-loki",
                             a.env["OPSVERIFY_LOKI_URL"], "--now", NOW.isoformat()],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "refused the scenario's lines (HTTP 400)" in result.stderr and "timestamp too old" in result.stderr
    assert a.stop() == 0


def test_cli_startup_errors_exit_2():
    result = subprocess.run([sys.executable, "-m", "sandbox", "--scenario", "nope"], cwd=ROOT,
                            capture_output=True, text=True, timeout=20)
    assert result.returncode == 2 and "unknown scenario 'nope'; available:" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--grafana-history", "prometheus"], "Grafana 11.3: the prometheus state history backend is Grafana 12's"),
    (["--scenario", "rule-folder-nested", "--grafana-version", "10.4"], "nested folders are Grafana 11's"),
    (["--scenario", "rule-keeps-firing", "--grafana-version", "11.3"], "'keepFiringFor': it is a Grafana 12 key")])
def test_cli_refuses_what_the_grafana_version_it_plays_does_not_have(tmp_path, args, message):
    result = subprocess.run([sys.executable, "-m", "sandbox", "--env-file", str(tmp_path / "x.env"),
                             "--now", NOW.isoformat(), *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_cli_prints_each_key_grafana_ignores(tmp_path):
    copy = tmp_path / "provisioning"
    shutil.copytree(PROVISIONING, copy)
    rules = copy / "alerting" / "rules.yml"
    rules.write_text(rules.read_text(encoding="utf-8").replace("noDataState: OK", "no_data_state: OK", 1),
                     encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "sandbox", "--grafana-provisioning", str(copy), "--env-file",
                                str(tmp_path / "env")], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout.readline().startswith("sandbox ready:")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert "grafana provisioning: " in stderr and "rules.yml: groups[0].rules[0]: key 'no_data_state' is not one " \
        "Grafana knows; it ignores it" in stderr


def test_cli_grafana_that_would_not_start_stops_the_sandbox(tmp_path):
    copy = tmp_path / "provisioning"
    shutil.copytree(PROVISIONING, copy)
    points = copy / "alerting" / "contact-points.yml"
    points.write_text(points.read_text(encoding="utf-8").replace(
        "addresses: devops@escashop.ph;oncall@escashop.ph;database-team@escashop.ph",
        "addresses: [devops@escashop.ph, oncall@escashop.ph]"), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "sandbox", "--grafana-provisioning", str(copy),
                             "--env-file", str(tmp_path / "env")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert 'failed to validate integration "midnight-critical"' in result.stderr
    assert "cannot unmarshal array into Go struct field emailSettingsRaw.addresses of type string" in result.stderr
    assert not (tmp_path / "env").exists()


def test_a_scenario_is_its_base_plus_its_own_keys(tmp_path, monkeypatch):
    """`base: healthy` gives every key of the healthy week; a key of the scenario replaces the base's whole;
    a base that is not another scenario is refused."""
    failed = scenario.load("failed-night")
    healthy = scenario.load("healthy")
    assert (failed.labels, failed.zone, failed.container) == (healthy.labels, healthy.zone, healthy.container)
    assert failed.plan[7] == ["traffic", "failed"] and 7 not in healthy.plan
    (tmp_path / "loop.yml").write_text("base: loop\nnights: 7\n", encoding="utf-8")
    monkeypatch.setattr(scenario, "SCENARIO_DIR", tmp_path)
    with pytest.raises(scenario.ScenarioError, match=r"loop.yml: base 'loop' is not another scenario"):
        scenario.load("loop")
