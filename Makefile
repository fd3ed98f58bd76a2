# The two commands of the README: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_WORKSPACE ?= demo-workspace

.PHONY: setup demo test test-fast lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,btyd,serve,s3,spark]'
	touch $@

## Run the main job on built-in demo data.
demo: setup
	$(BIN)/glocal demo --workspace $(DEMO_WORKSPACE)

## Run every test (what CI runs): lint, types, layering, then pytest with all markers and
## every docstring example.
test: setup lint
	$(BIN)/pytest -n 2 -m "" --doctest-modules src/glocal tests

## Quick feedback: skip tests marked slow and the Spark tests (each starts a JVM).
test-fast: setup
	$(BIN)/pytest -n 2 -m "not slow and not spark" --doctest-modules src/glocal tests

lint: setup
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(DEMO_WORKSPACE) .pytest_cache .mypy_cache .ruff_cache
