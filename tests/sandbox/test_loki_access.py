"""The sandbox plays Loki as production exposes it: auth_enabled (Loki 2.6.1's "no org id", logs kept per
tenant), an nginx gateway with basic auth, and Grafana's datasource proxy in front of both (issue 17)."""

import base64
import json
from pathlib import Path

import pytest
import requests

from sandbox import grafana, grafana_files, logql, loki_access
from sandbox.httpserver import App, Response
from sandbox.loki import LokiStore
from sandbox.loki import make_app as make_loki_app

ROOT = Path(__file__).resolve().parents[2]
PROVISIONING = ROOT / "sandbox" / "provisioning" / "escashop"
S = logql.SECOND_NS
NOW = 1795930315 * S
USER, PASSWORD, TOKEN = "admin", "s3cret-pass", "glsa_test_token"
GATEWAY = ("ops", "gw-pass")
LABELS = {"container": "escashop-backend-prod", "job": "tenant-test"}
COUNT = 'sum(count_over_time({job="tenant-test"}[1h]))'


def push(url, tenant=None, line="a line", auth=None):
    body = {"streams": [{"stream": LABELS, "values": [[str(NOW - 60 * S), line]]}]}
    headers = {"Content-Type": "application/json", **({"X-Scope-OrgID": tenant} if tenant else {})}
    return requests.post(f"{url}/loki/api/v1/push", data=json.dumps(body), headers=headers, auth=auth, timeout=10)


def count(url, tenant=None, auth=None):
    headers = {"X-Scope-OrgID": tenant} if tenant else {}
    answer = requests.get(f"{url}/loki/api/v1/query", params={"query": COUNT, "time": str(NOW)}, headers=headers,
                          auth=auth, timeout=10)
    result = answer.json()["data"]["result"]
    return int(result[0]["value"][1]) if result else 0


@pytest.fixture(scope="module")
def tenants():
    return loki_access.Tenants(LokiStore().config, lambda: NOW)


@pytest.fixture(scope="module")
def multi(serve, tenants):
    return serve(loki_access.make_app(tenants))


# --- auth_enabled: true ---


def test_without_a_tenant_loki_answers_401_no_org_id_as_2_6_1_does(multi):
    for answer in (requests.get(f"{multi}/loki/api/v1/query", params={"query": COUNT}, timeout=10),
                   push(multi), requests.get(f"{multi}/loki/api/v1/labels", headers={"X-Scope-OrgID": ""},
                                             timeout=10)):
        assert answer.status_code == 401
        assert answer.text == "no org id\n"
        assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_ready_config_and_buildinfo_name_no_tenant(multi):
    assert requests.get(f"{multi}/ready", timeout=10).text == "ready\n"
    assert "auth_enabled: true" in requests.get(f"{multi}/config", timeout=10).text.splitlines()
    assert requests.get(f"{multi}/loki/api/v1/status/buildinfo", timeout=10).json()["version"] == "2.6.1"


def test_each_tenant_sees_only_its_own_lines(multi, tenants):
    assert push(multi, "acme").status_code == 204
    assert push(multi, "acme", "another").status_code == 204
    assert push(multi, "globex").status_code == 204
    assert (count(multi, "acme"), count(multi, "globex"), count(multi, "initech")) == (2, 1, 0)
    assert [dict(labels) for labels, _ in tenants.store("acme").streams()] == [LABELS]
    assert set(tenants.tenants()) >= {"acme", "globex", "initech"}


def test_a_tenant_id_the_sandbox_does_not_emulate_is_refused_loudly(multi):
    answer = requests.get(f"{multi}/loki/api/v1/query", params={"query": COUNT}, headers={"X-Scope-OrgID": "a|b"},
                          timeout=10)
    assert answer.status_code == 400 and answer.text.startswith("sandbox: the tenant ID 'a|b' is not emulated")


def test_a_tenants_rate_limit_error_names_it():
    store = LokiStore(clock=lambda: NOW, tenant="acme")
    store._limiter.allow(store._limiter.burst)  # spend the burst
    with pytest.raises(Exception) as err:
        store.push([(LABELS, [(NOW, "x" * 1000)])])
    assert "Ingestion rate limit exceeded for user acme" in str(err.value)


# --- a gateway with basic auth ---


