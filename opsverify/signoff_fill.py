"""The sign-off document: fill, in place, what the week measured — the Week 1 table and the success
and alert metrics — and leave every other byte as the humans wrote it.

The document may carry its status glyphs mis-decoded (UTF-8 read as Mac Roman: `‚úÖ` for ✅); it is
read either way and what opsverify writes is proper UTF-8. Lines it does not own are never rewritten,
so their bytes (mis-decoded glyphs included) stay as they were.
"""

import os
import re
import shutil
import stat
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from opsverify import signoff_progress
from opsverify.status import GLYPHS, PENDING, SUCCESSFUL, normalise_glyphs
from opsverify.week import markdown_table, table_cells

TABLE_HEADER = re.compile(r"^\|\s*Day\s*\|\s*Date\s*\|\s*Midnight Reset Status\s*\|")
ROW = re.compile(r"^\|\s*Day\s+(\d+)\s*\|")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
DOWNTIME_CHECKS = ("test_no_restart_in_window", "test_container_not_restarted_in_window", "test_container_running")


class SignoffError(Exception):
    """The document cannot be filled; the text says why."""


VERDICTS = ("true positive", "false positive", "false negative", "true negative")


@dataclass(frozen=True)
class WeekMetrics:
    successful: int
    nights: int
    average_seconds: object  # None when no night printed a duration
    longest_seconds: object
    downtime: tuple  # ("Day 3: test_no_restart_in_window", ...)
    alerts_fired: int
    true_positives: int
    false_positives: int
    false_negatives: int
    per_rule: dict = field(default_factory=dict)  # rule uid -> {verdict: nights}
    response_minutes: tuple = ()  # fired -> resolved of each alert in Grafana's state history

    @property
    def average_response_minutes(self):
        return sum(self.response_minutes) / len(self.response_minutes) if self.response_minutes else None


def week_metrics(records, rows, response_minutes=None):
    """What the week measured, from the ledger's records, the table's rows and the alerts' response times."""
    recorded = [records[r.date.isoformat()] for r in rows if r.date.isoformat() in records]
    durations = [r.reset_duration_ms / 1000 for r in recorded if r.reset_duration_ms]
    downtime = tuple(f"Day {r.day}: {issue.split(':')[0]}" for r in recorded for issue in r.issues
                     if issue.split(":")[0].split("[")[0] in DOWNTIME_CHECKS)
    verdicts = [a.get("classification", "") for r in recorded for a in r.alerts.values()]
    per_rule = {}
    for rec in recorded:
        for uid, found in rec.alerts.items():
            counts = per_rule.setdefault(uid, dict.fromkeys(VERDICTS, 0))
            if found.get("classification") in counts:
                counts[found["classification"]] += 1
    return WeekMetrics(
        successful=sum(1 for r in rows if r.status in SUCCESSFUL), nights=len(rows),
        average_seconds=sum(durations) / len(durations) if durations else None,
        longest_seconds=max(durations) if durations else None, downtime=downtime,
        alerts_fired=sum(1 for v in verdicts if v in ("true positive", "false positive")),
        true_positives=verdicts.count("true positive"), false_positives=verdicts.count("false positive"),
        false_negatives=verdicts.count("false negative"), per_rule=per_rule,
        response_minutes=tuple(response_minutes or ()),
    )


def week_summary(metrics, criteria, week_start):
    """The week as the ledger and the bundle keep it: metrics and the completion criteria's outcomes."""
    return {"week_start": week_start.isoformat(), "metrics": asdict(metrics),
            "criteria": {o.name: {"outcome": o.outcome, "reason": o.reason} for o in criteria}}


def _metric_lines(metrics):
    """Label -> the value opsverify writes; a label it cannot measure keeps the human's text."""
    values = {
        "Successful Resets": f"{metrics.successful}/{metrics.nights}",
        "Zero Downtime Achieved": "Yes" if not metrics.downtime else f"No ({'; '.join(metrics.downtime)})",
        "Total Alerts Fired": str(metrics.alerts_fired),
        "False Positives": str(metrics.false_positives),
        "True Positives": str(metrics.true_positives),
    }
    if metrics.average_response_minutes is not None:
        text = (f"Average {metrics.average_response_minutes:.1f} minutes ({len(metrics.response_minutes)} "
                f"alert(s) fired to resolved, longest {max(metrics.response_minutes):.1f})")
        values["Alert Response Time"] = values["Response Time"] = text
    if metrics.average_seconds is not None:
        values["Average Reset Duration"] = (f"{metrics.average_seconds:.1f} seconds "
                                            f"(longest {metrics.longest_seconds:.1f} s)")
    return values


