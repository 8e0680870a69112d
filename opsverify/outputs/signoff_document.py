"""--update-doc: the sign-off document with the week filled in (opsverify.signoff_fill: the Week 1 table,
the metrics; opsverify.signoff_progress: dates, status, Day N issues, the criteria boxes), after a run that
judged a night or the criteria, never when the ledger could not be updated."""

from pathlib import Path

import pytest

from opsverify.outputs.evidence_bundle import bundle_name
from opsverify.signoff_fill import SignoffError, update_file
from opsverify.signoff_progress import hand_ticked_against, progress


class SignoffDocument:
    def __init__(self, path):
        self.path = path
        self.done = ""  # what it did, for the terminal summary
        self.disagreements = []  # boxes a human ticked that this run's criteria contradict

    def pytest_opsverify_run_finished(self, result, session):
        if not self.path or result.ledger_error or not (result.judged or result.criteria):
            return
        run = result.run
        week = progress(result.rows, result.records, run.week_start,
                        criteria={o.name: o.outcome for o in result.criteria},
                        today=run.night.local(run.clock.now()).date(), evidence=bundle_name(result))
        try:
            changed = update_file(self.path, result.rows, result.metrics, week)
            self.disagreements = hand_ticked_against(Path(self.path).read_text(encoding="utf-8"), week.criteria)
        except (SignoffError, OSError, UnicodeDecodeError) as exc:
            self.done = f"NOT UPDATED: {exc}"
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            return
        # The criteria that read the document fill it first (fixtures/week.py): then this run changed it too.
        self.done = f"{'updated' if changed or run.week_facts.document_updated else 'already up to date'}: " \
                    f"{self.path}"

    @pytest.hookimpl(tryfirst=True)  # the document's line before the bundle's
    def pytest_opsverify_summary_lines(self, result):
        lines = [(f"sign-off document {self.done}", False)] if self.done else []
        return lines + [(f"  sign-off document, {problem}", True) for problem in self.disagreements]
