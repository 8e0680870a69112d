"""The emulated Promtail's scrape configuration: /targets, /service-discovery, /metrics and /ready agree
with each other and with Promtail 2.6.1 (captures 26 and 27), and the two Promtail defect scenarios."""

from datetime import date, datetime, timedelta, timezone

import pytest
import requests
from bs4 import BeautifulSoup
from captures import capture
from prometheus_client.parser import text_string_to_metric_families

from sandbox import backend, promtail, promtail_config, scenario
from sandbox.loki import LokiStore
from sandbox.loki import make_app as make_loki_app

NIGHT = date(2026, 11, 29)
NOW = datetime(2026, 11, 29, 5, 31, 48, tzinfo=timezone.utc)
DOCKER_JOB = "docker-containers/unix:///var/run/docker.sock:80"
# The capture's files: Promtail had read them to the end.
CAPTURED_FILES = [{"path": "/var/log/app/backend.log", "size": 391, "position": 391, "lines": 8},
                  {"path": "/var/log/midnight_reset.log", "size": 83, "position": 83, "lines": 2}]


def promtail_for(config):
    return promtail.Promtail(promtail.Shipper("http://127.0.0.1:3100"), config)


@pytest.fixture(scope="module")
def promtail_at(serve):
    """The URL of a Promtail running scenario NAME's configuration (or `config`); one per name."""
    made = {}

    def start(name, config=None):
        if name not in made:
            made[name] = serve(promtail.make_app(promtail_for(config or scenario.load(name).promtail)))
        return made[name]
    return start


def page(url, path):
    response = requests.get(url + path)
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/html; charset=utf-8"
    return response.text


def targets(html):
    """{job: {"header": text, "classes": [...], "rows": [...]}} of a /targets page, as a reader of the HTML sees it."""
    jobs = {}
    for container in BeautifulSoup(html, "html.parser").select("div.table-container"):
        header = container.select_one("h2.job_header")
        link = header.select_one("a")
        rows = []
        for tr in container.find("table", recursive=False).find("tbody").find_all("tr", recursive=False):
            state = tr.select_one("td.state span.state_indicator")
            rows.append({
                "type": tr.select_one("td.type").get_text(strip=True),
                "ready": state.get_text(strip=True),
                "alert": [c for c in state["class"] if c.startswith("alert-")],
                "labels": [b.get_text() for b in tr.select("td.labels span.badge")],
                "files": [[td.get_text() for td in r.select("td")] for r in tr.select("td.details table tbody tr")],
                "has_details_table": tr.select_one("td.details table") is not None,
            })
        jobs[link["id"][len("job-"):]] = {"header": link.get_text(), "classes": header["class"], "href": link["href"],
                                          "rows": rows}
    return jobs


def samples(text):
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


# --- the pages are Promtail 2.6.1's ---

def test_pages_are_byte_for_byte_the_captured_ones(promtail_at):
    url = promtail_at("captured", promtail_config.PromtailConfig.site(files=CAPTURED_FILES))
    assert page(url, "/targets").strip("\n") == capture(26).body
    assert page(url, "/service-discovery").strip("\n") == capture(27).body
    # Promtail's own newlines after </html> (the capture tool adds one more).
    assert page(url, "/targets").endswith("</html>\n\n\n\n\n")
    assert page(url, "/service-discovery").endswith("</style>\n\n\n")


def test_healthy_targets_page(promtail_at):
    jobs = targets(page(promtail_at("healthy"), "/targets"))
    assert {job: j["header"] for job, j in jobs.items()} == {
        DOCKER_JOB: f"{DOCKER_JOB} (1/1 ready)",
        "escashop-backend": "escashop-backend (1/1 ready)",
        "midnight-reset-logs": "midnight-reset-logs (1/1 ready)"}
    assert list(jobs) == sorted(jobs)  # Go ranges over the job map in key order
    assert all(j["classes"] == ["job_header"] for j in jobs.values())
    assert jobs[DOCKER_JOB]["href"] == "#job-docker-containers%2funix%3a%2f%2f%2fvar%2frun%2fdocker.sock%3a80"
    docker, = jobs[DOCKER_JOB]["rows"]
    assert docker["type"] == "Docker" and docker["ready"] == "true" and docker["alert"] == ["alert-success"]
    assert '__meta_docker_container_name="/escashop-backend-prod"' in docker["labels"]
    assert not docker["has_details_table"]
    reset, = jobs["midnight-reset-logs"]["rows"]
    assert reset["type"] == "File" and reset["ready"] == "true" and reset["alert"] == ["alert-success"]
    assert reset["labels"] == ['component="scheduler"', 'job="midnight-reset-monitor"', 'process="midnight_reset"']
    assert reset["files"] == [["/var/log/midnight_reset.log", "0"]]
    assert jobs["escashop-backend"]["rows"][0]["files"] == [["/var/log/app/backend.log", "0"]]


