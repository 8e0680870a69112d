"""Loki as production exposes it (issue 17): a Loki with auth_enabled that wants a tenant, a gateway in front
of it that wants basic auth, and a Loki the suite reaches only through Grafana's datasource proxy. Each night
is green when the suite is told how to get in, fails saying which setting to set when it is not, and no
credential reaches any output."""

import base64
import json

import pytest

from suite_runs import NIGHT, PARTIAL, SECRETS, Outputs, clean_env, nightly, start_sandbox

pytestmark = pytest.mark.e2e
TENANT = "escashop"
GATEWAY_USER = "opsverify"
# The checks that read Loki first (its /ready, and the night's reset lines): enough to see a refusal.
LOKI_CHECKS = "test_loki_ready or test_reset_completed"


def sandbox(tmp_path, sandboxes, *options, log=None):
    """A healthy sandbox playing `options`; the suite's environment from the settings it wrote."""
    extra = ["--request-log", str(log)] if log else []
    process, values = start_sandbox(tmp_path, "access", f"--night={NIGHT}", *options, *extra)
    sandboxes.append(process)
    assert isinstance(values, dict), values
    return {k: v for k, v in values.items() if k != "OPSVERIFY_NIGHT"}


def run(tmp_path, name, values, *args, drop=(), **more):
    """The nightly run with the sandbox's settings, less `drop`, plus `more`: its Outputs."""
    reports = tmp_path / name
    env = clean_env(**{k: v for k, v in {**values, **more}.items() if k not in drop})
    return Outputs(reports, nightly(reports, f"--night={NIGHT}", *args, env=env))


def leaked(out, values):
    """The credentials (and their Basic encodings) that appear anywhere in what the run wrote or said."""
    secrets = dict(SECRETS)
    if "OPSVERIFY_LOKI_PASSWORD" in values:
        pair = f"{values['OPSVERIFY_LOKI_USER']}:{values['OPSVERIFY_LOKI_PASSWORD']}"
        secrets.update(loki_password=values["OPSVERIFY_LOKI_PASSWORD"],
                       loki_basic=base64.b64encode(pair.encode()).decode())
    grafana = f"admin:{SECRETS['SANDBOX_GRAFANA_PASSWORD']}"
    secrets["grafana_basic"] = base64.b64encode(grafana.encode()).decode()
    everything = out.everything()
    return [name for name, value in secrets.items() if value in everything]


def loki_issue(out, check="test_loki_ready"):
    """The issue `check` left on the night, and all of them."""
    issues = out.record()["issues"]
    return next((i for i in issues if i.startswith(check + ":")), issues), issues


def test_a_tenant_enforcing_loki_is_green_with_the_tenant_and_says_to_set_it_without(tmp_path, sandboxes):
    values = sandbox(tmp_path, sandboxes, "--loki-tenant", TENANT)
    assert values["OPSVERIFY_LOKI_TENANT"] == TENANT
    out = run(tmp_path, "with", values)
    assert out.result.returncode == 0, out.result.stdout[-3000:]
    assert out.record()["status"] == "passed", out.record()["issues"]
    assert leaked(out, values) == []

    out = run(tmp_path, "without", values, "-k", LOKI_CHECKS, drop=("OPSVERIFY_LOKI_TENANT",))
    assert out.record()["status"] == "failed"
    # /ready names no tenant (Loki serves it to anyone); the night's queries do.
    issue, issues = loki_issue(out, "test_reset_completed")
    assert "loki/api/v1/query_range answered 401: no org id" in issue and "auth_enabled: true" in issue
    assert "Set loki.tenant in the site file, or OPSVERIFY_LOKI_TENANT" in issue
    assert issues[-1].startswith(PARTIAL)


