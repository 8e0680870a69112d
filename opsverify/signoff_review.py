"""Reviewing the sign-off document against its week's completion criteria: are the lessons-learned
sections filled, does the action-items table name owners and dates, do the documents it links to exist.

Pure functions over the document's text; only `check_links` touches the network. Line numbers are
1-based and count lines of the whole document.
"""

import os
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

import requests

from opsverify.clients.http import redact_url
from opsverify.status import normalise_glyphs
from opsverify.text import visible
from opsverify.week import table_cells

HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
THEMATIC_BREAK = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
LIST_ITEM = r"^\s*(?:[-*+]|\d{1,9}[.)])"
CHECKBOX = re.compile(LIST_ITEM + r"[ \t]+\[[ xX]\](?=\s|$)")
EMPTY_BULLET = re.compile(LIST_ITEM + r"(?:[ \t]+\[[ xX]\])?[ \t]*$")
LINK_DEFINITION = re.compile(r"^ {0,3}\[([^\[\]]+)\]:[ \t]*<?([^\s>]+)>?")
# A bracketed fragment and what may follow it: an inline target `(url "title")` or a reference `[ref]`.
BRACKETS = re.compile(r"(!?)\[([^\[\]\n]*)\](?:\(\s*(<[^>\n]*>|[^()\s]*)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"
                      r"|\[([^\[\]\n]*)\])?")
COMMENT_OR_CODE = re.compile(r"<!--|`+")
TRAILING_REMARK = re.compile(r"\s*\([^()]*\)\s*$")
NUMBERING = re.compile(r"^(?:[a-z]|\d+(?:\.\d+)*)[.)]\s+")  # on casefolded titles
PRIORITIES = ("Critical", "High", "Medium", "Low")
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d %b %Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y")
ACTION_SECTION = "Action Items for Implementation"
# What people type instead of an answer. A line, a cell or a bullet's text that is only one of these
# (after a "Label:" lead-in) answers nothing.
FILLER_WORDS = {"tbd", "tba", "todo", "to do", "fixme", "n/a", "na", "none yet", "pending", "see above",
                "see below", "...", "…", "x", "xx", "xxx", "?", "??", "???", "-", "—", "–", "same", "ditto"}
LEAD_IN = re.compile(r"^(?:\*\*|__)?[^*_:]{1,60}:(?:\*\*|__)?\s*|^(?:\*\*|__)[^*_]{1,60}(?:\*\*|__):?\s*")
COLUMNS = {"priority": ("priority",), "action": ("action item", "action"), "owner": ("owner",),
           "due": ("due date", "due"), "status": ("status",)}


@dataclass(frozen=True)
class Placeholder:
    line: int
    text: str  # "[Description]", "empty bullet"
    context: str  # the stripped line, at most 120 characters


@dataclass(frozen=True)
class ActionItem:
    line: int
    priority: str
    action: str
    owner: str
    due: str
    status: str


class ActionItems(NamedTuple):
    """The Action Items table: its rows, and what is wrong with the table itself."""

    rows: tuple
    problems: tuple


@dataclass(frozen=True)
class _Line:
    """A line of the document as the reviews read it."""

    number: int
    raw: str
    visible: str  # without HTML comments; "" inside fenced code
    content: str  # `visible` without inline code spans
    code: bool  # inside a fenced code block, fences included


@dataclass(frozen=True)
class _Section:
    title: str
    level: int
    heading: int  # index in the line list
    end: int  # index of the next heading of the same or a higher level


def _scan(line, in_comment):
    """(visible, content, in_comment) for one line outside fenced code: whichever of a comment or a
    code span starts first wins, as in CommonMark."""
    visible, content, pos = [], [], 0
    while pos < len(line):
        if in_comment:
            end = line.find("-->", pos)
            if end < 0:
                break
            in_comment, pos = False, end + 3
            visible.append(" ")
            content.append(" ")
            continue
        match = COMMENT_OR_CODE.search(line, pos)
        if not match:
            visible.append(line[pos:])
            content.append(line[pos:])
            break
        visible.append(line[pos:match.start()])
        content.append(line[pos:match.start()])
        if match.group() == "<!--":
            in_comment, pos = True, match.end()
            continue
        ticks = match.group()
        close = re.compile(rf"(?<!`){ticks}(?!`)").search(line, match.end())
        if close:
            visible.append(line[match.start():close.end()])
            content.append(" ")
            pos = close.end()
        else:  # an unmatched backtick run is literal text
            visible.append(ticks)
            content.append(ticks)
            pos = match.end()
    return "".join(visible), "".join(content), in_comment


