"""pytest hooks only: options, run set-up, outcome collection, the ledger, and the RunResult.

The session state lives in one RunState under config.stash (opsverify.stash); the hooks that follow
the run live in RunRecorder, which at the end builds one RunResult (opsverify.result) and hands it to
the outputs (opsverify/outputs/), each a plugin of its own, through pytest_opsverify_run_finished
(opsverify.hooks).
"""

import json
import os
import re
import tempfile
import uuid
from dataclasses import asdict, replace
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from opsverify.activation import requested
from opsverify.clients.http import ClientError, Deadline
from opsverify.clock import RunClock, parse_instant
from opsverify.config import ConfigError, load_settings, parse_set_options
from opsverify.drill import REFUSAL_MARGIN, refusal_window
from opsverify.evidence import MAX_TEXT_CHARS, NOT_APPLICABLE, scrub, scrub_value
from opsverify.night import NightError, clock_text, day_number, latest_night, reset_instant
from opsverify.outputs.evidence_bundle import EvidenceBundle
from opsverify.outputs.heartbeat import Heartbeat
from opsverify.outputs.html_summary import HtmlSummary
from opsverify.outputs.signoff_document import SignoffDocument
from opsverify.outputs.terminal_summary import TerminalSummary
from opsverify.outputs.week_table import WeekTable
from opsverify.result import (ISSUE_CHARS, RunResult, Verdicts, check_key, measure, night_records, run_title,
                              this_week)
from opsverify.runstate import RunState, night_of
from opsverify.sandboxrun import Sandbox, SandboxError, environ_with
from opsverify.signoff_fill import week_summary
from opsverify.stash import EVIDENCE_KEY, RUN_KEY, VERDICTS_KEY
from opsverify.status import CheckOutcome, night_status
from opsverify.text import visible
from opsverify.waivers import WaiverError, find_waiver, load_waivers
from opsverify.week import (
    STREAK,
    Ledger,
    LedgerError,
    merge_night,
    previous_record,
    week_rows,
)

JOURNAL_MARK_KEY = pytest.StashKey[int]()
SANDBOX_KEY = pytest.StashKey[Sandbox]()
SEVERITIES = ("critical", "warning")
CRITERION = "criterion"  # what a completion criterion has instead of a severity: it does not judge a night
DRILL = "drill"  # ... and a drill check: it judges the alerting path, never a night
LINT = "lint"  # ... and a lint check: it judges a checkout's files, never a night (no ledger, no week1.md)
SANDBOX_DRILL_CLOCK_RATE = 20  # with --sandbox --drill: the sandbox's clock runs 20 times as fast
URL_OPTIONS = ("grafana_url", "loki_url", "promtail_url", "backend_url")
NARROWING_OPTIONS = ("lf", "stepwise", "ignore", "ignore_glob")  # pytest options that collect fewer checks


