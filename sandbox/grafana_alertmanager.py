"""Grafana's embedded Alertmanager ("grafana"), played from the rule state machine (sandbox.grafana_history).

What Grafana's scheduler sends it (grafana/grafana pkg/services/ngalert/state/compat.go StateToPostableAlert,
state.go nextEndsTime): at every evaluation of a rule whose alert is Alerting (any reason), NoData or Error
(Recovering in 12.x), the alert with the rule's labels plus alertname, grafana_folder,
__alert_rule_uid__ and __alert_rule_namespace_uid__ (NoData/Error: alertname DatasourceNoData /
DatasourceError, the rule's title in `rulename`), annotations plus __orgId__, __value_string__, __values__
and grafana_state_reason, StartsAt the state's start, EndsAt the evaluation + 4 x max(interval, 30 s
ResendDelay); when it leaves those states, once more with EndsAt the evaluation time (resolved).

What the Alertmanager does with them (prometheus/alertmanager dispatch/dispatch.go aggrGroup, notify/notify.go
DedupStage.needsUpdate, TimeMuteStage, RetryStage's send_resolved filter; grafana/alerting notify/alerts.go
GetAlerts): each alert goes to the routes it matches (sandbox.grafana_routing); per route and group labels an
aggregation group, flushed group_wait after its first alert (at once for an alert older than that), then each
group_interval; a flush notifies every integration of the route's receiver when the firing set grew, alerts
resolved (disableResolveMessage false) or repeat_interval passed, unless a mute timing holds the route then.

The sandbox runs no scheduler: everything is worked out at request time from the state machine, as a scheduler
would have had it at that sandbox instant. The notification log begins when the sandbox starts (`started`):
alerts already firing then reach the Alertmanager at its first evaluation, as after a Grafana restart.
"""

import json
from datetime import datetime, timezone
from urllib.parse import urlsplit, urlunsplit

from . import grafana_routing

