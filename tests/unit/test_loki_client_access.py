"""Loki as production exposes it: the client's tenant, credentials, TLS and Grafana proxy, the errors that say
which setting to set, and the settings behind them (issue 17)."""

import shutil
import ssl
import subprocess
from datetime import date

import pytest

from opsverify.clients.http import BadResponse, Deadline, NotFound, Unreachable
from opsverify.clients.loki import LokiClient, LokiQueryError
from opsverify.config import ConfigError, Secret, load_settings
from opsverify.runstate import RunState, night_of

VECTOR = {"status": "success", "data": {"resultType": "vector", "result": []}}
PROXY = "/api/datasources/proxy/uid/loki"
NGINX_401 = ("<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n<center><h1>401 "
             "Authorization Required</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


def make(url, **kwargs):
    options = dict(deadline=Deadline(30), connect_timeout=1, read_timeout=2, retries=0, backoff=0.01)
    options.update(kwargs)
    return LokiClient(url, **options)


def nginx_refusal(httpserver, path):
    httpserver.expect_request(path).respond_with_data(NGINX_401, status=401, content_type="text/html",
                                                      headers={"WWW-Authenticate": 'Basic realm="Loki"'})


# --- what the client sends ---


def test_the_tenant_goes_with_every_request_as_x_scope_orgid(httpserver):
    for path in ("/ready", "/loki/api/v1/query", "/loki/api/v1/labels"):
        httpserver.expect_request(path, headers={"X-Scope-OrgID": "escashop"}).respond_with_json(
            VECTOR if "query" in path else {"status": "success", "data": ["container"]})
    loki = make(httpserver.url_for(""), tenant="escashop")
    loki.ready(), loki.query("q"), loki.labels()
    assert [r.headers.get("X-Scope-OrgID") for r, _ in httpserver.log] == ["escashop"] * 3


def test_without_a_tenant_no_x_scope_orgid_is_sent(httpserver):
    httpserver.expect_request("/ready").respond_with_data("ready")
    make(httpserver.url_for("")).ready()
    assert "X-Scope-OrgID" not in httpserver.log[0][0].headers


def test_a_gateway_gets_basic_auth_or_a_bearer_token(httpserver):
    httpserver.expect_request("/ready", headers={"Authorization": "Basic b3BzOmd3LVNFS1JJVA=="}).respond_with_data(
        "ready")
    httpserver.expect_request("/ready", headers={"Authorization": "Bearer tok-SEKRIT"}).respond_with_data("ready")
    basic = make(httpserver.url_for(""), user="ops", password=Secret("gw-SEKRIT"))
    bearer = make(httpserver.url_for(""), token=Secret("tok-SEKRIT"))
    assert basic.ready() == bearer.ready() == "ready"
    assert "SEKRIT" not in repr(basic) + repr(bearer)
    assert all("SEKRIT" not in str(e.as_dict()) for e in basic.journal.since(0) + bearer.journal.since(0))


def test_through_grafana_every_loki_path_goes_under_the_datasource_proxy_with_grafanas_token(httpserver):
    httpserver.expect_request(f"{PROXY}/loki/api/v1/query_range",
                              headers={"Authorization": "Bearer glsa-SEKRIT"}).respond_with_json(VECTOR)
    httpserver.expect_request(f"{PROXY}/ready").respond_with_data("ready")
    loki = make(httpserver.url_for(PROXY), token=Secret("glsa-SEKRIT"), via_grafana="loki")
    assert loki.query_range("q", start=night().window_start, end=night().window_end, step=60).total() == 0
    assert loki.ready() == "ready"
    assert loki.url(loki.QUERY) == httpserver.url_for(f"{PROXY}/loki/api/v1/query")


# --- what it says when it is refused ---


def test_no_org_id_says_to_set_the_tenant(httpserver):
    httpserver.expect_request("/loki/api/v1/query").respond_with_data(
        "no org id\n", status=401, content_type="text/plain; charset=utf-8")
    with pytest.raises(BadResponse) as err:
        make(httpserver.url_for("")).query("q")
    text = str(err.value)
    assert "answered 401: no org id (no tenant was named in X-Scope-OrgID)" in text
    assert "Set loki.tenant in the site file, or OPSVERIFY_LOKI_TENANT" in text
    assert not isinstance(err.value, LokiQueryError)


def test_a_gateways_401_names_the_variables_to_set_without_its_html(httpserver):
    nginx_refusal(httpserver, "/ready")
    with pytest.raises(BadResponse) as err:
        make(httpserver.url_for("")).ready()
    text = str(err.value)
    assert "answered 401 UNAUTHORIZED with the gateway's HTML page" in text
    assert 'The gateway in front of Loki (Basic realm="Loki") wants credentials: set OPSVERIFY_LOKI_USER and ' \
           "OPSVERIFY_LOKI_PASSWORD (basic auth) or OPSVERIFY_LOKI_TOKEN (a bearer token)" in text
    assert "<html>" not in text


def test_a_gateway_refusing_our_credentials_says_to_check_them_unechoed(httpserver):
    nginx_refusal(httpserver, "/ready")
    with pytest.raises(BadResponse) as err:
        make(httpserver.url_for(""), user="ops", password=Secret("gw-SEKRIT")).ready()
    assert "refused the credentials in OPSVERIFY_LOKI_USER and OPSVERIFY_LOKI_PASSWORD" in str(err.value)
    assert "SEKRIT" not in str(err.value) and "b3Bz" not in str(err.value)


def test_through_grafana_its_own_401_names_the_grafana_credentials(httpserver):
    httpserver.expect_request(f"{PROXY}/ready").respond_with_json(
        {"extra": None, "message": "Unauthorized", "messageId": "auth.unauthorized", "statusCode": 401}, status=401)
    with pytest.raises(BadResponse) as err:
        make(httpserver.url_for(PROXY), via_grafana="loki").ready()
    text = str(err.value)
    assert f"{PROXY}/ready answered 401: Unauthorized (Grafana's datasource proxy wants a signed-in user)" in text
    assert "Set OPSVERIFY_GRAFANA_TOKEN (a service account token, Viewer role or more) or OPSVERIFY_GRAFANA_USER " \
           "and OPSVERIFY_GRAFANA_PASSWORD" in text


def test_through_grafana_a_datasource_that_cannot_authenticate_is_no_invalid_query(httpserver):
    # Grafana turns Loki's 401 into a 400 with this plain text (pkg/api/pluginproxy/ds_proxy.go).
    httpserver.expect_request(f"{PROXY}/loki/api/v1/query").respond_with_data(
        "Authentication to data source failed", status=400, content_type="text/plain; charset=utf-8")
    with pytest.raises(BadResponse) as err:
        make(httpserver.url_for(PROXY), via_grafana="loki").query("q")
    assert not isinstance(err.value, LokiQueryError)
    text = str(err.value)
    assert "answered 400: Authentication to data source failed (Loki, or a gateway in front of it, answered " \
           "Grafana's datasource proxy 401" in text
    assert "Grafana's datasource 'loki' does not authenticate to Loki" in text and "OPSVERIFY_LOKI_TENANT" in text


def test_through_grafana_an_unknown_datasource_names_the_uid_setting(httpserver):
    httpserver.expect_request("/api/datasources/proxy/uid/lokii/ready").respond_with_json(
        {"message": "Unable to find datasource"}, status=404)
    with pytest.raises(NotFound, match=r"answered 404: Unable to find datasource.*Grafana has no datasource with uid "
                                       r"'lokii': set grafana.datasource_uid \(OPSVERIFY_DATASOURCE_UID\)"):
        make(httpserver.url_for("/api/datasources/proxy/uid/lokii"), via_grafana="lokii").ready()


def test_through_grafana_a_query_loki_refuses_is_still_an_invalid_query(httpserver):
    httpserver.expect_request(f"{PROXY}/loki/api/v1/query").respond_with_data(
        "parse error at line 1, col 1: syntax error: unexpected IDENTIFIER", status=400,
        content_type="application/json; charset=UTF-8")
    with pytest.raises(LokiQueryError, match="fix the query"):
        make(httpserver.url_for(PROXY), via_grafana="loki").query("vector(1)")


# --- TLS ---


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: (cert file, key file)."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a certificate with")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture
def tls_loki(certificate):
    from pytest_httpserver import HTTPServer

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    server = HTTPServer(host="127.0.0.1", ssl_context=context)
    server.start()
    server.expect_request("/ready").respond_with_data("ready")
    yield server
    server.clear()
    server.stop()


