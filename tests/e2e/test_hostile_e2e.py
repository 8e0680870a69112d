"""Interrupted runs and hostile input (issue 11): the evidence never lies, leaks or breaks."""

import json
import re
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from suite_runs import NIGHT, NOW, ROOT, SECRETS, WEEK_START, Outputs, clean_env, day, nightly, start_sandbox


def interrupted_run(reports):
    """`pytest -m nightly --sandbox=failed-night`, interrupted (SIGINT, as Ctrl-C or `timeout -s INT`) once
    its first checks have run, before the reset's own checks; the backend is slow so that it cannot end first."""
    command = [sys.executable, "-m", "pytest", "-m", "nightly and not criteria", "-p", "no:cacheprovider",
               f"--reports-dir={reports}", f"--week-start={WEEK_START}", f"--now={NOW}", "--sandbox=failed-night",
               f"--night={NIGHT}", "--sandbox-fault=backend=slow"]
    process = subprocess.Popen(command, cwd=ROOT, env=clean_env(**SECRETS, PYTHONUNBUFFERED="1"),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8")
    said = []
    for line in process.stdout:
        said.append(line)
        if line.startswith("checks/test_alert_replay.py"):
            process.send_signal(signal.SIGINT)
            break
    said += process.stdout.readlines()
    process.wait(120)
    return process.returncode, "".join(said)


def night_record(reports):
    """The night's record in the ledger (an interrupted run may leave no report to read it from)."""
    return json.loads((reports / "ledger-sandbox.json").read_text(encoding="utf-8"))["nights"][NIGHT]


def test_an_interrupted_run_never_records_a_green_night(tmp_path):
    reports = tmp_path / "reports"
    code, said = interrupted_run(reports)
    # 2: interrupted. (pytest's own report of the interrupt can crash on a frame without a line number,
    # then it exits 1 or 3: the run still did not finish, and the same holds.)
    assert code in (1, 2, 3) and "KeyboardInterrupt" in said, said[-3000:]
    if not (reports / "ledger-sandbox.json").exists():
        return  # a run that did not finish may write no record at all
    record = night_record(reports)
    assert (record["status"], record["complete"]) == ("warning", False), record
    assert record["issues"][-1].startswith("not judged in full"), record["issues"]
    assert "test_reset_completed" not in " ".join(record["checks"])  # it never ran


def test_an_interrupted_run_does_not_overturn_a_failed_night(tmp_path):
    reports = tmp_path / "reports"
    failed = Outputs(reports, nightly(reports, "--sandbox=failed-night", f"--night={NIGHT}")).record()
    assert failed["status"] == "failed"
    code, said = interrupted_run(reports)
    assert code in (1, 2, 3), said[-3000:]
    record = night_record(reports)
    assert (record["status"], record["complete"]) == ("failed", True)
    assert [i.split(":")[0] for i in record["issues"]] == [i.split(":")[0] for i in failed["issues"]]


def test_a_malformed_waiver_stops_the_run_before_any_check(tmp_path):
    waivers = tmp_path / "waivers.yml"
    waivers.write_text("- check: [test_reset_completed]\n  justification: known\n  approver: lead\n"
                       "  expires: 2099-01-01\n", encoding="utf-8")
    reports = tmp_path / "reports"
    result = nightly(reports, "--sandbox=failed-night", f"--night={NIGHT}", f"--waivers={waivers}")
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    assert f"waiver file {waivers}, line 1: check must be one text value, not a list" in result.stderr
    assert not (reports / "ledger-sandbox.json").exists() and not (reports / "week1.md").exists()


def test_a_credential_from_a_crlf_env_file_stops_the_run_unechoed(tmp_path, sandboxes):
    process, values = start_sandbox(tmp_path, "crlf", f"--night={NIGHT}")
    sandboxes.append(process)
    # The cron line sources an env file saved on Windows: each value ends with \r.
    env = clean_env(**{k: v for k, v in values.items() if k != "OPSVERIFY_NIGHT"},
                    OPSVERIFY_GRAFANA_TOKEN=SECRETS["SANDBOX_GRAFANA_TOKEN"] + "\r")
    reports = tmp_path / "reports"
    result = nightly(reports, f"--night={NIGHT}", env=env)
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    assert "OPSVERIFY_GRAFANA_TOKEN contains a carriage return" in result.stderr
    said = result.stdout + result.stderr
    assert SECRETS["SANDBOX_GRAFANA_TOKEN"] not in said and "E2E-SECRET" not in said
    assert not (reports / "ledger-sandbox.json").exists()


# A failure line as a hostile or broken backend could print it: HTML, Markdown, terminal escapes (clear
# screen, window title, colour), NUL, a bidi override, and 256 KB of text (within Loki's line limit).
HOSTILE = ('<script>alert("pwned")</script> **bold** | a cell | \x1b[2J\x1b]0;pwned\x07\x00\x1b[31m red \u202e'
           + "A" * 256 * 1024)
CONTROL = [chr(c) for c in (*range(0, 9), *range(11, 32), 127)] + ["\u202e"]


def sane_outputs(reports, result):
    """The run's Outputs, once every file it wrote parses (JSON, XML), holds no control character, and is
    bounded (a normal night: ~1.2 MB of HTML), and the console holds none either."""
    files = [p for p in reports.rglob("*") if p.is_file() and not p.name.endswith(".lock")]
    for path in files:
        text = path.read_bytes().decode("utf-8")
        assert not [c for c in CONTROL if c in text], (path, [c for c in CONTROL if c in text])
        if path.suffix == ".json":
            json.loads(text)
        if path.suffix == ".xml":
            ET.fromstring(text)
    assert not [c for c in CONTROL if c in result.stdout + result.stderr]
    assert max(p.stat().st_size for p in files) < 3_000_000 and sum(p.stat().st_size for p in files) < 12_000_000
    out = Outputs(reports, result)
    assert not [s for s in SECRETS.values() if s in out.everything()]
    return out


def test_a_hostile_night_leaves_valid_bounded_outputs_and_no_secret(tmp_path, sandboxes):
    line = tmp_path / "error.txt"
    line.write_text(HOSTILE, encoding="utf-8")
    process, values = start_sandbox(tmp_path, "hostile", "--scenario=failed-night", f"--night={NIGHT}",
                                    f"--var=error=@{line}")
    sandboxes.append(process)
    assert isinstance(values, dict), values
    reports = tmp_path / "reports"
    doc = tmp_path / "signoff.md"
    doc.write_bytes((ROOT / "tests" / "data" / "signoff-seed.md").read_bytes())
    result = nightly(reports, f"--night={NIGHT}", f"--update-doc={doc}",
                     env=clean_env(**{k: v for k, v in values.items() if k != "OPSVERIFY_NIGHT"}))
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    out = sane_outputs(reports, result)
    assert out.record()["status"] == "failed"
    # The escapes are shown, not played; the line is cut, saying so.
    issue = next(i for i in out.record()["issues"] if i.startswith("test_no_unrecovered_failure"))
    assert "\\x1b[2J\\x1b]0;pwned\\x07\\x00\\x1b[31m red \\u202e" in issue and "more characters cut" in issue
    # The HTML is text, never markup; the Markdown table keeps its columns.
    assert not any("pwned" in (script.string or "") for script in out.page.find_all("script"))
    # In Markdown (week1.md, the document's table and its Day 7 entry) the line's HTML and Markdown are
    # escaped, each issue is one short line, and the table keeps its five columns.
    text = doc.read_text(encoding="utf-8")
    for markdown in ((reports / "week1.md").read_text(encoding="utf-8"), text):
        row = next(r for r in markdown.splitlines() if r.startswith("| Day 7"))
        assert len(re.split(r"(?<!\\)\|", row)) == 7  # five cells between the outer pipes
        assert "&lt;script&gt;" in row and "<script" not in markdown and "**bold**" not in markdown
        assert len(row) < 1500
    entry = text[text.index("#### Day 7 Issues"):].splitlines()[1]
    assert entry.startswith("- **Issue:** ") and "&lt;script&gt;alert(\"pwned\")&lt;/script&gt;…" in entry


BOMB = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
    f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


def test_an_alias_bomb_in_the_site_or_waiver_file_stops_the_run_at_once(tmp_path):
    site = tmp_path / "site.yml"
    site.write_text((ROOT / "sites" / "escashop.yml").read_text(encoding="utf-8") + BOMB.replace("a:", "zz:", 1),
                    encoding="utf-8")
    waivers = tmp_path / "waivers.yml"
    waivers.write_text(BOMB, encoding="utf-8")
    for option, said in ((f"--site={site}", f"site file {site}: not valid YAML"),
                         (f"--waivers={waivers}", f"waiver file {waivers}: not valid YAML")):
        result = nightly(tmp_path / "reports", "--sandbox=healthy", f"--night={NIGHT}", option)
        assert result.returncode == 4, result.stderr[-2000:]
        assert f"{said}: its aliases expand to more than 200,000 values" in result.stderr
        assert len(result.stderr) < 5000


def test_a_night_older_than_lokis_retention_is_not_judged_a_missing_reset(tmp_path):
    # Loki keeps 72 hours here (loki-short-retention); the night is four days old on both clocks.
    reports = tmp_path / "reports"
    result = nightly(reports, "--sandbox=loki-short-retention", f"--night={day(-4)}", "-k", "test_reset")
    record = Outputs(reports, result).record(day(-4))
    assert record["status"] == "warning" and record["reset"] == "", record["issues"]
    # Every reset check says it could not see (⚠️), none that the queue was not reset (❌).
    assert all(i.startswith(("not checked: ", "not judged in full")) for i in record["issues"]), record["issues"]
    assert f"night {day(-4)} is older than Loki's retention (3 days, http://127.0.0.1:" in record["issues"][0]
    assert "/config): Loki has deleted its lines" in record["issues"][0]


def test_the_document_keeps_a_humans_words_by_date_its_pipes_and_its_mode(tmp_path):
    doc = tmp_path / "STEP8_LESSONS_LEARNED.md"
    doc.write_bytes((ROOT / "tests" / "data" / "signoff-seed.md").read_bytes())
    doc.chmod(0o664)
    reports = tmp_path / "reports"
    first = nightly(reports, "--sandbox=failed-night", f"--night={NIGHT}", f"--update-doc={doc}",
                    "--action=restarted postgres | cleared cache")
    assert "sign-off document updated" in first.stdout, first.stdout[-3000:]
    row = f"| Day 7 | {NIGHT} | ❌ Failed |"
    line = next(x for x in doc.read_text(encoding="utf-8").splitlines() if x.startswith(row))
    assert line.endswith("| restarted postgres \\| cleared cache |") and doc.stat().st_mode & 0o777 == 0o664
    # Day 1 moves a day later: the night and the human's words move to Day 6 together.
    nightly(reports, "--sandbox=failed-night", f"--night={NIGHT}", f"--update-doc={doc}", f"--week-start={day(-5)}")
    text = doc.read_text(encoding="utf-8")
    assert f"| Day 6 | {NIGHT} | ❌ Failed |" in text and text.count("restarted postgres \\| cleared cache") == 1
    assert next(x for x in text.splitlines() if x.startswith(f"| Day 6 | {NIGHT}")).endswith(
        "| restarted postgres \\| cleared cache |")
    # A read-only document is not filled: the run says so and fails.
    doc.chmod(0o444)
    before = doc.read_bytes()
    third = nightly(reports, "--sandbox=failed-night", f"--night={NIGHT}", f"--update-doc={doc}",
                    f"--week-start={day(-6)}")
    assert third.returncode == 1 and "sign-off document NOT UPDATED:" in third.stdout and "read-only" in third.stdout
    assert doc.read_bytes() == before and doc.stat().st_mode & 0o777 == 0o444


def test_two_sites_in_one_reports_directory_do_not_mix(tmp_path):
    reports = tmp_path / "reports"
    nightly(reports, "--sandbox=failed-night", f"--night={NIGHT}")
    other = nightly(reports, "--sandbox=healthy", f"--night={NIGHT}", "--set", "site_name=escashop-staging")
    assert other.returncode == 4
    assert "holds the nights of site 'escashop', not of 'escashop-staging'" in other.stderr
    assert night_record(reports)["status"] == "failed"  # the staging run's ✅ did not land on it


def test_a_loki_that_redirects_is_not_followed_and_the_outputs_stay_sane(tmp_path):
    reports = tmp_path / "reports"
    result = nightly(reports, "--sandbox=healthy", f"--night={NIGHT}", "--sandbox-fault=loki=redirect")
    assert result.returncode == 1, result.stdout[-3000:]
    out = sane_outputs(reports, result)
    assert "SANDBOX-METADATA-LEAK" not in out.everything()
    issue = next(i for i in out.record()["issues"] if i.startswith("test_reset_completed"))
    assert "answered 302 Found, redirecting to http://localhost:" in issue


@pytest.mark.parametrize("args, said", [
    (["--loki-url=http://169.254.169.254"], "a link-local or cloud metadata address"),
    ([f"--night={day(1)}"], f"--night {day(1)}: its reset has not happened yet"),
])
def test_a_url_or_night_that_cannot_be_right_stops_the_run_at_start(tmp_path, args, said):
    reports = tmp_path / "reports"
    sandbox = [] if args[0].startswith("--loki-url") else ["--sandbox=healthy"]
    result = nightly(reports, *sandbox, *args)
    assert result.returncode == 4 and said in result.stderr, result.stderr[-2000:]
    assert not (reports / "ledger-sandbox.json").exists() and not (reports / "ledger.json").exists()

