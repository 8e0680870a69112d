"""A webhook receiver for the sandbox's Grafana to notify, and for a dead-man's switch's pings: it records
every POST (path, the sandbox's time it came at, content type, JSON or text body) and serves them back at
GET /deliveries, oldest first, so that a test reads what a webhook contact point or a ping really sent.
Only on loopback; it answers 200 "ok" to every POST, as a plain receiver would. GET /deliveries?path=/x
keeps those sent to one path.
"""

import threading
from email.utils import formatdate

from .httpserver import App, json_response, text


class Receiver:
    def __init__(self, clock):
        self.clock = clock  # unix seconds (sandbox.clock.Clock.time)
        self.deliveries = []
        self._lock = threading.Lock()

    def record(self, request):
        try:
            body = request.json()
        except ValueError:
            body = request.body.decode("utf-8", "replace")
        at = self.clock()
        with self._lock:
            self.deliveries.append({"path": request.path, "received": formatdate(at, usegmt=True),
                                    "receivedUnix": at,
                                    "contentType": request.headers.get("content-type", ""),
                                    "userAgent": request.headers.get("user-agent", ""), "body": body})


def make_app(receiver):
    app = App("webhook-receiver")

    @app.route("GET", "/deliveries")
    def deliveries(request):
        wanted = request.arg("path")
        with receiver._lock:
            found = [d for d in receiver.deliveries if wanted is None or d["path"] == wanted]
        return json_response(200, found)

    @app.route("POST", r"/.*")
    def deliver(request):
        receiver.record(request)
        return text(200, "ok\n")

    return app
