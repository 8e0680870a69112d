"""Every configured alert rule as an executable test: well formed, valid on the live Loki, able to
fire, quiet when nothing happens, healthy, and routed to the people the runbook promises.

A defect here does not mean the reset failed: these checks are warnings for the night's status.
"""

from datetime import timedelta

import pytest

from opsverify.clients.grafana import ACTIVE_ALERT_STATES, ACTIVE_RULE_STATES, parse_instant
from opsverify.clients.http import ClientError
from opsverify.drill import drill_behind
from opsverify.evidence import not_applicable, require
from opsverify.rules import (NOISY_EXEC_ERR, NOISY_NO_DATA, URL_SETTINGS, AnalysisError, alert_labels, can_fire,
                             email_addresses, foreign_grafana_links, host_of, inspect_integration, no_data_count,
                             queries, route)

pytestmark = [pytest.mark.smoke, pytest.mark.nightly, pytest.mark.severity("warning")]
DAY = timedelta(hours=12)  # the day measured for no data: the night's reset ± 12 h


def _name(rule):
    return f"rule '{rule.title}' ({rule.uid})"


def test_rule_present(alert_rules, rule_spec, grafana, settings, evidence):
    evidence.add("rules in Grafana", sorted(alert_rules))
    require(rule_spec.uid in alert_rules, "Grafana", grafana.url(grafana.ALERT_RULES),
            f"alert rule {rule_spec.uid} ('{rule_spec.title}')", f"rules {sorted(alert_rules) or 'none'}",
            "provision the rule (alerting provisioning files) or fix its uid in the site file")


def test_rule_well_formed(rule, rule_spec, rule_states, folder_title, grafana, settings, evidence):
    state = rule_states.get(rule.uid)
    # The folder is known by its uid; its own title is asked of it. The rules API's `file` is only shown:
    # from Grafana 11 it is the folder's full path ("Parent/alerts"), not its title.
    try:
        title = folder_title(rule.folder_uid)
    except ClientError as exc:
        title = None
        evidence.add("folder", f"could not read folder {rule.folder_uid}: {exc.problem}")
    evidence.add("rule", {"uid": rule.uid, "title": rule.title, "folderUID": rule.folder_uid, "folder title": title,
                          "folder path (rules API file)": state.file if state else None,
                          "ruleGroup": rule.rule_group, "isPaused": rule.is_paused, "labels": rule.labels,
                          "annotations": sorted(rule.annotations), "noDataState": rule.no_data_state,
                          "execErrState": rule.exec_err_state, "for": rule.for_})
    problems = []
    if rule.title != rule_spec.title:
        problems.append(f"title '{rule.title}', not '{rule_spec.title}'")
    if rule.rule_group != settings.rule_group:
        problems.append(f"group '{rule.rule_group}', not '{settings.rule_group}'")
    if title is None:
        pytest.skip(f"could not see {_name(rule)}'s folder {rule.folder_uid} (GET /api/folders/{rule.folder_uid})")
    if settings.rule_folder not in (title, rule.folder_uid):
        problems.append(f"folder '{title}' (uid {rule.folder_uid}), not '{settings.rule_folder}'")
    if rule.is_paused:
        problems.append("paused: it never evaluates")
    missing = [name for name in settings.required_labels if not rule.labels.get(name)]
    if missing:
        problems.append(f"no label {', '.join(missing)}")
    missing = [name for name in settings.required_annotations if not str(rule.annotations.get(name, "")).strip()]
    if missing:
        problems.append(f"no annotation {', '.join(missing)}")
    severity = rule.labels.get("severity")
    if severity and severity != rule_spec.severity:
        problems.append(f"severity '{severity}', but the site file (and the runbook) expect '{rule_spec.severity}'")
    require(not problems, "Grafana", grafana.url(grafana.ALERT_RULE, uid=rule.uid),
            f"{_name(rule)} as the site file describes it", "; ".join(problems),
            "fix the rule's provisioning file (or the site file, if the runbook changed)")


def test_rule_queries_valid(rule, query_errors, loki, settings, evidence):
    nodes = queries(rule)
    evidence.add("queries", [{"refId": n.ref_id, "datasourceUid": n.datasource_uid, "expr": n.expr}
                             for n in nodes])
    foreign = [n.ref_id for n in nodes if n.datasource_uid != settings.datasource_uid]
    if foreign:
        evidence.add("not run", f"{', '.join(foreign)}: not on the Loki datasource '{settings.datasource_uid}'")
    errors = query_errors[rule.uid]
    consequence = NOISY_EXEC_ERR.get(rule.exec_err_state)
    seen = "; ".join(f"{ref}: {text}" for ref, text in errors.items())
    if consequence:
        seen += f". With execErrState {rule.exec_err_state} it {consequence} at every evaluation, on its own error"
    require(not errors, "Loki", loki.url(loki.QUERY), f"every query of {_name(rule)} accepted",
            seen, "fix the LogQL (Loki's message gives the position); test it in Grafana's Explore")


