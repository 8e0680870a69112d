"""The emulated Loki 2.6.1: an in-memory log store and its HTTP API.

Answers follow the captures of a real Loki 2.6.1 in
/work/shared/reference/real-responses/ (the file numbers quoted below), down
to status codes, content types, trailing newlines and error texts. LogQL is
evaluated by sandbox.logql, which refuses what it does not implement.
"""

import bisect
import calendar
import itertools
import json
import math
import re
import threading
import time
from array import array
from datetime import datetime, timezone
from decimal import Decimal

from sandbox import logql, loki_config
from sandbox.gotext import go_quote, parse_model_duration
from sandbox.httpserver import App, Response, nginx_basic_auth_refusal, text

DEFAULT_QUERY_LIMIT = 100
DEFAULT_SINCE_NS = logql.HOUR_NS  # pkg/loghttp/params.go defaultSince, for queries and labels
MAX_POINTS_PER_SERIES = 11000

JSON = "application/json"
JSON_UTF8 = "application/json; charset=UTF-8"  # what Loki 2.6.1 labels its 400s and some query answers
NOSNIFF = {"X-Content-Type-Options": "nosniff"}  # Go's http.Error sets it


class PushError(Exception):
    """A push Loki refuses: 400 (the acceptable entries were stored anyway) or 429 (nothing stored)."""

    def __init__(self, text, status=400):
        super().__init__(text)
        self.text = text
        self.status = status


# pkg/validation/validate.go RateLimitedErrorMsg; the tenant is "fake" when auth_enabled is false.
RATE_LIMITED = ("Ingestion rate limit exceeded for user {tenant} (limit: {limit} bytes/sec) while attempting to ingest "
                "'{lines}' lines totaling '{size}' bytes, reduce log volume or contact your Loki administrator to "
                "see if the limit can be increased")
MAX_RETURNED_ERRORS = 10  # ingester.max_returned_stream_errors


