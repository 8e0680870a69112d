"""Before deploy: the checkout's monitoring config read offline (pytest -m lint --repo DIR). Each check names
the file and the line or key path of what would break, and the live checks' analyses (opsverify.rules,
opsverify.loki_analysis) judge the files with the same code. No live system is contacted, except Loki for
LogQL when --loki-url names one."""

from datetime import timedelta

import pytest

from opsverify.clients.http import ClientError
from opsverify.clients.loki import LokiClient, LokiQueryError
from opsverify.evidence import require
from opsverify.lint import Finding
from opsverify.lint import grafana as lint_grafana
from opsverify.lint.loki import retention_findings, unknown_keys
from opsverify.loki_analysis import KEEP
from opsverify.lint.promtail import path_findings
from opsverify.lint.stack import grafana_hosts, secret_literals, unpinned_images
from opsverify.rules import (NOISY_NO_DATA, AnalysisError, alert_labels, can_fire, foreign_grafana_links,
                             inspect_integration, one_minute_ranges, queries, range_seconds, route)

pytestmark = [pytest.mark.lint]
DAY_SECONDS = 86400


def _listed(findings):
    return "; ".join(str(f) for f in findings)


def _evidence(evidence, findings):
    evidence.add("findings", [{"file": f.file, "where": f.where, "problem": f.problem} for f in findings])


def test_lint_loki_config_keys(checkout, loki_config_file, settings, evidence):
    service = checkout.service("loki")
    version = settings.lint_loki_version or (service.tag if service else "")
    evidence.add("Loki", {"file": loki_config_file.name, "version": version,
                          "version from": "lint.loki_version" if settings.lint_loki_version else
                          f"compose service '{service.name}' image {service.image}" if service else "nothing"})
    if not version or version == "latest" or version.startswith("@"):
        pytest.skip(f"not checked: the Loki version is unknown (image {service.image if service else 'none'}); "
                    "pin the image or set lint.loki_version")
    findings = unknown_keys(loki_config_file, version)
    if findings is None:
        pytest.skip(f"not checked: opsverify has no table of Loki {version}'s config keys "
                    "(opsverify/lint/loki_keys.py says how to add one)")
    _evidence(evidence, findings)
    require(not findings, "Loki config", loki_config_file.name, f"only keys Loki {version} knows",
            _listed(findings), f"remove the keys or deploy the Loki version that has them; Loki {version} does not "
            "start with them")


def test_lint_loki_retention(loki_config_file, evidence):
    findings = retention_findings(loki_config_file, KEEP)
    _evidence(evidence, findings)
    require(not findings, "Loki config", loki_config_file.name, f"logs kept at least {KEEP.days} days",
            _listed(findings), "set limits_config.retention_period (with compactor.retention_enabled) to at least "
            "the week's look-back")


def test_lint_grafana_provisioning_keys(provisioning, evidence):
    documents = [(kind, d) for kind, docs in provisioning.items() for d in docs]
    if not documents:
        pytest.skip("not checked: no Grafana provisioning files found")
    evidence.add("files", [d.name for _, d in documents])
    findings = [f for kind, d in documents for f in lint_grafana.ignored_keys(d, kind)]
    _evidence(evidence, findings)
    require(not findings, "Grafana provisioning", ", ".join(sorted({f.file for f in findings})) or "files",
            "only keys Grafana reads", _listed(findings), "fix the spelling: Grafana ignores the key silently and "
            "keeps its default")


def test_lint_contact_points(provisioning, evidence):
    found = lint_grafana.integrations(provisioning["alerting"])
    if not found:
        pytest.skip("not checked: no contact points in the alerting provisioning")
    findings, shown = [], []
    for document, keypath, integration in found:
        refused = lint_grafana.grafana_validation(integration)
        report = inspect_integration(integration)
        shown.append({"contact point": integration["name"], "type": report.kind, **report.shown,
                      "grafana refuses": refused, "problems": report.problems})
        if refused:  # the cause; what inspect_integration would add says the same again
            findings.append(Finding(document.name, document.at(keypath),
                                    f"'{integration['name']}' {integration['type']}: Grafana refuses it ({refused}): "
                                    "alerting provisioning fails and Grafana does not start"))
            continue
        findings += [Finding(document.name, document.at(keypath + ("settings",)),
                             f"'{integration['name']}' {integration['type']}: {p}") for p in report.problems]
    evidence.add("integrations", shown)
    require(not findings, "Grafana provisioning", findings[0].file if findings else "contact points",
            "contact points Grafana accepts and that can deliver", _listed(findings),
            "fix the contact point's settings (a real URL, addresses as one string separated by ',' or ';')")


@pytest.fixture(scope="session")
def file_rules(provisioning):
    """{uid: (Document, keypath, AlertRule, folder title, interval)} of the rules in the alerting files."""
    return {item[2].uid: item for item in lint_grafana.rules(provisioning["alerting"])}


