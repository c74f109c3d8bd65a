# ExamBridge: `make run` for the demo, `make test` for the whole suite. Nothing to install by hand.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

.PHONY: run test bench setup system-deps services clean translations

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip "setuptools<82" wheel
	$(PIP) install --quiet -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(VENV)/bin/exambridge db upgrade
	$(VENV)/bin/exambridge demo

test: setup system-deps services
	bash scripts/test.sh

bench: setup services
	$(VENV)/bin/exambridge bench all

system-deps:
	bash scripts/system-deps.sh

services:
	bash scripts/services.sh

translations: setup
	$(VENV)/bin/pybabel compile -d bridge/translations

clean:
	rm -rf $(VENV) build .pytest_cache
