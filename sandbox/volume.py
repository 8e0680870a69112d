"""Production-like log volume for the sandbox's Loki (python -m sandbox --volume LINES).

A production Loki holds far more than the scheduler's few lines a night: the backend's
Express access log and its application lines (queue events, socket clients, transactions),
occasional warnings on its stderr, and the other containers of the host (the frontend's
nginx, postgres, Promtail and Grafana themselves). `streams` makes LINES such lines for each
local day of a scenario's week, spread over the whole day (busier in shop hours), in several
streams whose labels have the scenario's label names, to be shipped after the scenario's own.

None of these lines matches the scheduler's patterns (sites/escashop.yml `patterns:`), the
alert rules' or the dashboard's line filters, so they change no verdict; they only make Loki
scan more. Generation is seeded by day and stream: the same arguments give the same lines.
"""

import functools
import random
from datetime import datetime, time, timedelta, timezone

SECOND_NS = 1_000_000_000
HOUR_NS = 3600 * SECOND_NS
DAY_NS = 24 * HOUR_NS

# Morgan's "combined" format, as templates.yml's access_log (the scenario passes its own).
ACCESS_LOG = '{remote} - - [{clf}] "{method} {path} HTTP/1.1" {status} {bytes} "-" "{agent}"'

# Relative traffic per local hour: the shop's queue is busy 08:00-20:00; health checks,
# pollers and the monitoring stack keep a floor all night.
SHOP_HOURS = (3, 2, 2, 2, 2, 3, 5, 9, 16, 20, 20, 20, 18, 20, 20, 20, 19, 17, 14, 10, 7, 5, 4, 3)
STEADY = (10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 10, 10, 10, 10, 10)

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Safari/537.36")
ANDROID = ("Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/119.0.0.0 Mobile Safari/537.36")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.1 Mobile/15E148 Safari/604.1")
QUEUES = ("Regular", "Priority", "Senior Citizen", "PWD", "Pick-up")
COUNTERS = ("Counter 1", "Counter 2", "Counter 3", "Cashier", "Optometrist")
PAYMENTS = ("cash", "gcash", "maya", "card")


def _pick(rnd, items):
    return items[int(rnd() * len(items))]


@functools.lru_cache(maxsize=64)
def _utc_date(day, fmt):
    """The UTC date of day number `day` since the epoch, strftime'd (once a day, not once a line)."""
    return datetime.fromtimestamp(day * 86400, timezone.utc).strftime(fmt)


def _clock(second):
    s = second % 86400
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def _clf(second):
    return f"{_utc_date(second // 86400, '%d/%b/%Y')}:{_clock(second)} +0000"


def _iso(second):
    return f"{_utc_date(second // 86400, '%Y-%m-%d')}T{_clock(second)}"


def _postgres_time(second):
    return f"{_utc_date(second // 86400, '%Y-%m-%d')} {_clock(second)}"


class _PerSecond:
    """A timestamp text per whole second, formatted once per second (the times come sorted)."""

    def __init__(self, render):
        self.render, self.second, self.text = render, None, ""

    def __call__(self, ns):
        second = ns // SECOND_NS
        if second != self.second:
            self.second, self.text = second, self.render(second)
        return self.text


# --- line makers: (rng.random, ns, access_log) -> line --------------------------------------


