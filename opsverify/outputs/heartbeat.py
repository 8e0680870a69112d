"""heartbeat_url: who watches the watcher. A run that judges nights pings when it starts and, at its end,
success or failure with the night and its status; a ping that fails is said in the terminal summary and
never changes the run's outcome. Smoke, criteria and drill runs do not ping: they are not the nightly job
the switch watches."""

import pytest

from opsverify.clients.heartbeat import HeartbeatClient, HeartbeatError
from opsverify.status import label


class Heartbeat:
    def __init__(self, url, run):
        self.client, self.run = HeartbeatClient(url), run
        self.result = None
        self.sent, self.problems = [], []

    def _ping(self, kind, body):
        try:
            self.client.ping(kind, body)
            self.sent.append(kind)
        except HeartbeatError as exc:
            self.problems.append(str(exc))

    def pytest_sessionstart(self, session):
        run = self.run
        self._ping("start", f"opsverify {run.settings.site_name}: checking the night {run.night.date} (Day {run.day})"
                            f", run {run.run_id}")

    def pytest_opsverify_run_finished(self, result, session):
        self.result = result

    @pytest.hookimpl(trylast=True)  # after the ledger and the outputs: the run's outcome is known
    def pytest_sessionfinish(self, session, exitstatus):
        result, run = self.result, self.run
        ok = session.exitstatus == pytest.ExitCode.OK
        status = f"{label(result.status)}" if result is not None else "no result"
        self._ping("success" if ok else "fail", f"opsverify {run.settings.site_name}: night {run.night.date} "
                   f"(Day {run.day}) {status}; exit {int(session.exitstatus)}; run {run.run_id}")

    def pytest_opsverify_summary_lines(self, result):
        lines = [(f"heartbeat: {', '.join(self.sent)} ping(s) sent to {self.client.shown()}", False)] if self.sent \
            else []
        return lines + [(f"HEARTBEAT NOT SENT (the run's outcome stands): {p}", True) for p in self.problems]
