# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-oldest lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# uv installs the dependencies (from PyPI, as pip would) several times faster than pip;
# --compile-bytecode as pip does, since no process may write .pyc files here
# (PYTHONDONTWRITEBYTECODE) and every worker would compile its libraries again.
$(BIN)/uv: | $(BIN)/python
	$(BIN)/python -m pip install --quiet uv

# One stamp per install flavour, redone whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e ".[test]"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/eeg4students demo --out demo-output

# Debian's Chromium for the classroom's browser tests (Playwright drives it; browser
# downloads are not used). Without apt-get those tests skip and say why.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(CHROMIUM):
	@if command -v apt-get >/dev/null; then \
		$(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	else echo "no apt-get: the browser tests will be skipped (install chromium to run them)"; fi

# One BLAS/OpenMP thread per test process, so that three test workers (and the workers
# some tests start) on two cores do not each start a thread per core.
TEST_ENV := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

test: $(VENV)/.installed-test $(CHROMIUM)
	$(BIN)/ruff check eeg4students tests benchmarks
	$(BIN)/ruff format --check eeg4students tests benchmarks
	$(TEST_ENV) $(BIN)/python -m pytest -n 3 --dist loadgroup

# The lowest versions pyproject.toml allows (uv's lowest-direct resolution), in an
# environment of their own: the ranges say what was tested.
OLDEST := .venv-oldest

$(OLDEST)/bin/python:
	$(PYTHON) -m venv $(OLDEST)

$(OLDEST)/.installed: pyproject.toml | $(OLDEST)/bin/python $(BIN)/uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(OLDEST)/bin/python \
		--resolution lowest-direct -e ".[test]"
	touch $@

test-oldest: $(OLDEST)/.installed $(CHROMIUM)
	$(TEST_ENV) $(OLDEST)/bin/python -m pytest -n 3 --dist loadgroup

lint: $(VENV)/.installed-test
	$(BIN)/ruff check eeg4students tests benchmarks

format: $(VENV)/.installed-test
	$(BIN)/ruff format eeg4students tests benchmarks
	$(BIN)/ruff check --fix eeg4students tests benchmarks

clean:
	rm -rf $(VENV) $(OLDEST) demo-output .pytest_cache .ruff_cache
