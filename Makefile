# modeltrace: `make demo` runs the main job on real models, `make test` runs the tests.
# Both create the virtual environment and install everything on a fresh machine.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: all venv aics zoo demo test unit lint typecheck bench clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# aics-tlog (PyPI, Apache-2.0; needs Python >= 3.12) checks our notes, cosignatures and proofs as an
# independent implementation (tests/ledger/test_aics_interop.py). It gets a venv of its own from the
# first Python >= 3.12 found (PATH, then pyenv's versions); with none, those tests skip and say why.
AICS_VENV ?= .venv-aics
AICS_PYTHON ?= $(shell for p in python3.13 python3.12 $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3; do \
	$$p -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null && { echo $$p; break; }; done)

aics:
	@if [ -n "$(AICS_PYTHON)" ] && [ ! -x $(AICS_VENV)/bin/python ]; then \
		$(AICS_PYTHON) -m venv $(AICS_VENV) && \
		$(AICS_VENV)/bin/pip install --quiet --disable-pip-version-check aics-tlog==0.2.1 \
		|| { rm -rf $(AICS_VENV); echo "aics-tlog could not be installed: its interop tests will skip"; }; \
	fi

zoo: venv
	$(VENV)/bin/modeltrace zoo fetch

DEMO_OUT ?= demo-out
ZOO ?= $(shell $(PY) -c "from modeltrace.zoo import cache_dir; print(cache_dir() / 'models')" 2>/dev/null)

# Inspect every zoo model, then compare the zoo's known pairs and write one HTML report per pair.
# compare exits 1 for "derived" and 0 for "independent"; only 2 and 3 (bad input, bug) stop the demo.
demo: zoo
	@for id in minilm6 minilm6-gt minilm6-int8 me5-small me5-enpt smollm2 gemma3 whisper-gp whisper-sfy; do \
		$(VENV)/bin/modeltrace inspect --short "$(ZOO)/$$id" || exit 1; \
	done
	@mkdir -p $(DEMO_OUT)
	@set -- \
		"minilm6 minilm6-gt" \
		"minilm6 minilm6-int8/model.onnx" \
		"me5-small me5-enpt" \
		"me5-small minilm6" \
		"smollm2 gemma3" \
		"whisper-gp whisper-sfy"; \
	for pair in "$$@"; do \
		set -- $$pair; name=$$(echo "$$1-vs-$$2" | tr '/' '_'); \
		echo; echo "== compare $$1 $$2"; \
		$(VENV)/bin/modeltrace compare "$(ZOO)/$$1" "$(ZOO)/$$2" --report "$(DEMO_OUT)/$$name.html"; \
		rc=$$?; if [ $$rc -ge 2 ] && [ $$rc -ne 4 ]; then exit $$rc; fi; \
	done; echo; echo "reports: $(DEMO_OUT)/*.html"

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks

typecheck: venv
	$(VENV)/bin/mypy --strict src

unit: venv aics
	@if [ -x $(AICS_VENV)/bin/python ]; then export MODELTRACE_AICS_PYTHON="$(abspath $(AICS_VENV))/bin/python"; fi; \
	$(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck zoo unit

# The quick benchmarks (minutes). The long evaluations run by hand: benchmarks/lineage_eval.py,
# probe_eval.py, monitor_eval.py and monitor_bench.py (see each one's docstring).
bench: zoo
	$(PY) benchmarks/read_bench.py
	$(PY) benchmarks/hostile_bench.py
	$(PY) benchmarks/compare_bench.py
	$(PY) benchmarks/ledger_bench.py

clean:
	rm -rf $(VENV) $(AICS_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
