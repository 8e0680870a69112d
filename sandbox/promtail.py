"""Emulated Promtail 2.6.1: what it ships to Loki, and its /ready, /metrics, /targets and /service-discovery.

The `Shipper` is the part of Promtail that sends log lines to Loki; everything
the sandbox puts in Loki goes through it, so /metrics counts exactly what was
shipped. Lines go into an in-process LokiStore when there is one, else by
POST /loki/api/v1/push. Metric names, HELP texts, types and labels follow
Promtail 2.6's clients/pkg/promtail/client/metrics and targets/file/metrics,
and the capture real-responses/...-25-promtail-metrics.txt. Its targets follow
the scenario's Promtail configuration (sandbox.promtail_config); the HTML pages are
sandbox.promtail_pages.
"""

import json
import threading
import time
from dataclasses import dataclass
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
# cannot wait that long inside a request, so it tries twice without waiting.
ATTEMPTS = 2
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

    def ship(self, streams):
        """Send one batch [(labels, [(ns, line), ...])]; returns (status, body) of the last attempt.

        status is -1 when Loki could not be reached, as Promtail records it.
        """
        size = sum(len(line.encode("utf-8")) for _, entries in streams for _, line in entries)
        count = sum(len(entries) for _, entries in streams)
        with self._lock:
            self.encoded_bytes += size
        for attempt in range(1, ATTEMPTS + 1):
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
            if attempt < ATTEMPTS:
                with self._lock:
                    self.batch_retries += 1
        with self._lock:
            self.dropped_entries += count
        return status, body

    def _send(self, streams):
        if self.store is not None:
            for labels, entries in streams:
                self.store.add(labels, entries)
            return 204, ""
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

    def __init__(self, shipper, config=None, started=None):
        self.shipper = shipper
        self.config = config if config is not None else PromtailConfig.site()
        # process_start_time_seconds: a scenario's Promtail has run since before its week began.
        self.started = time.time() if started is None else started

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
                           for c in sorted(job.containers, key=lambda c: sorted(c.items()))])
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
        tailed = self.tailed_files()
        files_active = sum(len(self.config.tailed(job)) for job in self.config.file_jobs)
        paths = sorted(tailed)
        with s._lock:
            families = [
                _family("process_start_time_seconds", "gauge",
                        "Start time of the process since unix epoch in seconds.", [("", self.started)]),
                # prometheus/common version.NewCollector("promtail"), which Promtail registers at start.
                _family("promtail_build_info", "gauge",
                        "A metric with a constant '1' value labeled by version, revision, branch, and goversion "
                        "from which promtail was built.",
                        [('branch="HEAD",goversion="go1.17.9",revision="6bd05c9a4",version="2.6.1"', 1)]),
                _family("promtail_dropped_entries_total", "counter",
                        "Number of log entries dropped because failed to be sent to the ingester after all retries.",
                        [(host, s.dropped_entries)]),
                _family("promtail_encoded_bytes_total", "counter",
                        "Number of bytes encoded and ready to send.", [(host, s.encoded_bytes)]),
                # targets/file/metrics.go: files_active_total counts running tailers, file_bytes_total is
                # each tailed file's size, read_bytes_total its position, read_lines_total the lines read.
                _family("promtail_file_bytes_total", "gauge", "Number of bytes total.",
                        [(f'path="{_label_value(p)}"', tailed[p].size) for p in paths]),
                _family("promtail_files_active_total", "gauge", "Number of active files.", [("", files_active)]),
                _family("promtail_read_bytes_total", "gauge", "Number of bytes read.",
                        [(f'path="{_label_value(p)}"', tailed[p].position) for p in paths]),
                _family("promtail_read_lines_total", "counter", "Number of lines read.",
                        [(f'path="{_label_value(p)}"', tailed[p].lines) for p in paths]),
                _histogram("promtail_request_duration_seconds", "Duration of send requests.", s.host, s.durations),
                _family("promtail_sent_bytes_total", "counter", "Number of bytes sent.", [(host, s.sent_bytes)]),
                _family("promtail_sent_entries_total", "counter",
                        "Number of log entries sent to the ingester.", [(host, s.sent_entries)]),
                # filetargetmanager.go adds 1 for every FileTarget it creates, whether it tails anything or not;
                # docker targets are not counted (README of the captures, capture 25).
                _family("promtail_targets_active_total", "gauge", "Number of active total.",
                        [("", len(self.config.file_jobs))]),
            ]
            # Vectors nobody touched have no series, and client_golang then
            # prints nothing for them: retries appear after the first retry,
            # failed targets never (the sandbox has none).
            if s.batch_retries:
                families.append(_family("promtail_batch_retries_total", "counter",
                                        "Number of times batches has had to be retried.", [(host, s.batch_retries)]))
        families.sort(key=lambda f: f[0])
        return "".join(body for _, body in families if body)


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
