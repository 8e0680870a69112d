"""What a run judged, as data: the checks' verdicts as the plugin collects them, and the pure
functions that turn them (with the facts checks recorded) into night records, the week's rows and
metrics. The criteria's fixtures and the plugin's outputs both read them; neither calls the other.
"""

from dataclasses import dataclass, field

from opsverify import __version__
from opsverify.night import day_number
from opsverify.signoff_fill import week_metrics
from opsverify.status import issues, night_status
from opsverify.text import visible
from opsverify.week import LedgerError, NightRecord, merge_night, week_rows

ISSUE_CHARS = 2_000  # one issue line of the ledger, week1.md and the document


@dataclass
class Verdicts:
    """The run's check outcomes as they come in (opsverify.status.CheckOutcome), and which checks it
    meant to run for which night."""

    judges: bool = True  # does the run judge nights at all? A smoke or criteria run leaves every record alone
    selected_all: bool = True  # no node ids, -k, -m narrowing, --lf, --sw or --ignore
    outcomes: dict = field(default_factory=dict)  # nodeid -> CheckOutcome of the nightly and smoke checks
    criteria: dict = field(default_factory=dict)  # nodeid -> CheckOutcome of the completion criteria
    drills: dict = field(default_factory=dict)  # nodeid -> CheckOutcome of the drill's checks
    nightly: set = field(default_factory=set)  # nodeids of the nightly checks that ran
    smoke: set = field(default_factory=set)  # nodeids of the smoke checks that ran
    expected: dict = field(default_factory=dict)  # night (ISO) -> nodeids of the nightly checks selected for it
    deselected: set = field(default_factory=set)  # nightly checks left out by -k, -m, --lf or --deselect
    aborted: bool = False  # interrupted (Ctrl-C, SIGINT) or stopped by an internal error

    @property
    def whole(self):
        """Every nightly check of the suite was selected and the run was not cut short."""
        return self.selected_all and not self.deselected and not self.aborted


@dataclass(frozen=True)
class RunResult:
    """What a run found, built once when it ends: what every output is made from. `run` is the run's
    state (its night, week, settings, target), for outputs to read."""

    run: object  # opsverify.runstate.RunState
    title: str
    status: str  # of the run's own night
    kind: str  # nightly (it judged its nights in full), partial, smoke, criteria or drill
    judged: tuple  # the NightRecords of what this run judged
    records: dict  # night (ISO) -> its NightRecord as this run left it (every verdict kept)
    rows: tuple  # the Week 1 table
    metrics: object  # opsverify.signoff_fill.WeekMetrics
    criteria: tuple  # CheckOutcome of the completion criteria that ran
    alerts: dict  # rule uid -> the alert replay of the run's own night
    versions: dict  # system -> the version it reported
    outcomes: tuple  # CheckOutcome of the nightly and smoke checks that ran
    nightly_ran: bool  # a nightly check ran (else a smoke or criteria run)
    checks: tuple  # per check: its outcome, reason and evidence (the bundle's results.json)
    ledger_error: str = ""
    unsaved: str = ""  # the nights' records as JSON lines, when the ledger could not take them
    drills: tuple = ()  # CheckOutcome of the drill's checks (pytest -m drill --drill)
    drill: dict = None  # the drill this run made, as the ledger keeps it


def run_title(run):
    ticket = f"{run.ticket} — " if run.ticket else ""
    nights = (f"nights {min(run.nights).isoformat()} to {run.night.date.isoformat()}"
              if len(run.nights) > 1 else f"night {run.night.date.isoformat()}")
    return f"opsverify — {ticket}{run.settings.site_name} {nights} (Day {run.day})" + (
        " — SANDBOX" if run.is_sandbox else "")


def check_key(nodeid, night):
    """The check's id without the night a --week run gave it: the same check, whichever run judged it."""
    if not night:
        return nodeid
    for old, new in ((f"[{night}]", ""), (f"[{night}-", "["), (f"-{night}]", "]"), (f"-{night}-", "-")):
        nodeid = nodeid.replace(old, new)
    return nodeid


def night_records(run, verdicts, run_at, action="", report=""):
    """What this run judged of each of its nights: one record per night that a nightly check of this run
    judged, holding only those checks' verdicts (merge_night folds it into the ledger's record)."""
    if not verdicts.judges:
        return []
    current = run.night.date.isoformat()
    records = []
    for night in sorted(run.nights.values(), key=lambda n: n.date):
        iso = night.date.isoformat()
        mine = [o for o in verdicts.outcomes.values()
                if (o.night or current) == iso and o.nodeid in verdicts.nightly]
        if not mine:
            continue
        facts = run.facts_of(night)
        live = iso == current
        checks = {check_key(o.nodeid, o.night): {
            "outcome": o.outcome, "severity": o.severity, "reason": o.reason, "smoke": o.nodeid in verdicts.smoke,
            "judged_at": run_at, "run": run.run_id,
            **({"counts_for_signoff": o.counts_for_signoff} if o.outcome == "waived" else {})} for o in mine}
        records.append(NightRecord(
            night=iso, day=day_number(night.date, run.week_start), status=night_status(mine),
            issues=issues(mine), actions=visible(action or "", ISSUE_CHARS) if live else "",
            reset_duration_ms=facts.reset_duration_ms, run_at=run_at, run=run.run_id,
            report=report, suite_version=__version__, target=run.target,
            alerts=facts.alerts, promtail=facts.promtail if live else {},
            reset=facts.reset, basis="live" if live else "history", checks=checks,
            # Complete: nothing was left out, and every selected check of the night came to a verdict
            # (not so after -x or an interrupt).
            complete=verdicts.whole and verdicts.expected.get(iso, set()) <= {o.nodeid for o in mine},
        ))
    return records


def with_judged(records, judged):
    """The ledger's `records` with the `judged` night records folded into theirs."""
    return {**records, **{r.night: merge_night(records.get(r.night), r) for r in judged}}


def measure(run, records, kept_response_minutes=None):
    """The Week 1 rows and the week's metrics from `records`; the alert response times are the ones the
    criteria measured in this run, else `kept_response_minutes` (the ledger's from their last run this week)."""
    rows = week_rows(records, run.week_start)
    measured = run.week_facts.response_minutes
    return rows, week_metrics(records, rows, kept_response_minutes if measured is None else measured)


def this_week(ledger, week_start):
    """The ledger's week summary when it is of the week that starts `week_start`, else {} (also when the
    ledger cannot be read: what it kept is then unknown, and the run's own measures stand)."""
    try:
        week = ledger.week()
    except LedgerError:
        return {}
    return week if week.get("week_start") == week_start.isoformat() else {}
