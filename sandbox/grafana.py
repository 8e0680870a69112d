"""Emulated Grafana 11 HTTP API over a directory of real Grafana provisioning files.

The directory has Grafana's layout: datasources/*.yml, alerting/*.yml (rule
groups, contact points, policies) and dashboards/ (a provider file and the
dashboard JSON beside it). `load` reads it the way Grafana's file provisioning
does and keeps each resource in the shape Grafana's HTTP API returns it, which
differs from the file shape. A key the loader does not understand stops it
with the file and the key named.

Shapes and texts follow Grafana's source (pkg/api, pkg/services/ngalert,
pkg/services/authn, pkg/tsdb/loki) and its HTTP API documentation; each
handler names what it follows. What the sandbox does not emulate it refuses
with a 501 that says so.
"""

import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import requests
import yaml

from .httpserver import App, Response, json_response

VERSION = "11.3.0"
EXPR_UID = "__expr__"  # server-side expressions (reduce, threshold, ...)
LOKI_TIMEOUT = 10
# Headers Grafana's web server sets on API responses.
API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
               "X-Frame-Options": "deny", "X-Xss-Protection": "1; mode=block"}
ERROR_JSON = "application/json; charset=UTF-8"

# What the loader understands, per file kind (Grafana's provisioning file formats).
DATASOURCE_FILE_KEYS = {"apiVersion", "datasources"}
DATASOURCE_KEYS = {"name", "type", "uid", "orgId", "access", "url", "user", "database", "basicAuth",
                   "basicAuthUser", "withCredentials", "isDefault", "jsonData", "secureJsonData", "version",
                   "editable"}
ALERTING_FILE_KEYS = {"apiVersion", "groups", "contactPoints", "policies"}
GROUP_KEYS = {"orgId", "name", "folder", "interval", "rules"}
RULE_KEYS = {"uid", "title", "condition", "data", "dashboardUid", "panelId", "noDataState", "execErrState",
             "for", "annotations", "labels", "isPaused"}
QUERY_KEYS = {"refId", "queryType", "relativeTimeRange", "datasourceUid", "model"}
CONTACT_POINT_KEYS = {"orgId", "name", "receivers"}
RECEIVER_KEYS = {"uid", "type", "settings", "disableResolveMessage"}
POLICY_KEYS = {"orgId", "receiver", "group_by", "matchers", "object_matchers", "routes", "continue",
               "group_wait", "group_interval", "repeat_interval", "mute_time_intervals"}
PROVIDER_FILE_KEYS = {"apiVersion", "providers"}
PROVIDER_KEYS = {"name", "orgId", "folder", "type", "disableDeletion", "allowUiUpdates",
                 "updateIntervalSeconds", "options"}
NO_DATA_STATES = {"Alerting", "NoData", "OK", "KeepLast"}
EXEC_ERR_STATES = {"Alerting", "Error", "OK", "KeepLast"}
# Settings Grafana stores encrypted and returns as "[REDACTED]" (its notifier
# schemas mark them secure); a type not listed here is refused at load time.
SECURE_SETTINGS = {"email": (), "slack": ("url", "token"), "webhook": ("password", "authorization_credentials")}
REDACTED = "[REDACTED]"
# Grafana creates this receiver with its default Alertmanager configuration; file
# provisioning adds receivers beside it without removing it.
DEFAULT_CONTACT_POINT = {"uid": "ddefaultemail0", "name": "grafana-default-email", "type": "email",
                         "settings": {"addresses": "<example@email.com>"}, "disableResolveMessage": False}
DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
DURATION_UNITS = (("y", 365 * 86400_000), ("w", 7 * 86400_000), ("d", 86400_000), ("h", 3600_000),
                  ("m", 60_000), ("s", 1000), ("ms", 1))
MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$')
SHORT_UID = re.compile(r"^[a-zA-Z0-9\-_]{0,40}$")


class ProvisioningError(Exception):
    pass


