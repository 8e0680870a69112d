# make demo: the nightly suite against the bundled sandbox; make test: the suite's own tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test smoke clean

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

clean:
	rm -rf $(VENV) reports/*.html reports/*.xml reports/*.md reports/ledger*.json* reports/*/