def update_text(text, rows, metrics, progress=None):
    """The document with its Week 1 table and metrics filled, and with `progress`
    (signoff_progress.Progress) its dates, status, Day N issues and criteria boxes; every other line as
    it was."""
    lines = text.splitlines(keepends=True)
    header = next((i for i, line in enumerate(lines) if TABLE_HEADER.match(normalise_glyphs(line))), None)
    if header is None or header + 1 >= len(lines):
        raise SignoffError("no '| Day | Date | Midnight Reset Status |' table: is this the sign-off document?")
    end = header + 2
    # What a human wrote in Actions Taken is kept by the row's date, so that a new Day 1 cannot move it
    # to another night; a template row not yet dated ([TO BE FILLED]) by its Day.
    kept_actions, kept_rows = {}, {}
    while end < len(lines) and ROW.match(lines[end]):
        cells = table_cells(lines[end])
        if len(cells) >= 5 and cells[4]:
            dated = ISO_DATE.fullmatch(cells[1])
            kept_actions[cells[1] if dated else int(ROW.match(lines[end]).group(1))] = cells[4]
            if dated:
                kept_rows[cells[1]] = lines[end]
        end += 1
    newline = "\r\n" if lines[header].endswith("\r\n") else "\n"
    filled = [replace(row, actions=kept_actions.get(row.date.isoformat(), kept_actions.get(row.day, row.actions)))
              for row in rows]
    table = [line + newline for line in markdown_table(filled).splitlines()[2:]]
    # A row the week no longer shows (Day 9 after the week start moved) keeps its human's words.
    shown = {row.date.isoformat() for row in rows}
    table += [line for date, line in kept_rows.items() if date not in shown]
    lines[header + 2:end] = table
    values = _metric_lines(metrics)
    for i, line in enumerate(lines):
        match = re.match(r"^(\s*- \*\*)([^*]+)(:\*\* ?)(.*?)(\s*)$", line)
        if match and match.group(2) in values:
            lines[i] = f"{match.group(1)}{match.group(2)}{match.group(3)}{values[match.group(2)]}{match.group(5)}"
    text = "".join(lines)
    return text if progress is None else signoff_progress.fill(text, progress)


# --- what the document says, against the week (the criteria read these; they write nothing) ---

# A bound a sentence puts on the reset's duration: "under 4 seconds", "between 1.8 and 3.1 seconds".
BOUND = re.compile(r"\b(?:under|below|less than|within|at most|no more than|between [0-9.]+ and)\s+"
                   r"([0-9]+(?:\.[0-9]+)?)\s*(?:s|secs?|seconds?)\b", re.I)
ABOUT_DURATION = re.compile(r"\breset\b.*\b(?:duration|completed|complete|took|ran|finished|stayed|lasted)\b|"
                            r"\b(?:duration|completed|took|finished|stayed|lasted)\b.*\breset\b", re.I)
METRIC = re.compile(r"^\s*- \*\*([^*]+):\*\* ?(.*?)\s*$")


def _slack(figure):
    """Half a unit of the figure's last written digit: "3.1" is 3.05..3.15."""
    decimals = len(figure.partition(".")[2])
    return 0.5 * 10 ** -decimals


def table_disagreements(text, rows):
    """Where the document's Week 1 table differs from `rows` (the ledger's week): a row missing, another
    date, another status. A night not judged yet must read ⏳ (or nothing) there, never a result."""
    lines = normalise_glyphs(text).splitlines()
    found = {}
    for number, line in enumerate(lines, start=1):
        match = ROW.match(line)
        if match:
            found.setdefault(int(match.group(1)), (number, table_cells(line)))
    if not found:
        return ["no Week 1 table ('| Day | Date | Midnight Reset Status |')"]
    problems = []
    for row in rows:
        if row.day not in found:
            if row.status != PENDING:
                problems.append(f"Day {row.day} ({row.date}) is not in the table")
            continue
        number, cells = found[row.day]
        status = (cells[2] if len(cells) > 2 else "").strip()
        written = next((s for s, glyph in GLYPHS.items() if status.startswith(glyph)), None)
        if row.status == PENDING:
            if written not in (None, PENDING):
                problems.append(f"line {number}: Day {row.day} says {status!r} but the ledger has no judged night "
                                f"{row.date}")
            continue
        date_cell = cells[1].strip() if len(cells) > 1 else ""
        if date_cell != row.date.isoformat() or written != row.status:
            problems.append(f"line {number}: Day {row.day} reads {date_cell or '(no date)'} {status or '(empty)'!r}, "
                            f"the ledger {row.date} {GLYPHS[row.status]}")
    return problems


