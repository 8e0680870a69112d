"""A small threaded HTTP server with a router, shared by the emulated services.

Each emulated service is an `App` with routes; `serve` runs it on loopback on
an ephemeral port. Every request is recorded (method, path) so tests can prove
what the suite asked; a `RequestLog` also writes each one, as the other side of
the wire saw it, to a JSON-lines file.

A `Server` may be given a fault (FAULT_KINDS) that every request it gets meets:
the ways a monitoring stack's HTTP endpoints really fail, each named below with
what it imitates. `down` is not one a Server plays: nothing listens at all.
"""

import email.utils
import io
import json
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

FAULT_KINDS = ("down", "slow", "error500", "unauthorized", "malformed-json", "html-error-page", "truncated", "reset",
               "redirect")
# The kinds whose answer is the system's own (an App registers it with `fault_answer`).
SYSTEM_ANSWERED = ("error500", "unauthorized")
# What a broken proxy or a crashed JSON encoder leaves of a Loki/Prometheus API answer.
CUT_JSON = b'{"status":"success","data":{'
# Where the redirect fault points, and what answers there: what a cloud metadata service hands out.
METADATA_PATH = "/latest/meta-data/iam/security-credentials/opsverify-role"
METADATA_BODY = '{"AccessKeyId": "ASIA-SANDBOX-METADATA-LEAK", "SecretAccessKey": "sandbox-metadata-secret"}'


