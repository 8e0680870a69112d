"""pytest hooks only: options, run set-up, outcome collection, ledger, reports.

The session state lives in one RunState under config.stash; the hooks that
follow the run live in NightRecorder, registered on the plugin manager.
"""

import json
import os
import tempfile
from dataclasses import asdict, replace
from datetime import date, datetime, timedelta, timezone
from html import escape
from pathlib import Path

import pytest

from opsverify import __version__
from opsverify.clients.http import ClientError, Deadline
from opsverify.config import ConfigError, load_settings, parse_set_options
from opsverify.evidence import NOT_APPLICABLE, Evidence, scrub, scrub_value
from opsverify.night import NightError, day_number, latest_night, night_window
from opsverify.report import html_alert_replay, html_header, html_week_table, markdown_page
from opsverify.runstate import RunState
from opsverify.sandboxrun import Sandbox, SandboxError, environ_with
from opsverify.signoff import SignoffError, update_file, week_metrics
from opsverify.status import CheckOutcome, issues, label, night_status
from opsverify.waivers import WaiverError, find_waiver, load_waivers
from opsverify.week import Ledger, LedgerError, NightRecord, previous_record, week_rows

RUN_KEY = pytest.StashKey[RunState]()
EVIDENCE_KEY = pytest.StashKey[Evidence]()
JOURNAL_MARK_KEY = pytest.StashKey[int]()
SANDBOX_KEY = pytest.StashKey[Sandbox]()
SEVERITIES = ("critical", "warning")
URL_OPTIONS = ("grafana_url", "loki_url", "promtail_url", "backend_url")