def _backend_access(rnd, ns, access_log, clf):
    """An Express request, morgan "combined" (like the scenario's access lines)."""
    r = rnd()
    if r < 0.30:
        request = ("::ffff:172.18.0.5", "GET", "/api/queue/display-all", 200, 1200 + int(rnd() * 500), CHROME)
    elif r < 0.42:
        request = ("::ffff:172.18.0.6", "GET", "/health", 200, 52, "Wget")
    elif r < 0.56:
        if rnd() < 0.3:
            request = ("::ffff:172.18.0.5", "GET", "/api/queue/status", 304, "-", _pick(rnd, (ANDROID, IPHONE)))
        else:
            request = ("::ffff:172.18.0.5", "GET", "/api/queue/status", 200, 280 + int(rnd() * 80),
                       _pick(rnd, (ANDROID, IPHONE)))
    elif r < 0.66:
        request = ("::ffff:172.18.0.5", "GET", f"/socket.io/?EIO=4&transport=polling&t=P{int(rnd() * 1e9):x}",
                   200, 97, CHROME)
    elif r < 0.71:
        ok = rnd() < 0.93
        request = ("::ffff:172.18.0.5", "POST", "/api/auth/refresh", 200 if ok else 401, 245 if ok else 36, CHROME)
    elif r < 0.77:
        request = ("::ffff:172.18.0.5", "GET", f"/api/customers?page={1 + int(rnd() * 12)}&limit=20", 200,
                   3000 + int(rnd() * 6000), CHROME)
    elif r < 0.82:
        found = rnd() < 0.97
        request = ("::ffff:172.18.0.5", "GET", f"/api/customers/{1000 + int(rnd() * 9000)}", 200 if found else 404,
                   600 + int(rnd() * 300) if found else 45, CHROME)
    elif r < 0.86:
        request = ("::ffff:172.18.0.5", "POST", "/api/queue/join", 201, 400 + int(rnd() * 100),
                   _pick(rnd, (ANDROID, IPHONE, CHROME)))
    elif r < 0.90:
        request = ("::ffff:172.18.0.5", "PATCH", f"/api/queue/{1000 + int(rnd() * 9000)}/status", 200,
                   300 + int(rnd() * 40), CHROME)
    elif r < 0.93:
        request = ("::ffff:172.18.0.5", "POST", "/api/queue/call-next", 200, 350 + int(rnd() * 30), CHROME)
    elif r < 0.96:
        status = 200 if rnd() < 0.995 else 500
        request = ("::ffff:172.18.0.5", "GET", "/api/transactions?range=today", status,
                   2000 + int(rnd() * 4000) if status == 200 else 58, CHROME)
    elif r < 0.98:
        request = ("::ffff:172.18.0.5", "GET", "/api/analytics/dashboard", 200, 1800 + int(rnd() * 700), CHROME)
    else:
        request = ("::ffff:172.18.0.5", "POST", "/api/sms/notify", 202, 60, CHROME)
    remote, method, path, status, size, agent = request
    return access_log.format(remote=remote, clf=clf(ns), method=method, path=path, status=status, bytes=size,
                             agent=agent)


# The makers below take their line from a table of (cumulative share, template): the first template
# whose share exceeds a uniform draw. Its {fields} are filled in left to right, each drawn as _FIELDS
# says unless the maker gives it, so the same seed gives the same lines.


def _choose(rnd, table):
    r = rnd()
    return next(template for share, template in table if r < share)


def _fill(rnd, template, **given):
    return template.format_map(_Fields(rnd, given))


class _Fields(dict):
    """A template's fields as str.format_map asks for them, in the template's order: the given ones,
    else drawn."""

    def __init__(self, rnd, given):
        super().__init__(given)
        self.rnd = rnd

    def __missing__(self, field):
        return _FIELDS[field](self.rnd)


# How each template field is drawn from the stream's random().
_FIELDS = {
    # the backend's application log and its warnings
    "customer": lambda rnd: 1000 + int(rnd() * 9000),
    "queue": lambda rnd: _pick(rnd, QUEUES),
    "ticket_letter": lambda rnd: _pick(rnd, "ABCP"),
    "ticket_number": lambda rnd: int(rnd() * 999),
    "position": lambda rnd: 1 + int(rnd() * 40),
    "counter": lambda rnd: _pick(rnd, COUNTERS),
    "served_s": lambda rnd: 30 + int(rnd() * 900),
    "socket": lambda rnd: int(rnd() * 16**12),
    "clients": lambda rnd: 1 + int(rnd() * 30),
    "transaction": lambda rnd: int(rnd() * 10**8),
    "amount": lambda rnd: 100 + int(rnd() * 9900),
    "payment": lambda rnd: _pick(rnd, PAYMENTS),
    "phone": lambda rnd: int(rnd() * 10**9),
    "refresh_ms": lambda rnd: 1 + int(rnd() * 40),
    "pool_active": lambda rnd: int(rnd() * 10),
    "pool_idle": lambda rnd: int(rnd() * 10),
    "pool_waiting": lambda rnd: int(rnd() * 3),
    "slow_ms": lambda rnd: 250 + int(rnd() * 2000),
    "user": lambda rnd: 1 + int(rnd() * 40),
    # postgres
    "session_min": lambda rnd: int(rnd() * 60),
    "session_s": lambda rnd: rnd() * 60,
    "statement_ms": lambda rnd: 200 + rnd() * 1800,
    "buffers": lambda rnd: int(rnd() * 900),
    "buffers_percent": lambda rnd: rnd() * 5,
    "write_s": lambda rnd: rnd() * 90,
    # Promtail and Grafana
    "container": lambda rnd: int(rnd() * 16**16),
    "grafana_path": lambda rnd: _pick(rnd, ("/api/ds/query", "/api/dashboards/uid/midnight-reset-dashboard",
                                             "/api/live/ws", "/api/alerts/states-for-dashboard", "/api/search")),
    "time_ms": lambda rnd: int(rnd() * 80),
    "duration_ms": lambda rnd: rnd() * 80,
    "size": lambda rnd: int(rnd() * 9000),
    "cleanup_ms": lambda rnd: rnd() * 30,
}