@pytest.fixture
def file_rule(file_rules, rule_spec):
    found = file_rules.get(rule_spec.uid)
    require(found is not None, "Grafana provisioning", "alerting files", f"a rule with uid {rule_spec.uid}",
            f"rules {sorted(file_rules) or 'none'}", "provision the rule, or fix its uid in the site file")
    return found


def test_lint_rule_can_fire(file_rule, rule_spec, evidence):
    document, keypath, rule, _, _ = file_rule
    try:
        verdict = can_fire(rule)
    except AnalysisError as exc:
        pytest.skip(f"not checked: cannot analyse the condition of {rule.uid}: {exc}")
    evidence.add("analysis", verdict.evidence())
    require(verdict.can_fire, "Grafana provisioning", f"{document.name} {document.at(keypath + ('condition',))}",
            f"a value of the query that makes rule {rule.uid} fire",
            f"condition {verdict.condition} with {verdict.domain}: {verdict.why}",
            "fix the threshold: to fire when the line appears, use 'gt 0' (count > 0)")


def test_lint_rule_quiet_without_data(file_rule, settings, evidence):
    document, keypath, rule, _, interval = file_rule
    consequence = NOISY_NO_DATA.get(rule.no_data_state)
    ranges = {n.ref_id: range_seconds(n.expr) for n in queries(rule)}
    evidence.add("no data", {"noDataState": rule.no_data_state, "interval": interval, "query ranges (s)": ranges})
    short = {ref: r for ref, r in ranges.items() if r is not None and r < DAY_SECONDS}
    where = document.at(keypath + ("noDataState",)) if ("noDataState" in rule_keys(document, keypath)) else \
        document.at(keypath) + " (noDataState left out: Grafana's default NoData)"
    require(not (consequence and short), "Grafana provisioning", f"{document.name} {where}",
            f"rule {rule.uid} quiet when its once-a-day line is absent",
            f"noDataState {rule.no_data_state} with queries over {', '.join(f'{r:g} s' for r in short.values())}: it "
            f"{consequence} at nearly every evaluation, all day", "set noDataState: OK")


def rule_keys(document, keypath):
    node = document.data
    for part in keypath:
        node = node[part]
    return set(node)


def test_lint_rule_routes_as_promised(file_rule, rule_spec, provisioning, evidence):
    if not rule_spec.receivers:
        pytest.skip(f"not checked: the site file promises no receivers for {rule_spec.uid}")
    document, keypath, rule, folder, _ = file_rule
    tree = lint_grafana.policy_tree(provisioning["alerting"])
    require(tree is not None, "Grafana provisioning", "alerting files", "a notification policy tree", "none",
            "provision policies (the root receiver and the routes the runbook promises)")
    policy_document, _, policy = tree
    labels = alert_labels(rule, folder)
    deliveries = route(policy, labels)
    reached = sorted({d.receiver for d in deliveries})
    evidence.add("routing", {"labels": labels, "routes": [" → ".join(d.path) + f" → {d.receiver}"
                                                          for d in deliveries]})
    require(reached == sorted(rule_spec.receivers), "Grafana provisioning",
            f"{document.name} {document.at(keypath + ('labels',))} and {policy_document.name}",
            f"alerts of rule {rule.uid} to reach {', '.join(rule_spec.receivers)}",
            f"they reach {', '.join(reached)} via {' | '.join(' → '.join(d.path) for d in deliveries)}",
            "fix the rule's labels or the notification policy")


def test_lint_promtail_paths_mounted(checkout, promtail_config_file, evidence):
    service = checkout.service("promtail")
    if service is None:
        pytest.skip("not checked: no Promtail service in the compose files")
    evidence.add("mounts", [{"source": m.source, "target": m.target} for m in service.mounts])
    findings = path_findings(promtail_config_file, service)
    _evidence(evidence, findings)
    require(not findings, "Promtail config", promtail_config_file.name,
            f"every job's files inside a volume mounted into '{service.name}' ({service.file.name})",
            _listed(findings), "mount the host directory into the Promtail service, or fix __path__")


def test_lint_notification_links(checkout, provisioning, evidence):
    service = checkout.service("grafana")
    if service is None:
        pytest.skip("not checked: no Grafana service in the compose files")
    allowed = grafana_hosts(service)
    texts = lint_grafana.notification_texts(provisioning["alerting"])
    foreign = foreign_grafana_links(texts, allowed)
    evidence.add("links", {"allowed hosts": sorted(allowed), "texts read": [w for w, _ in texts],
                           "foreign": [list(f) for f in foreign]})
    require(not foreign, "Grafana provisioning", ", ".join(sorted({w.split(' ')[0] for w, _ in foreign})) or "-",
            f"links to the Grafana that compose publishes ({', '.join(sorted(allowed)) or 'no host'})",
            "; ".join(f"{where} links to {url}" for where, url in foreign),
            "point the link at GF_SERVER_ROOT_URL or the published port, or on-call opens a dead page")


