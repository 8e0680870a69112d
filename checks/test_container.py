"""The backend container, from the Docker engine (running, healthy, not restarted during the night)
and from inside it through testinfra (user, clock, zone data, free space): read-only commands only."""

import os
import re
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import testinfra

from opsverify.criteria import without_drills
from opsverify.evidence import not_applicable, require
from opsverify.night import clock_text
from opsverify.resetlog import EVENTS, EXCERPT_LIMIT, reconcile

pytestmark = [pytest.mark.smoke, pytest.mark.nightly]


def _evidence(state):
    return {"name": state.name, "image": state.image, "status": state.status, "health": state.health,
            "RestartCount": state.restart_count, "StartedAt": state.started_at and state.started_at.isoformat(),
            "FinishedAt": state.finished_at and state.finished_at.isoformat(), "OOMKilled": state.oom_killed,
            "ExitCode": state.exit_code, "User": state.user}


@pytest.fixture(scope="session")
def container(docker_engine, settings):
    """The backend container's state (GET /containers/{name}/json)."""
    return docker_engine.container(settings.container)


@pytest.mark.severity("critical")
def test_container_running(container, docker_engine, settings, evidence):
    evidence.add("container", _evidence(container))
    require(container.running, "Docker", f"{docker_engine.base_url}/containers/{settings.container}/json",
            f"container {settings.container} running", f"status {container.status}, exit code {container.exit_code}",
            f"the backend is down: docker logs {settings.container}; docker start {settings.container}")


@pytest.mark.severity("warning")
def test_container_healthy(container, docker_engine, settings, evidence):
    evidence.add("container", _evidence(container))
    if container.health is None:
        not_applicable(f"container {settings.container} defines no healthcheck")
    require(container.health == "healthy", "Docker", f"{docker_engine.base_url}/containers/{settings.container}/json",
            "health healthy", f"health {container.health}",
            f"read the healthcheck's output: docker inspect --format '{{{{json .State.Health}}}}' {settings.container}")


@pytest.mark.severity("warning")
def test_container_not_restarted_in_window(container, docker_engine, night, settings, evidence):
    # A judgement of each night, not of the live state: the engine is read once a run (`container`), and each
    # night judged asks whether that last start fell inside its own window.
    evidence.add("container", _evidence(container))
    started = container.started_at
    if started and started > night.window_end:
        evidence.add("note", f"started at {clock_text(night.local(started), '%Y-%m-%d %H:%M:%S')}, after the "
                             "night's window: its restarts during the night are judged from the log "
                             "(test_no_restart_in_window)")
    inside = started is not None and night.window_start <= started <= night.window_end
    require(not inside, "Docker", f"{docker_engine.base_url}/containers/{settings.container}/json",
            f"no start of {settings.container} during the night's window",
            f"started at {clock_text(night.local(started), '%H:%M:%S')}" if inside else "",
            "the backend restarted around the reset (downtime): find why in docker logs and the host's journal")


@pytest.mark.severity("warning")
def test_container_not_oom_killed(container, docker_engine, settings, evidence):
    evidence.add("container", _evidence(container))
    require(not container.oom_killed, "Docker", f"{docker_engine.base_url}/containers/{settings.container}/json",
            "OOMKilled false", f"OOMKilled true (finished {container.finished_at})",
            "the kernel killed the backend for memory: raise its memory limit or find the leak")


@pytest.fixture(scope="session")
def inside(container, docker_engine, settings):
    """testinfra's docker backend on the backend container: `docker exec` of read-only commands."""
    if not container.running:
        not_applicable(f"{settings.container} is not running (test_container_running)")
    previous = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = docker_engine.base_url  # testinfra runs the docker CLI, which reads it
    yield testinfra.get_host(f"docker://{settings.container}")
    if previous is None:
        os.environ.pop("DOCKER_HOST", None)
    else:
        os.environ["DOCKER_HOST"] = previous


def _run(inside, command, evidence):
    """A command's output inside the container, kept as evidence."""
    result = inside.run(command)
    evidence.add(f"$ {command}", f"exit {result.rc}\n{result.stdout}{result.stderr}")
    return result


@pytest.mark.severity("warning")
def test_container_process_user(inside, settings, evidence):
    result = _run(inside, "stat -c %U /proc/1", evidence)
    user = result.stdout.strip()
    require(result.rc == 0 and user == settings.container_user, "Docker", f"docker exec {settings.container}",
            f"its main process running as {settings.container_user}", f"{user or result.stderr.strip()!r}",
            "set USER in the image (or --user) back to the unprivileged user the runbook names")


@pytest.mark.severity("warning")
def test_container_clock(inside, settings, evidence):
    before = time.time()
    result = _run(inside, "date +%s", evidence)
    after = time.time()
    skew = int(result.stdout.strip() or 0) - (before + after) / 2
    allowed = settings.max_clock_skew_seconds + (after - before) / 2 + 1  # date prints whole seconds
    evidence.add("clock", {"host": before, "container": result.stdout.strip(), "skew_seconds": round(skew, 1)})
    require(result.rc == 0 and abs(skew) <= allowed, "Docker", f"docker exec {settings.container}",
            f"its clock within {settings.max_clock_skew_seconds:g} s of this host's", f"{skew:+.1f} s",
            "the host's clock drives the midnight reset: check NTP (timedatectl) on the Docker host")