def contradicted_figures(text, metrics):
    """The human's figures the week's measures contradict: the success-metric lines opsverify fills
    (Successful Resets, Average Reset Duration) and every sentence that bounds the reset's duration."""
    problems = []
    for number, line in enumerate(normalise_glyphs(text).splitlines(), start=1):
        if line.lstrip().startswith("|"):
            continue  # tables (action items, the week) say what to do, not what happened
        metric = METRIC.match(line)
        label, value = (metric.group(1), metric.group(2)) if metric else ("", "")
        if label == "Successful Resets":
            stated = re.match(r"(\d+)\s*/\s*(\d+)", value)
            if stated and (int(stated.group(1)), int(stated.group(2))) != (metrics.successful, metrics.nights):
                problems.append(f"line {number}: Successful Resets {stated.group(0)}, the week measured "
                                f"{metrics.successful}/{metrics.nights}")
            continue
        if label == "Average Reset Duration" and metrics.average_seconds is not None:
            stated = re.match(r"([0-9]+(?:\.[0-9]+)?)", value)
            if stated and abs(float(stated.group(1)) - metrics.average_seconds) > _slack(stated.group(1)):
                problems.append(f"line {number}: Average Reset Duration {stated.group(1)} s, the week measured "
                                f"{metrics.average_seconds:.2f} s")
        if metrics.longest_seconds is None or not (ABOUT_DURATION.search(line) or label == "Average Reset Duration"):
            continue
        for bound in BOUND.finditer(line):  # a bound is strict; the longest as the report shows it (0.1 s)
            if round(metrics.longest_seconds, 1) > float(bound.group(1)):
                problems.append(f"line {number}: {bound.group(0)!r}, but the week's longest reset took "
                                f"{metrics.longest_seconds:.1f} s")
        longest = re.search(r"\blongest\s+([0-9]+(?:\.[0-9]+)?)\s*(?:s|secs?|seconds?)\b", line, re.I)
        if longest and abs(float(longest.group(1)) - metrics.longest_seconds) > _slack(longest.group(1)):
            problems.append(f"line {number}: longest {longest.group(1)} s, the week measured "
                            f"{metrics.longest_seconds:.2f} s")
    return problems


def update_file(path, rows, metrics, progress=None):
    """Fill the document at `path` in place (UTF-8), keeping the previous version as PATH.bak.
    True when it changed; running it again with the same week changes nothing."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise SignoffError(f"{path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise SignoffError(f"{path}: not UTF-8 at byte {exc.start}") from None
    updated = update_text(text, rows, metrics, progress)
    if updated == text:
        return False
    mode = path.stat()
    # A rename would replace a read-only file all the same (root can write anything): respect its mode.
    if not os.access(path, os.W_OK) or not mode.st_mode & 0o222:
        raise SignoffError(f"{path}: read-only (mode {stat.filemode(mode.st_mode)}); make it writable, or drop "
                           f"--update-doc, to fill it")
    temp = None
    try:
        shutil.copy2(path, path.with_name(path.name + ".bak"))
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(updated)
        os.chmod(temp, stat.S_IMODE(mode.st_mode))  # the document keeps its mode and, where allowed, owner
        if hasattr(os, "chown"):
            try:
                os.chown(temp, mode.st_uid, mode.st_gid)
            except PermissionError:
                pass  # only root may give a file away; the mode is kept all the same
        os.replace(temp, path)
    except OSError as exc:
        if temp:
            Path(temp).unlink(missing_ok=True)
        raise SignoffError(f"{path}: cannot be written ({exc.strerror}); it is unchanged") from None
    return True