def test_rule_can_fire(rule, grafana, settings, evidence):
    try:
        verdict = can_fire(rule)
    except AnalysisError as exc:
        pytest.skip(f"{_name(rule)}: cannot analyse its condition: {exc}")
    evidence.add("analysis", verdict.evidence())
    require(verdict.can_fire, "Grafana", grafana.url(grafana.ALERT_RULE, uid=rule.uid),
            f"a value of the query that makes {_name(rule)} fire",
            f"condition {verdict.condition} with {verdict.domain}: {verdict.why}",
            "fix the threshold: to fire when the line appears, use 'gt 0' (count > 0)")


def test_rule_quiet_without_data(rule, loki, group_interval, night, settings, evidence):
    consequence = NOISY_NO_DATA.get(rule.no_data_state)
    evidence.add("noDataState", rule.no_data_state)
    if consequence is None:
        return  # OK or KeepLast: nothing happens when the query finds nothing
    interval = group_interval(rule)
    start, end = night.reset_at - DAY, night.reset_at + DAY
    evaluations = list(range(int(start.timestamp()) + interval, int(end.timestamp()) + 1, interval))
    empty = 0
    measured = {}
    for node in queries(rule, settings.datasource_uid):
        result = loki.query_range(node.expr, start=start, end=end, step=interval)
        samples = [t for series in result.items for t, _ in series.points]
        lookback = node.relative_from if node.model.get("queryType") == "range" else interval
        count = no_data_count(evaluations, samples, max(lookback, interval))
        measured[node.ref_id] = {"expr": node.expr, "evaluations": len(evaluations), "without_data": count}
        empty = max(empty, count)
    hours = 24.0 * empty / len(evaluations)
    evidence.add("measured over the night's day", {"from": start.isoformat(), "to": end.isoformat(),
                                                   "interval_seconds": interval, "queries": measured,
                                                   "hours_per_day_without_data": round(hours, 1)})
    require(empty == 0, "Loki", loki.url(loki.QUERY_RANGE),
            f"{_name(rule)} (noDataState {rule.no_data_state}) to have data at every evaluation",
            f"no data at {empty} of {len(evaluations)} evaluations every {interval} s: it {consequence} about "
            f"{hours:.1f} h a day whenever nothing happens",
            "set noDataState to OK; to alert on a missing line, widen the query's range beyond the event's "
            "spacing (e.g. [25h]) or write a separate absence rule")


def test_rule_healthy_now(rule, rule_states, query_errors, ledger_drills, grafana, settings, evidence):
    state = rule_states.get(rule.uid)
    where = grafana.url(grafana.RULE_STATES)
    require(state is not None, "Grafana", where, f"an evaluation state for {_name(rule)}", "none",
            "check that the rule group is evaluated (Grafana's alerting scheduler)")
    evidence.add("state", {"state": state.state, "health": state.health, "lastError": state.last_error,
                           "alerts": list(state.alerts)})
    if query_errors[rule.uid]:
        not_applicable(f"{_name(rule)} has an invalid query (test_rule_queries_valid): its health says the same")
    require(state.health != "error", "Grafana", where, f"{_name(rule)} healthy", f"health error: {state.last_error}",
            "read the error: a datasource that cannot be reached or a query that times out")
    # Recovering (Grafana 12, keep_firing_for) is not quiet: Alertmanager still has the alert as firing.
    firing = [a for a in state.alerts if str(a.get("state", "")).split(" ")[0].lower() in ACTIVE_ALERT_STATES]
    # Grafana says why an instance fires: "Alerting (NoData)" comes from noDataState, whose check owns it.
    if firing and all("NoData" in str(a.get("state")) for a in firing) and rule.no_data_state in NOISY_NO_DATA:
        not_applicable(f"{_name(rule)} fires now because its query has no data (test_rule_quiet_without_data)")
    # A drill's line fires the rule on purpose: while it does, the rule's state says nothing of production.
    behind = [drill_behind(rule.uid, parse_instant(a["activeAt"]), ledger_drills) if a.get("activeAt") else None
              for a in firing]
    drill = behind[0] if behind and all(behind) else None
    if drill:
        evidence.add("drill", {"id": drill["id"], "at": drill["at"], "owner": drill["owner"]})
        not_applicable(f"{_name(rule)} fires now because of the alert drill {drill['id']} (at {drill['at']}, by "
                       f"{drill['owner']}), whose line is still in its window")
    recovering = state.state == "recovering" or any(str(a.get("state", "")).startswith("Recovering") for a in firing)
    require(state.state not in ACTIVE_RULE_STATES and not firing, "Grafana", where,
            f"{_name(rule)} quiet now", f"state {state.state}: " + "; ".join(
                f"{a.get('state')} since {a.get('activeAt')}" + (f" value {a['value']}" if a.get("value") else "")
                for a in firing)
            + (" (recovering: the condition is false again, but keep_firing_for keeps the alert firing in "
               "Alertmanager until it has held that long)" if recovering else ""),
            "an alert is active: handle it as the runbook says, then record what was done with --action")


