# Two commands on a fresh machine: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install install-dev ffmpeg lint worker clean

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

## Run Videoflix on the embedded default (SQLite, in-process jobs, emails in data/outbox) at http://127.0.0.1:8000
run: install
	DEBUG=$${DEBUG:-true} $(BIN)/videoflix serve --host $(HOST) --port $(PORT)

## Install what the tests need (Python packages; ffmpeg and nginx when missing and apt-get is available) and run them all
test: install-dev ffmpeg
	$(BIN)/python -m pytest -q

## ffmpeg from the system when it can be installed; otherwise Videoflix falls back to the imageio-ffmpeg binary
ffmpeg:
	@command -v ffmpeg >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null) || \
		echo "ffmpeg not installed: using the imageio-ffmpeg binary"; }

lint: install-dev
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

worker: install
	$(BIN)/videoflix worker

clean:
	rm -rf $(VENV) .pytest_cache
