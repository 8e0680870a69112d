"""The `opsverify` command from another directory: installed into a fresh venv by `pip install .`, and from
the checkout itself (`python -m opsverify.cli`), each filling a copy of the stand-in document with the week."""

import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from suite_runs import NOW, ROOT, WEEK_START, clean_env, day

pytestmark = pytest.mark.e2e

DOC = "STEP8_LESSONS_LEARNED.md"
# What `pip install .` needs of a checkout: the rest (the suite's own tests, outputs, caches) stays behind.
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", ".pytest_cache", ".ruff_cache", "__pycache__", "reports",
                                    "build", "*.egg-info", "tests", "bench")
# pip's words when the packages cannot be had here (no network, no registry, no proxy): a skip, not a failure.
# Anything else (a build error, a missing file) fails the test.
UNREACHABLE = re.compile(r"No matching distribution found|Could not find a version that satisfies|"
                         r"Failed to establish a new connection|Temporary failure in name resolution|"
                         r"Network is unreachable|Max retries exceeded|ProxyError|SSLError|Read timed out")


def env(**extra):
    """A clean environment: no OPSVERIFY_/PYTEST_ setting, and no path that could lend the checkout's code."""
    values = clean_env(**extra)
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        values.pop(name, None)
    return values


def week_rows(doc):
    text = doc.read_text(encoding="utf-8")
    return [f"| Day {n} | {day(n - 7)} | ✅ Successful |" in text for n in range(1, 8)]


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh venv with the project installed as a user would: `pip install <checkout>`; and how long it took."""
    base = tmp_path_factory.mktemp("install")
    source, venv = base / "src", base / "venv"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    started = time.monotonic()
    made = subprocess.run([sys.executable, "-m", "venv", str(venv)], env=env(), capture_output=True, text=True,
                          timeout=300)
    if made.returncode:
        pytest.skip(f"cannot make a venv here (python -m venv): {made.stderr[-500:]}")
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--timeout", "30",
                          "--retries", "1", str(source)], env=env(), capture_output=True, text=True, timeout=900)
    output = pip.stdout + pip.stderr
    if pip.returncode and UNREACHABLE.search(output):
        pytest.skip(f"the packages cannot be installed here (no registry reachable?): "
                    f"{UNREACHABLE.search(output)[0]}")
    assert pip.returncode == 0, output[-3000:]
    print(f"venv and pip install: {time.monotonic() - started:.0f} s")
    return venv, source


def test_installed_command_fills_the_week_from_another_directory(venv, tmp_path):
    venv, _ = venv
    opsverify = venv / "bin" / "opsverify"
    shown = subprocess.run([str(opsverify), "--project-dir"], env=env(), capture_output=True, text=True, timeout=60)
    project = Path(shown.stdout.strip())
    assert project.is_relative_to(venv) and (project / "pytest.ini").is_file(), shown.stdout + shown.stderr
    # As `make demo` does, from the installed copy's stand-in checkout.
    work, repo = tmp_path / "work", tmp_path / "x"
    work.mkdir()
    shutil.copytree(project / "sandbox" / "escashop-repo", repo)
    result = subprocess.run([str(opsverify), "nightly", "--sandbox", "--week", "--update-doc", str(repo / DOC),
                             f"--now={NOW}"], cwd=work, env=env(), capture_output=True, text=True,
                            encoding="utf-8", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert re.search(r"^configfile: .*/opsverify/_project/pytest\.ini$", result.stdout, re.M), result.stdout[:800]
    assert week_rows(repo / DOC) == [True] * 7
    assert f"**Date Started:** {WEEK_START}" in (repo / DOC).read_text(encoding="utf-8")
    reports = work / "reports"  # the current directory's, by default
    assert {"report.html", "week1.md", "junit.xml", "ledger-sandbox.json"} <= {p.name for p in reports.iterdir()}
    assert not (project / "reports").exists() and not (project / ".pytest_cache").exists()


def test_installed_plugin_and_the_checkouts_conftest_register_it_once(venv, tmp_path):
    # pytest from a checkout, in an environment where the package is installed: the pytest11 entry point
    # and conftest.py's pytest_plugins both name opsverify.plugin.
    venv, source = venv
    result = subprocess.run([str(venv / "bin" / "pytest"), "-m", "smoke", "--co", "-q", "-p", "no:cacheprovider",
                             f"--reports-dir={tmp_path / 'reports'}"], cwd=source, env=env(), capture_output=True,
                            text=True, encoding="utf-8", timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert re.search(r"^\d+/\d+ tests collected", result.stdout, re.M), result.stdout[-2000:]


def test_checkout_command_from_another_directory_with_relative_paths(tmp_path):
    # No install: `python -m opsverify.cli` with the checkout on PYTHONPATH, as an editable install has it.
    work, repo = tmp_path / "work dir", tmp_path / "x"
    work.mkdir()
    shutil.copytree(ROOT / "sandbox" / "escashop-repo", repo)
    result = subprocess.run([sys.executable, "-m", "opsverify.cli", "nightly", "--sandbox", "--week",
                             f"--update-doc={repo / DOC}", "--reports-dir", "out", "-p", "no:cacheprovider",
                             f"--now={NOW}"], cwd=work, env=clean_env(PYTHONPATH=str(ROOT)), capture_output=True,
                            text=True, encoding="utf-8", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert week_rows(repo / DOC) == [True] * 7
    # --reports-dir is the current directory's; node ids are the checkout's (checks/test_x.py::...)
    cases = ET.parse(work / "out" / "junit.xml").getroot().iter("testcase")
    assert {case.get("classname").split(".")[0] for case in cases} == {"checks"}
