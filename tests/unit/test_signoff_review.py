"""Reviewing the sign-off document: the seed is all blanks, the filled copy passes, each rule on its own."""

import re
import socket
from datetime import date
from pathlib import Path

import pytest

from opsverify.status import MANGLED
from opsverify.signoff_review import (
    ActionItem,
    Placeholder,
    action_items,
    check_links,
    document_links,
    lessons_learned_problems,
    missing_documents,
    placeholders,
    sections,
)

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
SEED = (DATA / "signoff-seed.md").read_text(encoding="utf-8")
FILLED = (ROOT / "sandbox" / "escashop-repo" / "STEP8_LESSONS_LEARNED.md").read_text(encoding="utf-8")
REQUIRED = ["Monitoring Results", "Alert Effectiveness Analysis", "Technical Insights",
            "Process Improvements Identified", "Deployment Quality Assessment",
            "Recommendations for Future Deployments"]
# The seed's mis-decoded glyphs, spelt through their map rather than as look-alike characters.
PENDING, DONE = (next(m for m, glyph in MANGLED.items() if glyph == g) for g in ("⏳", "✅"))
TABLE = "| Priority | Action Item | Owner | Due Date | Status |\n|---|---|---|---|---|\n"


def seed_line(text):
    """The 1-based number of the seed's only line that is `text` once stripped."""
    numbers = [n for n, line in enumerate(SEED.splitlines(), 1) if line.strip() == text]
    assert len(numbers) == 1, (text, numbers)
    return numbers[0]


def fragments(text):
    return [p.text for p in placeholders(text)]


def actions(*rows, today=None):
    return action_items("## Action Items for Implementation\n\n" + TABLE + "".join(f"{row}\n" for row in rows), today)


# --- the seed: every required section is unfilled ---

def test_sections_are_named_without_remarks_and_glyphs_and_hold_their_subsections():
    found = sections(SEED)
    assert {"Monitoring Results", "Monitoring Setup Completed", "Week 1 Completion Criteria",
            "Final Sign-off", "Technical Insights", "C. Related Documentation"} <= set(found)
    assert "### What Worked Well" in found["Technical Insights"]
    assert "## Process Improvements" not in found["Technical Insights"]
    assert found["Success Metrics"].strip().startswith("- **Successful Resets:** [X/7]")
    assert "# Check Grafana alerts" not in found  # a shell comment in fenced code


@pytest.mark.parametrize("title", REQUIRED)
def test_every_required_section_of_the_seed_has_problems(title):
    assert any(p.startswith(f"{title}, line ") for p in lessons_learned_problems(SEED, [title]))


def test_every_bracketed_template_fragment_of_the_seed_is_found():
    # Independently of the module: every [...] on a line outside fenced code, minus links and checkboxes.
    expected, fenced = [], False
    for number, line in enumerate(SEED.splitlines(), 1):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            line = re.sub(r"^\s*- \[[ xX]\]", "", line)
            expected += [(number, f"[{m}]") for m in re.findall(r"\[([^\]]*)\](?!\()", line)]
    assert len(expected) == 73  # grep: 107 bracket pairs, less 4 links and 30 checkboxes; guards the regex
    found = [(p.line, p.text) for p in placeholders(SEED) if p.text != "empty bullet"]
    assert found == expected


def test_the_template_fragments_named_in_the_brief_are_among_them():
    found = set(fragments(SEED))
    assert {"[TO BE FILLED - Start Date]", "[TO BE FILLED]", "[X/7]", "[X seconds]", "[Average X minutes]",
            "[Average minutes]", "[Description]", "[Number]", "[Assessment]", "[Name]", "[Date]", "[Date + 1 month]",
            "[Team]", "[Contact Info]", "[Action taken]", "[Yes/No]", "[Critical/Warning/Info]", "[Tested/Untested]",
            "[Optimal/Needs Attention]", "[Complete/Partial/Needs Work]", "[Improvement 1]", "[Update 2]",
            "[Automation 3]", "[Action 1]", "[Continue for each day as needed]", "[GitHub Issue/Ticket Number]",
            "[Confluence/Wiki Link]", "[Documentation Link]", "[Grafana Link]"} <= found
    assert "[Grafana Dashboard]" not in found
    assert "[ ]" not in found


def test_the_empty_bullets_of_technical_insights_are_found_with_their_lines():
    problems = lessons_learned_problems(SEED, ["technical insights"])
    lines = [n for n, line in enumerate(SEED.splitlines(), 1) if 98 <= n <= 116 and line.strip() == "-"]
    assert lines == [102, 106, 110, 114]
    assert problems == [f"Technical Insights, line {n}: empty bullet" for n in lines]


