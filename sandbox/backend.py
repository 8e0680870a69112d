"""The EscaShop backend stand-in (Node.js + Express), as system-under-test.md describes it.

Only the routes the suite reads exist: GET /health and GET /api/scheduler/status.
Anything else answers Express's default 404 page, as the real app does for
routes it lacks (old runbooks ask for /api/health/database, which is one).
Every request is logged as an Express (morgan "combined") access line and
shipped to the container's Loki stream, as Promtail would ship it.
"""

import hmac
import html
from datetime import datetime, timedelta, timezone

from .httpserver import App, json_response, text
from .scenario import iso_ms, to_ns

EXPRESS_JSON = "application/json; charset=utf-8"
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")


class Backend:
    """The facts the backend answers with, taken from the rendered scenario."""

    def __init__(self, rendered, token, shipper, clock=lambda: datetime.now(timezone.utc)):
        self.scenario = rendered.scenario
        self.clock = clock  # sandbox.clock: what /health, nextReset and the access log say is now
        self.last_reset = rendered.last_reset  # in memory: None after a restart until the next success
        self.token = token
        self.shipper = shipper
        self.shipped = rendered.shipped  # whether Promtail ships what the container prints at an instant

    def next_reset(self, now):
        """The coming reset, as the app prints it ("2026-11-30 00:00:00 Philippine Time"): local midnight,
        or the live reset's time of day."""
        local = now.astimezone(self.scenario.zone)
        coming = datetime.combine(local.date(), self.scenario.reset_time, self.scenario.zone)
        if coming <= local:
            coming = datetime.combine(local.date() + timedelta(days=1), self.scenario.reset_time)
        return f"{coming:%Y-%m-%d %H:%M:%S} {self.scenario.zone_label}"

    def log_request(self, request, status, size):
        """Ship the access log line Express prints for this request."""
        now = self.clock()
        clf = now.strftime("%d/%b/%Y:%H:%M:%S +0000")
        agent = request.headers.get("user-agent", "-")
        line = (f'::ffff:127.0.0.1 - - [{clf}] "{request.method} {request.path} HTTP/1.1" '
                f'{status} {size} "-" "{agent}"')
        if self.shipped(now):
            self.shipper.ship([(self.scenario.stream_labels("stdout", now), [(to_ns(now), line)])])


def _express_404(request):
    # Express's finalhandler default 404 page (finalhandler createHtmlDocument).
    body = ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n'
            f"</head>\n<body>\n<pre>Cannot {request.method} {html.escape(request.path)}</pre>\n</body>\n</html>\n")
    return text(404, body, content_type="text/html; charset=utf-8",
                Content_Security_Policy="default-src 'none'", X_Content_Type_Options="nosniff")


def _unauthorized(request):
    # The app's auth middleware (system-under-test.md: 401 without a valid token): no Bearer token,
    # or one it does not accept (wrong, or an expired JWT).
    header = request.headers.get("authorization", "")
    if not header.startswith("Bearer ") or not header[len("Bearer "):].strip():
        return json_response(401, {"success": False, "error": "Access token required"}, content_type=EXPRESS_JSON)
    return json_response(401, {"success": False, "error": "Invalid or expired token"}, content_type=EXPRESS_JSON)


def _express_500(request):
    # Express's default error handler for an error passed to next() or thrown in a route: finalhandler
    # with env production (NODE_ENV=production) writes statuses[500], "Internal Server Error", in its
    # createHtmlDocument page, with Content-Security-Policy, nosniff and text/html; charset=utf-8.
    body = ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n'
            "</head>\n<body>\n<pre>Internal Server Error</pre>\n</body>\n</html>\n")
    return text(500, body, content_type="text/html; charset=utf-8",
                Content_Security_Policy="default-src 'none'", X_Content_Type_Options="nosniff")


def make_app(backend):
    app = App("backend")

    def logged(handler):
        def wrapper(request):
            response = handler(request)
            response.headers.setdefault("X-Powered-By", "Express")
            backend.log_request(request, response.status, len(response.body))
            return response
        return wrapper

    # system-under-test.md: GET /health -> {"status": "OK", "timestamp": <Date.toISOString()>}, no auth.
    # (Express answers HEAD with the GET route's headers.)
    @app.route("HEAD", "/health")
    @app.route("GET", "/health")
    @logged
    def health(request):
        return json_response(200, {"status": "OK", "timestamp": iso_ms(backend.clock())},
                             content_type=EXPRESS_JSON)

    # system-under-test.md: GET /api/scheduler/status needs a Bearer token; 401 without a valid one.
    @app.route("HEAD", "/api/scheduler/status")
    @app.route("GET", "/api/scheduler/status")
    @logged
    def scheduler_status(request):
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or not hmac.compare_digest(header[len("Bearer "):].strip(),
                                                                        backend.token):
            return _unauthorized(request)
        last = backend.last_reset
        data = {
            "isScheduled": True,
            "isRunning": False,
            "nextReset": backend.next_reset(backend.clock()),
            "lastReset": iso_ms(last) if last else None,
            "timezone": backend.scenario.zone.key,
        }
        return json_response(200, {"success": True, "data": data}, content_type=EXPRESS_JSON)

    # The faults "error500" and "unauthorized" answer every request; morgan logs them as any other.
    app.fault_answer("error500")(logged(_express_500))
    app.fault_answer("unauthorized")(logged(_unauthorized))

    # Express answers every route it lacks, whatever the method, with its 404 page.
    for method in METHODS:
        app.route(method, r"/.*")(logged(_express_404))

    return app
