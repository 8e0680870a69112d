"""A dead-man's switch: pings in the convention Healthchecks.io, Uptime Kuma push monitors and Cronitor
share — `<url>/start` when the run starts, `<url>` when it succeeded, `<url>/fail` when it failed — so that
a run that never comes, or fails, alerts someone. The URL's path is a secret (whoever has it can ping):
it is shown masked, scheme and host only."""

import requests

from opsverify.text import visible

TIMEOUT = (3.0, 10.0)  # connect, read: a ping must not hold the run up
SUFFIXES = {"start": "/start", "success": "", "fail": "/fail"}


class HeartbeatError(Exception):
    """A ping did not arrive; the text says why (without the URL's secret path)."""


class HeartbeatClient:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def __repr__(self):
        return f"HeartbeatClient({self.shown()!r})"

    def shown(self):
        """The URL as an output may show it: scheme and host, the secret path masked."""
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}/***"

    def ping(self, kind, body):
        """POST `body` (one short line, no secret) to the ping URL of `kind` (start, success, fail)."""
        try:
            response = requests.post(self.url + SUFFIXES[kind], data=body.encode("utf-8"), timeout=TIMEOUT,
                                     allow_redirects=False, headers={"User-Agent": "opsverify",
                                                                     "Content-Type": "text/plain; charset=utf-8"})
        except requests.RequestException as exc:
            raise HeartbeatError(f"{kind} ping to {self.shown()} not sent: {type(exc).__name__}") from None
        if not 200 <= response.status_code < 300:
            raise HeartbeatError(f"{kind} ping to {self.shown()} answered {response.status_code} "
                                 f"{visible(response.reason or '', 80)}")
