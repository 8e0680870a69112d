"""The week's completion criteria: what the systems' history and the ledger say, compared. Pure."""

from dataclasses import dataclass
from datetime import datetime

from opsverify.config import Drill
from opsverify.resetlog import logql_string
from opsverify.rules import email_addresses
from opsverify.status import SUCCESSFUL

RESET_RAN = ("succeeded", "recovered")  # what Loki shows of a reset that reset the queue
ALERTING = "Alerting"


def disagreements(records, loki_outcomes, days):
    """Nights where the ledger's record says something else than Loki shows now.

    `records` {date iso: NightRecord}, `loki_outcomes` {date iso: outcome}, `days` {date iso: Day N}.
    A record that kept Loki's outcome is compared with it; an older one by its status."""
    found = []
    for night, seen in sorted(loki_outcomes.items()):
        rec = records.get(night)
        if rec is None:
            continue
        if rec.reset:
            if (rec.reset in RESET_RAN) != (seen in RESET_RAN):
                found.append(f"Day {days[night]} ({night}): the ledger recorded the reset as {rec.reset}, "
                             f"Loki shows it {seen}")
        elif (rec.status in SUCCESSFUL) != (seen in RESET_RAN):
            found.append(f"Day {days[night]} ({night}): the ledger says {rec.status}, Loki shows the reset {seen}")
    return found


def waived_critical(records):
    """{night: [check, ...]}: critical failures waived without `counts_for_signoff`. Such a night is ⚠️ in the
    table, but it does not count as a successful night, nor as a week without critical issues."""
    found = {}
    for night, rec in sorted(records.items()):
        checks = [key.split("::")[-1] for key, verdict in rec.checks.items()
                  if verdict.get("outcome") == "waived" and verdict.get("severity") == "critical"
                  and not verdict.get("counts_for_signoff")]
        if checks:
            found[night] = checks
    return found


# A drill pushes its failure lines with the backend's stream labels plus this label (the drill's id as
# value): they are told from an incident's lines by it, and an incident's lines never carry it.
DRILL_LABEL = "opsverify_drill"


def without_drills(selector):
    """The LogQL stream selector `selector` ({...}) narrowed to the streams without the drill label."""
    return selector.rstrip()[:-1].rstrip() + f', {DRILL_LABEL}=""}}'


def drill_count_query(selector, pattern, seconds):
    """One count of the failure lines over a drill's window, split by the drill label: a series with the
    label for each drill's own lines, one without it for every other line."""
    return f"sum by ({DRILL_LABEL}) (count_over_time({selector} |~ {logql_string(pattern)} [{seconds}s]))"


def drill_counts(result):
    """(the drills' lines, every other line) from drill_count_query's answer."""
    own = sum(s.value for s in result.items if s.labels.get(DRILL_LABEL))
    return int(own), int(sum(s.value for s in result.items if not s.labels.get(DRILL_LABEL)))


def night_holding(at, nights):
    """The date of the night whose window holds the instant `at`, or None."""
    return next((n.date for n in nights if n.window_start <= at <= n.window_end), None)


def drill_problems(drill, night, own_lines, real_lines):
    """Why a drill of the site file cannot count as one (empty: it counts). A drill has an owner, lies
    outside every night's window (`night`: the one holding it, that night's own reset), pushed failure
    lines of its own (labelled), and no failure line without the label: those are a real failure."""
    problems = [] if drill.owner else ["no owner (write {at: ..., owner: ...} under grafana.alert_drills)"]
    if night:
        problems.append(f"lies in the window of the night {night}: a night's reset is no drill, and what failed "
                        "there is an incident")
    if not own_lines:
        problems.append(f"no failure line labelled {DRILL_LABEL} in its window: a drill pushes its own lines, "
                        "else it cannot be told from an incident")
    if real_lines:
        problems.append(f"{real_lines} failure line(s) without the {DRILL_LABEL} label in its window: a real "
                        "failure, not a drill")
    return problems


@dataclass(frozen=True)
class DrillVerdict:
    drill: Drill
    start: datetime  # the window searched around it, like a night's
    end: datetime
    night: object  # the date of the night whose window holds it, or None
    own_lines: int  # failure lines with the drill label in the window
    real_lines: int  # failure lines without it
    problems: tuple  # why it does not count (drill_problems); empty: it counts

    @property
    def counts(self):
        return not self.problems

    @property
    def excuses_incident(self):
        """Listed where an incident would be: what it names is a real failure, not a drill."""
        return bool(self.night or self.real_lines)

    @property
    def window(self):
        return self.start.timestamp(), self.end.timestamp()


def changed_after(updated, nights):
    """Of `nights` [(date, window start)], those whose window began before a rule was last changed (`updated`,
    Grafana's ISO 8601 text); None when Grafana does not say when (an older version, or a value it cannot read)."""
    try:
        when = datetime.fromisoformat(updated.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return [night for night, start in nights if start < when]


def any_of(*patterns):
    """One regular expression matching any of `patterns`."""
    return "|".join(f"(?:{p})" for p in patterns)


def drill_confirmed(window, transitions, until):
    """Whether Grafana's state history shows the rule Alerting in the drill's (start, end) window (unix
    seconds); None when there is no history to ask (the drill is then unconfirmed, not refused)."""
    if transitions is None:
        return None
    start, end = window
    return any(s <= end and e >= start for s, e in alerting_spans(transitions, until))


def failures_in(points, bucket_seconds, reported=()):
    """[(start, end, count)] unix seconds of the buckets with failure lines, but those overlapping a
    window already `reported` [(start, end)] (a failed night's, named as such).
    `points` [(bucket end, count)] of a count over `bucket_seconds`."""
    return [(end - bucket_seconds, end, int(count)) for end, count in sorted(points)
            if count and not any(end - bucket_seconds < b and a <= end for a, b in reported)]


def alerting_spans(transitions, until):
    """[(start, end)] unix seconds a rule spent Alerting, from its state history (oldest first);
    an alert still firing ends at `until`. 'Alerting (NoData)' and the like count as Alerting."""
    spans, since = [], None
    for change in sorted(transitions, key=lambda t: t["time"]):
        firing = str(change["current"]).startswith(ALERTING)
        if firing and since is None:
            since = change["time"]
        elif not firing and since is not None:
            spans.append((since, change["time"]))
            since = None
    if since is not None:
        spans.append((since, until))
    return spans


def response_minutes(transitions):
    """Minutes from firing to resolved of each alert that was resolved."""
    closed = alerting_spans(transitions, until=None)
    return [round((end - start) / 60, 1) for start, end in closed if end is not None]


def outside(spans, windows):
    """The spans that start outside every (start, end) window (unix seconds): drills are not incidents."""
    return [(s, e) for s, e in spans if not any(a <= s <= b for a, b in windows)]


def reaches(integrations, wanted):
    """Whether one of `integrations` (Grafana contact-point integrations) reaches `wanted`: an email
    address or its prefix ("oncall@"), a contact point's name, an integration type, or a setting's value
    (a Slack channel such as "#oncall")."""
    for integration in integrations:
        settings = integration.get("settings") or {}
        values = [v.strip() for v in settings.values() if isinstance(v, str)]
        if wanted in (integration.get("name"), integration.get("type")) or wanted in values \
                or any(a.startswith(wanted) for a in email_addresses(settings)):
            return True
    return False
