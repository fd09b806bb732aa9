# The two set-up commands are `make run` and `make test`; each installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
SYSTEM_STAMP := .local-stack/.system-deps
APT_PACKAGES := mosquitto chromium
PYTEST_ARGS ?=

# sam build: one build-<LogicalId> target per function (BuildMethod: makefile).
-include infra/sam-build.mk

.PHONY: run demo test lint typecheck cfn-lint pytest bench venv system-deps clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

# Debian packages the local stack and the tests use: the MQTT broker and the browser.
system-deps: $(SYSTEM_STAMP)

$(SYSTEM_STAMP):
	@missing=""; for bin in mosquitto chromium; do \
	  command -v $$bin >/dev/null 2>&1 || [ -x /usr/sbin/$$bin ] || missing="$$missing $$bin"; done; \
	if [ -n "$$missing" ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES); \
	fi
	mkdir -p $(dir $@) && touch $@

run: venv system-deps
	$(PY) -m infra.local run

demo: venv system-deps
	$(PY) -m infra.local run --demo

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy shared functions infra

cfn-lint: venv
	$(VENV)/bin/cfn-lint template.yaml

# Unit and integration tests on two workers, then the end-to-end tests (each worker starts
# the local stacks its test files need; --dist loadfile keeps a file's stack in one worker).
# The 25 slowest tests are listed, so the run's time stays visible.
pytest: venv system-deps
	$(PY) -m pytest -n 2 -m "not e2e" --durations=25 $(PYTEST_ARGS)
	$(PY) -m pytest -n 2 --dist loadfile -m e2e --durations=25 $(PYTEST_ARGS)

test: lint typecheck cfn-lint pytest

bench: venv system-deps
	$(PY) -m bench

clean:
	rm -rf $(VENV) .local-stack .mypy_cache .ruff_cache .pytest_cache
