"""Running the suite and the sandbox as separate processes, as cron and an operator would.

How to write a dated test: a literal date is a time bomb once the clock, Loki's retention or
reject_old_samples can overtake it. Either set both clocks to one instant — `nightly(...,
"--sandbox=...")` and `start_sandbox(...)` give the sandbox and the suite `--now` (NOW by default, or
`now=...` for the instant under test), so NIGHT and every date derived from it stay the present for
both sides — or derive the night from the real clock (live runs, which cannot set the Docker engine's
clock, do). Write other dates relative to NIGHT/NOW (`day(-2)`), never as bare literals beside them.
"""

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-11-29T06:00:00+08:00"  # both clocks read this when a dated run starts: six hours after NIGHT's reset
NIGHT = "2026-11-29"
WEEK_START = "2026-11-23"  # Day 1: NIGHT is Day 7
PARTIAL = "not judged in full"  # the issue a record made by a partial run (-k ...) carries
SECRETS = {
    "SANDBOX_GRAFANA_PASSWORD": "gpw-E2E-SECRET-1137",
    "SANDBOX_GRAFANA_TOKEN": "gtok-E2E-SECRET-2281",
    "SANDBOX_BACKEND_TOKEN": "jwt-E2E-SECRET-3390",
}


def clean_env(**extra):
    """This process's environment without any OPSVERIFY_/SANDBOX_ setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSVERIFY_", "SANDBOX_", "PYTEST_"))}
    env.update(extra)
    return env


def day(offset, night=NIGHT):
    """The ISO date `offset` days from `night`."""
    return (date.fromisoformat(night) + timedelta(days=offset)).isoformat()


def nightly(reports, *args, env=None, marks="nightly and not criteria", now=NOW, cache=None):
    """`pytest -m nightly` from the project root, as cron would run it. The completion criteria, which join
    the nightly run on Day 7, have their own tests (test_week_e2e.py). With --sandbox, the suite and the
    sandbox it starts both read `now` (None: the real clock); a sandbox started by hand hands its clock to
    the suite through its settings (OPSVERIFY_NOW). `cache`: pytest's cache directory (for --lf), else none."""
    clock = [f"--now={now}"] if now and any(a.startswith("--sandbox=") for a in args) else []
    cached = ["-o", f"cache_dir={cache}"] if cache else ["-p", "no:cacheprovider"]
    command = [sys.executable, "-m", "pytest", "-m", marks, *cached,
               f"--reports-dir={reports}", f"--week-start={WEEK_START}", *clock, *args]
    return subprocess.run(command, cwd=ROOT, env=env or clean_env(**SECRETS), capture_output=True, text=True,
                          encoding="utf-8", timeout=300)


class Outputs:
    """What a run left: its ledger, its parsed HTML report, its console."""

    def __init__(self, reports, result, ledger="ledger-sandbox.json"):
        self.reports, self.result = reports, result
        self.ledger = json.loads((reports / ledger).read_text(encoding="utf-8"))["nights"]
        self.page = BeautifulSoup((reports / "report.html").read_text(encoding="utf-8"), "html.parser")

    def record(self, night=NIGHT):
        return self.ledger[night]

    def week_row(self, day):
        row = self.page.select("#week1 tbody tr")[day - 1]
        return [td.get_text(" ", strip=True) for td in row.find_all("td")]

    def everything(self):
        """The console and every file the run wrote (the evidence bundle's included), as one text."""
        texts = [self.result.stdout, self.result.stderr]
        texts += [p.read_text(encoding="utf-8") for p in sorted(self.reports.rglob("*")) if p.is_file()]
        return "\n".join(texts)


def scenario(tmp_path, name, *args):
    reports = tmp_path / "reports"
    result = nightly(reports, f"--sandbox={name}", f"--night={NIGHT}", *args)
    return Outputs(reports, result)


def start_sandbox(tmp_path, name, *args, now=NOW):
    """A sandbox process and the OPSVERIFY_* values it wrote; args may set --night. Its clock reads `now`
    when it starts (not live: the Docker engine's clock is the real one)."""
    env_file = tmp_path / f"{name}.env"
    clock = ["--now", now] if now and "--live" not in args else []
    process = subprocess.Popen([sys.executable, "-m", "sandbox", "--env-file", str(env_file), *clock, *args],
                               cwd=ROOT, env=clean_env(**SECRETS), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    said = []  # what it printed before it was ready (the faults it plays, or why it stopped)
    for line in process.stdout:
        if line.startswith("sandbox ready:"):
            values = dict(item.split("=", 1) for item in env_file.read_text().splitlines() if "=" in item)
            return process, values
        said.append(line)
    process.wait(10)
    return process, "".join(said)