def test_path_that_matches_nothing_leaves_its_job_unready(promtail_at):
    url = promtail_at("promtail-path-matches-nothing")
    jobs = targets(page(url, "/targets"))
    assert {job: j["header"] for job, j in jobs.items()} == {
        DOCKER_JOB: f"{DOCKER_JOB} (1/1 ready)",
        "escashop-backend": "escashop-backend (1/1 ready)",
        "midnight-reset-logs": "midnight-reset-logs (0/1 ready)"}
    assert jobs["midnight-reset-logs"]["classes"] == ["job_header", "danger"]
    row, = jobs["midnight-reset-logs"]["rows"]
    assert row["ready"] == "false" and row["alert"] == ["alert-danger"]
    assert row["has_details_table"] and row["files"] == []  # the Path/Position table, with no row
    assert jobs["escashop-backend"]["classes"] == ["job_header"]
    # Service discovery still lists the target (relabeling kept it), with its wrong __path__.
    sd = BeautifulSoup(page(url, "/service-discovery"), "html.parser")
    index = [" ".join(li.get_text().split()) for li in sd.select("h1 + div > ul > li")]
    assert index == [f"{DOCKER_JOB} (1/1 active targets)", "escashop-backend (1/1 active targets)",
                     "midnight-reset-logs (1/1 active targets)"]
    discovered = sd.select_one('h2[id="job-midnight-reset-logs"]').find_next("table").select_one("td.labels")
    assert '__path__="/var/log/midnight-reset/*.log"' in [b.get_text() for b in discovered.select("span.badge")]
    # Promtail stays ready: another target tails a file (and the docker manager is always ready).
    assert requests.get(url + "/ready").text == "Ready"


@pytest.mark.parametrize("name, files_active", [("healthy", 2), ("promtail-path-matches-nothing", 1)])
def test_metrics_agree_with_the_targets_page(promtail_at, name, files_active):
    url = promtail_at(name)
    jobs = targets(page(url, "/targets"))
    got = samples(requests.get(url + "/metrics").text)
    file_rows = [row for j in jobs.values() for row in j["rows"] if row["type"] == "File"]
    tailed = [path for row in file_rows for path, _ in row["files"]]
    assert got[("promtail_targets_active_total", ())] == len(file_rows) == 2  # file targets, ready or not
    assert got[("promtail_files_active_total", ())] == len(tailed) == files_active
    for metric in ("promtail_read_bytes_total", "promtail_file_bytes_total", "promtail_read_lines_total"):
        assert sorted(dict(labels)["path"] for (n, labels) in got if n == metric) == sorted(tailed)
    positions = {path: float(position) for row in file_rows for path, position in row["files"]}
    assert {dict(l)["path"]: v for (n, l), v in got.items() if n == "promtail_read_bytes_total"} == positions


def test_ready_fails_as_promtail_does_when_nothing_can_be_tailed(serve):
    config = promtail_config.PromtailConfig.site(
        jobs=[{"job_name": "logs", "type": "file", "path": "/var/log/none/*.log", "labels": {"job": "logs"}}])
    url = serve(promtail.make_app(promtail_for(config)))
    response = requests.get(url + "/ready")
    assert response.status_code == 500 and response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.text == promtail.NOT_READY + "\n"
    assert targets(page(url, "/targets"))["logs"]["header"] == "logs (0/1 ready)"
    assert requests.get(url + "/config").status_code == 501  # not emulated, and it says so
    root = requests.get(url + "/", allow_redirects=False)
    assert root.status_code == 303 and root.headers["Location"] == "/targets"


# --- which files a file job tails: doublestar v1, as Promtail 2.6 globs __path__ ---

FILES = ["/var/log/app/backend.log", "/var/log/app/old/backend.log", "/var/log/midnight_reset.log",
         "/var/log/midnight_reset-2.log", "/var/log/a[1].log"]


