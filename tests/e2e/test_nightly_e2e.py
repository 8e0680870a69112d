"""The nightly suite end to end, as a separate process, against sandbox processes."""

import json
import os
import xml.etree.ElementTree as ET

import pytest
import requests

from suite_runs import NIGHT, NOW, PARTIAL, SECRETS, Outputs, clean_env, day, nightly, scenario, start_sandbox

pytestmark = pytest.mark.e2e


def test_healthy_night_is_successful(tmp_path):
    out = scenario(tmp_path, "healthy")
    assert out.result.returncode == 0, out.result.stdout[-3000:]
    record = out.record()
    assert (record["day"], record["status"], record["issues"]) == (7, "passed", [])
    assert 1000 <= record["reset_duration_ms"] <= 5000
    assert record["target"] == "sandbox: healthy"
    assert out.week_row(7)[:3] == ["Day 7", NIGHT, "✅ Successful"]
    assert out.page.select_one("#sandbox-banner").get_text(strip=True).endswith("this is not production evidence.")
    facts = {tr.th.get_text(): tr.td.get_text() for tr in out.page.select("#night-facts tr")}
    assert facts["Loki version"] == "2.6.1"
    assert facts["Promtail version"] == "2.6.1"
    assert facts["Grafana version"][0].isdigit()
    assert (out.reports / "junit.xml").exists()
    assert f"| Day 7 | {NIGHT} | ✅ Successful |" in (out.reports / "week1.md").read_text(encoding="utf-8")


def test_failed_night_fails_with_the_reason(tmp_path):
    out = scenario(tmp_path, "failed-night")
    assert out.result.returncode == 1
    record = out.record()
    assert record["status"] == "failed"
    names = [issue.split(":")[0] for issue in record["issues"]]
    assert "test_reset_completed" in names and "test_no_unrecovered_failure" in names
    failure = next(i for i in record["issues"] if i.startswith("test_no_unrecovered_failure"))
    assert "Daily reset failed: " in failure and "What to do:" in failure
    assert out.week_row(7)[2] == "❌ Failed"


def test_skipped_night_fails_explaining_the_utc_trap(tmp_path):
    out = scenario(tmp_path, "skipped-night")
    record = out.record()
    assert record["status"] == "failed"
    trap = next(i for i in record["issues"] if i.startswith("test_not_only_skipped"))
    assert "UTC" in trap and "NOT reset" in trap
    assert any(i.startswith("test_reset_started_on_time") for i in record["issues"])


def test_restart_in_window_is_a_warning(tmp_path):
    out = scenario(tmp_path, "restart-in-window")
    record = out.record()
    assert record["status"] == "warning", record["issues"]
    assert [i.split(":")[0] for i in record["issues"]] == ["test_no_restart_in_window"]
    assert "23:52" in record["issues"][0]
    assert out.week_row(7)[2] == "⚠️ Successful with warnings"


@pytest.mark.parametrize("name, status, failed", [
    ("healthy", "passed", []),
    ("failed-night", "failed", ["test_no_unrecovered_failure", "test_reset_completed"]),
])
def test_a_stack_whose_logs_live_in_another_loki(tmp_path, sandboxes, name, status, failed):
    # Loki A plays Loki 2.6.1's limits: it refuses a line an hour behind its stream's newest, and takes
    # 256 KiB/s (loki-ingestion-limited). Its own week is long past, so whatever the suite counts for B's
    # night came from B's push, and in streams of its own (--stream-label), so that its recent traffic,
    # up to NOW, is no stream's newest line that B's week would be behind.
    requests_a = tmp_path / "a-requests.jsonl"
    loki_a, values_a = start_sandbox(tmp_path, "a", "--scenario", "loki-ingestion-limited", "--night", day(-300),
                                     "--stream-label", "sandbox=a", "--request-log", str(requests_a))
    sandboxes.append(loki_a)
    assert isinstance(values_a, dict), values_a
    # B's week with 1,000 more lines a night, each stream oldest first, backing off when A says 429.
    stack_b, values_b = start_sandbox(tmp_path, "b", "--scenario", name, "--volume", "1000",
                                      "--external-loki", values_a["OPSVERIFY_LOKI_URL"])
    sandboxes.append(stack_b)
    # Both clocks read NOW, six hours after B's last night: its week is within Loki's 168 h limit.
    assert isinstance(values_b, dict), values_b
    assert values_b["OPSVERIFY_LOKI_URL"] == values_a["OPSVERIFY_LOKI_URL"]
    pushes = [json.loads(line)["status"] for line in requests_a.read_text().splitlines()
              if '"/loki/api/v1/push"' in line]
    assert 429 in pushes and pushes[-1] == 204  # A asked B to slow down, and B got every line in
    night = values_b.pop("OPSVERIFY_NIGHT")
    reports = tmp_path / "reports"
    result = nightly(reports, f"--night={night}", f"--week-start={values_b['OPSVERIFY_WEEK_START']}",
                     env=clean_env(**values_b))
    record = Outputs(reports, result).record(night)
    assert record["status"] == status, record["issues"]
    assert sorted(i.split(":")[0] for i in record["issues"] if not i.startswith("not checked")) == failed


def engine_or_skip():
    """DOCKER_HOST's engine answers; a machine without one skips, except in CI (OPSVERIFY_REQUIRE_DOCKER)."""
    import docker

    try:
        docker.from_env(timeout=5).ping()
    except docker.errors.DockerException as exc:
        message = f"no Docker engine at DOCKER_HOST={os.environ.get('DOCKER_HOST', '(unset)')}: {exc}"
        if os.environ.get("OPSVERIFY_REQUIRE_DOCKER"):
            pytest.fail(message + " (OPSVERIFY_REQUIRE_DOCKER is set: the engine must be up)")
        pytest.skip(message)


