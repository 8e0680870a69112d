"""Every system failing in every way the network lets it (the sandbox's --fault): the run ends in time,
names the system and what happened, still judges what it could see, is never green, and reports."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from suite_runs import NIGHT, Outputs, nightly

pytestmark = pytest.mark.e2e
SYSTEMS = ("grafana", "loki", "promtail", "backend")
KINDS = ("down", "slow", "error500", "unauthorized", "malformed-json", "html-error-page", "truncated", "reset",
         "redirect")
# The checks each system answers (a JSON endpoint where it has one), and what the message must say of the fault.
NEEDS = {"grafana": ("test_grafana_healthy", "test_rule_present"), "loki": ("test_reset_completed",),
         "promtail": ("test_promtail_ready",), "backend": ("test_backend_healthy",)}
SAYS = {
    "down": "connection refused", "slow": "gave no answer within 0.5 s", "error500": "answered 500",
    "unauthorized": "answered 401", "malformed-json": "the body is not JSON",
    "html-error-page": "answered 502 Bad Gateway with an HTML page", "truncated": "the answer was cut short",
    "reset": "connection reset", "redirect": "answered 302 Found, redirecting to http://localhost:",
}
# Promtail has no JSON endpoint: its /ready check shows what it got instead, the garbage, or its own 500
# (server/server.go: "Not ready: ..."), which is Promtail speaking, not a failed request.
SAYS_HERE = {("promtail", "malformed-json"): "saw Promtail says '{\"status\":",
             ("promtail", "error500"): "saw Promtail says 'Not ready: Unable to find any logs to tail."}
SELECTED = " or ".join(sorted({name for names in NEEDS.values() for name in names}))
DEADLINE = 20  # seconds: the run's own budget, small so that a slow system cannot stretch the test
FAST = ["--set", "connect_timeout_seconds=0.5", "--set", "read_timeout_seconds=0.5", "--set", "retries=1",
        "--set", f"run_deadline_seconds={DEADLINE}"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """All pairs, four runs at a time: (Outputs, seconds the run took) by (system, kind)."""
    def one(pair):
        system, kind = pair
        reports = tmp_path_factory.mktemp(f"{system}-{kind}") / "reports"
        started = time.monotonic()
        result = nightly(reports, "--sandbox=healthy", f"--sandbox-fault={system}={kind}", f"--night={NIGHT}",
                         "-k", SELECTED, *FAST)
        return pair, (Outputs(reports, result), time.monotonic() - started)

    tmp_path_factory.getbasetemp()  # made once, here: four threads making it at once race (FileExistsError)
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(one, [(s, k) for s in SYSTEMS for k in KINDS]))


def _issue(record, check):
    return next((i for i in record["issues"] if i.split(":")[0].split("[")[0] == check), None)


@pytest.mark.parametrize("system", SYSTEMS)
@pytest.mark.parametrize("kind", KINDS)
def test_a_faulty_system_fails_its_checks_and_only_those(runs, system, kind):
    out, seconds = runs[(system, kind)]
    # The run ends within its deadline (plus the sandbox's start and the reports), fails, and reports.
    assert seconds < DEADLINE + 15, out.result.stdout[-2000:]
    assert out.result.returncode == 1, out.result.stdout[-2000:]
    record = out.record()
    assert record["status"] != "passed"  # a night that could not be seen is never green
    assert out.week_row(7)[2] != "✅ Successful"
    for check in NEEDS[system]:
        issue = _issue(record, check)
        assert issue is not None, record["issues"]
        assert system.capitalize() in issue and SAYS_HERE.get((system, kind), SAYS[kind]) in issue, issue
    # A redirect is not followed: what answers where it points (a metadata service's keys) is nowhere.
    assert "SANDBOX-METADATA-LEAK" not in out.everything()
    for other in (s for s in SYSTEMS if s != system):
        for check in NEEDS[other]:
            assert _issue(record, check) is None, (check, record["issues"])