def _lines(text):
    """The document's lines, each with its comments and code spans removed for reading."""
    lines, fence, in_comment = [], None, False
    for number, raw in enumerate(text.splitlines(), 1):
        if fence:
            closing = FENCE.match(raw)
            if closing and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= len(fence) \
                    and not raw.strip().strip(fence[0]):
                fence = None
            lines.append(_Line(number, raw, "", "", True))
            continue
        opening = FENCE.match(raw) if not in_comment else None
        if opening:
            fence = opening.group(1)
            lines.append(_Line(number, raw, "", "", True))
            continue
        visible, content, in_comment = _scan(raw, in_comment)
        lines.append(_Line(number, raw, visible, content, False))
    return lines


def _title(heading):
    """A heading's title without status glyphs and a trailing remark like "(TO BE COMPLETED)"."""
    title, previous = normalise_glyphs(heading).strip(), None
    while title != previous:
        previous = title
        while title and (title[-1].isspace() or unicodedata.category(title[-1]) in ("So", "Sk", "Mn", "Cf")):
            title = title[:-1]
        title = TRAILING_REMARK.sub("", title)
    return title


def _key(title):
    return " ".join(_title(title).casefold().split())


def _sections(lines):
    headings = []
    for index, line in enumerate(lines):
        match = not line.code and HEADING.match(line.visible)
        if match:
            headings.append((index, len(match.group(1)), _title(match.group(2) or "")))
    found = []
    for position, (index, level, title) in enumerate(headings):
        end = next((i for i, lvl, _ in headings[position + 1:] if lvl <= level), len(lines))
        found.append(_Section(title, level, index, end))
    return found


def _find_section(lines, title):
    """The first section named `title` (case- and glyph-insensitive), or else the first named so after a
    numbering label ("C. Related Documentation" for "Related Documentation"); None when there is none."""
    found = _sections(lines)
    exact = next((s for s in found if _key(s.title) == _key(title)), None)
    unnumbered = NUMBERING.sub("", _key(title))
    return exact or next((s for s in found if NUMBERING.sub("", _key(s.title)) == unnumbered), None)


def sections(text):
    """Heading title -> its body: the text up to the next heading of the same or a higher level, subsections
    included. Titles lose their `#`s, status glyphs and a trailing parenthesised remark; the first of two
    headings with the same title wins. Headings in fenced code are not headings."""
    lines = _lines(text)
    found = {}
    for section in _sections(lines):
        found.setdefault(section.title, "\n".join(line.raw for line in lines[section.heading + 1:section.end]))
    return found


def _references(lines):
    """Reference-link labels defined in the document (`[label]: url`), normalised -> target."""
    found = {}
    for line in lines:
        match = LINK_DEFINITION.match(line.content)
        if match:
            found.setdefault(" ".join(match.group(1).casefold().split()), match.group(2))
    return found


def _brackets(content, references):
    """(links, fragments) of one line: `(label, target)` of each Markdown link, and each bracketed
    fragment that is not a link, a footnote or a task checkbox."""
    links, fragments, pos = [], [], 0
    content = content.replace("\\[", "  ").replace("\\]", "  ")  # escaped brackets are literal text
    checkbox = CHECKBOX.match(content)
    if checkbox:
        pos = checkbox.end()
    while match := BRACKETS.search(content, pos):
        image, label, target, reference = match.groups()
        if target is not None:
            if not image:
                links.append((label, target.strip("<>")))
            pos = match.end()
            continue
        key = " ".join((reference or label).casefold().split())
        if key in references and not image:
            links.append((label, references[key]))
            pos = match.end()
            continue
        if not label.startswith("^") and not image:
            fragments.append(f"[{label}]")
        pos = match.start() + len(image) + len(label) + 2  # a following `[ref]` is examined on its own
    return links, fragments


def _answer(text):
    """What a line says, without its list marker and "Label:" lead-in."""
    return LEAD_IN.sub("", re.sub(LIST_ITEM + r"[ \t]+", "", text.strip(), count=1), count=1)


def filler(text):
    """The filler word `text` amounts to ('TBD', 'N/A', '...'), or None: markup, a list marker and a
    "Label:" lead-in are not the answer."""
    answer = _answer(text).strip().strip("*_`").strip()
    return answer if answer.casefold().rstrip(".!") in FILLER_WORDS or answer.casefold() in FILLER_WORDS else None


def _placeholders(lines, references):
    found = []
    for line in lines:
        if line.code or LINK_DEFINITION.match(line.content):
            continue
        context = line.raw.strip()[:120]
        if EMPTY_BULLET.match(line.visible):
            found.append(Placeholder(line.number, "empty bullet", context))
            continue
        word = filler(line.content) if line.content.strip() and not HEADING.match(line.content) else None
        if word:
            found.append(Placeholder(line.number, f"'{word}'", context))
            continue
        found += [Placeholder(line.number, fragment, context)
                  for fragment in _brackets(line.content, references)[1]]
    return found


