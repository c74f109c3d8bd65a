# ExamBridge: `make run` for the demo, `make test` for the whole suite. Nothing to install by hand.
#   make setup        .venv with ExamBridge (editable, extras [test]: postgres, redis, sandbox, test tools)
#   make run          migrate instance/exambridge.db, start the bridge + sandbox LMS on 127.0.0.1
#   make test         Debian packages, PostgreSQL + Redis, then the suite (scripts/test.sh)
#   make bench        benchmarks at full size
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8090
LMS_PORT ?= 8081

.PHONY: run test bench setup system-deps services clean translations

# Re-installs when the package metadata changes; a fresh clone has no .venv at all.
# The [test] extra holds the postgres, redis and sandbox extras (setup.cfg): `make test` needs
# them all and `make run` the sandbox LMS. Exam PCs install packaging/kiosk instead (docs/kiosk.md).
$(STAMP): setup.cfg pyproject.toml
	@PYTHON=$(PYTHON) bash scripts/system-deps.sh python
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip "setuptools<82" wheel
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(PIP) install --quiet -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

run: setup
	@mkdir -p instance
	$(VENV)/bin/exambridge db upgrade
	$(VENV)/bin/exambridge demo --host $(HOST) --port $(PORT) --lms-port $(LMS_PORT)

test: system-deps services setup
	bash scripts/test.sh

# Benchmarks live in tests/benchmarks/ and read EXAMBRIDGE_BENCH_SCALE (full here).
bench: setup
	@if ls tests/benchmarks/test_*.py >/dev/null 2>&1; then \
		EXAMBRIDGE_BENCH_SCALE=full $(VENV)/bin/pytest tests/benchmarks -p no:cacheprovider \
			-p no:xdist --timeout=0 -s; \
	else \
		echo "make bench: there are no benchmarks yet (tests/benchmarks/ has no test_*.py); nothing was measured."; \
	fi

system-deps:
	@bash scripts/system-deps.sh all

services:
	@bash scripts/services.sh

# After changing user-visible text: extract, merge into zh_CN, (translate), compile.
translations: setup
	$(PY) scripts/i18n.py update
	$(PY) scripts/i18n.py compile
	$(PY) scripts/i18n.py check

clean:
	rm -rf $(VENV) build .pytest_cache