@pytest.mark.parametrize("pattern, tailed", [
    ("/var/log/app/*.log", ["/var/log/app/backend.log"]),  # * stays within one directory
    ("/var/log/**/*.log", FILES[:2] + ["/var/log/a[1].log"] + FILES[2:4]),  # ** spans zero or more
    ("/var/log/app/**", FILES[:2]),
    ("/var/log/midnight_reset*.log", ["/var/log/midnight_reset-2.log", "/var/log/midnight_reset.log"]),
    ("/var/log/midnight-reset/*.log", []),  # a directory that does not exist
    ("/var/log/midnight_reset?2.log", ["/var/log/midnight_reset-2.log"]),
    ("/var/log/app?backend.log", []),  # ? is not a separator
    ("/var/log/*/backend.log", ["/var/log/app/backend.log"]),
    ("/var/log/{app/backend,midnight_reset}.log", []),  # braces do not span a separator
    ("/var/log/{midnight_reset,other}.log", ["/var/log/midnight_reset.log"]),
    ("/var/log/midnight_reset[^.]*.log", ["/var/log/midnight_reset-2.log"]),
    ("/var/log/a\\[1\\].log", ["/var/log/a[1].log"]),
    ("/var/log/a[1].log", ["/var/log/a[1].log"]),  # an existing file is tailed as named, not globbed
    ("/var/log/[.log", []),  # a malformed pattern: sync() fails, nothing is tailed
])
def test_glob_follows_doublestar_v1(pattern, tailed):
    assert promtail_config.glob(pattern, FILES) == sorted(tailed)


@pytest.mark.parametrize("change, message", [
    ({"promtail_files": [{"path": "/var/log/app/backend.log", "inode": 7}]},
     "keys the sandbox does not emulate: inode"),
    ({"promtail_jobs": [{"job_name": "x", "type": "journal"}]}, "type must be file or docker"),
    ({"promtail_jobs": [{"job_name": "x", "type": "file", "path": "logs/*.log"}]}, "must be an absolute glob"),
    ({"promtail_jobs": [{"job_name": "x", "type": "file", "path": "/var/log/*.log"}]},
     "no docker job discovers container /escashop-backend-prod"),
    ({"promtail_jobs": [{"job_name": "d", "type": "docker", "line_labels": {"timestamp": "utc_time"}}]},
     "only from local_time, not 'utc_time'"),
    ({"promtail_jobs": [{"job_name": "d", "type": "docker", "line_labels": {"stream": "local_time"}}]},
     "line_labels stream would replace the stdout stream's own label"),
    ({"promtail_files": [{"path": "/var/log/a.log", "size": 3, "position": 4}]}, "past the end of the file"),
    ({"promtail_jobs": [{"job_name": "d", "type": "docker", "host": "tcp://10.0.0.5:2375", "socket_mounted": False}]},
     "false only for a unix:// host"),
    ({"promtail_started_hours": "yesterday"}, "promtail_started_hours must be a number of hours"),
])
def test_scenario_refuses_promtail_configuration_it_does_not_emulate(tmp_path, monkeypatch, change, message):
    import yaml
    monkeypatch.setattr(scenario, "SCENARIO_DIR", tmp_path)
    monkeypatch.setattr(scenario, "TEMPLATES_FILE", tmp_path / "templates.yml")
    (tmp_path / "templates.yml").write_bytes((scenario.Path(scenario.__file__).parent / "scenarios" /
                                              "templates.yml").read_bytes())
    data = yaml.safe_load((scenario.Path(scenario.__file__).parent / "scenarios" / "healthy.yml").read_text("utf-8"))
    (tmp_path / "bad.yml").write_text(yaml.safe_dump({**data, **change}, sort_keys=False), encoding="utf-8")
    with pytest.raises(scenario.ScenarioError, match=message.replace("(", r"\(").replace("[", r"\[")):
        scenario.load("bad")


# --- labels-unbounded: every second with a line is a stream ---

def week_store(name):
    sc = scenario.load(name)
    store = LokiStore(config=sc.loki_config, clock=lambda: scenario.to_ns(NOW))
    for labels, entries in sc.render(NIGHT, NOW).streams():
        store.add(labels, entries)
    return sc, store


