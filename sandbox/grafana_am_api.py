"""Grafana's Alertmanager API for its own Alertmanager, /api/alertmanager/grafana/api/v2/... (grafana/grafana
pkg/services/ngalert/api/api_alertmanager.go RouteGetAMAlerts, RouteGetAMAlertGroups; grafana/alerting
notify/alerts.go GetAlerts, GetAlertGroups; shapes: Alertmanager's OpenAPI v2 gettableAlerts / alertGroups).

Authorization (ngalert api/authorization.go): alert.instances:read, which the Viewer, Editor and Admin basic
roles hold. Query: active, silenced, inhibited (QueryBoolWithDefault, true by default), filter (repeatable
label matchers), receiver (a regexp anchored ^(?:...)$ matched against the alert's receivers). A bad filter or
receiver is Grafana's 400 {"message": "<parser error>: unable to retrieve alerts"}; the sandbox parses only
the classic matcher form (name, =|!=|=~|!~, value optionally double-quoted) and refuses, with a 501, any
filter or receiver regexp it cannot read rather than guess the texts of Grafana's parsers. The sandbox's
Alertmanager has no silences and no inhibition rules: every alert it holds is active.
"""

import json
import re

from .grafana_alertmanager import Alertmanager, gettable
from .grafana_files import GO_TRUE, MATCHER
from .grafana_routing import Matcher
from .httpserver import json_response

BASE = "/api/alertmanager/grafana/api/v2"


def _bool(request, name):
    value = request.arg(name, "")
    return True if value == "" else value in GO_TRUE


def _filters(request):
    """([Matcher], receiver regexp or None), or None when the sandbox cannot read one of them."""
    matchers = []
    for text in request.query.get("filter", []):
        match = MATCHER.match(text)
        if not match or not text.strip():
            return None
        name, op, quoted, plain = match.groups()
        try:
            value = json.loads(f'"{quoted}"') if quoted is not None else plain
            if op in ("=~", "!~"):
                re.compile(value)
        except (ValueError, re.error):
            return None
        matchers.append(Matcher(name, op, value))
    receiver = request.arg("receiver", "")
    try:
        pattern = re.compile(f"^(?:{receiver})$") if receiver else None
    except re.error:
        return None
    return matchers, pattern


def _matches_filter(matchers, labels):
    """matchFilterLabels: an empty-valued = or =~ matcher also passes when the label is absent, != and !~
    when it is present."""
    for m in matchers:
        present = m.name in labels
        if m.value == "" and ((m.op in ("!=", "!~") and present) or (m.op in ("=", "=~") and not present)):
            continue
        if not m.matches(labels):
            return False
    return True


def register(api, grafana, roles, unsupported):
    """Add the routes to the Grafana app (`api` is grafana.make_app's decorator)."""
    grafana.alertmanager = Alertmanager(grafana, grafana.clock().timestamp())

    def answer(request, build):
        """200 with build(matchers, receiver pattern, now), [] when only inactive alerts are asked for (every
        alert here is active), or the refusal of a filter the sandbox cannot read."""
        filters = _filters(request)
        if filters is None:
            return unsupported(request, "with that filter or receiver (it reads classic label matchers such "
                                        "as severity=\"critical\" and regexps Python also reads; Grafana "
                                        "answers 400 for what its parsers refuse)")
        if not _bool(request, "active"):
            return json_response(200, [])
        return json_response(200, build(*filters, grafana.clock().timestamp()))

    # GET /api/alertmanager/grafana/api/v2/alerts (RouteGetAMAlerts -> GetAlerts): gettableAlerts sorted by
    # fingerprint; `[]` when there are none.
    @api("GET", BASE + "/alerts", roles=roles)
    def alerts(request):
        def build(matchers, pattern, now):
            return [gettable(alert, receivers) for alert, receivers in grafana.alertmanager.alerts(now)
                    if (pattern is None or any(pattern.match(r) for r in receivers))
                    and _matches_filter(matchers, alert["labels"])]

        return answer(request, build)

    # GET /api/alertmanager/grafana/api/v2/alerts/groups (RouteGetAMAlertGroups -> GetAlertGroups): the
    # dispatcher's aggregation groups {alerts, labels, receiver: {name}}, filtered like /alerts (the receiver
    # regexp on the group's route).
    @api("GET", BASE + "/alerts/groups", roles=roles)
    def groups(request):
        def build(matchers, pattern, now):
            _, alive = grafana.alertmanager.play(now)
            out = []
            for key in sorted(alive):
                route, labels, members = alive[key]
                if pattern is not None and not pattern.match(route.receiver):
                    continue
                shown = [gettable(a, [route.receiver]) for fp, a in sorted(members.items())
                         if a["endsAt"] > now and _matches_filter(matchers, a["labels"])]
                if shown:
                    out.append({"alerts": shown, "labels": dict(sorted(labels.items())),
                                "receiver": {"name": route.receiver}})
            return out

        return answer(request, build)
