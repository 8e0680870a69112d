"""The week ledger (one record per night, shared by concurrent runs) and the Week 1 table."""

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

from filelock import FileLock, Timeout

from opsverify.markdown import escape, short_issue
from opsverify.status import FAILED, PASSED, PENDING, SUCCESSFUL, WARNING, CheckOutcome, issues, label, night_status
from opsverify.text import visible

LEDGER_FORMAT = 1
MIN_ROWS = 7
STREAK = 7  # consecutive successful resets that end the monitoring period
CHANGES_KEPT = 20  # the runs a record remembers having changed it
EARLIER = "record before per-check outcomes"  # what a ledger record written without them judged


class LedgerError(Exception):
    """The ledger cannot be read or written; the text says what to do."""


@dataclass
class NightRecord:
    night: str  # YYYY-MM-DD, the local date of the reset
    day: int
    status: str
    issues: list = field(default_factory=list)
    actions: str = ""
    reset_duration_ms: object = None
    run_at: str = ""
    run: str = ""  # the id of the run that last judged it (its checks' verdicts name theirs)
    report: str = ""
    suite_version: str = ""
    target: str = ""  # "production", or "sandbox: <scenario>"
    alerts: dict = field(default_factory=dict)  # rule uid -> replay verdict (classification, spans)
    promtail: dict = field(default_factory=dict)  # Promtail's counters when the night was checked
    reset: str = ""  # what Loki showed of the reset: succeeded | recovered | failed | missing
    basis: str = "live"  # live: checked after its midnight; history: backfilled later from Loki (--week)
    smoke: dict = field(default_factory=dict)  # {"ran": n, "failed": [check, ...]} of the night's smoke checks
    # check -> its last verdict on this night: outcome, severity, reason, smoke, judged_at, run
    checks: dict = field(default_factory=dict)
    complete: bool = True  # every check of the night judged it, not only a partial run's few
    changes: list = field(default_factory=list)  # the runs that judged it: run, at, scope, from, to (newest last)
    digest: str = ""  # sha256 of what judged it (record_digest): a hand edit of the verdict shows


class Ledger:
    """reports/ledger.json: {"format": 1, "nights": {date: record}, "week": summary, "drills": [drill]}.
    Atomic writes under a file lock."""

    def __init__(self, path, lock_timeout=60, site=""):
        """`site`: the site whose nights it holds; a ledger of another site is refused, never mixed."""
        self.path, self.site = Path(path), site
        self._lock = FileLock(str(self.path) + ".lock", timeout=lock_timeout)

    def load(self):
        """Every record by night; {} when there is no ledger yet."""
        return self._read()[0]

    def week(self):
        """The week's summary as the last run wrote it; {} when none did."""
        return self._read()[1]

    def drills(self):
        """The alert drills run by opsverify (pytest -m drill), oldest first: {id, at, owner, rules, ...}."""
        return self._read()[2]

    def _read(self):
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}, {}, []
        except OSError as exc:
            raise LedgerError(f"ledger {self.path}: cannot be read ({exc.strerror})") from None
        try:
            document = json.loads(text)
            if document.get("format") != LEDGER_FORMAT:
                raise ValueError(f"format {document.get('format')!r}, expected {LEDGER_FORMAT}")
            week, drills = document.get("week", {}), document.get("drills", [])
            if not isinstance(week, dict):
                raise ValueError("'week' is not a mapping")
            if not isinstance(drills, list) or not all(isinstance(d, dict) and "id" in d for d in drills):
                raise ValueError("'drills' is not a list of drills")
            if self.site and document.get("site", self.site) != self.site:
                raise LedgerError(f"ledger {self.path} holds the nights of site {document['site']!r}, not of "
                                  f"{self.site!r}: give each site its own reports directory (--reports-dir or "
                                  f"reports_dir in its site file)")
            return {night: NightRecord(**rec) for night, rec in document["nights"].items()}, week, drills
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            backup = self.path.with_name(self.path.name + ".corrupt")
            shutil.copy2(self.path, backup)
            raise LedgerError(
                f"ledger {self.path} is corrupt ({exc}); a copy is kept at {backup}. "
                f"Repair or remove the ledger, then run again: no record was written."
            ) from None

    def record(self, recs):
        """Fold each run's record of `recs` into the ledger's record of its night (merge_night), under the
        lock, so that concurrent runs lose nothing; return all records."""
        def change(records, week, drills):
            for rec in recs:
                records[rec.night] = merge_night(records.get(rec.night), rec)
            return records, week, drills

        return self._update(change)[0]

    def save_week(self, summary):
        """Replace the week's summary (metrics, criteria), keeping every night's record."""
        self._update(lambda records, week, drills: (records, summary, drills))

    def record_drill(self, drill):
        """Add a drill (a dict with its "id"), or replace the one with the same id (its record as it ends)."""
        self._update(lambda records, week, drills: (
            records, week, [d for d in drills if d["id"] != drill["id"]] + [drill]))

    def _update(self, change):
        try:
            with self._lock:
                found = change(*self._read())
                self._write(*found)
                return found
        except Timeout:
            raise LedgerError(f"ledger {self.path}: another run holds the lock; try again") from None
        except OSError as exc:  # the lock file cannot be made: a read-only, full or odd reports directory
            raise LedgerError(f"ledger {self.path}: cannot lock it ({exc.strerror}); check the reports "
                              f"directory's permissions and free space") from None

    def _write(self, records, week, drills):
        document = {"format": LEDGER_FORMAT, **({"site": self.site} if self.site else {}),
                    "nights": {n: asdict(records[n]) for n in sorted(records)}, "week": week,
                    **({"drills": drills} if drills else {})}
        temp = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(prefix=".ledger-", dir=self.path.parent)
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(document, out, ensure_ascii=False, indent=1)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self.path)
        except OSError as exc:
            if temp:  # a half-written copy (a full disk) must not lie around; the ledger itself is untouched
                Path(temp).unlink(missing_ok=True)
            raise LedgerError(f"ledger {self.path}: cannot be written ({exc.strerror}); "
                              f"check the reports directory's permissions and free space") from None


