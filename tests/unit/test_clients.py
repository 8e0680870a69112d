"""Clients against a scripted local HTTP server: timeouts, retries, deadline, errors, parsing."""

import json
import re
import socket
import time
from datetime import datetime, timezone

import pytest
from werkzeug import Response

from captures import capture
from opsverify.clients.backend import BackendClient
from opsverify.clients.grafana import GrafanaClient
from opsverify.clients.http import BadResponse, ClientError, Deadline, Journal, NotFound, Unreachable, redact_url
from opsverify.clients.loki import LokiClient, LokiQueryError
from opsverify.clients.promtail import Job, PromtailClient
from opsverify.config import Secret

T0 = datetime(2026, 11, 28, 15, 45, tzinfo=timezone.utc)
T1 = datetime(2026, 11, 28, 16, 30, tzinfo=timezone.utc)


def make(cls, url, **kwargs):
    options = dict(deadline=Deadline(30), connect_timeout=1, read_timeout=1, retries=2, backoff=0.01)
    options.update(kwargs)
    return cls(url, **options)


def serve_capture(httpserver, path, number, **kwargs):
    c = capture(number)
    httpserver.expect_request(path, **kwargs).respond_with_data(
        c.body, status=c.status, content_type=c.headers.get("Content-Type"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- Loki ---


def test_instant_vector_values_are_strings_on_the_wire_and_numbers_here(httpserver):
    serve_capture(httpserver, "/loki/api/v1/query", 9)
    result = make(LokiClient, httpserver.url_for("")).query('count_over_time({container="x"} [5m])')
    assert result.result_type == "vector"
    assert [s.value for s in result.items] == [6.0, 2.0]
    assert result.total() == 8.0


def test_matrix_and_streams_parse(httpserver):
    serve_capture(httpserver, "/loki/api/v1/query_range", 11)
    loki = make(LokiClient, httpserver.url_for(""))
    matrix = loki.query_range("sum(...)", start=T0, end=T1, step=60)
    assert matrix.items[0].points == ((1795930200.0, 4.0), (1795930260.0, 4.0), (1795930320.0, 8.0))
    httpserver.clear()
    serve_capture(httpserver, "/loki/api/v1/query_range", 6)
    streams = loki.query_range("{job=...}", start=T0, end=T1, limit=20)
    entries = streams.entries()
    assert entries[0][0] == 1795930310074986584 and "item 1" in entries[0][1]  # oldest first


def test_times_are_sent_as_unix_nanoseconds(httpserver):
    httpserver.expect_request("/loki/api/v1/query_range", query_string={
        "query": "q", "start": "1795880700000000000", "end": "1795883400000000000", "step": "60",
    }).respond_with_json({"status": "success", "data": {"resultType": "matrix", "result": []}})
    assert make(LokiClient, httpserver.url_for("")).query_range("q", start=T0, end=T1, step=60).total() == 0


def test_a_syntax_error_is_an_invalid_query_with_lokis_message(httpserver):
    serve_capture(httpserver, "/loki/api/v1/query", 30)
    with pytest.raises(LokiQueryError) as err:
        make(LokiClient, httpserver.url_for("")).query('count_over_time({container="x"} |= "reset")')
    assert "parse error at line 1, col 63: syntax error: unexpected )" in str(err.value)
    assert "fix the query" in str(err.value)


def test_a_bad_regex_500_is_an_invalid_query_not_loki_down(httpserver):
    serve_capture(httpserver, "/loki/api/v1/query", 31)
    with pytest.raises(LokiQueryError, match="missing closing \\)"):
        make(LokiClient, httpserver.url_for("")).query('{container=~"x"} |~ "(?i)(reset"')
    assert len(httpserver.log) == 1  # a 500 is not retried


def test_other_500s_are_server_errors(httpserver):
    httpserver.expect_request("/loki/api/v1/query").respond_with_data("boom", status=500)
    with pytest.raises(BadResponse) as err:
        make(LokiClient, httpserver.url_for("")).query("q")
    assert not isinstance(err.value, LokiQueryError)
    assert err.value.status == 500 and "answered 500" in str(err.value)


def test_a_malformed_body_is_reported_with_an_excerpt(httpserver):
    httpserver.expect_request("/loki/api/v1/query").respond_with_data("<html>proxy error</html>", status=200)
    with pytest.raises(BadResponse, match=r"Loki: GET http://.*/loki/api/v1/query .*not JSON; body: <html>proxy"):
        make(LokiClient, httpserver.url_for("")).query("q")


def test_a_json_body_of_the_wrong_shape_is_a_bad_response(httpserver):
    httpserver.expect_request("/loki/api/v1/query").respond_with_json({"status": "success", "data": {}})
    with pytest.raises(BadResponse, match="not a Loki query response"):
        make(LokiClient, httpserver.url_for("")).query("q")


# --- retries, timeouts, deadline (the base all clients share) ---


def test_503_is_retried_then_succeeds(httpserver):
    httpserver.expect_ordered_request("/ready").respond_with_data("not ready", status=503)
    httpserver.expect_ordered_request("/ready").respond_with_data("ready\n", status=200)
    journal = Journal()
    assert make(LokiClient, httpserver.url_for(""), journal=journal).ready() == "ready"
    assert [e.status for e in journal.since(0)] == [503, 200]


def test_retries_are_bounded(httpserver):
    httpserver.expect_request("/ready").respond_with_data("bad gateway", status=502)
    with pytest.raises(BadResponse, match="answered 502"):
        make(LokiClient, httpserver.url_for(""), retries=2).ready()
    assert len(httpserver.log) == 3


def test_404_is_not_found_and_not_retried(httpserver):
    httpserver.expect_request("/api/dashboards/uid/nope").respond_with_json({"message": "Dashboard not found"},
                                                                           status=404)
    with pytest.raises(NotFound, match="Grafana: GET .*/api/dashboards/uid/nope answered 404"):
        make(GrafanaClient, httpserver.url_for("")).dashboard("nope")
    assert len(httpserver.log) == 1


def test_connection_refused_names_the_system_and_url_and_later_calls_fail_fast():
    port = free_port()
    loki = make(LokiClient, f"http://127.0.0.1:{port}", retries=1)
    with pytest.raises(Unreachable) as err:
        loki.ready()
    assert str(err.value).startswith(f"Loki: GET http://127.0.0.1:{port}/ready failed after 2 attempt(s): "
                                     "connection refused")
    started = time.monotonic()
    with pytest.raises(Unreachable, match="unreachable earlier in this run"):
        loki.query("q")
    assert time.monotonic() - started < 0.1


def test_a_read_timeout_is_unreachable_and_not_retried(httpserver):
    def slow(request):
        time.sleep(1.0)
        return Response("ready")

    httpserver.expect_request("/ready").respond_with_handler(slow)
    with pytest.raises(Unreachable, match=r"gave no answer within 0.3 s"):
        make(LokiClient, httpserver.url_for(""), read_timeout=0.3).ready()
    assert len(httpserver.log) <= 1


def test_a_second_read_timeout_makes_later_calls_fail_fast(httpserver):
    def slow(request):
        time.sleep(0.6)
        return Response("ready")

    httpserver.expect_request("/ready").respond_with_handler(slow)
    loki = make(LokiClient, httpserver.url_for(""), read_timeout=0.2)
    for _ in range(2):
        with pytest.raises(Unreachable, match=r"gave no answer within 0.2 s"):
            loki.ready()
    started = time.monotonic()
    with pytest.raises(Unreachable, match=r"not tried: Loki was unreachable earlier in this run \(gave no answer"):
        loki.query("q")
    assert time.monotonic() - started < 0.1


def broken_server(kind):
    """A one-connection-at-a-time server that sends half an answer, then closes (FIN) or resets (RST)."""
    import struct
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def run():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.recv(65536)
            body = b'{"status":"success","data":{"resultType":"vector","result":[]}}'
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                         % len(body) + body[:20])
            if kind == "reset":
                time.sleep(0.05)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    threading.Thread(target=run, daemon=True).start()
    return server


@pytest.mark.parametrize("kind, reason", [
    ("truncated", "the answer was cut short (fewer bytes than its Content-Length)"),
    ("reset", "connection reset"),
])
def test_a_body_cut_short_or_reset_names_what_happened(kind, reason):
    server = broken_server(kind)
    try:
        with pytest.raises(Unreachable) as err:
            make(LokiClient, f"http://127.0.0.1:{server.getsockname()[1]}", retries=1).query("q")
    finally:
        server.close()
    assert f"failed after 2 attempt(s): {reason}. Check that Loki runs" in str(err.value)


def test_a_proxys_html_error_page_is_named(httpserver):
    page = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body>"
    httpserver.expect_request("/ready").respond_with_data(page, status=502, content_type="text/html")
    with pytest.raises(BadResponse, match=r"answered 502 BAD GATEWAY with an HTML page \(from a proxy in front of "
                                          r"Loki\?\); body: <html>"):
        make(LokiClient, httpserver.url_for(""), retries=0).ready()


def test_a_spent_deadline_sends_nothing(httpserver):
    httpserver.expect_request("/ready").respond_with_data("ready")
    clock = iter([0.0, 100.0, 100.0]).__next__
    with pytest.raises(Unreachable, match=r"not sent: the run's deadline \(5 s\) is spent"):
        make(LokiClient, httpserver.url_for(""), deadline=Deadline(5, clock=clock)).ready()
    assert httpserver.log == []


def test_the_deadline_caps_each_timeout(httpserver):
    def slow(request):
        time.sleep(1.0)
        return Response("ready")

    httpserver.expect_request("/ready").respond_with_handler(slow)
    started = time.monotonic()
    with pytest.raises(Unreachable):
        make(LokiClient, httpserver.url_for(""), read_timeout=10, deadline=Deadline(0.4)).ready()
    assert time.monotonic() - started < 0.9


def test_urls_in_errors_and_journal_carry_no_credentials():
    assert redact_url("http://admin:pw@grafana:3002/api?token=abc&query=x") == \
        "http://grafana:3002/api?token=%2A%2A%2A&query=x"
    err = ClientError("Grafana", "GET", "http://admin:pw@grafana:3002/api/health", "answered 500")
    assert "pw" not in str(err) and "admin" not in str(err)


# --- Grafana, Promtail, backend ---


def test_grafana_uses_the_token_as_bearer_and_never_shows_it(httpserver):
    httpserver.expect_request("/api/health", headers={"Authorization": "Bearer tok-123"}).respond_with_json(
        {"commit": "abc", "database": "ok", "version": "11.2.0"})
    grafana = make(GrafanaClient, httpserver.url_for(""), token=Secret("tok-123"))
    assert grafana.health()["version"] == "11.2.0"
    assert "tok-123" not in repr(grafana)


def test_grafana_basic_auth(httpserver):
    httpserver.expect_request("/api/v1/provisioning/alert-rules",
                              headers={"Authorization": "Basic YWRtaW46cHc="}).respond_with_json([
        {"uid": "r1", "title": "Rule", "folderUID": "f", "ruleGroup": "g", "for": "5m", "labels": {"a": "b"}}])
    rules = make(GrafanaClient, httpserver.url_for(""), user="admin", password=Secret("pw")).alert_rules()
    assert rules[0].uid == "r1" and rules[0].for_ == "5m" and rules[0].labels == {"a": "b"}


def test_grafana_401_is_a_bad_response_with_the_hint(httpserver):
    httpserver.expect_request("/api/v1/provisioning/alert-rules").respond_with_json(
        {"message": "Invalid username or password"}, status=401)
    with pytest.raises(BadResponse, match="answered 401.*OPSVERIFY_GRAFANA_TOKEN"):
        make(GrafanaClient, httpserver.url_for("")).alert_rules()


def test_datasource_health_error_is_an_answer_not_an_exception(httpserver):
    httpserver.expect_request("/api/datasources/uid/loki/health").respond_with_json(
        {"message": "Unable to connect with Loki", "status": "ERROR"}, status=400)
    assert make(GrafanaClient, httpserver.url_for("")).datasource_health("loki") == (
        "ERROR", "Unable to connect with Loki")


def test_dashboard_queries_include_nested_panels(httpserver):
    httpserver.expect_request("/api/dashboards/uid/d").respond_with_json({"dashboard": {
        "uid": "d", "title": "T", "version": 3, "panels": [
            {"title": "row", "type": "row", "panels": [
                {"title": "inner", "datasource": {"uid": "loki"}, "targets": [{"expr": "{a=\"b\"}"}]}]},
            {"title": "top", "targets": [{"datasource": {"uid": "other"}, "expr": "x"}]}]},
        "meta": {"url": "/d/d/t"}})
    dash = make(GrafanaClient, httpserver.url_for("")).dashboard("d")
    assert dash.queries() == [("inner", "loki", '{a="b"}'), ("top", "other", "x")]


def test_promtail_metrics_parse_the_real_exposition(httpserver):
    serve_capture(httpserver, "/metrics", 25)
    metrics = make(PromtailClient, httpserver.url_for("")).metrics()
    assert metrics.total("promtail_sent_entries_total") == 95
    assert metrics.total("promtail_read_lines_total", path="/var/log/app/backend.log") == 8
    assert metrics.total("promtail_dropped_entries_total") == 0
    assert metrics.total("no_such_metric") is None


def test_backend_sends_the_bearer_token(httpserver):
    httpserver.expect_request("/api/scheduler/status", headers={"Authorization": "Bearer jwt-1"}).respond_with_json(
        {"success": True, "data": {"isScheduled": True, "isRunning": False,
                                   "nextReset": "2026-11-30 00:00:00 Philippine Time", "lastReset": None,
                                   "timezone": "Asia/Manila"}})
    status = make(BackendClient, httpserver.url_for(""), token=Secret("jwt-1")).scheduler_status()
    assert status.is_scheduled and status.last_reset is None and status.next_reset.startswith("2026-11-30")


def test_backend_without_token_gets_401_with_the_hint(httpserver):
    httpserver.expect_request("/api/scheduler/status").respond_with_data(
        json.dumps({"success": False, "error": "Access token required"}), status=401)
    with pytest.raises(BadResponse, match="answered 401.*OPSVERIFY_BACKEND_TOKEN"):
        make(BackendClient, httpserver.url_for("")).scheduler_status()


def test_labels_values_and_series_parse_the_real_answers(httpserver):
    serve_capture(httpserver, "/loki/api/v1/labels", 17)
    serve_capture(httpserver, "/loki/api/v1/label/container/values", 18)
    serve_capture(httpserver, "/loki/api/v1/series", 19, query_string={"match[]": '{container=~"escashop-backend.*"}'})
    loki = make(LokiClient, httpserver.url_for(""))
    assert "container" in loki.labels(start=T0)
    assert loki.label_values("container") == ["escashop-backend-prod"]
    series = loki.series('{container=~"escashop-backend.*"}')
    assert {"stream": "stdout", "service": "backend", "container": "escashop-backend-prod"} in series


def test_push_expects_204_and_reports_lokis_refusal(httpserver):
    serve_capture(httpserver, "/loki/api/v1/push", 4, method="POST")
    loki = make(LokiClient, httpserver.url_for(""))
    loki.push({"job": "t"}, [(1795930308854857968, "line")])
    assert json.loads(httpserver.log[0][0].data) == {
        "streams": [{"stream": {"job": "t"}, "values": [["1795930308854857968", "line"]]}]}
    httpserver.clear()
    serve_capture(httpserver, "/loki/api/v1/push", 20, method="POST")
    with pytest.raises(BadResponse, match="answered 400.*timestamp too old") as err:
        loki.push({"job": "push-old"}, [(1795210316000000000, "old")])
    assert not isinstance(err.value, LokiQueryError)


def test_alerting_provisioning_reads(httpserver):
    httpserver.expect_request("/api/v1/provisioning/contact-points").respond_with_json(
        [{"uid": "c1", "name": "midnight-critical", "type": "slack", "settings": {"url": "[REDACTED]"}}])
    httpserver.expect_request("/api/v1/provisioning/policies").respond_with_json(
        {"receiver": "default-receiver", "routes": [{"receiver": "midnight-critical",
                                                     "object_matchers": [["severity", "=", "critical"]]}]})
    httpserver.expect_request("/api/prometheus/grafana/api/v1/rules").respond_with_json(
        {"status": "success", "data": {"groups": [{"name": "midnight_reset_alerts", "rules": [
            {"name": "Midnight Reset Errors", "state": "inactive", "health": "ok",
             "labels": {"severity": "critical"}}]}]}})
    grafana = make(GrafanaClient, httpserver.url_for(""))
    assert grafana.contact_points()[0]["name"] == "midnight-critical"
    assert grafana.policies()["routes"][0]["receiver"] == "midnight-critical"
    (state,) = grafana.rule_states()
    assert (state.name, state.group, state.state, state.health, state.alerts) == (
        "Midnight Reset Errors", "midnight_reset_alerts", "inactive", "ok", ())


def test_state_history_frames_from_either_backend(httpserver):
    httpserver.expect_ordered_request("/api/v1/rules/history").respond_with_json({
        "schema": {"fields": [{"name": "time"}, {"name": "line"}, {"name": "labels"}]},
        "data": {"values": [[1795881600000], ['{"previous":"Normal","current":"Alerting","ruleUID":"r1"}'], [{}]]}})
    httpserver.expect_ordered_request("/api/v1/rules/history").respond_with_json({
        "schema": {"fields": [{"name": "time"}, {"name": "text"}, {"name": "prev"}, {"name": "next"}]},
        "data": {"values": [[1795881900000], ["x"], ["Alerting"], ["Normal"]]}})
    grafana = make(GrafanaClient, httpserver.url_for(""))
    assert grafana.state_history("r1", T0, T1) == [{"time": 1795881600, "previous": "Normal", "current": "Alerting"}]
    assert grafana.state_history("r1", T0, T1) == [{"time": 1795881900, "previous": "Alerting", "current": "Normal"}]
    assert httpserver.log[0][0].args["ruleUID"] == "r1" and httpserver.log[0][0].args["from"] == "1795880700"


def test_state_history_times_a_thousand_times_too_large_are_read_as_meant(httpserver):
    """One stored Grafana version builds the annotations' milliseconds as seconds (grafana-facts.md)."""
    httpserver.expect_request("/api/v1/rules/history").respond_with_json({
        "schema": {"fields": [{"name": "time"}, {"name": "prev"}, {"name": "next"}]},
        "data": {"values": [[1795881900000000], ["Alerting"], ["Normal"]]}})
    grafana = make(GrafanaClient, httpserver.url_for(""))
    assert grafana.state_history("r1", T0, T1) == [{"time": 1795881900, "previous": "Alerting", "current": "Normal"}]


def test_state_history_grafana_refuses_says_grafanas_reason(httpserver):
    """Grafana 12's Prometheus history backend answers 500 {"message"}: the reason goes into the error."""
    httpserver.expect_request("/api/v1/rules/history").respond_with_json(
        {"message": "the prometheus historian backend does not support querying"}, status=500)
    with pytest.raises(BadResponse) as err:
        make(GrafanaClient, httpserver.url_for(""), retries=0).state_history("r1", T0, T1)
    assert err.value.problem == ("answered 500: the prometheus historian backend does not support querying (Grafana "
                                 "12's Prometheus history backend writes history it cannot read back)")


def test_rule_states_carry_uids_and_the_file_is_only_a_path(httpserver):
    """Grafana 11: `file` is the folder's full path; the rule and its folder are known by their uids."""
    httpserver.expect_request("/api/prometheus/grafana/api/v1/rules").respond_with_json(
        {"status": "success", "data": {"groups": [{"name": "g", "file": "EscaShop/alerts", "folderUid": "f1",
                                                   "rules": [{"name": "R", "uid": "r1", "state": "recovering",
                                                              "health": "ok"}]}]}})
    httpserver.expect_request("/api/folders/f1").respond_with_json({"uid": "f1", "title": "alerts"})
    grafana = make(GrafanaClient, httpserver.url_for(""))
    (state,) = grafana.rule_states()
    assert (state.uid, state.folder_uid, state.file, state.state) == ("r1", "f1", "EscaShop/alerts", "recovering")
    assert grafana.folder("f1")["title"] == "alerts"


def test_grafana_versions_and_the_export_grafana_9_lacks(httpserver):
    from opsverify.clients.grafana import parse_version

    assert [parse_version(v) for v in ("9.5.21", "12.1.1+security-01", "11.3.0-pre", "", None)] == [
        (9, 5), (12, 1), (11, 3), None, None]
    httpserver.expect_request("/api/v1/provisioning/contact-points/export").respond_with_json(
        {"message": "Not found"}, status=404)
    exported, why = make(GrafanaClient, httpserver.url_for("")).contact_points_export()
    assert exported is None and why.endswith("answered 404: Grafana 9.x has no contact point export")


def test_state_history_unavailable_is_a_client_error(httpserver):
    httpserver.expect_request("/api/v1/rules/history").respond_with_json(
        {"message": "ruleUID is required to query annotations"}, status=500)
    with pytest.raises(BadResponse, match="answered 500"):
        make(GrafanaClient, httpserver.url_for(""), retries=0).state_history("r1", T0, T1)


def test_promtail_targets_page_gives_jobs_and_readiness(httpserver):
    serve_capture(httpserver, "/targets", 26)
    jobs = make(PromtailClient, httpserver.url_for("")).targets()
    assert [(j.name, j.ready, j.total) for j in jobs] == [
        ("docker-containers/unix:///var/run/docker.sock:80", 1, 1), ("escashop-backend", 1, 1),
        ("midnight-reset-logs", 1, 1)]
    (docker_target,) = jobs[0].discovered
    assert docker_target["__meta_docker_container_name"] == "/escashop-backend-prod"
    assert jobs[1].discovered == ({"__address__": "localhost", "__path__": "/var/log/app/*.log",
                                   "container": "escashop-backend-prod", "job": "escashop-backend"},)


def test_promtail_targets_page_of_another_shape_is_a_bad_response(httpserver):
    httpserver.expect_request("/targets").respond_with_data(
        '<h2 class="job_header"><a id="job-x">x</a></h2>', content_type="text/html")
    with pytest.raises(BadResponse, match="a job header 'x' without"):
        make(PromtailClient, httpserver.url_for("")).targets()


# --- redirects (issue 11) ---

def test_a_redirect_is_named_and_not_followed(httpserver):
    httpserver.expect_request("/ready").respond_with_response(Response(
        "moved", status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/?token=SEKRIT"}))
    journal = Journal()
    client = make(PromtailClient, httpserver.url_for(""), journal=journal)
    with pytest.raises(BadResponse) as err:
        client.request("GET", "/ready")
    text = err.value.describe()
    assert "answered 302 FOUND, redirecting to http://169.254.169.254/latest/meta-data/; opsverify follows no " \
           "redirect" in text
    assert "SEKRIT" not in text and "moved" not in text
    assert len(httpserver.log) == 1 and [x.status for x in journal.since(0)] == [302]


@pytest.mark.parametrize("frame, problem", [
    ({"schema": {"name": "states", "fields": []}, "data": {"values": []}}, "Grafana's state history is off"),
    ({"schema": {"fields": [{"name": "time"}, {"name": "prev"}, {"name": "next"}]},
      "data": {"values": [[-5000], ["Normal"], ["Alerting"]]}}, "a transition at -5 (unix seconds)"),
    ({"schema": {"fields": [{"name": "time"}, {"name": "line"}]}, "data": {"values": [[1795881900000], ["[1]"]]}},
     "not a state-history data frame"),
], ids=["history-off", "implausible-time", "line-not-an-object"])
def test_a_state_history_frame_it_cannot_mean_is_a_client_error(httpserver, frame, problem):
    httpserver.expect_request("/api/v1/rules/history").respond_with_json(frame)
    with pytest.raises(ClientError, match=re.escape(problem)):
        make(GrafanaClient, httpserver.url_for(""), retries=0).state_history("r1", T0, T1)


def test_promtail_not_ready_is_an_answer_and_jobs_know_their_kind(httpserver):
    httpserver.expect_request("/ready").respond_with_data(
        "Not ready: Unable to find any logs to tail. Please verify permissions, volumes, scrape_config, etc.\n",
        status=500)
    promtail = make(PromtailClient, httpserver.url_for(""), retries=0)
    assert promtail.ready().startswith("Not ready: Unable to find any logs to tail.")
    docker = Job("docker-containers/unix:///var/run/docker.sock:80", 0, 0)
    assert (docker.job_name, docker.docker) == ("docker-containers", True)
    assert docker.engine == "unix:///var/run/docker.sock"
    assert Job("docker-legacy/tcp://10.0.0.5:2375:80", 0, 0).engine == "tcp://10.0.0.5:2375"
    assert Job("midnight-reset-logs", 0, 1).engine is None
    assert (Job("midnight-reset-logs", 0, 1).job_name, Job("midnight-reset-logs", 0, 1).docker) == (
        "midnight-reset-logs", False)
