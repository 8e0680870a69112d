"""The HTML report's own parts (pytest-html's hooks): its title, the run's facts, the Week 1 table, the
week's metrics, the criteria and the night's alert replay (a drill's timeline instead) above
pytest-html's results table, and a severity column in that table."""

from html import escape

from opsverify.evidence import NOT_APPLICABLE
from opsverify.report import (html_alert_replay, html_criteria, html_drill, html_header, html_week_metrics,
                              html_week_table)
from opsverify.result import run_title


class HtmlSummary:
    def __init__(self, run):
        self.run = run  # pytest-html asks for the title when the session starts, before there is a result
        self.result = None

    def pytest_opsverify_run_finished(self, result, session):
        self.result = result

    def pytest_html_report_title(self, report):
        report.title = run_title(self.run)

    def pytest_html_results_summary(self, prefix, summary, postfix, session):
        result = self.result
        if result is None:
            return
        prefix.append(html_header(result.run, result.status, result.versions))
        if result.ledger_error:
            prefix.append('<p id="ledger-error"><strong>Ledger not updated:</strong> '
                          f'{escape(result.ledger_error)}</p>')
        if result.kind == "drill":  # a drill judges no night: its timeline is the report
            prefix.append(html_drill(result.drill))
        if result.kind in ("drill", "lint"):  # neither judges a night: the week is not theirs to show
            return
        prefix.append(html_week_table(result.rows))
        prefix.append(html_week_metrics(result.metrics))
        prefix.append(html_criteria(list(result.criteria)))
        prefix.append(html_alert_replay(result.alerts))

    def pytest_html_results_table_header(self, cells):
        cells.insert(2, '<th class="sortable" data-column-type="severity">Severity</th>')

    def pytest_html_results_table_row(self, report, cells):
        cells.insert(2, f'<td class="col-severity">{getattr(report, "severity", "")}</td>')
        if not_applicable_reason(report) is not None:
            # Still "Skipped" to pytest-html, which sorts by that word (after the failures, before the
            # passes) and counts it; the page shows "n/a" (report.py's STYLE).
            cells[0] = '<td class="col-result not-applicable">Skipped</td>'

    def pytest_html_results_table_html(self, report, data):
        reason = not_applicable_reason(report)
        if reason is not None:  # the reason alone, not pytest's (path, line, 'Skipped: ...') tuple
            data[:] = [escape(f"Does not apply here: {reason}")]


def not_applicable_reason(report):
    """Why a check does not apply (opsverify.evidence.not_applicable), or None for any other report."""
    longrepr = report.longrepr
    if not report.skipped or not isinstance(longrepr, tuple) or len(longrepr) != 3:
        return None
    text = str(longrepr[2]).removeprefix("Skipped: ")
    return text[len(NOT_APPLICABLE):] if text.startswith(NOT_APPLICABLE) else None