@pytest.mark.severity("warning")
def test_container_zone_data(inside, settings, evidence):
    expected = datetime.now(ZoneInfo(settings.timezone)).strftime("%z")
    result = _run(inside, f"TZ={settings.timezone} date +%z", evidence)
    seen = result.stdout.strip()
    require(result.rc == 0 and seen == expected, "Docker", f"docker exec {settings.container}",
            f"zone data for {settings.timezone} (UTC offset {expected} now)", f"{seen or result.stderr.strip()!r}",
            "install the zone database in the image (e.g. apk add tzdata): without it the zone silently "
            "falls back to UTC and local midnight is 8 hours off")


@pytest.mark.severity("warning")
def test_container_free_space(inside, settings, evidence):
    result = _run(inside, f"df -Pk {settings.app_dir}", evidence)
    fields = result.stdout.strip().splitlines()[-1].split() if result.rc == 0 else []
    free_mb = int(fields[3]) // 1024 if len(fields) >= 4 and fields[3].isdigit() else None
    require(free_mb is not None and free_mb >= settings.min_free_mb, "Docker", f"docker exec {settings.container}",
            f"at least {settings.min_free_mb} MB free in {settings.app_dir}",
            f"{free_mb} MB" if free_mb is not None else repr(result.stderr.strip()),
            "free space on the Docker host's volume: the reset writes its snapshot and activity log there")


SPAN_MARGIN = timedelta(seconds=1)
SPAN_LIMIT = 1000  # lines of the reset's own span fetched from Loki


@pytest.fixture(scope="session")
def shipping(container, docker_engine, loki, reset_log, night, settings):
    """The reset's lines as the container printed them and as Loki holds them: the scheduler's lines
    anywhere in the window, and every line of the reset's own span (start to its last outcome)."""
    if container.started_at and container.started_at > night.window_end:
        not_applicable(f"{settings.container} started at {clock_text(night.local(container.started_at))}, "
                       "after the night's window: its own log does not cover the night")
    scheduler, outcome = _regex(settings, EVENTS), _regex(settings, ("completed", "failed", "recovery_ok",
                                                                      "recovery_failed"))
    own = docker_engine.logs(settings.container, night.window_start, night.window_end)
    printed = [(t, text) for t, text in own if scheduler.search(text)]
    shipped = list(reset_log.lines)
    starts = [t for t, text in own if re.search(settings.pattern_start, text)]
    span = None
    if starts:
        ends = [t for t, text in own if outcome.search(text) and t >= min(starts)]
        span = (min(starts) - SPAN_MARGIN, (max(ends) if ends else min(starts) + settings.grace) + SPAN_MARGIN)
        printed += [(t, text) for t, text in own if span[0] <= t <= span[1] and not scheduler.search(text)]
        result = loki.query_range(without_drills(settings.selector), start=span[0], end=span[1], limit=SPAN_LIMIT,
                                  direction="forward")
        shipped += [(_at_ns(ns), line) for ns, line, _ in result.entries() if not scheduler.search(line)]
    return {"printed": sorted(printed), "shipped": sorted(shipped), "span": span,
            "excerpt_complete": len(reset_log.lines) < EXCERPT_LIMIT}


def _regex(settings, events):
    return re.compile("|".join(f"(?:{getattr(settings, f'pattern_{event}')})" for event in events))


def _at_ns(ns):
    return datetime.fromtimestamp(ns / 1e9, timezone.utc)


def _shown(night, lines):
    return [f"{night.local(t):%H:%M:%S.%f} {text}" for t, text in lines]


@pytest.mark.severity("critical")
def test_container_log_reached_loki(shipping, loki, night, settings, evidence):
    missing, _ = reconcile(shipping["printed"], shipping["shipped"])
    evidence.add("reconciliation", {
        "reset span (UTC)": [t.isoformat() for t in shipping["span"]] if shipping["span"] else None,
        "printed by the container": len(shipping["printed"]), "found in Loki": len(shipping["shipped"]),
        "missing from Loki": _shown(night, missing), "excerpt complete": shipping["excerpt_complete"]})
    require(not missing, "Loki", loki.url(loki.QUERY_RANGE),
            f"every reset line {settings.container} printed to be in Loki (same text, within 1 s)",
            f"{len(missing)} missing: " + " | ".join(_shown(night, missing)),
            "log shipping lost lines: check Promtail's log and promtail_dropped_entries_total; the night's "
            "judgement and its alerts saw an incomplete log")


@pytest.mark.severity("warning")
def test_no_duplicated_lines_in_loki(shipping, loki, night, settings, evidence):
    _, duplicated = reconcile(shipping["printed"], shipping["shipped"])
    evidence.add("shipped more than once", _shown(night, duplicated))
    require(not duplicated, "Loki", loki.url(loki.QUERY_RANGE),
            "each reset line once in Loki",
            f"{len(duplicated)} line(s) twice: " + " | ".join(_shown(night, duplicated)),
            "Promtail re-sent lines (it does after a Docker restart): counts over the night are inflated; "
            "the reset checks count such copies once")