def pytest_addoption(parser):
    group = parser.getgroup("opsverify", "opsverify: which site, which night, which stack")
    group.addoption("--site", metavar="PATH", help="site file (env OPSVERIFY_SITE; default sites/escashop.yml)")
    group.addoption("--night", metavar="YYYY-MM-DD",
                    help="local date whose reset is checked (env OPSVERIFY_NIGHT; default: the most recent "
                         "reset at least settle_minutes ago)")
    group.addoption("--week-start", metavar="YYYY-MM-DD", help="Day 1 of the monitoring period")
    group.addoption("--grafana-url", metavar="URL")
    group.addoption("--loki-url", metavar="URL")
    group.addoption("--promtail-url", metavar="URL")
    group.addoption("--backend-url", metavar="URL")
    group.addoption("--container", metavar="NAME", help="the backend's Docker container")
    group.addoption("--reports-dir", metavar="DIR", help="where the report, week table and ledger go")
    group.addoption("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override any setting of the site file, e.g. --set grace_minutes=10")
    group.addoption("--action", metavar="TEXT", default="", help="'Actions Taken' for this night's row")
    group.addoption("--waivers", metavar="PATH",
                    help="a YAML file of known exceptions (check, justification, approver, expires): a waived "
                         "failure makes the night a warning, never a success")
    group.addoption("--update-doc", metavar="PATH",
                    help="fill the sign-off document at PATH in place: the Week 1 table and the measured "
                         "metrics (a backup is kept as PATH.bak; everything else is left as written)")
    group.addoption("--sandbox", nargs="?", const="healthy", default=None, metavar="SCENARIO",
                    help="start the bundled sandbox stack (scenario default: healthy) and check it, "
                         "not production")
    group.addoption("--sandbox-docker", action="store_true",
                    help="with --sandbox: also run the stand-in backend container on the Docker engine "
                         "at DOCKER_HOST (never touches a container the sandbox did not create)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if config.option.help or config.option.version:
        return
    try:
        run, ledger = _start_run(config)
    except (ConfigError, NightError, LedgerError, SandboxError, WaiverError) as exc:
        raise pytest.UsageError(f"opsverify: {exc}") from None
    config.stash[RUN_KEY] = run
    reports = Path(run.settings.reports_dir)
    if not config.option.htmlpath:
        config.option.htmlpath = str(reports / "report.html")
        config.option.self_contained_html = True
    if not config.option.xmlpath:
        config.option.xmlpath = str(reports / "junit.xml")
    if not hasattr(config, "workerinput"):  # xdist workers do not write reports
        config.pluginmanager.register(NightRecorder(config, run, ledger), "opsverify-recorder")


def pytest_unconfigure(config):
    sandbox = config.stash.get(SANDBOX_KEY, None)
    if sandbox:
        sandbox.stop()


def pytest_collection_modifyitems(config, items):
    for item in items:
        severity = item.get_closest_marker("severity")
        if severity is None or not severity.args or severity.args[0] not in SEVERITIES:
            raise pytest.UsageError(f"opsverify: {item.nodeid} needs @pytest.mark.severity('critical' or "
                                    f"'warning'): the night's status depends on it")
        if not (item.get_closest_marker("nightly") or item.get_closest_marker("smoke")):
            raise pytest.UsageError(f"opsverify: {item.nodeid} is marked neither nightly nor smoke")


def _start_run(config):
    option = config.option
    cli = {
        "night": option.night, "week_start": option.week_start, "grafana_url": option.grafana_url,
        "loki_url": option.loki_url, "promtail_url": option.promtail_url, "backend_url": option.backend_url,
        "container": option.container, "reports_dir": option.reports_dir,
        **parse_set_options(option.set),
    }
    settings = load_settings(cli, site_file=option.site)
    waivers = load_waivers(option.waivers) if option.waivers else []
    now = datetime.now(timezone.utc)
    night_date = settings.night or latest_night(now, settings.reset_time, settings.timezone, settle=settings.settle)
    # A sandbox started by hand says so in the env file it writes; its runs are never production evidence.
    scenario = option.sandbox or os.environ.get("OPSVERIFY_SANDBOX")
    target = f"sandbox: {scenario}" if scenario else "production"
    if option.sandbox:
        given = [k for k in URL_OPTIONS if cli.get(k)]
        if given:
            raise ConfigError(f"--sandbox starts its own stack: drop --{given[0].replace('_', '-')}")
        sandbox = Sandbox(option.sandbox, night_date, docker=option.sandbox_docker)
        config.stash[SANDBOX_KEY] = sandbox
        sandbox_env = sandbox.start()
        sandbox_env.pop("OPSVERIFY_NIGHT", None)  # the night is ours to choose; we told the sandbox
        if "DOCKER_HOST" in sandbox_env:
            sandbox_env["OPSVERIFY_DOCKER_HOST"] = sandbox_env.pop("DOCKER_HOST")
        if settings.week_start:  # the user's Day 1 wins over the scenario's
            sandbox_env.pop("OPSVERIFY_WEEK_START", None)
        settings = load_settings(cli, environ=environ_with(sandbox_env), site_file=option.site)
    reports = Path(settings.reports_dir)
    if not reports.is_absolute():
        reports = config.rootpath / reports
    settings = replace(settings, reports_dir=str(reports))
    ledger = Ledger(reports / ("ledger-sandbox.json" if scenario else "ledger.json"))
    records = ledger.load()
    week_start = settings.week_start or min([night_date] + [date.fromisoformat(n) for n in records])
    window = night_window(night_date, settings.reset_time, settings.timezone, grace=settings.grace,
                          before=timedelta(minutes=settings.window_before_minutes),
                          after=timedelta(minutes=settings.window_after_minutes))
    run = RunState(settings=settings, night=window, day=day_number(night_date, week_start),
                   week_start=week_start, target=target, deadline=Deadline(settings.run_deadline_seconds),
                   previous=previous_record(records, night_date), waivers=waivers)
    _ensure_writable(reports)
    if option.update_doc and not Path(option.update_doc).is_file():
        raise ConfigError(f"--update-doc {option.update_doc}: no such file (give the sign-off document's path)")
    return run, ledger


def _ensure_writable(path):
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise ConfigError(f"reports directory {path} is not writable ({exc.strerror}); "
                          f"set --reports-dir or OPSVERIFY_REPORTS_DIR to a writable directory") from None


@pytest.hookimpl(optionalhook=True)
def pytest_metadata(metadata, config):
    """The run's facts in pytest-html's Environment table (pytest-metadata's hook)."""
    run = config.stash.get(RUN_KEY, None)
    if run is None:
        return
    metadata["Night"] = run.night.date.isoformat()
    metadata["Day"] = f"Day {run.day}"
    metadata["Target"] = run.target
    for name, url in run.settings.endpoints().items():
        metadata[f"{name} endpoint"] = url


class NightRecorder:
    """Follows the run: evidence per check, outcomes, the night's record, the reports."""

    def __init__(self, config, run, ledger):
        self.config, self.run, self.ledger = config, run, ledger
        self.outcomes = {}  # nodeid -> CheckOutcome
        self.nightly = set()  # nodeids of nightly checks that ran
        self.status = None
        self.rows = []
        self.versions = {}
        self.ledger_error = None
        self.unsaved = None  # the night's record, when the ledger could not take it
        self.doc_result = ""  # what --update-doc did

    # --- per check ---

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        item.stash[JOURNAL_MARK_KEY] = len(self.run.journal)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        secrets = self.run.secrets()
        severity = item.get_closest_marker("severity").args[0]
        report.severity = severity
        if call.excinfo is not None and isinstance(call.excinfo.value, ClientError):
            report.longrepr = call.excinfo.value.describe()  # the actionable text, not a requests traceback
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self._attach_evidence(item, report, secrets)
        if report.longrepr is not None:
            text = str(report.longrepr)
            if any(s in text for s in secrets):
                report.longrepr = scrub(text, secrets)
        report.sections = [(title, scrub(content, secrets)) for title, content in report.sections]
        report.user_properties.append(("severity", severity))
        return report

    def _attach_evidence(self, item, report, secrets):
        from pytest_html import extras

        attached = []
        evidence = item.stash.get(EVIDENCE_KEY, None)
        for name, value in (evidence.items if evidence else ()):
            value = scrub_value(value, secrets) if isinstance(value, (dict, list)) else scrub(value, secrets)
            attached.append(extras.json(value, name) if isinstance(value, (dict, list)) else extras.text(value, name))
        exchanges = [e.as_dict() for e in self.run.journal.since(item.stash.get(JOURNAL_MARK_KEY, 0))]
        if exchanges:
            attached.append(extras.json(scrub_value(exchanges, secrets), "HTTP exchanges"))
            report.user_properties.append(("requests", "; ".join(x["request"] for x in exchanges)[:2000]))
        report.extras = getattr(report, "extras", []) + attached

    def pytest_runtest_logreport(self, report):
        severity = getattr(report, "severity", None)
        if severity is None:
            return
        nodeid, previous = report.nodeid, self.outcomes.get(report.nodeid)
        outcome = None
        if report.skipped:
            outcome = "skipped"
        elif report.failed:
            outcome = "failed" if report.when == "call" else "error"
        elif report.when == "call" and previous is None:
            outcome = "passed"
        if outcome is None or (previous and previous.outcome in ("failed", "error")):
            return
        name = nodeid.split("::")[-1]
        reason = _one_line(report) if outcome != "passed" else ""
        if outcome == "skipped" and reason.startswith(NOT_APPLICABLE):
            outcome, reason = "n/a", reason[len(NOT_APPLICABLE):]
        if outcome in ("failed", "error"):
            waiver, expired = find_waiver(self.run.waivers, name, self.run.night.date)
            if waiver:
                outcome, reason = "waived", f"{reason} — {waiver.describe()}"
            elif expired:
                reason = f"{reason} (its waiver expired on {expired.expires.isoformat()})"
        self.outcomes[nodeid] = CheckOutcome(nodeid, name, severity, outcome, scrub(reason, self.run.secrets()))
        if "nightly" in report.keywords:
            self.nightly.add(nodeid)

    # --- end of the run ---

    def pytest_sessionfinish(self, session):
        outcomes = list(self.outcomes.values())
        self.status = night_status(outcomes)
        settings = self.run.settings
        record = None
        try:
            if self.nightly:
                record = NightRecord(
                    night=self.run.night.date.isoformat(), day=self.run.day, status=self.status,
                    issues=issues(outcomes), actions=self.config.option.action or "",
                    reset_duration_ms=self.run.facts.get("reset_duration_ms"),
                    run_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    report=str(self.config.option.htmlpath), suite_version=__version__, target=self.run.target,
                    alerts=self.run.facts.get("alerts", {}), promtail=self.run.facts.get("promtail", {}),
                )
                records = self.ledger.record(record)
            else:
                records = self.ledger.load()
        except LedgerError as exc:
            self.ledger_error = str(exc)
            self.unsaved = json.dumps(asdict(record), ensure_ascii=False) if record else None
            records = {}
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        self.rows = week_rows(records, self.run.week_start)
        _write_text(Path(settings.reports_dir) / "week1.md", markdown_page(self.run, self.rows))
        if self.config.option.update_doc and not self.ledger_error:
            try:
                changed = update_file(self.config.option.update_doc, self.rows, week_metrics(records, self.rows))
                self.doc_result = f"{'updated' if changed else 'already up to date'}: {self.config.option.update_doc}"
            except SignoffError as exc:
                self.doc_result = f"NOT UPDATED: {exc}"
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if outcomes:  # a collect-only run asks nothing of the systems
            self.versions = self.run.versions()

    def pytest_html_report_title(self, report):
        report.title = (f"opsverify — {self.run.settings.site_name} night {self.run.night.date.isoformat()} "
                        f"(Day {self.run.day})" + (" — SANDBOX" if self.run.is_sandbox else ""))

    def pytest_html_results_summary(self, prefix, summary, postfix, session):
        prefix.append(html_header(self.run, self.status, self.versions))
        if self.ledger_error:
            prefix.append(f'<p id="ledger-error"><strong>Ledger not updated:</strong> {escape(self.ledger_error)}</p>')
        prefix.append(html_week_table(self.rows))
        prefix.append(html_alert_replay(self.run.facts.get("alerts")))

    def pytest_html_results_table_header(self, cells):
        cells.insert(2, '<th class="sortable" data-column-type="severity">Severity</th>')

    def pytest_html_results_table_row(self, report, cells):
        cells.insert(2, f'<td class="col-severity">{getattr(report, "severity", "")}</td>')

    def pytest_terminal_summary(self, terminalreporter):
        write = terminalreporter.write_line
        terminalreporter.write_sep("=", "opsverify")
        sandbox = " [SANDBOX: not production evidence]" if self.run.is_sandbox else ""
        write(f"night {self.run.night.date.isoformat()} (Day {self.run.day}): {label(self.status)}{sandbox}")
        for line in issues(list(self.outcomes.values())):
            write(f"  - {line}")
        if self.ledger_error:
            write(f"LEDGER NOT UPDATED: {self.ledger_error}", red=True)
            if self.unsaved:
                write(f"the night's record, to add by hand: {self.unsaved}")
        elif self.nightly:
            write(f"ledger: {self.ledger.path}")
        write(f"week table: {Path(self.run.settings.reports_dir) / 'week1.md'}")
        if self.doc_result:
            write(f"sign-off document {self.doc_result}")


def _one_line(report):
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr or "")
    if report.skipped and isinstance(report.longrepr, tuple):
        text = report.longrepr[2]
    text = text.removeprefix("Skipped: ").removeprefix("Failed: ")
    return " ".join(text.split())[:1000]


def _write_text(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temp, path)