def test_labels_unbounded_makes_a_stream_per_second_and_keeps_every_count(serve):
    healthy_sc, healthy = week_store("healthy")
    sc, unbounded = week_store("labels-unbounded")
    start, end = scenario.to_ns(NOW - timedelta(days=8)), scenario.to_ns(NOW)
    healthy_series, series = healthy.series(start, end), unbounded.series(start, end)
    streams = {stream for _, stream, _, _ in healthy_sc.render(NIGHT, NOW).lines}
    assert len(healthy_series) == len(streams) and len(series) > 150
    lines = sc.render(NIGHT, NOW).lines
    assert len(series) == len({(stream, instant.astimezone(sc.zone).replace(microsecond=0))
                               for instant, stream, _, _ in lines})
    for labels, entries in sc.render(NIGHT, NOW).streams():
        if "opsverify_drill" in labels:  # pushed by the drill, not shipped by Promtail: no line labels
            assert set(labels) == {"container", "service", "stream", "opsverify_drill"}
            continue
        assert set(labels) == {"container", "service", "stream", "timestamp"}
        for ns, _ in entries:
            local = datetime.fromtimestamp(ns / 1e9, timezone.utc).astimezone(sc.zone)
            assert local.strftime("%Y-%m-%d %H:%M:%S") == labels["timestamp"]
    # Summed over streams, the week's counts are the healthy week's, night by night.
    urls = {name: serve(make_loki_app(store)) for name, store in (("healthy", healthy), ("unbounded", unbounded))}
    for night in healthy_sc.week(NIGHT):
        at = int((healthy_sc.reset_instant(night) + timedelta(minutes=10)).timestamp())
        counts = {}
        for name, url in urls.items():
            for pattern in ("Starting daily queue reset at", "Daily reset completed successfully", "HTTP/1.1"):
                query = f'sum(count_over_time({{container="escashop-backend-prod"}} |= "{pattern}" [30m]))'
                result = requests.get(url + "/loki/api/v1/query", params={"query": query, "time": at}).json()
                counts[name, pattern] = result["data"]["result"][0]["value"][1]
        assert {p: counts["healthy", p] for _, p in counts} == {p: counts["unbounded", p] for _, p in counts}
        assert counts["unbounded", "Daily reset completed successfully"] == "1"