@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")  # urllib3's, for verify=False: wanted here
def test_tls_is_verified_against_the_ca_bundle(tls_loki, certificate):
    url = tls_loki.url_for("").rstrip("/")
    assert url.startswith("https://")
    assert make(url, verify=str(certificate[0])).ready() == "ready"
    with pytest.raises(Unreachable, match=r"its TLS certificate is not signed by a trusted CA.*set loki.ca_bundle "
                                          r"\(OPSVERIFY_LOKI_CA_BUNDLE\) when a CA of your own signs its certificate"):
        make(url).ready()
    assert make(url, verify=False).ready() == "ready"


def test_the_ca_bundle_wins_over_requests_ca_bundle(tls_loki, certificate, monkeypatch, tmp_path):
    other = tmp_path / "other.pem"
    other.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
    assert make(tls_loki.url_for("").rstrip("/"), verify=str(certificate[0])).ready() == "ready"


# --- the settings behind it ---


def settings(**env):
    return load_settings(environ=env)


def night():
    return night_of(settings(), date(2026, 11, 29))


def test_the_loki_settings_default_to_a_direct_unauthenticated_connection():
    s = settings()
    assert (s.loki_tenant, s.loki_ca_bundle, s.loki_verify, s.loki_via) == ("", "", True, "direct")
    assert s.loki_endpoint == s.loki_url


