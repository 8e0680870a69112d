"""How far the week is, in the sign-off document's own places: Date Started and Date Completed, the
status line, one "Day N Issues" entry per night with issues, and the Week 1 Completion Criteria boxes.
Pure: text in, text out.

What the suite owns, it can recognise, so that a re-run updates it and never a human's words: a date
field holding the template's placeholder or a bare date; a status line holding the template's text or
one of the suite's own sentences; an entry whose heading carries the suite's HTML comment; a box the
suite ticked (it ends with the suite's evidence pointer). A box a human ticked is left as it is, and
`hand_ticked_against` says where the week disagrees with it.
"""

import re
from dataclasses import dataclass
from datetime import date

from opsverify.markdown import escape, short_issue
from opsverify.status import FAILED, PENDING, SUCCESSFUL, WARNING, normalise_glyphs
from opsverify.week import STREAK

# The template's eight completion criteria, by the check that decides each.
CRITERIA = {
    "test_seven_consecutive_successful_resets": "7 Consecutive Successful Midnight Resets",
    "test_all_alerts_configured_and_tested": "All Alerts Properly Configured and Tested",
    "test_no_critical_production_issues": "No Critical Production Issues",
    "test_all_monitoring_systems_operational": "All Monitoring Systems Operational",
    "test_team_response_procedures_validated": "Team Response Procedures Validated",
    "test_documentation_complete_and_accessible": "Documentation Complete and Accessible",
    "test_lessons_learned_documented": "Lessons Learned Documented",
    "test_action_items_identified_and_prioritized": "Action Items Identified and Prioritized",
}
TEMPLATE_STATUS = "🔄 IN PROGRESS - Monitoring Phase"
TEMPLATE_COMPLETED = "[TO BE FILLED - After One Successful Week]"
SUITE_STATUS = re.compile(
    r"🔄 IN PROGRESS - Monitoring Phase(?:, restarted after the failed night of Day \d+ \(\d{4}-\d{2}-\d{2}\))?: "
    r"\d+ of \d+ consecutive successful nights|✅ COMPLETED - \d+ consecutive successful midnight resets, all \d+ "
    r"completion criteria met")
FIELD = re.compile(r"^(\*\*(Date Started|Date Completed|Status):\*\* ?)(.*?)(\s*)$")
PLACEHOLDER = re.compile(r"\[[^\]]*\]")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
ENTRY_MARK = re.compile(r"<!-- opsverify night (\d{4}-\d{2}-\d{2}) -->")
NONE_MARK = "<!-- opsverify -->"
BULLET = re.compile(r"^(\s*- \*\*)(Issue|Severity|Resolution|Follow-up Required)(:\*\* ?)(.*?)(\s*)$")
CONTINUE = re.compile(r"^\s*\[Continue for each day as needed\]\s*$")
BOX = re.compile(r"^(\s*- \[)([ xX])(\] )(.*?)(\s*)$")
POINTER = re.compile(r" — met, evidence: (\S+) \(opsverify\)$")


@dataclass(frozen=True)
class DayIssues:
    """A night with issues, as its "Day N Issues" entry says it."""

    day: int
    night: date
    issue: str  # Markdown-safe: the week table's issues, one short line each
    severity: str  # Critical | Warning
    failed: bool  # ❌: follow-up required
    actions: str  # the night's Actions Taken (--action or the human's cell)


@dataclass(frozen=True)
class Progress:
    """What the document's progress places should say. `criteria` is None before the criteria ran in
    this run: then the boxes, the status and Date Completed are left as they are."""

    week_start: date
    judged: int  # nights with a verdict
    streak: int  # consecutive successful nights up to the latest judged
    failed: tuple  # (day, night) of each failed night of the table
    entries: tuple  # DayIssues
    criteria: object = None  # criterion check -> its outcome in this run
    today: object = None  # the run's local date: Date Completed when the week completes in this run
    evidence: str = ""  # the evidence bundle a ticked box points to

    @property
    def completed(self):
        return self.criteria is not None and all(self.criteria.get(name) == "passed" for name in CRITERIA)

    @property
    def reopened(self):
        """Not complete, and this run says so: a failed night, a failed criterion, or no criterion judged.
        (A partial criteria run that failed none leaves a completed week completed.)"""
        return not self.completed and (bool(self.failed) or not self.criteria or "failed" in self.criteria.values())


