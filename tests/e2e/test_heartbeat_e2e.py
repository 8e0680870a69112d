"""Who watches the watcher, end to end: a nightly run against a sandbox that runs a ping receiver (as
Healthchecks.io would take the pings) leaves start and success, or start and fail, there."""

import pytest
import requests

from suite_runs import NIGHT, clean_env, nightly, start_sandbox

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("scenario, last, status", [("healthy", "", "✅ Successful"),
                                                     ("failed-night", "/fail", "❌ Failed")])
def test_a_run_leaves_its_pings(tmp_path, sandboxes, scenario, last, status):
    process, values = start_sandbox(tmp_path, scenario, "--scenario", scenario, "--night", NIGHT, "--ping-receiver")
    sandboxes.append(process)
    assert isinstance(values, dict), values
    env = clean_env(**{k: v for k, v in values.items() if k != "OPSVERIFY_NIGHT"})
    result = nightly(tmp_path / "reports", f"--night={NIGHT}", env=env)
    ping = values["OPSVERIFY_HEARTBEAT_URL"]
    path = ping.split("/", 3)[3]
    pings = requests.get(values["SANDBOX_PING_RECEIVER_URL"] + "/deliveries", timeout=10).json()
    assert [p["path"] for p in pings] == [f"/{path}/start", f"/{path}{last}"], result.stdout[-2000:]
    assert pings[0]["body"].startswith(f"opsverify escashop: checking the night {NIGHT} (Day 7)")
    assert pings[1]["body"].startswith(f"opsverify escashop: night {NIGHT} (Day 7) {status}; exit "
                                       f"{0 if not last else 1}")
    assert path.split("/")[-1] not in result.stdout  # the ping URL's key is a secret: never shown
