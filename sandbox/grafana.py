"""Emulated Grafana HTTP API (9.5, 10.4, 11.3 or 12.1) over a directory of real Grafana provisioning files.

sandbox.grafana_files reads the directory the way Grafana's file provisioning
does (datasources, alerting, dashboards) and keeps each resource in the shape
Grafana's HTTP API returns it; this module serves them and evaluates the alert
rules against Loki on request.

Shapes and texts follow Grafana's source (pkg/api, pkg/services/ngalert,
pkg/services/authn, pkg/tsdb/loki) and its HTTP API documentation; each
handler names what it follows. What the sandbox does not emulate it refuses
with a 501 that says so.

Versions (Grafana(version=...), the CLI's --grafana-version) differ where an API the suite reads does
(grafana-facts.md): /api/health's version; 9.x has no contact-point export (404); templates `[]` up to
10.x, `null` from 11.x when there are none; state history empty before 10.3 (the annotation store's
from/to unit bug), the 12.x Prometheus history backend refuses queries; the rules API's `file` is the
folder's full path from 11.x (nested folders); 12.x reads keepFiringFor and plays Recovering; health
from the alert states (StatesToRuleStatus) from 11.x, from the evaluation before.
"""

import base64
import hmac
import json
import math
import re
import time
from datetime import datetime, timezone
from urllib.parse import urlencode, urlsplit

import requests

from . import grafana_am_api, grafana_expr, grafana_history
from .gotext import go_yaml_v3 as go_yaml  # Grafana's exports: yaml.v3's Marshal
# load and ProvisioningError are this module's interface to the provisioning files.
from .grafana_files import (BASE_INTERVAL_S, EXPR_UID, REDACTED, ProvisioningError, folder_uid, load,  # noqa: F401
                            parse_duration)
from .httpserver import App, Response, json_response

VERSIONS = {"9.5": "9.5.21", "10.4": "10.4.19", "11.3": "11.3.0", "12.1": "12.1.1"}  # --grafana-version
VERSION = VERSIONS["11.3"]  # the default
COMMIT = "sandbox"
BUILDSTAMP = 1729180800  # the build's Unix time, as buildInfo reports it
# [server] root_url of EscaShop's Grafana (Grafana's own default is http://localhost:3000/).
DEFAULT_ROOT_URL = "http://localhost:3002/"
LOKI_TIMEOUT = 10
# Headers Grafana's web server sets on API responses.
API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
               "X-Frame-Options": "deny", "X-Xss-Protection": "1; mode=block"}
ERROR_JSON = "application/json; charset=UTF-8"

# Roles: the admin user and the token (an Admin service account) are Admin; extra users
# (Grafana(users=...)) carry the basic role they are given. A handler says which roles it
# emulates; for any other it refuses with a 501 rather than guess Grafana's RBAC answer.
ADMIN, EDITOR, VIEWER = "Admin", "Editor", "Viewer"
ROLES = (ADMIN, EDITOR, VIEWER)
# The evaluator the receiver service checks for decrypted reads from the provisioning API
# (ngalert accesscontrol/receivers.go: provisioning secrets or receiver secrets), as
# anyEvaluator.GoString() prints it into the 403's extra.permissions.
DECRYPT_PERMISSIONS = ("any(any of alert.provisioning.secrets:read "
                       "any of alert.notifications.receivers.secrets:read)")
HISTORY_STATES = {"Normal", "Alerting", "Pending", "NoData", "Error"}  # eval.ParseStateString
SHORT_UID = re.compile(r"^[a-zA-Z0-9\-_]{0,40}$")
GO_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
GO_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


# --- the server ---

def _error(status, message, message_id, extra=None, content_type=ERROR_JSON):
    # errutil.Error's public form, as pkg/api/response writes it (ERROR_JSON content type).
    body = {"extra": extra, "message": message, "messageId": message_id, "statusCode": status, "traceID": ""}
    return json_response(status, body, content_type=content_type)