RESEND_DELAY = 30  # seconds: state.ResendDelay
ORG_ID = 1
SENDING = ("Alerting", "NoData", "Error", "Recovering")
GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def fingerprint(labels):
    """model.LabelSet.Fingerprint (prometheus/common model/signature.go): FNV-1a 64 over the sorted names and
    values, each followed by the 0xff separator, as %016x."""
    value = 0xCBF29CE484222325
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode("utf-8") + b"\xff":
                value ^= byte
                value = (value * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def stamp(seconds):
    """strfmt.DateTime / time.Time in JSON: RFC 3339, Z, fraction only when there is one (milliseconds)."""
    instant = datetime.fromtimestamp(seconds, timezone.utc)
    text = instant.strftime("%Y-%m-%dT%H:%M:%S")
    if instant.microsecond:
        text += f".{instant.microsecond // 1000:03d}".rstrip("0")
    return text + "Z"


def label_set_text(labels):
    """model.LabelSet.String: {a="1", b="2"}, names sorted, values quoted (strconv.Quote)."""
    return "{" + ", ".join(f"{name}={json.dumps(labels[name], ensure_ascii=False)}" for name in sorted(labels)) + "}"


def is_private(name):
    return name.startswith("__") and name.endswith("__")


class Alertmanager:
    """The Grafana Alertmanager's alerts, groups and notifications at the sandbox's now (Grafana.clock)."""

    def __init__(self, grafana, started):
        self.grafana = grafana
        self.started = started  # unix seconds: when the sandbox (and its notification log) began
        self.tree = grafana_routing.build(grafana.provisioning.policy)
        self._evaluations = {}  # (rule uid, tick) -> Grafana.evaluate's answer
        self._sends = {}  # rule uid -> (the evaluation tick asked for, its sends): worked out once a tick

    # --- what Grafana sends ---

    def sends(self, rule, now):
        """[(tick, alert)] of one rule from the sandbox's start to `now`: what the scheduler posted."""
        if rule["isPaused"]:
            return []
        group = next(g for g in self.grafana.provisioning.groups
                     if g["folderUid"] == rule["folderUID"] and g["title"] == rule["ruleGroup"])
        interval = int(group["interval"])
        tick_now = int(now) // interval
        known = self._sends.get(rule["uid"])
        if known is not None and known[0] == tick_now:
            return known[1]
        changes = sorted(self.grafana.history(rule))
        first = -(-int(self.started) // interval) * interval
        out, current, since, previous, done = [], "Normal", None, None, 0
        for tick in range(first, int(now) + 1, interval):
            while done < len(changes) and changes[done][0] <= tick:
                if changes[done][2].split(" ")[0] != current.split(" ")[0]:
                    since = changes[done][0]
                current = changes[done][2]
                done += 1
            base = current.split(" ")[0]
            alert = self._alert(rule, interval, base, current, since, tick) if base in SENDING else None
            if previous is not None and (alert is None or alert["labels"] != previous["labels"]):
                out.append((tick, {**previous, "endsAt": tick, "updatedAt": tick, "firing": False}))
            if alert is not None:
                out.append((tick, alert))
            previous = alert
        self._sends[rule["uid"]] = (tick_now, out)
        return out

    def _alert(self, rule, interval, base, formatted, since, tick):
        folder = self.grafana.provisioning.folders[rule["folderUID"]]
        labels = {**rule.get("labels", {}), "alertname": rule["title"], "grafana_folder": folder,
                  "__alert_rule_uid__": rule["uid"], "__alert_rule_namespace_uid__": rule["folderUID"]}
        key = (rule["uid"], tick)
        if key not in self._evaluations:
            self._evaluations[key] = self.grafana.evaluate(rule, datetime.fromtimestamp(tick, timezone.utc))
        _, _, firing = self._evaluations[key]
        series, values = next(iter(firing.items())) if firing and base == "Alerting" else ((), {})
        labels.update(dict(series))
        if base in ("NoData", "Error"):
            labels["rulename"] = labels["alertname"]
            labels["alertname"] = "DatasourceNoData" if base == "NoData" else "DatasourceError"
        annotations = dict(rule.get("annotations", {}))
        if values:
            annotations["__values__"] = json.dumps({k: _number(v) for k, v in sorted(values.items())},
                                                   separators=(",", ":"))
            annotations["__value_string__"] = ", ".join(
                f"[ var='{ref}' labels={{{', '.join(f'{k}={v}' for k, v in series)}}} value={v:g} ]"
                for ref, v in values.items())
        reason = formatted[len(base) + 2:-1] if formatted != base else ""
        if reason:
            annotations["grafana_state_reason"] = reason
        annotations["__orgId__"] = str(ORG_ID)
        app = urlsplit(self.grafana.app_url)
        generator = urlunsplit((app.scheme, app.netloc, f"/{app.path.strip('/')}/alerting/grafana/{rule['uid']}/view"
                                .replace("//", "/"), "", ""))
        return {"labels": labels, "annotations": annotations, "startsAt": since if since is not None else tick,
                "endsAt": tick + 4 * max(interval, RESEND_DELAY), "updatedAt": tick, "generatorURL": generator,
                "fingerprint": fingerprint(labels), "firing": True, "rule": rule}

    # --- the dispatcher ---

    def play(self, now):
        """(notifications, groups) at `now`: every notification each integration sent since the start, in time
        order, and the aggregation groups alive now {group key: (route, group labels, {fingerprint: alert})}."""
        arrivals = []  # (time, route, alert)
        for rule in self.grafana.provisioning.rules:
            for tick, alert in self.sends(rule, now):
                for route in self.tree.match(alert["labels"]):
                    arrivals.append((tick, route, alert))
        by_group = {}
        for tick, route, alert in arrivals:
            key = f"{route.key()}:{label_set_text(route.group_labels(alert['labels']))}"
            by_group.setdefault(key, (route, []))[1].append((tick, alert))
        notifications, alive = [], {}
        for key, (route, arriving) in by_group.items():
            notifications += self._flushes(key, route, arriving, now, alive)
        notifications.sort(key=lambda n: (n["at"], n["receiver"], n["uid"]))
        return notifications, alive

    def _flushes(self, key, route, arriving, now, alive):
        integrations = [cp for cp in self.grafana.provisioning.contact_points if cp["name"] == route.receiver]
        sent, log = [], {}  # log: integration uid -> (firing fingerprints, resolved fingerprints, time)
        alerts, next_flush, i = {}, None, 0
        while True:
            if next_flush is None:  # no group: the next firing alert starts one
                while i < len(arriving) and not arriving[i][1]["firing"]:
                    i += 1
                if i >= len(arriving) or arriving[i][0] > now:
                    break
                first = arriving[i][1]
                created = arriving[i][0]
                # aggrGroup.insert: an alert older than group_wait is flushed at once
                wait = 0 if first["startsAt"] + route.group_wait < created else route.group_wait
                next_flush = created + wait
            if next_flush > now:
                break
            while i < len(arriving) and arriving[i][0] <= next_flush:
                alert = arriving[i][1]
                alerts[alert["fingerprint"]] = alert
                i += 1
            firing = {fp for fp, a in alerts.items() if a["firing"]}
            resolved = set(alerts) - firing
            if not grafana_routing.muted(route, self.grafana.provisioning.mute_times, next_flush):
                for cp in integrations:
                    send_resolved = not cp["disableResolveMessage"]
                    entry = log.get(cp["uid"])
                    if _needs_update(entry, firing, resolved, route.repeat_interval, send_resolved, next_flush):
                        log[cp["uid"]] = (firing, resolved, next_flush)
                        shown = [alerts[fp] for fp in sorted(alerts) if fp in firing or send_resolved]
                        if shown:
                            sent.append(self._notification(key, route, cp, shown, next_flush))
            for fp in resolved:  # DeleteIfNotModified after the flush
                del alerts[fp]
            if not alerts:
                next_flush = None
                continue
            next_flush += route.group_interval
        if alerts:
            labels = route.group_labels(next(iter(alerts.values()))["labels"])
            alive[key] = (route, labels, {fp: a for fp, a in alerts.items() if a["endsAt"] > now or a["firing"]})
        return sent

    def _notification(self, key, route, cp, alerts, at):
        status = "firing" if any(a["firing"] for a in alerts) else "resolved"
        record = {"at": stamp(at), "receiver": route.receiver, "integration": cp["type"], "uid": cp["uid"],
                  "groupKey": key, "status": status,
                  "alerts": [{"labels": _public(a["labels"]), "status": "firing" if a["firing"] else "resolved",
                              "fingerprint": a["fingerprint"]} for a in alerts]}
        if cp["type"] == "webhook":
            from .grafana_webhook import payload
            record["url"] = cp["settings"].get("url", "")
            record["payload"] = payload(self.grafana.app_url, route, cp, key, alerts, status)
        return record

    # --- GET /api/alertmanager/grafana/api/v2/alerts ---

    def alerts(self, now):
        """The alerts the Alertmanager holds at `now` that have not ended (alertFilter's EndsAt check)."""
        current = {}
        for rule in self.grafana.provisioning.rules:
            for tick, alert in self.sends(rule, now):
                current[alert["fingerprint"]] = alert
        return [(alert, [r.receiver for r in self.tree.match(alert["labels"])])
                for fp, alert in sorted(current.items()) if alert["endsAt"] > now]


def gettable(alert, receivers):
    """v2.AlertToOpenAPIAlert (alertmanager api/v2/compat.go as Grafana's fork has it): models.GettableAlert,
    keys in the order go-swagger writes them; status without mutedBy (a muted alert stays active there)."""
    return {"annotations": dict(sorted(alert["annotations"].items())),
            "endsAt": stamp(alert["endsAt"]), "fingerprint": alert["fingerprint"],
            "receivers": [{"name": name} for name in receivers], "startsAt": stamp(alert["startsAt"]),
            "status": {"inhibitedBy": [], "silencedBy": [], "state": "active"},
            "updatedAt": stamp(alert["updatedAt"]), "generatorURL": alert["generatorURL"],
            "labels": dict(sorted(alert["labels"].items()))}


def _needs_update(entry, firing, resolved, repeat, send_resolved, now):
    """notify.DedupStage.needsUpdate."""
    if entry is None:
        return bool(firing)
    logged_firing, logged_resolved, logged_at = entry
    if not firing <= logged_firing:
        return True
    if not firing:
        return bool(logged_firing)
    if send_resolved and not resolved <= logged_resolved:
        return True
    return logged_at < now - repeat


def _public(labels):
    return {k: v for k, v in sorted(labels.items()) if not is_private(k)}


def _number(value):
    return int(value) if float(value).is_integer() else value