# --- Prometheus durations (model.ParseDuration / model.Duration.String), as Grafana uses them ---

def parse_duration(text, where):
    match = DURATION.match(str(text))
    if not match or not str(text):
        raise ProvisioningError(f"{where}: {text!r} is not a duration like 30s, 5m or 1h")
    return sum(int(value or 0) * unit for value, (_, unit) in zip(match.groups(), DURATION_UNITS))


def format_duration(ms):
    if ms == 0:
        return "0s"
    out = ""
    for name, unit in DURATION_UNITS:
        if ms >= unit:
            out += f"{ms // unit}{name}"
            ms %= unit
    return out


# --- loading ---

def _read(path):
    try:
        if path.suffix == ".json":
            return json.loads(path.read_text(encoding="utf-8"))
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ProvisioningError(f"{path}: cannot be read: {exc}") from None


def _check_keys(path, what, mapping, allowed):
    if not isinstance(mapping, dict):
        raise ProvisioningError(f"{path}: {what} must be a mapping")
    for key in mapping:
        if key not in allowed:
            raise ProvisioningError(f"{path}: {what}: the sandbox's Grafana does not understand the key {key!r}")


def _short_uid(seed):
    """A stable uid in the shape of Grafana's generated ones (14 characters, a letter first)."""
    return "f" + hashlib.sha1(seed.encode("utf-8")).hexdigest()[:13]


@dataclass
class Provisioning:
    datasources: dict = field(default_factory=dict)  # uid -> API shape
    folders: dict = field(default_factory=dict)  # uid -> title
    groups: list = field(default_factory=list)  # API rule-group shape
    contact_points: list = field(default_factory=lambda: [dict(DEFAULT_CONTACT_POINT)])  # API shape, secrets in clear
    policy: dict = None  # API shape
    dashboards: dict = field(default_factory=dict)  # uid -> (dashboard JSON, file name)
    loaded_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc).replace(microsecond=0))

    @property
    def rules(self):
        return [rule for group in self.groups for rule in group["rules"]]


def load(directory, loki_url):
    """Read a provisioning directory; every datasource of type loki is pointed at `loki_url`."""
    root = Path(directory)
    if not root.is_dir():
        raise ProvisioningError(f"{root}: not a directory")
    result = Provisioning()
    for child in sorted(root.iterdir()):
        if child.name not in ("datasources", "alerting", "dashboards"):
            raise ProvisioningError(f"{child}: the sandbox's Grafana provisions only datasources, alerting "
                                    "and dashboards")
    for path in _files(root / "datasources", (".yml", ".yaml")):
        _load_datasources(path, loki_url, result)
    for path in _files(root / "alerting", (".yml", ".yaml", ".json")):
        _load_alerting(path, result)
    for path in _files(root / "dashboards", (".yml", ".yaml", ".json")):
        _load_dashboards(path, result)
    return result


def _files(directory, suffixes):
    if not directory.is_dir():
        return []
    files = sorted(p for p in directory.iterdir() if p.is_file())
    for path in files:
        if path.suffix not in suffixes:
            raise ProvisioningError(f"{path}: not a provisioning file ({', '.join(suffixes)})")
    return files


def _load_datasources(path, loki_url, result):
    data = _read(path)
    _check_keys(path, "the file", data, DATASOURCE_FILE_KEYS)
    for index, ds in enumerate(data.get("datasources") or []):
        _check_keys(path, f"datasources[{index}]", ds, DATASOURCE_KEYS)
        uid = ds.get("uid") or _short_uid(f"datasource:{ds['name']}")
        url = loki_url if ds["type"] == "loki" else ds.get("url", "")
        # The DataSource DTO of GET /api/datasources/uid/{uid} (pkg/api/dtos/datasource.go).
        result.datasources[uid] = {
            "id": len(result.datasources) + 1, "uid": uid, "orgId": ds.get("orgId", 1), "name": ds["name"],
            "type": ds["type"], "typeLogoUrl": f"public/app/plugins/datasource/{ds['type']}/img/{ds['type']}_icon.svg",
            "access": ds.get("access", "proxy"), "url": url, "user": ds.get("user", ""),
            "database": ds.get("database", ""), "basicAuth": ds.get("basicAuth", False),
            "basicAuthUser": ds.get("basicAuthUser", ""), "withCredentials": ds.get("withCredentials", False),
            "isDefault": ds.get("isDefault", False), "jsonData": ds.get("jsonData") or {},
            "secureJsonFields": {key: True for key in (ds.get("secureJsonData") or {})},
            "version": ds.get("version", 1), "readOnly": not ds.get("editable", False),
        }


