"""Fault injection (httpserver's FAULT_KINDS, `python -m sandbox --fault`) and the request log, at the wire."""

import json
import socket
import threading
import time
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import requests

from sandbox import __main__ as cli
from sandbox import backend, grafana, promtail, scenario
from sandbox.httpserver import CUT_JSON, FAULT_KINDS, METADATA_PATH, App, RequestLog, Server, text
from sandbox.loki import LokiStore
from sandbox.loki import make_app as make_loki_app

ROOT = Path(__file__).resolve().parents[2]
PROVISIONING = ROOT / "sandbox" / "provisioning" / "escashop"
NOW = datetime(2026, 11, 29, 5, 31, 48, tzinfo=timezone.utc)
NIGHT = date(2026, 11, 29)
USER, PASSWORD, TOKEN = "admin", "s3cret-pass", "glsa_test_token"
BACKEND_TOKEN = "backend-token"
SYSTEMS = ("loki", "grafana", "promtail", "backend")
SLOW = 0.5
# What each system is asked: a path whose real answer has a body (JSON except Promtail's metrics).
PATHS = {"loki": "/loki/api/v1/labels", "grafana": "/api/health", "promtail": "/metrics", "backend": "/health"}
NGINX_502 = ("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
             "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
NGINX_401 = NGINX_502.replace("502 Bad Gateway", "401 Authorization Required")
LOG_KEYS = ["system", "method", "path", "params", "status", "bytes", "fault", "agent"]


class RecordingStore:
    def __init__(self):
        self.added = []

    def ingest(self, labels, entries):
        self.added.append((labels, list(entries)))


def make_app(system):
    """A fresh App of the sandbox's `system`."""
    shipper = promtail.Shipper("http://127.0.0.1:3100", store=RecordingStore())
    if system == "loki":
        return make_loki_app(LokiStore())
    if system == "grafana":
        return grafana.make_app(grafana.Grafana(grafana.load(PROVISIONING, "http://127.0.0.1:9"), USER, PASSWORD,
                                                TOKEN))
    if system == "promtail":
        return promtail.make_app(promtail.Promtail(shipper, started=NOW.timestamp()))  # the same metrics each time
    rendered = scenario.load("healthy").render(NIGHT, NOW)
    return backend.make_app(backend.Backend(rendered, BACKEND_TOKEN, shipper))


class Faulty:
    """Servers of (system, fault), started on first use, each with its own request log."""

    def __init__(self, directory):
        self.directory = directory
        self.servers = {}

    def __call__(self, system, fault, slow_seconds=SLOW):
        key = (system, fault)
        if key not in self.servers:
            log = RequestLog(self.directory / f"{system}-{fault}.jsonl")
            server = Server(make_app(system), fault=fault, slow_seconds=slow_seconds, request_log=log).start()
            self.servers[key] = (server, log)
        server, log = self.servers[key]
        return server.url, Tail(log.path)

    def stop(self):
        threads = [threading.Thread(target=server.stop) for server, _ in self.servers.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    """Start `system` with `fault` (None: none) for this module's tests; (url, request log path)."""
    servers = Faulty(tmp_path_factory.mktemp("faults"))
    yield servers
    servers.stop()


class Tail:
    """The lines a request log gets from now on, checked for the line format."""

    def __init__(self, path):
        self.path = Path(path)
        self.seen = len(self._read())

    def _read(self):
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines()]

    def lines(self, count, within=2.0):
        """The next `count` lines. A line is written once the answer is sent, so the client may see the
        answer a moment before its line: wait up to `within` s for them."""
        deadline = time.monotonic() + within
        while len(lines := self._read()) - self.seen < count and time.monotonic() < deadline:
            time.sleep(0.01)
        new, self.seen = lines[self.seen:], len(lines)
        assert len(new) == count, f"{self.path} got {len(new)} new lines within {within} s, expected {count}: {new}"
        for line in new:
            assert list(line) == LOG_KEYS and line["params"] == sorted(line["params"])
        return new


def raw_get(url, path):
    """Send GET `path` on a raw socket; returns (bytes read, the error that ended reading or None at EOF)."""
    host, port = url.removeprefix("http://").split(":")
    received, error = b"", None
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n".encode())
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except OSError as exc:
            error = exc
    return received, error


def split_response(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def real_answer(faulty, system):
    """The answer `system` gives without a fault."""
    url, log = faulty(system, None)
    response = requests.get(url + PATHS[system], timeout=5)
    log.lines(1)
    return response


# --- error500: the system's own internal error ---

ERROR500 = {
    "loki": ("text/plain; charset=utf-8",
             "error while processing request: runtime error: invalid memory address or nil pointer dereference\n"),
    "promtail": ("text/plain; charset=utf-8", promtail.NOT_READY + "\n"),
    "grafana": ("application/json; charset=UTF-8",
                '{"error":"Server Error","message":"Internal Server Error - Check the Grafana server logs for the '
                'detailed error message."}\n'),
    "backend": ("text/html; charset=utf-8",
                '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n'
                "<body>\n<pre>Internal Server Error</pre>\n</body>\n</html>\n"),
}


@pytest.mark.parametrize("system", SYSTEMS)
def test_error500_is_the_systems_own_internal_error(faulty, system):
    url, log = faulty(system, "error500")
    response = requests.get(url + PATHS[system], params={"api_key": "hunter2-secret"}, timeout=5)
    content_type, body = ERROR500[system]
    assert response.status_code == 500 and response.headers["Content-Type"] == content_type
    assert response.text == body and response.headers["X-Content-Type-Options"] == "nosniff"
    if system == "backend":
        assert response.headers["Content-Security-Policy"] == "default-src 'none'"
        assert response.headers["X-Powered-By"] == "Express"
    [line] = log.lines(1)
    assert line == {"system": system, "method": "GET", "path": PATHS[system], "params": ["api_key"], "status": 500,
                    "bytes": len(response.content), "fault": "error500", "agent": "python-requests"}
    assert "hunter2" not in log.path.read_text(encoding="utf-8")


def test_error500_of_grafana_outside_the_api_is_refused_loudly(faulty):
    url, log = faulty("grafana", "error500")
    response = requests.get(url + "/dashboards", timeout=5)
    assert response.status_code == 501 and "error.html" in response.json()["message"]
    assert log.lines(1)[0]["status"] == 501


# --- unauthorized ---

@pytest.mark.parametrize("system", ["loki", "promtail"])
def test_unauthorized_loki_and_promtail_is_the_nginx_in_front(faulty, system):
    url, log = faulty(system, "unauthorized")
    response = requests.get(url + PATHS[system], timeout=5)
    assert response.status_code == 401 and response.text == NGINX_401
    assert response.headers["Content-Type"] == "text/html" and response.headers["Server"] == "nginx"
    assert response.headers["WWW-Authenticate"] == f'Basic realm="{system.capitalize()}"'
    assert log.lines(1)[0]["status"] == 401


def test_unauthorized_grafana_refuses_every_credential(faulty):
    url, log = faulty("grafana", "unauthorized")
    cases = [({}, "auth.unauthorized"), ({"auth": (USER, PASSWORD)}, "password-auth.failed"),
             ({"headers": {"Authorization": f"Bearer {TOKEN}"}}, "api-key.invalid")]
    for kwargs, message_id in cases:
        response = requests.get(url + "/api/datasources/uid/loki", timeout=5, **kwargs)
        assert response.status_code == 401 and response.headers["Content-Type"] == "application/json; charset=UTF-8"
        assert response.json()["messageId"] == message_id and response.json()["statusCode"] == 401
    assert requests.get(url + "/api/health", timeout=5).status_code == 401
    assert [line["status"] for line in log.lines(4)] == [401] * 4


def test_unauthorized_backend_is_its_own_401(faulty):
    url, log = faulty("backend", "unauthorized")
    with_token = requests.get(url + "/api/scheduler/status", headers={"Authorization": f"Bearer {BACKEND_TOKEN}"},
                              timeout=5)
    assert with_token.status_code == 401
    assert with_token.json() == {"success": False, "error": "Invalid or expired token"}
    assert with_token.headers["Content-Type"] == "application/json; charset=utf-8"
    without = requests.get(url + "/health", timeout=5)
    assert without.status_code == 401 and without.json() == {"success": False, "error": "Access token required"}
    assert [line["path"] for line in log.lines(2)] == ["/api/scheduler/status", "/health"]


# --- malformed-json ---

@pytest.mark.parametrize("system", SYSTEMS)
def test_malformed_json_is_a_200_whose_body_is_not_json(faulty, system):
    url, log = faulty(system, "malformed-json")
    response = requests.get(url + PATHS[system], timeout=5)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    with pytest.raises(ValueError):
        json.loads(response.content)
    real = real_answer(faulty, system).content
    if system == "promtail":  # its metrics are not JSON: a cut JSON prefix
        assert response.content == CUT_JSON
    else:  # the first half of the real JSON
        assert real.startswith(response.content) and len(response.content) == len(real) // 2
    assert log.lines(1)[0]["bytes"] == len(response.content)


# --- html-error-page ---

@pytest.mark.parametrize("system", SYSTEMS)
def test_html_error_page_is_nginx_502(faulty, system):
    url, log = faulty(system, "html-error-page")
    response = requests.get(url + PATHS[system], timeout=5)
    assert response.status_code == 502 and response.text == NGINX_502
    assert response.headers["Content-Type"] == "text/html" and response.headers["Server"] == "nginx"
    assert log.lines(1)[0] == {"system": system, "method": "GET", "path": PATHS[system], "params": [],
                                    "status": 502, "bytes": len(NGINX_502), "fault": "html-error-page",
                                    "agent": "python-requests"}


def test_nginx_pads_its_page_for_chrome(faulty):
    chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
    url, log = faulty("loki", "html-error-page")
    response = requests.get(url + "/ready", headers={"User-Agent": chrome}, timeout=5)
    assert response.text.startswith(NGINX_502) and response.text.count("friendly error page") == 6
    assert log.lines(1)[0]["bytes"] == len(response.content)


@pytest.mark.parametrize("system", SYSTEMS)
def test_redirect_sends_the_client_to_another_host_that_answers_like_a_metadata_service(faulty, system):
    url, _ = faulty(system, "redirect")
    response = requests.get(url + PATHS[system], timeout=5, allow_redirects=False)
    port = url.rsplit(":", 1)[1]
    assert response.status_code == 302
    assert response.headers["Location"] == f"http://localhost:{port}{METADATA_PATH}"
    followed = requests.get(url + PATHS[system], timeout=5)  # what a client that follows redirects gets
    assert followed.url.startswith("http://localhost:") and "SANDBOX-METADATA-LEAK" in followed.text


# --- slow ---

@pytest.mark.parametrize("system", SYSTEMS)
def test_slow_answers_only_after_slow_seconds(faulty, system):
    url, log = faulty(system, "slow")
    with pytest.raises(requests.ReadTimeout):
        requests.get(url + PATHS[system], timeout=0.2)
    started = time.monotonic()
    response = requests.get(url + PATHS[system], timeout=5)
    assert time.monotonic() - started >= SLOW
    assert response.status_code == real_answer(faulty, system).status_code == 200
    timed_out, answered = log.lines(2)
    assert timed_out["fault"] == answered["fault"] == "slow" and answered["bytes"] == len(response.content)


def test_slow_does_not_block_other_requests(faulty):
    url, log = faulty("loki", "slow")
    results = []

    def ask():
        results.append(requests.get(url + "/ready", timeout=5).status_code)

    started = time.monotonic()
    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 4 and time.monotonic() - started < 2 * SLOW
    assert [line["status"] for line in log.lines(4)] == [200] * 4


def test_slow_wait_ends_when_the_server_stops(tmp_path):
    log = RequestLog(tmp_path / "log.jsonl")
    server = Server(make_app("loki"), fault="slow", slow_seconds=30, request_log=log).start()
    tail = Tail(log.path)
    errors = []

    def ask():
        try:
            requests.get(server.url + "/ready", timeout=10)
        except requests.RequestException as exc:
            errors.append(exc)

    thread = threading.Thread(target=ask)
    thread.start()
    time.sleep(0.2)  # the request is in the server's hands
    started = time.monotonic()
    server.stop()
    thread.join(5)
    assert time.monotonic() - started < 3 and not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], requests.ConnectionError)
    [line] = tail.lines(1)
    assert line["status"] is None and line["bytes"] == 0


