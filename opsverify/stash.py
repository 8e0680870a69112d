"""Where the plugin keeps the run in pytest's stash: the keys fixtures read, so that no fixture
imports the plugin (data goes one way: plugin -> fixtures -> checks)."""

import pytest

from opsverify.evidence import Evidence
from opsverify.result import Verdicts
from opsverify.runstate import RunState

RUN_KEY = pytest.StashKey[RunState]()  # on config: the run
VERDICTS_KEY = pytest.StashKey[Verdicts]()  # on config, in the main process only: the checks' outcomes so far
EVIDENCE_KEY = pytest.StashKey[Evidence]()  # on an item: what its check attached
