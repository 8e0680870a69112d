"""Emulated Promtail 2.6.1: what it ships to Loki, and its /ready, /metrics, /targets and /service-discovery.

The `Shipper` is the part of Promtail that sends log lines to Loki; everything
the sandbox puts in Loki goes through it, so /metrics counts exactly what was
shipped. Lines go into an in-process LokiStore when there is one, else by
POST /loki/api/v1/push. Metric names, HELP texts, types and labels follow
Promtail 2.6.1's client/client.go (NewMetrics), targets/file/metrics.go, targets/docker/metrics.go
(registered only when such jobs exist, targets/manager.go), client_golang 1.12.1's Go and process
collectors, and the capture real-responses/...-25-promtail-metrics.txt. Not served: the
runtime/metrics families client_golang 1.12.1 adds on Go 1.17 (go_gc_heap_*, go_memory_classes_*,
go_sched_*, ...), Prometheus' discovery families (prometheus_sd_*) and the HTTP server's own
(request_duration_seconds, tcp_connections, ...). Its targets follow
the scenario's Promtail configuration (sandbox.promtail_config); the HTML pages are
sandbox.promtail_pages.
"""

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from urllib.parse import urlsplit

import requests

from . import promtail_pages
from .httpserver import App, nginx_basic_auth_refusal, text
from .promtail_config import PromtailConfig

EXPOSITION = "text/plain; version=0.0.4; charset=utf-8"
HTML = "text/html; charset=utf-8"  # what Go's http.DetectContentType gives the pages (captures 26, 27)
# client_golang's prometheus.DefBuckets, which promtail_request_duration_seconds uses.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# Promtail retries up to 10 times with a backoff of up to 5 minutes; the sandbox
# cannot wait that long inside a request, so by default it tries twice without waiting.
RETRY_WAITS = (0,)
# server/server.go: what /ready answers (500, through http.Error) when no target manager is ready.
NOT_READY = "Not ready: Unable to find any logs to tail. Please verify permissions, volumes, scrape_config, etc."


class Shipper:
    """Sends lines to Loki and keeps Promtail's client counters for them."""

    def __init__(self, loki_url, store=None):
        self.loki_url = loki_url.rstrip("/")
        self.host = urlsplit(self.loki_url).netloc
        self.store = store
        self._lock = threading.Lock()
        self.encoded_bytes = 0
        self.sent_bytes = 0
        self.sent_entries = 0
        self.dropped_entries = 0
        self.batch_retries = 0
        self.durations = {}  # status code -> [observed seconds]

    def ship(self, streams, waits=RETRY_WAITS):
        """Send one batch [(labels, [(ns, line), ...])]; returns (status, body) of the last attempt.

        A batch Promtail would retry is sent again after each of `waits` (seconds) in turn.
        status is -1 when Loki could not be reached, as Promtail records it.
        """
        size = sum(len(line.encode("utf-8")) for _, entries in streams for _, line in entries)
        count = sum(len(entries) for _, entries in streams)
        with self._lock:
            self.encoded_bytes += size
        for attempt in range(len(waits) + 1):
            if attempt:
                time.sleep(waits[attempt - 1])
            began = time.monotonic()
            status, body = self._send(streams)
            self._observe(status, time.monotonic() - began)
            if status == 204:
                with self._lock:
                    self.sent_bytes += size
                    self.sent_entries += count
                return status, body
            # Promtail retries only connection errors, 429 and 5xx.
            if status != -1 and status != 429 and status // 100 != 5:
                break
            if attempt < len(waits):
                with self._lock:
                    self.batch_retries += 1
        with self._lock:
            self.dropped_entries += count
        return status, body

    def _send(self, streams):
        if self.store is not None:  # straight to the ingester: no distributor validation, no rate limit
            refusals = [text for labels, entries in streams if (text := self.store.ingest(labels, entries))]
            return (400, refusals[-1] + "\n") if refusals else (204, "")
        payload = {"streams": [{"stream": labels, "values": [[str(ns), line] for ns, line in entries]}
                               for labels, entries in streams]}
        try:
            response = requests.post(self.loki_url + "/loki/api/v1/push", data=json.dumps(payload),
                                     headers={"Content-Type": "application/json"}, timeout=30)
        except requests.RequestException as exc:
            return -1, str(exc)
        return response.status_code, response.text

    def _observe(self, status, seconds):
        with self._lock:
            self.durations.setdefault(status, []).append(seconds)


