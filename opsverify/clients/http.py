"""What every client shares: one requests.Session, timeouts, bounded retries,
the run's deadline, a journal of exchanges (the evidence), and errors that
name the system, the URL without credentials, the status and a body excerpt.
"""

import email.utils
import json
import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests

from opsverify.text import visible

RETRY_STATUSES = (502, 503, 504)
TIMEOUTS_BEFORE_FAIL_FAST = 2  # one slow query can happen; a second says the system is not answering
WITHHELD = "(body withheld: it holds secrets)"
EXCERPT_CHARS = 300
JOURNAL_EXCERPT_CHARS = 1000
SENSITIVE_PARAM = re.compile(r"token|password|passwd|secret|api[-_]?key|auth|signature|sig\b", re.I)


def redact_url(url):
    """The URL without user-info, with the values of secret-looking parameters masked."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return url.split("?", 1)[0] if "@" not in url else f"{parts.scheme}://***"  # unix sockets, ssh://
    netloc = parts.hostname or ""
    if ":" in netloc:  # an IPv6 literal
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    query = urlencode(
        [(k, "***" if SENSITIVE_PARAM.search(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def excerpt(text, limit=EXCERPT_CHARS):
    """A one-line, bounded excerpt of a response body."""
    return visible(" ".join((text or "").split()), limit)


class Deadline:
    """The run's overall time budget, shared by every client. Monotonic."""

    def __init__(self, seconds, clock=time.monotonic):
        self.seconds = seconds
        self._clock = clock
        self._end = clock() + seconds

    def remaining(self):
        return max(0.0, self._end - self._clock())


class ClientError(Exception):
    """A request to an external system that did not give a usable answer."""

    def __init__(self, system, method, url, problem, *, status=None, body="", hint=""):
        self.system, self.method, self.url = system, method, redact_url(url)
        self.problem, self.status, self.body, self.hint = problem, status, body, hint
        super().__init__(self.describe())

    def describe(self):
        text = f"{self.system}: {self.method} {self.url} {self.problem}"
        if self.body:
            text += f"; body: {excerpt(self.body)}"
        if self.hint:
            text += f". {self.hint}"
        return text


class Unreachable(ClientError):
    """No answer: refused, timed out, or the run's deadline is spent."""


class BadResponse(ClientError):
    """An answer, but an error status or a body of the wrong shape."""


class NotFound(BadResponse):
    """404: the thing asked for does not exist on that system."""


@dataclass(frozen=True)
class Exchange:
    """One request and its answer, as evidence (no credentials, bounded body)."""

    system: str
    method: str
    url: str
    params: dict
    status: object  # int, or None when there was no answer
    elapsed_ms: int
    body: str

    def as_dict(self):
        return {
            "system": self.system,
            "request": f"{self.method} {self.url}",
            "params": self.params,
            "status": self.status,
            "elapsed_ms": self.elapsed_ms,
            "body": self.body,
        }


class Journal:
    """Every exchange of the run, in order; the plugin slices it per check."""

    def __init__(self):
        self._entries = []
        self._lock = threading.Lock()

    def append(self, exchange):
        with self._lock:
            self._entries.append(exchange)

    def __len__(self):
        return len(self._entries)

    def since(self, index):
        with self._lock:
            return list(self._entries[index:])


