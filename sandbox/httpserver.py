"""A small threaded HTTP server with a router, shared by the emulated services.

Each emulated service is an `App` with routes; `serve` runs it on loopback on
an ephemeral port. Every request is recorded (method, path) so tests can prove
what the suite asked.
"""

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict  # name -> list of values, as parse_qs gives
    headers: dict  # lower-cased names
    body: bytes
    params: dict = field(default_factory=dict)  # named groups of the route pattern

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


class App:
    """Routes (method, regex on the path) to handlers `handler(request) -> Response`."""

    def __init__(self, name):
        self.name = name
        self.routes = []
        self.requests = []  # (method, path) of every request served, in order
        self._lock = threading.Lock()

    def route(self, method, pattern):
        def register(handler):
            self.routes.append((method, re.compile(pattern + r"\Z"), handler))
            return handler

        return register

    def dispatch(self, request):
        with self._lock:
            self.requests.append((request.method, request.path))
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


def _handler_class(app):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = app.name

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
            )
            try:
                response = app.dispatch(request)
            except Exception as exc:  # a sandbox bug must be loud, never a silent hang
                response = text(500, f"sandbox {app.name} internal error: {exc!r}\n")
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

        def log_message(self, format, *args):  # quiet: the suite's output is the report
            pass

    return Handler


class Server:
    """One App served on a loopback port in a daemon thread."""

    def __init__(self, app, host="127.0.0.1", port=0):
        self.app = app
        self.httpd = ThreadingHTTPServer((host, port), _handler_class(app))
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
        self.httpd.shutdown()
        self.httpd.server_close()
