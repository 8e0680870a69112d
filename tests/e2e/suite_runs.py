"""Running the suite and the sandbox as separate processes, as cron and an operator would."""

import json
import os
import subprocess
import sys
from pathlib import Path

from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parents[2]
NIGHT = "2026-11-29"
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


def nightly(reports, *args, env=None, marks="nightly and not criteria"):
    """`pytest -m nightly` from the project root, as cron would run it. The completion criteria, which join
    the nightly run on Day 7, have their own tests (test_week_e2e.py)."""
    command = [sys.executable, "-m", "pytest", "-m", marks, "-p", "no:cacheprovider",
               f"--reports-dir={reports}", "--week-start=2026-11-23", *args]
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


def start_sandbox(tmp_path, name, *args):
    """A sandbox process and the OPSVERIFY_* values it wrote; args may set --night."""
    env_file = tmp_path / f"{name}.env"
    process = subprocess.Popen([sys.executable, "-m", "sandbox", "--env-file", str(env_file), *args], cwd=ROOT,
                               env=clean_env(**SECRETS), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    said = []  # what it printed before it was ready (the faults it plays, or why it stopped)
    for line in process.stdout:
        if line.startswith("sandbox ready:"):
            values = dict(item.split("=", 1) for item in env_file.read_text().splitlines() if "=" in item)
            return process, values
        said.append(line)
    process.wait(10)
    return process, "".join(said)
