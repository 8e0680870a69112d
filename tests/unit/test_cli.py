"""The `opsverify` command's own part: the pytest command line it builds, its help, its refusals."""

import glob
import os
import shlex
from pathlib import Path

import pytest

from opsverify import __version__, cli
from opsverify.project import PROJECT


def option(args, name):
    """The value after the last `name` in `args` (argparse: the last one wins)."""
    return args[len(args) - 1 - args[::-1].index(name) + 1]


def test_the_project_ini_plugin_and_checks_with_the_current_directory_as_rootdir(tmp_path):
    args = cli.pytest_args("nightly", [], cwd=tmp_path)
    assert option(args, "-c") == str(PROJECT / "pytest.ini")
    assert option(args, "--rootdir") == str(tmp_path)
    assert option(args, "-p") == "opsverify.plugin"  # before the options are read: `--update-doc PATH` parses
    assert option(args, "-m") == "nightly"
    assert f"testpaths={shlex.quote(glob.escape(str(PROJECT)))}" in args  # the project: node ids checks/...


@pytest.mark.parametrize("given", [["--update-doc", "/tmp/x/doc.md"], ["--update-doc=/tmp/x/doc.md"]],
                         ids=["space", "equals"])
def test_the_rest_goes_to_pytest_after_ours_as_given(given, tmp_path):
    args = cli.pytest_args("nightly", [*given, "--week", "-k", "reset"], cwd=tmp_path)
    assert args[-len(given) - 3:] == [*given, "--week", "-k", "reset"]
    assert not any(a.startswith("/") and a.endswith("checks") for a in args)  # no path argument: a full run


def test_testpaths_survives_spaces_and_glob_characters(tmp_path, monkeypatch):
    odd = tmp_path / "my venv [3.11]" / "_project"
    monkeypatch.setattr(cli, "PROJECT", odd)
    value = next(a for a in cli.pytest_args("smoke", [], cwd=tmp_path) if a.startswith("testpaths="))
    # pytest shell-splits the ini value, then globs each part
    (part,) = shlex.split(value.removeprefix("testpaths="))
    odd.mkdir(parents=True)
    assert glob.glob(part) == [str(odd)]


def test_a_checkout_leaves_its_own_tests_uncollected(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "SHIPPED", tmp_path / "none")
    norecurse = next(a for a in cli.pytest_args("smoke", [], cwd=tmp_path) if a.startswith("norecursedirs="))
    assert {"tests", "bench", "reports", ".*"} <= set(norecurse.removeprefix("norecursedirs=").split())
    monkeypatch.setattr(cli, "SHIPPED", PROJECT)
    assert not any(a.startswith("norecursedirs=") for a in cli.pytest_args("smoke", [], cwd=tmp_path))


def test_the_kinds_are_the_inis_markers_without_arguments(tmp_path):
    assert {"nightly", "smoke", "criteria", "drill"} <= set(cli.kinds()) and "severity" not in cli.kinds()
    ini = tmp_path / "pytest.ini"
    ini.write_text("[pytest]\nmarkers =\n    nightly: judges: the night\n    severity(level): l\n", encoding="utf-8")
    assert cli.kinds(ini) == {"nightly": "judges: the night"}


def test_help_lists_the_kinds_with_what_the_ini_says(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: opsverify KIND [pytest options...]")
    for kind, what in cli.kinds().items():
        assert f"\n  {kind:<9} {what}\n" in out


def test_no_kind_is_a_usage_error_with_the_help(capsys):
    assert cli.main([]) == 4
    assert "usage: opsverify KIND" in capsys.readouterr().err


def test_an_unknown_kind_is_refused_naming_the_kinds(capsys):
    assert cli.main(["nigthly", "--week"]) == 4
    assert capsys.readouterr().err == (f"opsverify: unknown kind 'nigthly'; use one of {', '.join(cli.kinds())} "
                                       f"(opsverify --help)\n")
    assert list(cli.kinds())[:4] == ["nightly", "smoke", "criteria", "drill"]


def test_version_and_project_dir(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"opsverify {__version__}\n"
    assert cli.main(["--project-dir"]) == 0
    shown = Path(capsys.readouterr().out.strip())
    assert (shown / "pytest.ini").is_file() and (shown / "sandbox" / "escashop-repo").is_dir()


def test_a_kind_runs_pytest_with_those_arguments(monkeypatch, tmp_path):
    calls = []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    monkeypatch.setattr(cli.os, "execve", lambda path, argv, env: calls.append((path, argv, env)))
    cli.main(["smoke", "-q"])
    (path, argv, env), = calls
    assert argv[:4] == [path, "-P", "-m", "pytest"]  # -P: the current directory is not on sys.path
    assert argv[4:] == cli.pytest_args("smoke", ["-q"], cwd=Path.cwd())
    # ... but the directory of the opsverify this command is comes first, installed or a checkout's.
    assert env["PYTHONPATH"].split(os.pathsep) == [str(Path(cli.__file__).resolve().parents[1]), "/elsewhere"]
