"""Replay of a rule over a night: the pipeline at each evaluation, `for`, no data and errors."""

from opsverify.clients.grafana import AlertRule
from opsverify.replay import (ERROR_ALERT, FIRING, NODATA_ALERT, NORMAL, PENDING, Replay, classify,
                              evaluation_times, replay)

SERIES = frozenset({("container", "escashop-backend-prod")})


def make_rule(kind="gt", params=(0,), no_data="OK", exec_err="Error", condition="C", span=300):
    return AlertRule.from_api({
        "uid": "r", "title": "R", "condition": condition, "noDataState": no_data, "execErrState": exec_err,
        "data": [
            {"refId": "A", "datasourceUid": "loki", "relativeTimeRange": {"from": span, "to": 0},
             "model": {"expr": 'sum(count_over_time({a="b"} |= "failed" [5m]))', "queryType": "instant"}},
            {"refId": "B", "datasourceUid": "__expr__", "model": {"type": "reduce", "expression": "A",
                                                                  "reducer": "last"}},
            {"refId": "C", "datasourceUid": "__expr__", "model": {"type": "threshold", "expression": "B",
                                                                  "conditions": [{"evaluator": {
                                                                      "type": kind, "params": list(params)}}]}},
        ]})


TIMES = evaluation_times(0, 600, 60)  # 60, 120, ... 600


def states(steps):
    return [s.state for s in steps]


def test_evaluation_times_align_to_the_interval():
    assert evaluation_times(30, 200, 60) == [60, 120, 180]


def test_fires_while_the_count_is_above_the_threshold():
    data = {"A": {SERIES: [(180, 1.0), (240, 1.0)]}}
    steps = replay(make_rule(), data, TIMES, 60, for_seconds=0)
    assert states(steps) == [NORMAL, NORMAL, FIRING, FIRING] + [NORMAL] * 6
    assert steps[2].detail == "B=1"


def test_for_holds_the_alert_pending_first():
    data = {"A": {SERIES: [(t, 1.0) for t in range(180, 420, 60)]}}
    steps = replay(make_rule(), data, TIMES, 60, for_seconds=120)
    assert states(steps)[2:7] == [PENDING, PENDING, FIRING, FIRING, NORMAL]
    assert Replay("r", 60, tuple(steps)).spans(FIRING) == [(300, 360)]


def test_no_data_follows_no_data_state():
    assert states(replay(make_rule(no_data="OK"), {"A": {}}, TIMES, 60, 0)) == [NORMAL] * 10
    assert states(replay(make_rule(no_data="Alerting"), {"A": {}}, TIMES, 60, 0)) == [FIRING] * 10
    steps = replay(make_rule(no_data="NoData"), {"A": {}}, TIMES, 60, 0)
    assert states(steps) == [NODATA_ALERT] * 10 and steps[0].cause == "nodata"


def test_a_rejected_query_follows_exec_err_state():
    data = {"A": "parse error at line 1, col 1"}
    assert states(replay(make_rule(exec_err="Error"), data, TIMES, 60, 0)) == [ERROR_ALERT] * 10
    assert states(replay(make_rule(exec_err="Alerting"), data, TIMES, 60, 0)) == [FIRING] * 10
    steps = replay(make_rule(exec_err="OK"), data, TIMES, 60, 0)
    assert states(steps) == [NORMAL] * 10 and "query error: A: parse error" in steps[0].detail


def test_a_threshold_that_cannot_be_met_never_fires():
    data = {"A": {SERIES: [(t, 3.0) for t in TIMES]}}
    assert not Replay("r", 60, tuple(replay(make_rule("lt", (0,)), data, TIMES, 60, 0))).notified


def test_a_range_query_sees_its_whole_relative_range():
    rule = AlertRule.from_api({"uid": "r", "title": "R", "condition": "C", "data": [
        {"refId": "A", "datasourceUid": "loki", "relativeTimeRange": {"from": 300, "to": 0},
         "model": {"expr": "x", "queryType": "range"}},
        {"refId": "B", "datasourceUid": "__expr__", "model": {"type": "reduce", "expression": "A",
                                                              "reducer": "max"}},
        {"refId": "C", "datasourceUid": "__expr__", "model": {"type": "math", "expression": "$B > 0"}}]})
    steps = replay(rule, {"A": {SERIES: [(120, 2.0)]}}, TIMES, 60, 0)
    assert states(steps) == [NORMAL] + [FIRING] * 5 + [NORMAL] * 4  # seen from 120 to 360


def test_classification_against_what_the_rule_is_for():
    assert classify(True, "failed", ("failed",)) == "true positive"
    assert classify(False, "failed", ("failed",)) == "false negative"
    assert classify(True, "succeeded", ("failed",)) == "false positive"
    assert classify(False, "succeeded", ("failed",)) == "true negative"
    assert classify(False, "missing", ("failed",)) == "true negative"  # not what this rule reports
    assert classify(True, "recovered", ("failed",)) == "true positive"  # either answer is right
    assert classify(False, "recovered", ("failed",)) == "true negative"
