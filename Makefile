# gpufleet: `make run` and `make test` each set everything up first, so each works alone on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The shared traces live next to the checkout; an explicit GPUFLEET_DATA wins.
ifeq ($(GPUFLEET_DATA),)
  ifneq ($(wildcard ../shared/traces),)
    export GPUFLEET_DATA := $(abspath ../shared/traces)
  endif
endif

.PHONY: setup system-deps run test lint bench dashboard lock clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock hatch_build.py src/gpufleet/hook/proto/externalscaler.proto
	@command -v uv >/dev/null 2>&1 || python3 -m pip install -q uv || true
	@if command -v uv >/dev/null 2>&1; then \
	  uv venv -q --allow-existing --python python3 $(VENV) && \
	  uv pip sync -q --python $(PY) requirements.lock && \
	  uv pip install -q --python $(PY) --no-deps -e . ; \
	else \
	  python3 -m venv $(VENV) && $(PY) -m pip install -q -r requirements.lock && \
	  $(PY) -m pip install -q --no-deps -e . ; \
	fi
	@touch $(STAMP)

run: setup
	$(VENV)/bin/gpufleet demo --out out/demo

# System parts the integration tests run for real (Debian's prometheus); installed when missing and apt-get
# can (as root); otherwise those tests skip and say why.
system-deps:
	@if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian package prometheus (integration tests)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null) \
	      || echo "could not install prometheus: its integration tests will skip"; \
	  else echo "prometheus not installed and apt-get unavailable: its integration tests will skip"; fi; \
	fi

test: setup system-deps
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest -q -n 2 --dist loadfile

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: setup
	$(PY) bench/run_all.py

dashboard: setup
	$(VENV)/bin/gpufleet dashboard --runs out

# Re-resolve the lock file after changing dependencies in pyproject.toml.
lock:
	uv pip compile -q pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache .mypy_cache
