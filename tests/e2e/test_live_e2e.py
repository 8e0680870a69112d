"""Nights the stand-in container prints live on a real Docker engine, shipped into the sandbox's Loki
as Promtail would: restarts, lost lines and re-sent lines, judged end to end."""

import pytest

from suite_runs import Outputs, clean_env, nightly, start_sandbox
from test_nightly_e2e import engine_or_skip

pytestmark = [pytest.mark.e2e, pytest.mark.docker]
LEAD = "10"  # the container starts 10 s before the reset: outside a window that opens 6 s before it
WINDOW = ["--set", "window_before_minutes=0.1", "--set", "window_after_minutes=1", "--set", "grace_minutes=1",
          "--set", "settle_minutes=0"]  # the night is seconds old: judge it at once


def live_night(tmp_path, sandboxes, scenario):
    engine_or_skip()
    process, values = start_sandbox(tmp_path, scenario, f"--scenario={scenario}", "--docker", "--live",
                                    f"--live-lead={LEAD}", "--live-horizon=3")
    sandboxes.append(process)
    assert isinstance(values, dict), values
    env = clean_env(**values, OPSVERIFY_DOCKER_HOST=values["DOCKER_HOST"])
    reports = tmp_path / "reports"
    result = nightly(reports, f"--night={values['OPSVERIFY_NIGHT']}",
                     f"--week-start={values['OPSVERIFY_WEEK_START']}", *WINDOW, env=env)
    return Outputs(reports, result).record(values["OPSVERIFY_NIGHT"]), result


def names(record):
    return sorted(i.split(":")[0] for i in record["issues"])


def test_a_live_healthy_night_reconciles(tmp_path, sandboxes):
    record, result = live_night(tmp_path, sandboxes, "healthy")
    assert record["status"] == "passed", record["issues"]
    assert result.returncode == 0, result.stdout[-3000:]


def test_a_restart_in_the_window_is_a_warning_with_its_time(tmp_path, sandboxes):
    record, _ = live_night(tmp_path, sandboxes, "restart-in-window")
    assert record["status"] == "warning"
    assert names(record) == ["test_container_not_restarted_in_window", "test_no_restart_in_window"]
    restart = next(i for i in record["issues"] if i.startswith("test_container_not_restarted_in_window"))
    assert "started at " in restart and "the backend restarted around the reset" in restart


def test_lines_lost_between_container_and_loki_are_named(tmp_path, sandboxes):
    record, _ = live_night(tmp_path, sandboxes, "live-drop-lines")
    assert record["status"] == "failed"
    assert names(record) == ["test_container_log_reached_loki"]
    (issue,) = record["issues"]
    assert "2 missing: " in issue
    assert "Queue data archived successfully" in issue and "Daily counters reset" in issue


def test_a_resent_start_line_warns_and_counts_once(tmp_path, sandboxes):
    record, _ = live_night(tmp_path, sandboxes, "live-duplicate-start")
    assert record["status"] == "warning"
    assert names(record) == ["test_no_duplicated_lines_in_loki"]
    assert "Starting daily queue reset at" in record["issues"][0]
