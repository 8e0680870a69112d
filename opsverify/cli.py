"""The `opsverify` command: the shipped checks, run by pytest with the project's own ini, from any directory.

    opsverify nightly|smoke|criteria|drill [pytest options...]

is `pytest -m KIND [options...]` as run from the checkout, wherever it is started: the project's
pytest.ini (`-c`), its checks (`testpaths`) and its plugin loaded before the options are read (`-p`), so
that a path option works with a space as with `=` (`--update-doc /srv/doc.md`). The rootdir is the
current directory: relative paths on the command line and in the site file, the reports directory
(./reports unless --reports-dir, OPSVERIFY_REPORTS_DIR or the site file's reports_dir say otherwise) and
pytest's cache (for --lf) are all the current directory's. The exit code is pytest's.
"""

import configparser
import glob
import os
import shlex
import subprocess
import sys
from pathlib import Path

from opsverify import __version__
from opsverify.activation import NAME as PLUGIN
from opsverify.project import PROJECT, SHIPPED

USAGE_ERROR = 4  # pytest's exit code for a usage error
# pytest's default norecursedirs, plus what a checkout has beside checks/ that is not the suite's to collect
CHECKOUT_NORECURSE = ("*.egg", ".*", "_darcs", "build", "CVS", "dist", "node_modules", "venv", "{arch}",
                      "tests", "bench", "reports")

HELP = """\
usage: opsverify KIND [pytest options...]
       opsverify --help | --version | --project-dir

Runs the opsverify checks of KIND with pytest, the project's pytest.ini and its plugin, from any
directory. KIND is a marker of that pytest.ini:

{kinds}

Every further argument goes to pytest: the options of the opsverify group (`opsverify KIND --help`
lists them, e.g. --site, --night, --week, --update-doc, --sandbox, --reports-dir) and pytest's own
(-k, --lf, -q, -x, ...). Path options take a space or `=`. Relative paths are the current directory's;
reports go to ./reports unless --reports-dir, OPSVERIFY_REPORTS_DIR or the site file's reports_dir say
otherwise. The exit code is pytest's (0: every check passed, 1: a check failed, 4: a usage error).

  --project-dir   print where the shipped project is (pytest.ini, checks/, sites/escashop.yml,
                  sandbox/escashop-repo/) and exit

examples:
  opsverify nightly --week --update-doc /srv/escashop/STEP8_LESSONS_LEARNED.md
  opsverify nightly --sandbox --week      # against the bundled sandbox stack, not production
  opsverify smoke -q
"""


def kinds(ini=None):
    """The kinds of run: the markers the project's pytest.ini declares without arguments (nightly, smoke,
    criteria, drill; not severity(level)), each with what the ini says of it."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ini or PROJECT / "pytest.ini", encoding="utf-8")
    found = {}
    for line in parser.get("pytest", "markers", fallback="").splitlines():
        name, colon, what = line.partition(":")
        if colon and name.strip().isidentifier():
            found[name.strip()] = what.strip()
    return found


def pytest_args(kind, args, cwd=None):
    """The pytest command line (without `pytest`) that `opsverify KIND ARGS...` runs from `cwd`."""
    cwd = Path.cwd() if cwd is None else Path(cwd)
    # testpaths is the project directory, not its checks/: node ids then read `checks/test_x.py::...` as
    # from the checkout (the ledger keys checks by them). pytest uses testpaths only when the rootdir is
    # the directory it starts in, and globs and shell-splits them: hence the escape and the quotes.
    command = ["-c", str(PROJECT / "pytest.ini"), "--rootdir", str(cwd), "-p", PLUGIN,
               "-o", f"testpaths={shlex.quote(glob.escape(str(PROJECT)))}"]
    if PROJECT != SHIPPED:  # a checkout (an editable install): its tests/ and bench/ are not checks
        command += ["-o", "norecursedirs=" + " ".join(CHECKOUT_NORECURSE)]
    return [*command, "-m", kind, *args]


def main(argv=None):
    """The console script: `opsverify KIND [pytest options...]`; returns pytest's exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        listed = "\n".join(f"  {kind:<9} {what}" for kind, what in kinds().items())
        (sys.stdout if argv else sys.stderr).write(HELP.format(kinds=listed))
        return 0 if argv else USAGE_ERROR
    if argv[0] == "--version":
        print(f"opsverify {__version__}")
        return 0
    if argv[0] == "--project-dir":
        print(PROJECT)
        return 0
    kind, rest, known = argv[0], argv[1:], kinds()
    if kind not in known:
        sys.stderr.write(f"opsverify: unknown kind {kind!r}; use one of {', '.join(known)} "
                         f"(opsverify --help)\n")
        return USAGE_ERROR
    # pytest in a process of its own, as `python -m pytest` would run: here this package is imported
    # already, and pytest could not rewrite its asserts (it warns). -P: the current directory is not on
    # sys.path, so a directory named opsverify/, checks/ or fixtures/ there cannot stand in for ours.
    command = [sys.executable, "-P", "-m", "pytest", *pytest_args(kind, rest)]
    # The pytest process imports the opsverify this command is (installed, or a checkout's run as
    # `python -m opsverify.cli`), whatever the current directory.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")) if p)}
    if os.name != "posix":
        return subprocess.call(command, env=env)
    os.execve(sys.executable, command, env)  # does not return: pytest's exit code and signals, no parent between


if __name__ == "__main__":
    sys.exit(main())
