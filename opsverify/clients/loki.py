"""Loki 2.x HTTP API client (docs: Loki "HTTP API" reference).

Quirks handled here, as real Loki 2.6.1 shows them (shared/reference/real-responses):
sample values are strings; an empty result is a success with `result: []`;
a LogQL syntax error is a 400 with a plain-text body; a bad regular expression
is a 500 whose body says "parse error" -- an invalid query, not Loki being down.
"""

from dataclasses import dataclass
from datetime import datetime

import yaml

from opsverify import yamlsafe
from opsverify.clients.http import BadResponse, HttpClient

INVALID_QUERY_MARKERS = ("parse error", "error parsing regexp")


class LokiQueryError(BadResponse):
    """Loki refused the query itself (syntax, regex, unsupported): fix the query, not Loki."""


@dataclass(frozen=True)
class Sample:
    """One series of an instant metric query: its labels and value at the query's time."""

    labels: dict
    value: float


@dataclass(frozen=True)
class Series:
    """One series of a range metric query: its labels and its points."""

    labels: dict
    points: tuple  # ((unix seconds, value), ...)

    @property
    def total(self):
        return sum(v for _, v in self.points)


@dataclass(frozen=True)
class Stream:
    labels: dict
    entries: tuple  # ((unix ns, line), ...)


@dataclass(frozen=True)
class QueryResult:
    result_type: str  # vector | matrix | streams | scalar
    items: tuple  # Sample, Series or Stream

    def total(self):
        """The sum of every sample of a vector or matrix (0 when empty)."""
        if self.result_type == "vector":
            return sum(s.value for s in self.items)
        if self.result_type == "matrix":
            return sum(s.total for s in self.items)
        raise TypeError(f"total() of a {self.result_type} result")

    def entries(self):
        """Every (ns, line, labels) of a streams result, oldest first."""
        found = [(ns, line, s.labels) for s in self.items for ns, line in s.entries]
        return sorted(found, key=lambda e: e[0])


def to_ns(instant):
    """An aware datetime as the unix-nanosecond integer Loki accepts."""
    if not isinstance(instant, datetime) or instant.tzinfo is None:
        raise TypeError("Loki times must be timezone-aware datetimes")
    return int(instant.timestamp()) * 1_000_000_000 + instant.microsecond * 1000


class LokiClient(HttpClient):
    system = "Loki"
    hint = "Check that Loki runs and is reachable from this host (curl <loki>/ready)"
    READY, CONFIG, SERIES = "/ready", "/config", "/loki/api/v1/series"
    QUERY, QUERY_RANGE, PUSH = "/loki/api/v1/query", "/loki/api/v1/query_range", "/loki/api/v1/push"

    def ready(self):
        """Loki's /ready: 'ready' with 200; 503 while starting."""
        response = self.request("GET", self.READY)
        return response.text.strip()

    def buildinfo(self):
        return self.get_json("/loki/api/v1/status/buildinfo")

    def config(self, mode=None):
        """The running configuration (GET /config, YAML), as a mapping; mode "diff": only what differs
        from Loki's defaults, i.e. what the operator set."""
        response = self.request("GET", self.CONFIG, params={"mode": mode} if mode else None)
        try:
            document = yamlsafe.safe_load(response.text)
        except yaml.YAMLError:
            document = None
        if document is None and mode == "diff":
            return {}  # nothing differs from the defaults
        if not isinstance(document, dict):
            raise self.shape_error(response, "not Loki's YAML configuration")
        return document

    def query(self, logql, *, at=None, limit=None, direction=None):
        """An instant query (GET /loki/api/v1/query)."""
        params = {"query": logql}
        if at is not None:
            params["time"] = to_ns(at)
        params.update(_optional(limit=limit, direction=direction))
        return self._query(self.QUERY, params)

    def query_range(self, logql, *, start, end, step=None, limit=None, direction=None):
        """A range query (GET /loki/api/v1/query_range); step in seconds."""
        params = {"query": logql, "start": to_ns(start), "end": to_ns(end)}
        params.update(_optional(step=step, limit=limit, direction=direction))
        return self._query(self.QUERY_RANGE, params)

    def labels(self, *, start=None, end=None):
        return self._strings("/loki/api/v1/labels", start, end)

    def label_values(self, name, *, start=None, end=None):
        return self._strings(f"/loki/api/v1/label/{name}/values", start, end)

    def series(self, match, *, start=None, end=None):
        params = {"match[]": match, **_times(start, end)}
        response = self.request("GET", self.SERIES, params=params)
        body = self.parse_json(response)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            raise self.shape_error(response, "data is not a list of label sets")
        return data

    def push(self, labels, entries):
        """POST /loki/api/v1/push (JSON). It writes to Loki: no check may call it without an explicit option
        and a marker of its own (tests/e2e/test_trust_e2e.py proves the suite only reads)."""
        body = {"streams": [{"stream": labels, "values": [[str(ns), line] for ns, line in entries]}]}
        self.request("POST", self.PUSH, json_body=body, expect=(204,))

    def error_for(self, method, url, response):
        text = response.text or ""
        invalid = response.status_code == 400 or (
            response.status_code == 500 and any(m in text for m in INVALID_QUERY_MARKERS)
        )
        if invalid and "/query" in url:
            return LokiQueryError(self.system, method, url,
                                  f"rejected the query ({response.status_code}): {text.strip()}",
                                  status=response.status_code,
                                  hint="The LogQL is invalid: fix the query (Loki runs, it refused this query)")
        return super().error_for(method, url, response)

    def _query(self, path, params):
        response = self.request("GET", path, params=params)
        body = self.parse_json(response)
        try:
            if body["status"] != "success":
                raise KeyError("status")
            data = body["data"]
            return _parse_result(data["resultType"], data["result"])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise self.shape_error(response, f"not a Loki query response ({exc!s})") from None

    def _strings(self, path, start, end):
        response = self.request("GET", path, params=_times(start, end))
        body = self.parse_json(response)
        data = body.get("data", []) if isinstance(body, dict) else None
        if body.get("status") != "success" or not isinstance(data, list):
            raise self.shape_error(response, "data is not a list of strings")
        return [str(v) for v in data]


def _parse_result(result_type, result):
    if not isinstance(result, list):
        raise TypeError("result is not a list")
    if result_type == "vector":
        items = tuple(Sample(dict(r["metric"]), float(r["value"][1])) for r in result)
    elif result_type == "matrix":
        items = tuple(
            Series(dict(r["metric"]), tuple((float(t), float(v)) for t, v in r["values"])) for r in result
        )
    elif result_type == "streams":
        items = tuple(Stream(dict(r["stream"]), tuple((int(ns), str(line)) for ns, line in r["values"]))
                      for r in result)
    else:
        raise ValueError(f"unknown resultType {result_type!r}")
    return QueryResult(result_type, items)


def _optional(**params):
    return {k: v for k, v in params.items() if v is not None}


def _times(start, end):
    return {k: to_ns(v) for k, v in (("start", start), ("end", end)) if v is not None}