def test_rule_routes_as_promised(rule, rule_spec, folder_title, policy_tree, route_silences, run, grafana, settings,
                                 evidence):
    if not rule_spec.receivers:
        not_applicable(f"the site file promises no receivers for {rule_spec.uid}")
    if rule.labels.get("severity") != rule_spec.severity:
        not_applicable(f"{_name(rule)} carries the wrong severity (test_rule_well_formed); routing depends on it")
    # grafana_folder is the folder's title, read by its uid (the rules API's `file` is a path from 11.x).
    labels = alert_labels(rule, folder_title(rule.folder_uid) if rule.folder_uid else "")
    deliveries = route(policy_tree, labels)
    reached = sorted({d.receiver for d in deliveries})
    evidence.add("routing", {"labels": labels, "routes": [{"receiver": d.receiver, "path": " → ".join(d.path)}
                                                          for d in deliveries]})
    require(reached == sorted(rule_spec.receivers), "Grafana", grafana.url(grafana.POLICIES),
            f"alerts of {_name(rule)} to reach {', '.join(rule_spec.receivers)}",
            f"they reach {', '.join(reached)} via {' | '.join(' → '.join(d.path) for d in deliveries)}",
            "fix the rule's labels or the notification policy so the runbook's receivers are paged")
    # Reached on paper is not reached at midnight: a mute timing or active interval on the route decides.
    # Live state, so the run's own night (not each night of a --week run); the criteria look at the week.
    night = run.night
    silenced = route_silences(deliveries, [night])
    evidence.add("silenced after the reset", silenced or "no route of this rule is muted then")
    require(not silenced, "Grafana", grafana.url(grafana.MUTE_TIMINGS),
            f"alerts of {_name(rule)} delivered from the reset to {night.local(night.window_end):%H:%M}",
            "; ".join(silenced), "take the mute timing off that route, or narrow it so the reset's window is not "
            "covered")


def test_contact_point_delivers(receiver_spec, integrations, grafana, settings, evidence):
    found, not_decrypted = integrations
    mine = [i for i in found if i.get("name") == receiver_spec.name]
    where = grafana.url(grafana.CONTACT_POINTS)
    require(bool(mine), "Grafana", where, f"contact point '{receiver_spec.name}'",
            f"contact points {sorted({i.get('name') for i in found})}", "provision the contact point")
    reports = [inspect_integration(i) for i in mine]
    evidence.add("integrations", [{"type": r.kind, **r.shown, "problems": r.problems} for r in reports])
    if not_decrypted:
        evidence.add("note", f"no decrypted export ({not_decrypted}): read the redacted view {where} instead; "
                             "webhook URLs were seen redacted and not checked for placeholders")
    problems = [f"{r.kind}: {p}" for r in reports for p in r.problems]
    kinds = {r.kind for r in reports}
    problems += [f"no {kind} integration" for kind in receiver_spec.integrations if kind not in kinds]
    addresses = [a for i in mine if i.get("type") == "email" for a in email_addresses(i.get("settings") or {})]
    problems += [f"no email to {want}" for want in receiver_spec.emails
                 if not any(a == want or a.startswith(want) for a in addresses)]
    require(not problems, "Grafana", where, f"'{receiver_spec.name}' able to reach "
            f"{', '.join(receiver_spec.integrations) or 'someone'}", "; ".join(problems),
            "fix the contact point (a real webhook URL, valid addresses) and send a test notification")


def test_notification_links_point_at_this_grafana(grafana, frontend_settings, settings, evidence):
    app_url = frontend_settings.get("appUrl", "")
    allowed = {h for h in (host_of(app_url), host_of(settings.grafana_url)) if h}
    texts = [(f"template '{t.get('name')}'", t.get("template", "")) for t in grafana.templates()]
    for integration in grafana.contact_points():
        endpoint = URL_SETTINGS.get(integration.get("type"))
        texts += [(f"contact point '{integration.get('name')}' {integration.get('type')} {key}", value)
                  for key, value in (integration.get("settings") or {}).items()
                  if isinstance(value, str) and key != endpoint]
    foreign = foreign_grafana_links(texts, allowed)
    evidence.add("links", {"Grafana's appUrl": app_url, "allowed hosts": sorted(allowed),
                           "texts read": [where for where, _ in texts], "foreign": [list(f) for f in foreign]})
    require(not foreign, "Grafana", grafana.url(grafana.CONTACT_POINTS),
            f"links in notifications to this Grafana ({', '.join(sorted(allowed))})",
            "; ".join(f"{where} links to {url}" for where, url in foreign),
            "point the link at this Grafana's root URL, or on-call opens the wrong dashboard at midnight")