# What the application prints between requests: queue, socket, payment and SMS events.
BACKEND_APP = (
    (0.18, "Customer {customer} joined queue {queue} "
           "(ticket {ticket_letter}-{ticket_number:03d}, position {position})"),
    (0.38, "Queue position updated: customer {customer} is now #{position} in {queue}"),
    (0.50, "Customer {customer} called to {counter} (ticket {ticket_letter}-{ticket_number:03d})"),
    (0.60, "Customer {customer} served at {counter} in {served_s}s"),
    (0.70, "Socket client connected: {socket:012x} (clients: {clients})"),
    (0.78, "Socket client disconnected: {socket:012x} (transport close)"),
    (0.86, "Broadcasting queue update to {clients} clients"),
    (0.91, "Transaction TX-{transaction:08d} recorded: \u20b1{amount}.00 via {payment} for customer {customer}"),
    (0.95, "SMS notification queued for customer {customer} (+63 9{phone:09d})"),
    (0.98, "[{time}.{millis:03d}Z] Settings cache refreshed in {refresh_ms}ms"),
    (1.00, "Database pool: {pool_active} active, {pool_idle} idle, {pool_waiting} waiting"),
)


def _backend_app(rnd, ns, iso):
    template = _choose(rnd, BACKEND_APP)
    customer = _FIELDS["customer"](rnd)  # drawn for every line, whether it names one or not
    return _fill(rnd, template, customer=customer, time=iso(ns), millis=ns // 1_000_000 % 1000)


# stderr: the odd slow query, an expired token, an SMS provider hiccup.
BACKEND_WARNINGS = (
    (0.35, "Warning: slow query ({slow_ms}ms): SELECT * FROM queue_entries "
           "WHERE status = $1 ORDER BY priority DESC, created_at ASC"),
    (0.60, "JWT verification rejected: jwt expired (user id {user})"),
    (0.80, "SMS provider answered 429 Too Many Requests; message for customer {customer} deferred"),
    (0.92, "Socket {socket:012x} ping timeout after 20000ms"),
    (1.00, "(node:1) Warning: Possible EventEmitter memory leak detected. 11 queue-update listeners added."),
)


def _backend_warning(rnd, ns):
    return _fill(rnd, _choose(rnd, BACKEND_WARNINGS))


def _frontend_access(rnd, ns, clf):
    """nginx's default combined log of the React frontend."""
    r = rnd()
    referer = "https://escashop.ph/"
    if r < 0.35:
        path, status, size = "/", 200, 1057
    elif r < 0.55:
        path, status, size = "/static/js/main.8f3c2a1e.js", _pick(rnd, (200, 304, 304)), 412836
    elif r < 0.65:
        path, status, size = "/static/css/main.5d7a9b2c.css", _pick(rnd, (200, 304, 304)), 28411
    elif r < 0.80:
        path, status, size = "/display", 200, 1057
    elif r < 0.90:
        path, status, size = "/favicon.ico", 200, 3870
    elif r < 0.97:
        path, status, size = "/manifest.json", 200, 492
    else:
        path, status, size = "/wp-login.php", 404, 153
        referer = "-"
    if status == 304:
        size = 0
    ip = f"{_pick(rnd, (112, 120, 49, 175, 180))}.{int(rnd() * 255)}.{int(rnd() * 255)}.{1 + int(rnd() * 253)}"
    agent = _pick(rnd, (CHROME, ANDROID, IPHONE))
    return f'{ip} - - [{clf(ns)}] "GET {path} HTTP/1.1" {status} {size} "{referer}" "{agent}"'


# postgres with log_line_prefix '%m [%p] ': connections, checkpoints, autovacuum, slow statements.
POSTGRES = (
    (0.30, "LOG:  connection received: host=172.18.0.4 port={port}"),
    (0.60, "LOG:  connection authorized: user=escashop database=escashop application_name=escashop-backend"),
    (0.85, "LOG:  disconnection: session time: 0:{session_min:02d}:{session_s:06.3f} "
           "user=escashop database=escashop host=172.18.0.4 port={port}"),
    (0.92, "LOG:  duration: {statement_ms:.3f} ms  statement: SELECT count(*) FROM "
           "queue_entries WHERE created_at >= $1"),
    (0.96, 'LOG:  automatic vacuum of table "escashop.public.queue_entries": index scans: 1'),
    (0.98, "LOG:  checkpoint starting: time"),
    (1.00, "LOG:  checkpoint complete: wrote {buffers} buffers ({buffers_percent:.1f}%); "
           "0 WAL file(s) added, 0 removed, 0 recycled; write={write_s:.3f} s"),
)


def _postgres(rnd, ns, stamp):
    prefix = f"{stamp(ns)}.{ns // 1_000_000 % 1000:03d} UTC [{100 + int(rnd() * 9000)}] "
    template = _choose(rnd, POSTGRES)
    return prefix + _fill(rnd, template, port=40000 + int(rnd() * 20000))  # a port for every line


def _nano(stamp, ns):
    """Go's RFC3339Nano in UTC (trailing zeros of the fraction dropped)."""
    fraction = f"{ns % SECOND_NS:09d}".rstrip("0")
    return f"{stamp(ns)}.{fraction}Z" if fraction else f"{stamp(ns)}Z"


# Promtail's own go-kit log.
PROMTAIL = (
    (0.55, 'level=info ts={ts} caller=filetargetmanager.go:181 msg="Adding target" '
           'key="/var/log/nginx/*.log:{{job=\\"nginx\\"}}"'),
    (0.85, 'level=info ts={ts} caller=tailer.go:143 component=tailer msg="tail routine: started" '
           "path=/var/lib/docker/containers/{container:016x}/json.log"),
    (1.00, "level=warn ts={ts} caller=client.go:369 component=client host=loki:3100 "
           'msg="error sending batch, will retry" status=429 error="server returned HTTP status 429"'),
)

# Grafana's own logfmt log: HTTP requests and the alert scheduler.
GRAFANA = (
    (0.60, 'logger=context userId=1 orgId=1 uname=admin t={ts} level=info msg="Request Completed" '
           "method=GET path={grafana_path} status=200 remote_addr=172.18.0.1 time_ms={time_ms} "
           "duration={duration_ms:.2f}ms size={size} referer="),
    (0.90, 'logger=cleanup t={ts} level=info msg="Completed cleanup jobs" duration={cleanup_ms:.3f}ms'),
    (1.00, 'logger=infra.usagestats t={ts} level=info msg="Usage stats are ready to report"'),
)


def _own_log(rnd, ns, stamp, table):
    """A line of Promtail's or Grafana's own log (`table`), stamped with Go's RFC3339Nano."""
    return _fill(rnd, _choose(rnd, table), ts=_nano(stamp, ns))


# --- streams --------------------------------------------------------------------------------

# (key, container, service, stream, share of a day's lines, hourly profile)
STREAMS = (
    ("backend-stdout", None, None, "stdout", 700, SHOP_HOURS),
    ("backend-stderr", None, None, "stderr", 20, SHOP_HOURS),
    ("frontend", "escashop-frontend-prod", "frontend", "stdout", 150, SHOP_HOURS),
    ("postgres", "escashop-postgres-prod", "postgres", "stderr", 70, STEADY),
    ("promtail", "promtail", "promtail", "stderr", 30, STEADY),
    ("grafana", "grafana", "grafana", "stdout", 30, STEADY),
)


def shares(lines):
    """How a day's `lines` split over STREAMS: {key: count}, summing to `lines` exactly."""
    total = sum(s[4] for s in STREAMS)
    counts = {s[0]: lines * s[4] // total for s in STREAMS}
    rest = lines - sum(counts.values())
    by_remainder = sorted(STREAMS, key=lambda s: -(lines * s[4] % total))
    for s in by_remainder[:rest]:
        counts[s[0]] += 1
    return counts


def _times(rng, start_ns, count, profile):
    """`count` sorted instants strictly inside the day starting at start_ns, hours weighted by profile."""
    rnd = rng.random
    hours = rng.choices(range(24), weights=profile, k=count)
    times = [start_ns + hour * HOUR_NS + int(rnd() * HOUR_NS) for hour in hours]
    times.sort()
    # strictly inside: (start, start + 1 day)
    return [ns if ns > start_ns else start_ns + 1 for ns in times]


def day_start_ns(day, zone):
    return int(datetime.combine(day, time(0), zone).timestamp()) * SECOND_NS


def _day_lines(key, day, zone, count, profile, access_log):
    """The (ns, line) entries of stream `key` on local date `day`."""
    rng = random.Random(f"volume:{key}:{day.isoformat()}")
    rnd = rng.random
    start = day_start_ns(day, zone)
    end = day_start_ns(day + timedelta(days=1), zone)
    times = _times(rng, start, count, profile)
    times = [ns if ns < end else end - 1 for ns in times]  # a shorter (DST) day keeps its lines inside
    if key == "backend-stdout":
        clf, iso = _PerSecond(_clf), _PerSecond(_iso)
        return [(ns, _backend_access(rnd, ns, access_log, clf) if rnd() < 0.68 else _backend_app(rnd, ns, iso))
                for ns in times]
    if key == "backend-stderr":
        return [(ns, _backend_warning(rnd, ns)) for ns in times]
    if key == "frontend":
        clf = _PerSecond(_clf)
        return [(ns, _frontend_access(rnd, ns, clf)) for ns in times]
    if key == "postgres":
        stamp = _PerSecond(_postgres_time)
        return [(ns, _postgres(rnd, ns, stamp)) for ns in times]
    stamp = _PerSecond(_iso)
    table = PROMTAIL if key == "promtail" else GRAFANA
    return [(ns, _own_log(rnd, ns, stamp, table)) for ns in times]


def chunks(days, zone, lines, now_ns=None, access_log=ACCESS_LOG):
    """Yield (stream key, [(ns, line), ...]): `lines` a day over STREAMS for each local date of
    `days` in `zone`, stream by stream and day by day (each in time order), nothing later than now_ns."""
    counts = shares(lines)
    for key, _, _, _, _, profile in STREAMS:
        for day in days:
            entries = _day_lines(key, day, zone, counts[key], profile, access_log)
            if now_ns is not None and entries and entries[-1][0] > now_ns:
                entries = [entry for entry in entries if entry[0] <= now_ns]
            if entries:
                yield key, entries


def generate(days, zone, lines, now_ns=None, access_log=ACCESS_LOG):
    """{stream key: [(ns, line), ...] in time order}, all of `chunks` at once."""
    out = {}
    for key, entries in chunks(days, zone, lines, now_ns, access_log):
        out.setdefault(key, []).extend(entries)
    return out


def streams(scenario, last_night, lines, now):
    """The volume of `scenario`'s week ending `last_night`, nothing later than `now`, as Loki
    streams (labels, [(ns, line), ...]): one item per stream and day, generated as it is consumed.

    The backend's lines carry the scenario's own stream labels (with its Promtail job's line
    labels, if any); the other containers' have the same label names. Each stream's items come
    in time order, so a store that keeps its streams sorted appends them (the scenario's few
    lines, stored first, are the only ones they go before).
    """
    line_labels = scenario.promtail.shipping_job(scenario.container).line_labels
    names = {key: (container, service, stream) for key, container, service, stream, _, _ in STREAMS}
    for key, entries in chunks(scenario.week(last_night), scenario.zone, lines, _ns(now), scenario.access_log):
        container, service, stream = names[key]
        if container is not None:
            yield {"container": container, "service": service, "stream": stream}, entries
        elif not line_labels:
            yield scenario.stream_labels(stream, now), entries
        else:  # a label per line (labels-unbounded): one stream per label set, as Promtail makes them
            by_labels = {}
            for ns, line in entries:
                instant = datetime.fromtimestamp(ns // SECOND_NS, timezone.utc)
                by_labels.setdefault(tuple(scenario.stream_labels(stream, instant).items()), []).append((ns, line))
            yield from ((dict(labels), group) for labels, group in by_labels.items())


def _ns(instant):
    return int(instant.timestamp()) * SECOND_NS + instant.microsecond * 1000
