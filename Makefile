# `make run` starts Lodge on embedded defaults; `make test` lints, then runs the whole suite.
# Both create the virtualenv and install what is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run lint test test-fast soak services test-services bench chaos fuzz clean

# what running needs; the tests' tools (a browser driver, linters, stand-ins) come on top
$(BIN)/.installed-run: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e .
	touch $@

$(BIN)/.installed: $(BIN)/.installed-run
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]'
	# sword2, the SWORD v2 client the tests deposit with, pins lxml<5 from its age; it runs on
	# Lodge's lxml, so it comes without its dependencies (httplib2 is in the test extra)
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -c constraints.txt sword2
	touch $@

install: $(BIN)/.installed

# what running needs (libmagic, RabbitMQ); the tests and benchmarks need more
services:
	bash scripts/ensure-services.sh

test-services:
	bash scripts/ensure-services.sh --for-tests

# log lines for a terminal; production keeps the default, JSON
run: $(BIN)/.installed-run services
	LODGE_LOG_FORMAT=$${LODGE_LOG_FORMAT:-text} $(BIN)/lodge run

# CI runs `make test`, so CI lints too; `make run` does not
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint test-services
	$(BIN)/python -m pytest

test-fast: install test-services
	$(BIN)/python -m pytest -m "not e2e and not soak"

# no process grows without bound: a whole Lodge under steady load (SOAK_MINUTES, default 20)
SOAK_MINUTES ?= 20
soak: install test-services
	$(BIN)/python -m pytest tests/soak -m soak -s --timeout 0 --soak-minutes $(SOAK_MINUTES)

bench: install test-services
	$(BIN)/python bench/pipeline.py

chaos: install test-services
	$(BIN)/python bench/chaos.py

fuzz: install test-services
	bash bench/fuzz.sh

clean:
	rm -rf $(VENV) var test-artifacts
