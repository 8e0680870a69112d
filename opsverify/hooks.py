"""The project's own hooks, declared as pytest-html declares its own: an output is a plugin that
implements them, registered in pytest_configure. A new format is a new module of opsverify/outputs/."""

import pytest


@pytest.hookspec
def pytest_opsverify_run_finished(result, session):
    """The run is over and its nights' records are in the ledger: make an output of `result`
    (opsverify.result.RunResult, built once, not to be changed). Called before pytest writes its own
    reports (the HTML report, junit XML); an output that fails sets session.exitstatus and says why."""


@pytest.hookspec
def pytest_opsverify_summary_lines(result):
    """Lines an output adds at the end of the opsverify section of the terminal summary (what it wrote,
    or why it could not): a list of (text, red)."""
