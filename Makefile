# make demo: the nightly suite against the bundled sandbox; make test: the suite's own tests;
# make bench: the suite's requests and bytes at two log volumes (BENCH_LINES=50000 BENCH_FACTOR=10).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test smoke bench clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

demo: $(VENV)/.installed
	$(PY) -m pytest -m nightly --sandbox --week --signoff-doc=sandbox/escashop-repo/STEP8_LESSONS_LEARNED.md

smoke: $(VENV)/.installed
	$(PY) -m pytest -m smoke

test: $(VENV)/.installed
	$(PY) -m pytest -c tests/pytest.ini tests --junitxml=reports/test-results.xml

BENCH_LINES ?= 50000
BENCH_FACTOR ?= 10
bench: $(VENV)/.installed
	$(PY) -m bench.run --lines $(BENCH_LINES) --factor $(BENCH_FACTOR)

clean:
	rm -rf $(VENV) reports/*.html reports/*.xml reports/*.md reports/ledger*.json* reports/*/