def _load_alerting(path, result):
    data = _read(path)
    _check_keys(path, "the file", data, ALERTING_FILE_KEYS)
    for index, group in enumerate(data.get("groups") or []):
        _load_group(path, index, group, result)
    for index, cp in enumerate(data.get("contactPoints") or []):
        _check_keys(path, f"contactPoints[{index}]", cp, CONTACT_POINT_KEYS)
        for j, receiver in enumerate(cp.get("receivers") or []):
            where = f"contactPoints[{index}].receivers[{j}]"
            _check_keys(path, where, receiver, RECEIVER_KEYS)
            if receiver.get("type") not in SECURE_SETTINGS:
                raise ProvisioningError(f"{path}: {where}: the sandbox's Grafana does not support contact point "
                                        f"type {receiver.get('type')!r} (it knows {', '.join(SECURE_SETTINGS)})")
            # EmbeddedContactPoint (ngalert definitions), as GET /api/v1/provisioning/contact-points returns it.
            result.contact_points.append({
                "uid": receiver["uid"], "name": cp["name"], "type": receiver["type"],
                "settings": receiver.get("settings") or {},
                "disableResolveMessage": receiver.get("disableResolveMessage", False), "provenance": "file"})
    for index, policy in enumerate(data.get("policies") or []):
        result.policy = _route(path, f"policies[{index}]", policy, root=True)
        result.policy["provenance"] = "file"


