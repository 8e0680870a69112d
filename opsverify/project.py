"""Where the project's own files are: pytest.ini, conftest.py, checks/, fixtures/, sites/ and sandbox/.

In a checkout that is the checkout's top level, beside this package. An installed copy (`pip install .`)
ships the same layout as opsverify/_project/ (see pyproject.toml): the `opsverify` command runs pytest
there, the plugin starts `python -m sandbox` there, and the default site file is read from there. Only
paths: opsverify never imports checks, fixtures or sandbox.
"""

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
SHIPPED = PACKAGE / "_project"  # an installed copy's layout; a checkout has none


def project_dir():
    """The directory holding pytest.ini, checks/ and sandbox/: the installed copy's, else the checkout."""
    return SHIPPED if (SHIPPED / "pytest.ini").is_file() else PACKAGE.parent


PROJECT = project_dir()
