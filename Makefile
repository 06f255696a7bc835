# gpufleet: `make run` and `make test` each set everything up first, so each works alone on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TOOLS := .cache/tools
TOOLS_STAMP := $(TOOLS)/.installed
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

# System parts the integration tests run for real: Debian's prometheus and chromium, and playwright-core from
# npm (drives chromium in the dashboard test); kubectl (Debian's kubernetes-client) renders deploy/ with its
# built-in kustomize (tests/deploy skip with the reason when it is older than 1.27). Installed when missing
# and possible (apt-get as root, npm); otherwise those tests skip and say why.
APT_PKGS := prometheus:prometheus chromium:chromium kubectl:kubernetes-client
system-deps:
	@missing=""; for p in $(APT_PKGS); do command -v $${p%%:*} >/dev/null 2>&1 || missing="$$missing $${p##*:}"; done; \
	command -v promtool >/dev/null 2>&1 || case "$$missing" in *prometheus*) ;; *) missing="$$missing prometheus";; esac; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages:$$missing (integration tests)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null) \
	      || echo "could not install$$missing: those integration tests will skip"; \
	  else echo "not installed:$$missing, and apt-get is unavailable: those integration tests will skip"; fi; \
	fi
	@if [ ! -d .cache/browser/node_modules/playwright-core ] && command -v npm >/dev/null 2>&1; then \
	  echo "installing playwright-core from npm into .cache/browser (dashboard browser test)"; \
	  npm install -q --prefix .cache/browser --no-audit --no-fund playwright-core@1 >/dev/null 2>&1 \
	    || echo "could not install playwright-core: the browser test will skip"; \
	fi
	@# checkov and hadolint (the Dockerfile and manifest scans) live in their own venv: checkov pulls boto3 & co
	@# and would move grpcio in the app lock. Rebuilt when requirements-tools.lock is newer than the stamp.
	@if [ ! -f $(TOOLS_STAMP) ] || [ requirements-tools.lock -nt $(TOOLS_STAMP) ]; then \
	  if command -v uv >/dev/null 2>&1; then \
	    echo "installing checkov and hadolint into $(TOOLS) (Dockerfile and manifest scans)"; \
	    (uv venv -q --allow-existing --python python3 $(TOOLS) && \
	     uv pip sync -q --python $(TOOLS)/bin/python requirements-tools.lock && touch $(TOOLS_STAMP)) \
	      || echo "could not install the tools venv $(TOOLS): the checkov and hadolint tests will skip"; \
	  else echo "uv is unavailable: no tools venv $(TOOLS), the checkov and hadolint tests will skip"; fi; \
	fi

# Everything: `-m ""` lifts the `not integration and not slow` that plain pytest applies (pyproject.toml addopts).
test: setup system-deps
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest -q -n 2 --dist loadfile -m ""

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: setup
	$(PY) bench/run_all.py

dashboard: setup
	$(VENV)/bin/gpufleet dashboard --runs out

# Re-resolve the lock files after changing dependencies in pyproject.toml. requirements.lock is the development
# environment: every extra, the dev tools and ray (make test runs the Ray tests against a real local runtime).
# locks/X.lock is what image target X installs (gpufleet[X] alone, hashed, for every platform), held to the
# versions of requirements.lock so the tests run what the images ship.
IMAGE_LOCKS := hook collector dashboard
lock:
	uv pip compile -q pyproject.toml --extra dev --extra ray --extra all --python-version 3.11 -o requirements.lock
	@mkdir -p locks
	for x in $(IMAGE_LOCKS); do \
	  uv pip compile -q pyproject.toml --extra $$x -c requirements.lock --generate-hashes --universal \
	    --python-version 3.11 -o locks/$$x.lock || exit 1; \
	done
	uv pip compile -q tools/requirements-tools.in --python-version 3.11 -o requirements-tools.lock

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache .mypy_cache
