"""Grafana provisioning files: keys Grafana would ignore, contact points its validation refuses, and the
alert rules as opsverify.clients.grafana.AlertRule objects, so the live checks' analyses (opsverify.rules)
judge the files with the same code.

Sources (grafana/grafana unless noted):
- pkg/services/provisioning/alerting/config_reader.go: files are read with plain yaml.Unmarshal, so a key
  Grafana does not know is ignored silently (grafana-facts.md).
- pkg/services/provisioning/alerting/types.go (AlertingFileV1), rules_types.go (AlertRuleGroupV1,
  AlertRuleV1, QueryV1, NotificationSettingsV1, RecordV1), contact_point_types.go (ContactPointV1,
  ReceiverV1), notification_policy_types.go (the policy is a definitions.Route: Alertmanager's route
  keys), text_templates_types.go (TemplateV1 inlines definitions.NotificationTemplate).
- rules_types.go mapToModel: an empty noDataState means NoData, an empty execErrState means Alerting.
- pkg/services/provisioning/datasources/types.go (DataSourceFromConfigV1) and
  pkg/services/provisioning/dashboards/types.go (the provider's configV1).
- grafana/alerting receivers/slack/config.go ValidateConfig: without url the Slack chat API is used and
  needs a recipient ("recipient must be specified when using the Slack chat API") and a token ("token must
  be specified when using the Slack chat API"); receivers/email: "could not find addresses in settings";
  receivers/webhook: "required field 'url' is not specified". contact_point_types.go runs this validation
  while provisioning: a failure stops alerting provisioning, and Grafana does not start.
"""

import re

from opsverify.clients.grafana import AlertRule
from opsverify.lint import Finding
from opsverify.rules import URL_SETTINGS

FREE = object()  # a mapping whose keys are the user's (labels, annotations, a query model, settings)
ROUTE = {"receiver", "group_by", "continue", "object_matchers", "matchers", "match", "match_re",
         "mute_time_intervals", "active_time_intervals", "group_wait", "group_interval", "repeat_interval",
         "provenance"}
RULE = {"uid": None, "title": None, "condition": None, "dasboardUid": None, "dashboardUid": None, "panelId": None,
        "noDataState": None, "execErrState": None, "for": None, "keepFiringFor": None,
        "missing_series_evals_to_resolve": None, "annotations": FREE, "labels": FREE, "isPaused": None,
        "notification_settings": {"receiver", "group_by", "group_wait", "group_interval", "repeat_interval",
                                  "mute_time_intervals", "active_time_intervals"},
        "record": {"metric", "from"},
        "data": {"refId": None, "queryType": None, "relativeTimeRange": {"from", "to"}, "datasourceUid": None,
                 "model": FREE}}
SCHEMAS = {
    "alerting": {
        "apiVersion": None,
        "groups": {"orgId": None, "name": None, "folder": None, "interval": None, "rules": RULE},
        "deleteRules": {"uid", "orgId"},
        "contactPoints": {"orgId": None, "name": None,
                          "receivers": {"uid": None, "type": None, "settings": FREE, "disableResolveMessage": None}},
        "deleteContactPoints": {"orgId", "uid"},
        "policies": None,  # a route tree: checked by _route
        "resetPolicies": None, "muteTimes": FREE, "deleteMuteTimes": FREE, "timeIntervals": FREE,
        "templates": {"orgId", "name", "template", "provenance"},
        "deleteTemplates": {"orgId", "name"},
    },
    "datasources": {
        "apiVersion": None, "prune": None, "deleteDatasources": {"orgId", "name"},
        "datasources": {"orgId": None, "version": None, "name": None, "type": None, "access": None, "url": None,
                        "password": None, "user": None, "database": None, "basicAuth": None,
                        "basicAuthUser": None, "basicAuthPassword": None, "withCredentials": None,
                        "isDefault": None, "jsonData": FREE, "secureJsonData": FREE, "editable": None,
                        "uid": None, "correlations": FREE},
    },
    "dashboards": {
        "apiVersion": None,
        "providers": {"name": None, "type": None, "orgId": None, "folder": None, "folderUid": None,
                      "editable": None, "disableDeletion": None, "updateIntervalSeconds": None,
                      "allowUiUpdates": None, "options": {"path", "foldersFromFilesStructure"}},
    },
}


def ignored_keys(document, kind):
    """Keys of a provisioning file that Grafana does not know and so ignores, leaving its default in force."""
    found = []

    def visit(value, schema, keypath):
        if schema is FREE or schema is None:
            return
        if isinstance(value, list):
            for index, item in enumerate(value):
                visit(item, schema, keypath + (index,))
            return
        if not isinstance(value, dict):
            return
        known = schema if isinstance(schema, (set, dict)) else set()
        for key, item in value.items():
            here = keypath + (key,)
            if key not in known:
                close = _closest(str(key), known)
                found.append(Finding(document.name, document.at(here),
                                     f"Grafana does not know '{key}' here and ignores it silently"
                                     + (f" (did you mean '{close}'?)" if close else "")
                                     + "; its default stays in force"))
            elif isinstance(schema, dict):
                visit(item, schema[key], here)

    data = document.data or {}
    visit(data, SCHEMAS[kind], ())
    if kind == "alerting":
        for index, policy in enumerate(data.get("policies") or ()):
            _route(document, policy, ("policies", index), found, ROUTE | {"orgId", "routes"})
    return found


