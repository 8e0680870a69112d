"""The alert fire drill, per rule: the failure line pushed, the rule Pending then Firing, the alert in
Grafana's Alertmanager with the receivers the site file promises, in the time its configuration implies.
Marked `drill` only: never part of a nightly, smoke or criteria run, and refused without --drill."""

import pytest

from opsverify.evidence import require

pytestmark = pytest.mark.drill
WHAT_TO_DO = {
    "query": "fix the rule's query (test_rule_query_valid in the nightly report says how)",
    "quiet": "wait until the rule is Normal again, or find why it already fires, then run the drill again",
    "pending": "make the rule's query match the backend's failure line and its condition true on a count of 1",
    "firing": "shorten the rule's `for`: a failed reset prints its lines once",
    "routed": "let Grafana's own Alertmanager receive the alerts (Alerting > Admin: send alerts to)",
    "receivers": "fix the notification policy: the rule's labels must match the route to its receivers",
    "integrations": "fix the contact point's integration settings (test_contact_point_* say what is wrong)",
    "in time": "shorten the group's interval, the rule's `for` or the route's group_wait",
}


def test_drill_reaches_its_receivers(drill, drill_rule, grafana, run, evidence):
    timeline, verdict = drill[drill_rule.uid]
    evidence.add("drill", {"id": run.drill_facts.id, "at": run.drill_facts.at, "owner": run.drill_facts.owner,
                           "writes": run.drill_facts.writes})
    evidence.add("timeline (seconds after the line's push, by Grafana's clock)", timeline.as_evidence())
    evidence.add("latencies (s)", timeline.latencies() or "no stage reached")
    require(verdict.ok, "Grafana", grafana.url(grafana.ALERTMANAGER_ALERTS),
            f"rule {drill_rule.uid} Pending, Firing and at {', '.join(drill_rule.receivers) or 'its receivers'} "
            f"within {timeline.budget_s:g} s of the drill's line", verdict.message, WHAT_TO_DO[verdict.stage])