@pytest.fixture(scope="module")
def gated(serve):
    store = LokiStore(clock=lambda: NOW)
    store.add(LABELS, [(NOW - 60 * S, "behind the gateway")])
    return serve(loki_access.gateway(make_loki_app(store), *GATEWAY))


def test_the_gateway_refuses_as_nginx_auth_basic_does(gated):
    for auth in (None, ("ops", "wrong"), ("other", "gw-pass")):
        answer = requests.get(f"{gated}/ready", auth=auth, timeout=10)
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"] == 'Basic realm="Loki"'
        assert answer.headers["Content-Type"] == "text/html" and answer.headers["Server"] == "nginx"
        assert "<title>401 Authorization Required</title>" in answer.text


def test_with_the_credentials_the_gateway_passes_requests_to_loki(gated):
    assert requests.get(f"{gated}/ready", auth=GATEWAY, timeout=10).text == "ready\n"
    assert count(gated, auth=GATEWAY) == 1


# --- Grafana's datasource proxy ---


def recording_loki():
    """A Loki double that answers every request with what it received: method, path, query, headers, body."""
    app = App("loki")

    def echo(request):
        body = {"method": request.method, "path": request.path, "query": request.raw_query,
                "headers": request.headers, "body": request.body.decode()}
        if request.path.endswith("/unauthorized"):
            return Response(401, b"no org id\n", "text/plain; charset=utf-8", {"Set-Cookie": "a=b"})
        return Response(200, json.dumps(body).encode(), "application/json", {"Set-Cookie": "a=b"})

    for method in ("GET", "POST"):
        app.route(method, r"/.*")(echo)
    return app


@pytest.fixture(scope="module")
def proxied(serve):
    """Grafana whose Loki datasource (at a recording double under /base) has a tenant header and basic auth."""
    loki = serve(recording_loki())
    provisioning = grafana.load(PROVISIONING, loki + "/base")
    grafana_files.loki_access(provisioning, tenant="acme", user=GATEWAY[0], password=GATEWAY[1])
    return serve(grafana.make_app(grafana.Grafana(provisioning, USER, PASSWORD, TOKEN, version="11.3.0")))


PROXY = "/api/datasources/proxy/uid/loki"


def test_the_proxy_wants_a_signed_in_user(proxied):
    answer = requests.get(f"{proxied}{PROXY}/ready", timeout=10)
    assert answer.status_code == 401 and answer.json()["message"] == "Unauthorized"
    assert requests.get(f"{proxied}{PROXY}/ready", auth=(USER, "wrong"), timeout=10).json()["message"] == \
        "Invalid username or password"


def test_the_proxy_swaps_our_credentials_for_the_datasources_own(proxied):
    answer = requests.get(f"{proxied}{PROXY}/loki/api/v1/query?query=%7Bjob%3D%22x%22%7D&time=1",
                          headers={"Authorization": f"Bearer {TOKEN}", "X-Scope-OrgID": "ours", "Cookie": "s=1",
                                   "Referer": "http://dash/", "X-Custom": "kept"}, timeout=10)
    assert answer.status_code == 200
    seen = answer.json()
    assert (seen["method"], seen["path"], seen["query"]) == ("GET", "/base/loki/api/v1/query",
                                                             "query=%7Bjob%3D%22x%22%7D&time=1")
    headers = seen["headers"]
    assert headers["authorization"] == "Basic " + base64.b64encode(b"ops:gw-pass").decode()
    assert headers["x-scope-orgid"] == "acme"  # the datasource's header replaces ours
    assert headers["user-agent"] == "Grafana/11.3.0" and headers["x-custom"] == "kept"
    assert headers["x-grafana-referer"] == "http://dash/" and "referer" not in headers and "cookie" not in headers
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert "Set-Cookie" not in answer.headers and answer.headers["Content-Security-Policy"] == "sandbox"
    assert "Cache-Control" not in answer.headers and answer.headers["X-Frame-Options"] == "deny"


def test_the_proxy_passes_a_form_post_on_as_it_came(proxied):
    answer = requests.post(f"{proxied}{PROXY}/loki/api/v1/query_range", data={"query": "q", "limit": "5"},
                           auth=(USER, PASSWORD), timeout=10)
    seen = answer.json()
    assert (seen["method"], seen["path"], seen["body"]) == ("POST", "/base/loki/api/v1/query_range", "query=q&limit=5")
    assert seen["headers"]["content-type"] == "application/x-www-form-urlencoded"