def progress(rows, records, week_start, criteria=None, today=None, evidence=""):
    """The week's progress from the Week 1 rows and the ledger's records (night ISO -> NightRecord)."""
    judged = [row for row in rows if row.status != PENDING]
    last = max((i for i, row in enumerate(rows) if row.status != PENDING), default=-1)
    streak = 0
    for row in reversed(rows[:last + 1]):
        if row.status not in SUCCESSFUL:
            break
        streak += 1
    entries = tuple(_entry(row, records.get(row.date.isoformat())) for row in rows
                    if row.status in (WARNING, FAILED) and row.issues)
    return Progress(week_start=week_start, judged=len(judged), streak=streak,
                    failed=tuple((row.day, row.date) for row in rows if row.status == FAILED), entries=entries,
                    criteria=None if criteria is None else dict(criteria), today=today, evidence=evidence)


def _entry(row, record):
    checks = record.checks.values() if record is not None else ()
    critical = row.status == FAILED or any(c.get("severity") == "critical" and c.get("outcome") in ("failed", "error")
                                           for c in checks)
    return DayIssues(day=row.day, night=row.date, issue="; ".join(escape(short_issue(i)) for i in row.issues),
                     severity="Critical" if critical else "Warning", failed=row.status == FAILED,
                     actions=row.actions)


def fill(text, week):
    """`text` with the progress places filled from `week` (Progress); every other line, its line ending
    included, as it was."""
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    lines = _fields(lines, week)
    lines = _issues(lines, week, newline)
    if week.criteria is not None:
        lines = _boxes(lines, week)
    return "".join(lines)


def _ending(line):
    content = line.rstrip("\r\n")
    return content, line[len(content):]


def _status(week, current):
    if week.completed:
        return f"✅ COMPLETED - {STREAK} consecutive successful midnight resets, all {len(CRITERIA)} completion " \
               "criteria met"
    if not week.reopened and current.startswith("✅"):
        return current
    counted = f"{min(week.streak, STREAK)} of {STREAK} consecutive successful nights"
    if week.failed:
        day, night = week.failed[-1]
        return f"{TEMPLATE_STATUS}, restarted after the failed night of Day {day} ({night.isoformat()}): {counted}"
    return f"{TEMPLATE_STATUS}: {counted}"


def _fields(lines, week):
    out = []
    for line in lines:
        content, ending = _ending(line)
        match = FIELD.match(content)
        if not match:
            out.append(line)
            continue
        lead, name, value, tail = match.groups()
        value = normalise_glyphs(value)
        bare = PLACEHOLDER.fullmatch(value) or ISO_DATE.fullmatch(value)
        new = None
        if name == "Date Started" and bare:
            new = week.week_start.isoformat()
        elif name == "Date Completed" and bare and week.criteria is not None:
            if week.completed:
                new = value if ISO_DATE.fullmatch(value) else week.today.isoformat()
            elif week.reopened and ISO_DATE.fullmatch(value):
                new = TEMPLATE_COMPLETED
        elif name == "Status" and week.criteria is not None and (value == TEMPLATE_STATUS or
                                                                 SUITE_STATUS.fullmatch(value)):
            new = _status(week, value)
        out.append(line if new is None or new == value else f"{lead}{new}{tail}{ending}")
    return out


def _section(lines, title, level):
    """(first line after the heading, end) of the section `title`, or None."""
    heading = re.compile(rf"^{'#' * level}\s+{re.escape(title)}\b")
    start = next((i for i, line in enumerate(lines) if heading.match(normalise_glyphs(line))), None)
    if start is None:
        return None
    end = next((i for i in range(start + 1, len(lines))
                if re.match(rf"^#{{1,{level}}}\s", lines[i]) or re.fullmatch(r"\s*---+\s*", lines[i])), len(lines))
    return start + 1, end


def _issues(lines, week, newline):
    found = _section(lines, "Issues Encountered", 3)
    if found is None:
        return lines
    start, end = found
    body = [line for line in lines[start:end]
            if not CONTINUE.match(line) and not line.rstrip().endswith(NONE_MARK)]
    first = next((i for i, line in enumerate(body) if line.startswith("####")), len(body))
    kept, blocks, done = body[:first], [], set()
    heads = [i for i, line in enumerate(body) if line.startswith("####")] + [len(body)]
    entries = {e.night.isoformat(): e for e in week.entries}
    for a, b in zip(heads, heads[1:]):
        block = body[a:b]
        mark = ENTRY_MARK.search(block[0])
        if mark is None:
            if not _template_block(block):
                blocks.append(block)
        elif mark.group(1) in entries:
            blocks.append(_updated_entry(block, entries[mark.group(1)], newline))
            done.add(mark.group(1))
        elif _touched(block):
            blocks.append(block)  # the night has no issues now, but a human wrote in its entry
    for night, entry in entries.items():
        if night not in done:
            blocks.append([line + newline for line in _new_entry(entry)])
    if not blocks and week.judged:
        blocks.append([f"- No issues: the {week.judged} night(s) judged so far passed every check. {NONE_MARK}"
                       f"{newline}", newline])
    result = list(kept)
    for block in blocks:
        while len(result) > 1 and not result[-1].strip() and not result[-2].strip():
            result.pop()  # one blank line between entries, whatever was removed between them
        if result and result[-1].strip():
            result.append(newline)
        result += block
    if result and result[-1].strip() and end < len(lines):
        result.append(newline)
    return lines[:start] + result + lines[end:]


