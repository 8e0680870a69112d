"""reports/week1.md: the Week 1 table in the sign-off document's format, with the week's metrics and
the completion criteria decided."""

import os
import tempfile
from pathlib import Path

from opsverify.report import markdown_page


class WeekTable:
    def pytest_opsverify_run_finished(self, result, session):
        if not (result.judged or result.criteria):  # a smoke run: it stays as the last night left it
            return
        _write_text(Path(result.run.settings.reports_dir) / "week1.md",
                    markdown_page(result.run, result.rows, result.metrics, list(result.criteria)))


def _write_text(path, text):
    """Whole or not at all: a reader never sees half a table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temp, path)
