"""The suite's own tests, run in parallel by pytest-xdist (make test: -n 2 --dist loadgroup)."""

import pytest


def pytest_collection_modifyitems(config, items):
    """Each test file runs on one worker, as its module fixtures expect (the fault matrix runs once);
    the files that start stand-in containers share one worker: they reuse the containers' names."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        group = "docker" if item.get_closest_marker("docker") else str(item.path)
        item.add_marker(pytest.mark.xdist_group(group))
