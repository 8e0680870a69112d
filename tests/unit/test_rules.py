"""Alert-rule analysis: what a query can return, whether a condition can be met, routing, contact points."""

import pytest

from opsverify.clients.grafana import AlertRule
from opsverify.rules import (AnalysisError, Matcher, alert_labels, can_fire, foreign_grafana_links, host_of,
                             inspect_integration, mask_url, no_data_count, one_minute_ranges, parse_matcher,
                             query_domain, range_seconds, route)

COUNT = 'sum(count_over_time({container=~"escashop-backend.*"} |~ "Daily reset failed" [5m]))'


def query(ref, expr, query_type="instant", span=300):
    return {"refId": ref, "datasourceUid": "loki", "relativeTimeRange": {"from": span, "to": 0},
            "model": {"refId": ref, "expr": expr, "queryType": query_type}}


def expression(ref, **model):
    return {"refId": ref, "datasourceUid": "__expr__", "model": {"refId": ref, **model}}


def rule(*data, condition="C", **fields):
    item = {"uid": "r1", "title": "Rule One", "condition": condition, "data": list(data),
            "labels": fields.pop("labels", {"severity": "critical"}), **fields}
    return AlertRule.from_api(item)


def threshold_rule(kind, *params, expr=COUNT, reducer="last"):
    return rule(query("A", expr), expression("B", type="reduce", expression="A", reducer=reducer),
                expression("C", type="threshold", expression="B",
                           conditions=[{"evaluator": {"type": kind, "params": list(params)}}]))


def test_a_count_is_a_whole_number_of_at_least_one():
    domain = query_domain(COUNT)
    assert (domain.low, domain.integer) == (1, True)
    assert "absent, not 0" in domain.why
    assert query_domain('rate({a="b"} [5m])').low == 0
    assert query_domain('sum(count_over_time({a="b"}[5m])) - 3').low == float("-inf")  # arithmetic: unbounded
    assert query_domain('{a="b"} |= "x"').low == float("-inf")


def test_range_is_read_outside_string_literals():
    assert range_seconds('count_over_time({a="b"} |~ "[0-9]+" [10m])') == 600
    assert range_seconds('{a="b"}') is None


@pytest.mark.parametrize("kind, params, fires, example", [
    ("gt", [0], True, 1.0),
    ("lt", [0], False, None),  # the defect: a count compared with lt 0
    ("lt", [1], False, None),  # a count is never 0: fewer than one is no data, not a value
    ("lt", [3], True, 1.0),
    ("within_range", [0, 1], False, None),
    ("outside_range", [0, 1], True, 2.0),
    ("eq", [0.5], False, None),
])
def test_threshold_can_fire(kind, params, fires, example):
    verdict = can_fire(threshold_rule(kind, *params))
    assert verdict.can_fire is fires
    assert (verdict.example or {}).get("B") == example
    if not fires:
        assert "no value the query can return satisfies it" in verdict.why


def test_the_verdict_says_the_condition_and_the_domain():
    verdict = can_fire(threshold_rule("lt", 0))
    assert verdict.condition == "B < 0"
    assert verdict.domain.startswith("B: whole numbers in [1, ∞) (last of count_over_time is absent")


def test_math_conditions():
    math_rule = rule(query("A", COUNT), expression("B", type="reduce", expression="A", reducer="max"),
                     expression("C", type="math", expression="$B > 2"))
    assert can_fire(math_rule).example == {"B": 3.0}
    never = rule(query("A", COUNT), expression("B", type="reduce", expression="A", reducer="max"),
                 expression("C", type="math", expression="$B < 0 || $B < 1"))
    assert not can_fire(never).can_fire
    odd = rule(query("A", COUNT), expression("C", type="math", expression="abs($A) > 2"))
    with pytest.raises(AnalysisError, match="not a comparison opsverify analyses"):
        can_fire(odd)


def test_classic_conditions():
    classic = rule(query("A", COUNT), expression("C", type="classic_conditions", conditions=[
        {"evaluator": {"type": "lt", "params": [0]}, "operator": {"type": "and"}, "query": {"params": ["A"]},
         "reducer": {"type": "last"}},
        {"evaluator": {"type": "gt", "params": [5]}, "operator": {"type": "or"}, "query": {"params": ["A"]},
         "reducer": {"type": "avg"}}]))
    verdict = can_fire(classic)
    assert verdict.can_fire and verdict.condition == "last(A) < 0 OR mean(A) > 5"


def test_an_unknown_condition_ref_is_an_analysis_error():
    with pytest.raises(AnalysisError, match="the condition 'Z' is not one of the rule's refIds"):
        can_fire(rule(query("A", COUNT), condition="Z"))


def test_no_data_count_counts_evaluations_without_a_sample_in_their_window():
    evals = list(range(0, 3600, 60))  # one hour at 1m
    assert no_data_count(evals, [], 300) == 60
    assert no_data_count(evals, [600], 300) == 55  # a sample at 600 is seen by evals 600..840
    assert no_data_count(evals, list(range(0, 3600, 60)), 60) == 0