def placeholders(text):
    """The template's unfilled blanks: every bracketed fragment (`[Description]`, `[X/7]`, `[TO BE FILLED]`)
    that is not a Markdown link, a footnote or a task checkbox, and every list item without text. Fenced
    code, inline code spans and HTML comments are never placeholders."""
    lines = _lines(text)
    return _placeholders(lines, _references(lines))


def _has_content(line):
    if line.code:
        return True
    return bool(line.visible.strip()) and not HEADING.match(line.visible) and not THEMATIC_BREAK.match(line.visible)


def lessons_learned_problems(text, required_sections):
    """One line per problem of the required sections: missing, empty (headings and comments only), or each
    placeholder in it, e.g. "Technical Insights, line 102: empty bullet"."""
    lines = _lines(text)
    references = _references(lines)
    problems = []
    for title in required_sections:
        section = _find_section(lines, title)
        if section is None:
            problems.append(f"section '{title}' is missing")
            continue
        body = lines[section.heading + 1:section.end]
        if not any(_has_content(line) for line in body):
            problems.append(f"section '{section.title}' is empty")
            continue
        found = _placeholders(body, references)
        problems += [f"{section.title}, line {p.line}: {p.text}" for p in found]
        if not found and not any(_is_sentence(line) for line in body):
            problems.append(f"{section.title}: not one sentence (four words or more) or figure: ratings and "
                            "single words do not say what happened")
    return problems


def _is_sentence(line):
    """A line whose answer (after a list marker, a "Label:" lead-in and a table's pipes) has four words,
    or is a measured figure ("7/7", "2.1 seconds")."""
    if line.code or HEADING.match(line.visible) or _is_delimiter_row(line.visible):
        return False
    answer = _answer(line.visible).replace("|", " ")
    return len(re.findall(r"[^\W\d_]{2,}", answer)) >= 4 or bool(re.search(r"\d", answer))


def _is_delimiter_row(line):
    return bool(re.fullmatch(r"\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*", line))


def _column_indexes(header):
    names = [" ".join(cell.strip("*_ ").casefold().split()) for cell in header]
    return {field: next((names.index(n) for n in accepted if n in names), None) for field, accepted in COLUMNS.items()}


def _date(text):
    for form in DATE_FORMATS:
        try:
            return datetime.strptime(text, form).date()
        except ValueError:
            pass
    return None


DONE = re.compile(r"^\s*(✅|\[x\]|done|complete|completed|closed|resolved)", re.I)


def _row_problems(item, references, today=None):
    problems = []
    status = normalise_glyphs(item.status).strip()
    priority = item.priority.strip("*_ ")
    if not priority:
        problems.append(f"line {item.line}: priority is empty")
    elif priority.casefold() not in (p.casefold() for p in PRIORITIES):
        problems.append(f"line {item.line}: priority '{priority}' is not one of {', '.join(PRIORITIES)}")
    for name, value in (("action", item.action), ("owner", item.owner), ("due date", item.due)):
        blanks = _brackets(_scan(value, False)[1], references)[1]
        if not value:
            problems.append(f"line {item.line}: {name} is empty")
        elif blanks or filler(value):
            problems.append(f"line {item.line}: {name} is a placeholder ({', '.join(blanks) or repr(filler(value))})")
        elif name == "due date" and _date(value.strip("*_ ")) is None:
            problems.append(f"line {item.line}: due date '{value}' is not a date "
                            "(write 2026-12-15, 15 Dec 2026 or Dec 15, 2026)")
        elif name == "due date" and today and _date(value.strip("*_ ")) < today and not DONE.match(status):
            problems.append(f"line {item.line}: still open ({status or 'no status'}) and past its due date "
                            f"{value} (today is {today}): mark it done, or give it a new date")
    return problems


def action_items(text, today=None):
    """The rows of the table under "Action Items for Implementation" (columns found by the header's names)
    and what keeps each from being a committed action: a priority outside Critical/High/Medium/Low, an
    empty or placeholder action, owner or due date, a due date that is not a date, and (given `today`)
    an item not marked done whose due date has passed."""
    lines = _lines(text)
    section = _find_section(lines, ACTION_SECTION)
    if section is None:
        return ActionItems((), (f"no '{ACTION_SECTION}' section",))
    body = lines[section.heading + 1:section.end]
    header = next((i for i in range(len(body) - 1) if body[i].content.lstrip().startswith("|")
                   and _is_delimiter_row(body[i + 1].content)), None)
    if header is None:
        problem = f"'{ACTION_SECTION}' has no table (| Priority | Action Item | Owner | Due Date | Status |)"
        return ActionItems((), (problem,))
    columns = _column_indexes(table_cells(body[header].content))
    absent = [name for name, index in columns.items() if index is None and name != "status"]
    if absent:
        problem = f"line {body[header].number}: the action items table has no {', '.join(absent)} column"
        return ActionItems((), (problem,))
    references = _references(lines)
    rows, problems = [], []
    for line in body[header + 2:]:
        if line.code or not line.visible.lstrip().startswith("|"):
            break
        cells = table_cells(line.visible)
        value = {name: cells[i] if i is not None and i < len(cells) else "" for name, i in columns.items()}
        item = ActionItem(line.number, **value)
        rows.append(item)
        problems += _row_problems(item, references, today)
    if not rows:
        problems.append("no action items: add at least one row with priority, owner and due date")
    return ActionItems(tuple(rows), tuple(problems))