def pytest_addoption(parser):
    group = parser.getgroup("opsverify", "opsverify: which site, which night, which stack")
    group.addoption("--site", metavar="PATH", help="site file (env OPSVERIFY_SITE; default sites/escashop.yml)")
    group.addoption("--night", metavar="YYYY-MM-DD",
                    help="local date whose reset is checked (env OPSVERIFY_NIGHT; default: the most recent "
                         "reset at least settle_minutes ago)")
    group.addoption("--week-start", metavar="YYYY-MM-DD", help="Day 1 of the monitoring period")
    group.addoption("--now", metavar="ISO8601",
                    help="sandbox only: the run's clock reads this instant when it starts (e.g. "
                         "2026-11-29T00:30:00+08:00), as the sandbox's does with the same --now (env OPSVERIFY_NOW)")
    group.addoption("--grafana-url", metavar="URL")
    group.addoption("--loki-url", metavar="URL")
    group.addoption("--promtail-url", metavar="URL")
    group.addoption("--backend-url", metavar="URL")
    group.addoption("--container", metavar="NAME", help="the backend's Docker container")
    group.addoption("--repo", metavar="DIR", default=".",
                    help="-m lint: the checkout whose monitoring config is read, offline (default: the current "
                         "directory)")
    group.addoption("--reports-dir", metavar="DIR", help="where the report, week table and ledger go")
    group.addoption("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override any setting of the site file, e.g. --set grace_minutes=10")
    group.addoption("--action", metavar="TEXT", default="", help="'Actions Taken' for this night's row")
    group.addoption("--waivers", metavar="PATH",
                    help="a YAML file of known exceptions (check, justification, approver, expires): a waived "
                         "failure makes the night a warning, never a success")
    group.addoption("--update-doc", metavar="PATH",
                    help="fill the sign-off document at PATH in place: the Week 1 table, the measured metrics, "
                         "the dates and status, Day N issues and the criteria boxes (a backup is kept as PATH.bak; "
                         "what a human wrote is left as written)")
    group.addoption("--week", action="store_true",
                    help="also check, from Loki's history, every night of the week before this one that has no "
                         "record yet (a missed cron run, or a suite started on Day 4)")
    group.addoption("--signoff-doc", metavar="PATH",
                    help="the sign-off document the completion criteria read (env OPSVERIFY_SIGNOFF_DOC; "
                         "--update-doc implies it)")
    group.addoption("--check-links", action="store_true",
                    help="criteria: also open every runbook and document URL (off by default: production "
                         "networks differ)")
    group.addoption("--ticket", metavar="ID",
                    help="the ticket the evidence is for: in the report's title and the bundle's name")
    group.addoption("--drill", action="store_true",
                    help="confirm an alert fire drill (-m drill): one failure line per rule pushed into Loki, "
                         "labelled opsverify_drill, and each rule followed to its receivers. Refused around a reset")
    group.addoption("--sandbox", nargs="?", const="healthy", default=None, metavar="SCENARIO",
                    help="start the bundled sandbox stack (scenario default: healthy) and check it, "
                         "not production")
    group.addoption("--sandbox-fault", action="append", default=[], metavar="SYSTEM=KIND",
                    help="with --sandbox: make SYSTEM (grafana, loki, promtail, backend) fail with KIND (down, slow, "
                         "error500, unauthorized, malformed-json, html-error-page, truncated, reset, redirect), to see "
                         "what a night with that fault looks like. Repeatable.")
    group.addoption("--sandbox-docker", action="store_true",
                    help="with --sandbox: also run the stand-in backend container on the Docker engine "
                         "at DOCKER_HOST (never touches a container the sandbox did not create)")


def pytest_addhooks(pluginmanager):
    from opsverify import hooks

    pluginmanager.add_hookspecs(hooks)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if config.option.help or config.option.version or not requested(config):
        return  # not requested: loaded by the pytest11 entry point into another project's run (activation.py)
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
        recorder = RunRecorder(config, run, ledger)
        config.stash[VERDICTS_KEY] = recorder.verdicts
        config.pluginmanager.register(recorder, "opsverify-recorder")
        # The outputs made of the run's result (opsverify/outputs/), each a plugin of its own.
        for name, output in (("week-table", WeekTable()),
                             ("signoff-document", SignoffDocument(config.option.update_doc)),
                             ("html-summary", HtmlSummary(run)), ("evidence-bundle", EvidenceBundle(config)),
                             ("terminal-summary", TerminalSummary(config))):
            config.pluginmanager.register(output, f"opsverify-{name}")
        if run.settings.heartbeat_url and recorder.verdicts.judges:  # the nightly job, not smoke or criteria
            config.pluginmanager.register(Heartbeat(run.settings.heartbeat_url, run), "opsverify-heartbeat")


def pytest_unconfigure(config):
    sandbox = config.stash.get(SANDBOX_KEY, None)
    if sandbox:
        sandbox.stop()