class Promtail:
    """/ready, /metrics, /targets and /service-discovery of one Promtail whose client is `shipper`.

    `config` (sandbox.promtail_config.PromtailConfig, EscaShop's by default) says which jobs it
    runs and which files exist in its container; the file targets, their readiness and the
    file metrics follow from it as in Promtail 2.6 (see promtail_config).
    """

    def __init__(self, shipper, config=None, started=None, clock=None):
        self.shipper = shipper
        self.config = config if config is not None else PromtailConfig.site()
        # process_start_time_seconds: a scenario's Promtail has run since before its week began.
        self.started = time.time() if started is None else started
        self.clock = clock or (lambda: datetime.now(timezone.utc))  # sandbox.clock's now: what lag is measured by
        # client.go names a client by the first 6 hex digits of a SHA-256 of its Go-formatted config, which
        # the sandbox does not have: it hashes the push URL instead.
        self.client = hashlib.sha256(shipper.loki_url.encode()).hexdigest()[:6]
        self.lag = {}  # filename -> seconds: promtail_stream_lag_seconds, set on each successful send
        ship = shipper.ship

        def observed(streams, *args, **kwargs):  # sends made while this Promtail runs (the Shipper keeps no lag)
            status, body = ship(streams, *args, **kwargs)
            if status == 204:
                now = self.clock().timestamp()
                for labels, entries in streams:
                    self.lag[labels.get("filename", "")] = now - entries[-1][0] / 1e9
            return status, body
        shipper.ship = observed

    # --- targets, as Promtail's target managers hold them ---

    def file_targets(self):
        """[(job, Target)] for the file jobs: one target each, ready or not (targetSyncer.sync)."""
        targets = []
        for job in self.config.file_jobs:
            tailed = self.config.tailed(job)
            targets.append((job.job_name, Target("File", bool(tailed), job.discovered_labels, dict(job.labels),
                                                 {p: self.config.files[p].position for p in tailed})))
        return targets

    def docker_targets(self):
        """[(job key, [Target])] for the docker jobs: one running target per discovered container.

        Promtail 2.6's docker Target gets the discovered labels as its labels (relabeling is
        applied per entry), so both pages show the __meta labels (captures 26, 27).
        """
        return [(job.key, [Target("Docker", True, dict(c), dict(c), None)
                           for c in sorted(job.discovered, key=lambda c: sorted(c.items()))])
                for job in self.config.docker_jobs]

    def pools(self):
        """{job: [Target]}: the file and docker managers' targets (TargetManagers.ActiveTargets/AllTargets).

        The file manager lists every target; the docker manager only running ones, and all of the
        sandbox's containers run, so both pages list the same targets here.
        """
        pools = {}
        for name, target in self.file_targets():
            pools.setdefault(name, []).append(target)
        for key, targets in self.docker_targets():
            pools.setdefault(key, []).extend(t for t in targets if t.ready)
        return pools

    def tailed_files(self):
        """{path: PromtailFile} of every file some file target tails."""
        return {p: self.config.files[p] for job in self.config.file_jobs for p in self.config.tailed(job)}

    def ready(self):
        """TargetManagers.Ready(): any manager ready. The file manager is ready when one of its targets
        tails a file; the docker manager as soon as it has a docker_sd job (its syncer's Ready()
        returns true even without a running target, targets/docker/targetmanager.go)."""
        return bool(self.config.docker_jobs) or any(t.ready for _, t in self.file_targets())

    def metrics(self):
        """The exposition text: families sorted by name, as client_golang writes them."""
        s = self.shipper
        host = f'host="{s.host}"'
        with s._lock:
            # Every batch the Shipper encodes is either sent or dropped, as in client.go's sendBatch.
            shipped = {"encoded": s.encoded_bytes, "sent": s.sent_bytes, "dropped": s.encoded_bytes - s.sent_bytes,
                       "entries": s.sent_entries, "dropped_entries": s.dropped_entries, "retries": s.batch_retries,
                       "durations": {k: list(v) for k, v in s.durations.items()}}
        open_files = len(self.tailed_files()) + sum(len(t) for _, t in self.docker_targets())
        families = _process_families(self.started, shipped, self.clock().timestamp(), open_files) + [
            # prometheus/common version.NewCollector("promtail"), which Promtail registers at start.
            _family("promtail_build_info", "gauge",
                    "A metric with a constant '1' value labeled by version, revision, branch, and goversion "
                    "from which promtail was built.",
                    [('branch="HEAD",goversion="go1.17.9",revision="6bd05c9a4",version="2.6.1"', 1)]),
            # client.go: the counters with a host label start at 0 for the client's host.
            _family("promtail_dropped_bytes_total", "counter",
                    "Number of bytes dropped because failed to be sent to the ingester after all retries.",
                    [(host, shipped["dropped"])]),
            _family("promtail_dropped_entries_total", "counter",
                    "Number of log entries dropped because failed to be sent to the ingester after all retries.",
                    [(host, shipped["dropped_entries"])]),
            _family("promtail_encoded_bytes_total", "counter",
                    "Number of bytes encoded and ready to send.", [(host, shipped["encoded"])]),
            _histogram("promtail_request_duration_seconds", "Duration of send requests.", s.host,
                       shipped["durations"]),
            _family("promtail_sent_bytes_total", "counter", "Number of bytes sent.", [(host, shipped["sent"])]),
            _family("promtail_sent_entries_total", "counter",
                    "Number of log entries sent to the ingester.", [(host, shipped["entries"])]),
            # A series per stream_lag_labels value (default "filename"; docker streams have none: "").
            _family("promtail_stream_lag_seconds", "gauge",
                    "Difference between current time and last batch timestamp for successful sends",
                    [(f'client="{self.client}",filename="{_label_value(name)}",{host}', seconds)
                     for name, seconds in sorted(self.lag.items())]),
        ]
        # Vectors nobody touched have no series, and client_golang then prints nothing for them: retries
        # appear after the first retry, failed targets (promtail_targets_failed_total) never.
        if shipped["retries"]:
            families.append(_family("promtail_batch_retries_total", "counter",
                                    "Number of times batches has had to be retried.", [(host, shipped["retries"])]))
        if self.config.file_jobs:
            families += self._file_families()
        if self.config.docker_jobs:
            # targets/docker/target.go counts each entry its targets hand to the client; all the sandbox ships
            # is docker-discovered, and a line it parses badly does not exist.
            families += [
                _family("promtail_docker_target_entries_total", "counter",
                        "Total number of successful entries sent to the Docker target",
                        [("", shipped["entries"] + shipped["dropped_entries"])]),
                _family("promtail_docker_target_parsing_errors_total", "counter",
                        "Total number of parsing errors while receiving Docker messages", [("", 0)]),
            ]
        families.sort(key=lambda f: f[0])
        return "".join(body for _, body in families if body)

    def _file_families(self):
        """targets/file/metrics.go: files_active_total counts running tailers, file_bytes_total is each tailed
        file's size, read_bytes_total its position, read_lines_total the lines read."""
        tailed = self.tailed_files()
        paths = sorted(tailed)
        return [
            _family("promtail_file_bytes_total", "gauge", "Number of bytes total.",
                    [(f'path="{_label_value(p)}"', tailed[p].size) for p in paths]),
            _family("promtail_files_active_total", "gauge", "Number of active files.",
                    [("", sum(len(self.config.tailed(job)) for job in self.config.file_jobs))]),
            _family("promtail_read_bytes_total", "gauge", "Number of bytes read.",
                    [(f'path="{_label_value(p)}"', tailed[p].position) for p in paths]),
            _family("promtail_read_lines_total", "counter", "Number of lines read.",
                    [(f'path="{_label_value(p)}"', tailed[p].lines) for p in paths]),
            # filetargetmanager.go adds 1 for every FileTarget it creates, whether it tails anything or not;
            # docker targets are not counted (README of the captures, capture 25).
            _family("promtail_targets_active_total", "gauge", "Number of active total.",
                    [("", len(self.config.file_jobs))]),
        ]