def merge_night(previous, new):
    """The night's record once the run that made `new` has judged it. Pure.

    A run that ran every check of the night (`new.complete`) replaces what earlier runs said. A
    partial run (-k, --lf, a node id, an interrupted run) replaces only the verdicts of the checks it
    ran and keeps the others, so its few passing checks never turn a failed night ✅. The status and
    issues are recomputed from every kept verdict; a night no run judged in full is ✅ at best ⚠️.
    Human actions and facts the run did not learn (the reset's duration, replay verdicts) are kept.
    """
    partial = previous is not None and not new.complete
    checks = {**_verdicts(previous), **new.checks} if partial else dict(new.checks)
    complete = previous.complete if partial else new.complete
    # A record made by hand or by an older version has no verdicts to recompute from: it says what it says.
    status, lines = judge(checks, complete, new.night) if checks else (new.status, list(new.issues))
    change = {"run": new.run, "at": new.run_at,
              "scope": f"{len(new.checks)} of the night's checks" if not new.complete else "every check",
              "from": previous.status if previous else None, "to": status}
    kept = previous or NightRecord(night=new.night, day=new.day, status=PENDING)
    merged = replace(
        new, status=status, issues=lines, checks=checks, complete=complete,
        actions=new.actions or kept.actions,  # a human wrote it; a re-run keeps it
        reset_duration_ms=new.reset_duration_ms if new.reset_duration_ms is not None or not partial
        else kept.reset_duration_ms,
        alerts={**kept.alerts, **new.alerts} if partial else new.alerts,
        promtail=new.promtail or (kept.promtail if partial else {}),
        reset=new.reset or (kept.reset if partial else ""),
        smoke=smoke_summary(checks) if new.basis == "live" else {},
        changes=(kept.changes + [change])[-CHANGES_KEPT:],
    )
    return replace(merged, digest=record_digest(merged))


