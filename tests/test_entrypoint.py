"""The plugin through its pytest11 entry point, as `pip install .` registers it: with the project's conftest (one
registration, not two), alone in another project's run (inert), and asked for with -p (as `opsverify` does)."""

import pytest

# Imported here so pytester's in-process runs share one copy (it drops modules first imported inside a run).
import fixtures.site  # noqa: F401
import opsverify.plugin  # noqa: F401
from pytester_project import INI, OFFLINE

DIST = "opsverify-entrypoint-test"
CONFTEST = '''
pytest_plugins = ["opsverify.plugin", "fixtures.site"]


def pytest_report_header(config):
    manager = config.pluginmanager
    plugin = manager.get_plugin("opsverify.plugin")
    names = [name for name, registered in manager.list_name_plugin() if registered is plugin]
    via = [dist.project_name for registered, dist in manager.list_plugin_distinfo() if registered is plugin]
    return [f"opsverify.plugin registered as {names} via {via}"]
'''
CHECK = """
import pytest

pytestmark = pytest.mark.nightly

@pytest.mark.severity("critical")
def test_started(evidence):
    evidence.add("counts", {"query": "sum(count_over_time(...))", "total": 1})
"""
PLAIN = "def test_plain():\n    assert True\n"


@pytest.fixture
def installed(pytester, monkeypatch, tmp_path):
    """A distribution on sys.path whose only content is the entry point pyproject.toml declares."""
    for name in ("OPSVERIFY_SITE", "OPSVERIFY_NIGHT", "OPSVERIFY_WEEK_START", "PYTEST_PLUGINS",
                 "PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(name, raising=False)
    site = tmp_path / "site-packages"
    info = site / f"{DIST.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST}\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[pytest11]\nopsverify.plugin = opsverify.plugin\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    return pytester


def test_with_the_projects_conftest_it_is_registered_once_under_its_module_name(installed):
    installed.makeconftest(CONFTEST)
    installed.makeini(INI)
    installed.makepyfile(test_checks=CHECK)
    reports = installed.path / "reports"
    result = installed.runpytest("--night", "2026-11-25", "--week-start", "2026-11-23",
                                 "--reports-dir", str(reports), *OFFLINE)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"opsverify.plugin registered as ['opsverify.plugin'] via ['{DIST}']",
                                 "night 2026-11-25 (Day 3): ✅ Successful"])
    assert "already registered" not in result.stdout.str() + result.stderr.str()
    assert (reports / "ledger.json").is_file()


def test_alone_in_another_projects_run_it_only_adds_its_options(installed):
    installed.makepyfile(test_plain=PLAIN)  # no severity, no markers: the plugin would refuse it
    result = installed.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"plugins: {DIST}-0.1*"])  # loaded, and
    result.stdout.no_fnmatch_line("*= opsverify =*")  # no run: no night, no ledger, no report
    assert not (installed.path / "reports").exists()
    installed.runpytest("--help").stdout.fnmatch_lines(["opsverify: which site, which night, which stack:"])


def test_asked_for_with_p_it_runs_as_the_opsverify_command_has_it(installed):
    installed.makepyfile(test_plain=PLAIN)
    result = installed.runpytest("-p", "opsverify.plugin", "--reports-dir", str(installed.path / "reports"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_plain.py::test_plain needs @pytest.mark.severity*"])