# --- truncated and reset ---

@pytest.mark.parametrize("system", SYSTEMS)
def test_truncated_sends_half_the_promised_body_then_closes(faulty, system):
    url, log = faulty(system, "truncated")
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError), match="IncompleteRead"):
        requests.get(url + PATHS[system], timeout=5)
    raw, error = raw_get(url, PATHS[system])
    assert error is None  # a clean close (FIN), not a reset
    status, headers, body = split_response(raw)
    real = real_answer(faulty, system)
    assert status == 200 and headers["content-type"] == real.headers["Content-Type"]
    promised = int(headers["content-length"])
    assert promised == len(real.content) and len(body) == promised // 2 > 0
    assert [line["bytes"] for line in log.lines(2)] == [promised // 2] * 2


@pytest.mark.parametrize("system", SYSTEMS)
def test_reset_aborts_the_connection_mid_body(faulty, system):
    url, log = faulty(system, "reset")
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)) as caught:
        requests.get(url + PATHS[system], timeout=5)
    assert "ConnectionResetError" in repr(caught.value) or "reset by peer" in str(caught.value)
    raw, error = raw_get(url, PATHS[system])
    assert isinstance(error, ConnectionResetError)
    assert not raw or raw.startswith(b"HTTP/1.1 200 ")  # what arrived before the RST, if anything
    real = real_answer(faulty, system).content
    assert [line["bytes"] for line in log.lines(2)] == [len(real) // 2] * 2


# --- Server refuses what it cannot play ---

def test_server_refuses_a_fault_it_cannot_play():
    bare = App("fake")
    bare.route("GET", "/")(lambda request: text(200, "ok"))
    with pytest.raises(ValueError, match="does not emulate the error500 fault"):
        Server(bare, fault="error500")
    with pytest.raises(ValueError, match="nothing may listen"):
        Server(bare, fault="down")
    with pytest.raises(ValueError, match="unknown fault 'melt'"):
        Server(bare, fault="melt")


# --- the request log ---

def test_request_log_names_parameters_never_their_values(faulty):
    url, log = faulty("loki", None)
    secret = "glsa_ABCDEFsecretvalue123"
    labels = requests.get(url + "/loki/api/v1/labels", params={"start": "1", "end": "2", "token": secret}, timeout=5)
    ranged = requests.post(url + "/loki/api/v1/query_range", timeout=5, params={"password": secret},
                           data={"query": '{container="escashop-backend-prod"}', "start": "1", "end": "2",
                                 "step": "60", "limit": "10"})
    first, second = log.lines(2)
    assert first == {"system": "loki", "method": "GET", "path": "/loki/api/v1/labels",
                     "params": ["end", "start", "token"], "status": 200, "bytes": len(labels.content), "fault": None,
                     "agent": "python-requests"}
    assert second["method"] == "POST" and second["params"] == ["end", "limit", "password", "query", "start", "step"]
    assert second["status"] == ranged.status_code and second["bytes"] == len(ranged.content)
    written = log.path.read_text(encoding="utf-8")
    assert secret not in written and "escashop-backend-prod" not in written


def test_request_log_is_readable_while_the_server_runs(faulty):
    url, log = faulty("promtail", None)
    requests.get(url + "/ready", timeout=5)
    [line] = log.lines(1)  # flushed line by line: no need to stop the server to read it
    assert line["path"] == "/ready" and line["bytes"] == len("Ready") and line["fault"] is None


# --- the CLI ---

@pytest.mark.parametrize("argv, message", [
    (["--fault", "loki=melt"], "argument --fault: 'loki=melt' is not SYSTEM=KIND"),
    (["--fault", "mars=down"], "argument --fault: 'mars=down' is not SYSTEM=KIND"),
    (["--fault", "loki=slow", "--fault", "loki=reset"], "--fault loki=reset: loki has a fault already"),
    (["--down", "grafana", "--fault", "grafana=slow"], "--fault grafana=slow: grafana has a fault already"),
    (["--external-loki", "http://127.0.0.1:9", "--fault", "loki=slow"], "--external-loki and --fault loki=slow"),
])
def test_cli_refuses_bad_faults(capsys, argv, message):
    with pytest.raises(SystemExit) as exited:
        cli.parse_args(argv)
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert message in error
    if "SYSTEM=KIND" in message:  # names what is allowed
        assert "loki, grafana, promtail, backend" in error and ", ".join(FAULT_KINDS) in error


def test_cli_fault_down_is_down():
    args = cli.parse_args(["--fault", "loki=down", "--fault", "backend=reset", "--slow-seconds", "2"])
    assert args.down == ["loki"] and args.faults == {"loki": "down", "backend": "reset"} and args.slow_seconds == 2
    assert cli.parse_args(["--down", "promtail"]).faults == {"promtail": "down"}


def test_cli_serves_a_fault_and_logs_requests(sandboxes, tmp_path):
    log = tmp_path / "requests.jsonl"
    box = sandboxes("--scenario", "healthy", "--fault", "grafana=error500", "--request-log", str(log))
    health = requests.get(box.env["OPSVERIFY_GRAFANA_URL"] + "/api/health", timeout=5)
    assert health.status_code == 500 and health.json()["error"] == "Server Error"
    ready = requests.get(box.env["OPSVERIFY_LOKI_URL"] + "/ready", timeout=5)
    assert ready.status_code == 200 and ready.text == "ready\n"
    # A request's line is written once its answer is sent; one still being written when the sandbox stops
    # is not logged: wait for both before stopping it.
    deadline = time.monotonic() + 10
    while len(log.read_text(encoding="utf-8").splitlines()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert box.stop() == 0
    assert "sandbox faults: grafana=error500" in box.process.stderr.read()
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert lines == [
        {"system": "grafana", "method": "GET", "path": "/api/health", "params": [], "status": 500,
         "bytes": len(health.content), "fault": "error500", "agent": "python-requests"},
        {"system": "loki", "method": "GET", "path": "/ready", "params": [], "status": 200, "bytes": 6, "fault": None,
         "agent": "python-requests"},
    ]
    assert "error500" not in box.env_file.read_text(encoding="utf-8")