def record_digest(rec):
    """sha256 over what a run judged of the night (status, issues, reset, verdicts): the ledger is a file a
    person can edit, and a night turned from ❌ to ✅ by hand must not pass for the run's verdict."""
    judged = {"night": rec.night, "status": rec.status, "issues": rec.issues, "reset": rec.reset,
              "complete": rec.complete, "checks": rec.checks}
    return hashlib.sha256(json.dumps(judged, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def edited(records):
    """The nights whose record no longer matches the digest the run that wrote it put on it."""
    return sorted(night for night, rec in records.items() if rec.digest and rec.digest != record_digest(rec))


def judge(checks, complete, night):
    """(status, issues) of a night from its checks' verdicts; one not judged in full is never ✅."""
    outcomes = [CheckOutcome(key, key.split("::")[-1], v["severity"], v["outcome"], v.get("reason", ""))
                for key, v in checks.items()]
    status, lines = night_status(outcomes), issues(outcomes)
    if not complete:
        status = WARNING if status in (PASSED, PENDING) else status
        lines.append(f"not judged in full: only {len(checks)} check(s) ran for this night (a partial or "
                     f"interrupted run); run `pytest -m nightly --night={night}` to judge it")
    return status, lines


def smoke_summary(checks):
    """What the night's smoke checks said: {"ran": n, "failed": [check, ...]}."""
    smoke = {key: v for key, v in checks.items() if v.get("smoke")}
    return {"ran": len(smoke),
            "failed": [key.split("::")[-1] for key, v in smoke.items() if v["outcome"] not in ("passed", "n/a")]}


def _verdicts(record):
    """A record's per-check verdicts; a record written before they were kept counts as one verdict."""
    if record.checks or record.status == PENDING:
        return record.checks
    outcome = "passed" if record.status == PASSED else "failed"
    severity = "critical" if record.status == FAILED else "warning"
    return {EARLIER: {"outcome": outcome, "severity": severity, "reason": "; ".join(record.issues)}}


@dataclass(frozen=True)
class Row:
    day: int
    date: date
    status: str
    issues: tuple = ()
    actions: str = ""
    basis: str = ""  # the record's: live, or history (backfilled from Loki)


def week_rows(records, week_start):
    """The Week 1 table: at least seven days, and after a failed night, seven more after it."""
    by_day = {}
    for rec in records.values():
        night = date.fromisoformat(rec.night)
        if night >= week_start:
            by_day[(night - week_start).days + 1] = rec
    last_failed = max((d for d, r in by_day.items() if r.status == FAILED), default=0)
    count = max(MIN_ROWS, max(by_day, default=0), last_failed + STREAK)
    rows = []
    for day in range(1, count + 1):
        rec = by_day.get(day)
        night = week_start + timedelta(days=day - 1)
        if rec is None:
            rows.append(Row(day, night, PENDING))
        else:
            rows.append(Row(day, night, rec.status, tuple(rec.issues), rec.actions, rec.basis))
    return rows


def streak(rows):
    """The longest run of consecutive successful nights so far."""
    return longest_run(row.status in SUCCESSFUL for row in rows)


def longest_run(flags):
    """The longest run of consecutive true values."""
    best = current = 0
    for flag in flags:
        current = current + 1 if flag else 0
        best = max(best, current)
    return best


def _cell(text):
    return visible(" ".join(str(text).split())).replace("|", "\\|")


def table_cells(line):
    """A Markdown table row's cells, stripped and unescaped: `\\|` is a | inside a cell, as _cell writes it."""
    inner = re.sub(r"(?<!\\)\|\s*$", "", line.strip().removeprefix("|"))
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def markdown_table(rows):
    """The table in the sign-off document's own format."""
    lines = [
        "| Day | Date | Midnight Reset Status | Issues Detected | Actions Taken |",
        "|-----|------|----------------------|----------------|---------------|",
    ]
    for row in rows:
        # Text from logs and Grafana: one short, escaped line per issue, which no HTML or Markdown survives.
        issues = "; ".join(escape(short_issue(issue)) for issue in row.issues)
        lines.append(f"| Day {row.day} | {row.date.isoformat()} | {label(row.status)} | "
                     f"{issues} | {_cell(row.actions)} |")
    return "\n".join(lines) + "\n"


def previous_record(records, night):
    """The record of the latest night before `night` (a date), or None."""
    earlier = [n for n in records if date.fromisoformat(n) < night]
    return records[max(earlier)] if earlier else None