def _template_block(block):
    """The template's own "Day N Issues" entry: nothing in it but placeholders."""
    values = [BULLET.match(line.rstrip("\r\n")) for line in block[1:] if line.strip()]
    return bool(re.match(r"^####\s+Day \d+ Issues\s*$", block[0])) and bool(values) and all(
        m and PLACEHOLDER.fullmatch(m.group(4)) for m in values)


def _touched(block):
    for line in block[1:]:
        match = BULLET.match(line.rstrip("\r\n"))
        if match is None:
            if line.strip():
                return True
        elif match.group(2) == "Resolution" and not PLACEHOLDER.fullmatch(match.group(4)):
            return True
        elif match.group(2) == "Follow-up Required" and match.group(4) not in ("Yes", "[Yes/No]"):
            return True
    return False


def _heading(entry):
    return f"#### Day {entry.day} Issues ({entry.night.isoformat()}) <!-- opsverify night {entry.night.isoformat()} -->"


def _new_entry(entry):
    return [_heading(entry), f"- **Issue:** {entry.issue}", f"- **Severity:** {entry.severity}",
            f"- **Resolution:** {entry.actions or '[Action taken]'}",
            f"- **Follow-up Required:** {'Yes' if entry.failed else '[Yes/No]'}", ""]


def _updated_entry(block, entry, newline):
    """The suite's entry with its Issue and Severity as the night has them now; the human's Resolution and
    Follow-up kept (Follow-up is Yes for a failed night whatever it said)."""
    out = [_heading(entry) + (_ending(block[0])[1] or newline)]
    for line in block[1:]:
        content, ending = _ending(line)
        match = BULLET.match(content)
        if match is None:
            out.append(line)
            continue
        lead, name, colon, value, tail = match.groups()
        if name == "Issue":
            value = entry.issue
        elif name == "Severity":
            value = entry.severity
        elif name == "Resolution" and PLACEHOLDER.fullmatch(value) and entry.actions:
            value = entry.actions
        elif name == "Follow-up Required" and entry.failed:
            value = "Yes"
        out.append(f"{lead}{name}{colon}{value}{tail}{ending}")
    return out


def _criterion(text):
    """The criterion check a box's line names, or None."""
    title = re.search(r"\*\*(.+?)\*\*", text)
    words = " ".join(title.group(1).casefold().split()) if title else ""
    return next((name for name, wanted in CRITERIA.items() if words == wanted.casefold()), None)


def _boxes(lines, week):
    found = _section(lines, "Week 1 Completion Criteria", 2)
    if found is None:
        return lines
    out = list(lines)
    for i in range(*found):
        content, ending = _ending(lines[i])
        match = BOX.match(content)
        name = match and _criterion(match.group(4))
        if not name or name not in week.criteria:
            continue
        lead, mark, close, text, tail = match.groups()
        ours = POINTER.search(text)
        passed = week.criteria[name] == "passed"
        if ours and not passed and week.criteria[name] == "failed":
            out[i] = f"{lead} {close}{text[:ours.start()]}{tail}{ending}"
        elif not ours and mark == " " and passed:
            out[i] = f"{lead}x{close}{text} — met, evidence: {week.evidence} (opsverify){tail}{ending}"
    return out


def hand_ticked_against(text, criteria):
    """Where a box a human ticked says a criterion is met that failed in this run: one line each."""
    lines = normalise_glyphs(text).splitlines()
    found = _section(lines, "Week 1 Completion Criteria", 2)
    problems = []
    for i in range(*found) if found else ():
        match = BOX.match(lines[i])
        name = match and _criterion(match.group(4))
        if name and match.group(2) in "xX" and not POINTER.search(match.group(4)) and criteria.get(name) == "failed":
            problems.append(f"line {i + 1}: '{CRITERIA[name]}' is ticked by hand, but {name} failed in this run")
    return problems