@pytest.hookimpl(tryfirst=True)  # before -m deselects: on Day 7 and later the criteria join the nightly run
def pytest_collection_modifyitems(config, items):
    if not requested(config):
        return
    run = config.stash.get(RUN_KEY, None)
    drills = [item for item in items if item.get_closest_marker("drill")]
    if drills and not (config.option.markexpr and _selects(config.option.markexpr, ("drill",))):
        # A drill writes to production: it never runs unless asked for by name (-m drill --drill).
        config.hook.pytest_deselected(items=drills)
        items[:] = [item for item in items if item not in drills]
    lints = [item for item in items if item.get_closest_marker("lint")]
    if lints and not (config.option.markexpr and _selects(config.option.markexpr, ("lint",))):
        # Lint reads a checkout, not the live stack: only when asked for (-m lint).
        config.hook.pytest_deselected(items=lints)
        items[:] = [item for item in items if item not in lints]
    criteria = [item for item in items if item.get_closest_marker("criteria")]
    for item in criteria:
        if run is not None and run.day >= STREAK:
            item.add_marker(pytest.mark.nightly)
    # The criteria read the week including this run's nights: they run last.
    items[:] = [item for item in items if item not in criteria] + criteria
    for item in items:
        if item in criteria or item in drills or item in lints:
            continue
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
        "signoff_doc": option.signoff_doc or option.update_doc,
        **parse_set_options(option.set),
    }
    ticket = option.ticket or ""
    if ticket and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", ticket):
        raise ConfigError(f"--ticket {ticket!r}: use letters, digits, '.', '_' and '-' (it names a directory), "
                          f"e.g. --ticket ESC-142")
    settings = load_settings(cli, site_file=option.site)
    waivers = load_waivers(option.waivers) if option.waivers else []
    # A sandbox started by hand says so in the env file it writes; its runs are never production evidence.
    scenario = option.sandbox or os.environ.get("OPSVERIFY_SANDBOX")
    target = f"sandbox: {scenario}" if scenario else "production"
    clock = _clock(option.now or os.environ.get("OPSVERIFY_NOW"), scenario)
    now = clock.now()
    night_date = settings.night or latest_night(now, settings.reset_time, settings.timezone, settle=settings.settle)
    night_reason = _night_reason(settings, night_date, now)
    settled = reset_instant(night_date, settings.reset_time, settings.timezone) + settings.settle
    if settled > now:
        zone = ZoneInfo(settings.timezone)
        raise ConfigError(f"--night {night_date.isoformat()}: its reset has not happened yet, or happened less than "
                          f"settle_minutes ({settings.settle_minutes}) ago; it can be checked from "
                          f"{clock_text(settled.astimezone(zone))} ({settings.timezone})")
    refused = _drill_refusal(config, settings, now)
    if refused:
        raise ConfigError(refused)
    if option.sandbox_fault and not option.sandbox:
        raise ConfigError("--sandbox-fault needs --sandbox: faults are made in the bundled sandbox, "
                          "never in production")
    if option.sandbox:
        given = [k for k in URL_OPTIONS if cli.get(k)]
        if given:
            raise ConfigError(f"--sandbox starts its own stack: drop --{given[0].replace('_', '-')}")
        options = ["--now", clock.start.isoformat()] if clock.start else []
        if option.drill:  # a drill of minutes in seconds: the drill reads every instant from the systems' clocks
            options += ["--clock-rate", str(SANDBOX_DRILL_CLOCK_RATE)]
        sandbox = Sandbox(option.sandbox, night_date, docker=option.sandbox_docker, faults=option.sandbox_fault,
                          options=options)
        config.stash[SANDBOX_KEY] = sandbox
        sandbox_env = sandbox.start()
        for ours in ("OPSVERIFY_NIGHT", "OPSVERIFY_NOW"):  # ours to choose; we told the sandbox
            sandbox_env.pop(ours, None)
        if "DOCKER_HOST" in sandbox_env:
            sandbox_env["OPSVERIFY_DOCKER_HOST"] = sandbox_env.pop("DOCKER_HOST")
        if settings.week_start:  # the user's Day 1 wins over the scenario's
            sandbox_env.pop("OPSVERIFY_WEEK_START", None)
        settings = load_settings(cli, environ=environ_with(sandbox_env), site_file=option.site)
    reports = Path(settings.reports_dir)
    if not reports.is_absolute():
        reports = config.rootpath / reports
    settings = replace(settings, reports_dir=str(reports))
    _ensure_writable(reports)
    ledger = Ledger(reports / ("ledger-sandbox.json" if scenario else "ledger.json"), site=settings.site_name)
    records = ledger.load()
    first = min((date.fromisoformat(n) for n in records), default=None)
    if not settings.week_start and first and night_date < first:
        # Day 1 would silently move back to this night and every day of the table be renumbered.
        raise ConfigError(f"--night {night_date.isoformat()} is before Day 1 of the ledger's week ({first}): "
                          f"to start the week there, say so with --week-start={night_date.isoformat()}")
    week_start = settings.week_start or first or night_date
    if option.week and not settings.week_start and not records:
        raise ConfigError("--week: which night was Day 1? Set --week-start=YYYY-MM-DD (or week_start in the "
                          "site file, or OPSVERIFY_WEEK_START)")
    backfill = [row.date for row in week_rows(records, week_start)
                if row.date < night_date and row.date.isoformat() not in records] if option.week else []
    run = RunState(settings=settings, night=night_of(settings, night_date), day=day_number(night_date, week_start),
                   week_start=week_start, target=target, deadline=Deadline(settings.run_deadline_seconds),
                   previous=previous_record(records, night_date), waivers=waivers,
                   nights={d: night_of(settings, d) for d in backfill}, ticket=ticket, clock=clock,
                   run_id=uuid.uuid4().hex[:8], night_reason=night_reason, ledger=ledger)
    if option.update_doc and not Path(option.update_doc).is_file():
        raise ConfigError(f"--update-doc {option.update_doc}: no such file (give the sign-off document's path)")
    return run, ledger


