"""python -m sandbox --docker --live: the last night printed live by the real stand-in container and
shipped from its log into the sandbox's Loki, as Promtail's docker discovery does.

Needs the Docker engine at DOCKER_HOST: without one these tests skip, naming it; with
OPSVERIFY_REQUIRE_DOCKER=1 (CI) that is a failure. They run with a 3 s horizon (the healthy
night's lines all fall within 2.6 s of the reset), so each sandbox is ready about 7 s after it starts.
"""

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from sandbox import live, scenario, standin

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
HORIZON = "3"
SELECTOR = '{container="escashop-backend-prod"}'


@pytest.fixture
def live_sandbox(docker_client, standin_image, sandboxes):
    """Start `python -m sandbox --docker --live` for a scenario; its container is removed at the end."""
    container = scenario.load("healthy").container

    def start(name):
        return sandboxes("--docker", "--live", "--live-horizon", HORIZON, "--scenario", name, timeout=30)

    yield start
    standin.stop(docker_client, container)  # only ever the sandbox's own (labelled) container


def reset_of(env):
    local = datetime.fromisoformat(f"{env['OPSVERIFY_NIGHT']}T{env['OPSVERIFY_RESET_TIME']}")
    return local.replace(tzinfo=ZoneInfo("Asia/Manila")).astimezone(timezone.utc)


def ns(instant):
    return int(instant.timestamp()) * 1_000_000_000 + instant.microsecond * 1000


def docker_log(client, env):
    """[(ns, stream, line)] of the container's own log, with the engine's timestamps."""
    container = client.containers.get(env["OPSVERIFY_CONTAINER"])
    out = []
    for stream in ("stdout", "stderr"):
        text = container.logs(timestamps=True, stdout=stream == "stdout", stderr=stream == "stderr").decode()
        for raw in text.splitlines():
            stamp, _, line = raw.partition(" ")
            out.append((live.parse_stamp(stamp), stream, line))
    return sorted(out)


def loki_entries(env, start, end, query=SELECTOR):
    """[(ns, stream label, line)] that the sandbox's Loki serves for `query` between two instants."""
    response = requests.get(env["OPSVERIFY_LOKI_URL"] + "/loki/api/v1/query_range", timeout=10, params={
        "query": query, "start": str(ns(start)), "end": str(ns(end)), "limit": "5000", "direction": "forward"})
    assert response.status_code == 200, response.text
    return sorted((int(t), s["stream"]["stream"], line)
                  for s in response.json()["data"]["result"] for t, line in s["values"])


def window(env):
    reset = reset_of(env)
    return reset - timedelta(minutes=15), datetime.now(timezone.utc) + timedelta(seconds=1)


def test_live_healthy_night_is_in_loki_with_the_container_logs_timestamps(docker_client, live_sandbox):
    sandbox = live_sandbox("healthy")
    env, reset = sandbox.env, reset_of(sandbox.env)
    assert env["SANDBOX_LIVE_HORIZON"] == HORIZON and env["OPSVERIFY_RESET_TIME"].count(":") == 2
    assert reset.microsecond == 0 and reset <= datetime.now(timezone.utc) - timedelta(seconds=3)
    log = docker_log(docker_client, env)
    start = f"🚀 Starting daily queue reset at {env['OPSVERIFY_NIGHT']} {env['OPSVERIFY_RESET_TIME']} Philippine Time"
    reset_lines = [entry for entry in log if entry[0] >= ns(reset)]
    assert [line for _, _, line in reset_lines][0] == start
    assert reset_lines[-1][2].startswith("✅ Daily reset completed successfully in ")
    assert 0 <= reset_lines[0][0] - ns(reset) < 1_000_000_000  # printed at its offset (+0.05 s), not earlier
    in_loki = loki_entries(env, *window(env))
    assert set(log) <= set(in_loki), sorted(set(log) - set(in_loki))  # same lines, same timestamps
    assert len([e for e in in_loki if e[2] == start]) == 1
    # The earlier nights are preloaded at the same time of day on the dates before.
    day_before = reset - timedelta(days=1)
    earlier = loki_entries(env, day_before, day_before + timedelta(seconds=5))
    assert any(line.startswith("🚀 Starting daily queue reset at ") and env["OPSVERIFY_RESET_TIME"] in line
               for _, _, line in earlier)
    sent = requests.get(env["OPSVERIFY_PROMTAIL_URL"] + "/metrics", timeout=10).text
    assert "promtail_sent_entries_total" in sent
    assert sandbox.stop() == 0