def _load_group(path, index, group, result):
    where = f"groups[{index}]"
    _check_keys(path, where, group, GROUP_KEYS)
    folder_uid = _short_uid(f"folder:{group['folder']}")
    result.folders[folder_uid] = group["folder"]
    api_group = {"title": group["name"], "folderUid": folder_uid,
                 "interval": parse_duration(group["interval"], f"{path}: {where}.interval") // 1000, "rules": []}
    for j, rule in enumerate(group.get("rules") or []):
        rule_where = f"{where}.rules[{j}]"
        _check_keys(path, rule_where, rule, RULE_KEYS)
        data = []
        for k, query in enumerate(rule.get("data") or []):
            _check_keys(path, f"{rule_where}.data[{k}]", query, QUERY_KEYS)
            # AlertQuery.PreSave fills these model defaults before Grafana stores a rule.
            model = {"intervalMs": 1000, "maxDataPoints": 43200, **(query.get("model") or {})}
            span = query.get("relativeTimeRange") or {}
            data.append({"refId": query["refId"], "queryType": query.get("queryType", ""),
                         "relativeTimeRange": {"from": span.get("from", 0), "to": span.get("to", 0)},
                         "datasourceUid": query["datasourceUid"],
                         "model": json.loads(json.dumps(model, sort_keys=True))})  # stored as Go maps: sorted
        no_data = rule.get("noDataState", "NoData")
        exec_err = rule.get("execErrState", "Alerting")
        if no_data not in NO_DATA_STATES or exec_err not in EXEC_ERR_STATES:
            raise ProvisioningError(f"{path}: {rule_where}: noDataState {no_data!r} / execErrState {exec_err!r} "
                                    "is not one Grafana accepts")
        # ProvisionedAlertRule (ngalert api/tooling/definitions/provisioning_alert_rules.go), field order kept.
        api_rule = {
            "id": len(result.rules) + len(api_group["rules"]) + 1, "uid": rule["uid"], "orgID": group.get("orgId", 1),
            "folderUID": folder_uid, "ruleGroup": group["name"], "title": rule["title"],
            "condition": rule["condition"], "data": data,
            "updated": result.loaded_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "noDataState": no_data, "execErrState": exec_err,
            "for": format_duration(parse_duration(rule.get("for", "0s"), f"{path}: {rule_where}.for")),
        }
        for key in ("annotations", "labels"):  # omitempty
            if rule.get(key):
                api_rule[key] = {k: str(v) for k, v in rule[key].items()}
        api_rule.update({"provenance": "file", "isPaused": bool(rule.get("isPaused", False)),
                         "notification_settings": None, "record": None})
        api_group["rules"].append(api_rule)
    result.groups.append(api_group)


def _route(path, where, route, root=False):
    """A policy route as GET /api/v1/provisioning/policies returns it (definitions.Route, field order kept)."""
    _check_keys(path, where, route, POLICY_KEYS - ({"continue"} if root else {"orgId"}))
    out = {}
    if route.get("receiver"):
        out["receiver"] = route["receiver"]
    if route.get("group_by"):
        out["group_by"] = list(route["group_by"])
    if route.get("matchers"):
        # config.Matchers marshals each matcher with labels.Matcher.String(): name, operator, quoted value.
        parsed = []
        for text in route["matchers"]:
            match = MATCHER.match(text)
            if not match:
                raise ProvisioningError(f"{path}: {where}.matchers: {text!r} is not a matcher like 'team = devops'")
            parsed.append(f"{match.group(1)}{match.group(2)}{json.dumps(match.group(3))}")
        out["matchers"] = parsed
    if route.get("object_matchers"):
        for matcher in route["object_matchers"]:
            if len(matcher) != 3 or matcher[1] not in ("=", "!=", "=~", "!~"):
                raise ProvisioningError(f"{path}: {where}.object_matchers: {matcher!r} is not [name, op, value]")
        out["object_matchers"] = [[str(part) for part in matcher] for matcher in route["object_matchers"]]
    if route.get("mute_time_intervals"):
        out["mute_time_intervals"] = list(route["mute_time_intervals"])
    if route.get("continue"):
        out["continue"] = True
    if route.get("routes"):
        out["routes"] = [_route(path, f"{where}.routes[{i}]", child) for i, child in enumerate(route["routes"])]
    for key in ("group_wait", "group_interval", "repeat_interval"):
        if key in route:
            out[key] = format_duration(parse_duration(route[key], f"{path}: {where}.{key}"))
    return out


def _load_dashboards(path, result):
    if path.suffix == ".json":
        dashboard = _read(path)
        if "uid" not in dashboard or "title" not in dashboard:
            raise ProvisioningError(f"{path}: a dashboard needs a uid and a title")
        result.dashboards[dashboard["uid"]] = (dashboard, path.name)
        return
    data = _read(path)
    _check_keys(path, "the file", data, PROVIDER_FILE_KEYS)
    for index, provider in enumerate(data.get("providers") or []):
        _check_keys(path, f"providers[{index}]", provider, PROVIDER_KEYS)
        if provider.get("type", "file") != "file" or provider.get("folder"):
            raise ProvisioningError(f"{path}: providers[{index}]: the sandbox supports only file providers "
                                    "into the General folder")


# --- the server ---

def _error(status, message, message_id):
    # errutil.Error's public form, as pkg/api/response writes it (ERROR_JSON content type).
    body = {"extra": None, "message": message, "messageId": message_id, "statusCode": status, "traceID": ""}
    return json_response(status, body, content_type=ERROR_JSON)


def _message(status, message):
    # response.Error / ctx.JsonApiErr: {"message": ...}.
    return json_response(status, {"message": message}, content_type=ERROR_JSON)


def _unsupported(request, why=""):
    return _message(501, f"the sandbox's Grafana does not support {request.method} {request.path}"
                         + (f" {why}" if why else ""))


def _slug(title):
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


class Grafana:
    def __init__(self, provisioning, user, password, token, clock=lambda: datetime.now(timezone.utc)):
        self.provisioning = provisioning
        self.user, self.password, self.token = user, password, token
        self.clock = clock  # when rules are evaluated

    def authenticate(self, request):
        """None when the request may pass, else Grafana's 401 (pkg/services/authn clients)."""
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer" and credentials:
            if hmac.compare_digest(credentials.strip(), self.token):
                return None
            return _error(401, "Invalid API key", "api-key.invalid")
        if scheme.lower() == "basic" and credentials:
            try:
                user, sep, password = base64.b64decode(credentials, validate=True).decode("utf-8").partition(":")
            except ValueError:
                return _error(401, "Invalid Basic Auth Header", "basic-auth.invalid-header")
            if not sep:
                return _error(401, "Invalid Basic Auth Header", "basic-auth.invalid-header")
            if user == "api_key":  # the API key client also reads basic auth with this user name
                ok = hmac.compare_digest(password, self.token)
                return None if ok else _error(401, "Invalid API key", "api-key.invalid")
            if hmac.compare_digest(user, self.user) and hmac.compare_digest(password, self.password):
                return None
            return _error(401, "Invalid username or password", "password-auth.failed")
        return _error(401, "Unauthorized", "auth.unauthorized")

    def check_health(self, ds):
        """The Loki plugin's CheckHealth (pkg/tsdb/loki/healthcheck.go): an instant query of
        vector(1)+vector(1) at 1970-01-01T00:00:04Z whose value must be 2."""
        if ds["type"] != "loki":
            return None
        url = ds["url"].rstrip("/") + "/loki/api/v1/query?" + urlencode(
            {"direction": "backward", "query": "vector(1)+vector(1)", "time": "4000000000"})
        failure = "There was an error returned querying the Loki API."
        try:
            response = requests.get(url, timeout=LOKI_TIMEOUT)
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
        relative time range and then the server-side expressions in order. It
        supports the Loki datasource, reduce and threshold; anything else is an
        evaluation error that says the sandbox does not support it.
        """
        frames = {}  # refId -> {labels: [values]} for queries, {labels: value} for expressions
        expressions = []
        for query in rule["data"]:
            ref, model = query["refId"], query["model"]
            if query["datasourceUid"] != EXPR_UID:
                ds = self.provisioning.datasources.get(query["datasourceUid"])
                if ds is None or ds["type"] != "loki":
                    return "error", ("the sandbox's Grafana evaluates only Loki queries "
                                     f"(datasource {query['datasourceUid']!r})"), {}
                try:
                    frames[ref] = _loki_query(ds["url"], model, query["relativeTimeRange"], now)
                except QueryError as exc:
                    return "error", f"[sse.dataQueryError] failed to execute query [{ref}]: {exc}", {}
                continue
            kind, source = model.get("type"), frames.get(model.get("expression"))
            if source is None:
                return "error", (f"[sse.dependencyError] did not execute expression [{ref}]: "
                                 f"missing {model.get('expression')}"), {}
            try:
                if kind == "reduce":
                    frames[ref] = {labels: _reduce(model["reducer"], values) for labels, values in source.items()}
                elif kind == "threshold" and "unloadEvaluator" not in model:
                    evaluator = model["conditions"][0]["evaluator"]
                    frames[ref] = {labels: float(_threshold(evaluator, _scalar(value)))
                                   for labels, value in source.items()}
                else:
                    return "error", f"the sandbox's Grafana does not evaluate this {kind!r} expression", {}
            except KeyError as exc:
                return "error", f"the sandbox's Grafana does not support {exc} in the {kind!r} expression [{ref}]", {}
            expressions.append(ref)
        condition = frames.get(rule["condition"])
        if not condition:
            return "nodata", "", {}
        firing = {labels: {ref: frames[ref].get(labels, 0) for ref in expressions}
                  for labels, value in condition.items() if _scalar(value) != 0}
        return "ok", "", firing


class QueryError(Exception):
    pass


def _scalar(value):
    return value[-1] if isinstance(value, list) else value


def _reduce(reducer, values):
    values = values if isinstance(values, list) else [values]
    return {"last": lambda v: v[-1], "mean": lambda v: sum(v) / len(v), "min": min, "max": max,
            "sum": sum, "count": len}[reducer](values)


def _threshold(evaluator, value):
    params = evaluator.get("params") or [0, 0]
    return {"gt": lambda: value > params[0], "lt": lambda: value < params[0],
            "within_range": lambda: params[0] < value < params[1],
            "outside_range": lambda: value < params[0] or value > params[1]}[evaluator["type"]]()


def _loki_query(base_url, model, span, now):
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
        response = requests.get(url, timeout=LOKI_TIMEOUT)
    except requests.RequestException as exc:
        raise QueryError(_go_dial_error(url, exc)) from None
    if response.status_code != 200:
        raise QueryError(_loki_error_text(response))
    data = response.json()["data"]
    if data["resultType"] == "streams":
        raise QueryError("the sandbox's Grafana cannot evaluate a log query in an alert rule (it needs a metric query)")
    if data["resultType"] == "vector":
        return {tuple(sorted(item["metric"].items())): [float(item["value"][1])] for item in data["result"]}
    return {tuple(sorted(item["metric"].items())): [float(v) for _, v in item["values"]] for item in data["result"]}


def _loki_error_text(response):
    # pkg/tsdb/loki makeLokiError: the "message" of a JSON body, else the whole body.
    try:
        return response.json()["message"]
    except (ValueError, KeyError, TypeError):
        return response.text.strip()


def _go_dial_error(url, exc):
    """The text Go's net/http gives a refused or failed connection."""
    host = urlsplit(url).netloc
    reason = "connect: connection refused" if "refused" in str(exc).lower() else str(exc)
    return f'Get "{url}": dial tcp {host}: {reason}'


def make_app(grafana):
    app = App("grafana")
    prov = grafana.provisioning

    def api(method, pattern):
        """Register an authenticated API handler that gets Grafana's security headers."""
        def register(handler):
            def wrapper(request):
                response = grafana.authenticate(request) or handler(request)
                for name, value in API_HEADERS.items():
                    response.headers.setdefault(name, value)
                return response
            app.route(method, pattern)(wrapper)
            return handler
        return register

    # Grafana HTTP API "Other": GET /api/health, no auth; simplejson.EncodePretty (sorted keys, 2 spaces).
    @app.route("GET", "/api/health")
    def health(request):
        body = json.dumps({"commit": "sandbox", "database": "ok", "version": VERSION}, indent=2, sort_keys=True)
        return Response(200, body.encode("utf-8"), ERROR_JSON, dict(API_HEADERS))

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

    # Alerting provisioning HTTP API: GET /api/v1/provisioning/contact-points[?name=]; secure settings
    # come back as "[REDACTED]" (decrypt is for the export endpoint only).
    @api("GET", "/api/v1/provisioning/contact-points")
    def contact_points(request):
        name = request.arg("name")
        out = []
        for cp in prov.contact_points:
            if name and cp["name"] != name:
                continue
            settings = {key: (REDACTED if key in SECURE_SETTINGS[cp["type"]] and value else value)
                        for key, value in cp["settings"].items()}
            out.append({**cp, "settings": settings})
        return json_response(200, out)

    # Alerting provisioning HTTP API: GET /api/v1/provisioning/policies (definitions.Route).
    @api("GET", "/api/v1/provisioning/policies")
    def policies(request):
        if prov.policy is None:
            return _unsupported(request, "(no policy tree was provisioned, and the sandbox has no default one)")
        return json_response(200, prov.policy)

    # Prometheus-compatible rules API of Grafana-managed rules (ngalert api prometheus.go
    # PrepareRuleGroupStatuses / toRuleGroup). Each request evaluates the rules once; `for`
    # is not emulated (a condition true now reports firing, not pending).
    @api("GET", "/api/prometheus/grafana/api/v1/rules")
    def rule_states(request):
        groups = []
        for group in prov.groups:
            folder = prov.folders[group["folderUid"]]
            api_group = {"name": group["title"], "file": folder, "folderUid": group["folderUid"], "rules": [],
                         "interval": group["interval"]}
            for rule in group["rules"]:
                api_group["rules"].append(_rule_state(grafana, rule, folder, grafana.clock()))
            # Like toRuleGroup: the group takes its last rule's evaluation.
            last = api_group["rules"][-1] if group["rules"] else {}
            api_group["lastEvaluation"] = last.get("lastEvaluation", "0001-01-01T00:00:00Z")
            api_group["evaluationTime"] = last.get("evaluationTime", 0)
            groups.append(api_group)
        return json_response(200, {"status": "success", "data": {"groups": groups}})

    # Any other /api path: Grafana's API catch-all answers 404 {"message":"Not found"} (after auth).
    @api("GET", r"/api/.*")
    def not_found(request):
        return _message(404, "Not found")

    for method in ("POST", "PUT", "PATCH", "DELETE"):
        app.route(method, r"/.*")(lambda request: _unsupported(request, "(it is read-only)"))
    app.route("GET", r"/.*")(lambda request: _unsupported(request, "(it serves the HTTP API under /api only)"))
    return app


def _rule_state(grafana, rule, folder, now):
    """One AlertingRule of the Prometheus-compatible rules API after one evaluation at `now`."""
    began = time.monotonic()
    health, error, firing = grafana.evaluate(rule, now)
    elapsed = time.monotonic() - began
    labels = {**rule.get("labels", {}), "alertname": rule["title"], "grafana_folder": folder}
    state, alerts = "inactive", []

    def alert(alert_state, extra_labels=(), value=""):
        return {"labels": {**labels, **dict(extra_labels)}, "annotations": rule.get("annotations", {}),
                "state": alert_state, "activeAt": now.isoformat().replace("+00:00", "Z"), "value": value}

    if health == "error":
        if rule["execErrState"] == "Alerting":
            state, alerts = "firing", [alert("Alerting (Error)")]
        else:
            alerts = [alert("Error" if rule["execErrState"] == "Error" else "Normal (Error)")]
    elif health == "nodata":
        if rule["noDataState"] == "Alerting":
            state, alerts = "firing", [alert("Alerting (NoData)")]
        elif rule["noDataState"] == "NoData":
            alerts = [alert("NoData")]
        else:
            health = "ok"  # noDataState OK: the state is Normal (NoData), health stays ok
    elif firing:
        state = "firing"
        for series, values in firing.items():
            value = ", ".join(f"[ var='{ref}' labels={{{', '.join(f'{k}={v}' for k, v in series)}}} value={v:g} ]"
                              for ref, v in values.items())
            alerts.append(alert("Alerting", series, value))
    out = {"state": state, "name": rule["title"],
           "query": " | ".join(q["model"]["expr"] for q in rule["data"] if "expr" in q["model"])}
    seconds = parse_duration(rule["for"], rule["uid"]) / 1000
    if seconds:  # omitempty
        out["duration"] = seconds
    if rule.get("annotations"):  # omitempty
        out["annotations"] = rule["annotations"]
    if alerts:  # omitempty
        out["alerts"] = alerts
    out.update({"uid": rule["uid"], "folderUid": rule["folderUID"]})
    if rule.get("labels"):  # omitempty
        out["labels"] = rule["labels"]
    out["health"] = health
    if error:  # omitempty
        out["lastError"] = error
    out.update({"type": "alerting", "lastEvaluation": now.isoformat().replace("+00:00", "Z"),
                "evaluationTime": elapsed})
    return out