def test_a_placeholder_names_its_line_and_context():
    number = seed_line("- **Successful Resets:** [X/7]")
    assert Placeholder(number, "[X/7]", "- **Successful Resets:** [X/7]") in placeholders(SEED)
    assert f"Monitoring Results, line {number}: [X/7]" in lessons_learned_problems(SEED, REQUIRED)


def test_the_seeds_action_items_are_three_placeholder_rows():
    found = action_items(SEED)
    first = seed_line(f"| High | [Action 1] | [Team] | [Date] | {PENDING} |")
    assert [(r.line, r.priority) for r in found.rows] == [(first, "High"), (first + 1, "Medium"), (first + 2, "Low")]
    assert found.rows[0] == ActionItem(first, "High", "[Action 1]", "[Team]", "[Date]", PENDING)
    assert f"line {first}: owner is a placeholder ([Team])" in found.problems
    assert len(found.problems) == 9
    assert {p.split(":")[0] for p in found.problems} == {f"line {first + i}" for i in range(3)}


# --- the filled copy passes ---

def test_the_filled_copy_has_no_problems_in_the_required_sections():
    assert lessons_learned_problems(FILLED, REQUIRED) == []


def test_the_filled_copy_has_three_committed_action_items():
    found = action_items(FILLED)
    assert found.problems == ()
    assert [(r.priority, r.owner, r.due) for r in found.rows] == [
        ("High", "DevOps Team", "2026-12-15"), ("Medium", "Backend Team", "2026-12-22"),
        ("Low", "Operations Team", "2027-01-15")]


def test_the_filled_copy_leaves_the_sign_off_and_the_mangled_glyphs_as_they_were():
    assert sections(FILLED)["Final Sign-off"] == sections(SEED)["Final Sign-off"]
    assert sections(FILLED)["Appendices"] == sections(SEED)["Appendices"]
    assert FILLED.count(PENDING) == SEED.count(PENDING)
    assert f"{DONE} **Loki Service:**" in FILLED


# --- one rule at a time ---

@pytest.mark.parametrize("line", [
    "- [Grafana Dashboard](./x.json)",
    "A log line: `[ERROR] boom` at midnight.",
    "- [x] Threshold adjustments",
    "- [ ] Contact point updates",
    "- [X] New alert rules",
    "See [the guide][guide].\n\n[guide]: https://example.org/guide",
    "See [guide].\n\n[guide]: ./guide.md",
    "A footnote[^1].",
    "- Fixed it <!-- [Description] -->",
    "<!--\n- \n[Action taken]\n-->",
    "An escaped \\[bracket\\] in prose.",
    "![diagram](./diagram.png)",
], ids=["link", "code-span", "checked", "unchecked", "checked-upper", "reference-link", "shortcut-reference",
        "footnote", "comment", "multiline-comment", "escaped", "image"])
def test_no_placeholder(line):
    assert placeholders(line) == []


def test_fenced_code_holds_no_placeholders_or_headings():
    text = "## Notes\n\n```text\n[ERROR] boom\n- \n## Not a heading\n```\n\nReal text.\n"
    assert placeholders(text) == []
    assert list(sections(text)) == ["Notes"]
    assert "## Not a heading" in sections(text)["Notes"]


@pytest.mark.parametrize("line", ["- ", "-", "* ", "1. ", "- [ ]", "- [ ] ", "- <!-- to do -->"],
                         ids=["dash-space", "dash", "star", "numbered", "checkbox", "checkbox-space", "comment-only"])
def test_an_empty_bullet(line):
    assert placeholders(f"Intro\n{line}\n") == [Placeholder(2, "empty bullet", line.strip())]


@pytest.mark.parametrize(("line", "fragment"), [
    ("Took [X seconds] overall", "[X seconds]"),
    ("- [ ] [Improvement 1]", "[Improvement 1]"),
    ("| Day 1 | [TO BE FILLED] | ok |", "[TO BE FILLED]"),
    ("Ticket [see][nowhere]", "[see]"),
    ("Saw [ERROR] in the log", "[ERROR]"),  # outside a code span a log excerpt reads as a blank: quote it
], ids=["in-prose", "after-checkbox", "table-cell", "undefined-reference", "unquoted-log-excerpt"])
def test_a_bracketed_fragment(line, fragment):
    assert fragment in fragments(line)


def test_the_context_is_at_most_120_characters():
    (found,) = placeholders("- " + "word " * 40 + "[Number]")
    assert found.text == "[Number]"
    assert len(found.context) == 120


