"""Shared by the sandbox's own tests: emulated services on loopback for a module's tests,
`python -m sandbox` processes for the CLI's, and the Docker engine at DOCKER_HOST for the stand-in's."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sandbox.httpserver import Server

ROOT = Path(__file__).resolve().parents[2]


class Servers:
    """Servers the tests start; stopped together, since each stop waits out a poll interval."""

    def __init__(self):
        self.servers = []

    def __call__(self, app):
        self.servers.append(Server(app).start())
        return self.servers[-1].url

    def stop(self):
        threads = [threading.Thread(target=server.stop) for server in self.servers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


@pytest.fixture(scope="module")
def serve():
    """Start an App for this module's tests; all of them stop together at the end."""
    servers = Servers()
    yield servers
    servers.stop()


# --- the Docker engine ---

REQUIRE_DOCKER = "OPSVERIFY_REQUIRE_DOCKER"  # "1" (CI): no engine is a failure, not a skip


@pytest.fixture(scope="session")
def docker_client():
    """A docker SDK client of the engine at DOCKER_HOST. Without one the test skips, saying where it
    looked, unless OPSVERIFY_REQUIRE_DOCKER=1, where that is a failure."""
    from sandbox import standin

    try:
        client, _ = standin.connect()
    except standin.StandinError as exc:
        if os.environ.get(REQUIRE_DOCKER) == "1":
            pytest.fail(f"{exc} ({REQUIRE_DOCKER}=1: the docker tests must run)", pytrace=False)
        pytest.skip(str(exc))
    yield client
    client.close()


@pytest.fixture(scope="session")
def standin_image(docker_client):
    from sandbox import standin

    return standin.ensure_image(docker_client)


# --- the CLI ---

class CliSandbox:
    """`python -m sandbox` as a subprocess, ready when it prints its ready line."""

    def __init__(self, tmp_path, *args, env=None, timeout=20):
        self.env_file = tmp_path / f"sandbox-{len(list(tmp_path.iterdir()))}.env"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "--env-file", str(self.env_file), *args], cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
            env={**os.environ, **(env or {})})
        ready = threading.Event()
        self.first_line = None

        def read():
            self.first_line = self.process.stdout.readline()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(timeout) or not self.first_line.startswith("sandbox ready: "):
            self.process.kill()
            raise AssertionError(f"sandbox did not start: {self.first_line!r} {self.process.stderr.read()}")
        self.env = dict(line.split("=", 1) for line in self.env_file.read_text(encoding="utf-8").splitlines())

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(10)


@pytest.fixture
def sandboxes(tmp_path):
    started = []

    def start(*args, env=None, timeout=20):
        started.append(CliSandbox(tmp_path, *args, env=env, timeout=timeout))
        return started[-1]

    yield start
    for sandbox in started:
        if sandbox.process.poll() is None:
            sandbox.process.kill()
            sandbox.process.wait()