def test_live_drop_lines_are_in_the_container_log_but_not_in_loki(docker_client, live_sandbox):
    sandbox = live_sandbox("live-drop-lines")
    env = sandbox.env
    dropped = {"Queue data archived successfully", "Daily counters reset"}
    log = docker_log(docker_client, env)
    assert dropped <= {line for _, _, line in log}
    in_loki = loki_entries(env, *window(env))
    assert not dropped & {line for _, _, line in in_loki}
    assert set(log) - set(in_loki) == {entry for entry in log if entry[2] in dropped}
    assert sandbox.stop() == 0


def test_live_duplicate_start_is_in_loki_twice_1_ms_apart(docker_client, live_sandbox):
    sandbox = live_sandbox("live-duplicate-start")
    env = sandbox.env
    starts = [e for e in docker_log(docker_client, env) if "Starting daily queue reset at" in e[2]]
    assert len(starts) == 1
    in_loki = [e for e in loki_entries(env, *window(env)) if "Starting daily queue reset at" in e[2]]
    assert [t for t, _, _ in in_loki] == [starts[0][0], starts[0][0] + 1_000_000]
    assert {line for _, _, line in in_loki} == {starts[0][2]}
    assert sandbox.stop() == 0


def test_live_restart_in_window_starts_the_container_inside_the_window(docker_client, live_sandbox):
    sandbox = live_sandbox("restart-in-window")
    env, reset = sandbox.env, reset_of(sandbox.env)
    state = docker_client.api.inspect_container(env["OPSVERIFY_CONTAINER"])["State"]
    started = datetime.fromtimestamp(live.parse_stamp(state["StartedAt"]) / 1e9, timezone.utc)
    assert reset - timedelta(minutes=15) <= started <= reset, (started, reset)
    startup = list(standin.STARTUP_LINES)
    log = docker_log(docker_client, env)
    printed = [(t, line) for t, _, line in log if line in startup]
    assert [line for _, line in printed] == startup  # once, after the restart
    assert all(live.parse_stamp(state["StartedAt"]) <= t < ns(reset) for t, _ in printed)
    assert set(log) <= set(loki_entries(env, *window(env)))
    assert sandbox.stop() == 0


def test_live_only_scenarios_are_refused_without_live(tmp_path):
    result = subprocess.run([sys.executable, "-m", "sandbox", "--scenario", "live-drop-lines",
                             "--env-file", str(tmp_path / "env")], cwd=ROOT, capture_output=True, text=True,
                            encoding="utf-8", timeout=30, env=os.environ)
    assert result.returncode == 2
    assert "live-drop-lines" in result.stderr and "--docker --live" in result.stderr


def test_schedule_compresses_the_past_and_waits_for_the_reset():
    reset = datetime(2026, 11, 29, 7, 0, 0, tzinfo=timezone.utc)
    lines = [(reset - timedelta(seconds=477), "stdout", "a"), (reset + timedelta(seconds=0.05), "stdout", "b"),
             (reset + timedelta(seconds=1.25), "stderr", "c")]
    epoch = int(reset.timestamp())
    assert live.schedule(reset, lines) == [(0, "stdout", "a"), (f"@{epoch}+0.050", "stdout", "b"),
                                           (1.2, "stderr", "c")]
    assert live.parse_stamp("2026-11-29T07:00:00.0712Z") == epoch * 1_000_000_000 + 71_200_000
    assert live.reset_instant(reset + timedelta(seconds=0.2)) == reset + timedelta(seconds=4)