def _rfc3339(ns):
    """Go's time.Format(time.RFC3339) in UTC: whole seconds."""
    return datetime.fromtimestamp(ns // logql.SECOND_NS, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _go_time_string(ns):
    """Go's Time.String() of time.Unix(0, ns) in UTC: '2026-12-01 15:13:03.761172575 +0000 UTC',
    the fraction without trailing zeros (capture 42)."""
    stamp = datetime.fromtimestamp(ns // logql.SECOND_NS, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    fraction = f"{ns % logql.SECOND_NS:09d}".rstrip("0")
    return f"{stamp}{'.' + fraction if fraction else ''} +0000 UTC"


class TokenBucket:
    """golang.org/x/time/rate's Limiter.AllowN, which Loki's ingestion rate limiter wraps: `rate`
    tokens (bytes) a second up to `burst`; a request for more than `burst` is never allowed. It
    runs on the machine's monotonic clock, as Loki's runs on time.Now, not on the sandbox's clock."""

    def __init__(self, rate, burst, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self._tokens, self._at = burst, clock()
        self._lock = threading.Lock()

    def allow(self, n):
        with self._lock:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if n > self._tokens:
                return False
            self._tokens -= n
            return True


_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class _Stream:
    """One stream's entries as two parallel lists sorted by time, and (built when first read) the
    running total of their UTF-8 sizes, so that a scan knows the bytes of any time range at once."""

    def __init__(self, labels):
        self.labels = dict(labels)
        self.times = []
        self.lines = []
        self._sizes = None  # _sizes[i]: UTF-8 bytes of lines[:i]; None until a scan needs it
        self.highest = None  # the newest timestamp the ingester appended (preloads through `add` do not count)

    def insert(self, ns, line):
        """Keep entries sorted by time; an identical (time, line) entry is stored once."""
        if not self.times or ns > self.times[-1]:  # the usual case, lines in time order: append
            self.times.append(ns)
            self.lines.append(line)
            if self._sizes is not None:
                self._sizes.append(self._sizes[-1] + len(line.encode("utf-8")))
            return
        low = bisect.bisect_left(self.times, ns)
        high = bisect.bisect_right(self.times, ns, low)
        if line not in self.lines[low:high]:
            self.times.insert(high, ns)
            self.lines.insert(high, line)
            self._sizes = None

    def span(self, start_ns, end_ns):
        """The indices [low, high) of the entries with start <= ts < end."""
        low = bisect.bisect_left(self.times, start_ns)
        return low, bisect.bisect_left(self.times, end_ns, low)

    def between(self, start_ns, end_ns):
        low, high = self.span(start_ns, end_ns)
        return list(zip(self.times[low:high], self.lines[low:high]))

    def holds_between(self, start_ns, end_ns):
        low, high = self.span(start_ns, end_ns)
        return high > low

    def size(self, low, high):
        """UTF-8 bytes of lines[low:high]."""
        if self._sizes is None:
            self._sizes = array("q", itertools.accumulate((len(line.encode("utf-8")) for line in self.lines),
                                                          initial=0))
        return self._sizes[high] - self._sizes[low]


class LokiStore:
    """Thread-safe in-memory streams: label set -> entries sorted by nanosecond timestamp.

    It enforces what its configuration (sandbox.loki_config, the one GET /config
    prints) says: push validation as the distributor does it with reject_old_samples
    and creation_grace_period (pkg/validation, distributor validator.go), and the
    compactor's retention. Retention is applied as of each read: an entry older than
    now - limits_config.retention_period is gone as soon as compactor.retention_enabled
    makes that period apply (real Loki deletes it chunk by chunk, up to
    compaction_interval + retention_delete_delay later).
    """

    def __init__(self, config=None, clock=time.time_ns, tenant="fake"):
        self.config = loki_config.LokiConfig.site() if config is None else config
        self.clock = clock
        self.tenant = tenant  # whose logs these are: "fake" without auth_enabled (pkg/util/fakeauth)
        self._lock = threading.Lock()
        self._streams = {}
        self._limiter = TokenBucket(*self.config.ingestion_rate)  # the distributor's, for pushes over HTTP

    @property
    def reject_old_samples_max_age_ns(self):
        return self.config.reject_old_samples_max_age_ns

    @property
    def creation_grace_period_ns(self):
        return self.config.creation_grace_period_ns

    def retained_since(self, now_ns=None):
        """The oldest timestamp still kept, or None when nothing is deleted."""
        retention = self.config.retention_ns
        if retention is None:
            return None
        return (self.now_ns() if now_ns is None else now_ns) - retention

    def now_ns(self):
        return self.clock()

    def add(self, labels, entries):
        """Store (ns, line) entries without any validation, as if flushed to the store long ago
        (test preloads): they do not move the ingester's out-of-order window."""
        key = logql.labels_key(labels)
        with self._lock:
            stream = self._streams.setdefault(key, _Stream(labels))
            for ns, line in entries:
                stream.insert(int(ns), line)

    def ingest(self, labels, entries):
        """The ingester's append (pkg/ingester/stream.go Push, unordered writes): an entry more than
        half of ingester.max_chunk_age older than the newest entry its stream already holds is
        refused as 'entry too far behind'; the others are stored. Returns the ingester's text for
        the refused entries (its 400), or None when it took them all."""
        window = self.config.out_of_order_window_ns
        refused = []
        key = logql.labels_key(labels)
        with self._lock:
            stream = self._streams.setdefault(key, _Stream(labels))
            for ns, line in entries:
                ns = int(ns)
                if stream.highest is not None and ns < stream.highest - window:
                    refused.append(ns)
                    continue
                stream.insert(ns, line)
                if stream.highest is None or ns > stream.highest:
                    stream.highest = ns
        if not refused:
            return None
        name = logql.label_string(labels)
        text = "".join(f"entry with timestamp {_go_time_string(ns)} ignored, reason: 'entry too far behind' "
                       f"for stream: {name},\n" for ns in refused[:MAX_RETURNED_ERRORS])
        return text + f"total ignored: {len(refused)} out of {len(entries)}"

    def push(self, streams, now_ns=None):
        """One push request [(labels, [(ns, line), ...])] as the distributor handles it
        (pkg/distributor/distributor.go Push): validate each entry, then ask the rate limiter for
        the validated bytes (a 429 stores nothing), then hand each stream to the ingester. Raises
        PushError with the ingester's error if any stream had one, else with the last validation
        error; the acceptable entries are stored either way."""
        now = self.now_ns() if now_ns is None else now_ns
        valid, validation_error = [], None
        for labels, entries in streams:
            problem = self._labels_problem(labels)
            if problem:
                validation_error = problem
                continue
            accepted = []
            for ns, line in entries:
                problem = self._timestamp_problem(labels, ns, now)
                if problem:
                    validation_error = problem
                else:
                    accepted.append((ns, line))
            if accepted:
                valid.append((labels, accepted))
        if valid:
            lines = sum(len(entries) for _, entries in valid)
            size = sum(len(line.encode("utf-8")) for _, entries in valid for _, line in entries)
            if not self._limiter.allow(size):
                raise PushError(RATE_LIMITED.format(tenant=self.tenant, limit=int(self._limiter.rate), lines=lines,
                                                    size=size), status=429)
        ingester_error = None
        for labels, entries in valid:
            ingester_error = self.ingest(labels, entries) or ingester_error
        if ingester_error or validation_error:
            raise PushError(ingester_error or validation_error)

    @staticmethod
    def _labels_problem(labels):
        if not labels:
            return "error at least one label pair is required per stream"
        bad = [name for name in labels if not _LABEL_NAME.fullmatch(name)]
        if bad:
            return f"sandbox: invalid label name {bad[0]!r} (real Loki rejects the stream's labels)"
        return None

    def _timestamp_problem(self, labels, ns, now):
        max_age = self.reject_old_samples_max_age_ns
        oldest = None if max_age is None else now - max_age
        stream = logql.label_string(labels)
        if oldest is not None and ns < oldest:
            return (
                f"entry for stream '{stream}' has timestamp too old: {_rfc3339(ns)}, "
                f"oldest acceptable timestamp is: {_rfc3339(oldest)}"
            )
        if ns > now + self.creation_grace_period_ns:
            return f"entry for stream '{stream}' has timestamp too new: {_rfc3339(ns)}"
        return None

    def select(self, selects, start_ns, end_ns):
        """[(labels, [(ns, line), ...])] of the streams `selects(labels)` keeps, start <= ts < end,
        without what retention has deleted."""
        oldest = self.retained_since()
        if oldest is not None:
            start_ns = max(start_ns, oldest)
        with self._lock:
            found = [(dict(s.labels), s.between(start_ns, end_ns)) for s in self._streams.values() if selects(s.labels)]
        return [(labels, entries) for labels, entries in found if entries]

    def scan(self, selects, start_ns, end_ns):
        """What `select` gives, as columns: [(labels, times, lines, utf8_bytes)] with times and lines
        parallel lists (copies) and utf8_bytes their lines' total size."""
        oldest = self.retained_since()
        if oldest is not None:
            start_ns = max(start_ns, oldest)
        found = []
        with self._lock:
            for stream in self._streams.values():
                if selects(stream.labels):
                    low, high = stream.span(start_ns, end_ns)
                    if high > low:
                        found.append((dict(stream.labels), stream.times[low:high], stream.lines[low:high],
                                      stream.size(low, high)))
        return found

    def series(self, start_ns, end_ns, selects=lambda labels: True):
        """Label sets of the selected streams with an entry in [start, end]."""
        oldest = self.retained_since()
        if oldest is not None:
            start_ns = max(start_ns, oldest)
        with self._lock:
            return [dict(s.labels) for s in self._streams.values()
                    if selects(s.labels) and s.holds_between(start_ns, end_ns + 1)]

    def streams(self):
        """A snapshot of every stream: [(labels, [(ns, line), ...])]."""
        return self.select(lambda labels: True, -(2**63), 2**63)


# --- Request parameters (pkg/loghttp/params.go, query.go) ---------------------------


class BadRequest(Exception):
    """A parameter Loki refuses with 400 and this text."""


_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)")


def _parse_rfc3339_ns(value):
    match = _RFC3339.fullmatch(value)
    if not match:
        return None
    *fields, fraction, zone = match.groups()
    try:
        seconds = calendar.timegm(datetime(*map(int, fields)).timetuple())
    except ValueError:
        return None
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds * logql.SECOND_NS + int((fraction or "0").ljust(9, "0"))


def _go_round(x):
    return math.copysign(math.floor(abs(x) + 0.5), x)


def parse_timestamp(value, default_ns):
    """Loki's parseTimestamp: float seconds (ms precision), int seconds (<= 10 digits), int ns, RFC3339."""
    if not value:
        return default_ns
    if "." in value:
        try:
            seconds = float(value)
        except ValueError:
            seconds = math.nan
        if math.isfinite(seconds):
            whole = math.trunc(seconds)
            millis = _go_round((seconds - whole) * 1000) / 1000
            return whole * logql.SECOND_NS + int(millis * logql.SECOND_NS)
    if re.fullmatch(r"[+-]?[0-9]+", value) and -(2**63) <= int(value) < 2**63:
        number = int(value)
        return number * logql.SECOND_NS if len(value) <= 10 else number
    parsed = _parse_rfc3339_ns(value)
    if parsed is not None:
        return parsed
    reason = "value out of range" if re.fullmatch(r"[+-]?[0-9]+", value) else "invalid syntax"
    raise BadRequest(f"strconv.ParseInt: parsing {go_quote(value)}: {reason}")


def _limit(request):
    value = request.arg("limit", "")
    if not value:
        return DEFAULT_QUERY_LIMIT
    if not re.fullmatch(r"[+-]?[0-9]+", value):
        raise BadRequest(f"strconv.Atoi: parsing {go_quote(value)}: invalid syntax")
    if int(value) <= 0:
        raise BadRequest("limit must be a positive value")
    return int(value)


def _direction(request):
    value = request.arg("direction", "")
    if not value:
        return "backward"
    if value.upper() not in ("FORWARD", "BACKWARD"):
        raise BadRequest(f"invalid direction '{value}'")
    return value.lower()


def _bounds(request, now_ns):
    """Loki 2.6's bounds(): start defaults to now-1h whatever end is (`since` came in 2.8)."""
    start = parse_timestamp(request.arg("start", ""), now_ns - DEFAULT_SINCE_NS)
    end = parse_timestamp(request.arg("end", ""), now_ns)
    return start, end


def _step(request, start_ns, end_ns):
    value = request.arg("step", "")
    if not value:
        return max((end_ns - start_ns) // logql.SECOND_NS // 250, 1) * logql.SECOND_NS
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if math.isfinite(seconds) and abs(seconds * logql.SECOND_NS) < 2**63:
        return int(seconds * logql.SECOND_NS)
    if not math.isnan(seconds):
        raise BadRequest(f"cannot parse {go_quote(value)} to a valid duration. It overflows int64")
    try:
        return parse_model_duration(value)
    except ValueError:
        raise BadRequest(f"cannot parse {go_quote(value)} to a valid duration") from None


def _range_params(request, now_ns):
    """ParseRangeQuery, in Loki's order of checks."""
    start, end = _bounds(request, now_ns)
    if end < start:
        raise BadRequest("end timestamp must not be before or equal to start time")
    limit, direction = _limit(request), _direction(request)
    step = _step(request, start, end)
    if step <= 0:
        raise BadRequest("zero or negative query resolution step widths are not accepted. Try a positive integer")
    if (end - start) // step > MAX_POINTS_PER_SERIES:
        raise BadRequest(
            "exceeded maximum resolution of 11,000 points per timeseries. "
            "Try decreasing the query resolution (?step=XX)"
        )
    return start, end, step, limit, direction


# --- Response bodies --------------------------------------------------------------


def _json(obj, content_type=JSON, newline=True):
    body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + ("\n" if newline else "")
    return Response(200, body.encode("utf-8"), content_type)


def _go_float(value):
    """Go's strconv.FormatFloat(v, 'f', -1, 64): sample values are strings like "6" or "0.02"."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return format(Decimal(repr(float(value))).normalize(), "f")


def _prom_time(ns):
    """A Prometheus model.Time in JSON: seconds with millisecond precision, as a number."""
    millis = ns // 1_000_000
    return millis // 1000 if millis % 1000 == 0 else millis / 1000


def _stats(stats, returned, seconds):
    """The `stats` object of a query answer, shaped as in captures 05-11."""

    def per_second(n):
        return int(n / seconds) if seconds else 0

    def store(head_bytes, head_lines):
        chunk = {
            "headChunkBytes": head_bytes, "headChunkLines": head_lines, "decompressedBytes": 0,
            "decompressedLines": 0, "compressedBytes": 0, "totalDuplicates": 0,
        }
        return {"totalChunksRef": 0, "totalChunksDownloaded": 0, "chunksDownloadTime": 0, "chunk": chunk}

    return {
        "summary": {
            "bytesProcessedPerSecond": per_second(stats.bytes),
            "linesProcessedPerSecond": per_second(stats.lines),
            "totalBytesProcessed": stats.bytes,
            "totalLinesProcessed": stats.lines,
            "execTime": round(seconds, 9),  # Go reports a time.Duration in seconds
            "queueTime": 0,
            "subqueries": 1,
            "totalEntriesReturned": returned,
        },
        "querier": {"store": store(0, 0)},
        "ingester": {
            "totalReached": 1,
            "totalChunksMatched": stats.streams,
            "totalBatches": 1 if stats.streams else 0,
            "totalLinesSent": stats.lines,
            "store": store(stats.bytes, stats.lines),
        },
    }


def _query_answer(result_type, result, stats, returned, started, **kwargs):
    data = {"resultType": result_type, "result": result, "stats": _stats(stats, returned, time.perf_counter() - started)}
    return _json({"status": "success", "data": data}, **kwargs)


def _sorted(labels):
    return dict(sorted(labels.items()))


def _streams_answer(streams, stats, started, content_type):
    result = [
        {"stream": _sorted(labels), "values": [[str(ns), line] for ns, line in entries]}
        for labels, entries in streams
    ]
    returned = sum(len(entries) for _, entries in streams)
    return _query_answer("streams", result, stats, returned, started, content_type=content_type)


def _vector_answer(vector, time_ns, stats, started):
    result = [{"metric": _sorted(labels), "value": [_prom_time(time_ns), _go_float(v)]} for labels, v in vector]
    return _query_answer("vector", result, stats, len(result), started, newline=False)


def _matrix_answer(matrix, stats, started):
    result = [
        {"metric": _sorted(labels), "values": [[_prom_time(t), _go_float(v)] for t, v in points]}
        for labels, points in matrix
    ]
    return _query_answer("matrix", result, stats, len(result), started, newline=False)


def _bad_request(message):
    return Response(400, message.encode("utf-8"), JSON_UTF8)


def _go_http_error(status, message):
    """Go's http.Error: text/plain, nosniff, a trailing newline."""
    return text(status, message + "\n", **NOSNIFF)


def _refusal(error):
    """A refused parameter (BadRequest) or LogQL error as Loki answers it, or the sandbox's own loud refusal."""
    if isinstance(error, BadRequest):
        return _bad_request(str(error))
    if isinstance(error, logql.Unsupported):
        return text(400, error.text + "\n")
    if error.status == 500:
        return _go_http_error(500, error.text)
    return _bad_request(error.text)


def _log_answer(store, expr, start_ns, end_ns, limit, direction, started, content_type):
    """A log query's streams, once its limit passes limits_config.max_entries_limit_per_query (as the
    querier checks it)."""
    maximum = store.config.max_entries_limit_per_query
    if limit > maximum:
        return _bad_request(f"max entries limit per query exceeded, limit > max_entries_limit ({limit} > {maximum})")
    streams, stats = logql.select_logs(expr, store, start_ns, end_ns, limit, direction)
    return _streams_answer(streams, stats, started, content_type)


# --- Push body (pkg/loghttp/push, jsoniter + jsonparser in Loki 2.6.1) ------------


_MALFORMED_STRING = "Value is string, but can't find its end: '\"' symbol"
_MALFORMED_VALUE = "Value looks like Number/Boolean/None, but can't find its end: ',' or '}' symbol"
_MALFORMED_ARRAY = "Value is array, but can't find closing ']' symbol"
_MALFORMED_OBJECT = "Value looks like object, but can't find closing '}' symbol"
_OVERFLOW_INTEGER = "Value is number, but overflowed while parsing"
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_JSON_DECODER = json.JSONDecoder()


def _skip(body, pos, separator=""):
    """The offset past whitespace, then past `separator` if it is next."""
    pos = _WHITESPACE.match(body, pos).end()
    return pos + len(separator) if separator and body.startswith(separator, pos) else pos


def _members(body, pos, closing):
    """Start offsets of the members of the JSON object or array whose bracket is at `pos`."""
    pos = _skip(body, pos + 1)
    while not body.startswith(closing, pos):
        yield pos
        pos = _skip(body, _skip(body, _member_end(body, pos, closing), ","))


def _member_end(body, pos, closing):
    if closing == "]":
        return _JSON_DECODER.raw_decode(body, pos)[1]
    after_key = json.decoder.scanstring(body, pos + 1)[1]
    return _JSON_DECODER.raw_decode(body, _skip(body, _skip(body, after_key, ":")))[1]


def _stream_items(body):
    """The "streams" array of a valid JSON push object: [(element, offset just past it)].

    jsoniter reports a stream's error at that offset, so Loki's message quotes the body there.
    """
    items = []
    for key_pos in _members(body, _skip(body, 0), "}"):
        key, after_key = json.decoder.scanstring(body, key_pos + 1)
        value_pos = _skip(body, _skip(body, after_key, ":"))
        if key == "streams" and body.startswith("[", value_pos):
            items = [_JSON_DECODER.raw_decode(body, pos) for pos in _members(body, value_pos, "]")]
    return items


def _entry_problem(entry):
    """jsonparser's error for a malformed ["<ns>", "<line>"] entry, as loghttp.Entry reports it."""
    if not isinstance(entry, list):
        return _MALFORMED_ARRAY
    timestamp = entry[0] if entry else "0"
    if not isinstance(timestamp, str):
        return _MALFORMED_STRING
    if not re.fullmatch(r"-?[0-9]+", timestamp):
        return _MALFORMED_VALUE
    if not -(2**63) <= int(timestamp) < 2**63:
        return _OVERFLOW_INTEGER
    if len(entry) > 1 and not isinstance(entry[1], str):
        return _MALFORMED_STRING
    return None


def _stream_problem(stream):
    if not isinstance(stream, dict):
        return _MALFORMED_OBJECT
    labels, values = stream.get("stream", {}), stream.get("values")
    if not isinstance(labels, dict):
        return _MALFORMED_OBJECT
    if values is not None and not isinstance(values, list):
        return _MALFORMED_ARRAY
    return next(filter(None, (_entry_problem(e) for e in values or () if e is not None)), None)


def _jsoniter_error(body, head, problem):
    """jsoniter's ReportError text at character `head` of `body`, wrapped as for PushRequest.Streams."""
    data = body.encode("utf-8")
    head = len(body[:head].encode("utf-8"))
    peek_start, context_start = max(head - 10, 0), max(head - 50, 0)
    parsing = data[peek_start : head + 10].decode("utf-8", "replace")
    context = data[context_start : head + 50].decode("utf-8", "replace")
    return (
        f"loghttp.PushRequest.Streams: []*loghttp.Stream: unmarshalerDecoder: {problem}, "
        f"error found in #{head - peek_start} byte of ...|{parsing}|..., bigger context ...|{context}|..."
    )


def decode_push(raw):
    """[(labels, [(ns, line), ...])] of a JSON push body; PushError as Loki words it."""
    try:
        body = raw.decode("utf-8")
        document = json.loads(body)
    except ValueError as error:
        raise PushError(f"sandbox: malformed JSON push body ({error}); real Loki answers 400 with a jsoniter message") from None
    if not isinstance(document, dict) or not isinstance(document.get("streams") or [], list):
        raise PushError("sandbox: a push body must be an object with a \"streams\" array")
    decoded = []
    for stream, end in _stream_items(body):
        if stream is None:
            continue
        problem = _stream_problem(stream)
        if problem:
            raise PushError(_jsoniter_error(body, end, problem))
        labels = stream.get("stream") or {}
        if not all(isinstance(v, str) for v in labels.values()):
            raise PushError("sandbox: label values must be JSON strings")
        entries = [(int(e[0]), e[1] if len(e) > 1 else "") for e in stream.get("values") or () if e]
        decoded.append((labels, entries))
    return decoded


# --- The HTTP API ---------------------------------------------------------------


def make_app(store, version="2.6.1"):
    """The Loki HTTP API (docs/sources/api/_index.md of Loki 2.6) over `store`, its routes in groups:
    status and configuration, queries, labels and series, push."""
    app = App("loki")
    # The fault "error500": a handler's panic. Loki wraps its whole HTTP handler in
    # serverutil.RecoveryHTTPMiddleware (pkg/util/server/recovery.go, set in modules.go initServer):
    # onPanic -> httpgrpc.Errorf(500, "error while processing request: %v") -> WriteError -> http.Error
    # (text/plain; charset=utf-8, nosniff, trailing newline). The panic: Go's nil pointer dereference.
    app.fault_answer("error500")(lambda request: _go_http_error(
        500, "error while processing request: runtime error: invalid memory address or nil pointer dereference"))
    # The fault "unauthorized": Loki has no auth of its own (auth_enabled: false); the nginx reverse
    # proxy in front of it (auth_basic) refuses the request.
    app.fault_answer("unauthorized")(nginx_basic_auth_refusal("Loki"))

    def route(methods, pattern):
        def register(handler):
            for method in methods:
                app.route(method, pattern)(handler)
            return handler

        return register

    _status_routes(route, store, version)
    _query_routes(route, store)
    _label_routes(route, store)
    _push_route(route, store)
    return app


def _status_routes(route, store, version):
    # Loki: GET /ready (pkg/loki/loki.go readyHandler, http.Error with 200); capture 01.
    @route(["GET"], r"/ready")
    def ready(request):
        return _go_http_error(200, "ready")

    # Loki: GET /config (pkg/loki/config_handler.go of 2.x, registered with no method
    # restriction; docs/sources/api "List current configuration"). The running configuration as
    # gopkg.in/yaml.v2 marshals it, Content-Type text/plain; charset=utf-8, status 200. ?mode=diff
    # prints what differs from Loki's defaults (a Go map, so keys sorted), ?mode=defaults the
    # defaults; any other mode, and every other parameter, is ignored as Loki ignores it.
    # Loki 2.6.1's diff fails on every configuration, the release's own example included: 500,
    # http.Error's text/plain body "unsupported type <nil>" (capture 40); the sandbox plays that for 2.6.x.
    # The configuration is a subset of Loki's (sandbox.loki_config says which keys).
    @route(["GET", "POST"], r"/config")
    def config(request):
        mode = request.arg("mode", "")
        if mode == "diff" and version.startswith("2.6."):
            return text(500, "unsupported type <nil>\n", X_Content_Type_Options="nosniff")
        if mode == "diff":
            diff = loki_config.diff_document(loki_config.roundtrip(store.config.document()),
                                             loki_config.roundtrip(loki_config.defaults().document()))
            return text(200, loki_config.go_yaml_v2(diff, sort_keys=True))
        if mode == "defaults":
            return text(200, loki_config.defaults().render())
        return text(200, store.config.render())

    # Loki HTTP API: GET /loki/api/v1/status/buildinfo (pkg/util/build); capture 03.
    @route(["GET"], r"/loki/api/v1/status/buildinfo")
    def buildinfo(request):
        return _json({
            "version": version, "revision": "6bd05c9a4", "branch": "HEAD",
            "buildUser": "sandbox", "buildDate": "2026-11-29T05:26:23Z", "goVersion": "",
        })


def _query_routes(route, store):
    # Loki HTTP API: GET|POST /loki/api/v1/query (pkg/loghttp/query.go ParseInstantQuery); captures 09, 10, 30-34.
    @route(["GET", "POST"], r"/loki/api/v1/query")
    def query(request):
        started = time.perf_counter()
        try:
            limit = _limit(request)
            at = parse_timestamp(request.arg("time", ""), store.now_ns())
            direction = _direction(request)
            expr = logql.parse(request.arg("query", ""))
        except (BadRequest, logql.LogQLError) as error:
            return _refusal(error)
        if isinstance(expr, logql.LogQuery):
            # Loki 2.6's engine reads an instant log query over [time - max_look_back_period, time).
            return _log_answer(store, expr, at - logql.INSTANT_LOG_LOOKBACK_NS, at, limit, direction, started,
                               JSON_UTF8)
        vector, stats = logql.instant_vector(expr, store, at)
        return _vector_answer(vector, at, stats, started)

    # Loki HTTP API: GET|POST /loki/api/v1/query_range (pkg/loghttp/query.go ParseRangeQuery); captures 05-08, 11, 22.
    @route(["GET", "POST"], r"/loki/api/v1/query_range")
    def query_range(request):
        started = time.perf_counter()
        try:
            start, end, step, limit, direction = _range_params(request, store.now_ns())
            expr = logql.parse(request.arg("query", ""))
        except (BadRequest, logql.LogQLError) as error:
            return _refusal(error)
        if isinstance(expr, logql.LogQuery):
            if request.arg("interval"):
                return text(400, "sandbox: the 'interval' parameter of log queries is not emulated\n")
            # Queries without a line filter take the frontend's "limited" path, answered with a charset (capture 08).
            return _log_answer(store, expr, start, end, limit, direction, started,
                               JSON if expr.filters else JSON_UTF8)
        if step < 1_000_000:
            return text(400, "sandbox: a step below 1ms is not emulated (Loki's frontend works in milliseconds)\n")
        matrix, stats = logql.range_matrix(expr, store, start, end, step)
        return _matrix_answer(matrix, stats, started)


def _label_routes(route, store):
    # Loki HTTP API: GET /loki/api/v1/labels (pkg/loghttp/labels.go, `data` omitted when empty); capture 17.
    @route(["GET", "POST"], r"/loki/api/v1/labels")
    def label_names(request):
        return _label_answer(request, store, lambda label_set: label_set)

    # Loki HTTP API: GET /loki/api/v1/label/<name>/values (pkg/loghttp/labels.go); capture 18.
    @route(["GET", "POST"], r"/loki/api/v1/label/(?P<name>[^/]+)/values")
    def label_values(request):
        name = request.params["name"]
        return _label_answer(request, store, lambda label_set: (label_set[name],) if name in label_set else ())

    # Loki HTTP API: GET /loki/api/v1/series (pkg/loghttp/series.go, syntax.ParseMatchers per match[]); capture 19.
    @route(["GET", "POST"], r"/loki/api/v1/series")
    def series(request):
        try:
            start, end = _bounds(request, store.now_ns())
            groups = [logql.parse_matchers(m) for m in request.query.get("match[]", [])]
        except (BadRequest, logql.LogQLError) as error:
            return _refusal(error)
        if not groups:
            return _bad_request("0 matcher groups supplied")
        found = {}
        for matchers in groups:
            for label_set in store.series(start, end, lambda ls, ms=matchers: all(m.matches(ls) for m in ms)):
                found[logql.label_string(label_set)] = _sorted(label_set)
        return _json({"status": "success", "data": [found[key] for key in sorted(found)]})


def _label_answer(request, store, found_in):
    """What `found_in` finds in the label sets of the series within the request's bounds, distinct and
    sorted (pkg/loghttp/labels.go: `data` omitted when empty)."""
    try:
        start, end = _bounds(request, store.now_ns())
    except BadRequest as error:
        return _bad_request(str(error))
    found = sorted({item for label_set in store.series(start, end) for item in found_in(label_set)})
    return _json({"status": "success", "data": found} if found else {"status": "success"})


def _push_route(route, store):
    # Loki HTTP API: POST /loki/api/v1/push (pkg/distributor/http.go, JSON bodies only); captures 04, 20-24.
    @route(["POST"], r"/loki/api/v1/push")
    def push(request):
        content_type = request.headers.get("content-type", "")
        encoding = request.headers.get("content-encoding", "")
        if content_type.split(";")[0].strip().lower() != "application/json" or encoding:
            return text(
                415,
                "sandbox: the emulated Loki accepts only JSON pushes (Content-Type: application/json, "
                f"no Content-Encoding); got Content-Type {content_type!r}, Content-Encoding {encoding!r}\n",
            )
        try:
            streams = decode_push(request.body)
        except PushError as error:
            return _go_http_error(400, error.text)
        try:
            store.push(streams)
        except PushError as error:
            return _go_http_error(error.status, error.text)
        return Response(204)