def test_a_loki_behind_a_basic_auth_gateway_is_green_with_credentials_and_names_them_without(tmp_path, sandboxes):
    values = sandbox(tmp_path, sandboxes, "--loki-gateway-user", GATEWAY_USER)
    assert values["OPSVERIFY_LOKI_USER"] == GATEWAY_USER and values["OPSVERIFY_LOKI_PASSWORD"]
    out = run(tmp_path, "with", values)
    assert out.result.returncode == 0, out.result.stdout[-3000:]
    assert out.record()["status"] == "passed", out.record()["issues"]
    assert leaked(out, values) == []

    out = run(tmp_path, "without", values, "-k", LOKI_CHECKS, drop=("OPSVERIFY_LOKI_USER", "OPSVERIFY_LOKI_PASSWORD"))
    assert out.record()["status"] == "failed"
    issue, _ = loki_issue(out)
    assert "answered 401 Unauthorized with the gateway's HTML page" in issue
    assert 'The gateway in front of Loki (Basic realm="Loki") wants credentials: set OPSVERIFY_LOKI_USER and ' \
           "OPSVERIFY_LOKI_PASSWORD (basic auth) or OPSVERIFY_LOKI_TOKEN" in issue
    assert "<html>" not in issue

    out = run(tmp_path, "wrong", values, "-k", LOKI_CHECKS, OPSVERIFY_LOKI_PASSWORD="not-the-password")
    issue, _ = loki_issue(out)
    assert "refused the credentials in OPSVERIFY_LOKI_USER and OPSVERIFY_LOKI_PASSWORD" in issue
    assert "not-the-password" not in out.everything()


def test_through_grafanas_datasource_proxy_the_night_is_green_and_grafanas_refusal_is_named(tmp_path, sandboxes):
    # Loki wants a tenant and sits behind a gateway; Grafana's datasource holds both. The suite knows neither:
    # only Grafana's credentials, and a Loki URL where nothing answers, to prove that every request went round.
    log = tmp_path / "requests.jsonl"
    values = sandbox(tmp_path, sandboxes, "--loki-tenant", TENANT, "--loki-gateway-user", GATEWAY_USER, log=log)
    loki_settings = ("OPSVERIFY_LOKI_TENANT", "OPSVERIFY_LOKI_USER", "OPSVERIFY_LOKI_PASSWORD")
    out = run(tmp_path, "via", values, drop=loki_settings, OPSVERIFY_LOKI_VIA="grafana",
              OPSVERIFY_LOKI_URL="http://127.0.0.1:9")
    assert out.result.returncode == 0, out.result.stdout[-3000:]
    assert out.record()["status"] == "passed", out.record()["issues"]
    assert leaked(out, values) == []
    served = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    proxied = [r for r in served if r["path"].startswith("/api/datasources/proxy/uid/loki/")]
    assert proxied and all(r["status"] == 200 for r in proxied)
    assert {r["agent"] for r in served if r["system"] == "loki"} == {"Grafana"}  # Loki heard only Grafana
    facts = {tr.th.get_text(): tr.td.get_text() for tr in out.page.select("#night-facts tr")}
    assert facts["Loki version"] == "2.6.1"

    out = run(tmp_path, "refused", values, "-k", LOKI_CHECKS, drop=loki_settings + ("OPSVERIFY_GRAFANA_PASSWORD",
              "OPSVERIFY_GRAFANA_USER"), OPSVERIFY_LOKI_VIA="grafana")
    issue, _ = loki_issue(out)
    assert "/api/datasources/proxy/uid/loki/ready answered 401: Unauthorized" in issue
    assert "loki.via is grafana: Loki is asked through Grafana with the Grafana credentials. Set " \
           "OPSVERIFY_GRAFANA_TOKEN" in issue and "OPSVERIFY_GRAFANA_USER and OPSVERIFY_GRAFANA_PASSWORD" in issue
    assert leaked(out, values) == []


def test_loki_credentials_beside_loki_via_grafana_stop_the_run_before_any_check(tmp_path):
    env = clean_env(**SECRETS, OPSVERIFY_LOKI_VIA="grafana", OPSVERIFY_LOKI_USER="ops",
                    OPSVERIFY_LOKI_PASSWORD="pw-E2E-SECRET-7781")
    result = nightly(tmp_path / "reports", "--sandbox=healthy", f"--night={NIGHT}", env=env)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout[-2000:] + result.stderr[-2000:]
    assert "setting 'loki_via' (loki.via, OPSVERIFY_LOKI_VIA) is grafana" in result.stderr
    assert "pw-E2E-SECRET-7781" not in result.stdout + result.stderr