def _credentials(request):
    """(scheme in lower case, credentials) of the Authorization header; ("", "") without one."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return (scheme.lower(), credentials) if credentials else ("", "")


def _basic(credentials):
    """(user, ":" or "", password) of Basic credentials, None when they are not base64 UTF-8."""
    try:
        return base64.b64decode(credentials, validate=True).decode("utf-8").partition(":")
    except ValueError:
        return None


def refusal(request):
    """Grafana's 401 for a request whose credentials it does not accept (pkg/services/authn clients:
    the API key client for a Bearer token or user api_key, the basic client, else no client at all)."""
    scheme, credentials = _credentials(request)
    if scheme == "bearer":
        return _error(401, "Invalid API key", "api-key.invalid")
    if scheme == "basic":
        user, sep, _ = _basic(credentials) or ("", "", "")
        if not sep:
            return _error(401, "Invalid Basic Auth Header", "basic-auth.invalid-header")
        if user == "api_key":
            return _error(401, "Invalid API key", "api-key.invalid")
        return _error(401, "Invalid username or password", "password-auth.failed")
    return _error(401, "Unauthorized", "auth.unauthorized")


def _internal_error(request):
    """A handler's panic, as pkg/middleware/recovery.go answers it in production (Env != dev): for an
    API path (ReqContext.IsApiRequest: /api...) ctx.JSON(500, map) - pkg/web Context.JSON, a
    json.Encoder (sorted keys, compact, trailing newline), application/json; charset=UTF-8. Other
    paths render Grafana's error.html template, which the sandbox does not emulate."""
    if not request.path.startswith("/api"):
        return _unsupported(request, "under the error500 fault (Grafana renders its error.html template there)")
    body = {"error": "Server Error",
            "message": "Internal Server Error - Check the Grafana server logs for the detailed error message."}
    return Response(500, (json.dumps(body, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8"),
                    ERROR_JSON, dict(API_HEADERS))


def _message(status, message, content_type=ERROR_JSON):
    # response.Error / ctx.JsonApiErr: {"message": ...}; response.Error itself writes application/json.
    return json_response(status, {"message": message}, content_type=content_type)


def _query_bool(request, name, default):
    """ReqContext.QueryBoolWithDefault: the default when absent, else strconv.ParseBool (false if invalid)."""
    value = request.arg(name, "")
    if value == "":
        return default
    return value in GO_TRUE


def _export_format(request):
    """extractExportRequest: yaml by default; the Accept header, then ?format= (yaml, json, hcl)."""
    wanted = "yaml"
    accept = request.headers.get("accept", "")
    if "yaml" in accept:
        wanted = "yaml"
    if "json" in accept:
        wanted = "json"
    if request.arg("format") in ("yaml", "json", "hcl"):
        wanted = request.arg("format")
    return wanted


def _export_response(body, wanted, download):
    """response.JSON / response.YAML (text/yaml), or their Download forms (an attachment export.<format>)."""
    if wanted == "json":
        response = json_response(200, body)
    else:
        response = Response(200, go_yaml(body).encode("utf-8"), "text/yaml")
    if download:
        response.content_type = "application/json" if wanted == "json" else "application/yaml"
        response.headers["Content-Disposition"] = f'attachment;filename="export.{wanted}"'
    return response


def _contact_points(prov, name, decrypt):
    """EmbeddedContactPoints as GetContactPoints gives them: sorted by name, then uid; secure settings
    redacted unless decrypted (ReceiverService.decryptOrRedact)."""
    out = []
    for cp in sorted(prov.contact_points, key=lambda p: (p["name"], p["uid"])):
        if name and cp["name"] != name:
            continue
        secure = prov.secure_settings(cp["type"])
        settings = {key: (REDACTED if key in secure and value and not decrypt else value)
                    for key, value in sorted(cp["settings"].items())}  # a Go map: keys sorted
        out.append({**cp, "settings": settings})
    return out


def parse_root_url(text):
    """pkg/setting parseAppUrlAndSubUrl: [server] root_url gets a trailing slash if it lacks one;
    appSubUrl is its path without the trailing slash. Returns (appUrl, appSubUrl).

    The sandbox takes absolute http(s) URLs only (Grafana would also take a root_url with
    %(protocol)s-style placeholders, which the sandbox does not expand)."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"root_url {text!r}: give an absolute http or https URL")
    app_url = text if text.endswith("/") else text + "/"
    parts = urlsplit(app_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment \
            or "%(" in app_url:
        raise ValueError(f"root_url {text!r}: the sandbox takes an absolute http or https URL with no query, "
                         "fragment or %(...)s placeholder")
    path = parts.path or "/"
    return app_url, path[:-1] if path.endswith("/") else path  # strings.TrimSuffix(url.Path, "/")


def template_version(content):
    """provisioning calculateTemplateFingerprint: Go's hash/fnv New64 (FNV-1) of the content, %016x."""
    value = 0xCBF29CE484222325
    for byte in content.encode("utf-8"):
        value = (value * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        value ^= byte
    return f"{value:016x}"


def _unsupported(request, why=""):
    return _message(501, f"the sandbox's Grafana does not support {request.method} {request.path}"
                         + (f" {why}" if why else ""))


def _full_path(titles):
    """folder.Fullpath (11.x nested folders): the titles from the root, "/"-joined, a "/" in a title escaped."""
    return "/".join(t.replace("/", "\\/") for t in titles)


def _slug(title):
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


class Grafana:
    def __init__(self, provisioning, user, password, token, clock=lambda: datetime.now(timezone.utc), users=None,
                 root_url=DEFAULT_ROOT_URL, history_backend="annotations", database_failing=False, version=VERSION,
                 folder_parents=None):
        self.provisioning = provisioning
        self.version = version
        self.major, self.minor = (int(p) for p in version.split(".")[:2])
        if (self.major >= 12) != provisioning.grafana12:
            raise ValueError(f"Grafana {version}: load the provisioning with grafana12={self.major >= 12}")
        if history_backend == "prometheus" and self.major < 12:
            raise ValueError(f"the prometheus state history backend is Grafana 12's, not {version}'s")
        # folder title -> [parent titles from the root]: nested folders, which exist from Grafana 11.
        self.folder_parents = dict(folder_parents or {})
        if self.folder_parents and self.major < 11:
            raise ValueError(f"nested folders are Grafana 11's; Grafana {version} has none")
        self.loki_headers = {"User-Agent": f"Grafana/{version}"}  # how Grafana's datasource client names itself
        self.app_url, self.app_sub_url = parse_root_url(root_url)
        self.user, self.password, self.token = user, password, token
        self.users = dict(users or {})  # login -> (password, basic role) besides the admin
        for login, (_, role) in self.users.items():
            if role not in ROLES or login in (user, "api_key"):
                raise ValueError(f"user {login!r} with role {role!r}: the login must differ from the admin's and "
                                 f"'api_key', the role be one of {', '.join(ROLES)}")
        self.clock = clock  # when rules are evaluated
        self.database_failing = database_failing  # /api/health's database ping fails (pkg/api/health.go)
        self.history_backend = history_backend  # [unified_alerting.state_history] backend; "" when off
        self._history = {}  # (rule uid, evaluation tick) -> transitions

    def is_server_admin(self, request):
        """The configured admin user is a Grafana server admin; service accounts and other users are not."""
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user = base64.b64decode(credentials, validate=True).decode("utf-8").partition(":")[0]
        except ValueError:
            return False
        return hmac.compare_digest(user, self.user)

    def frontend_settings(self, request):
        """dtos.FrontendSettingsDTO as getFrontendSettings fills it for a default Grafana 11 install:
        a subset, in the DTO's field order (datasources, panels, apps, featureToggles, licenseInfo and
        the other plugin- and licence-dependent fields are not emulated and left out)."""
        prov = self.provisioning
        default = next((ds["name"] for ds in prov.datasources.values() if ds["isDefault"]), "-- Grafana --")
        return {
            "defaultDatasource": default,
            "minRefreshInterval": "5s",
            "appUrl": self.app_url,
            "appSubUrl": self.app_sub_url,
            "allowOrgCreate": self.is_server_admin(request),  # (allow_org_create && signed in) || server admin
            "authProxyEnabled": False,
            "ldapEnabled": False,
            "jwtHeaderName": "",
            "jwtUrlLogin": False,
            "liveEnabled": True,
            "autoAssignOrg": True,
            "verifyEmailEnabled": False,
            "sigV4AuthEnabled": False,
            "azureAuthEnabled": False,
            "rbacEnabled": True,
            "exploreEnabled": True,
            "helpEnabled": True,
            "profileEnabled": True,
            "newsFeedEnabled": True,
            "queryHistoryEnabled": True,
            "disableLoginForm": False,
            "disableUserSignUp": True,
            "viewersCanEdit": False,
            "buildInfo": {"hideVersion": False, "version": self.version,
                          "versionString": f"Grafana v{self.version} ({COMMIT[:10]})", "commit": COMMIT,
                          "commitShort": COMMIT[:10], "buildstamp": BUILDSTAMP, "edition": "Open Source",
                          "latestVersion": "", "hasUpdate": False, "env": "production"},
            "anonymousEnabled": False,
            "expressionsEnabled": True,
            "unifiedAlertingEnabled": True,
            # alertStateHistoryBackend is set only when state history is on (frontendsettings.go).
            "unifiedAlerting": {"minInterval": f"{BASE_INTERVAL_S}s",
                                **({"alertStateHistoryBackend": self.history_backend} if self.history_backend else {})},
        }

    def datasource_headers(self, ds):
        """What Grafana's HTTP client for datasource `ds` sends with each request to it, besides the request's own:
        User-Agent Grafana/<version>; Authorization: Basic from basicAuth, basicAuthUser and
        secureJsonData.basicAuthPassword (pkg/api/pluginproxy/ds_proxy.go director; the datasource's HTTP client
        options alike); its custom headers, jsonData.httpHeaderName1, 2, ... (up to the first missing) with
        secureJsonData.httpHeaderValueN (pkg/services/datasources/service getCustomHeaders), which the plugin SDK's
        CustomHeadersMiddleware sets, replacing a header of the same name."""
        secrets = self.provisioning.datasource_secrets.get(ds["uid"], {})
        headers = dict(self.loki_headers)
        if ds.get("basicAuth"):
            pair = f"{ds.get('basicAuthUser', '')}:{secrets.get('basicAuthPassword', '')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
        index = 1
        while (ds.get("jsonData") or {}).get(f"httpHeaderName{index}"):
            if f"httpHeaderValue{index}" in secrets:
                headers[ds["jsonData"][f"httpHeaderName{index}"]] = secrets[f"httpHeaderValue{index}"]
            index += 1
        return headers

    def authenticate(self, request):
        """(role, None) when the request may pass, else (None, Grafana's 401) (pkg/services/authn clients)."""
        scheme, credentials = _credentials(request)
        if scheme == "bearer" and hmac.compare_digest(credentials.strip(), self.token):
            return ADMIN, None
        if scheme == "basic":
            user, sep, password = _basic(credentials) or ("", "", "")
            if sep and user == "api_key":  # the API key client also reads basic auth with this user name
                if hmac.compare_digest(password, self.token):
                    return ADMIN, None
            elif sep and hmac.compare_digest(user, self.user) and hmac.compare_digest(password, self.password):
                return ADMIN, None
            elif sep and user in self.users and hmac.compare_digest(password, self.users[user][0]):
                return self.users[user][1], None
        return None, refusal(request)

    def history(self, rule):
        """The rule's state transitions since its last change up to now; worked out once per evaluation
        tick (the state machine is causal: a later end changes nothing before it)."""
        return self._machine(rule)[0]

    def state_now(self, rule):
        """(state, reason, since, last tick) where the state machine stands now, None before any evaluation:
        the rules API reads the same machine the state history records."""
        return self._machine(rule)[1]

    def _machine(self, rule):
        group = next(g for g in self.provisioning.groups
                     if g["folderUid"] == rule["folderUID"] and g["title"] == rule["ruleGroup"])
        interval, now = int(group["interval"]), self.clock().timestamp()
        key = (rule["uid"], int(now) // interval)
        if key not in self._history:
            keep = parse_duration(rule.get("keep_firing_for") or "0s", rule["uid"]) / 1000
            self._history[key] = grafana_history.history(
                rule, self.provisioning.datasources, self.evaluate, self.provisioning.rules_updated.timestamp(),
                now, interval, parse_duration(rule["for"], rule["uid"]) / 1000, self.datasource_headers, keep)
        return self._history[key]

    def folder_path(self, uid):
        """The rules API's `file`: the folder's title up to 10.x, its full path from 11.x."""
        title = self.provisioning.folders[uid]
        return _full_path(self.folder_parents.get(title, []) + [title]) if self.major >= 11 else title

    def check_health(self, ds):
        """The Loki plugin's CheckHealth (pkg/tsdb/loki/healthcheck.go): an instant query of
        vector(1)+vector(1) at 1970-01-01T00:00:04Z whose value must be 2."""
        if ds["type"] != "loki":
            return None
        url = ds["url"].rstrip("/") + "/loki/api/v1/query?" + urlencode(
            {"direction": "backward", "query": "vector(1)+vector(1)", "time": "4000000000"})
        failure = "There was an error returned querying the Loki API."
        try:
            response = requests.get(url, timeout=LOKI_TIMEOUT, headers=self.datasource_headers(ds))
        except requests.RequestException as exc:
            return "ERROR", f"{failure}: {_go_dial_error(url, exc)}"
        if response.status_code != 200:
            return "ERROR", f"{failure}: {_loki_error_text(response)}"
        try:
            result = response.json()["data"]["result"]
            value = float(result[0]["value"][1]) if len(result) == 1 else None
        except (ValueError, KeyError, IndexError, TypeError):
            value = None
        if value != 2:
            return "ERROR", f"{failure}: invalid response"
        return "OK", "Successfully queried the Loki API."

    def evaluate(self, rule, now):
        """One evaluation of `rule` at `now`: (health, error, series) where series maps a
        label tuple to {refId: value} for the condition's series.

        Like Grafana's evaluator it runs the datasource queries over the rule's
        relative time range and then the server-side expressions in order
        (sandbox.grafana_expr: reduce, threshold, math, resample, classic_conditions).
        It queries Loki datasources only; anything it does not emulate is an
        evaluation error that says so.
        """
        frames = {}  # refId -> {labels: number or [(t, value)]}
        expressions = []
        for query in rule["data"]:
            ref, model = query["refId"], query["model"]
            if query["datasourceUid"] != EXPR_UID:
                ds = self.provisioning.datasources.get(query["datasourceUid"])
                if ds is None or ds["type"] != "loki":
                    return "error", ("the sandbox's Grafana evaluates only Loki queries "
                                     f"(datasource {query['datasourceUid']!r})"), {}
                try:
                    frames[ref] = _loki_query(ds["url"], model, query["relativeTimeRange"], now,
                                              self.datasource_headers(ds))
                except QueryError as exc:
                    return "error", f"[sse.dataQueryError] failed to execute query [{ref}]: {exc}", {}
                continue
            try:
                frames[ref] = grafana_expr.evaluate(ref, model, frames, query["relativeTimeRange"],
                                                    now.timestamp())
            except grafana_expr.ExprError as exc:
                return "error", str(exc), {}
            except grafana_expr.Unsupported as exc:
                return "error", f"{exc} [{ref}]", {}
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                return "error", (f"the sandbox's Grafana cannot evaluate the {model.get('type')!r} expression "
                                 f"[{ref}]: {exc!r}"), {}
            expressions.append(ref)
        condition = frames.get(rule["condition"])
        if not condition:
            return "nodata", "", {}
        if any(grafana_expr.is_series(value) for value in condition.values()):
            return "error", (f"invalid format of evaluation results for the alert definition {rule['condition']}: "
                             "looks like time series data, only reduced data can be alerted on."), {}
        if all(value is None for value in condition.values()):
            return "nodata", "", {}
        firing = {labels: {ref: _scalar(frames[ref].get(labels, 0)) for ref in expressions}
                  for labels, value in condition.items() if value is not None and value != 0}
        return "ok", "", firing


class QueryError(Exception):
    pass


def _scalar(value):
    """A number for the alert's value string (the last point of a series)."""
    if grafana_expr.is_series(value):
        value = value[-1][1] if value else None
    return math.nan if value is None else value


def _loki_query(base_url, model, span, now, headers):
    """The Loki query of a rule, run as Grafana's Loki backend runs it for alerting."""
    end = now.timestamp() - span.get("to", 0)
    start = now.timestamp() - span.get("from", 0)
    if model.get("queryType", "range") == "instant":
        path, params = "/loki/api/v1/query", {"query": model["expr"], "time": f"{end:.3f}", "direction": "backward"}
    else:
        step = max(model.get("intervalMs", 1000) / 1000, (end - start) / model.get("maxDataPoints", 43200))
        path, params = "/loki/api/v1/query_range", {"query": model["expr"], "start": f"{start:.3f}",
                                                    "end": f"{end:.3f}", "step": f"{step:g}", "direction": "backward"}
    url = base_url.rstrip("/") + path + "?" + urlencode(params)
    try:
        response = requests.get(url, timeout=LOKI_TIMEOUT, headers=headers)
    except requests.RequestException as exc:
        raise QueryError(_go_dial_error(url, exc)) from None
    if response.status_code != 200:
        raise QueryError(_loki_error_text(response))
    data = response.json()["data"]
    if data["resultType"] == "streams":
        raise QueryError("the sandbox's Grafana cannot evaluate a log query in an alert rule (it needs a metric query)")
    if data["resultType"] == "vector":
        return {tuple(sorted(item["metric"].items())): [(float(item["value"][0]), float(item["value"][1]))]
                for item in data["result"]}
    return {tuple(sorted(item["metric"].items())): [(float(t), float(v)) for t, v in item["values"]]
            for item in data["result"]}


def _loki_error_text(response):
    """pkg/tsdb/loki makeLokiError: the "message" of a JSON body, else the whole body as it came
    (Loki 2.6.1's 500 for a bad regexp ends with a newline, and so does Grafana's error then)."""
    try:
        body = response.json()
    except ValueError:
        return response.text
    if isinstance(body, dict):  # encoding/json matches the field name case-insensitively
        message = next((v for k, v in body.items() if k.lower() == "message"), None)
        if isinstance(message, str) and message:
            return message
    return response.text


def _go_dial_error(url, exc):
    """The text Go's net/http gives a refused or failed connection."""
    host = urlsplit(url).netloc
    reason = "connect: connection refused" if "refused" in str(exc).lower() else str(exc)
    return f'Get "{url}": dial tcp {host}: {reason}'


def make_app(grafana):
    app = App("grafana")
    prov = grafana.provisioning
    app.fault_answer("error500")(_internal_error)

    # The fault "unauthorized": every request is refused as one with credentials Grafana does not accept.
    @app.fault_answer("unauthorized")
    def unauthorized(request):
        response = refusal(request)
        response.headers.update(API_HEADERS)
        return response

    def api(method, pattern, roles=(ADMIN,)):
        """Register an authenticated API handler that gets Grafana's security headers.

        `roles`: the basic roles whose answers the handler emulates; any other role gets a 501.
        """
        def register(handler):
            def wrapper(request):
                role, response = grafana.authenticate(request)
                if response is None and role not in roles:
                    response = _unsupported(request, f"for a user with the {role} role (it emulates the answers "
                                                     f"for {', '.join(roles)} there)")
                if response is None:
                    request.role = role
                    response = handler(request)
                for name, value in API_HEADERS.items():
                    response.headers.setdefault(name, value)
                return response
            app.route(method, pattern)(wrapper)
            return handler
        return register

    _other_routes(app, api, grafana)
    _datasource_proxy_routes(app, grafana, prov)
    _datasource_and_dashboard_routes(api, grafana, prov)
    _provisioning_routes(api, grafana, prov)
    _rule_state_routes(api, grafana, prov)
    grafana_am_api.register(api, grafana, ROLES, _unsupported)  # its Alertmanager: alert.instances:read

    # Any other /api path: Grafana's API catch-all answers 404 {"message":"Not found"} (after auth).
    @api("GET", r"/api/.*")
    def not_found(request):
        return _message(404, "Not found")

    for method in ("POST", "PUT", "PATCH", "DELETE"):
        app.route(method, r"/.*")(lambda request: _unsupported(request, "(it is read-only)"))
    app.route("GET", r"/.*")(lambda request: _unsupported(request, "(it serves the HTTP API under /api only)"))
    return app


def _other_routes(app, api, grafana):
    # Grafana HTTP API "Other": GET /api/health, no auth; simplejson.EncodePretty (sorted keys, 2 spaces).
    # pkg/api/health.go: when the database ping fails, "database": "failing" and status 503. The sandbox
    # plays that with database_failing (--grafana-database-failing); only the health answer changes.
    @app.route("GET", "/api/health")
    def health(request):
        database = "failing" if grafana.database_failing else "ok"
        body = json.dumps({"commit": "sandbox", "database": database, "version": grafana.version}, indent=2,
                          sort_keys=True)
        return Response(503 if grafana.database_failing else 200, body.encode("utf-8"), ERROR_JSON,
                        dict(API_HEADERS))

    # GET /api/frontend/settings (pkg/api/api.go: in the /api group behind reqSignedIn, so any signed-in
    # role; pkg/api/frontendsettings.go GetFrontendSettings -> c.JSON, application/json; charset=UTF-8).
    # appUrl/appSubUrl come from [server] root_url (Grafana.root_url, the CLI's --grafana-root-url).
    @api("GET", r"/api/frontend/settings/?", roles=ROLES)
    def frontend_settings(request):
        return json_response(200, grafana.frontend_settings(request), content_type=ERROR_JSON)


# Go's net/http/httputil ReverseProxy drops these both ways (hopHeaders); the sandbox also leaves to its own server
# and HTTP library what they write themselves (Content-Length, Date, Host, Accept-Encoding, Content-Encoding).
HOP_HEADERS = {"connection", "proxy-connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
               "trailer", "transfer-encoding", "upgrade", "content-length", "date", "host", "accept-encoding",
               "content-encoding"}
# What Grafana drops from a request before it proxies it: the headers that authenticated it to Grafana
# (contexthandler.WithAuthHTTPHeaders: Authorization, X-Grafana-Device-Id; proxyutil wrapDirector deletes them),
# the cookies (ClearCookieHeader: a datasource keeps none unless jsonData.keepCookies names them), and what
# PrepareProxyRequest clears.
PROXY_DROPPED = {"authorization", "x-grafana-device-id", "cookie", "origin", "referer", "x-forwarded-host",
                 "x-forwarded-port", "x-forwarded-proto"}
DATAPROXY_TIMEOUT = 30  # [dataproxy] timeout, seconds
PROXY_UID = r"/api/datasources/proxy/uid/(?P<uid>[^/]*)(?P<rest>/.*)?"


def _datasource_proxy_routes(app, grafana, prov):
    # Data source proxy: ANY /api/datasources/proxy/uid/:uid/* and /api/datasources/proxy/uid/:uid (pkg/api/api.go,
    # behind authorize(datasources:query), which every basic role holds in OSS). Its responses get Grafana's
    # security headers but not its no-cache ones (pkg/middleware AddDefaultResponseHeaders skips this prefix).
    headers = {k: v for k, v in API_HEADERS.items() if k != "Cache-Control"}

    def handle(request):
        role, response = grafana.authenticate(request)
        if response is None:
            response = _proxy(grafana, prov, request)
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response

    for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"):
        app.route(method, PROXY_UID)(handle)


def _proxy(grafana, prov, request):
    """pkg/services/datasourceproxy ProxyDatasourceRequestWithUID and pkg/api/pluginproxy/ds_proxy.go HandleRequest
    (Grafana 10.x-12.x), for a Loki datasource:
    - 400 "UID is invalid" (util.IsValidShortUID), 404 "Unable to find datasource" (JsonApiErr: {"message"});
    - the path after the uid (proxyPathRegexp) joined to the datasource URL's path (util.JoinURLFragments), the
      query string as it came;
    - the request's headers without hop-by-hop ones and without PROXY_DROPPED; X-Grafana-Referer (the Referer)
      and X-Forwarded-For set (proxyutil.PrepareProxyRequest); then the datasource's own (datasource_headers:
      User-Agent Grafana/<version>, its basic auth, its custom headers replacing ours);
    - the answer as it came, without Set-Cookie and with Content-Security-Policy: sandbox (proxyutil
      modifyResponse); a 401 becomes 400 "Authentication to data source failed" with no headers of its own (Go's
      server sniffs text/plain; charset=utf-8); no answer: 502 with no body, a timeout: 504 (proxyutil
      errorHandler).
    Other datasource types, whose proxies differ (InfluxDB, Elasticsearch, plugin routes), are refused with a 501."""
    uid = request.params["uid"]
    if not SHORT_UID.match(uid) or not uid:
        return _message(400, "UID is invalid")
    ds = prov.datasources.get(uid)
    if ds is None:
        return _message(404, "Unable to find datasource")
    if ds["type"] != "loki":
        return _unsupported(request, f"(the sandbox proxies Loki datasources only, not {ds['type']!r})")
    target = urlsplit(ds["url"])
    proxy_path = (request.params.get("rest") or "").removeprefix("/")  # proxyPathRegexp takes one slash
    path = _join_url_fragments(target.path, proxy_path)
    url = f"{target.scheme}://{target.netloc}{path or '/'}" + (f"?{request.raw_query}" if request.raw_query else "")
    outgoing = {name: value for name, value in request.headers.items()
                if name not in HOP_HEADERS and name not in PROXY_DROPPED}
    outgoing["X-Grafana-Referer"] = request.headers.get("referer", "")
    forwarded = request.headers.get("x-forwarded-for")
    outgoing["X-Forwarded-For"] = f"{forwarded}, 127.0.0.1" if forwarded else "127.0.0.1"
    for name, value in grafana.datasource_headers(ds).items():
        for existing in [k for k in outgoing if k.lower() == name.lower()]:
            del outgoing[existing]
        outgoing[name] = value
    try:
        answer = requests.request(request.method, url, data=request.body or None, headers=outgoing,
                                  timeout=DATAPROXY_TIMEOUT, allow_redirects=False)
    except requests.Timeout:
        return Response(504, b"", "")
    except requests.RequestException:
        return Response(502, b"", "")
    if answer.status_code == 401:
        return Response(400, b"Authentication to data source failed", "text/plain; charset=utf-8",
                        {"Content-Security-Policy": "sandbox"})
    kept = {name: value for name, value in answer.headers.items()
            if name.lower() not in HOP_HEADERS and name.lower() not in ("set-cookie", "content-type")}
    kept["Content-Security-Policy"] = "sandbox"
    return Response(answer.status_code, answer.content, answer.headers.get("Content-Type", ""), kept)


def _join_url_fragments(a, b):
    """pkg/util JoinURLFragments: a and b with one slash between them; a alone when b is empty."""
    if not b:
        return a
    if a.endswith("/") and b.startswith("/"):
        return a + b[1:]
    if not a.endswith("/") and not b.startswith("/"):
        return a + "/" + b
    return a + b


def _datasource_and_dashboard_routes(api, grafana, prov):
    # Data source HTTP API: GET /api/datasources/uid/{uid} (pkg/api/datasources.go GetDataSourceByUID).
    @api("GET", r"/api/datasources/uid/(?P<uid>[^/]+)")
    def datasource(request):
        ds = prov.datasources.get(request.params["uid"])
        if ds is None:
            return _message(404, "Data source not found")
        return json_response(200, ds)

    # Data source HTTP API: GET /api/datasources/uid/{uid}/health (pkg/api/datasources.go
    # CheckDatasourceHealthWithUID): 200 {"message","status":"OK"}, 400 with "status":"ERROR".
    @api("GET", r"/api/datasources/uid/(?P<uid>[^/]+)/health")
    def datasource_health(request):
        uid = request.params["uid"]
        if not SHORT_UID.match(uid):
            return _message(400, "UID is invalid")
        ds = prov.datasources.get(uid)
        if ds is None:  # the datasource cache's not-found is not mapped to 404 there
            return _message(500, "Unable to load datasource metadata")
        checked = grafana.check_health(ds)
        if checked is None:
            return _unsupported(request, f"(no health check for datasource type {ds['type']!r})")
        status, message = checked
        return json_response(200 if status == "OK" else 400, {"message": message, "status": status})

    # Dashboard HTTP API: GET /api/dashboards/uid/{uid} -> {"dashboard", "meta"}; 404 "Dashboard not found".
    @api("GET", r"/api/dashboards/uid/(?P<uid>[^/]+)")
    def dashboard(request):
        found = prov.dashboards.get(request.params["uid"])
        if found is None:
            return _message(404, "Dashboard not found")
        body, filename = found
        loaded = prov.loaded_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        ids = list(prov.dashboards)
        slug = _slug(body["title"])
        meta = {"type": "db", "canSave": True, "canEdit": True, "canAdmin": True, "canStar": True,
                "canDelete": True, "slug": slug, "url": f"/d/{body['uid']}/{slug}",
                "expires": "0001-01-01T00:00:00Z", "created": loaded, "updated": loaded,
                "updatedBy": "Anonymous", "createdBy": "Anonymous", "version": body.get("version", 1),
                "hasAcl": False, "isFolder": False, "folderId": 0, "folderUid": "", "folderTitle": "General",
                "folderUrl": "", "provisioned": True, "provisionedExternalId": filename,
                "annotationsPermissions": {"dashboard": {"canAdd": True, "canEdit": True, "canDelete": True},
                                           "organization": {"canAdd": True, "canEdit": True, "canDelete": True}}}
        return json_response(200, {"dashboard": {**body, "id": ids.index(body["uid"]) + 1}, "meta": meta})


def _provisioning_routes(api, grafana, prov):
    # Endpoints of the provisioning API the sandbox does not emulate: refused, not answered 404
    # (registered first: the alert-rules/{UID} route would take alert-rules/export).
    for pattern in (r"/api/v1/provisioning/alert-rules/export", r"/api/v1/provisioning/alert-rules/[^/]+/export",
                    r"/api/v1/provisioning/folder/[^/]+/rule-groups/[^/]+/export",
                    r"/api/v1/provisioning/policies/export", r"/api/v1/provisioning/mute-timings/.+",
                    r"/api/v1/provisioning/templates/.+"):
        api("GET", pattern, roles=ROLES)(lambda request: _unsupported(request))

    # Alerting provisioning HTTP API: GET /api/v1/provisioning/mute-timings (RouteGetMuteTimings): a JSON list
    # of definitions.MuteTimeInterval, each {name, time_intervals (Alertmanager's JSON marshalling),
    # provenance}; `version` (omitempty) is left out: the sandbox keeps no versions.
    @api("GET", "/api/v1/provisioning/mute-timings")
    def mute_timings(request):
        return json_response(200, [{**m, "provenance": "file"} for m in prov.mute_times])

    # Alerting provisioning HTTP API: GET /api/v1/provisioning/alert-rules (ProvisionedAlertRules).
    @api("GET", "/api/v1/provisioning/alert-rules")
    def alert_rules(request):
        return json_response(200, prov.rules)

    # Alerting provisioning HTTP API: GET /api/v1/provisioning/alert-rules/{UID}; 404 with an empty body
    # (RouteRouteGetAlertRule answers ErrAlertRuleNotFound with response.Empty(404)).
    @api("GET", r"/api/v1/provisioning/alert-rules/(?P<uid>[^/]+)")
    def alert_rule(request):
        for rule in prov.rules:
            if rule["uid"] == request.params["uid"]:
                return json_response(200, rule)
        return Response(404, b"", "text/plain; charset=utf-8")

    # Alerting provisioning HTTP API: GET /api/v1/provisioning/folder/{FolderUID}/rule-groups/{Group}
    # (AlertRuleGroup: title, folderUid, interval in seconds, rules); not found is ErrAlertRuleGroupNotFound.
    @api("GET", r"/api/v1/provisioning/folder/(?P<folder>[^/]+)/rule-groups/(?P<group>[^/]+)")
    def rule_group(request):
        for group in prov.groups:
            if group["folderUid"] == request.params["folder"] and group["title"] == request.params["group"]:
                return json_response(200, group)
        return _error(404, "Not found", "alerting.alert-rule.notFound")

    # Alerting provisioning HTTP API: GET /api/v1/provisioning/contact-points[?name=]
    # (ContactPointService.GetContactPoints): every integration, sorted by name then uid,
    # secure settings "[REDACTED]" (decrypt is for the export endpoint only).
    @api("GET", "/api/v1/provisioning/contact-points")
    def contact_points(request):
        return json_response(200, _contact_points(prov, request.arg("name"), decrypt=False))

    # Alerting provisioning HTTP API: GET /api/v1/provisioning/contact-points/export
    # (api_provisioning.go RouteGetContactPointsExport, exportResponse): the file shape
    # {"apiVersion":1,"contactPoints":[{"orgId","name","receivers":[{"uid","type","settings",
    # "disableResolveMessage"}]}]} (AlertingFileExportFromEmbeddedContactPoints), in YAML by default
    # (text/yaml) or JSON; Accept may ask for either, ?format=yaml|json wins; ?download=true makes it an
    # attachment export.yaml|json. ?decrypt=true (QueryBoolWithDefault, strconv.ParseBool) returns the
    # secure settings in clear to whoever holds alert.provisioning.secrets:read (the Admin role);
    # anyone else gets the receiver service's 403 (ReceiverAccess.AuthorizeReadDecryptedAll,
    # NewAuthorizationErrorWithPermissions). Viewers and Editors pass the route's own check, which
    # accepts alert.notifications:read (authorization.go).
    @api("GET", "/api/v1/provisioning/contact-points/export", roles=(ADMIN, EDITOR, VIEWER))
    def contact_points_export(request):
        if grafana.major < 10:  # no such route before 10.0: the API catch-all's 404
            return _message(404, "Not found")
        wanted = _export_format(request)
        if wanted == "hcl":
            return _unsupported(request, "with format=hcl (it exports YAML and JSON)")
        decrypt = _query_bool(request, "decrypt", False)
        if decrypt and request.role != ADMIN:
            return _error(403, "user is not authorized to read decrypted receiver", "alerting.unauthorized",
                          extra={"permissions": DECRYPT_PERMISSIONS}, content_type="application/json")
        body = {"apiVersion": 1}
        exported = {}
        for cp in _contact_points(prov, request.arg("name"), decrypt):
            point = exported.setdefault(cp["name"], {"orgId": 1, "name": cp["name"], "receivers": []})
            point["receivers"].append({"uid": cp["uid"], "type": cp["type"],
                                       "settings": json.loads(json.dumps(cp["settings"], sort_keys=True)),
                                       "disableResolveMessage": cp["disableResolveMessage"]})
        if exported:  # omitempty
            body["contactPoints"] = list(exported.values())
        return _export_response(body, wanted, _query_bool(request, "download", False))

    # Alerting provisioning HTTP API: GET /api/v1/provisioning/templates (RouteGetTemplates ->
    # TemplateService.GetTemplates, Grafana 11): the notification templates sorted by name, each
    # definitions.NotificationTemplate {"name","template","provenance","version"} (provenance "file" for
    # file-provisioned ones, version the content's FNV-1 fingerprint); with no templates GetTemplates
    # returns a nil slice, which response.JSON writes as `null` (Grafana 9 and 10 answered []).
    @api("GET", "/api/v1/provisioning/templates")
    def templates(request):
        if not prov.templates:
            return json_response(200, None if grafana.major >= 11 else [])
        return json_response(200, [{"name": t["name"], "template": t["template"], "provenance": "file",
                                    "version": template_version(t["template"])}
                                   for t in sorted(prov.templates, key=lambda t: t["name"])])

    # Alerting provisioning HTTP API: GET /api/v1/provisioning/policies (RouteGetPolicyTree,
    # definitions.Route): the provisioned tree, or Grafana's default route when none was
    # provisioned or resetPolicies reset it.
    @api("GET", "/api/v1/provisioning/policies")
    def policies(request):
        return json_response(200, prov.policy)


def _rule_state_routes(api, grafana, prov):
    # Alert state history: GET /api/v1/rules/history?ruleUID=&from=&to=&limit= (ngalert
    # api_ruler_history.go RouteQueryStateHistory; registered whatever the backend). With history off the
    # no-op historian answers an empty frame; the Loki backend a frame time, line, labels (historian/loki.go,
    # oldest first). Grafana 11's default backend is annotations ([unified_alerting.state_history]
    # enabled = true, backend = annotations), and AnnotationBackend.Query (state/historian/annotation.go) answers:
    #   no ruleUID   -> error "ruleUID is required to query annotations"
    #   unknown rule -> error "failed to look up the requested rule"
    # both through ErrResp(500, err, "") -> response.Error -> 500 {"message": <error>}; with a known rule,
    # 200 and a data frame "states" (fields time, text, prev, next, data) of the rule's state-change
    # annotations, newest first, at most `limit` (the annotation store's default: 100), times in epoch
    # milliseconds (from 10.3 from/to, unix seconds, are compared in the store's unit; before 10.3 they
    # were not, and every query came back empty, which 9.5 plays). The sandbox works out what would have
    # been recorded since the rules were last written (sandbox.grafana_history). The previous/current
    # filters are checked first (eval.ParseStateString, 400 when invalid); the annotation backend then
    # ignores them. With the 12.x Prometheus backend (writes only) every query is refused with a 500.
    @api("GET", "/api/v1/rules/history", roles=ROLES)
    def state_history(request):
        for name in ("previous", "current"):
            value = request.arg(name)
            if value and value not in HISTORY_STATES:
                return _unsupported(request, f"with {name}={value!r} (Grafana answers 400 for a state it cannot "
                                             "parse; the sandbox does not emulate its text)")
        uid = request.arg("ruleUID", "")
        if not uid:
            return _message(500, "ruleUID is required to query annotations", content_type="application/json")
        rule = next((r for r in prov.rules if r["uid"] == uid), None)
        if rule is None:
            return _message(500, "failed to look up the requested rule", content_type="application/json")
        try:
            start, end = int(request.arg("from", "")), int(request.arg("to", ""))
            limit = int(request.arg("limit", "100"))
        except ValueError:
            return _unsupported(request, "without whole from, to (unix seconds) and limit")
        if not grafana.history_backend:
            return json_response(200, grafana_history.empty_frame())
        if grafana.history_backend == "prometheus":
            # 12.x's Prometheus historian writes to a Prometheus and answers no queries (grafana-facts.md).
            return _message(500, "the prometheus historian backend does not support querying",
                            content_type="application/json")
        if grafana.history_backend == "annotations" and (grafana.major, grafana.minor) < (10, 3):
            # Before 10.3 (fixed 2024-01-04) the annotation store compared from/to (seconds) with its
            # epoch-millisecond times: nothing matched, so every rule's history came back empty.
            return json_response(200, grafana_history.frame(rule, [], {}, limit))
        changes = [c for c in grafana.history(rule) if start <= c[0] <= end]
        labels = {**rule.get("labels", {}), "alertname": rule["title"],
                  "grafana_folder": prov.folders[rule["folderUID"]]}
        if grafana.history_backend == "loki":
            return json_response(200, grafana_history.loki_frame(rule, changes, labels, limit))
        return json_response(200, grafana_history.frame(rule, changes, labels, limit))

    # Prometheus-compatible rules API of Grafana-managed rules (ngalert api/prometheus/api_prometheus.go
    # RouteGetRuleStatuses, PrepareRuleGroupStatuses / toRuleGroup). `file` is the folder's title up to
    # 10.x and its full path (folder.Fullpath) from 11.x; the state of each rule is where the state
    # machine of the state history stands at the last evaluation tick (sandbox.grafana_history).
    @api("GET", "/api/prometheus/grafana/api/v1/rules")
    def rule_states(request):
        groups = []
        for group in prov.groups:
            api_group = {"name": group["title"], "file": grafana.folder_path(group["folderUid"]),
                         "folderUid": group["folderUid"], "rules": [], "interval": group["interval"]}
            for rule in group["rules"]:
                api_group["rules"].append(_rule_state(grafana, rule, prov.folders[group["folderUid"]]))
            # Like toRuleGroup: the group takes its last rule's evaluation.
            last = api_group["rules"][-1] if group["rules"] else {}
            api_group["lastEvaluation"] = last.get("lastEvaluation", "0001-01-01T00:00:00Z")
            api_group["evaluationTime"] = last.get("evaluationTime", 0)
            groups.append(api_group)
        return json_response(200, {"status": "success", "data": {"groups": groups}})

    # Folder HTTP API: GET /api/folders/{uid} (pkg/api/folder.go GetFolderByUID, dtos.Folder): a subset of
    # its fields; from 11.x a nested folder names its parentUid and parents (root first). 404 as
    # dashboards.ErrFolderNotFound answers it.
    @api("GET", r"/api/folders/(?P<uid>[^/]+)", roles=ROLES)
    def folder(request):
        uid = request.params["uid"]
        titles = {**prov.folders, **{folder_uid(t): t for ps in grafana.folder_parents.values() for t in ps}}
        if uid not in titles:
            return _error(404, "folder not found", "folder.notFound")
        title = titles[uid]
        parents = next((ps[:ps.index(title)] for ps in grafana.folder_parents.values() if title in ps),
                       grafana.folder_parents.get(title, []))
        body = {"id": sorted(titles).index(uid) + 1, "uid": uid, "orgId": 1, "title": title,
                "url": f"/dashboards/f/{uid}/{_slug(title)}", "hasAcl": False, "canSave": True, "canEdit": True,
                "canAdmin": True, "canDelete": True, "createdBy": "Anonymous", "updatedBy": "Anonymous",
                "version": 1}
        if parents:
            body["parentUid"] = folder_uid(parents[-1])
            body["parents"] = [{"uid": folder_uid(t), "title": t} for t in parents]
        return json_response(200, body)


def _stamp(seconds):
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")


# The rule's state in the rules API from its alert's (RuleAlertStateMutatorGenerator): Alerting is firing,
# Pending pending, Recovering (12.x) recovering; Normal, NoData and Error leave it inactive.
RULE_STATE = {"Alerting": "firing", "Pending": "pending", "Recovering": "recovering"}


def _rule_state(grafana, rule, folder):
    """One AlertingRule of the Prometheus-compatible rules API: where the rule's state machine stands at
    its last evaluation tick (Grafana.state_now), that evaluation's values and error.

    A paused rule is not evaluated: it has no alerts, health ok and Go's zero time as its last evaluation.
    Health: from 11.x as StatesToRuleStatus derives it from the alert states (the NoData state is nodata;
    the Error state, or Alerting/Pending on an error, is error); up to 10.x from the evaluation itself."""
    now = None if rule["isPaused"] else grafana.state_now(rule)
    labels = {**rule.get("labels", {}), "alertname": rule["title"], "grafana_folder": folder}
    out_state, alerts, health, error, elapsed, active_at = "inactive", [], "ok", "", 0, None
    if now is not None:
        state, reason, since, tick = now
        began = time.monotonic()
        evaluated, error, firing = grafana.evaluate(rule, datetime.fromtimestamp(tick, timezone.utc))
        elapsed = time.monotonic() - began
        if grafana.major >= 11:
            health = ("error" if state == "Error" or (reason == "Error" and state in ("Alerting", "Pending"))
                      else "nodata" if state == "NoData" else "ok")
        else:
            health = evaluated if not (evaluated == "nodata" and rule["noDataState"] == "OK") else "ok"
        error = error if health == "error" else ""
        formatted = f"{state} ({reason})" if reason else state
        if state != "Normal" or reason:
            series = list(firing.items()) if firing and state in ("Alerting", "Pending", "Recovering") else [((), {})]
            for labelled, values in series:
                value = ", ".join(f"[ var='{ref}' labels={{{', '.join(f'{k}={v}' for k, v in labelled)}}} "
                                  f"value={v:g} ]" for ref, v in values.items())
                alerts.append({"labels": {**labels, **dict(labelled)}, "annotations": rule.get("annotations", {}),
                               "state": formatted, "activeAt": _stamp(since if since is not None else tick),
                               "value": value})
        out_state = RULE_STATE.get(state, "inactive")
        if state == "Alerting":
            active_at = _stamp(since)
    out = {"state": out_state, "name": rule["title"],
           "query": " | ".join(q["model"]["expr"] for q in rule["data"] if "expr" in q["model"])}
    seconds = parse_duration(rule["for"], rule["uid"]) / 1000
    if seconds:  # omitempty
        out["duration"] = seconds
    if rule.get("annotations"):  # omitempty
        out["annotations"] = rule["annotations"]
    if active_at:  # omitempty: the earliest Alerting alert's StartsAt
        out["activeAt"] = active_at
    if alerts:  # omitempty
        out["alerts"] = alerts
    out.update({"uid": rule["uid"], "folderUid": rule["folderUID"]})
    if rule.get("labels"):  # omitempty
        out["labels"] = rule["labels"]
    out["health"] = health
    if error:  # omitempty
        out["lastError"] = error
    out.update({"type": "alerting", "lastEvaluation": "0001-01-01T00:00:00Z" if now is None else _stamp(now[3]),
                "evaluationTime": elapsed})
    return out