def test_lint_dashboards_provisioned(provisioning, dashboards, evidence):
    providers = lint_grafana.provider_paths(provisioning["dashboards"])
    evidence.add("providers", [{"file": d.name, "path": p} for d, _, p in providers])
    evidence.add("dashboards", [{"file": d.name, "in Grafana": inside} for d, inside in dashboards])
    mounted = [(d, inside) for d, inside in dashboards if inside]
    if not mounted:
        pytest.skip("not checked: no dashboard file is mounted into a Grafana service")
    lost = [d.name + f" (mounted at {inside})" for d, inside in mounted
            if not any(p and (inside == p or inside.startswith(p.rstrip("/") + "/")) for _, _, p in providers)]
    require(not lost, "Grafana provisioning", ", ".join(d.name for d, _, _ in providers) or "dashboards providers",
            "every dashboard file mounted into Grafana under a provider's options.path",
            f"{', '.join(lost)} under no provider path ({', '.join(p for _, _, p in providers) or 'no provider'})",
            "point a dashboard provider's options.path at the mounted directory")


def test_lint_dashboard_datasources(provisioning, dashboards, evidence):
    uids = lint_grafana.datasource_uids(provisioning["datasources"])
    if not dashboards:
        pytest.skip("not checked: no dashboard files found")
    evidence.add("provisioned datasources", sorted(uids))
    missing = []
    for document, _ in dashboards:
        for index, panel in enumerate(document.data.get("panels") or ()):
            for title, uid in lint_grafana.panel_datasources({"panels": [panel]}):
                if uid not in uids:
                    missing.append(f"{document.name} {document.at(('panels', index, 'datasource'))}: panel "
                                   f"'{title}' uses datasource uid '{uid}'")
    require(not missing, "Grafana provisioning", "dashboards", f"every panel on a provisioned datasource "
            f"({', '.join(sorted(uids)) or 'none'})", "; ".join(missing),
            "fix the panel's datasource uid or provision that datasource")


def test_lint_images_pinned(checkout, evidence):
    services = list(checkout.services.values())
    if not services:
        pytest.skip("not checked: no compose file found")
    evidence.add("images", {s.name: s.image for s in services})
    findings = unpinned_images(services)
    require(not findings, "compose", ", ".join(d.name for d in checkout.compose_files),
            "Grafana, Loki and Promtail images pinned to a version", _listed(findings),
            "pin each image to the version the config was written for (e.g. grafana/loki:2.6.1)")


def test_lint_no_secret_literals(checkout, provisioning, evidence):
    documents = checkout.compose_files + [d for docs in provisioning.values() for d in docs]
    evidence.add("files read", [d.name for d in documents])
    findings = secret_literals(documents)
    _evidence(evidence, findings)
    require(not findings, "repository", ", ".join(sorted({f.file for f in findings})) or "-",
            "no password or token written into a file", _listed(findings),
            "move the value to the environment or a secret store, and rotate it: it is in the repository's history")


def test_lint_logql(pytestconfig, provisioning, settings, run, now, evidence):
    expressions = [(f"{d.name} {d.at(k)} {n.ref_id}", n.expr) for d, k, rule, _, _ in
                   lint_grafana.rules(provisioning["alerting"])
                   for n in queries(rule, settings.datasource_uid) if n.expr]
    url = pytestconfig.getoption("loki_url")
    if not url:
        evidence.add("not checked", [where for where, _ in expressions])
        pytest.skip(f"not checked: {len(expressions)} LogQL queries; give --loki-url (a CI Loki) to have Loki "
                    "parse them")
    # The Loki --loki-url names, and only it: never the site's way to production (loki.via: grafana).
    loki = LokiClient(url, deadline=run.deadline, journal=run.journal, retries=0)
    end = now
    refused = []
    for where, expr in expressions:
        try:
            loki.query_range(one_minute_ranges(expr), start=end - timedelta(minutes=1), end=end, step=60, limit=1)
        except LokiQueryError as exc:
            refused.append(f"{where}: {exc.problem}")
        except ClientError as exc:
            pytest.skip(f"not checked: Loki at {loki.url(loki.QUERY_RANGE)} did not answer ({exc.problem})")
    evidence.add("sent to Loki", [where for where, _ in expressions])
    evidence.add("refused", refused or "none")
    require(not refused, "Loki", loki.url(loki.QUERY_RANGE), "every rule's LogQL accepted", "; ".join(refused),
            "fix the LogQL (Loki's message gives the position)")
