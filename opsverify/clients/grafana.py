"""Grafana HTTP API client: health, datasources, dashboards, alerting provisioning
and rule state (docs: Grafana HTTP API; Alerting provisioning HTTP API;
Prometheus-compatible rules API of ngalert).

Authentication: a service-account token (Bearer) when given, else basic auth.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime

from opsverify.clients.http import BadResponse, HttpClient

# Grafana >= 10.2 checks a Loki datasource with the instant query vector(1)+vector(1). Loki < 2.7 has no
# vector() and answers this parse error, though it serves every other query (grafana/grafana#79846).
OLD_LOKI_HEALTH_ERROR = "parse error at line 1, col 1: syntax error: unexpected IDENTIFIER"


@dataclass(frozen=True)
class AlertRule:
    uid: str
    title: str
    folder_uid: str
    rule_group: str
    condition: str
    data: tuple
    for_: str
    no_data_state: str
    exec_err_state: str
    is_paused: bool
    labels: dict
    annotations: dict
    updated: str = ""  # when it was last changed, as Grafana says (ISO 8601), "" when it does not

    @classmethod
    def from_api(cls, item):
        return cls(
            uid=item["uid"], title=item["title"], folder_uid=item.get("folderUID", ""),
            rule_group=item.get("ruleGroup", ""), condition=item.get("condition", ""),
            data=tuple(item.get("data") or ()), for_=str(item.get("for", "")),
            no_data_state=item.get("noDataState", ""), exec_err_state=item.get("execErrState", ""),
            is_paused=bool(item.get("isPaused", False)), labels=dict(item.get("labels") or {}),
            annotations=dict(item.get("annotations") or {}), updated=str(item.get("updated") or ""),
        )

    @classmethod
    def from_file(cls, item, group):
        """A rule of an alerting provisioning file (groups[].rules[], apiVersion 1), as from_api reads the
        API's: the group gives ruleGroup; its folder is a title there, so folder_uid stays "". Grafana's
        defaults apply to what the file leaves out (rules_types.go mapToModel: noDataState NoData,
        execErrState Alerting), so a misspelt key is judged as Grafana would run it."""
        return cls.from_api({**item, "ruleGroup": group.get("name", ""), "folderUID": "",
                             "for": item.get("for") or "0s", "noDataState": item.get("noDataState") or "NoData",
                             "execErrState": item.get("execErrState") or "Alerting"})


LATEST_PLAUSIBLE = 253402300800  # 10000-01-01: later than that, a history time is no time at all


def _seconds(millis):
    """Unix seconds from a history frame's epoch milliseconds. A Grafana build that read the annotations'
    milliseconds as seconds sends values 1000 times too large (grafana-facts): read those as they were meant."""
    seconds = int(millis) // 1000
    return seconds // 1000 if seconds > 10 ** 11 else seconds  # 10**11 s is the year 5138


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    version: int
    url: str
    panels: tuple

    def queries(self):
        """(panel title, datasource uid, expr) of every panel target, rows included."""
        found = []
        for panel in _all_panels(self.panels):
            panel_ds = panel.get("datasource")
            for target in panel.get("targets") or ():
                ds = target.get("datasource") or panel_ds
                uid = ds.get("uid") if isinstance(ds, dict) else ds
                found.append((panel.get("title", ""), uid, target.get("expr", "")))
        return found


@dataclass(frozen=True)
class RuleState:
    name: str
    group: str
    file: str  # the group's "file": the folder's title up to 10.x, its full path from 11.x: shown, never compared
    state: str
    health: str
    last_error: str
    labels: dict
    alerts: tuple
    uid: str = ""  # the rule's uid ("" where Grafana does not say)
    folder_uid: str = ""  # the group's folderUid: how a folder is compared


@dataclass(frozen=True)
class AmAlert:
    labels: dict
    receivers: tuple  # receiver names
    state: str  # active | suppressed | unprocessed
    starts_at: float  # unix seconds: when the rule began firing


def parse_instant(text):
    """Unix seconds of an RFC 3339 time as Go writes it (nanoseconds and a Z allowed)."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", str(text))
    if match is None:
        raise ValueError(f"{text!r} is not an RFC 3339 time")
    whole = datetime.fromisoformat(match.group(1) + ("+00:00" if match.group(3) == "Z" else match.group(3)))
    return whole.timestamp() + float(match.group(2) or 0)


# Rule states and alert states (their first word) during which the rule notifies or is about to: Recovering
# (Grafana 12, keep_firing_for) still sends the resolved alert as firing until it has held that long.
ACTIVE_RULE_STATES = ("firing", "pending", "recovering")
ACTIVE_ALERT_STATES = ("alerting", "firing", "pending", "recovering", "nodata", "error")


def parse_version(text):
    """(major, minor) of a Grafana version such as "11.3.0" or "12.1.1+security-01"; None if it is none."""
    parts = str(text or "").split(".")
    try:
        return int(parts[0]), int(parts[1].split("-")[0].split("+")[0])
    except (ValueError, IndexError):
        return None