@dataclass
class Request:
    method: str
    path: str
    query: dict  # name -> list of values, as parse_qs gives
    headers: dict  # lower-cased names
    body: bytes
    params: dict = field(default_factory=dict)  # named groups of the route pattern
    raw_query: str = ""  # the query string as sent (a proxy passes it on untouched)

    def arg(self, name, default=None):
        """The first value of a query (or form) parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self):
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict = field(default_factory=dict)


def text(status, body, content_type="text/plain; charset=utf-8", **headers):
    return Response(status, body.encode("utf-8"), content_type, headers)


def json_response(status, obj, content_type="application/json", **headers):
    body = json.dumps(obj, separators=(",", ":")).encode("utf-8")
    return Response(status, body, content_type, headers)


# nginx's built-in error pages (src/http/ngx_http_special_response.c, 1.19+ without bgcolor), as a
# reverse proxy in front of a system answers with no error_page configured: Content-Type text/html
# (no charset), the short tail of `server_tokens off` (Server: nginx), and the "friendly error page"
# padding only for the user agents nginx takes for MSIE or Chrome (ngx_http_user_agent).
NGINX_TITLES = {401: "401 Authorization Required", 502: "502 Bad Gateway"}
NGINX_PADDING = "<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n" * 6


def nginx_page(status, request, **headers):
    """nginx's own error page for `status`, as it answers `request`."""
    title = NGINX_TITLES[status]
    body = (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
            "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
    agent = request.headers.get("user-agent", "")
    at = agent.find("MSIE ")
    msie = at >= 0 and at + 7 < len(agent) and "Opera" not in agent
    chrome = not msie and "Opera" not in agent and "Gecko/" not in agent and "Chrome/" in agent
    if msie or chrome:
        body += NGINX_PADDING
    return text(status, body, content_type="text/html", Server="nginx", **headers)


def nginx_basic_auth_refusal(realm):
    """nginx's `auth_basic "<realm>"` refusing a request without valid credentials
    (ngx_http_auth_basic_module: 401, its error page, WWW-Authenticate: Basic realm="...")."""
    return lambda request: nginx_page(401, request, WWW_Authenticate=f'Basic realm="{realm}"')


class App:
    """Routes (method, regex on the path) to handlers `handler(request) -> Response`."""

    def __init__(self, name):
        self.name = name
        self.routes = []
        self.requests = []  # (method, path) of every request served, in order
        self.fault_answers = {}  # fault kind -> handler(request) -> Response, for SYSTEM_ANSWERED kinds
        self._lock = threading.Lock()

    def route(self, method, pattern):
        def register(handler):
            self.routes.append((method, re.compile(pattern + r"\Z"), handler))
            return handler

        return register

    def fault_answer(self, kind):
        """Register what this system answers under the fault `kind` (one of SYSTEM_ANSWERED)."""
        if kind not in SYSTEM_ANSWERED:
            raise ValueError(f"{kind!r} is not a fault a system answers itself ({', '.join(SYSTEM_ANSWERED)})")

        def register(handler):
            self.fault_answers[kind] = handler
            return handler

        return register

    def record(self, request):
        with self._lock:
            self.requests.append((request.method, request.path))

    def dispatch(self, request):
        self.record(request)
        return self.answer(request)

    def answer(self, request):
        """The routed answer, without recording the request."""
        allowed = False
        for method, pattern, handler in self.routes:
            match = pattern.match(request.path)
            if not match:
                continue
            if method != request.method:
                allowed = True
                continue
            request.params = match.groupdict()
            return handler(request)
        if allowed:
            return text(405, "405 method not allowed\n")
        # Go's net/http NotFound handler, which Loki, Promtail and Grafana's router answer with.
        return text(404, "404 page not found\n")


class RequestLog:
    """Every request the emulated systems serve, one JSON object a line, appended to `path`:
    {"system", "method", "path", "params" (sorted names of query and form parameters, never their
    values), "status" (null when no answer was sent), "bytes" (response body bytes written to the
    socket), "fault", "agent" (the User-Agent's product, e.g. "Grafana" for the sandbox's Grafana
    asking its Loki, as real Grafana names itself)}. Thread-safe; each line is flushed as it is written."""

    def __init__(self, path):
        self.path = path
        self._file = open(path, "a", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()

    def write(self, system, request, status, sent, fault):
        entry = {"system": system, "method": request.method, "path": request.path,
                 "params": sorted(request.query), "status": status, "bytes": sent, "fault": fault,
                 "agent": request.headers.get("user-agent", "").split("/")[0]}
        line = json.dumps(entry) + "\n"
        with self._lock:
            if not self._file.closed:  # a request that ends while the sandbox stops is not logged
                self._file.write(line)
                self._file.flush()

    def stop(self):
        with self._lock:
            self._file.close()


def _malformed(real):
    """A body that is not JSON: the first half of the real one when that is JSON, else a cut prefix."""
    body = real.body
    try:
        json.loads(body)
        is_json = "json" in real.content_type
    except ValueError:
        is_json = False
    if is_json:
        half = body[:len(body) // 2]
        try:
            json.loads(half)  # e.g. the half of `12`: still a number
        except ValueError:
            return half
    return CUT_JSON


def _handler_class(app, server):
    fault = server.fault

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = app.name
        _server_header = None

        def version_string(self):
            return self._server_header or super().version_string()

        def date_time_string(self, timestamp=None):
            # The Date header (RFC 7231 IMF-fixdate, as Go's net/http writes it) from the sandbox's clock,
            # so that a client can date what it sends by the server's time, as against a real system.
            return email.utils.formatdate(server.clock() if timestamp is None else timestamp, usegmt=True)

        def _handle(self):
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            query = parse_qs(parts.query, keep_blank_values=True)
            ctype = self.headers.get("Content-Type", "")
            if ctype.startswith("application/x-www-form-urlencoded") and body:
                for key, values in parse_qs(body.decode("utf-8"), keep_blank_values=True).items():
                    query.setdefault(key, []).extend(values)
            request = Request(
                method=self.command,
                path=parts.path,
                query=query,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                raw_query=parts.query,
            )
            app.record(request)
            status, sent = None, 0
            try:
                if fault == "slow":
                    # An overloaded or hung upstream: the request is read, the answer comes late (the
                    # client's read timeout fires first). Stopping the sandbox ends the wait: no answer.
                    if _stopped_within(server.stopping, server.slow_seconds):
                        self.close_connection = True
                        return
                response = self._answer(request)
                status = response.status
                sent = self._send(response)
            except (BrokenPipeError, ConnectionResetError):  # the client left (e.g. timed out on `slow`)
                self.close_connection = True
            finally:
                if server.request_log is not None:
                    server.request_log.write(app.name, request, status, sent, fault)

        def _answer(self, request):
            try:
                return self._faulty_answer(request)
            except Exception as exc:  # a sandbox bug must be loud, never a silent hang
                return text(500, f"sandbox {app.name} internal error: {exc!r}\n")

        def _faulty_answer(self, request):
            if fault == "redirect":
                # A proxy, a login page or a hostile system sending the client elsewhere: 302 to another
                # host name of this server, where what a cloud metadata service hands out answers (RFC 9110
                # 15.4.3 Found). A client that follows it would carry that answer into its evidence.
                if request.path == METADATA_PATH:
                    return text(200, METADATA_BODY, "application/json")
                location = f"http://localhost:{self.server.server_address[1]}{METADATA_PATH}"
                return text(302, f'<a href="{location}">Found</a>.\n', "text/html; charset=utf-8",
                            Location=location)
            if fault in SYSTEM_ANSWERED:
                # The system's own 500 or 401 (each App names the document it follows).
                return app.fault_answers[fault](request)
            if fault == "html-error-page":
                # A reverse proxy (nginx) in front of a dead upstream: its 502 page, not the system's.
                return nginx_page(502, request)
            response = app.answer(request)
            if fault == "malformed-json":
                # A broken proxy or a crashed encoder: 200 and application/json, but the body is not JSON.
                return Response(200, _malformed(response), "application/json")
            return response

        def _send(self, response):
            """Write the response as the fault shapes it; returns the body bytes written."""
            self._server_header = response.headers.get("Server")
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                if name != "Server":
                    self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            body = b"" if self.command == "HEAD" else response.body
            if fault in ("truncated", "reset"):
                body = body[:len(body) // 2]
            self.wfile.write(body)
            self.wfile.flush()
            if fault == "truncated":
                # An upstream that dies mid-answer: the real Content-Length, half the body, then a
                # normal close (FIN) - the client reads fewer bytes than it was promised.
                self.close_connection = True
            elif fault == "reset":
                # A connection reset mid-body (a crashed process, a load balancer's idle kill):
                # SO_LINGER on with linger 0, then close, sends a TCP RST instead of a FIN.
                self.close_connection = True
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.rfile.close()  # the file objects hold the socket open: close them first
                self.wfile.close()
                self.connection.close()
                self.wfile = io.BytesIO()  # for BaseHTTPRequestHandler's flush after the request
            return len(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

        def log_message(self, format, *args):  # quiet: the suite's output is the report
            pass

    return Handler


class Server:
    """One App served on a loopback port in a daemon thread, optionally with a fault
    (FAULT_KINDS except "down") that every request meets, and a RequestLog. `clock` (unix seconds,
    sandbox.clock.Clock.time) dates the answers' Date header; the machine's clock by default."""

    def __init__(self, app, host="127.0.0.1", port=0, fault=None, slow_seconds=30.0, request_log=None,
                 clock=time.time):
        if fault == "down":
            raise ValueError("fault 'down': nothing may listen at the system's URL, so do not start a Server")
        if fault is not None and fault not in FAULT_KINDS:
            raise ValueError(f"unknown fault {fault!r} (one of {', '.join(FAULT_KINDS)})")
        if fault in SYSTEM_ANSWERED and fault not in app.fault_answers:
            raise ValueError(f"sandbox {app.name} does not emulate the {fault} fault (it registers no answer)")
        self.app = app
        self.fault = fault
        self.slow_seconds = slow_seconds
        self.request_log = request_log
        self.clock = clock
        self.stopping = threading.Event()
        self.httpd = ThreadingHTTPServer((host, port), _handler_class(app, self))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name=app.name, daemon=True)

    @property
    def url(self):
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _stopped_within(event, seconds):
    """event.wait(seconds), polled with sleep: a timed lock wait never times out under libfaketime (glibc's
    sem_clockwait gets a faked deadline), and the tests also run under a faked clock."""
    deadline = time.monotonic() + seconds
    while not event.is_set() and time.monotonic() < deadline:
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
    return event.is_set()
