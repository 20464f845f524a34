# Peony developer entry points. GNU make. Every target installs the virtualenv first when
# pyproject.toml is newer than the last install, so `make up` / `make test` work on a fresh clone
# with nothing but python3 (>= 3.11).

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROTO_BASELINE := tools/buf-baseline.binpb
PYTEST_ARGS ?=
# make test TEST_WORKERS=2: test files spread over N pytest-xdist processes (--dist loadfile: a
# file's module fixtures stay in one process), each with its own embedded PostgreSQL and NATS.
# Off by default: a first full run with it was not green (bench/README.md, "Test suite wall time").
TEST_WORKERS ?=
XDIST_ARGS := $(if $(TEST_WORKERS),-n $(TEST_WORKERS) --dist loadfile)

.DEFAULT_GOAL := help

.PHONY: help install up test test-unit lint deploy-check lock fmt gen gen-check proto-baseline bench clean

help:
	@echo "make up         run the whole platform locally (PostgreSQL, NATS, services, gateway)"
	@echo "make test       run the test suite (PYTEST_ARGS='-k foo' to narrow it; TEST_WORKERS=2 in 2 processes)"
	@echo "make test-unit  only tests/unit: pure code, no PostgreSQL / NATS (the fast tier)"
	@echo "make lint       ruff check, ruff format --check, buf lint, buf breaking (vs tools/buf-baseline.binpb)"
	@echo "make deploy-check  render every kustomize overlay, kubernetes-validate --strict, PromQL, checkov"
	@echo "make lock       refresh requirements.lock (hashed pins the Dockerfile installs)"
	@echo "make fmt        ruff fix + format"
	@echo "make gen        regenerate gen/peony, docs/permissions.md and gateway/openapi.json"
	@echo "make gen-check  fail when gen/peony is stale"
	@echo "make bench      run bench/bench_*.py one after the other"
	@echo "make clean      remove var/ and caches"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[dev,devstack]'
	@touch $@

install: $(STAMP)

up: $(STAMP)
	$(BIN)/peony up

# The 25 slowest tests are listed at the end (the suite's time is watched: issue 15).
# The deploy gates' checkov test runs when make deploy-check has installed checkov (CI does first).
test: export CHECKOV ?= $(abspath $(CHECKOV_VENV))/bin/checkov
test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=25 $(XDIST_ARGS) $(PYTEST_ARGS)

# Starts no servers: the tier to run after every edit.
test-unit: export CHECKOV ?= $(abspath $(CHECKOV_VENV))/bin/checkov
test-unit: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/buf lint
	$(BIN)/buf breaking --against $(PROTO_BASELINE)

# checkov pins packaging<24, which pytest refuses: it gets a venv of its own.
CHECKOV_VENV ?= .venv-checkov
CHECKOV_VERSION := 3.3.30
$(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION):
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q 'checkov==$(CHECKOV_VERSION)'
	@touch $@

deploy-check: $(STAMP) $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
	CHECKOV=$(CHECKOV_VENV)/bin/checkov $(BIN)/python tools/deploy_check.py

# requirements.lock: every runtime dependency pinned with hashes (pip-compile, PyPI); the
# Dockerfile installs with --require-hashes from it. Refresh after changing dependencies.
lock: $(STAMP)
	$(BIN)/python -m pip install -q 'pip-tools>=7.4,<8'
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --extra insights \
		--no-emit-index-url --no-emit-find-links \
		--output-file requirements.lock pyproject.toml

# The released contract, which `buf breaking` compares protos/ against (FILE rules, buf.yaml).
# Additions never break it; refresh it on a release, or with a deliberate, documented break.
proto-baseline: $(STAMP)
	$(BIN)/buf build --exclude-source-info -o $(PROTO_BASELINE)

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

gen: $(STAMP)
	$(BIN)/python tools/genproto.py
	$(BIN)/python tools/gen_permissions.py
	$(BIN)/python tools/gen_openapi.py
	$(BIN)/python tools/gen_deploy.py

gen-check: $(STAMP)
	$(BIN)/python tools/genproto.py --check
	$(BIN)/python tools/gen_permissions.py --check
	$(BIN)/python tools/gen_openapi.py --check
	$(BIN)/python tools/gen_deploy.py --check

bench: $(STAMP)
	@set -e; found=0; for f in bench/bench_*.py; do \
		[ -e "$$f" ] || continue; found=1; \
		echo "==> $$f"; $(BIN)/python "$$f"; \
	done; [ $$found = 1 ] || echo "no bench/bench_*.py scripts"

# No venv needed to clean. Refuses while `peony up` still runs PostgreSQL out of var/.
clean:
	@if [ -f var/postgres/postmaster.pid ] && kill -0 "$$(head -n 1 var/postgres/postmaster.pid)" 2>/dev/null; then \
		echo "PostgreSQL is still running from var/postgres: stop 'peony up' first"; exit 1; fi
	rm -rf var .pytest_cache .ruff_cache .mypy_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