def _night_reason(settings, night_date, now):
    """Why the run judges `night_date`: it was given, or it is the latest reset settled before now."""
    if settings.night:
        return f"given: {night_date.isoformat()} (--night or OPSVERIFY_NIGHT)"
    zone = ZoneInfo(settings.timezone)
    local = now.astimezone(zone)
    reset_today = reset_instant(local.date(), settings.reset_time, settings.timezone)
    why = ""
    if reset_today <= now < reset_today + settings.settle:
        why = (f"; today's reset at {reset_today.astimezone(zone):%H:%M} is less than settle_minutes "
               f"({settings.settle_minutes}) ago, so the night before")
    return (f"the latest reset at least settle_minutes before now ({clock_text(local)}, "
            f"{settings.timezone}){why}")


def _clock(text, scenario):
    """The run's clock: the machine's, or --now's instant for a sandbox whose clock was set alike."""
    if not text:
        return RunClock()
    try:
        start = parse_instant(text)
    except ValueError as exc:
        raise ConfigError(f"--now (or OPSVERIFY_NOW): {exc}") from None
    if not scenario:
        raise ConfigError("--now (or OPSVERIFY_NOW) sets the clock of a run against a sandbox whose clock was set "
                          "to the same instant; production is judged on the real clock: drop it (and use --night "
                          "to check an earlier night)")
    return RunClock(start)


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


