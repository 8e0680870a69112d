"""Loki 2.x HTTP API client (docs: Loki "HTTP API" reference).

Loki as production exposes it: behind a gateway that wants basic auth or a bearer token, with
auth_enabled (every request names its tenant in X-Scope-OrgID, or Loki answers 401 "no org id":
weaveworks/common middleware.AuthenticateUser, Loki 2.6.1), over TLS with a CA bundle of its own,
or only through Grafana's datasource proxy, {grafana}/api/datasources/proxy/uid/{uid}/<Loki path>
(pkg/services/datasourceproxy; Grafana drops our Authorization header there and adds the
datasource's own basic auth and custom headers, and turns Loki's 401 into a 400 "Authentication to
data source failed": pkg/api/pluginproxy/ds_proxy.go, pkg/util/proxyutil/reverse_proxy.go).

Quirks handled here, as real Loki 2.6.1 shows them (shared/reference/real-responses):
sample values are strings; an empty result is a success with `result: []`;
a LogQL syntax error is a 400 with a plain-text body; a bad regular expression
is a 500 whose body says "parse error" -- an invalid query, not Loki being down.
"""

from dataclasses import dataclass
from datetime import datetime

import yaml

from opsverify import yamlsafe
from opsverify.clients.http import BadResponse, HttpClient, NotFound

INVALID_QUERY_MARKERS = ("parse error", "error parsing regexp")
NO_ORG_ID = "no org id"  # Loki's 401 body without X-Scope-OrgID (weaveworks/common user.ErrNoOrgID)
DATASOURCE_AUTH_FAILED = "Authentication to data source failed"  # Grafana's 400 for its datasource's 401
TENANT_HINT = ("Loki runs with auth_enabled: true and reads one tenant a request. Set loki.tenant in the site file, "
               "or OPSVERIFY_LOKI_TENANT, to the tenant whose logs to read (the tenant_id Promtail pushes with); "
               "it is sent as X-Scope-OrgID")


class LokiQueryError(BadResponse):
    """Loki refused the query itself (syntax, regex, unsupported): fix the query, not Loki."""


@dataclass(frozen=True)
class Sample:
    """One series of an instant metric query: its labels and value at the query's time."""

    labels: dict
    value: float


@dataclass(frozen=True)
class Series:
    """One series of a range metric query: its labels and its points."""

    labels: dict
    points: tuple  # ((unix seconds, value), ...)

    @property
    def total(self):
        return sum(v for _, v in self.points)


@dataclass(frozen=True)
class Stream:
    labels: dict
    entries: tuple  # ((unix ns, line), ...)


@dataclass(frozen=True)
class QueryResult:
    result_type: str  # vector | matrix | streams | scalar
    items: tuple  # Sample, Series or Stream

    def total(self):
        """The sum of every sample of a vector or matrix (0 when empty)."""
        if self.result_type == "vector":
            return sum(s.value for s in self.items)
        if self.result_type == "matrix":
            return sum(s.total for s in self.items)
        raise TypeError(f"total() of a {self.result_type} result")

    def entries(self):
        """Every (ns, line, labels) of a streams result, oldest first."""
        found = [(ns, line, s.labels) for s in self.items for ns, line in s.entries]
        return sorted(found, key=lambda e: e[0])


def to_ns(instant):
    """An aware datetime as the unix-nanosecond integer Loki accepts."""
    if not isinstance(instant, datetime) or instant.tzinfo is None:
        raise TypeError("Loki times must be timezone-aware datetimes")
    return int(instant.timestamp()) * 1_000_000_000 + instant.microsecond * 1000


