"""Promtail 2.x client: /ready and /metrics (Prometheus text exposition format,
parsed with prometheus_client's parser)."""

import re
from dataclasses import dataclass
from html.parser import HTMLParser

from prometheus_client.parser import text_string_to_metric_families

from opsverify.clients.http import HttpClient


class Metrics:
    """Samples of one /metrics scrape."""

    def __init__(self, samples):
        self.samples = samples  # [(name, labels, value)]

    def total(self, name, **labels):
        """The sum of `name` over every series whose labels include `labels`; None when absent."""
        values = [v for n, l, v in self.samples if n == name and all(l.get(k) == x for k, x in labels.items())]
        return sum(values) if values else None



# A docker_sd job's target group is named after its job and the engine it asks, as the /targets page
# shows it (capture 26: "docker-containers/unix:///var/run/docker.sock:80"), with or without targets.
DOCKER_GROUP = re.compile(r"^([^/]+)/((?:unix|tcp|https?)://.*):(\d+)$")


@dataclass(frozen=True)
class Job:
    name: str
    ready: int
    total: int
    discovered: tuple = ()  # per target, its labels before relabeling: the "__meta_*" of discovery

    @property
    def job_name(self):
        """The scrape config's job_name (a docker job's header also names its engine)."""
        match = DOCKER_GROUP.match(self.name)
        return match.group(1) if match else self.name

    @property
    def engine(self):
        """The Docker engine a docker job asks (its docker_sd_configs host), from its header; None for others."""
        match = DOCKER_GROUP.match(self.name)
        return match.group(2) if match else None

    @property
    def docker(self):
        """A docker service discovery job: by its header, or by what it discovered."""
        return bool(DOCKER_GROUP.match(self.name)) or any("__meta_docker_container_name" in t for t in self.discovered)


class _TargetsPage(HTMLParser):
    """Promtail's /targets page: each <h2 class="job_header"><a>NAME (R/T ready)</a>, and per target
    the tooltip listing its labels before relabeling (`data-original-title`)."""

    def __init__(self):
        super().__init__()
        self.texts, self.discovered, self._in_header, self._in_link = [], [], False, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "h2" and "job_header" in (attrs.get("class") or "").split():
            self._in_header = True
        elif tag == "a" and self._in_header:
            self._in_link = True
            self.texts.append("")
            self.discovered.append([])
        elif tag == "span" and "data-original-title" in attrs and self.discovered:
            self.discovered[-1].append(_labels(attrs["data-original-title"]))

    def handle_endtag(self, tag):
        if tag == "a":
            self._in_link = False
        elif tag == "h2":
            self._in_header = False

    def handle_data(self, data):
        if self._in_link:
            self.texts[-1] += data


JOB_HEADER = re.compile(r"^(.*) \((\d+)/(\d+) ready\)$")
LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _labels(tooltip):
    """{name: value} from a tooltip such as '<b>Before relabeling:</b><br>job="x"<br>...'."""
    return dict(LABEL.findall(tooltip))


class PromtailClient(HttpClient):
    system = "Promtail"
    hint = "Check that Promtail runs and is reachable from this host (curl <promtail>/ready)"
    READY, TARGETS, METRICS = "/ready", "/targets", "/metrics"

    def ready(self):
        """Promtail's /ready: 'Ready' with 200, or with 500 why not (server/server.go: "Not ready: Unable to
        find any logs to tail. ..." when no target is ready): both are answers from a running Promtail."""
        return self.request("GET", self.READY, expect=(200, 500)).text.strip()

    def targets(self):
        """The scrape jobs of Promtail's /targets page (HTML; Promtail has no JSON targets API)."""
        response = self.request("GET", self.TARGETS)
        parser = _TargetsPage()
        parser.feed(response.text)
        jobs = []
        for text, discovered in zip(parser.texts, parser.discovered):
            match = JOB_HEADER.match(" ".join(text.split()))
            if not match:
                raise self.shape_error(response, f"a job header {text.strip()!r} without '(ready/total ready)'")
            jobs.append(Job(match.group(1), int(match.group(2)), int(match.group(3)), tuple(discovered)))
        return jobs

    def metrics(self):
        response = self.request("GET", self.METRICS)
        try:
            samples = [
                (s.name, dict(s.labels), s.value)
                for family in text_string_to_metric_families(response.text)
                for s in family.samples
            ]
        except ValueError as exc:
            raise self.shape_error(response, f"not the Prometheus text format ({exc})") from None
        return Metrics(samples)