def test_the_loki_settings_come_from_the_environment(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    s = settings(OPSVERIFY_LOKI_TENANT="escashop", OPSVERIFY_LOKI_CA_BUNDLE=str(bundle),
                 OPSVERIFY_LOKI_USER="ops", OPSVERIFY_LOKI_PASSWORD="gw-SEKRIT")
    assert (s.loki_tenant, s.loki_ca_bundle, s.sources["loki_tenant"]) == ("escashop", str(bundle), "environment")
    assert s.credentials.loki_password.reveal() == "gw-SEKRIT" and "SEKRIT" not in repr(s)
    # RunState.secrets() scrubs the password and the Basic header's encoding of ops:gw-SEKRIT.
    assert {"gw-SEKRIT", "b3BzOmd3LVNFS1JJVA=="} <= set(s.credentials.values())


def test_via_grafana_the_endpoint_is_the_datasource_proxy():
    s = settings(OPSVERIFY_LOKI_VIA="grafana", OPSVERIFY_GRAFANA_URL="http://grafana:3002")
    assert s.loki_endpoint == "http://grafana:3002/api/datasources/proxy/uid/loki"
    assert s.endpoints()["Loki"] == s.loki_endpoint


def test_the_run_builds_the_loki_client_for_each_way_in():
    def loki(**env):
        s = settings(**env)
        return RunState(s, night_of(s, date(2026, 11, 29)), 7, date(2026, 11, 23), "production",
                        Deadline(30)).client("loki")

    direct = loki(OPSVERIFY_LOKI_TENANT="escashop", OPSVERIFY_LOKI_TOKEN="tok-SEKRIT", OPSVERIFY_LOKI_VERIFY="false")
    assert direct.session.headers["Authorization"] == "Bearer tok-SEKRIT" and direct.verify is False
    assert direct.session.headers["X-Scope-OrgID"] == "escashop" and not direct.via_grafana
    proxied = loki(OPSVERIFY_LOKI_VIA="grafana", OPSVERIFY_GRAFANA_TOKEN="glsa-SEKRIT")
    assert proxied.base_url.endswith("/api/datasources/proxy/uid/loki") and proxied.via_grafana == "loki"
    assert proxied.session.headers["Authorization"] == "Bearer glsa-SEKRIT"


@pytest.mark.parametrize("env, said", [
    ({"OPSVERIFY_LOKI_TOKEN": "t-SEKRIT", "OPSVERIFY_LOKI_USER": "ops", "OPSVERIFY_LOKI_PASSWORD": "p-SEKRIT"},
     "OPSVERIFY_LOKI_TOKEN and OPSVERIFY_LOKI_USER/OPSVERIFY_LOKI_PASSWORD are both set"),
    ({"OPSVERIFY_LOKI_PASSWORD": "p-SEKRIT"}, "OPSVERIFY_LOKI_PASSWORD is set but OPSVERIFY_LOKI_USER is not"),
    ({"OPSVERIFY_LOKI_USER": "ops"}, "OPSVERIFY_LOKI_USER is set but OPSVERIFY_LOKI_PASSWORD is not"),
    ({"OPSVERIFY_LOKI_VIA": "grafana", "OPSVERIFY_LOKI_TOKEN": "t-SEKRIT"},
     "setting 'loki_via' (loki.via, OPSVERIFY_LOKI_VIA) is grafana: Loki is asked through Grafana's datasource "
     "proxy with the Grafana credentials"),
    ({"OPSVERIFY_LOKI_VIA": "grafana", "OPSVERIFY_LOKI_VERIFY": "no"},
     "they apply to a direct connection to Loki; through Grafana, its datasource holds Loki's TLS settings"),
    ({"OPSVERIFY_LOKI_VIA": "grafana", "OPSVERIFY_DATASOURCE_UID": "loki/../../api/admin"},
     "is not a Grafana uid (letters, digits, - and _, at most 40)"),
    ({"OPSVERIFY_LOKI_VIA": "proxy"}, "setting 'loki_via' from the environment: 'proxy' is not one of direct, "
                                      "grafana"),
    ({"OPSVERIFY_LOKI_TENANT": "a|b"}, "setting 'loki_tenant' from the environment: 'a|b' is not a Loki tenant ID"),
    ({"OPSVERIFY_LOKI_TENANT": "acme\r\nX-Evil: 1"}, "is not a Loki tenant ID"),
    ({"OPSVERIFY_LOKI_CA_BUNDLE": "/nonexistent/ca.pem"}, "is not a readable file (a PEM bundle of CA certificates). "
                                                          "Fix OPSVERIFY_LOKI_CA_BUNDLE"),
    ({"OPSVERIFY_LOKI_VERIFY": "maybe"}, "'maybe' is not true or false. Fix OPSVERIFY_LOKI_VERIFY"),
])
def test_a_way_into_loki_that_cannot_work_stops_the_run_naming_the_setting(env, said):
    with pytest.raises(ConfigError) as err:
        settings(**env)
    assert said in str(err.value)
    assert "SEKRIT" not in str(err.value)


def test_a_ca_bundle_with_verification_off_is_refused(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    with pytest.raises(ConfigError, match=r"'loki_ca_bundle' \(loki.ca_bundle, OPSVERIFY_LOKI_CA_BUNDLE\) is set but "
                                          r"'loki_verify' \(loki.verify, OPSVERIFY_LOKI_VERIFY\) is false"):
        settings(OPSVERIFY_LOKI_CA_BUNDLE=str(bundle), OPSVERIFY_LOKI_VERIFY="false")


def test_a_loki_password_in_the_site_file_is_refused(tmp_path):
    from opsverify.config import DEFAULT_SITE

    site = tmp_path / "site.yml"
    site.write_text(DEFAULT_SITE.read_text(encoding="utf-8").replace("loki:\n", "loki:\n  password: pw-SEKRIT\n", 1))
    with pytest.raises(ConfigError, match=r"'loki.password' looks like a credential; .*OPSVERIFY_LOKI_PASSWORD"):
        load_settings(environ={}, site_file=str(site))
