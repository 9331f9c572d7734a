# Two front doors: `make app` runs the app, `make test` runs the tests. Both set up .venv/ first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
NO_DEPS := spikingjelly|resemblyzer

.PHONY: setup app test bench clean

setup: $(VENV)/.installed

# Re-runs only when a requirements file changes; pip skips what is already installed.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check --no-deps $$(grep -E '^($(NO_DEPS))==' requirements.txt)
	grep -v -E '^($(NO_DEPS))==' requirements.txt > $(VENV)/requirements-with-deps.txt
	$(PY) -m pip install -q --disable-pip-version-check -r $(VENV)/requirements-with-deps.txt -r requirements-dev.txt
	touch $@

app: setup
	$(PY) app.py

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) -m spikemo bench model

clean:
	rm -rf $(VENV)
