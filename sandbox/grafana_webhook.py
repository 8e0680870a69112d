"""What Grafana's webhook integration POSTs (grafana/alerting receivers/webhook webhook.go webhookMessage, as in
Grafana 11.x): templates.ExtendedData (template_data.go ExtendData / extendAlert: private `__x__` labels and
annotations removed, generator and silence URLs with orgId) followed by version "1", groupKey,
truncatedAlerts, orgId, title ({{ template "default.title" . }}), state ("alerting" or "ok") and message
({{ template "default.message" . }}), the default templates of templates/default_template.go rendered in
Python. Newer fields (ruleUID, orgId per alert, appVersion, enrichments) are left out, as 11.x has none.
"""

import json
import sys
import threading
import time
import traceback
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests

from .grafana_alertmanager import GO_ZERO_TIME, ORG_ID, is_private, stamp

def sorted_pairs(kv):
    """template.KV.SortedPairs: alertname first, then the other names sorted."""
    names = sorted(kv, key=lambda name: (name != "alertname", name))
    return [(name, kv[name]) for name in names]


def payload(app_url, route, cp, group_key, alerts, status):
    """The JSON body (a dict, in Go's field order) the webhook contact point `cp` sends for `alerts`."""
    extended = [_extended(app_url, alert) for alert in alerts]
    group_labels = route.group_labels(alerts[0]["labels"])
    common = {k: v for k, v in alerts[0]["labels"].items() if all(a["labels"].get(k) == v for a in alerts)}
    common_ann = {k: v for k, v in alerts[0]["annotations"].items()
                  if all(a["annotations"].get(k) == v for a in alerts)}
    data = {"receiver": route.receiver, "status": status, "alerts": extended,
            "groupLabels": dict(sorted(group_labels.items())),
            "commonLabels": {k: v for k, v in sorted(common.items()) if not is_private(k)},
            "commonAnnotations": {k: v for k, v in sorted(common_ann.items()) if not is_private(k)},
            "externalURL": app_url}
    firing = [a for a in extended if a["status"] == "firing"]
    resolved = [a for a in extended if a["status"] == "resolved"]
    return {**data, "version": "1", "groupKey": group_key, "truncatedAlerts": 0, "orgId": ORG_ID,
            "title": _title(status, firing, resolved, data["groupLabels"], data["commonLabels"]),
            "state": "alerting" if status == "firing" else "ok", "message": _message(firing, resolved)}


def _extended(app_url, alert):
    labels = {k: v for k, v in sorted(alert["labels"].items()) if not is_private(k)}
    annotations = {k: v for k, v in sorted(alert["annotations"].items()) if not is_private(k)}
    values = json.loads(alert["annotations"].get("__values__", "null"))
    base = urlsplit(app_url)
    rule_uid = alert["labels"].get("__alert_rule_uid__", "")
    matchers = [("matcher", f"__alert_rule_uid__={rule_uid}")] if rule_uid else []
    matchers += [("matcher", f"{k}={v}") for k, v in sorted_pairs(alert["labels"])
                 if not is_private(k) and not (rule_uid and k in ("grafana_folder", "alertname"))]
    silence = urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + "/alerting/silence/new",
                          urlencode([("alertmanager", "grafana")] + matchers + [("orgId", str(ORG_ID))]), ""))
    generator = alert["generatorURL"] + "?" + urlencode({"orgId": ORG_ID}) if alert["generatorURL"] else ""
    return {"status": "firing" if alert["firing"] else "resolved", "labels": labels, "annotations": annotations,
            "startsAt": stamp(alert["startsAt"]),
            "endsAt": GO_ZERO_TIME if alert["firing"] else stamp(alert["endsAt"]),
            "generatorURL": generator, "fingerprint": alert["fingerprint"], "silenceURL": silence,
            "dashboardURL": "", "panelURL": "", "values": values,
            "valueString": alert["annotations"].get("__value_string__", "")}