def _all_panels(panels):
    for panel in panels:
        yield panel
        yield from _all_panels(panel.get("panels") or ())


class GrafanaClient(HttpClient):
    system = "Grafana"
    hint = "Check that Grafana runs and that OPSVERIFY_GRAFANA_TOKEN or OPSVERIFY_GRAFANA_USER/PASSWORD are valid"
    HEALTH, DASHBOARD = "/api/health", "/api/dashboards/uid/{uid}"
    DATASOURCE, DATASOURCE_HEALTH = "/api/datasources/uid/{uid}", "/api/datasources/uid/{uid}/health"
    ALERT_RULES, ALERT_RULE = "/api/v1/provisioning/alert-rules", "/api/v1/provisioning/alert-rules/{uid}"
    CONTACT_POINTS, POLICIES = "/api/v1/provisioning/contact-points", "/api/v1/provisioning/policies"
    MUTE_TIMINGS, RULE_STATES = "/api/v1/provisioning/mute-timings", "/api/prometheus/grafana/api/v1/rules"
    ALERTMANAGER_ALERTS = "/api/alertmanager/grafana/api/v2/alerts"

    def __init__(self, base_url, *, user="", password=None, token=None, **kwargs):
        super().__init__(base_url, **kwargs)
        if token:
            self.session.headers["Authorization"] = f"Bearer {token.reveal()}"
        elif user and password:
            self.session.auth = (user, password.reveal())

    def health(self):
        """GET /api/health: {commit, database, version}; needs no auth. Grafana answers 503 with
        "database": "failing" when its database does not answer (pkg/api/health.go): that is an answer too."""
        response = self.request("GET", self.HEALTH, expect=(200, 503))
        body = self.parse_json(response)
        if not isinstance(body, dict) or "database" not in body:
            raise self.shape_error(response, "no 'database' field")
        return body

    def datasource(self, uid):
        return self._object(self.DATASOURCE.format(uid=uid), "uid")

    def datasource_health(self, uid):
        """(status, message): Grafana answers 400 with status ERROR when the check fails."""
        response = self.request("GET", self.DATASOURCE_HEALTH.format(uid=uid), expect=(200, 400))
        body = self.parse_json(response)
        if not isinstance(body, dict) or "status" not in body:
            raise self.shape_error(response, "no 'status' field")
        return body["status"], str(body.get("message", ""))

    def dashboard(self, uid):
        response = self.request("GET", self.DASHBOARD.format(uid=uid))
        body = self.parse_json(response)
        try:
            dash, meta = body["dashboard"], body.get("meta") or {}
            return Dashboard(uid=dash["uid"], title=dash.get("title", ""), version=dash.get("version", 0),
                             url=meta.get("url", ""), panels=tuple(dash.get("panels") or ()))
        except (KeyError, TypeError):
            raise self.shape_error(response, "no dashboard.uid") from None

    def alert_rules(self):
        """GET /api/v1/provisioning/alert-rules: every Grafana-managed rule."""
        response = self.request("GET", self.ALERT_RULES)
        body = self.parse_json(response)
        try:
            return [AlertRule.from_api(item) for item in body]
        except (KeyError, TypeError, AttributeError):
            raise self.shape_error(response, "not a list of alert rules with uid and title") from None

    def rule_group(self, folder_uid, group):
        """The rule group (its `interval` in seconds)."""
        return self._object(f"/api/v1/provisioning/folder/{folder_uid}/rule-groups/{group}", "interval")

    def state_history(self, rule_uid, start, end, limit=1000):
        """A rule's state transitions in [start, end] (GET /api/v1/rules/history, ngalert state history).

        Grafana answers it from its history backend (Loki, or annotations); a data frame whose
        fields are time plus either `line` (JSON with previous/current) or `prev`/`next`.
        """
        params = {"ruleUID": rule_uid, "from": int(start.timestamp()), "to": int(end.timestamp()), "limit": limit}
        response = self.request("GET", "/api/v1/rules/history", params=params, expect=(200, 500))
        body = self.parse_json(response)
        if response.status_code == 500:  # Grafana's own refusal: {"message"} says why (grafana-facts.md)
            message = str(body.get("message", "")) if isinstance(body, dict) else ""
            if "does not support querying" in message:
                message += " (Grafana 12's Prometheus history backend writes history it cannot read back)"
            raise BadResponse(self.system, "GET", self.base_url + "/api/v1/rules/history",
                              f"answered 500: {message or 'no message'}", status=500, hint=self.hint)
        if isinstance(body, dict) and isinstance(body.get("schema"), dict) and not body["schema"].get("fields"):
            # The no-op historian's empty frame: history is off, which says nothing about the rule.
            raise self.shape_error(response, "an empty frame without fields: Grafana's state history is off")
        try:
            names = [f["name"] for f in body["schema"]["fields"]]
            columns = dict(zip(names, body["data"]["values"]))
            transitions = []
            for index, millis in enumerate(columns["time"]):
                line = columns.get("line", [None] * (index + 1))[index]
                line = json.loads(line) if isinstance(line, str) else (line or {})
                previous = line.get("previous") or columns.get("prev", [""] * (index + 1))[index]
                current = line.get("current") or columns.get("next", [""] * (index + 1))[index]
                transitions.append({"time": _seconds(millis), "previous": previous, "current": current})
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            raise self.shape_error(response, "not a state-history data frame") from None
        odd = next((t["time"] for t in transitions if not 0 < t["time"] < LATEST_PLAUSIBLE), None)
        if odd is not None:
            raise self.shape_error(response, f"a transition at {odd} (unix seconds), a time it cannot mean")
        return transitions

    def contact_points_export(self):
        """(receivers, "") in the provisioning-file shape with secure settings decrypted (needs Admin); or
        (None, why) when Grafana refuses (403: not an Admin) or has no export (404: Grafana 9.x): then only
        the redacted API view is available."""
        path = "/api/v1/provisioning/contact-points/export"
        response = self.request("GET", path, params={"format": "json", "decrypt": "true"}, expect=(200, 403, 404),
                                sensitive=True)
        if response.status_code == 403:
            return None, (f"{self.base_url}{path}?decrypt=true answered 403: it needs an Admin token "
                          "(alert.provisioning.secrets:read)")
        if response.status_code == 404:
            return None, f"{self.base_url}{path} answered 404: Grafana 9.x has no contact point export"
        body = self.parse_json(response)
        try:
            return [dict(r, name=cp["name"]) for cp in body.get("contactPoints", ()) for r in cp["receivers"]], ""
        except (KeyError, TypeError, AttributeError):
            raise self.shape_error(response, "no contactPoints[].receivers[]") from None

    def frontend_settings(self):
        """GET /api/frontend/settings: appUrl is Grafana's public root URL (root_url)."""
        return self._object("/api/frontend/settings", "appUrl")

    def templates(self):
        """Notification templates: [{name, template}] (alerting provisioning API); [] when none."""
        body = self.get_json("/api/v1/provisioning/templates")
        if body is None:
            return []
        if not isinstance(body, list):
            raise BadResponse(self.system, "GET", self.base_url + "/api/v1/provisioning/templates",
                              "answered with something other than a list of templates")
        return body

    def contact_points(self):
        body = self.get_json(self.CONTACT_POINTS)
        if not isinstance(body, list):
            raise BadResponse(self.system, "GET", self.base_url + self.CONTACT_POINTS,
                              "answered with something other than a list of contact points")
        return body

    def policies(self):
        return self._object(self.POLICIES, "receiver")

    def mute_timings(self):
        """[{name, time_intervals}] (alerting provisioning API, GET /api/v1/provisioning/mute-timings)."""
        response = self.request("GET", self.MUTE_TIMINGS)
        body = self.parse_json(response)
        if not isinstance(body, list):
            raise self.shape_error(response, "not a list of mute timings")
        return body

    def rule_states(self):
        """GET /api/prometheus/grafana/api/v1/rules, flattened to one RuleState per rule."""
        response = self.request("GET", self.RULE_STATES)
        body = self.parse_json(response)
        try:
            return [
                RuleState(name=r["name"], group=g["name"], file=str(g.get("file") or ""), state=r.get("state", ""),
                          health=r.get("health", ""),
                          last_error=r.get("lastError", ""), labels=dict(r.get("labels") or {}),
                          alerts=tuple(r.get("alerts") or ()), uid=str(r.get("uid") or ""),
                          folder_uid=str(g.get("folderUid") or r.get("folderUid") or ""))
                for g in body["data"]["groups"] for r in g["rules"]
            ]
        except (KeyError, TypeError, AttributeError):
            raise self.shape_error(response, "not a Prometheus-style rules response") from None

    def alertmanager_alerts(self):
        """GET /api/alertmanager/grafana/api/v2/alerts: the alerts Grafana's own Alertmanager holds, with the
        receivers the policy tree routed each to (Alertmanager API v2, gettableAlerts)."""
        response = self.request("GET", self.ALERTMANAGER_ALERTS)
        body = self.parse_json(response)
        try:
            return [AmAlert(labels=dict(a["labels"]), receivers=tuple(r["name"] for r in a["receivers"]),
                            state=str(a["status"]["state"]), starts_at=parse_instant(a["startsAt"]))
                    for a in body]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise self.shape_error(response, "not an Alertmanager v2 list of alerts") from None

    def folder(self, uid):
        """GET /api/folders/{uid}: the folder's own title, and from 11.x its `parents` (root first)."""
        return self._object(f"/api/folders/{uid}", "title")

    def _object(self, path, required):
        response = self.request("GET", path)
        body = self.parse_json(response)
        if not isinstance(body, dict) or required not in body:
            raise self.shape_error(response, f"no '{required}' field")
        return body
