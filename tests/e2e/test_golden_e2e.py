"""Golden outputs: what a run writes, byte for byte once its volatile parts are normalised.

Each case runs the suite against the sandbox on the fixed clock and compares every output a
person reads or a tool parses -- the ledger, week1.md, the evidence bundle's results.json, the
sign-off document, the terminal summary and the report's own sections -- with the files under
tests/data/golden/<case>/. A change of output is then a reviewed diff of those files, not an
accident of a refactoring. Set OPSVERIFY_UPDATE_GOLDEN=1 to write them anew (and read the diff).

What varies from run to run and is normalised: loopback ports, the temporary directory, the
run's id, the seconds of a timestamp the running clock gives, HTTP timings and body digests, the
query statistics Loki computes from its own timing, and pytest's duration line.
"""

import difflib
import json
import os
import re
import shutil
from datetime import datetime

import pytest
from bs4 import BeautifulSoup

from opsverify.markdown import escape
from suite_runs import NIGHT, NOW, ROOT, nightly

GOLDEN = ROOT / "tests" / "data" / "golden"
UPDATE = os.environ.get("OPSVERIFY_UPDATE_GOLDEN") == "1"
NOW_EPOCH = int(datetime.fromisoformat(NOW).timestamp())
DOC = "STEP8_LESSONS_LEARNED.md"
REPORT_SECTIONS = ("#sandbox-banner", "#night-facts", "#week1", "#week-metrics", "#alert-effectiveness",
                   "#criteria", "#alert-replay")
CASES = {
    # Day 7 as cron runs it: the six earlier nights backfilled, the criteria, the document filled.
    "healthy-week": ("--sandbox=healthy", "--week"),
    "failed-night": ("--sandbox=failed-night",),
    "rule-wrong-route": ("--sandbox=rule-wrong-route",),
    "loki-short-retention": ("--sandbox=loki-short-retention",),
}

_VOLATILE = [
    (re.compile(r"(127\.0\.0\.1|localhost):\d+"), r"\1:PORT"),
    (re.compile(r"http_listen_port: \d+"), "http_listen_port: PORT"),
    (re.compile(r'"run": "[0-9a-f]{8}"'), '"run": "RUN"'),
    (re.compile(r"\(run [0-9a-f]{8}\)|\([0-9a-f]{8}\)"), "(RUN)"),
    (re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:)\d\d(\.\d+)?([+-]\d\d:\d\d|Z)"), r"\1SS\3"),
    (re.compile(r'(\\?"(bytesProcessedPerSecond|linesProcessedPerSecond|execTime|queueTime)\\?":)[0-9.e-]+'),
     r'\1N'),
    # instants the running clock gives, in the hour after NOW: epoch seconds, nanoseconds, fractions
    (re.compile(r"\b(\d{10})(\d{9})?(\.\d+)?\b"), lambda m: "NOW" if 0 <= int(m[1]) - NOW_EPOCH < 3600 else m[0]),
    (re.compile(r" in \d+\.\d+s( \(\d+:\d\d:\d\d\))?$", re.M), " in Ns"),
    (re.compile(r'"(elapsed_ms|duration_seconds)": [0-9.]+'), r'"\1": N'),
    (re.compile(r'(\\"evaluationTime\\":)[0-9.e-]+'), r'\1N'),
    # an HTTP exchange's body is what the system sent (its shape is the clients' tests' business), and
    # carries the timings Loki and Grafana compute; the request, status and check outcome stay
    (re.compile(r'^(\s*"body": )".*"(,?)$', re.M), r'\1"BODY"\2'),
    (re.compile(r'"digest": "[0-9a-f]{64}"'), '"digest": "SHA256"'),  # of bodies that carry Loki's timings
]


def normalise(text, tmp_path, run_id=None):
    # The temporary directory, also as Markdown shows it (escaped: week1.md's criteria lines).
    text = text.replace(str(tmp_path), "TMP").replace(escape(str(tmp_path)), "TMP")
    if run_id:
        text = text.replace(run_id, "RUN")
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def _report_sections(path):
    page = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    parts = [f"title: {page.title.get_text(strip=True)}"]
    for selector in REPORT_SECTIONS:
        for element in page.select(selector):
            rows = element.select("tr") or [element]
            parts.append(f"{selector}:\n" + "\n".join(
                " | ".join(cell.get_text(" ", strip=True) for cell in row.find_all(["th", "td"]))
                or row.get_text(" ", strip=True) for row in rows))
    return "\n\n".join(parts) + "\n"


def _terminal(stdout):
    """From the opsverify section on, without the rules pytest pads to the terminal's width (their
    length follows the paths and the duration inside them) and without pytest's short test summary
    (cut to the terminal's width, and not cut where the environment says CI)."""
    start = stdout.index("= opsverify =")
    text = re.sub(r"(?m)^[=-]+ (.*?) [=-]+$", r"\1", stdout[stdout.rindex("\n", 0, start) + 1:])
    return "".join(line for line in text.splitlines(keepends=True)
                   if not line.startswith(("FAILED ", "ERROR ", "short test summary info")))


def outputs(tmp_path, args):
    """{file name: normalised text} of one run."""
    checkout = tmp_path / "escashop-repo"
    shutil.copytree(ROOT / "sandbox" / "escashop-repo", checkout)
    reports = tmp_path / "reports"
    update = [f"--update-doc={checkout / DOC}"] if "--week" in args else []
    result = nightly(reports, f"--night={NIGHT}", *args, *update, marks="nightly")
    ledger = json.loads((reports / "ledger-sandbox.json").read_text(encoding="utf-8"))
    run_id = ledger["nights"][NIGHT]["run"]
    bundle = next(p for p in reports.iterdir() if p.is_dir())
    texts = {
        "ledger-sandbox.json": (reports / "ledger-sandbox.json").read_text(encoding="utf-8"),
        "week1.md": (reports / "week1.md").read_text(encoding="utf-8"),
        "results.json": (bundle / "results.json").read_text(encoding="utf-8"),
        "bundle.txt": "".join(f"{p.name}\n" for p in sorted(bundle.iterdir())),
        "report-sections.txt": _report_sections(reports / "report.html"),
        "terminal.txt": _terminal(result.stdout),
    }
    if update:
        texts[DOC] = (checkout / DOC).read_text(encoding="utf-8")
    return {name: normalise(text, tmp_path, run_id) for name, text in texts.items()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_outputs_match_their_golden_files(tmp_path, case):
    written = outputs(tmp_path, CASES[case])
    directory = GOLDEN / case
    if UPDATE:
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        for name, text in written.items():
            (directory / name).write_text(text, encoding="utf-8")
    expected = {p.name: p.read_text(encoding="utf-8") for p in sorted(directory.iterdir())}
    assert sorted(written) == sorted(expected), f"{case}: the run wrote other outputs than its golden files"
    for name, text in written.items():
        diff = list(difflib.unified_diff(expected[name].splitlines(), text.splitlines(), "golden", "this run",
                                         lineterm="", n=1))
        assert not diff, (f"{case}/{name} differs from tests/data/golden/{case}/{name} (if the change is meant, "
                          "rerun with OPSVERIFY_UPDATE_GOLDEN=1 and review the diff):\n" + "\n".join(diff[:40]))