class RunRecorder:
    """Follows the run: evidence per check, the outcomes (Verdicts), the nights' records in the ledger,
    and at the end the RunResult it hands to the outputs."""

    def __init__(self, config, run, ledger):
        self.config, self.run, self.ledger = config, run, ledger
        # node ids, -k, --lf, --sw and --ignore narrow the collection itself
        narrowed = (config.args_source == pytest.Config.ArgsSource.ARGS
                    or any(config.getoption(name, None) for name in NARROWING_OPTIONS))
        self.verdicts = Verdicts(judges=_selects_nightly(config.option.markexpr), selected_all=not narrowed)
        v = self.verdicts  # the same containers, under the names the hooks below fill
        self.outcomes, self.criteria, self.nightly, self.smoke = v.outcomes, v.criteria, v.nightly, v.smoke
        self.expected, self.deselected = v.expected, v.deselected
        self.results = {}  # nodeid -> what the bundle's results.json says of it (evidence included)
        self.lints = {}  # nodeid -> CheckOutcome of the lint checks: they judge files, never a night

    # --- which checks judge which night ---

    def pytest_deselected(self, items):
        self.deselected.update(item.nodeid for item in items if _judges_a_night(item))

    def pytest_collectreport(self, report):
        if report.failed:  # a check module that cannot be imported: its checks judge nothing
            self.deselected.add(report.nodeid)

    def pytest_collection_finish(self, session):
        current = self.run.night.date.isoformat()
        for item in session.items:
            if _judges_a_night(item):
                night = getattr(item, "callspec", None) and item.callspec.params.get("night")
                self.expected.setdefault(night.date.isoformat() if night else current, set()).add(item.nodeid)

    # --- per check ---

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        item.stash[JOURNAL_MARK_KEY] = len(self.run.journal)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        secrets = self.run.secrets()
        severity = CRITERION if item.get_closest_marker("criteria") else DRILL if item.get_closest_marker(
            "drill") else LINT if item.get_closest_marker("lint") else item.get_closest_marker("severity").args[0]
        report.severity = severity
        callspec = getattr(item, "callspec", None)
        night = callspec.params.get("night") if callspec else None
        report.opsverify_night = night.date.isoformat() if night is not None else ""
        if call.excinfo is not None and isinstance(call.excinfo.value, ClientError):
            report.longrepr = call.excinfo.value.describe()  # the actionable text, not a requests traceback
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self._attach_evidence(item, report, secrets)
        if report.longrepr is not None:
            text = str(report.longrepr)
            shown = visible(scrub(text, secrets), MAX_TEXT_CHARS)  # a log line's ESC never reaches a terminal
            if shown != text:
                report.longrepr = shown
        report.sections = [(title, visible(scrub(content, secrets), MAX_TEXT_CHARS))
                           for title, content in report.sections]
        report.user_properties.append(("severity", severity))
        return report

    def _attach_evidence(self, item, report, secrets):
        from pytest_html import extras

        attached, kept = [], []
        evidence = item.stash.get(EVIDENCE_KEY, None)
        for name, value in (evidence.items if evidence else ()):
            value = scrub_value(value, secrets) if isinstance(value, (dict, list)) else scrub(value, secrets)
            kept.append({"name": name, "content": value})
            attached.append(extras.json(value, name) if isinstance(value, (dict, list)) else extras.text(value, name))
        exchanges = [e.as_dict() for e in self.run.journal.since(item.stash.get(JOURNAL_MARK_KEY, 0))]
        if exchanges:
            exchanges = scrub_value(exchanges, secrets)
            attached.append(extras.json(exchanges, "HTTP exchanges"))
            report.user_properties.append(("requests", "; ".join(x["request"] for x in exchanges)[:2000]))
        report.extras = getattr(report, "extras", []) + attached
        self.results[report.nodeid] = {"evidence": kept, "http_exchanges": exchanges}

    def pytest_runtest_logreport(self, report):
        severity = getattr(report, "severity", None)
        if severity is None:
            return
        nodeid = report.nodeid
        found = {CRITERION: self.criteria, DRILL: self.verdicts.drills, LINT: self.lints}.get(severity, self.outcomes)
        previous = found.get(nodeid)
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
        night = report.opsverify_night
        waiver = None
        if outcome in ("failed", "error") and severity not in (CRITERION, DRILL):
            # The check's own id: a waiver of test_x covers test_x[2026-11-25] of a --week run too.
            waiver, expired = find_waiver(self.run.waivers, check_key(nodeid, night).split("::")[-1],
                                          date.fromisoformat(night) if night else self.run.night.date)
            if waiver:
                outcome, reason = "waived", f"{reason} — {waiver.describe()}"
            elif expired:
                reason = f"{reason} (its waiver expired on {expired.expires.isoformat()})"
        found[nodeid] = CheckOutcome(nodeid, name, severity, outcome, scrub(reason, self.run.secrets()), night,
                                     counts_for_signoff=bool(waiver and waiver.counts_for_signoff))
        for marker, ran in (("nightly", self.nightly), ("smoke", self.smoke)):
            if marker in report.keywords:
                ran.add(nodeid)
        self.results.setdefault(nodeid, {}).update(
            {"night": night or self.run.night.date.isoformat(), "kind": severity, "outcome": outcome,
             "reason": found[nodeid].reason, "duration_seconds": round(report.duration, 3)})

    # --- the nights, the ledger, the result ---

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session):
        """Before pytest-html and junitxml write their reports: the nights' records into the ledger, the
        week, then one RunResult to the outputs (opsverify/outputs/)."""
        if session.exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR):
            self.verdicts.aborted = True  # what it judged is kept, but it judged nothing in full
        run, criteria, current = self.run, tuple(self.criteria.values()), self.run.night.date.isoformat()
        judged = night_records(run, self.verdicts, run.clock.now().isoformat(timespec="seconds"),
                               self.config.option.action, str(self.config.option.htmlpath))
        ledger_error, unsaved, records = "", "", {}
        drill = self._drill_record()
        try:
            records = self.ledger.record(judged) if judged else self.ledger.load()
            if drill:
                self.ledger.record_drill(drill)
        except LedgerError as exc:
            ledger_error = str(exc)
            unsaved = "\n".join(json.dumps(item, ensure_ascii=False) for item in [asdict(r) for r in judged]
                                 + ([drill] if drill else []))
        # The nights' records as this run left them: every verdict kept, not only this run's.
        left = {r.night: records.get(r.night) or merge_night(None, r) for r in judged}
        previous = {} if ledger_error else this_week(self.ledger, run.week_start)
        rows, metrics = measure(run, records, previous.get("metrics", {}).get("response_minutes"))
        if not ledger_error and (judged or criteria):
            summary = week_summary(metrics, criteria, run.week_start)
            # What only the criteria decide stays in the ledger until they run again in the same week.
            summary["criteria"] = summary["criteria"] or previous.get("criteria", {})
            try:
                self.ledger.save_week(summary)
            except LedgerError as exc:
                ledger_error = str(exc)
        if ledger_error:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        status = left[current].status if current in left else night_status(
            [o for o in self.outcomes.values() if (o.night or current) == current])
        self.config.hook.pytest_opsverify_run_finished(session=session, result=RunResult(
            run=run, title=run_title(run), status=status,
            kind=_kind(judged, criteria, self.outcomes, drill, self.lints),
            judged=tuple(judged), records=left, rows=tuple(rows), metrics=metrics, criteria=criteria,
            alerts=run.facts.alerts, versions=run.versions() if self.outcomes or criteria else {},  # none collected
            outcomes=tuple(self.outcomes.values()), nightly_ran=bool(self.nightly),
            checks=tuple({"nodeid": nodeid, **found} for nodeid, found in self.results.items() if "outcome" in found),
            ledger_error=ledger_error, unsaved=unsaved, drills=tuple(self.verdicts.drills.values()), drill=drill))

    def _drill_record(self):
        """The drill this run made, as the ledger keeps it; None when it made none."""
        facts = self.run.drill_facts
        if not facts.id:
            return None
        return {**asdict(facts), "run": self.run.run_id, "target": self.run.target,
                "ok": bool(facts.rules) and all(r["ok"] for r in facts.rules.values())}


