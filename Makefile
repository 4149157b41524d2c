# Portico's interface. `make dev` and `make test` do all the set-up themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
INSTALL_LOG := $(VENV)/install.log
# The laptop platform (portico dev), the tests and the benchmark; the function image has none.
EXTRAS := local,dev,bench
DEV_DIR ?= .dev

.DEFAULT_GOAL := help
.PHONY: help venv dev dev-reset render bench bench-quick test test-unit test-install test-chart test-integration test-conformance test-adversarial test-faults test-browser console-screenshot test-image image base-image lint typecheck check lock clean

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# The venv: uv (from PyPI, into the venv) installs Portico and its pinned dependencies in
# seconds, trusting the machine's CAs as pip does; pip does it when uv cannot. What they print
# goes to $(INSTALL_LOG), shown only when a step fails.
$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Portico needs Python 3.11+; set PYTHON=python3.11")'
	@started=$$(date +%s); mkdir -p $(VENV); : > $(INSTALL_LOG); \
	fail() { echo "==> $$1 failed; the end of $(INSTALL_LOG):" >&2; tail -n 25 $(INSTALL_LOG) >&2; exit 1; }; \
	if ! test -x $(BIN)/python; then \
	  echo "==> creating $(VENV) with $$($(PYTHON) --version)"; \
	  $(PYTHON) -m venv $(VENV) >> $(INSTALL_LOG) 2>&1 || fail "creating $(VENV)"; \
	fi; \
	installer=uv; \
	if ! test -x $(BIN)/uv; then \
	  echo "==> installing uv into $(VENV)"; \
	  $(BIN)/python -m pip install --quiet -c constraints.txt uv >> $(INSTALL_LOG) 2>&1 || \
	    { echo "==> uv could not be installed (see $(INSTALL_LOG)); pip instead, a few minutes"; installer=pip; }; \
	fi; \
	if test $$installer = uv; then \
	  echo "==> installing Portico [$(EXTRAS)] and its pinned dependencies with uv"; \
	  $(BIN)/uv pip install --system-certs --python $(BIN)/python -c constraints.txt \
	    -b constraints.txt -e '.[$(EXTRAS)]' >> $(INSTALL_LOG) 2>&1 || \
	    { echo "==> uv failed (see $(INSTALL_LOG)); pip instead, a few minutes"; installer=pip; }; \
	fi; \
	if test $$installer = pip; then \
	  $(BIN)/python -m pip install --quiet --upgrade pip >> $(INSTALL_LOG) 2>&1 || fail "upgrading pip"; \
	  $(BIN)/python -m pip install --quiet -c constraints.txt -e '.[$(EXTRAS)]' \
	    >> $(INSTALL_LOG) 2>&1 || fail "pip install"; \
	fi; \
	echo "==> $(VENV) ready in $$(( $$(date +%s) - started )) s (installed with $$installer)"
	@touch $(STAMP)

venv: $(STAMP) ## Create .venv and install Portico with its pinned dependencies

dev: $(STAMP) ## Start Postgres, Redis, functions, workers, relay and the dev gateway on :8080
	$(BIN)/portico dev --data-dir $(DEV_DIR)

dev-reset: ## Delete the local data kept in .dev/ (database, queue)
	rm -rf $(DEV_DIR)
	@echo "==> $(DEV_DIR) removed; the next 'make dev' starts from empty, seeded data"

test: $(STAMP) lint typecheck check ## Lint, type-check, validate manifests; unit, install, chart, integration, conformance (+ fuzz), adversarial, fault, bench-harness, image and browser tests
	$(BIN)/pytest tests/unit tests/install tests/chart tests/integration tests/conformance tests/adversarial tests/faults tests/bench tests/image tests/browser

test-unit: $(STAMP) ## Unit tests only (no I/O)
	$(BIN)/pytest tests/unit

test-install: $(STAMP) ## The install tier: the base and [local] each in a fresh venv, running what each promises
	$(BIN)/pytest tests/install

