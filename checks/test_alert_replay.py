"""Would each rule have told the truth about the night? Replayed over the night's window from Loki."""

import pytest

from opsverify.clients.http import ClientError
from opsverify.evidence import not_applicable, require
from opsverify.replay import NOTIFYING, classify
from opsverify.resetlog import outcome
from opsverify.rules import AnalysisError

pytestmark = [pytest.mark.nightly, pytest.mark.severity("warning")]


def test_rule_replay(rule, rule_spec, replay_rule, grafana, history_off, reset_log, night, record_fact, settings,
                     evidence):
    start, end = night.window_start, night.window_end
    try:
        result = replay_rule(rule, start, end)
    except AnalysisError as exc:
        pytest.skip(f"rule '{rule.title}' cannot be replayed: {exc}")
    steps, interval = result.steps, result.interval
    night_outcome = outcome(reset_log)
    verdict = classify(result.notified, night_outcome, rule_spec.fires_on)
    spans = {state: [f"{night.clock(a)}–{night.clock(b)}" for a, b in result.spans(state)]
             for state in ("pending",) + NOTIFYING}
    record_fact("alerts", {rule.uid: {
        "title": rule.title, "outcome": night_outcome, "fires_on": list(rule_spec.fires_on),
        "classification": verdict, "interval": interval,
        "timeline": [[night.clock(s.at), s.state] for s in steps], **{k: v for k, v in spans.items() if v},
    }})
    try:
        if history_off:
            evidence.add("state history", f"{history_off}: the replay below is the evidence")
        else:
            history = grafana.state_history(rule.uid, start, end)
            evidence.add("state history", [f"{night.clock(h['time'])} {h['previous']} → {h['current']}"
                                           for h in history] or "no transitions in the window")
    except ClientError as exc:
        evidence.add("state history", f"unavailable ({exc.problem}): the replay below is the evidence")
    evidence.add("replay", {"reset outcome": night_outcome, "classification": verdict, "spans": spans,
                            "evaluations": [f"{night.clock(s.at)} {s.state}: {s.detail}" for s in steps]})
    causes = {s.cause for s in steps if s.state in NOTIFYING}
    if verdict == "false positive" and causes <= {"nodata", "error"}:
        not_applicable(f"rule '{rule.title}' would notify only because of its no-data or error handling: "
                    f"test_rule_quiet_without_data and test_rule_queries_valid say why")
    where = grafana.url(grafana.ALERT_RULE, uid=rule.uid)
    notified = ", ".join(f"{k} {', '.join(v)}" for k, v in spans.items() if v and k != "pending") or "quiet"
    require(verdict in ("true positive", "true negative"), "Grafana", where,
            f"rule '{rule.title}' to {'stay quiet' if verdict == 'false positive' else 'fire'} on a night whose "
            f"reset {night_outcome}", f"{verdict}: {notified}",
            "a false positive pages people for nothing: tighten the query or threshold; a false negative means "
            "the rule would not have told anyone: fix its query, window or threshold")
