# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# One stamp per install flavour, redone whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/eeg4students demo --out demo-output

test: $(VENV)/.installed-test
	$(BIN)/ruff check eeg4students tests benchmarks
	$(BIN)/ruff format --check eeg4students tests benchmarks
	$(BIN)/python -m pytest -n 2 --dist loadgroup

lint: $(VENV)/.installed-test
	$(BIN)/ruff check eeg4students tests benchmarks

format: $(VENV)/.installed-test
	$(BIN)/ruff format eeg4students tests benchmarks
	$(BIN)/ruff check --fix eeg4students tests benchmarks

clean:
	rm -rf $(VENV) demo-output .pytest_cache .ruff_cache
