"""Promtail 2.x client: /ready and /metrics (Prometheus text exposition format,
parsed with prometheus_client's parser)."""

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

    def names(self):
        return {n for n, _, _ in self.samples}


class PromtailClient(HttpClient):
    system = "Promtail"
    hint = "Check that Promtail runs and is reachable from this host (curl <promtail>/ready)"

    def ready(self):
        """Promtail's /ready: 'Ready' with 200."""
        return self.request("GET", "/ready").text.strip()

    def metrics(self):
        response = self.request("GET", "/metrics")
        try:
            samples = [
                (s.name, dict(s.labels), s.value)
                for family in text_string_to_metric_families(response.text)
                for s in family.samples
            ]
        except ValueError as exc:
            raise self.shape_error(response, f"not the Prometheus text format ({exc})") from None
        return Metrics(samples)
