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

        def add(self, labels, entries):
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
