"""The evidence bundle: one directory per run that judged in full (per night, or per week with --week;
named with the ticket) holding results.json (every check with its outcome and evidence), week1.md,
the HTML report and junit XML as this run left them, and SHA256SUMS over all of them."""

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from opsverify.bundle import BundleError, write_bundle
from opsverify.evidence import scrub_value
from opsverify.signoff_fill import week_summary


def bundle_name(result):
    """The bundle's directory name: the night (or the week, with --week), after the ticket."""
    run = result.run
    first = min(run.nights).isoformat()
    name = first if len(run.nights) == 1 else f"week-{first}-to-{run.night.date.isoformat()}"
    if result.kind != "nightly":  # a smoke, criteria or partial run's evidence never replaces a night's
        name = f"{name}-{result.kind}-{run.run_id}"
    return f"{run.ticket}-{name}" if run.ticket else name


class EvidenceBundle:
    def __init__(self, config):
        self.config = config
        self.result = None
        self.directory = None  # once written
        self.error = ""

    def pytest_opsverify_run_finished(self, result, session):
        self.result = result

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_sessionfinish(self, session):
        outcome = yield
        if self.result is not None and (self.result.outcomes or self.result.criteria or self.result.drills):
            self._write(session)  # after pytest-html and junitxml wrote their reports
        return outcome

    def _write(self, session):
        result, run, option = self.result, self.result.run, self.config.option
        directory = Path(run.settings.reports_dir) / bundle_name(result)
        results = {
            "title": result.title, "site": run.settings.site_name, "ticket": run.ticket, "target": run.target,
            "night": run.night.date.isoformat(), "day": run.day, "week_start": run.week_start.isoformat(),
            "status": result.status, "exit_status": int(session.exitstatus),
            "kind": result.kind, "run": run.run_id,
            "nights": {night: asdict(r) for night, r in result.records.items()},
            "week": week_summary(result.metrics, result.criteria, run.week_start),
            **({"drill": result.drill} if result.drill else {}),
            "versions": result.versions, "ledger_error": result.ledger_error or None,
            "checks": list(result.checks),
        }
        texts = {"results.json": json.dumps(scrub_value(results, run.secrets()), ensure_ascii=False, indent=1)}
        week1 = Path(run.settings.reports_dir) / "week1.md"
        if week1.is_file():  # a first smoke run has none yet
            texts["week1.md"] = week1.read_text(encoding="utf-8")
        try:
            self.directory = write_bundle(
                directory, files={"report.html": option.htmlpath, "junit.xml": option.xmlpath}, texts=texts)
        except (BundleError, OSError) as exc:
            self.error = str(exc)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_opsverify_summary_lines(self, result):
        if self.directory:
            return [(f"evidence bundle: {self.directory} (check it with: cd {self.directory} && sha256sum -c "
                     "SHA256SUMS)", False)]
        return [(f"EVIDENCE BUNDLE NOT WRITTEN: {self.error}", True)] if self.error else []
