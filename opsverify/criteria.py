"""The week's completion criteria: what the systems' history and the ledger say, compared. Pure."""

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


def drills_in_nights(drills, nights):
    """[(drill, night)] for each drill time (aware) inside a night's window: that is the night's own reset,
    and an incident there cannot be excused as a drill."""
    return [(at, night) for at in drills for night in nights if night.window_start <= at <= night.window_end]


def failures_outside(points, drills, bucket_seconds):
    """[(start, end, count)] unix seconds of the buckets with failure lines that no drill explains.
    `points` [(bucket end, count)] of a count over `bucket_seconds`; `drills` [(start, end)]."""
    found = []
    for end, count in sorted(points):
        start = end - bucket_seconds
        if count and not any(start < d_end and d_start <= end for d_start, d_end in drills):
            found.append((start, end, int(count)))
    return found


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