def _route(document, node, keypath, found, known):
    if not isinstance(node, dict):
        return
    for key in node:
        if key not in known:
            close = _closest(str(key), known)
            found.append(Finding(document.name, document.at(keypath + (key,)),
                                 f"Grafana does not know '{key}' in a notification policy and ignores it"
                                 + (f" (did you mean '{close}'?)" if close else "")))
    for index, child in enumerate(node.get("routes") or ()):
        _route(document, child, keypath + ("routes", index), found, ROUTE | {"routes"})


def _closest(key, known):
    """A known key that differs from `key` only by case, '_' or one edit: the likely intended one."""
    norm = key.lower().replace("_", "")
    for name in known:
        if name.lower().replace("_", "") == norm:
            return name
    for name in known:
        if abs(len(name) - len(key)) <= 1 and _one_edit(name.lower(), key.lower()):
            return name
    return ""


def _one_edit(a, b):
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diffs) == 1 or (len(diffs) == 2 and diffs[1] == diffs[0] + 1
                                   and a[diffs[0]] == b[diffs[1]] and a[diffs[1]] == b[diffs[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


# --- contact points ---


def integrations(documents):
    """(document, keypath, contact point name, integration in the API's shape {name, type, settings})."""
    found = []
    for document in documents:
        for index, point in enumerate((document.data or {}).get("contactPoints") or ()):
            for r_index, receiver in enumerate(point.get("receivers") or ()):
                item = {"name": point.get("name", ""), "uid": receiver.get("uid", ""),
                        "type": receiver.get("type", ""), "settings": receiver.get("settings") or {}}
                found.append((document, ("contactPoints", index, "receivers", r_index), item))
    return found


def grafana_validation(integration):
    """Grafana's own refusal of an integration (its error text), or '' when Grafana accepts it."""
    kind, settings = integration.get("type", ""), integration.get("settings") or {}
    if not str(integration.get("uid") or "").strip():
        return "no uid is set"
    if not settings:
        return "no settings are set"
    if kind == "email":
        addresses = settings.get("addresses")
        if isinstance(addresses, list):
            return ("failed to unmarshal settings: json: cannot unmarshal array into Go struct field "
                    ".addresses of type string (separate addresses with ',' or ';' in one string)")
        if not str(addresses or "").strip():
            return "could not find addresses in settings"
    if kind == "slack" and not str(settings.get("url") or "").strip():
        if not str(settings.get("recipient") or "").strip():
            return "recipient must be specified when using the Slack chat API"
        if not str(settings.get("token") or "").strip():
            return "token must be specified when using the Slack chat API"
    if kind == "webhook" and not str(settings.get("url") or "").strip():
        return "required field 'url' is not specified"
    return ""


# --- alert rules ---


def rules(documents):
    """(document, keypath, AlertRule, folder title, group interval) of every rule in the alerting files."""
    found = []
    for document in documents:
        for g_index, group in enumerate((document.data or {}).get("groups") or ()):
            for r_index, item in enumerate(group.get("rules") or ()):
                if isinstance(item, dict) and item.get("uid"):
                    found.append((document, ("groups", g_index, "rules", r_index), AlertRule.from_file(item, group),
                                  str(group.get("folder") or ""), str(group.get("interval") or "")))
    return found


def policy_tree(documents):
    """(document, keypath, the root policy as the API gives it) of the first policy tree, or None."""
    for document in documents:
        for index, policy in enumerate((document.data or {}).get("policies") or ()):
            return document, ("policies", index), {k: v for k, v in policy.items() if k != "orgId"}
    return None


def templates(documents):
    """(document, keypath, template text)."""
    return [(d, ("templates", i, "template"), str(t.get("template") or ""))
            for d in documents for i, t in enumerate((d.data or {}).get("templates") or ())]


def notification_texts(documents):
    """(where, text) of what a notification carries: templates, contact point settings (not the endpoint
    URL itself), and the rules' annotations."""
    texts = [(d.name + " " + d.at(k), text) for d, k, text in templates(documents)]
    for document, keypath, item in integrations(documents):
        endpoint = URL_SETTINGS.get(item["type"])
        texts += [(document.name + " " + document.at(keypath + ("settings", key)), value)
                  for key, value in item["settings"].items() if isinstance(value, str) and key != endpoint]
    for document, keypath, rule, _, _ in rules(documents):
        texts += [(document.name + " " + document.at(keypath + ("annotations", key)), value)
                  for key, value in rule.annotations.items()]
    return texts


# --- datasources and dashboards ---


def datasource_uids(documents):
    return {str(ds.get("uid")) for d in documents for ds in (d.data or {}).get("datasources") or () if ds.get("uid")}


def provider_paths(documents):
    """(document, keypath, options.path) of every file dashboard provider."""
    return [(d, ("providers", i, "options", "path"), str((p.get("options") or {}).get("path") or ""))
            for d in documents for i, p in enumerate((d.data or {}).get("providers") or ())
            if p.get("type", "file") == "file"]


BUILTIN_DATASOURCES = {"grafana", "-- Grafana --", "-- Mixed --", "-- Dashboard --", "__expr__"}


def panel_datasources(dashboard):
    """(panel title, datasource uid) of every panel and target that names a datasource by uid."""
    found = []

    def uid_of(ds):
        uid = ds.get("uid") if isinstance(ds, dict) else ds
        return str(uid) if uid else ""

    def walk(panels):
        for panel in panels or ():
            for ds in [panel.get("datasource")] + [t.get("datasource") for t in panel.get("targets") or ()]:
                uid = uid_of(ds)
                if uid and uid not in BUILTIN_DATASOURCES and not re.match(r"^\$", uid):
                    found.append((panel.get("title", ""), uid))
            walk(panel.get("panels"))

    walk(dashboard.get("panels"))
    return found
