"""The drill's pure logic: which line makes a rule fire, its budget, and the stage a timeline failed at."""

import pytest

from opsverify.drill import (Timeline, budget, drill_behind, drill_labels, drill_line, judge, line_filters,
                             passes)

LINES = ("❌ Daily reset failed: alert drill {id} (opsverify)",
         "Daily queue reset failed: alert drill {id} (opsverify)")
RULE_001 = ('sum(count_over_time({container=~"escashop-backend.*"} |~ "Daily reset failed|Recovery attempt failed" '
            '[5m]))')
RULE_002 = 'sum(count_over_time({container=~"escashop-backend.*"} |= "Daily queue reset failed" [10m]))'


def test_line_filters_follow_each_selector_and_read_both_string_forms():
    expr = 'count_over_time({app="a", x=~"{b}"} |= `raw "q"` != "no\\\\pe" |~ "(?i)x" | json [5m])'
    assert line_filters(expr) == [[("|=", 'raw "q"'), ("!=", "no\\pe"), ("|~", "(?i)x")]]
    assert line_filters('sum(rate({a="b"}[1m])) / sum(rate({a="c"} |= "x" [1m]))') == [[], [("|=", "x")]]


@pytest.mark.parametrize("filters, line, expected", [
    ([("|=", "failed")], "reset failed", True),
    ([("|=", "failed"), ("!=", "drill")], "reset failed in a drill", False),
    ([("|~", "(?i)RESET"), ("!~", "^ok")], "reset failed", True),
    ([("|~", "(unclosed")], "anything", False),  # Loki would refuse it: no line gets through
])
def test_passes(filters, line, expected):
    assert passes(line, filters) is expected


def test_each_rule_gets_the_first_line_its_query_lets_through():
    assert drill_line([RULE_001], LINES, "d1") == "❌ Daily reset failed: alert drill d1 (opsverify)"
    assert drill_line([RULE_002], LINES, "d1") == "Daily queue reset failed: alert drill d1 (opsverify)"
    assert drill_line(['count_over_time({a="b"} |= "disk full" [5m])'], LINES, "d1") is None


def test_the_drill_stream_is_the_backends_plus_its_label():
    assert drill_labels({"container": "c", "opsverify_drill": "old"}, "d2") == {"container": "c",
                                                                                "opsverify_drill": "d2"}


def test_budget_adds_interval_for_group_wait_and_margin():
    assert budget(60, 60, 30, 60) == 210


def timeline(**changed):
    found = Timeline("r1", "Rule one", line="failed", pushed=1000.0, budget_s=180, state_before="inactive",
                     health="ok", pending=1030.0, firing=1090.0, routed=1100.0, receivers=("oncall",))
    for key, value in changed.items():
        setattr(found, key, value)
    return found


@pytest.mark.parametrize("changed, stage, fragment", [
    ({}, "in time", "rule r1: Pending after 30 s, Firing after 90 s, at oncall after 100 s (budget 180 s)"),
    ({"health": "error", "last_error": "parse error\n"}, "query", "rule r1's query fails in Grafana (parse error)"),
    ({"state_before": "firing"}, "quiet", "rule r1 was already firing before the drill"),
    ({"line": ""}, "pending", "none of the site's drill lines"),
    ({"pending": None, "firing": None, "routed": None}, "pending", "rule r1 never left Normal within 180 s"),
    ({"firing": None, "routed": None}, "firing", "went Pending after 30 s but did not fire within 180 s"),
    ({"routed": None}, "routed", "never reached Grafana's Alertmanager"),
    ({"receivers": ("devops",)}, "receivers", "rule r1's alert routed to devops, expected oncall"),
    ({"routed": 1200.0}, "in time", "after 200 s, over its budget of 180 s"),
])
def test_judge_names_the_first_stage_that_failed(changed, stage, fragment):
    verdict = judge(timeline(**changed), ("oncall",))
    assert (verdict.ok, verdict.stage) == (changed == {}, stage)
    assert fragment in verdict.message


def test_an_integration_that_cannot_deliver_fails_the_drill():
    verdict = judge(timeline(), ("oncall",), ["oncall's slack integration: the url is a placeholder"])
    assert (verdict.ok, verdict.stage) == (False, "integrations")
    assert "the url is a placeholder" in verdict.message


def test_the_timeline_evidence_is_in_seconds_after_the_push():
    shown = timeline().as_evidence()
    assert (shown["pending"], shown["firing"], shown["routed"]) == (30.0, 90.0, 100.0)
    assert timeline().latencies() == {"pending": 30.0, "firing": 90.0, "routed": 100.0}


def test_an_alert_that_began_within_a_drills_budget_is_the_drills():
    drills = [{"id": "d1", "at": "2026-11-29T06:00:00+00:00", "rules": {"r1": {"budget_s": 180}}}]
    at = 1795932000  # 2026-11-29T06:00:00Z
    assert drill_behind("r1", at + 90, drills)["id"] == "d1"
    assert drill_behind("r1", at + 181, drills) is None  # began after the drill's budget: not the drill's
    assert drill_behind("r1", at - 60, drills) is None  # already firing before it
    assert drill_behind("r2", at + 90, drills) is None  # a rule the drill did not follow