def test_labels_unbounded_labels_the_backends_own_access_lines_too(serve):
    class Recording:
        added = []

        def ingest(self, labels, entries):
            self.added.append(labels)

    store = Recording()
    sc = scenario.load("labels-unbounded")
    shipper = promtail.Shipper("http://127.0.0.1:3100", store=store)
    url = serve(backend.make_app(backend.Backend(sc.render(NIGHT, NOW), "token", shipper)))
    before = datetime.now(sc.zone).replace(microsecond=0)
    requests.get(url + "/health")
    after = datetime.now(sc.zone)
    stamp = datetime.strptime(store.added[-1]["timestamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=sc.zone)
    assert before <= stamp <= after


# --- the CLI runs the scenario's Promtail ---

def test_cli_serves_the_scenarios_promtail(sandboxes):
    box = sandboxes("--scenario", "promtail-path-matches-nothing", "--night", NIGHT.isoformat(),
                    "--now", NOW.isoformat())
    url = box.env["OPSVERIFY_PROMTAIL_URL"]
    assert targets(page(url, "/targets"))["midnight-reset-logs"]["header"] == "midnight-reset-logs (0/1 ready)"
    assert samples(requests.get(url + "/metrics").text)[("promtail_files_active_total", ())] == 1
    assert box.stop() == 0


# --- /metrics: Promtail 2.6.1's families, and counters that follow what was shipped ---

# Every family a Promtail 2.6.1 with file and docker jobs serves once it has sent a batch: (TYPE, HELP) as
# its source registers them (client/client.go NewMetrics, targets/file/metrics.go, targets/docker/metrics.go,
# prometheus/common's version collector) and client_golang 1.12.1's Go and process collectors.
EXPECTED_FAMILIES = {
    "promtail_build_info": ("gauge", "A metric with a constant '1' value labeled by version, revision, branch, "
                                     "and goversion from which promtail was built."),
    "promtail_encoded_bytes_total": ("counter", "Number of bytes encoded and ready to send."),
    "promtail_sent_bytes_total": ("counter", "Number of bytes sent."),
    "promtail_dropped_bytes_total": ("counter", "Number of bytes dropped because failed to be sent to the ingester "
                                                "after all retries."),
    "promtail_sent_entries_total": ("counter", "Number of log entries sent to the ingester."),
    "promtail_dropped_entries_total": ("counter", "Number of log entries dropped because failed to be sent to the "
                                                  "ingester after all retries."),
    "promtail_request_duration_seconds": ("histogram", "Duration of send requests."),
    "promtail_stream_lag_seconds": ("gauge", "Difference between current time and last batch timestamp for "
                                             "successful sends"),
    "promtail_read_bytes_total": ("gauge", "Number of bytes read."),
    "promtail_file_bytes_total": ("gauge", "Number of bytes total."),
    "promtail_read_lines_total": ("counter", "Number of lines read."),
    "promtail_files_active_total": ("gauge", "Number of active files."),
    "promtail_targets_active_total": ("gauge", "Number of active total."),
    "promtail_docker_target_entries_total": ("counter", "Total number of successful entries sent to the Docker "
                                                        "target"),
    "promtail_docker_target_parsing_errors_total": ("counter", "Total number of parsing errors while receiving "
                                                               "Docker messages"),
    "go_gc_duration_seconds": ("summary", "A summary of the pause duration of garbage collection cycles."),
    "go_goroutines": ("gauge", "Number of goroutines that currently exist."),
    "go_threads": ("gauge", "Number of OS threads created."),
    "go_info": ("gauge", "Information about the Go environment."),
    "go_memstats_last_gc_time_seconds": ("gauge", "Number of seconds since 1970 of last garbage collection."),
    "go_memstats_alloc_bytes": ("gauge", "Number of bytes allocated and still in use."),
    "go_memstats_alloc_bytes_total": ("counter", "Total number of bytes allocated, even if freed."),
    "go_memstats_sys_bytes": ("gauge", "Number of bytes obtained from system."),
    "go_memstats_lookups_total": ("counter", "Total number of pointer lookups."),
    "go_memstats_mallocs_total": ("counter", "Total number of mallocs."),
    "go_memstats_frees_total": ("counter", "Total number of frees."),
    "go_memstats_heap_alloc_bytes": ("gauge", "Number of heap bytes allocated and still in use."),
    "go_memstats_heap_sys_bytes": ("gauge", "Number of heap bytes obtained from system."),
    "go_memstats_heap_idle_bytes": ("gauge", "Number of heap bytes waiting to be used."),
    "go_memstats_heap_inuse_bytes": ("gauge", "Number of heap bytes that are in use."),
    "go_memstats_heap_released_bytes": ("gauge", "Number of heap bytes released to OS."),
    "go_memstats_heap_objects": ("gauge", "Number of allocated objects."),
    "go_memstats_stack_inuse_bytes": ("gauge", "Number of bytes in use by the stack allocator."),
    "go_memstats_stack_sys_bytes": ("gauge", "Number of bytes obtained from system for stack allocator."),
    "go_memstats_mspan_inuse_bytes": ("gauge", "Number of bytes in use by mspan structures."),
    "go_memstats_mspan_sys_bytes": ("gauge", "Number of bytes used for mspan structures obtained from system."),
    "go_memstats_mcache_inuse_bytes": ("gauge", "Number of bytes in use by mcache structures."),
    "go_memstats_mcache_sys_bytes": ("gauge", "Number of bytes used for mcache structures obtained from system."),
    "go_memstats_buck_hash_sys_bytes": ("gauge", "Number of bytes used by the profiling bucket hash table."),
    "go_memstats_gc_sys_bytes": ("gauge", "Number of bytes used for garbage collection system metadata."),
    "go_memstats_other_sys_bytes": ("gauge", "Number of bytes used for other system allocations."),
    "go_memstats_next_gc_bytes": ("gauge", "Number of heap bytes when next garbage collection will take place."),
    "go_memstats_gc_cpu_fraction": ("gauge", "The fraction of this program's available CPU time used by the GC "
                                             "since the program started."),
    "process_cpu_seconds_total": ("counter", "Total user and system CPU time spent in seconds."),
    "process_open_fds": ("gauge", "Number of open file descriptors."),
    "process_max_fds": ("gauge", "Maximum number of open file descriptors."),
    "process_virtual_memory_bytes": ("gauge", "Virtual memory size in bytes."),
    "process_virtual_memory_max_bytes": ("gauge", "Maximum amount of virtual memory available in bytes."),
    "process_resident_memory_bytes": ("gauge", "Resident memory size in bytes."),
    "process_start_time_seconds": ("gauge", "Start time of the process since unix epoch in seconds."),
}
SENT_AT = NOW - timedelta(seconds=42)  # the newest line of the batch below


class Ingesting:
    """A store that takes every push (the Shipper's in-process path)."""

    def __init__(self):
        self.ingested = []

    def ingest(self, labels, entries):
        self.ingested.append((labels, entries))


def batch():
    labels = {"container": "escashop-backend-prod", "service": "backend", "stream": "stdout"}
    return [(labels, [(scenario.to_ns(SENT_AT - timedelta(seconds=n)), f"line {n} ✅") for n in (2, 1, 0)])]


def headers(text):
    """{family: (TYPE, HELP)} from the page's comment lines."""
    helps = {line.split(" ", 3)[2]: line.split(" ", 3)[3] for line in text.splitlines() if line.startswith("# HELP ")}
    types = {line.split(" ")[2]: line.split(" ")[3] for line in text.splitlines() if line.startswith("# TYPE ")}
    assert set(helps) == set(types)
    return {name: (types[name], helps[name]) for name in helps}


def dead_url():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_metrics_page_has_every_family_promtail_2_6_1_serves_with_its_help_and_type():
    shipper = promtail.Shipper("http://127.0.0.1:3100", store=Ingesting())
    running = promtail.Promtail(shipper, clock=lambda: NOW)
    shipper.ship(batch())
    text = running.metrics()
    assert headers(text) == EXPECTED_FAMILIES
    names = [line.split(" ")[2] for line in text.splitlines() if line.startswith("# HELP ")]
    assert names == sorted(names)  # client_golang writes families sorted by name
    # Every sample capture 25 shows is served, with the same labels.
    served = {(name, tuple(sorted(dict(labels)))) for name, labels in samples(text)}
    for line in capture(25).body.splitlines():
        name, _, labels = line.split(" ")[0].partition("{")
        label_names = tuple(sorted(k for k, _ in (pair.split("=", 1) for pair in labels.rstrip("}").split(",")
                                                  if pair)))
        assert (name, label_names) in served, line


def test_metrics_families_follow_the_jobs_promtail_runs():
    """Promtail registers the file and docker target families only when such a job exists (targets/manager.go);
    a vector nobody set (stream lag before a send, retries, failed targets) has no family on the page."""
    files_only = promtail_config.PromtailConfig.site(jobs=[{"job_name": "logs", "type": "file",
                                                           "path": "/var/log/app/*.log"}])
    names = set(headers(promtail_for(files_only).metrics()))
    docker = {"promtail_docker_target_entries_total", "promtail_docker_target_parsing_errors_total"}
    unset = {"promtail_stream_lag_seconds", "promtail_request_duration_seconds"}
    assert names == set(EXPECTED_FAMILIES) - docker - unset
    docker_only = promtail_config.PromtailConfig.site(jobs=[{"job_name": "d", "type": "docker"}])
    assert "promtail_files_active_total" not in promtail_for(docker_only).metrics()
    assert docker <= set(headers(promtail_for(docker_only).metrics()))


def test_metrics_counters_follow_what_was_shipped():
    lines = batch()[0][1]
    size = sum(len(line.encode()) for _, line in lines)
    sent = promtail.Shipper("http://127.0.0.1:3100", store=Ingesting())
    running = promtail.Promtail(sent, clock=lambda: NOW)
    sent.ship(batch())
    got = samples(running.metrics())
    host = (("host", "127.0.0.1:3100"),)
    assert got[("promtail_sent_entries_total", host)] == 3 == got[("promtail_docker_target_entries_total", ())]
    assert got[("promtail_sent_bytes_total", host)] == got[("promtail_encoded_bytes_total", host)] == size
    assert got[("promtail_dropped_bytes_total", host)] == got[("promtail_dropped_entries_total", host)] == 0
    lag = {dict(labels)["filename"]: value for (name, labels), value in got.items()
           if name == "promtail_stream_lag_seconds"}
    assert lag == {"": pytest.approx(42)}  # docker streams have no filename label; lag to the newest line
    assert got[("promtail_request_duration_seconds_count", (("host", "127.0.0.1:3100"), ("status_code", "204")))] == 1
    # A Loki nobody answers at: the batch is dropped after its retries, bytes and entries alike.
    url = dead_url()
    dropped = promtail.Shipper(url, store=None)
    failing = promtail.Promtail(dropped, clock=lambda: NOW)
    dropped.ship(batch())
    got = samples(failing.metrics())
    host = (("host", url.split("//")[1]),)
    assert got[("promtail_dropped_entries_total", host)] == 3 == got[("promtail_docker_target_entries_total", ())]
    assert got[("promtail_dropped_bytes_total", host)] == got[("promtail_encoded_bytes_total", host)] == size
    assert got[("promtail_sent_entries_total", host)] == got[("promtail_sent_bytes_total", host)] == 0
    assert got[("promtail_batch_retries_total", host)] >= 1
    assert not [name for name, _ in got if name == "promtail_stream_lag_seconds"]  # no successful send
    # The Go runtime's numbers grow with the work done; the process is the one that started.
    assert samples(running.metrics())[("go_memstats_alloc_bytes_total", ())] > \
        samples(promtail_for(promtail_config.PromtailConfig.site()).metrics())[("go_memstats_alloc_bytes_total", ())]
    assert samples(promtail.Promtail(sent, started=1_796_000_000.25).metrics())[
        ("process_start_time_seconds", ())] == 1_796_000_000.25


# --- promtail-docker-no-socket: Promtail redeployed without the Docker socket ---

def test_docker_job_without_its_socket_discovers_nothing_and_promtail_still_says_ready(promtail_at):
    url = promtail_at("promtail-docker-no-socket")
    jobs = targets(page(url, "/targets"))
    assert jobs[DOCKER_JOB]["header"] == f"{DOCKER_JOB} (0/0 ready)" and jobs[DOCKER_JOB]["rows"] == []
    assert jobs["escashop-backend"]["header"] == "escashop-backend (1/1 ready)"
    assert requests.get(url + "/ready").text == "Ready"  # 2.6.1's docker manager is ready without a target
    assert samples(requests.get(url + "/metrics").text)[("promtail_docker_target_entries_total", ())] == 0


def test_no_backend_line_is_shipped_after_promtail_came_back_without_its_socket(serve):
    sc = scenario.load("promtail-docker-no-socket")
    rendered = sc.render(NIGHT, NOW)
    started = sc.reset_instant(NIGHT) - timedelta(hours=7.5)
    assert rendered.promtail_started == started
    shipped = [ns for labels, entries in rendered.streams() if "opsverify_drill" not in labels for ns, _ in entries]
    assert shipped and max(shipped) < scenario.to_ns(started)
    # The backend reset all the same: its lines exist, and it remembers the reset.
    assert [i for i, _, line, _ in rendered.lines if i > started and "Daily reset completed" in line]
    assert rendered.last_reset > sc.reset_instant(NIGHT)
    # Its access lines of now are not shipped either; the healthy scenario's are.
    for name, expected in (("promtail-docker-no-socket", 0), ("healthy", 1)):
        store = Ingesting()
        url = serve(backend.make_app(backend.Backend(scenario.load(name).render(NIGHT, NOW), "token",
                                                     promtail.Shipper("http://127.0.0.1:3100", store=store),
                                                     clock=lambda: NOW)))
        requests.get(url + "/health")
        assert len(store.ingested) == expected, name


def test_cli_restarts_promtail_at_the_redeploy_and_counts_from_there(sandboxes):
    box = sandboxes("--scenario", "promtail-docker-no-socket", "--night", NIGHT.isoformat(), "--now", NOW.isoformat())
    url = box.env["OPSVERIFY_PROMTAIL_URL"]
    got = samples(requests.get(url + "/metrics").text)
    sc = scenario.load("promtail-docker-no-socket")
    assert got[("process_start_time_seconds", ())] == (sc.reset_instant(NIGHT) - timedelta(hours=7.5)).timestamp()
    assert got[("promtail_docker_target_entries_total", ())] == 0
    assert [v for (name, _), v in got.items() if name == "promtail_sent_entries_total"] == [0]
    loki = box.env["OPSVERIFY_LOKI_URL"]
    redeploy = sc.reset_instant(NIGHT) - timedelta(hours=7.5)
    # The day before the redeploy (Day 6's reset) is in Loki; nothing from it to now (NIGHT's reset included).
    for end, seconds, expected in ((redeploy, 86_400, True), (NOW, int((NOW - redeploy).total_seconds()) - 1, False)):
        query = f'sum(count_over_time({{container="escashop-backend-prod"}}[{seconds}s]))'
        result = requests.get(loki + "/loki/api/v1/query", params={"query": query, "time": end.timestamp()}).json()
        assert bool(result["data"]["result"]) == expected, (end, result)
    assert box.stop() == 0
