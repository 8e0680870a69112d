"""The sign-off document's Week 1 completion criteria, one test each, decided from the systems' history,
the ledger and the document itself. They run last (they read the nights this run judged), with
`pytest -m criteria`, and with the nightly run from Day 7 on. They do not change a night's status."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from opsverify.criteria import (
    DRILL_LABEL,
    RESET_RAN,
    alerting_spans,
    any_of,
    changed_after,
    disagreements,
    drill_confirmed,
    failures_in,
    outside,
    reaches,
    response_minutes,
    waived_critical,
    without_drills,
)
from opsverify.evidence import require
from opsverify.resetlog import count_query, gather, outcome, patterns, starts_on_time
from opsverify.rules import AnalysisError, can_fire
from opsverify.runstate import night_of
from opsverify.signoff_fill import contradicted_figures, table_disagreements
from opsverify.signoff_review import (
    action_items,
    check_links,
    document_links,
    hollow_documents,
    lessons_learned_problems,
    missing_documents,
    runbook_problems,
)
from opsverify.status import FAILED
from opsverify.week import STREAK, edited, longest_run, week_rows

pytestmark = pytest.mark.criteria
NOTIFIED = ("true positive", "false positive")
HOUR = 3600


def _day(run, night_date):
    return (night_date - run.week_start).days + 1


def _drill_name(run, verdict):
    return f"the drill at {run.night.stamp(verdict.drill.at.timestamp())} ({verdict.drill.owner or 'no owner'})"


def _in_week(records, run):
    return {night: rec for night, rec in records.items() if run.week_start.isoformat() <= night
            <= run.night.date.isoformat()}


def test_seven_consecutive_successful_resets(week_nights, week_records, loki, run, settings, evidence):
    # A night this run judged already asked Loki (reset_log); the others are asked now.
    seen, late = {}, []
    for n in week_nights:
        iso = n.date.isoformat()
        seen[iso] = run.facts_of(n).reset
        if not seen[iso]:
            log = gather(loki, n, settings.selector, patterns(settings))
            seen[iso] = outcome(log)
            if iso not in week_records and not starts_on_time(log):
                late.append(iso)
    # A reset that started after the grace minutes is not a 00:00 reset (the record's verdict says).
    late += [night for night, rec in week_records.items() if night in seen and any(
        key.endswith("::test_reset_started_on_time") and verdict["outcome"] in ("failed", "error")
        for key, verdict in rec.checks.items())]
    days = {night: _day(run, n.date) for night, n in zip(seen, week_nights)}
    waived = waived_critical(week_records)
    hand_edited = [night for night in edited(week_records) if night in days]
    best = longest_run(found in RESET_RAN and night not in waived and night not in late
                       and night not in hand_edited for night, found in seen.items())
    disagree = disagreements(week_records, seen, days)
    waived_days = [f"Day {days[night]} ({', '.join(checks)})" for night, checks in waived.items() if night in days]
    not_counted = [f"not counted, a critical check waived without counts_for_signoff: {', '.join(waived_days)}"
                   ] if waived_days else []
    if hand_edited:
        not_counted.append("not counted, its ledger record was edited after the run that judged it: "
                           + ", ".join(f"Day {days[night]} ({night})" for night in hand_edited))
    if late:
        not_counted.append(f"not counted, started after the {settings.grace_minutes} grace minute(s): "
                           + ", ".join(f"Day {days[night]}" for night in sorted(set(late))))
    evidence.add("nights", [{"day": days[night], "night": night, "loki": found,
                             "ledger": (week_records[night].status if night in week_records else "no record")}
                            for night, found in seen.items()])
    require(best >= STREAK and not disagree, "Loki", loki.url(loki.QUERY_RANGE),
            f"{STREAK} consecutive nights whose reset Loki shows done, and a ledger that agrees with Loki",
            f"{best} consecutive ({', '.join(f'Day {days[n]} {o}' for n, o in seen.items())})"
            + "".join(f"; {d}" for d in disagree + not_counted),
            "the week goes on until seven resets in a row succeed; a ledger that disagrees with Loki was "
            "written from a run that saw something else: re-check that night with --night and read its report")


def test_all_alerts_configured_and_tested(alert_rules, query_errors, receivers_of, week_records, replay_rule,
                                          alert_history, drills, ledger_drills, run, grafana, settings, evidence):
    problems, shown = [], {}
    week = _in_week(week_records, run)
    for spec in settings.rules:
        rule = alert_rules.get(spec.uid)
        if rule is None:
            problems.append(f"{spec.uid}: not in Grafana")
            continue
        reached = receivers_of(rule)
        try:
            fires = can_fire(rule).can_fire
        except AnalysisError:
            fires = True  # cannot be analysed: the drill or history below decides
        configured = [why for bad, why in (
            (rule.is_paused, "paused"), (rule.labels.get("severity") != spec.severity,
                                         f"severity {rule.labels.get('severity')!r}, not {spec.severity!r}"),
            (bool(query_errors[spec.uid]), "a query Loki rejects"), (not fires, "a condition that can never be true"),
            (bool(spec.receivers) and reached != sorted(spec.receivers), f"routed to {', '.join(reached) or 'nobody'}"),
        ) if bad]
        problems += [f"{spec.uid}: {why}" for why in configured]
        fired = [f"replay of the night {night}" for night, rec in sorted(week.items())
                 if rec.alerts.get(spec.uid, {}).get("classification") == "true positive"]
        notes = []
        transitions, note = alert_history(spec.uid)
        # A drill shows the rule fires when its replay over the drill's own lines notifies and, where Grafana
        # keeps state history, Grafana itself went Alerting then.
        for verdict in (d for d in drills if d.counts):
            name = _drill_name(run, verdict)
            try:
                notified = replay_rule(rule, verdict.start, verdict.end).notified
            except AnalysisError as exc:
                notes.append(f"{name} could not be replayed: {exc}")
                continue
            confirmed = drill_confirmed(verdict.window, transitions, alert_history.end.timestamp())
            if notified and confirmed is False:
                notes.append(f"{name}: the replay fires, but Grafana's state history shows no Alerting then")
            elif notified:
                fired.append(name + ("" if confirmed else " (unconfirmed: no state history to confirm it)"))
        # opsverify's own drills followed the rule live, from the line to its receivers.
        for drill in ledger_drills:
            found = drill["rules"].get(spec.uid)
            if found and found["ok"]:
                fired.append(f"the opsverify drill {drill['id']} ({found['message']})")
            elif found:
                notes.append(f"the opsverify drill {drill['id']}: {found['message']}")
        fired += [f"Alerting at {run.night.stamp(start)} in Grafana's state history" for start, _ in
                  alerting_spans(transitions or [], until=alert_history.end.timestamp())][:3]
        notes += [note] if note else []
        shown[spec.uid] = {"configured problems": configured, "shown to fire by": fired, "notes": notes}
        if not fired:
            problems.append(f"{spec.uid}: never shown to fire (no true positive in the week's replays, no drill "
                            f"in which it fired, {note or 'no Alerting in the state history'})"
                            + "".join(f"; {n}" for n in notes if n != note))
    if any("never shown to fire" in p for p in problems):  # why the site file's drills did not show it, once
        problems += [f"{_drill_name(run, d)} does not count: {'; '.join(d.problems)}" for d in drills
                     if not d.counts]
    problems += _changed_after_backfill(alert_rules, week, settings, evidence)
    evidence.add("rules", shown)
    evidence.add("drills", [{"at": d.drill.at.isoformat(), "owner": d.drill.owner, "drill lines": d.own_lines,
                             "other failure lines": d.real_lines, "not counted because": list(d.problems)}
                            for d in drills] or "none in the site file or the ledger")
    require(not problems, "Grafana", grafana.url(grafana.ALERT_RULES),
            "every rule the runbook promises configured as promised and seen firing when it should",
            "; ".join(problems),
            "fix the rule (test_rule_* in the nightly report say how); to show a rule fires, run a drill "
            "(pytest -m drill --drill, or push the reset's failure lines labelled "
            f"{DRILL_LABEL} outside the nights and list its time and owner under grafana.alert_drills); a rule "
            "changed during the week is proven from the change on: explain the change in the sign-off, or start "
            "the week again after it (--week-start)")


def _changed_after_backfill(alert_rules, week, settings, evidence):
    """A night judged from Loki's history alone (--week) never saw Grafana's live configuration: a rule
    changed after it leaves how alerting was set up that night unknown. Where Grafana does not say when a
    rule changed, the evidence says what could not be seen."""
    backfilled = [(night, night_of(settings, date.fromisoformat(night)).window_start)
                  for night, rec in sorted(week.items()) if rec.basis == "history"]
    problems, unseen = [], []
    for spec in settings.rules:
        rule = alert_rules.get(spec.uid)
        before = changed_after(rule.updated, backfilled) if rule and backfilled else []
        if before is None:
            unseen.append(spec.uid)
        elif before:
            problems.append(f"{spec.uid}: changed at {rule.updated} (Grafana's 'updated'), after the night(s) "
                            f"{', '.join(before)}, judged from Loki's history only: how it was set up then "
                            "cannot be seen")
    evidence.add("nights judged from history only", [n for n, _ in backfilled] or "none")
    if unseen:
        evidence.add("not seen", f"when {', '.join(unseen)} last changed: Grafana does not say ('updated'), so "
                                 "a change after a night judged from history only would go unnoticed")
    return problems


def test_no_critical_production_issues(week_records, alert_history, loki, drills, week_nights, run, settings,
                                       evidence):
    # A drill that excuses a real failure (in a night's window, or failure lines without the drill label)
    # is named: what it would have excused is an incident.
    problems = [f"{_drill_name(run, d)} is no drill: {'; '.join(d.problems)}" for d in drills if d.excuses_incident]
    rows = [r for r in week_rows(week_records, run.week_start) if r.date <= run.night.date]
    problems += [f"Day {r.day} ({r.date.isoformat()}) failed: {'; '.join(r.issues[:2])}" for r in rows
                 if r.status == FAILED]
    problems += [f"{night}: critical check(s) waived ({', '.join(checks)}) without counts_for_signoff"
                 for night, checks in waived_critical(_in_week(week_records, run)).items()]
    critical = [spec.uid for spec in settings.rules if spec.severity == "critical"]
    for night, rec in sorted(_in_week(week_records, run).items()):
        problems += [f"{uid} fired on the night {night} (replay: {rec.alerts[uid]['classification']})"
                     for uid in critical if rec.alerts.get(uid, {}).get("classification") in NOTIFIED]
    week_start = week_nights[0].window_start
    excused = [d.window for d in drills if d.counts]
    notes = {}
    for uid in critical:
        transitions, notes[uid] = alert_history(uid)
        fired = [s for s, _ in outside(alerting_spans(transitions or [], alert_history.end.timestamp()), excused)
                 if s >= week_start.timestamp()]
        problems += [f"{uid} fired at {run.night.stamp(s)} (Grafana's state history)" for s in fired]
    end = week_nights[-1].window_end
    # Failure lines at any hour of the week, not only in the nights' windows (a reset run by hand at 14:00):
    # one count per hour, on Loki's side, of every line but a drill's (labelled).
    hourly = count_query(without_drills(settings.selector), any_of(settings.pattern_failed,
                                                                   settings.pattern_recovery_failed),
                         bucket_seconds=HOUR)
    points = [(ts, n) for series in loki.query_range(hourly, start=week_start + timedelta(seconds=HOUR), end=end,
                                                     step=HOUR).items for ts, n in series.points]
    # A failed night is listed above as such; its own failure lines are not listed again.
    failed_dates = {r.date for r in rows if r.status == FAILED}
    failed_nights = [(n.window_start.timestamp(), n.window_end.timestamp()) for n in week_nights
                     if n.date in failed_dates]
    daytime = failures_in(points, HOUR, failed_nights)
    problems += [f"{n} failure line(s) between {run.night.stamp(s)} and {run.night.clock(e)} (Loki)"
                 for s, e, n in daytime]
    evidence.add("failure lines in the week", {"query": hourly, "step_seconds": HOUR,
                                               "hours with failure lines": [[s, e, n] for s, e, n in daytime]})
    seconds = int((end - week_start).total_seconds())
    query = count_query(settings.selector, settings.pattern_startup, bucket_seconds=seconds)
    found = loki.query(query, at=end)
    restarts = int(found.total())
    if restarts:
        problems.append(f"{restarts} start-up(s) of {settings.container} in the week (Loki)")
    evidence.add("container restarts", {"query": query, "at": end.isoformat(), "start-ups": restarts})
    evidence.add("state history", {uid: note or "read" for uid, note in notes.items()})
    require(not problems, "ledger, Grafana and Loki", loki.url(loki.QUERY),
            "no failed night, no critical alert outside a drill, no container restart during the week",
            "; ".join(problems), "each is an incident: write it up under Issues Encountered with what was done, "
            "and the week starts again after a failed night")


def test_all_monitoring_systems_operational(week_records, week_nights, run, settings, evidence):
    problems, seen = [], []
    for night in week_nights:
        iso, day = night.date.isoformat(), _day(run, night.date)
        rec = week_records.get(iso)
        if rec is None:
            problems.append(f"Day {day} ({iso}): no record; run with --week to check it from Loki's history")
            continue
        if rec.basis == "history":
            seen.append(f"Day {day}: from Loki's history (the reset {rec.reset or 'not seen'})")
            if rec.reset in ("", "missing"):
                problems.append(f"Day {day} ({iso}): Loki holds no line of its reset; the log pipeline may "
                                "have been down")
        elif "ran" not in rec.smoke:
            problems.append(f"Day {day} ({iso}): its record does not say how the smoke checks went "
                            "(written by an older opsverify); re-check it with --night")
        elif rec.smoke["failed"] or not rec.smoke["ran"]:
            problems.append(f"Day {day} ({iso}): smoke checks failed: {', '.join(rec.smoke['failed']) or 'none ran'}")
        else:
            seen.append(f"Day {day}: {rec.smoke['ran']} smoke checks passed")
    evidence.add("nights", seen)
    require(not problems, "ledger", f"the ledger in {settings.reports_dir}",
            "the smoke checks passing on every night of the week",
            "; ".join(problems), "read that night's report: a monitoring outage during the week has to be explained "
            "in the sign-off")


def test_team_response_procedures_validated(alert_rules, receivers_of, deliveries_of, integrations, alert_history,
                                            route_silences, week_nights, ledger_drills, record_week_fact, grafana,
                                            settings, evidence):
    found, _ = integrations
    problems = []
    if not settings.on_call or not settings.escalation:
        problems.append("the site file names no " + " and no ".join(
            k for k, v in (("on-call contact (grafana.on_call)", settings.on_call),
                           ("escalation contact (grafana.escalation)", settings.escalation)) if not v))
    routes = {}
    for spec in (s for s in settings.rules if s.severity == "critical"):
        rule = alert_rules.get(spec.uid)
        if rule is None:
            problems.append(f"{spec.uid}: not in Grafana")
            continue
        receivers = receivers_of(rule)
        mine = [i for i in found if i.get("name") in receivers]
        routes[spec.uid] = receivers
        for wanted in settings.on_call + settings.escalation:
            if not reaches(mine, wanted):
                problems.append(f"{spec.uid}'s alerts ({', '.join(receivers) or 'no receiver'}) do not reach {wanted}")
        problems += [f"{spec.uid}: {why}" for why in route_silences(deliveries_of(rule), week_nights)]
        # The latest drill that followed the rule shows the path works end to end, or where it broke.
        drilled = [d for d in ledger_drills if spec.uid in d["rules"]]
        if drilled and not drilled[-1]["rules"][spec.uid]["ok"]:
            problems.append(f"the opsverify drill {drilled[-1]['id']}: {drilled[-1]['rules'][spec.uid]['message']}")
    evidence.add("drills (seconds from the failure line)", {
        d["id"]: {uid: {"ok": found["ok"], **found["latencies_s"], "receivers": found["receivers"]}
                  for uid, found in d["rules"].items()} for d in ledger_drills} or "no opsverify drill in the period")
    minutes, notes = [], {}
    for spec in settings.rules:
        transitions, notes[spec.uid] = alert_history(spec.uid)
        minutes += response_minutes(transitions or [])
    record_week_fact("response_minutes", minutes)
    evidence.add("critical rules route to", routes)
    evidence.add("response times (minutes, fired to resolved)", minutes or "none in Grafana's state history")
    evidence.add("state history", {uid: note or "read" for uid, note in notes.items()})
    require(not problems, "Grafana", grafana.url(grafana.POLICIES),
            f"every critical alert to reach on-call ({', '.join(settings.on_call) or '?'}) and escalation "
            f"({', '.join(settings.escalation) or '?'})", "; ".join(problems),
            "fix the notification policy (its receivers, its mute timings) or the contact points, and send a "
            "test notification to each")


def test_documentation_complete_and_accessible(signoff_doc, week_measured, alert_rules, settings, pytestconfig,
                                               evidence):
    path, text = signoff_doc
    # The document's own Week 1 table is the record a reader signs: it must say what the ledger says.
    table = table_disagreements(text, week_measured[0])
    evidence.add("Week 1 table against the ledger", table or "the same")
    # The site file's list, or else what the document links to under "Related Documentation".
    documents = settings.documents or tuple(target for _, target in document_links(text))
    problems = [f"missing: {m}" for m in missing_documents(documents, path.parent)]
    problems += [f"says nothing: {h}" for h in hollow_documents(documents, path.parent)]
    runbooks = {uid: str(rule.annotations.get("runbook_url", "")).strip() for uid, rule in alert_rules.items()
                if uid in {s.uid for s in settings.rules}}
    problems += runbook_problems(runbooks, path.parent)
    problems += [f"{path.name} Week 1 table: {t}" for t in table]
    links = sorted({u for u in runbooks.values() if u.startswith(("http://", "https://"))}
                   | {d for d in documents if d.startswith("http")})
    if pytestconfig.getoption("check_links"):
        problems += check_links(links, timeout=settings.read_timeout_seconds)
        evidence.add("links opened", links)
    else:
        evidence.add("links not opened", f"{len(links)} link(s); --check-links opens them")
    evidence.add("documents", {"base": str(path.parent), "listed": list(documents), "runbooks": runbooks})
    require(not problems, "documentation", str(path.parent), "every listed document present, every rule "
            "with a runbook, and the document's Week 1 table as the ledger has the week", "; ".join(problems),
            "write or link the missing documents (signoff.documents in the site file lists them), add "
            "runbook_url annotations to the rules, and fill the table with --update-doc=PATH")


def test_lessons_learned_documented(signoff_doc, week_measured, settings, evidence):
    path, text = signoff_doc
    problems = lessons_learned_problems(text, settings.lessons_sections)
    # What the humans wrote about the week must not contradict what it measured.
    contradicted = contradicted_figures(text, week_measured[1])
    evidence.add("figures against the week's measures", contradicted or "none contradicted")
    evidence.add("sections read", list(settings.lessons_sections))
    evidence.add("still to write", problems[:200] or "nothing")
    by_section = {}
    for found in problems:
        section, _, where = found.partition(", ")
        by_section.setdefault(section, []).append(where)
    saw = [f"{section}: {len(gaps)} gap(s), first at {gaps[0]}" if gaps[0] else section
           for section, gaps in by_section.items()]
    saw += [f"contradicted by the week: {c}" for c in contradicted]
    require(not problems and not contradicted, "sign-off document", str(path), "the lessons-learned sections "
            "written, no placeholder or empty bullet left, no figure the week's measures contradict",
            "; ".join(saw), "fill each section in (write 'None' where nothing happened), correct the figures "
            "the week contradicts (--update-doc fills the measured ones), and run the criteria again")


def test_action_items_identified_and_prioritized(signoff_doc, now, settings, evidence):
    path, text = signoff_doc
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    found = action_items(text, today)
    evidence.add("action items", [{"line": r.line, "priority": r.priority, "action": r.action, "owner": r.owner,
                                   "due": r.due} for r in found.rows])
    require(not found.problems, "sign-off document", str(path),
            "action items with a priority, an owner and a due date not yet past", "; ".join(found.problems),
            "fill the 'Action Items for Implementation' table: one row per action, with who and by when")
