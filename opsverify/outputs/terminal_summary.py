"""The opsverify section of pytest's terminal summary: each night's status, the issues, the criteria,
and where the ledger, week1.md, the sign-off document and the evidence bundle are."""

from pathlib import Path

from opsverify.status import issues, label


class TerminalSummary:
    def __init__(self, config):
        self.config = config
        self.result = None

    def pytest_opsverify_run_finished(self, result, session):
        self.result = result

    def pytest_terminal_summary(self, terminalreporter):
        result = self.result
        if result is None:
            return
        write = terminalreporter.write_line
        terminalreporter.write_sep("=", "opsverify")
        sandbox = " [SANDBOX: not production evidence]" if result.run.is_sandbox else ""
        if result.kind == "drill":
            self._drill(result, write, sandbox)
        elif result.kind == "lint":  # a checkout's files, not a night: nothing of the week was touched
            failed = [c for c in result.checks if c.get("outcome") in ("failed", "error")]
            write(f"lint run: {len(result.checks)} checks, {len(failed)} failed — no night judged: the ledger, "
                  "week1.md and the sign-off document are left as they were")
        else:
            self._nights(result, write, sandbox)
        if result.ledger_error:
            write(f"LEDGER NOT UPDATED: {result.ledger_error}", red=True)
            if result.unsaved:
                what = "the drill's record" if result.kind == "drill" else "the nights' records"
                write(f"{what}, to add by hand: {result.unsaved}")
        elif result.nightly_ran or result.drill:
            write(f"ledger: {result.run.ledger.path}" + (" (drills)" if result.kind == "drill" else ""))
        if result.kind not in ("drill", "lint"):
            write(f"week table: {Path(result.run.settings.reports_dir) / 'week1.md'}")
        for lines in self.config.hook.pytest_opsverify_summary_lines(result=result):
            for line, red in lines:
                write(line, red=red)

    def _nights(self, result, write, sandbox):
        run = result.run
        for night in sorted(run.nights):
            if night != run.night.date:
                row = next((r for r in result.rows if r.date == night), None)
                if row is not None:
                    write(f"night {night.isoformat()} (Day {row.day}, from Loki's history): {label(row.status)}")
        current = run.night.date.isoformat()
        write(f"night {current}: {run.night_reason}")
        record = result.records.get(current)
        if record is None and result.outcomes:
            write(f"{result.kind} run, night {current}: {label(result.status)}{sandbox} — no night judged: the "
                  "ledger, week1.md and the sign-off document are left as they were")
        elif record is not None:
            write(f"night {current} (Day {run.day}): {label(result.status)}{sandbox}")
        lines = record.issues if record is not None else issues(
            [o for o in result.outcomes if (o.night or current) == current])
        for line in lines:
            write(f"  - {line}")
        for rec in result.records.values():
            this_run = rec.changes[-1] if rec.changes else {}
            if not next((r for r in result.judged if r.night == rec.night), rec).complete:
                write(f"  night {rec.night}: this run judged {this_run.get('scope', 'some checks')}; the other "
                      f"verdicts are kept from the runs that made them (the ledger names each)")
            if this_run.get("from") and this_run["from"] != this_run["to"]:
                write(f"  night {rec.night}: changed by this run ({run.run_id}): {label(this_run['from'])} → "
                      f"{label(this_run['to'])}")
        if result.criteria:
            passed = sum(1 for o in result.criteria if o.outcome == "passed")
            write(f"completion criteria: {passed} of {len(result.criteria)} met")
            for o in result.criteria:
                if o.outcome != "passed":
                    write(f"  - {o.name}: {o.reason}")

    def _drill(self, result, write, sandbox):
        drill = result.drill
        rules = drill["rules"]
        passed = sum(1 for found in rules.values() if found["ok"])
        write(f"alert drill {drill['id']} by {drill['owner']}, lines pushed at {drill['at']}: {passed} of "
              f"{len(rules)} rule(s) reached their receivers in time{sandbox}")
        for uid, found in sorted(rules.items()):
            write(f"  {'✅' if found['ok'] else '❌'} {found['message']}", red=not found["ok"])
        for line in drill["writes"]:
            write(f"  wrote: {line}")
