"""Fixtures of the end-to-end tests."""

import pytest


@pytest.fixture
def sandboxes():
    """Sandbox processes a test starts; stopped at its end."""
    started = []
    yield started
    for process in started:
        if process.poll() is None:
            process.terminate()
            process.wait(10)
