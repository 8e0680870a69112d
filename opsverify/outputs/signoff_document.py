"""--update-doc: the sign-off document with the week filled in (opsverify.signoff_fill), after a run
that judged a night or the criteria, never when the ledger could not be updated."""

import pytest

from opsverify.signoff_fill import SignoffError, update_file


class SignoffDocument:
    def __init__(self, path):
        self.path = path
        self.done = ""  # what it did, for the terminal summary

    def pytest_opsverify_run_finished(self, result, session):
        if not self.path or result.ledger_error or not (result.judged or result.criteria):
            return
        try:
            changed = update_file(self.path, result.rows, result.metrics)
        except SignoffError as exc:
            self.done = f"NOT UPDATED: {exc}"
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            return
        # The criteria that read the document fill it first (fixtures/week.py): then this run changed it too.
        self.done = f"{'updated' if changed or result.run.week_facts.document_updated else 'already up to date'}: " \
                    f"{self.path}"

    @pytest.hookimpl(tryfirst=True)  # the document's line before the bundle's
    def pytest_opsverify_summary_lines(self, result):
        return [(f"sign-off document {self.done}", False)] if self.done else []