def test_a_section_of_ratings_and_single_words_has_no_sentence():
    text = ("## Deployment Quality Assessment\n\n### Code Quality\n- **Migration Reliability:** Good\n"
            "- **Rollback Capability:** Tested\n| Area | Verdict |\n|---|---|\n| Backend | OK fine |\n")
    assert lessons_learned_problems(text, ["Deployment Quality Assessment"]) == [
        "Deployment Quality Assessment: not one sentence (four words or more) or figure: ratings and single words "
        "do not say what happened"]
    written = text + "- **Error Handling:** Good: failures are logged with the reset id.\n"
    assert lessons_learned_problems(written, ["Deployment Quality Assessment"]) == []


def test_a_missing_and_an_empty_section_are_reported():
    text = "# Doc\n\n## Technical Insights ✅\n\n### What Worked Well\n<!-- Document successful aspects -->\n\n---\n"
    assert lessons_learned_problems(text, ["Technical Insights", "Monitoring Results"]) == [
        "section 'Technical Insights' is empty", "section 'Monitoring Results' is missing"]


def test_section_titles_match_whatever_the_case_and_glyphs():
    text = f"## MONITORING RESULTS {DONE} (TO BE FILLED AFTER ONE WEEK)\n\n- **Successful Resets:** 7/7\n"
    assert list(sections(text)) == ["MONITORING RESULTS"]
    assert lessons_learned_problems(text, ["Monitoring Results ✅"]) == []


def test_a_filled_row_is_accepted_in_every_date_format():
    found = actions(f"| high | Tune Promtail | DevOps Team | 2026-12-15 | {PENDING} |",
                    "| Medium | Update runbook | Backend Team | 2026/12/22 | |",
                    "| LOW | Export dashboard | Ops | 15 Dec 2026 | done |",
                    "| Critical | Page on failure | On-call | Dec 15, 2026 | |")
    assert found.problems == ()
    assert len(found.rows) == 4


def test_an_open_item_past_its_due_date_is_not_a_committed_action():
    found = actions(f"| High | Tune Promtail | DevOps Team | 2020-01-01 | {PENDING} |",
                    "| High | Add the panel | DevOps Team | 2020-01-01 | ✅ Done |",
                    "| Low | Export | Ops | 2026-12-15 | |", today=date(2026, 11, 29))
    assert found.problems == ("line 5: still open (⏳) and past its due date 2020-01-01 (today is 2026-11-29): mark "
                              "it done, or give it a new date",)
    assert actions(f"| High | Tune Promtail | DevOps Team | 2020-01-01 | {PENDING} |").problems == ()  # no today


def test_columns_are_found_by_the_header():
    text = ("## Action Items for Implementation\n\n| Owner | Due Date | Priority | Action Item |\n"
            "|---|---|---|---|\n| DevOps Team | 2026-12-15 | High | Tune Promtail |\n")
    assert action_items(text).rows == (ActionItem(5, "High", "Tune Promtail", "DevOps Team", "2026-12-15", ""),)


@pytest.mark.parametrize(("row", "problem"), [
    ("| Urgent | Tune | DevOps | 2026-12-15 | |", "line 5: priority 'Urgent' is not one of Critical, High"),
    ("| High | Tune | DevOps | next week | |", "line 5: due date 'next week' is not a date"),
    ("| High | Tune | DevOps | 2026-02-30 | |", "line 5: due date '2026-02-30' is not a date"),
    ("| High | Tune |  | 2026-12-15 | |", "line 5: owner is empty"),
    ("| High | [Action 1] | DevOps | 2026-12-15 | |", "line 5: action is a placeholder ([Action 1])"),
    ("|  | Tune | DevOps | 2026-12-15 | |", "line 5: priority is empty"),
], ids=["urgent", "next-week", "no-such-day", "no-owner", "placeholder-action", "no-priority"])
def test_a_row_that_is_not_a_committed_action(row, problem):
    assert [p for p in actions(row).problems if p.startswith(problem)] != []


@pytest.mark.parametrize(("text", "problem"), [
    ("## Overview\n\nNothing.\n", "no 'Action Items for Implementation' section"),
    ("## Action Items for Implementation\n\nTo be decided.\n", "'Action Items for Implementation' has no table"),
    ("## Action Items for Implementation\n\n" + TABLE, "no action items: add at least one row"),
], ids=["no-section", "no-table", "no-rows"])
def test_no_action_items(text, problem):
    found = action_items(text)
    assert found.rows == ()
    assert len(found.problems) == 1
    assert found.problems[0].startswith(problem)


# --- documents and links ---

