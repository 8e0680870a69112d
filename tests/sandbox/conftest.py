"""Shared by the sandbox's own tests: emulated services on loopback for a module's tests."""

import threading

import pytest

from sandbox.httpserver import Server


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
