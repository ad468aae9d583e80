# Everything goes through make: install format lint mypy test bench demo.
# `make test` on a fresh Debian machine (root) installs what it needs, builds the Asterisk rig
# once under .rig/ and runs the whole suite; a second run reuses what is there.

VENV ?= .venv
PY := $(VENV)/bin/python
RIG ?= .rig
ASTERISK_ROOT ?= $(RIG)/asterisk-root
export DIALER_ASTERISK_ROOT ?= $(abspath $(ASTERISK_ROOT))

.PHONY: all install system-deps rig format lint mypy test test-unit bench demo clean

all: lint mypy test

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

system-deps:
	bash scripts/rig/system-deps.sh

rig: system-deps
	bash scripts/rig/build-asterisk.sh $(ASTERISK_ROOT)

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

mypy: install
	$(VENV)/bin/mypy

test-unit: install
	$(PY) -m pytest tests/unit -q

test: install rig
	$(PY) -m pytest -q

bench: install rig
	$(PY) bench/pacing_bench.py
	$(PY) bench/pacing_seeds.py
	$(PY) bench/rig_bench.py
	$(PY) bench/import_bench.py

demo: install rig
	$(PY) scripts/demo.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