def test_the_related_documentation_links_of_the_seed():
    assert document_links(SEED) == [
        ("Midnight Reset Monitoring Script", "./backend/scripts/midnight-reset-monitor.sh"),
        ("Production Rollout Guide", "./backend/PRODUCTION_ROLLOUT_EXECUTION_GUIDE.md"),
        ("Grafana Dashboard", "./monitoring/grafana/dashboards/midnight-reset-monitoring.json"),
        ("Alert Configuration", "./monitoring/grafana/provisioning/alerting/"),
    ]
    assert document_links(SEED, "No Such Section") == []


def test_missing_documents(tmp_path):
    (tmp_path / "backend").mkdir()
    (tmp_path / "backend" / "guide.md").write_text("guide")
    (tmp_path / "alerting").write_text("a file, not a directory")
    references = ["./backend/guide.md", "backend/", str(tmp_path / "backend" / "guide.md"), "https://example.org/x",
                  "./backend/guide.md#rollback", "./backend/missing.md", "./alerting/", "/nowhere/at/all.md"]
    assert missing_documents(references, tmp_path) == [
        f"./backend/missing.md (looked for {tmp_path}/backend/missing.md)",
        f"./alerting/ (looked for {tmp_path}/alerting/)",
        "/nowhere/at/all.md (looked for /nowhere/at/all.md)",
    ]


@pytest.fixture
def closed_port():
    """A loopback port that refuses connections: bound, never listening, for the test's duration."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


def test_check_links(httpserver, closed_port):
    httpserver.expect_request("/ok").respond_with_data("fine")
    httpserver.expect_request("/gone").respond_with_data("not here", status=404)
    httpserver.expect_request("/old").respond_with_data("", status=302, headers={"Location": httpserver.url_for("/ok")})
    base = f"http://{httpserver.host}:{httpserver.port}"
    problems = check_links([httpserver.url_for("/ok"), httpserver.url_for("/gone"), httpserver.url_for("/old"),
                            f"http://127.0.0.1:{closed_port}/dashboard", "mailto:ops@example.org"], timeout=2)
    assert problems[0] == f"{base}/gone: HTTP 404"
    assert re.fullmatch(rf"http://127\.0\.0\.1:{closed_port}/dashboard: unreachable \(ConnectionError: .+\)",
                        problems[1])
    assert len(problems) == 2


def test_check_links_never_shows_user_info_or_query(httpserver, closed_port):
    httpserver.expect_request("/private").respond_with_data("no", status=403)
    base = f"http://{httpserver.host}:{httpserver.port}"
    problems = check_links([f"http://user:secret@{httpserver.host}:{httpserver.port}/private?token=secret",
                            f"http://user:secret@127.0.0.1:{closed_port}/private?token=secret#secret"], timeout=2)
    assert problems[0] == f"{base}/private: HTTP 403"
    assert problems[1].startswith(f"http://127.0.0.1:{closed_port}/private: unreachable (")
    assert not [p for p in problems if "secret" in p]


def test_a_runbook_url_must_be_a_web_address_or_a_file_of_the_checkout(tmp_path):
    from opsverify.signoff_review import runbook_problems

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "runbook.md").write_text("# Midnight reset runbook\n")
    found = runbook_problems({"a": "TODO", "b": "N/A", "c": "https://wiki.example/runbook#x", "d": "",
                              "e": "docs/runbook.md#errors", "f": "docs/gone.md", "g": "https:///x"}, tmp_path)
    assert found == [f"rule a: runbook_url 'TODO' is neither an http(s) URL nor a file in the checkout ({tmp_path})",
                     f"rule b: runbook_url 'N/A' is neither an http(s) URL nor a file in the checkout ({tmp_path})",
                     "rule d has no runbook_url",
                     f"rule f: runbook_url 'docs/gone.md' is neither an http(s) URL nor a file in the checkout "
                     f"({tmp_path})",
                     "rule g: runbook_url https:///x names no host"]


@pytest.mark.parametrize("line, word", [
    ("- TBD", "TBD"), ("- **What worked:** TBD", "TBD"), ("TODO", "TODO"), ("N/A", "N/A"), ("...", "..."),
    ("See above", "See above"), ("- x", "x"), ("?", "?"), ("—", "—"), ("**Notes:** n/a.", "n/a."),
    ("- **Uptime:** 99.9%", None), ("The reset ran at 00:00 every night.", None), ("x-ray", None),
    ("- **Follow-up Required:** No", None),
])
def test_a_filler_word_is_no_answer(line, word):
    from opsverify.signoff_review import filler

    assert filler(line) == word
