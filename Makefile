# autoops — the two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install lint clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Re-install when the project's dependencies change.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/autoops demo

# Browser tests drive Debian's chromium (Playwright's own browser download does not work here).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = "0" ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
		echo "browser tests need $(CHROMIUM): run 'sudo apt-get install chromium' once"; exit 1; \
	fi

# The history store's and the shared state's tests start a real PostgreSQL (Debian's server binaries).
POSTGRES := /usr/lib/postgresql
$(POSTGRES):
	@if [ "$$(id -u)" = "0" ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	else \
		echo "history store and shared state tests need PostgreSQL: run 'sudo apt-get install postgresql' once"; exit 1; \
	fi

test: $(STAMP) $(CHROMIUM) $(POSTGRES)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check agents policies workflows orchestrator tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_vibration.py
	$(BIN)/python benchmarks/bench_loop.py  # starts (and stops) Temporal, Ray and the reference servers
	$(BIN)/python benchmarks/bench_sources.py  # starts (and stops) OPC UA, MQTT and Modbus servers and Ray

clean:
	rm -rf $(VENV) .autoops .pytest_cache
