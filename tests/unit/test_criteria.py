"""The completion criteria's pure parts: ledger against Loki, alert spans and response times, reach."""

from opsverify.criteria import alerting_spans, disagreements, outside, reaches, response_minutes
from opsverify.week import NightRecord, longest_run

DAYS = {"2026-11-23": 1, "2026-11-24": 2, "2026-11-25": 3}


def rec(night, status, reset=""):
    return NightRecord(night=night, day=DAYS[night], status=status, reset=reset)


def test_a_record_that_kept_lokis_outcome_is_compared_with_it():
    records = {"2026-11-23": rec("2026-11-23", "passed", "succeeded"),
               "2026-11-24": rec("2026-11-24", "failed", "failed"),
               "2026-11-25": rec("2026-11-25", "failed", "succeeded")}  # failed for another reason: agrees
    loki = {"2026-11-23": "missing", "2026-11-24": "recovered", "2026-11-25": "succeeded"}
    assert disagreements(records, loki, DAYS) == [
        "Day 1 (2026-11-23): the ledger recorded the reset as succeeded, Loki shows it missing",
        "Day 2 (2026-11-24): the ledger recorded the reset as failed, Loki shows it recovered"]


def test_an_older_record_is_compared_by_its_status_and_a_missing_one_not_at_all():
    records = {"2026-11-23": rec("2026-11-23", "warning"), "2026-11-24": rec("2026-11-24", "failed")}
    loki = {"2026-11-23": "succeeded", "2026-11-24": "succeeded", "2026-11-25": "failed"}
    assert disagreements(records, loki, DAYS) == [
        "Day 2 (2026-11-24): the ledger says failed, Loki shows the reset succeeded"]


def test_longest_run():
    assert longest_run([]) == 0
    assert longest_run([True, True, False, True, True, True]) == 3


HISTORY = [  # as Grafana's state history gives it, not necessarily in order
    {"time": 1000, "previous": "Normal", "current": "Pending"},
    {"time": 1060, "previous": "Pending", "current": "Alerting"},
    {"time": 1600, "previous": "Alerting", "current": "Normal"},
    {"time": 5000, "previous": "Normal", "current": "Alerting (NoData)"},
]


def test_alerting_spans_count_nodata_alerts_and_end_an_open_one_now():
    assert alerting_spans(HISTORY, until=9000) == [(1060, 1600), (5000, 9000)]
    assert alerting_spans(list(reversed(HISTORY)), until=9000) == [(1060, 1600), (5000, 9000)]
    assert alerting_spans([], until=9000) == []


def test_response_minutes_only_of_resolved_alerts():
    assert response_minutes(HISTORY) == [9.0]


def test_spans_inside_a_drill_are_not_incidents():
    assert outside([(1060, 1600), (5000, 9000)], [(900, 1200)]) == [(5000, 9000)]


def test_reaches_by_address_prefix_name_type_or_value():
    email = {"name": "midnight-critical", "type": "email",
             "settings": {"addresses": "devops@escashop.ph;oncall@escashop.ph"}}
    slack = {"name": "midnight-critical", "type": "slack", "settings": {"recipient": "#db-oncall"}}
    assert reaches([email], "oncall@") and not reaches([email], "database-team@")
    assert reaches([slack], "#db-oncall") and reaches([slack], "slack") and reaches([email, slack], "midnight-critical")
    assert not reaches([], "oncall@")


def test_failures_in_are_the_buckets_with_lines():
    from opsverify.criteria import failures_in

    points = [(3600, 0), (7200, 2), (10800, 1)]
    assert failures_in(points, 3600) == [(3600, 7200, 2), (7200, 10800, 1)]
    assert failures_in(points, 3600, reported=[(9000, 9600)]) == [(3600, 7200, 2)]  # a failed night's, named


def test_a_drill_counts_with_an_owner_its_own_lines_outside_the_nights_and_no_real_failure():
    from datetime import date, datetime, timezone

    from opsverify.config import Drill
    from opsverify.criteria import drill_problems

    drill = Drill(datetime(2026, 11, 22, 6, tzinfo=timezone.utc), "Jane Cruz")
    assert drill_problems(drill, None, own_lines=2, real_lines=0) == []
    found = drill_problems(Drill(drill.at), date(2026, 11, 23), own_lines=0, real_lines=3)
    assert [p.split(" (")[0].split(":")[0] for p in found] == [
        "no owner", "lies in the window of the night 2026-11-23", "no failure line labelled opsverify_drill in its "
        "window", "3 failure line(s) without the opsverify_drill label in its window"]


def test_drill_lines_are_told_from_the_others_by_their_label():
    from opsverify.clients.loki import QueryResult, Sample
    from opsverify.criteria import drill_count_query, drill_counts, without_drills

    assert without_drills('{container="escashop-backend-prod"}') == \
        '{container="escashop-backend-prod", opsverify_drill=""}'
    assert drill_count_query('{container="x"}', "Daily reset failed", 2700) == \
        'sum by (opsverify_drill) (count_over_time({container="x"} |~ `Daily reset failed` [2700s]))'
    answer = QueryResult("vector", (Sample({"opsverify_drill": "drill-2026-11-22"}, 2.0), Sample({}, 1.0)))
    assert drill_counts(answer) == (2, 1)
    assert drill_counts(QueryResult("vector", ())) == (0, 0)


def test_a_drill_is_confirmed_by_alerting_in_its_window_where_history_exists():
    from opsverify.criteria import drill_confirmed

    history = [{"time": 1000, "current": "Alerting"}, {"time": 1600, "current": "Normal"}]
    assert drill_confirmed((900, 1200), history, until=5000) is True
    assert drill_confirmed((2000, 2600), history, until=5000) is False  # history, but nothing then
    assert drill_confirmed((2000, 2600), [], until=5000) is False  # history kept, empty
    assert drill_confirmed((900, 1200), None, until=5000) is None  # no history to ask: unconfirmed


def test_the_nights_a_rule_changed_after():
    from datetime import datetime, timezone

    from opsverify.criteria import changed_after

    nights = [("2026-11-23", datetime(2026, 11, 22, 15, 45, tzinfo=timezone.utc)),
              ("2026-11-28", datetime(2026, 11, 27, 15, 45, tzinfo=timezone.utc))]
    assert changed_after("2026-11-25T02:00:00Z", nights) == ["2026-11-23"]
    assert changed_after("2026-11-20T02:00:00Z", nights) == []
    assert changed_after("", nights) is None and changed_after("2026-11-25T02:00:00", nights) is None