test-integration: $(STAMP) ## Integration tests against real Postgres and Redis
	$(BIN)/pytest tests/integration

test-conformance: $(STAMP) ## The API contract (PORTICO_CONFORMANCE_BASE_URL, or a local portico dev)
	$(BIN)/pytest tests/conformance

test-adversarial: $(STAMP) ## Hostile input through the dev gateway and straight to functions (~2 min)
	$(BIN)/pytest tests/adversarial

test-image: $(STAMP) ## The image tier: the function image run as the chart's pod specs say (skipped without a Docker engine)
	$(BIN)/pytest tests/image

test-chart: $(STAMP) ## Chart tests: render with the real Helm engine, lint, validate every object
	$(BIN)/pytest tests/chart

test-faults: $(STAMP) ## Fault tests (kill and restart real processes), printing their figures
	$(BIN)/pytest -s tests/faults

test-browser: $(STAMP) ## The console in the system's Chromium, on a real portico dev (skipped without /usr/bin/chromium)
	$(BIN)/pytest tests/browser

console-screenshot: $(STAMP) ## Redo the README's docs/console.png: the browser test's claim, its trace open
	PORTICO_CONSOLE_SCREENSHOT=$(CURDIR)/docs/console.png $(BIN)/pytest -q tests/browser -k "trace_reaches_the_worker"

bench: $(STAMP) ## Benchmark Portico side by side with its baselines (~9 min); writes bench/results/latest.{json,md,png}
	$(BIN)/python -m bench

bench-quick: $(STAMP) ## The same benchmark with short runs (under 2 min): a smoke run, same three files
	$(BIN)/python -m bench --quick

lint: $(STAMP) ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy (strict)
	$(BIN)/mypy

check: $(STAMP) ## Validate every function manifest, the connection budget and timeouts
	$(BIN)/portico check

render: $(STAMP) ## Regenerate gateway-config/, the chart's generated values and its README (commit the result)
	$(BIN)/portico render openapi
	$(BIN)/portico render kong
	$(BIN)/portico render openfaas
	$(BIN)/portico render values
	$(BIN)/portico render chart-readme

# --all keeps setuptools (the image's build of Portico itself is pinned by it too) and uv (the
# version `make venv` installs); the resolve is uv's, or pip's when uv cannot be had.
lock: ## Re-pin constraints.txt from a fresh resolve (of the base and every extra)
	@rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv && log=.lock-venv/install.log; \
	fail() { echo "==> $$1 failed; the end of its log:" >&2; tail -n 25 $$log >&2; exit 1; }; \
	echo "==> resolving Portico [$(EXTRAS)] afresh in .lock-venv"; \
	.lock-venv/bin/pip install --quiet --upgrade setuptools uv > $$log 2>&1 || fail "pip install uv"; \
	.lock-venv/bin/uv pip install --system-certs --python .lock-venv/bin/python \
	  -e '.[$(EXTRAS)]' >> $$log 2>&1 || fail "uv pip install"; \
	.lock-venv/bin/pip freeze --all --exclude-editable | grep -v -E '^(portico|pip)==' > constraints.txt; \
	echo "==> constraints.txt: $$(wc -l < constraints.txt) pins ($$(git diff --numstat constraints.txt | cut -f1) lines changed)"
	@rm -rf .lock-venv

IMAGE ?= portico-functions:dev

image: ## Build the function image (IMAGE, default portico-functions:dev); BASE_IMAGE overrides python:3.11-slim
	@IMAGE=$(IMAGE) bash docker/build.sh

base-image: ## Make a stand-in for python:3.11-slim from Debian's packages (root, debootstrap), for machines no registry serves
	@bash docker/base-image.sh

# The kind cluster and the e2e tests: images, kind-up, kind-load, deploy, e2e, kind-down
include kind/kind.mk

clean: ## Remove the virtualenv and caches (keeps .dev/ data)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