@dataclass
class Target:
    """What Promtail's pages read of a target (targets/target.Target)."""
    type: str  # "File" | "Docker" (target.TargetType)
    ready: bool
    discovered_labels: dict
    labels: dict
    details: dict  # File: {path: position} of the tailed files; Docker: not shown


def _label_value(value):
    """A label value in the exposition format: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def _go_float(value):
    """Go's strconv.FormatFloat(v, 'g', -1, 64), which client_golang writes samples with."""
    value = float(value)
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    digits = "".join(map(str, digits))
    point = len(digits) + exponent  # where the decimal point goes
    exp = point - 1
    prefix = "-" if sign else ""
    if exp < -4 or exp >= 6:  # shortest formatting switches to %e at exponent 6
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{prefix}{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return prefix + digits + "0" * (point - len(digits))
    return f"{prefix}{digits[:point]}.{digits[point:]}"


def _family(name, kind, help_text, samples):
    if not samples:
        return name, ""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        lines.append(f"{name}{{{labels}}} {_go_float(value)}" if labels else f"{name} {_go_float(value)}")
    return name, "\n".join(lines) + "\n"


def _histogram(name, help_text, host, durations):
    if not durations:
        return name, ""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
    for status in sorted(durations, key=str):
        observed = durations[status]
        labels = f'host="{host}",status_code="{status}"'
        for bound in BUCKETS:
            count = sum(1 for seconds in observed if seconds <= bound)
            lines.append(f'{name}_bucket{{{labels},le="{_go_float(bound)}"}} {count}')
        lines.append(f'{name}_bucket{{{labels},le="+Inf"}} {len(observed)}')
        lines.append(f"{name}_sum{{{labels}}} {_go_float(sum(observed))}")
        lines.append(f"{name}_count{{{labels}}} {len(observed)}")
    return name, "\n".join(lines) + "\n"


# client_golang 1.12.1's Go collector (go_collector.go: base and memstats families) and process collector
# (process_collector.go), which Promtail's default registry carries: (name, type, HELP).
GO_FAMILIES = [
    ("go_goroutines", "gauge", "Number of goroutines that currently exist."),
    ("go_info", "gauge", "Information about the Go environment."),
    ("go_memstats_alloc_bytes", "gauge", "Number of bytes allocated and still in use."),
    ("go_memstats_alloc_bytes_total", "counter", "Total number of bytes allocated, even if freed."),
    ("go_memstats_buck_hash_sys_bytes", "gauge", "Number of bytes used by the profiling bucket hash table."),
    ("go_memstats_frees_total", "counter", "Total number of frees."),
    ("go_memstats_gc_cpu_fraction", "gauge",
     "The fraction of this program's available CPU time used by the GC since the program started."),
    ("go_memstats_gc_sys_bytes", "gauge", "Number of bytes used for garbage collection system metadata."),
    ("go_memstats_heap_alloc_bytes", "gauge", "Number of heap bytes allocated and still in use."),
    ("go_memstats_heap_idle_bytes", "gauge", "Number of heap bytes waiting to be used."),
    ("go_memstats_heap_inuse_bytes", "gauge", "Number of heap bytes that are in use."),
    ("go_memstats_heap_objects", "gauge", "Number of allocated objects."),
    ("go_memstats_heap_released_bytes", "gauge", "Number of heap bytes released to OS."),
    ("go_memstats_heap_sys_bytes", "gauge", "Number of heap bytes obtained from system."),
    ("go_memstats_last_gc_time_seconds", "gauge", "Number of seconds since 1970 of last garbage collection."),
    ("go_memstats_lookups_total", "counter", "Total number of pointer lookups."),
    ("go_memstats_mallocs_total", "counter", "Total number of mallocs."),
    ("go_memstats_mcache_inuse_bytes", "gauge", "Number of bytes in use by mcache structures."),
    ("go_memstats_mcache_sys_bytes", "gauge", "Number of bytes used for mcache structures obtained from system."),
    ("go_memstats_mspan_inuse_bytes", "gauge", "Number of bytes in use by mspan structures."),
    ("go_memstats_mspan_sys_bytes", "gauge", "Number of bytes used for mspan structures obtained from system."),
    ("go_memstats_next_gc_bytes", "gauge", "Number of heap bytes when next garbage collection will take place."),
    ("go_memstats_other_sys_bytes", "gauge", "Number of bytes used for other system allocations."),
    ("go_memstats_stack_inuse_bytes", "gauge", "Number of bytes in use by the stack allocator."),
    ("go_memstats_stack_sys_bytes", "gauge", "Number of bytes obtained from system for stack allocator."),
    ("go_memstats_sys_bytes", "gauge", "Number of bytes obtained from system."),
    ("go_threads", "gauge", "Number of OS threads created."),
    ("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds."),
    ("process_max_fds", "gauge", "Maximum number of open file descriptors."),
    ("process_open_fds", "gauge", "Number of open file descriptors."),
    ("process_resident_memory_bytes", "gauge", "Resident memory size in bytes."),
    ("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds."),
    ("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes."),
    ("process_virtual_memory_max_bytes", "gauge", "Maximum amount of virtual memory available in bytes."),
]
GC_DURATION_HELP = "A summary of the pause duration of garbage collection cycles."


def _process_families(started, shipped, now, open_files):
    """The go_* and process_* families of a Promtail that started at `started` and has done what `shipped`
    says: memory and CPU grow with the bytes it encoded (a made-up but consistent model: the sandbox has
    no Go runtime to read), and Go's invariants hold (heap_sys = idle + inuse, sys = the sum of the *_sys)."""
    work = shipped["encoded"]
    entries = shipped["entries"] + shipped["dropped_entries"]
    heap_alloc = 14_000_000 + min(work, 200_000_000) // 8
    heap_inuse = heap_alloc + 2_500_000
    heap_idle = 9_000_000
    heap_sys = heap_inuse + heap_idle
    stack_sys, mspan_sys, mcache_sys, buck_hash, gc_sys, other_sys = 1_179_648, 278_528, 15_600, 1_497_261, \
        5_371_736, 1_112_675
    sys_bytes = heap_sys + stack_sys + mspan_sys + mcache_sys + buck_hash + gc_sys + other_sys
    allocated = 60_000_000 + 12 * work
    objects = 70_000 + heap_alloc // 400
    mallocs = 400_000 + 40 * entries + objects
    gcs = max(1, allocated // 4_000_000)
    values = {
        "go_goroutines": 58 + 6 * open_files, "go_info": ('version="go1.17.9"', 1),
        "go_memstats_alloc_bytes": heap_alloc, "go_memstats_alloc_bytes_total": allocated,
        "go_memstats_buck_hash_sys_bytes": buck_hash, "go_memstats_frees_total": mallocs - objects,
        "go_memstats_gc_cpu_fraction": 2.1e-05, "go_memstats_gc_sys_bytes": gc_sys,
        "go_memstats_heap_alloc_bytes": heap_alloc, "go_memstats_heap_idle_bytes": heap_idle,
        "go_memstats_heap_inuse_bytes": heap_inuse, "go_memstats_heap_objects": objects,
        "go_memstats_heap_released_bytes": 6_651_904, "go_memstats_heap_sys_bytes": heap_sys,
        # Go forces a GC at least every 2 minutes; a quarter past a whole second keeps the text's length fixed.
        "go_memstats_last_gc_time_seconds": max(started, int(now) - 97 + 0.25), "go_memstats_lookups_total": 0,
        "go_memstats_mallocs_total": mallocs, "go_memstats_mcache_inuse_bytes": 9_600,
        "go_memstats_mcache_sys_bytes": mcache_sys, "go_memstats_mspan_inuse_bytes": 231_472,
        "go_memstats_mspan_sys_bytes": mspan_sys, "go_memstats_next_gc_bytes": 2 * heap_alloc,
        "go_memstats_other_sys_bytes": other_sys, "go_memstats_stack_inuse_bytes": stack_sys,
        "go_memstats_stack_sys_bytes": stack_sys, "go_memstats_sys_bytes": sys_bytes, "go_threads": 12,
        "process_cpu_seconds_total": round(2.4 + entries * 2e-05 + work * 1e-08, 2), "process_max_fds": 1_048_576,
        "process_open_fds": 14 + open_files, "process_resident_memory_bytes": sys_bytes + 11_812_864,
        "process_start_time_seconds": round(started, 2), "process_virtual_memory_bytes": 781_033_472,
        "process_virtual_memory_max_bytes": 1.8446744073709552e+19,
    }
    families = []
    for name, kind, help_text in GO_FAMILIES:
        value = values[name]
        families.append(_family(name, kind, help_text, [value if isinstance(value, tuple) else ("", value)]))
    pauses = (3.1e-05, 5.6e-05, 7.9e-05, 0.000112, 0.000987)  # quantiles 0, .25, .5, .75, 1
    families.append(("go_gc_duration_seconds", "".join([
        f"# HELP go_gc_duration_seconds {GC_DURATION_HELP}\n# TYPE go_gc_duration_seconds summary\n",
        *(f'go_gc_duration_seconds{{quantile="{q}"}} {_go_float(v)}\n'
          for q, v in zip(("0", "0.25", "0.5", "0.75", "1"), pauses)),
        f"go_gc_duration_seconds_sum {_go_float(round(gcs * 8.4e-05, 9))}\n",
        f"go_gc_duration_seconds_count {gcs}\n"])))
    return families


def make_app(promtail):
    app = App("promtail")
    # The fault "error500". Promtail's HTTP server is the same weaveworks/common server as Loki's, but
    # without Loki's recovery middleware; the 500 it writes itself is http.Error's (text/plain;
    # charset=utf-8, nosniff, trailing newline) with its readiness failure (server/server.go ready).
    app.fault_answer("error500")(lambda request: text(500, NOT_READY + "\n", X_Content_Type_Options="nosniff"))
    # The fault "unauthorized": Promtail has no auth of its own; the nginx reverse proxy in front of
    # it (auth_basic) refuses the request.
    app.fault_answer("unauthorized")(nginx_basic_auth_refusal("Promtail"))

    # Promtail's /ready (server/server.go): 200 "Ready" in plain text (capture 02) while some target
    # manager is ready, else http.Error's 500 with the readiness probe's failure text.
    @app.route("GET", "/ready")
    def ready(request):
        if not promtail.ready():
            return text(500, NOT_READY + "\n", X_Content_Type_Options="nosniff")
        return text(200, "Ready")

    # server/server.go: "/" is http.RedirectHandler(".../targets", 303); Go writes this body for a GET.
    @app.route("GET", "/")
    def root(request):
        return text(303, '<a href="/targets">See Other</a>.\n\n', content_type=HTML, Location="/targets")

    # The HTML pages of server/ui/templates (targets.html, service-discovery.html), captures 26 and 27.
    @app.route("GET", "/targets")
    def targets(request):
        return text(200, promtail_pages.targets_page(promtail.pools()), content_type=HTML)

    @app.route("GET", "/service-discovery")
    def service_discovery(request):
        return text(200, promtail_pages.service_discovery_page(promtail.pools()), content_type=HTML)

    # The rest of Promtail's UI the sandbox does not serve: say so rather than answer a 404 Promtail would not.
    @app.route("GET", r"/(config|static/.*)")
    def not_emulated(request):
        return text(501, f"sandbox promtail does not emulate GET {request.path}\n")

    # Prometheus text exposition format 0.0.4 (capture 25).
    @app.route("GET", "/metrics")
    def metrics(request):
        return text(200, promtail.metrics(), content_type=EXPOSITION)

    return app