class LokiClient(HttpClient):
    system = "Loki"
    hint = "Check that Loki runs and is reachable from this host (curl <loki>/ready)"
    READY, CONFIG, SERIES = "/ready", "/config", "/loki/api/v1/series"
    QUERY, QUERY_RANGE, PUSH = "/loki/api/v1/query", "/loki/api/v1/query_range", "/loki/api/v1/push"

    def __init__(self, base_url, *, user="", password=None, token=None, tenant="", verify=True, via_grafana="",
                 **kwargs):
        """`token` (Bearer) or `user` and `password` (basic auth; Secrets): for a gateway in front of Loki, or
        with `via_grafana` (the datasource uid: `base_url` is then Grafana's proxy for it) Grafana's
        credentials. `tenant`: sent as X-Scope-OrgID on every request. `verify`: True, a CA bundle's path,
        or False."""
        super().__init__(base_url, **kwargs)
        if token:
            self.session.headers["Authorization"] = f"Bearer {token.reveal()}"
        elif user and password:
            self.session.auth = (user, password.reveal())
        if tenant:
            self.session.headers["X-Scope-OrgID"] = tenant
        self.verify = verify
        self.tenant, self.via_grafana = tenant, via_grafana
        self.authenticated = bool(token or (user and password))
        if via_grafana:
            self.hint = (f"Check that Grafana runs and that its datasource '{via_grafana}' reaches Loki (in Grafana: "
                         "Connections > Data sources > the Loki datasource > Save & test)")
        elif isinstance(verify, str):
            self.hint += ", and that loki.ca_bundle holds the CA that signs its TLS certificate"
        elif verify and self.base_url.startswith("https:"):
            self.hint += "; set loki.ca_bundle (OPSVERIFY_LOKI_CA_BUNDLE) when a CA of your own signs its certificate"

    def ready(self):
        """Loki's /ready: 'ready' with 200; 503 while starting."""
        response = self.request("GET", self.READY)
        return response.text.strip()

    def buildinfo(self):
        return self.get_json("/loki/api/v1/status/buildinfo")

    def config(self, mode=None):
        """The running configuration (GET /config, YAML), as a mapping; mode "diff": only what differs
        from Loki's defaults, i.e. what the operator set."""
        response = self.request("GET", self.CONFIG, params={"mode": mode} if mode else None)
        try:
            document = yamlsafe.safe_load(response.text)
        except yaml.YAMLError:
            document = None
        if document is None and mode == "diff":
            return {}  # nothing differs from the defaults
        if not isinstance(document, dict):
            raise self.shape_error(response, "not Loki's YAML configuration")
        return document

    def query(self, logql, *, at=None, limit=None, direction=None):
        """An instant query (GET /loki/api/v1/query)."""
        params = {"query": logql}
        if at is not None:
            params["time"] = to_ns(at)
        params.update(_optional(limit=limit, direction=direction))
        return self._query(self.QUERY, params)

    def query_range(self, logql, *, start, end, step=None, limit=None, direction=None):
        """A range query (GET /loki/api/v1/query_range); step in seconds."""
        params = {"query": logql, "start": to_ns(start), "end": to_ns(end)}
        params.update(_optional(step=step, limit=limit, direction=direction))
        return self._query(self.QUERY_RANGE, params)

    def labels(self, *, start=None, end=None):
        return self._strings("/loki/api/v1/labels", start, end)

    def label_values(self, name, *, start=None, end=None):
        return self._strings(f"/loki/api/v1/label/{name}/values", start, end)

    def series(self, match, *, start=None, end=None):
        params = {"match[]": match, **_times(start, end)}
        response = self.request("GET", self.SERIES, params=params)
        body = self.parse_json(response)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            raise self.shape_error(response, "data is not a list of label sets")
        return data

    def push(self, labels, entries):
        """POST /loki/api/v1/push (JSON). It writes to Loki: no check may call it without an explicit option
        and a marker of its own (tests/e2e/test_trust_e2e.py proves the suite only reads)."""
        body = {"streams": [{"stream": labels, "values": [[str(ns), line] for ns, line in entries]}]}
        self.request("POST", self.PUSH, json_body=body, expect=(204,))

    def error_for(self, method, url, response):
        refused = self._access_error(method, url, response)
        if refused is not None:
            return refused
        text = response.text or ""
        invalid = response.status_code == 400 or (
            response.status_code == 500 and any(m in text for m in INVALID_QUERY_MARKERS)
        )
        if invalid and "/query" in url:
            return LokiQueryError(self.system, method, url,
                                  f"rejected the query ({response.status_code}): {text.strip()}",
                                  status=response.status_code,
                                  hint="The LogQL is invalid: fix the query (Loki runs, it refused this query)")
        return super().error_for(method, url, response)

    def _access_error(self, method, url, response):
        """The error for an answer that refuses us access (tenant, credentials, Grafana's proxy), saying which
        setting or environment variable to set; None for any other answer."""
        status, text = response.status_code, (response.text or "").strip()
        message = _grafana_message(response) if self.via_grafana else ""

        def refused(problem, hint, kind=BadResponse, body=""):
            return kind(self.system, method, url, problem, status=status, body=body, hint=hint)

        if status == 401 and text == NO_ORG_ID:
            return refused("answered 401: no org id (no tenant was named in X-Scope-OrgID)", TENANT_HINT)
        if self.via_grafana:
            if status == 401:
                creds = ("Grafana refused the credentials in OPSVERIFY_GRAFANA_TOKEN or OPSVERIFY_GRAFANA_USER/"
                         "PASSWORD: check them" if self.authenticated else
                         "Set OPSVERIFY_GRAFANA_TOKEN (a service account token, Viewer role or more) or "
                         "OPSVERIFY_GRAFANA_USER and OPSVERIFY_GRAFANA_PASSWORD")
                return refused(f"answered 401: {message or 'Unauthorized'} (Grafana's datasource proxy wants a "
                               "signed-in user)", f"loki.via is grafana: Loki is asked through Grafana with the "
                               f"Grafana credentials. {creds}")
            if status == 400 and text == DATASOURCE_AUTH_FAILED:
                tenant = (f"loki.tenant ({self.tenant}) was passed on, yet Loki or its gateway refused Grafana's "
                          "request" if self.tenant else
                          "for a Loki with auth_enabled, set loki.tenant (OPSVERIFY_LOKI_TENANT): the proxy passes "
                          "our X-Scope-OrgID on when the datasource sets none")
                return refused(f"answered 400: {DATASOURCE_AUTH_FAILED} (Loki, or a gateway in front of it, answered "
                               "Grafana's datasource proxy 401, which Grafana turns into this 400)",
                               f"Grafana's datasource '{self.via_grafana}' does not authenticate to Loki: in Grafana "
                               "give it Loki's basic auth, and for a Loki with auth_enabled the HTTP header "
                               f"X-Scope-OrgID; or {tenant}")
            if status == 404 and message:
                return refused(f"answered 404: {message}", f"Grafana has no datasource with uid "
                               f"'{self.via_grafana}': set grafana.datasource_uid (OPSVERIFY_DATASOURCE_UID) to the "
                               "uid of its Loki datasource", kind=NotFound)
            if status == 403 and message:
                return refused(f"answered 403: {message}", "The Grafana user or service account may not query "
                               f"datasource '{self.via_grafana}' (datasources:query): grant it, or use another in "
                               "OPSVERIFY_GRAFANA_TOKEN")
            if status in (502, 504) and not text:
                return refused(f"answered {status} with no body: Grafana's datasource proxy could not reach Loki",
                               f"Check the URL of Grafana's datasource '{self.via_grafana}' and that Loki runs")
            return None
        if status in (401, 403):
            challenge = response.headers.get("WWW-Authenticate", "")
            who = "The gateway in front of Loki" + (f" ({challenge})" if challenge else "")
            if self.authenticated:
                hint = (f"{who} refused the credentials in OPSVERIFY_LOKI_USER and "
                        "OPSVERIFY_LOKI_PASSWORD (or OPSVERIFY_LOKI_TOKEN): check them")
            else:
                hint = (f"{who} wants credentials: set OPSVERIFY_LOKI_USER and OPSVERIFY_LOKI_PASSWORD "
                        "(basic auth) or OPSVERIFY_LOKI_TOKEN (a bearer token)")
            html = "text/html" in response.headers.get("Content-Type", "")
            return refused(f"answered {status} {response.reason}" + (" with the gateway's HTML page" if html else ""),
                           hint, body="" if html else text)
        return None

    def _query(self, path, params):
        response = self.request("GET", path, params=params)
        body = self.parse_json(response)
        try:
            if body["status"] != "success":
                raise KeyError("status")
            data = body["data"]
            return _parse_result(data["resultType"], data["result"])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise self.shape_error(response, f"not a Loki query response ({exc!s})") from None

    def _strings(self, path, start, end):
        response = self.request("GET", path, params=_times(start, end))
        body = self.parse_json(response)
        data = body.get("data", []) if isinstance(body, dict) else None
        if body.get("status") != "success" or not isinstance(data, list):
            raise self.shape_error(response, "data is not a list of strings")
        return [str(v) for v in data]


def _grafana_message(response):
    """The "message" of one of Grafana's own JSON errors ("" when the answer is not one)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("message") or "") if isinstance(body, dict) else ""


def _parse_result(result_type, result):
    if not isinstance(result, list):
        raise TypeError("result is not a list")
    if result_type == "vector":
        items = tuple(Sample(dict(r["metric"]), float(r["value"][1])) for r in result)
    elif result_type == "matrix":
        items = tuple(
            Series(dict(r["metric"]), tuple((float(t), float(v)) for t, v in r["values"])) for r in result
        )
    elif result_type == "streams":
        items = tuple(Stream(dict(r["stream"]), tuple((int(ns), str(line)) for ns, line in r["values"]))
                      for r in result)
    else:
        raise ValueError(f"unknown resultType {result_type!r}")
    return QueryResult(result_type, items)


def _optional(**params):
    return {k: v for k, v in params.items() if v is not None}


def _times(start, end):
    return {k: to_ns(v) for k, v in (("start", start), ("end", end)) if v is not None}