def _kind(judged, criteria, outcomes, drill=None, lints=()):
    """What a run was: nightly (it judged its nights in full), partial, smoke, criteria, a drill or lint."""
    if judged:
        return "partial" if any(not r.complete for r in judged) else "nightly"
    if drill:
        return "drill"
    if lints and not (criteria or outcomes):
        return "lint"
    return "criteria" if criteria and not outcomes else "smoke"


def _one_line(report):
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr or "")
    if report.skipped and isinstance(report.longrepr, tuple):
        text = report.longrepr[2]
    text = text.removeprefix("Skipped: ").removeprefix("Failed: ")
    return visible(" ".join(text.split()), ISSUE_CHARS)


def _selects_nightly(markexpr):
    """Does the run's -m select the checks that only judge nights (nightly, not smoke)? A smoke or a
    criteria run does not: it must leave every night's record alone."""
    return _selects(markexpr, ("nightly", "severity"))


def _selects(markexpr, marks):
    """Does -m select a check carrying exactly `marks`? (No -m selects everything.)"""
    if not markexpr:
        return True
    from _pytest.mark.expression import Expression  # pytest's own -m grammar (pytest is pinned)

    return Expression.compile(markexpr).evaluate(lambda name, **kwargs: name in marks)


def _drill_refusal(config, settings, now):
    """Why this run may not be a drill, or "" (a drill run is -m drill, alone, with --drill, away from
    every reset)."""
    markexpr = config.option.markexpr
    if not markexpr or not _selects(markexpr, ("drill",)):
        return "--drill confirms an alert drill: give it with -m drill, alone" if config.option.drill else ""
    if not config.option.drill:
        return ("-m drill pushes failure lines into Loki and fires your alerts: add --drill to the same command "
                "line to confirm")
    if any(_selects(markexpr, (mark, "severity")) for mark in ("nightly", "smoke", "criteria")):
        return f"-m {markexpr!r}: a drill runs alone (-m drill), never with nightly, smoke or criteria checks"
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    for night in (night_of(settings, today + timedelta(days=d)) for d in (-1, 0, 1)):
        start, end = refusal_window(night)
        if start <= now <= end:
            margin = REFUSAL_MARGIN.seconds // 60
            return (f"--drill refused: it is {clock_text(night.local(now))}, within {margin} min of the "
                    f"night {night.date}'s window ({night.local(night.window_start):%H:%M}–"
                    f"{night.local(night.window_end):%H:%M}): a drill's lines would meet that night's checks; "
                    f"run it after {clock_text(night.local(end))}")
    return ""


def _judges_a_night(item):
    return item.get_closest_marker("nightly") is not None and item.get_closest_marker("criteria") is None