@pytest.mark.docker
def test_container_checks_run_against_the_stand_in_container(tmp_path):
    engine_or_skip()
    reports = tmp_path / "reports"
    env = clean_env(**SECRETS, DOCKER_HOST=os.environ.get("DOCKER_HOST", ""))
    result = nightly(reports, "--sandbox=healthy", "--sandbox-docker", f"--night={NIGHT}", env=env)
    assert result.returncode == 0, result.stdout[-3000:]
    cases = {case.get("name"): [child.tag for child in case]
             for case in ET.parse(reports / "junit.xml").getroot().iter("testcase")
             if case.get("classname", "").endswith("test_container")}
    shipping = {"test_container_log_reached_loki", "test_no_duplicated_lines_in_loki"}
    assert sorted(set(cases) - shipping) == [
        "test_container_clock", "test_container_free_space", "test_container_healthy",
        "test_container_not_oom_killed", "test_container_not_restarted_in_window", "test_container_process_user",
        "test_container_running", "test_container_zone_data"]
    assert all(tags == ["properties"] for name, tags in cases.items() if name not in shipping), cases
    # The stand-in started now, after the night's window: its own log cannot be reconciled with that night.
    assert all("skipped" in cases[name] for name in shipping), cases
    assert Outputs(reports, result).record()["status"] == "passed"


def test_without_the_stand_in_the_container_checks_do_not_apply(tmp_path):
    out = scenario(tmp_path, "healthy", "-rs")
    assert "n/a: the sandbox runs no backend container here" in out.result.stdout
    assert out.record()["status"] == "passed"


@pytest.mark.docker
def test_inside_checks_fail_on_what_the_container_lacks(tmp_path):
    """The stand-in has zone data for Manila only and runs as node: ask for Berlin and root."""
    engine_or_skip()
    reports = tmp_path / "reports"
    env = clean_env(**SECRETS, DOCKER_HOST=os.environ.get("DOCKER_HOST", ""))
    result = nightly(reports, "--sandbox=healthy", "--sandbox-docker", f"--night={NIGHT}",
                     "-k", "zone_data or process_user", "--set", "timezone=Europe/Berlin",
                     "--set", "container_user=root", env=env,
                     now=NOW.replace("06:00:00", "12:00:00"))  # past midnight in Berlin too (04:00 UTC)
    issues = Outputs(reports, result).record()["issues"]
    assert [i.split(":")[0] for i in issues] == ["test_container_process_user", "test_container_zone_data",
                                                 PARTIAL]
    assert "expected its main process running as root; saw 'node'" in issues[0]
    assert "expected zone data for Europe/Berlin" in issues[1] and "saw '+0000'" in issues[1]
    assert "tzdata" in issues[1]


def test_promtail_discovery_check_names_what_it_found(tmp_path):
    out = scenario(tmp_path, "healthy", "-k", "discovers", "--container=escashop-backend-staging")
    issue, partial = out.record()["issues"]
    assert partial.startswith(PARTIAL)  # one check of the night ran: never a full verdict
    assert issue.startswith("test_promtail_discovers_the_backend_container: Promtail (http://127.0.0.1:")
    assert "expected container escashop-backend-staging among the docker-discovered targets; saw docker job " \
           "'docker-containers' (engine unix:///var/run/docker.sock) discovers /escashop-backend-prod, not " \
           "/escashop-backend-staging" in issue
    assert "mount the Docker socket" not in issue  # it reaches the engine: its filters or the name are wrong


def test_entries_promtail_dropped_are_reported(tmp_path, sandboxes):
    process, values = start_sandbox(tmp_path, "down", f"--night={NIGHT}", "--down", "loki")
    sandboxes.append(process)
    requests.get(values["OPSVERIFY_BACKEND_URL"] + "/health", timeout=10)  # logged, shipped, refused: dropped
    reports = tmp_path / "reports"
    result = nightly(reports, f"--night={NIGHT}", "-k", "promtail_shipped",
                     env=clean_env(**{k: v for k, v in values.items() if k != "OPSVERIFY_NIGHT"}))
    issue, partial = Outputs(reports, result).record()["issues"]
    assert partial.startswith(PARTIAL)
    assert issue.startswith("test_promtail_shipped_without_loss: Promtail (http://127.0.0.1:")
    assert "expected entries sent and none dropped since Promtail's start, before the night" in issue
    assert " dropped" in issue and ", 0 dropped" not in issue


def test_a_failing_grafana_database_is_named_as_such(tmp_path, sandboxes):
    """Issue 13: Grafana answers /api/health 503 {"database": "failing"} when its database ping fails; the
    check says so, rather than reporting a 503 after retries."""
    process, values = start_sandbox(tmp_path, "db", f"--night={NIGHT}", "--grafana-database-failing")
    sandboxes.append(process)
    assert isinstance(values, dict), values
    reports = tmp_path / "reports"
    result = nightly(reports, f"--night={NIGHT}", "-k", "test_grafana_healthy",
                     env=clean_env(**{k: v for k, v in values.items() if k != "OPSVERIFY_NIGHT"}))
    issue = Outputs(reports, result).record()["issues"][0]  # then: not judged in full (a partial run)
    assert issue.startswith("test_grafana_healthy: Grafana (") and "/api/health): expected database \"ok\"; saw " \
        "database 'failing': Grafana cannot reach its own database" in issue, issue
    assert "503" not in issue.split("What to do")[0]
