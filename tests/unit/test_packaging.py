"""pyproject.toml against what it packages: requirements.txt's pins, the plugin's name, every package and data file."""

import ast
import fnmatch
import re
import tomllib
from pathlib import Path

import pytest

from opsverify import __version__, project
from opsverify.activation import NAME

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
TEST_ONLY = {"pytest-httpserver", "beautifulsoup4", "pytest-xdist", "execnet"}
SHIPPED_TREES = ("checks", "fixtures", "sandbox")  # the checkout's directories shipped as opsverify._project.*


def pins(lines):
    """`name==version` lines (comments and blank lines skipped) as {normalised name: version}."""
    found = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
            assert match, f"not pinned exactly: {line!r}"
            found[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return found


def requirements():
    return pins((ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines())


def test_runtime_dependencies_are_requirements_pins_without_the_test_ones():
    runtime = pins(PYPROJECT["project"]["dependencies"])
    expected = {name: version for name, version in requirements().items() if name not in TEST_ONLY}
    assert runtime == expected


def test_test_extra_is_the_test_only_pins():
    extra = pins(PYPROJECT["project"]["optional-dependencies"]["test"])
    assert extra == {name: version for name, version in requirements().items() if name in TEST_ONLY}
    assert set(extra) == TEST_ONLY


def test_the_pytest11_entry_point_is_named_as_conftest_names_the_plugin():
    # One name for both ways in: pytest then registers the module once, whichever comes first.
    entry_points = PYPROJECT["project"]["entry-points"]["pytest11"]
    assert entry_points == {NAME: NAME}
    conftest = ast.parse((ROOT / "conftest.py").read_text(encoding="utf-8"))
    plugins = next(ast.literal_eval(node.value) for node in conftest.body
                   if isinstance(node, ast.Assign) and node.targets[0].id == "pytest_plugins")
    assert NAME in plugins


def test_the_console_script_and_the_version():
    assert PYPROJECT["project"]["scripts"] == {"opsverify": "opsverify.cli:main"}
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "opsverify.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)


def _packages_on_disk():
    names = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "opsverify").rglob("__init__.py")}
    for tree in SHIPPED_TREES:
        names |= {"opsverify._project." + ".".join(p.parent.relative_to(ROOT).parts)
                  for p in (ROOT / tree).rglob("__init__.py")}
    return names | {"opsverify._project"}


def test_every_package_is_shipped():
    assert set(PYPROJECT["tool"]["setuptools"]["packages"]) == _packages_on_disk()
    assert PYPROJECT["tool"]["setuptools"]["package-dir"] == {"opsverify._project": "."}


def _package_data_patterns():
    patterns = []
    for package, globs in PYPROJECT["tool"]["setuptools"]["package-data"].items():
        assert package.startswith("opsverify._project"), package
        prefix = package.removeprefix("opsverify._project").lstrip(".").replace(".", "/")
        patterns += [f"{prefix}/{g}" if prefix else g for g in globs]
    return patterns


def _matches(relative, pattern):
    # setuptools' package-data globs: `**` any depth, `*` within one directory
    regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
    return re.fullmatch(regex, relative) is not None


@pytest.mark.parametrize("tree", ["sandbox", "checks", "fixtures", "sites"])
def test_every_data_file_the_shipped_project_reads_is_package_data(tree):
    # A file added under sandbox/ (a scenario, a provisioning patch) must reach an installed copy too.
    patterns = _package_data_patterns()
    missing = [str(p.relative_to(ROOT)) for p in sorted((ROOT / tree).rglob("*"))
               if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
               and not any(_matches(str(p.relative_to(ROOT)), pattern) for pattern in patterns)]
    assert missing == []


def test_the_top_level_files_are_package_data():
    patterns = _package_data_patterns()
    assert [name for name in ("pytest.ini", "sites/escashop.yml") if not any(
        fnmatch.fnmatch(name, pattern) for pattern in patterns)] == []


def test_in_a_checkout_the_project_is_the_checkout():
    assert project.project_dir() == ROOT
    assert not project.SHIPPED.exists()  # a build never writes into the package directory


def test_an_installed_copy_is_preferred(tmp_path, monkeypatch):
    shipped = tmp_path / "opsverify" / "_project"
    shipped.mkdir(parents=True)
    (shipped / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    monkeypatch.setattr(project, "SHIPPED", shipped)
    assert project.project_dir() == shipped
