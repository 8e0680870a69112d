"""What an unattended midnight run must never do, proven against the sandbox: change production, leak a
secret, lose a night's record. Each proof is shown once to catch what it looks for."""

import json
import subprocess
import sys
import threading

import pytest
import yaml

from suite_runs import NIGHT, ROOT, SECRETS, WEEK_START, Outputs, clean_env, day, start_sandbox

pytestmark = pytest.mark.e2e
# The only requests that are not GET/HEAD and still change nothing: query endpoints that take a form body.
READ_ONLY_POSTS = {("loki", "/loki/api/v1/query"), ("loki", "/loki/api/v1/query_range"),
                   ("grafana", "/api/ds/query")}
WRITING_CHECK = '''
import pytest

@pytest.mark.nightly
@pytest.mark.severity("warning")
def test_canary_line(run):
    run.client("loki").push({"job": "opsverify-canary"}, [(1, "canary")])
'''
LEAKING_CHECK = '''
import os
import pytest

@pytest.mark.nightly
@pytest.mark.severity("warning")
def test_leaky(settings):
    with open(settings.reports_dir + "/debug.txt", "w") as out:  # no output of the plugin's: nothing scrubs it
        out.write(os.environ["OPSVERIFY_BACKEND_TOKEN"])
'''


def suite(reports, env, *args, marks="nightly or smoke or criteria"):
    command = [sys.executable, "-m", "pytest", "-m", marks, "-p", "no:cacheprovider", f"--reports-dir={reports}",
               f"--night={NIGHT}", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, encoding="utf-8",
                          timeout=300)


@pytest.fixture
def stack(tmp_path, sandboxes):
    """A healthy sandbox logging every request it serves; (settings for the suite, the request log)."""
    log = tmp_path / "requests.jsonl"
    process, values = start_sandbox(tmp_path, "healthy", "--night", NIGHT, "--request-log", str(log))
    sandboxes.append(process)
    assert isinstance(values, dict), values
    return clean_env(**{k: v for k, v in values.items() if k != "OPSVERIFY_NIGHT"}), log


def writes(log):
    """Every logged request that could change something."""
    found = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert found, "the sandbox logged no request"
    return [f"{r['system']} {r['method']} {r['path']}" for r in found
            if r["method"] not in ("GET", "HEAD") and (r["system"], r["path"]) not in READ_ONLY_POSTS]


def test_the_nightly_smoke_and_criteria_runs_only_read(tmp_path, stack):
    env, log = stack
    result = suite(tmp_path / "reports", env, "--week", f"--week-start={WEEK_START}")
    assert "completion criteria:" in result.stdout, result.stdout[-2000:]
    assert writes(log) == []


def test_a_check_that_writes_is_caught(tmp_path, stack):
    env, log = stack
    check = tmp_path / "test_writing.py"
    check.write_text(WRITING_CHECK, encoding="utf-8")
    suite(tmp_path / "reports", env, "checks/test_stack.py", str(check), marks="nightly")
    assert writes(log) == ["loki POST /loki/api/v1/push"]


def webhook_urls():
    """The webhook URLs inside the sandbox's contact points: secrets the suite reads decrypted."""
    points = yaml.safe_load((ROOT / "sandbox/provisioning/escashop/alerting/contact-points.yml").read_text("utf-8"))
    urls = [r["settings"]["url"] for p in points["contactPoints"] for r in p["receivers"]
            if str(r.get("settings", {}).get("url", "")).startswith("http")]
    assert len(urls) >= 2
    return urls


def secrets_in(out, extra=()):
    everything = out.everything()
    assert "Sandbox run" in everything or "sandbox" in everything.lower()  # the scan read real outputs
    return [name for name, value in [*SECRETS.items(), *extra] if value in everything]


def test_no_secret_reaches_any_output(tmp_path, stack):
    env, _ = stack
    env = {**env, "OPSVERIFY_GRAFANA_TOKEN": SECRETS["SANDBOX_GRAFANA_TOKEN"]}
    reports = tmp_path / "reports"
    # A failing night, a failing criterion and -rA: every kind of text the suite writes is produced.
    out = Outputs(reports, suite(reports, env, "-rA", "--set", "max_reset_seconds=0.001"))
    assert out.result.returncode == 1
    assert secrets_in(out, [(f"webhook {i}", url) for i, url in enumerate(webhook_urls())]) == []


def test_a_token_pasted_into_a_url_stops_the_run_unechoed(tmp_path, stack):
    env, _ = stack
    token = "url-E2E-SECRET-4417"
    env = {**env, "OPSVERIFY_LOKI_URL": f"{env['OPSVERIFY_LOKI_URL']}/?api_key={token}"}
    result = suite(tmp_path / "reports", env)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert "setting 'loki_url' from the environment: has a query string or fragment" in result.stderr
    assert token not in result.stdout + result.stderr


def test_a_leak_is_caught(tmp_path, stack):
    env, _ = stack
    check = tmp_path / "test_leaky.py"
    check.write_text(LEAKING_CHECK, encoding="utf-8")
    reports = tmp_path / "reports"
    out = Outputs(reports, suite(reports, env, "checks/test_stack.py", str(check), marks="nightly"))
    assert secrets_in(out) == ["SANDBOX_BACKEND_TOKEN"]


def test_runs_at_once_lose_no_record(tmp_path, stack):
    env, _ = stack
    reports = tmp_path / "reports"
    nights = [day(-2), day(-1), day(-1), NIGHT]  # two of them for the same night
    results = {}

    def one(index, night):
        command = [sys.executable, "-m", "pytest", "-m", "nightly and not criteria", "-p", "no:cacheprovider",
                   f"--reports-dir={reports}", f"--night={night}", f"--week-start={WEEK_START}",
                   f"--html={reports / f'report-{index}.html'}", f"--junitxml={reports / f'junit-{index}.xml'}",
                   "-k", "test_reset"]
        results[index] = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)

    threads = [threading.Thread(target=one, args=item) for item in enumerate(nights)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.returncode == 0 for r in results.values()), [r.stdout[-1500:] for r in results.values()]
    ledger = json.loads((reports / "ledger-sandbox.json").read_text(encoding="utf-8"))
    assert sorted(ledger["nights"]) == [day(-2), day(-1), NIGHT]
    # -k test_reset: the reset checks passed, but a partial run is never a full verdict.
    assert {(r["status"], r["complete"]) for r in ledger["nights"].values()} == {("warning", False)}
    assert {len(r["checks"]) for r in ledger["nights"].values()} == {len(ledger["nights"][NIGHT]["checks"])}