def _title(status, firing, resolved, group_labels, common_labels):
    """default.title (__subject)."""
    head = status.upper()
    if status == "firing":
        head += f":{len(firing)}" + (f", RESOLVED:{len(resolved)}" if resolved else "")
    text = f"[{head}] " + " ".join(v for _, v in sorted_pairs(group_labels)) + " "
    if len(common_labels) > len(group_labels):
        rest = {k: v for k, v in common_labels.items() if k not in group_labels}
        text += "(" + " ".join(v for _, v in sorted_pairs(rest)) + ")"
    return text


def _message(firing, resolved):
    """default.message (__text_alert_list, __text_values_list)."""
    text = ""
    if firing:
        text += "**Firing**\n" + _alert_list(firing) + ("\n\n" if resolved else "")
    if resolved:
        text += "**Resolved**\n" + _alert_list(resolved)
    return text


def _alert_list(alerts):
    text = ""
    for alert in alerts:
        values = alert["values"] or {}
        shown = ", ".join(f"{ref}={_go_float(v)}" for ref, v in sorted(values.items())) if values else "[no value]"
        text += f"\nValue: {shown}\nLabels:\n"
        text += "".join(f" - {k} = {v}\n" for k, v in sorted_pairs(alert["labels"]))
        text += "Annotations:\n" + "".join(f" - {k} = {v}\n" for k, v in sorted_pairs(alert["annotations"]))
        for name, key in (("Source", "generatorURL"), ("Silence", "silenceURL"), ("Dashboard", "dashboardURL"),
                          ("Panel", "panelURL")):
            if alert[key]:
                text += f"{name}: {alert[key]}\n"
    return text


def _go_float(value):
    """A float64 as Go's templates print it (%v: strconv 'g' with the shortest representation)."""
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)



class Deliverer:
    """Posts each webhook notification the Alertmanager has due (Alertmanager.play) once, as Grafana's
    webhook sender does (POST, Content-Type application/json, User-Agent Grafana); polls every `poll` real
    seconds in a daemon thread until stop(). It posts only to the sandbox's own receiver (`receiver_url`,
    loopback): a webhook URL elsewhere is said on stderr once and never called. A failed post is said on
    stderr, never retried; a fault of the sandbox's own stops the thread, saying why."""

    def __init__(self, alertmanager, clock, version, receiver_url, poll=0.2):
        self.alertmanager, self.clock, self.poll = alertmanager, clock, poll
        self.receiver_url = receiver_url.rstrip("/") + "/"
        self.headers = {"Content-Type": "application/json", "User-Agent": f"Grafana/{version}"}
        self.posted, self.refused = set(), set()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="grafana-webhooks", daemon=True)

    def start(self):
        self.thread.start()
        return self

    def deliver_due(self):
        notifications, _ = self.alertmanager.play(self.clock())
        for note in notifications:
            key = (note["uid"], note["groupKey"], note["at"])
            if note["integration"] != "webhook" or key in self.posted:
                continue
            self.posted.add(key)
            host = urlsplit(note["url"]).netloc  # a webhook URL's path is its secret: never shown
            if not note["url"].startswith(self.receiver_url):
                if host not in self.refused:
                    self.refused.add(host)
                    print(f"sandbox: webhook notifications to {host} are not posted: the sandbox posts only to its "
                          f"own receiver ({self.receiver_url})", file=sys.stderr, flush=True)
                continue
            body = json.dumps(note["payload"], separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            try:
                requests.post(note["url"], data=body, headers=self.headers, timeout=10)
            except requests.RequestException as exc:
                print(f"sandbox: a webhook notification to {host} failed: {type(exc).__name__}", file=sys.stderr,
                      flush=True)

    def _run(self):
        while not self.stopping.is_set():
            try:
                self.deliver_due()
            except Exception:  # a fault of the sandbox's own: said, and no more deliveries
                print("sandbox: webhook deliveries stopped:\n" + traceback.format_exc(), file=sys.stderr, flush=True)
                return
            deadline = time.monotonic() + self.poll
            while not self.stopping.is_set() and time.monotonic() < deadline:
                time.sleep(0.02)

    def stop(self):
        self.stopping.set()
        self.thread.join(5)