def test_lokis_401_comes_back_as_grafanas_400(proxied):
    answer = requests.get(f"{proxied}{PROXY}/unauthorized", auth=(USER, PASSWORD), timeout=10)
    assert (answer.status_code, answer.text) == (400, "Authentication to data source failed")
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize("uid, status, message", [
    ("nope", 404, "Unable to find datasource"),
    ("bad.uid", 400, "UID is invalid"),
])
def test_an_unknown_or_invalid_uid(proxied, uid, status, message):
    answer = requests.get(f"{proxied}/api/datasources/proxy/uid/{uid}/ready", auth=(USER, PASSWORD), timeout=10)
    assert (answer.status_code, answer.json()["message"]) == (status, message)


def test_a_datasource_whose_loki_is_down_is_grafanas_502(serve):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    url = serve(grafana.make_app(grafana.Grafana(grafana.load(PROVISIONING, dead), USER, PASSWORD, TOKEN)))
    answer = requests.get(f"{url}{PROXY}/ready", auth=(USER, PASSWORD), timeout=10)
    assert (answer.status_code, answer.content) == (502, b"")


def test_the_datasource_api_shows_which_secrets_are_set_never_them(proxied):
    ds = requests.get(f"{proxied}/api/datasources/uid/loki", auth=(USER, PASSWORD), timeout=10).json()
    assert ds["basicAuth"] is True and ds["basicAuthUser"] == "ops"
    assert ds["jsonData"]["httpHeaderName1"] == "X-Scope-OrgID"
    assert ds["secureJsonFields"] == {"httpHeaderValue1": True, "basicAuthPassword": True}
    assert "gw-pass" not in json.dumps(ds) and "acme" not in json.dumps(ds)


# --- python -m sandbox ---


def test_the_cli_plays_both_and_writes_the_settings(sandboxes):
    sandbox = sandboxes("--night", "2026-11-29", "--now", "2026-11-29T06:00:00+08:00", "--loki-tenant", "acme",
                        "--loki-gateway-user", "ops", env={"SANDBOX_LOKI_GATEWAY_PASSWORD": "gw-cli-pass"})
    env = sandbox.env
    assert (env["OPSVERIFY_LOKI_TENANT"], env["OPSVERIFY_LOKI_USER"], env["OPSVERIFY_LOKI_PASSWORD"]) == \
        ("acme", "ops", "gw-cli-pass")
    loki, auth = env["OPSVERIFY_LOKI_URL"], ("ops", "gw-cli-pass")
    assert requests.get(f"{loki}/ready", timeout=10).status_code == 401
    assert requests.get(f"{loki}/loki/api/v1/labels", auth=auth, timeout=10).text == "no org id\n"
    week = 'sum(count_over_time({container="escashop-backend-prod"}[8d]))'
    answer = requests.get(f"{loki}/loki/api/v1/query", params={"query": week}, auth=auth,
                          headers={"X-Scope-OrgID": "acme"}, timeout=10)
    assert int(answer.json()["data"]["result"][0]["value"][1]) > 0  # the week is the tenant's
    # Grafana's datasource gets in with the tenant and the gateway's credentials, and so do its rules.
    proxied = requests.get(f"{env['OPSVERIFY_GRAFANA_URL']}{PROXY}/loki/api/v1/query", params={"query": week},
                           auth=(env["OPSVERIFY_GRAFANA_USER"], env["OPSVERIFY_GRAFANA_PASSWORD"]), timeout=10)
    assert proxied.json()["data"]["result"][0]["value"][1] == answer.json()["data"]["result"][0]["value"][1]
    assert sandbox.stop() == 0


@pytest.mark.parametrize("args, said", [
    (["--loki-tenant", "acme", "--external-loki", "http://127.0.0.1:9"], "--loki-tenant plays the sandbox's own Loki"),
    (["--loki-gateway-user", "a:b"], "--loki-gateway-user: a user name without ':'"),
    (["--loki-tenant", "a/b"], "--loki-tenant: a tenant ID of letters, digits"),
])
def test_the_cli_refuses_what_it_cannot_play(args, said):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "sandbox", *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2 and said in result.stderr
