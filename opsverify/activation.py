"""Whether a pytest run asked for opsverify.

Installed, the plugin is registered in every pytest run of that environment through its pytest11 entry
point (pyproject.toml). It only adds its options there: it sets up a run (settings, ledger, reports, the
sandbox) and applies its collection rules only where the run asked for it by name — a conftest's
`pytest_plugins` (the project's conftest.py, or a suite of one's own), `-p opsverify.plugin` (what the
`opsverify` command passes; also from addopts or PYTEST_ADDOPTS) or PYTEST_PLUGINS — or registered it
itself. Another project's tests in the same environment are left alone.
"""

import os

NAME = "opsverify.plugin"  # the module, and the name it is registered under however it comes


def _names(spec):
    """A pytest_plugins / -p / PYTEST_PLUGINS value as a list of names (pytest takes a str or a sequence)."""
    if not spec:
        return []
    if isinstance(spec, str):
        return [name.strip() for name in spec.split(",")]
    return [str(name) for name in spec]


def requested(config):
    """True unless the plugin is here only because its entry point loaded it and nothing named it."""
    manager = config.pluginmanager
    plugin = manager.get_plugin(NAME)
    if not any(loaded is plugin for loaded, _ in manager.list_plugin_distinfo()):
        return True  # not from the entry point: a conftest, -p or a caller registered it on purpose
    if NAME in _names(config.getoption("plugins", None)) or NAME in _names(os.environ.get("PYTEST_PLUGINS")):
        return True
    return any(NAME in _names(getattr(other, "pytest_plugins", None)) for other in manager.get_plugins())