class HttpClient:
    """Base of the system clients. Subclasses set `system` and `hint` and add typed methods."""

    system = "HTTP service"
    hint = ""

    def __init__(self, base_url, *, deadline, journal=None, connect_timeout=3.0, read_timeout=20.0,
                 retries=2, backoff=0.5):
        self.base_url = base_url.rstrip("/")
        self.deadline = deadline
        self.journal = journal if journal is not None else Journal()
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.retries, self.backoff = retries, backoff
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "opsverify"
        # TLS: True (the system's CAs, or REQUESTS_CA_BUNDLE), a CA bundle's path, or False. Given with each
        # request: requests lets REQUESTS_CA_BUNDLE override a session's own bundle.
        self.verify = True
        self._unreachable = None  # the first Unreachable: later calls fail fast with it
        self._timeouts = 0
        self.server_time = None  # the Date of the last answer (unix seconds): the system's own clock

    def __repr__(self):
        return f"{type(self).__name__}({redact_url(self.base_url)!r})"

    def url(self, path, **fields):
        """Where an endpoint of this system is, for a check's message: `path` (one of the client's path
        constants) with its {fields} filled, after the base URL without credentials."""
        return redact_url(self.base_url) + path.format(**fields)

    def request(self, method, path, *, params=None, json_body=None, data=None, headers=None, expect=(200,),
                sensitive=False):
        """Send one request with retries on connection errors and 502/503/504; return the response.

        `sensitive`: the answer holds secrets; its body never reaches the journal or an error.
        """
        url = self.base_url + path
        if self._unreachable is not None:
            raise Unreachable(
                self.system, method, url, f"not tried: {self.system} was unreachable earlier in this run "
                f"({self._unreachable.problem})", hint=self.hint,
            )
        attempt = 0
        while True:
            remaining = self.deadline.remaining()
            if remaining <= 0:
                raise Unreachable(self.system, method, url,
                                  f"not sent: the run's deadline ({self.deadline.seconds:g} s) is spent",
                                  hint="Raise run_deadline_seconds or find the slow system.")
            timeout = (min(self.connect_timeout, remaining), min(self.read_timeout, remaining))
            started = time.monotonic()
            try:
                # No redirect is followed: it could lead anywhere (a cloud metadata address), with our
                # credentials, and its target's answer would become evidence.
                response = self.session.request(method, url, params=params, json=json_body, data=data,
                                                headers=headers, timeout=timeout, allow_redirects=False,
                                                verify=self.verify)
            except requests.exceptions.ReadTimeout:
                self._record(method, url, params, None, started, "")
                self._timeouts += 1
                error = Unreachable(self.system, method, url, f"gave no answer within {timeout[1]:g} s (read timeout)",
                                    hint=self.hint)
                if self._timeouts >= TIMEOUTS_BEFORE_FAIL_FAST:
                    self._unreachable = error
                raise error from None
            except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                self._record(method, url, params, None, started, "")
                if attempt < self.retries and self._pause(attempt):
                    attempt += 1
                    continue
                problem = f"failed after {attempt + 1} attempt(s): {_reason(exc)}"
                self._unreachable = Unreachable(self.system, method, url, problem, hint=self.hint)
                raise self._unreachable from None
            response.sensitive = sensitive
            self.server_time = server_time(response)
            if response.is_redirect:
                self._record(method, url, params, response.status_code, started, "")
                raise self.redirect_error(method, url, response)
            self._record(method, url, params, response.status_code, started,
                         WITHHELD if sensitive else response.text)
            if response.status_code in RETRY_STATUSES and attempt < self.retries and self._pause(attempt):
                attempt += 1
                continue
            if response.status_code not in expect:
                raise self.error_for(method, url, response)
            return response

    def get_json(self, path, *, params=None, expect=(200,)):
        """GET and parse JSON; a body that is not JSON is a BadResponse naming the system."""
        response = self.request("GET", path, params=params, expect=expect)
        return self.parse_json(response)

    def parse_json(self, response):
        try:
            return response.json()
        except (ValueError, json.JSONDecodeError):
            raise BadResponse(self.system, response.request.method, _without_query(response.url),
                              f"answered {response.status_code} but the body is not JSON",
                              status=response.status_code, body=_body(response), hint=self.hint) from None

    def shape_error(self, response, what):
        """A BadResponse for a JSON body that lacks what the API documents."""
        return BadResponse(self.system, response.request.method, _without_query(response.url),
                           f"answered {response.status_code} with an unexpected body: {what}",
                           status=response.status_code, body=_body(response), hint=self.hint)

    def error_for(self, method, url, response):
        """The exception for an unexpected status; subclasses refine it."""
        kind = NotFound if response.status_code == 404 else BadResponse
        problem = f"answered {response.status_code} {response.reason}"
        if "text/html" in response.headers.get("Content-Type", ""):
            problem += f" with an HTML page (from a proxy in front of {self.system}?)"
        return kind(self.system, method, url, problem, status=response.status_code, body=_body(response),
                    hint=self.hint)

    def redirect_error(self, method, url, response):
        """A redirect, named with where it pointed (without its query), and not followed."""
        target = _without_query(redact_url(urljoin(url, response.headers.get("Location", ""))))
        return BadResponse(self.system, method, _without_query(url),
                           f"answered {response.status_code} {response.reason}, redirecting to {target}; "
                           "opsverify follows no redirect", status=response.status_code, body="",
                           hint=f"Set the {self.system} URL to the address that answers itself (a proxy or a "
                                "login page in front of it?)")

    def _pause(self, attempt):
        """Back off before a retry; False when the deadline does not allow it."""
        delay = self.backoff * (2 ** attempt)
        if delay >= self.deadline.remaining():
            return False
        time.sleep(delay)
        return True

    def _record(self, method, url, params, status, started, body):
        self.journal.append(Exchange(
            system=self.system, method=method, url=redact_url(url), params=dict(params or {}),
            status=status, elapsed_ms=int((time.monotonic() - started) * 1000),
            body=excerpt(body, JOURNAL_EXCERPT_CHARS),
        ))


def server_time(response):
    """An answer's Date header (RFC 7231, whole seconds) as unix seconds, or None without a readable one."""
    try:
        return email.utils.parsedate_to_datetime(response.headers["Date"]).timestamp()
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def _body(response):
    return WITHHELD if getattr(response, "sensitive", False) else response.text


def _without_query(url):
    """Errors name the endpoint; the query itself is in the evidence."""
    return url.split("?", 1)[0]


REASONS = (  # what requests and urllib3 say, and how an on-call engineer reads it
    ("CERTIFICATE_VERIFY_FAILED", "its TLS certificate is not signed by a trusted CA (certificate verify failed)"),
    ("doesn't match", "its TLS certificate is for another host name"),
    ("WRONG_VERSION_NUMBER", "it does not speak TLS there (an http:// URL written as https://?)"),
    ("Connection refused", "connection refused"), ("Name or service not known", "name or service not known"),
    ("timed out", "timed out"), ("Connection reset", "connection reset"), ("No route to host", "no route to host"),
    ("IncompleteRead", "the answer was cut short (fewer bytes than its Content-Length)"),
    ("Remote end closed connection", "remote end closed connection"),
)


def _reason(exc):
    """The innermost cause of a connection error, without the URL requests puts in it."""
    text = str(exc.args[0] if exc.args else exc)
    for marker, reason in REASONS:
        if marker.lower() in text.lower():
            return reason
    return type(exc).__name__
