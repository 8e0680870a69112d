"""Is the monitoring stack up and sane? Smoke checks, run in CI and every night."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from opsverify.clients.grafana import OLD_LOKI_HEALTH_ERROR
from opsverify.clients.http import NotFound
from opsverify.clients.loki import LokiQueryError
from opsverify.evidence import not_applicable, require
from opsverify.loki_analysis import KEEP, differing, retention_problems, unbounded_label
from opsverify.rules import RANGE_FUNCTION, expand_dashboard_variables, one_minute_ranges
from opsverify.night import next_reset

pytestmark = [pytest.mark.smoke, pytest.mark.nightly]
RECENT = timedelta(minutes=15)


@pytest.mark.severity("critical")
def test_grafana_healthy(grafana, settings, evidence):
    body = evidence.add("GET /api/health", grafana.health())
    require(body.get("database") == "ok", "Grafana", grafana.url(grafana.HEALTH),
            'database "ok"', f"database {body.get('database')!r}: Grafana cannot reach its own database, so "
            "alert state, rules and notifications are not being saved",
            "check Grafana's database (the sqlite file and its disk, or the MySQL/Postgres server) and Grafana's "
            "log (docker logs <grafana>)")


@pytest.mark.severity("critical")
def test_loki_ready(loki, settings, evidence):
    answer = evidence.add("GET /ready", loki.ready())
    require(answer == "ready", "Loki", loki.url(loki.READY), "'ready'", repr(answer),
            "Loki answers but is not ready: wait for its ring to settle or read its log")


@pytest.mark.severity("critical")
def test_promtail_ready(promtail, settings, evidence):
    answer = evidence.add("GET /ready", promtail.ready())
    require(answer == "Ready", "Promtail", promtail.url(promtail.READY), "'Ready'", f"Promtail says {answer!r}",
            "Promtail runs but tails nothing: check its scrape jobs' paths and the volumes mounted into its "
            "container (its /targets page shows each job)")


@pytest.mark.severity("critical")
def test_loki_datasource_healthy(grafana, settings, evidence):
    datasource = grafana.datasource(settings.datasource_uid)
    evidence.add("datasource", {k: datasource.get(k) for k in ("uid", "name", "type", "url")})
    status, message = grafana.datasource_health(settings.datasource_uid)
    evidence.add("health", {"status": status, "message": message})
    if status == "ERROR" and OLD_LOKI_HEALTH_ERROR in message:
        evidence.add("verdict", "Grafana reached Loki and Loki answered: Loki before 2.7 rejects the vector() "
                                "query of Grafana's health check but serves every other query (grafana#79846)")
        return
    require(status == "OK", "Grafana", grafana.url(grafana.DATASOURCE_HEALTH, uid=settings.datasource_uid),
            "status OK", f"status {status}: {message}",
            f"Grafana cannot query Loki through datasource '{settings.datasource_uid}': "
            f"fix its URL ({datasource.get('url')}) or Loki")


@pytest.mark.severity("warning")
def test_promtail_jobs_have_targets(promtail, promtail_jobs, settings, evidence):
    jobs = promtail_jobs
    evidence.add("jobs", [{"job": j.name, "ready": j.ready, "targets": j.total} for j in jobs])
    names = [j.job_name for j in jobs]
    problems = [f"job '{want}' is not configured" for want in settings.promtail_jobs if want not in names]
    idle = [j for j in jobs if j.ready == 0]
    # The site file's jobs are judged; another idle job is worth a note, not a failed night.
    others = [f"job '{j.name}' ({j.ready}/{j.total} ready) is not in promtail.jobs" for j in idle
              if j.job_name not in settings.promtail_jobs]
    if others:
        evidence.add("not judged", others)
    problems += [f"job '{j.name}' has {j.ready} of {j.total} targets ready: " + _idle_reason(j) for j in idle
                 if j.job_name in settings.promtail_jobs]
    require(not problems, "Promtail", promtail.url(promtail.TARGETS),
            f"every scrape job ({', '.join(settings.promtail_jobs)}) shipping at least one target",
            "; ".join(problems), "fix each job as said (a file job's __path__ or the volume mounted into the "
            "Promtail container; a docker job's socket mount or filters) and restart Promtail: its lines are "
            "not reaching Loki")


def _idle_reason(job):
    if job.docker:
        return "it discovers no running container (is the Docker socket mounted into Promtail, do its filters match?)"
    return "its path matches no file inside the Promtail container" if job.total else "it has no target"


@pytest.mark.severity("warning")
def test_promtail_shipped_without_loss(promtail, run, live_night, record_fact, settings, evidence):
    metrics = promtail.metrics()
    now = {"process_start": metrics.total("process_start_time_seconds"),
           "sent": metrics.total("promtail_sent_entries_total") or 0.0,
           "dropped": metrics.total("promtail_dropped_entries_total") or 0.0}
    record_fact("promtail", now)
    before = (run.previous.promtail if run.previous else None) or {}
    if before.get("process_start") == now["process_start"]:
        baseline, since = before, f"the check of night {run.previous.night}"
    elif now["process_start"] is not None and now["process_start"] <= live_night.window_start.timestamp():
        baseline, since = {"sent": 0.0, "dropped": 0.0}, "Promtail's start, before the night"
    else:
        pytest.skip("Promtail restarted after the night began and no earlier reading of this process is in "
                    "the ledger: its counters cannot say what happened during the night")
    dropped, sent = now["dropped"] - baseline["dropped"], now["sent"] - baseline["sent"]
    evidence.add("counters", {"now": now, "baseline": baseline, "since": since, "dropped": dropped, "sent": sent})
    require(dropped == 0 and sent > 0, "Promtail", promtail.url(promtail.METRICS),
            f"entries sent and none dropped since {since}", f"{sent:g} sent, {dropped:g} dropped",
            "Promtail drops entries only after its retries failed: read its log for the push errors "
            "(Loki down, rate limits, too old) and check Loki's ingestion limits" if dropped else
            "Promtail read nothing to send: see which of its jobs has no target on its /targets page (a file "
            "job's path, a docker job's socket mount) and fix it")


@pytest.mark.severity("warning")
def test_promtail_discovers_the_backend_container(promtail, promtail_jobs, settings, evidence):
    jobs = [j for j in promtail_jobs if j.docker]
    if not jobs:
        not_applicable("Promtail has no docker discovery job: the backend's log is shipped from files")
    found = {j.name: sorted(t["__meta_docker_container_name"] for t in j.discovered
                            if "__meta_docker_container_name" in t) for j in jobs}
    evidence.add("containers discovered", found)
    if any(f"/{settings.container}" in names for names in found.values()):
        return
    # A listed job is the one meant to ship the backend; an unlisted one is named only when none is listed.
    judged = [j for j in jobs if j.job_name in settings.promtail_jobs] or jobs
    blind = [j for j in judged if not found[j.name]]
    seen = "; ".join(f"docker job '{j.job_name}' (engine {j.engine or 'unknown'}) " + (
        f"discovers {', '.join(found[j.name])}, not /{settings.container}" if found[j.name] else
        f"discovers no container at all ({j.ready}/{j.total} ready)") for j in judged)
    todo = (f"job '{blind[0].job_name}' sees no container: {_reach(blind[0].engine)}, then check that "
            f"{settings.container} runs (docker ps --filter name={settings.container}); Promtail's log says "
            "'Unable to refresh target groups' while it cannot reach the engine. " if blind else "") + \
        f"Check the job's filters and relabeling and the container's name ({settings.container}): until it is " \
        "discovered, its log lines are not shipped to Loki"
    require(False, "Promtail", promtail.url(promtail.TARGETS),
            f"container {settings.container} among the docker-discovered targets", seen, todo)


def _reach(engine):
    """What lets a docker job reach its engine: the socket mounted (unix://), else the network."""
    if engine and not engine.startswith("unix://"):
        return f"check that the Promtail container reaches the engine at {engine} (address, TLS, firewall)"
    path = engine[len("unix://"):] if engine else "/var/run/docker.sock"
    return f"mount the Docker socket into the Promtail container (volume {path}:{path}:ro) and restart Promtail"


@pytest.mark.severity("warning")
def test_log_labels_bounded(loki, night, settings, evidence):
    series = loki.series(settings.selector, start=night.window_start, end=night.window_end)
    lines_query = f"sum(count_over_time({settings.selector}[{night.window_seconds}s]))"
    lines = int(loki.query(lines_query, at=night.window_end).total())
    values = {}
    for labels in series:
        for name, value in labels.items():
            values.setdefault(name, set()).add(value)
    counts = {name: len(found) for name, found in sorted(values.items())}
    evidence.add("label values in the night's window", {
        "selector": settings.selector, "streams": len(series), "lines": lines, "lines query": lines_query,
        "distinct values per label": counts})
    unbounded = [f"'{name}' has {n} values for {lines} lines (e.g. {', '.join(sorted(values[name])[:3])})"
                 for name, n in counts.items() if unbounded_label(n, lines, settings.max_label_values)]
    require(not unbounded, "Loki", loki.url(loki.SERIES),
            f"labels of {settings.selector} with a few values each (at most {settings.max_label_values} in a "
            f"night, and not a new one for every other line)", "; ".join(unbounded) + f" in {len(series)} streams",
            "stop promoting that field to a label in Promtail's pipeline (keep it in the line): every value "
            "makes a stream, and Loki slows and drops streams past its limits")


@pytest.mark.severity("warning")
def test_loki_keeps_the_week(loki, loki_config, settings, evidence):
    config, error = loki_config
    if error is not None:
        raise error
    # What the operator set, as what differs from Loki's defaults: mode=diff would say, but Loki 2.6.1
    # answers it with a 500 whatever the configuration, so the defaults are asked instead (same count).
    explicit = differing(config, loki.config(mode="defaults"))
    evidence.add("set (differs from GET /config?mode=defaults)", {
        section: explicit[section] for section in ("limits_config", "compactor", "table_manager")
        if section in explicit})
    evidence.add("retention settings", {
        section: {k: v for k, v in (config.get(section) or {}).items() if "retention" in k or "reject" in k}
        for section in ("limits_config", "compactor", "table_manager")})
    problems = retention_problems(config, KEEP, explicit)
    require(not problems, "Loki", loki.url(loki.CONFIG), f"Loki to keep {KEEP.days} days of logs (the "
            "week's seven nights and the day it is signed off)", "; ".join(problems),
            "fix Loki's retention settings (limits_config / compactor) and restart Loki")


@pytest.mark.severity("warning")
def test_dashboard_queries_valid(grafana, loki, live_night, settings, evidence):
    dashboard = grafana.dashboard(settings.dashboard_uid)
    where = grafana.url(grafana.DASHBOARD, uid=settings.dashboard_uid)
    targets = dashboard.queries()
    evidence.add("dashboard", {"uid": dashboard.uid, "title": dashboard.title, "version": dashboard.version,
                               "url": dashboard.url})
    require(bool(targets), "Grafana", where, "a dashboard with panel queries", f"'{dashboard.title}' with none",
            "restore the dashboard's provisioning file")
    known, problems, checked = {}, [], []
    for panel, uid, expr in targets:
        if uid not in known:
            try:
                known[uid] = grafana.datasource(uid).get("type") if uid else "default"
            except NotFound:
                known[uid] = None
        if known[uid] is None:
            problems.append(f"panel '{panel}' points at datasource '{uid}', which does not exist")
            continue
        if uid != settings.datasource_uid or not expr:
            continue
        concrete = expand_dashboard_variables(expr)
        if concrete is None:
            checked.append({"panel": panel, "expr": expr, "result": "not run: uses dashboard variables"})
            continue
        try:
            if RANGE_FUNCTION.search(concrete):
                concrete = one_minute_ranges(concrete)  # validated over a minute, not the panel's day
                loki.query(concrete, at=live_night.reset_at)
            else:
                loki.query_range(concrete, start=live_night.window_start, end=live_night.window_end, limit=1)
            checked.append({"panel": panel, "expr": concrete, "result": "accepted"})
        except LokiQueryError as exc:
            problems.append(f"panel '{panel}': {exc.problem}")
            checked.append({"panel": panel, "expr": concrete, "result": exc.problem})
    evidence.add("panel queries", checked)
    require(not problems, "Grafana", where, f"every panel of '{dashboard.title}' to query an existing datasource "
            "with LogQL Loki accepts", "; ".join(problems),
            "fix the panels in the dashboard's JSON (datasource uid, LogQL), then reload its provisioning")


@pytest.mark.severity("critical")
def test_backend_healthy(backend, settings, evidence):
    body = evidence.add("GET /health", backend.health())
    require(body.get("status") == "OK", "Backend", backend.url(backend.HEALTH), 'status "OK"',
            f"status {body.get('status')!r}", f"check the container: docker logs {settings.container}")


@pytest.mark.severity("critical")
def test_scheduler_scheduled_for_next_midnight(backend, settings, evidence, now):
    status = backend.scheduler_status()
    evidence.add("scheduler status", status.__dict__)
    where = backend.url(backend.SCHEDULER_STATUS)
    require(status.is_scheduled, "Backend", where, "isScheduled true", "isScheduled false",
            f"the reset job is not scheduled: restart {settings.container} and check its start-up log")
    expected = next_reset(now, settings.reset_time, settings.timezone)
    local = expected.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M:%S")
    require(status.next_reset.startswith(local), "Backend", where, f"nextReset {local} ({settings.timezone})",
            f"nextReset {status.next_reset!r}",
            "the scheduler's time zone or cron expression is wrong: compare it with the site file")


@pytest.mark.severity("critical")
def test_backend_logs_reach_loki(loki, settings, evidence, now):
    query = f"sum(count_over_time({settings.selector}[{int(RECENT.total_seconds())}s]))"
    lines = loki.query(query, at=now).total()
    evidence.add("count", {"query": query, "lines": lines})
    require(lines > 0, "Loki", loki.url(loki.QUERY),
            f"lines from {settings.selector} in the last 15 minutes", "none",
            "logs are not shipped: check Promtail's targets and that the container's name matches the selector")