def document_links(text, section="Related Documentation"):
    """The (label, target) of each Markdown link in `section` (inline or reference links; not images)."""
    lines = _lines(text)
    found = _find_section(lines, section)
    if found is None:
        return []
    references = _references(lines)
    return [link for line in lines[found.heading + 1:found.end] if not line.code
            for link in _brackets(line.content, references)[0]]


def _local(reference, base_dir):
    """The file a document reference names (relative to `base_dir`, or absolute), or None for a URL with a
    scheme (http, https, mailto, ...), an in-page anchor or nothing."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]+:", reference) or reference.startswith("#") or not reference:
        return None
    return unquote(re.split(r"[?#]", reference, maxsplit=1)[0])


def missing_documents(paths, base_dir):
    """The local references (relative to `base_dir`, or absolute) that do not exist, each as
    "<path> (looked for <absolute path>)"; a reference ending in "/" must be a directory. References with
    a scheme (http, https, mailto, ...) and in-page anchors are not looked at."""
    missing = []
    for reference in paths:
        local = _local(reference, base_dir)
        if local is None:
            continue
        wanted = Path(os.path.abspath(Path(base_dir) / local))
        if local.endswith("/"):
            if not wanted.is_dir():
                missing.append(f"{reference} (looked for {wanted}{os.sep})")
        elif not wanted.exists():
            missing.append(f"{reference} (looked for {wanted})")
    return missing


def hollow_documents(paths, base_dir):
    """The local files among `paths` that exist but say nothing: empty, or headings and blank lines only."""
    hollow = []
    for reference in paths:
        local = _local(reference, base_dir)
        path = Path(base_dir) / local if local is not None else None
        if path is None or not path.is_file():
            continue  # missing_documents and the link check say what is wrong with it
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if not any(line.strip() and not HEADING.match(line) for line in text.splitlines()):
            hollow.append(f"{reference} ({'empty' if not text.strip() else 'a title and nothing else'})")
    return hollow


def runbook_problems(runbooks, base_dir):
    """What is wrong with each rule's runbook_url ({uid: url}): it must be an http(s) URL with a host, or a
    file of the checkout at `base_dir` (relative to it); `TODO`, `N/A` or a missing file is no runbook."""
    problems = []
    for uid, url in sorted(runbooks.items()):
        parts = urlsplit(url)
        if not url:
            problems.append(f"rule {uid} has no runbook_url")
        elif parts.scheme in ("http", "https"):
            if not parts.hostname:
                problems.append(f"rule {uid}: runbook_url {_masked(url)} names no host")
        elif parts.scheme or missing_documents([url], base_dir):
            problems.append(f"rule {uid}: runbook_url {visible(url, 200)!r} is neither an http(s) URL nor a file "
                            f"in the checkout ({base_dir})")
    return problems


def _masked(url):
    """scheme://host[:port]/path: links may carry tokens in their user-info or query."""
    return redact_url(url).split("?", 1)[0]


def _reason(exc):
    """The innermost OS-level reason of a requests exception ("Connection refused"), never its text, which
    repeats the URL with its query."""
    seen, pending = set(), [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return f"{type(exc).__name__}: {current.strerror}"
        pending += [e for e in (current.__cause__, current.__context__, getattr(current, "reason", None),
                                *getattr(current, "args", ())) if isinstance(e, BaseException)]
    if isinstance(exc, requests.Timeout):
        return f"{type(exc).__name__}: no answer in time"
    return type(exc).__name__


def check_links(urls, timeout=5):
    """A problem line for each http(s) URL that does not answer 2xx or 3xx (redirects followed), e.g.
    "https://host/path: HTTP 404"; user-info and query are left out of every line. Bodies are not read."""
    problems = []
    with requests.Session() as session:
        for url in urls:
            if urlsplit(url).scheme not in ("http", "https"):
                continue
            try:
                with session.get(url, stream=True, allow_redirects=True, timeout=(timeout, timeout)) as response:
                    if response.status_code >= 400:
                        moved = f" (redirected to {_masked(response.url)})" if response.history else ""
                        problems.append(f"{_masked(url)}: HTTP {response.status_code}{moved}")
            except requests.RequestException as exc:
                problems.append(f"{_masked(url)}: unreachable ({_reason(exc)})")
    return problems