TREE = {
    "receiver": "default-receiver",
    "routes": [
        {"receiver": "midnight-critical", "object_matchers": [["severity", "=", "critical"],
                                                              ["process", "=", "midnight_reset"]]},
        {"receiver": "devops-team", "matchers": ["team = devops"]},
    ],
}


def labels(**kw):
    return {"team": "devops", "component": "scheduler", **kw}


def test_routing_first_match_wins():
    (delivery,) = route(TREE, labels(severity="critical", process="midnight_reset"))
    assert delivery.receiver == "midnight-critical"
    assert delivery.path == ("root", 'routes[0] severity="critical", process="midnight_reset"')


def test_routing_a_typo_falls_through_to_the_next_route():
    (delivery,) = route(TREE, labels(severity="critical", process="midnight-reset"))
    assert delivery.receiver == "devops-team"


def test_routing_default_receiver_and_continue_and_nesting():
    assert [d.receiver for d in route(TREE, {"severity": "info"})] == ["default-receiver"]
    tree = {"receiver": "root", "routes": [
        {"receiver": "a", "matchers": ['severity=~"crit.*"'], "continue": True,
         "routes": [{"receiver": "a-db", "object_matchers": [["component", "!=", "queue"]]}]},
        {"matchers": ['team!~"dev.*"'], "receiver": "b"},
        {"receiver": "c", "matchers": ["team = devops"]}]}
    found = route(tree, {"severity": "critical", "team": "devops", "component": "scheduler"})
    assert [d.receiver for d in found] == ["a-db", "c"]
    assert found[0].path[-1] == 'routes[0] component!="queue"'


def test_matchers_in_both_forms():
    assert parse_matcher(["severity", "=", "critical"]) == Matcher("severity", "=", "critical")
    assert parse_matcher('team =~ "dev.*"') == Matcher("team", "=~", "dev.*")
    assert parse_matcher("process!=midnight_reset") == Matcher("process", "!=", "midnight_reset")
    with pytest.raises(AnalysisError):
        parse_matcher("severity ~ x")


def test_alert_labels_add_alertname_and_folder():
    assert alert_labels(threshold_rule("gt", 0), "alerts") == {"severity": "critical", "alertname": "Rule One",
                                                               "grafana_folder": "alerts"}


@pytest.mark.parametrize("url, problem", [
    ("https://hooks.slack.com/services/YOUR/WEBHOOK/URL", "placeholder"),
    ("https://hooks.slack.com/services/T000/B000/xxxxxxxx", "placeholder"),
    ("https://example.com/hook", "placeholder"),
    ("", "no url"),
    ("hooks.slack.com/services/T05/B07/abc", "not an http(s) URL"),
])
def test_webhook_problems(url, problem):
    report = inspect_integration({"type": "slack", "settings": {"url": url, "recipient": "#a"}})
    assert any(problem in p for p in report.problems), report.problems
    assert "services/" not in str(report.problems) + str(report.shown)  # never the secret path


def test_a_real_looking_webhook_passes_and_is_masked():
    report = inspect_integration({"type": "slack", "settings": {
        "url": "https://hooks.slack.com/services/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"}})
    assert report.problems == [] and report.shown == {"url": "https://hooks.slack.com/***"}
    assert mask_url("not a url") == "***"


def test_a_redacted_url_is_set_but_unseen():
    report = inspect_integration({"type": "slack", "settings": {"url": "[REDACTED]"}})
    assert report.problems == [] and report.shown["url"] == "(set; redacted by Grafana)"


def test_email_addresses():
    report = inspect_integration({"type": "email", "settings": {
        "addresses": "devops@escashop.ph;oncall@escashop.ph, not-an-address;you@example.com"}})
    assert report.shown["addresses"] == ["devops@escashop.ph", "oncall@escashop.ph", "not-an-address",
                                         "you@example.com"]
    assert report.problems == ["'not-an-address' is not an email address",
                               "'you@example.com' is a placeholder address"]


def test_links_to_another_grafana_are_found_and_others_ignored():
    texts = [("slack text", "See https://grafana-staging.escashop.ph/d/midnight-reset-dashboard now"),
             ("template", "{{ define \"x\" }}https://grafana.escashop.ph/d/abc?orgId=1{{ end }}"),
             ("runbook", "https://wiki.escashop.ph/runbooks/midnight-reset#errors"),
             ("explore", "http://localhost:3002/explore?left=1")]
    found = foreign_grafana_links(texts, {"grafana.escashop.ph", "localhost:3002"})
    assert found == [("slack text", "https://grafana-staging.escashop.ph/d/midnight-reset-dashboard")]
    assert host_of("https://Grafana.EscaShop.ph/") == "grafana.escashop.ph" and host_of("nope") == ""


def test_a_panels_ranges_become_one_minute_and_its_strings_stay():
    expr = ('sum(count_over_time({container=~"escashop-backend.*"} |~ "failed \\\\[24h\\\\]|`[5m]`" [24h])) '
            '/ sum(rate({job="x"} |= `[7d]` [ 7d ]))')
    assert one_minute_ranges(expr) == (
        'sum(count_over_time({container=~"escashop-backend.*"} |~ "failed \\\\[24h\\\\]|`[5m]`" [1m])) '
        '/ sum(rate({job="x"} |= `[7d]` [1m]))')
