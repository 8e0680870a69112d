# make demo: the nightly suite against the bundled sandbox; make test: the suite's own tests;
# make bench: the suite's requests and bytes at two log volumes (BENCH_LINES=50000 BENCH_FACTOR=10), in the
# sandbox's Loki or, with LOKI_URL=..., in that Loki.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test smoke bench clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# The demo fills a copy of the stand-in EscaShop checkout (reports/escashop-repo) with the week, as a
# team would with --update-doc. Both clocks are set to DEMO_NOW, the morning after Day 7 of the week the
# stand-in document was written for (its action items fall due after it); DEMO_NOW= runs on the
# machine's clock, where those due dates pass in time and the action-items criterion says so.
DEMO_NOW ?= 2026-11-29T06:00:00+08:00
DEMO_DOC := reports/escashop-repo/STEP8_LESSONS_LEARNED.md
demo: $(VENV)/.installed
	rm -rf reports/escashop-repo && mkdir -p reports && cp -RL sandbox/escashop-repo reports/escashop-repo
	$(PY) -m pytest -m nightly --sandbox --week --update-doc=$(DEMO_DOC) $(if $(DEMO_NOW),--now=$(DEMO_NOW))

smoke: $(VENV)/.installed
	$(PY) -m pytest -m smoke

# One fixed temporary directory, emptied at each run: pytest's numbered ones expire by file times,
# which a faked clock (CI's libfaketime pass) makes look stale while the tests still use them.
TEST_TMP ?= $(or $(TMPDIR),/tmp)/opsverify-tests-$(shell id -u)
# Three workers (pytest-xdist; on two cores, since the suite runs wait on their sandboxes), each test file on
# one worker (its module fixtures run once); then the tests
# that start stand-in containers, one at a time: they reuse the containers' names.
TEST_WORKERS ?= 3
test: $(VENV)/.installed
	$(PY) -m pytest -c tests/pytest.ini tests --junitxml=reports/test-results.xml --basetemp=$(TEST_TMP) \
		-n $(TEST_WORKERS) --dist loadfile -m "not docker"
	$(PY) -m pytest -c tests/pytest.ini tests --junitxml=reports/test-results-docker.xml \
		--basetemp=$(TEST_TMP)-docker -m docker

BENCH_LINES ?= 50000
BENCH_FACTOR ?= 10
bench: $(VENV)/.installed
	$(PY) -m bench.run --lines $(BENCH_LINES) --factor $(BENCH_FACTOR) $(if $(LOKI_URL),--loki-url $(LOKI_URL))

clean:
	rm -rf $(VENV) reports/*.html reports/*.xml reports/*.md reports/ledger*.json* reports/*/
