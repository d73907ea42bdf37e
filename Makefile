# Two commands: `make run` (the demo) and `make test` (the whole suite).
# Both create .venv if it is missing and (re)install the project when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint docs docs-serve mutations bench install clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# CPU build of PyTorch from local disk first, so nothing pulls a CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The demo: a short ELLM run on Crafter with the embedded model (about 4 minutes on 2 cores the first
# time; cached answers make a second run faster). Prints what it unlocked and where the plots are.
DEMO_STEPS ?= 8192
run: $(STAMP)
	$(VENV)/bin/llm-explore run ellm --env crafter-short --steps $(DEMO_STEPS) --envs 4 \
		--set method.ellm.min_interval=8 --report

# Test files run on one pytest-xdist worker per core, at most 2 (each worker's model server and torch
# then take one core): 384 tests in 385 s instead of 630 s on this 2-core machine. PYTEST_WORKERS=0
# runs them in this process, one at a time (as before; the model server then takes both cores).
PYTEST_WORKERS ?= auto
PYTEST_PAR := $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --maxprocesses 2 --dist loadfile)
test: $(STAMP)
	$(PY) -m pytest -q -rs $(PYTEST_PAR)

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" $(PYTEST_PAR)

# Style, formatting and types (config in pyproject.toml; .pre-commit-config.yaml runs the same three).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy llm_explore

# The documentation site: the generated tables must equal benchmarks/results/*.json, then a strict build
# (a broken link or a missing page fails). `make docs-serve` serves it at http://127.0.0.1:8000.
docs: $(STAMP)
	$(PY) docs/gen_tables.py --check
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# Break each feature issue 39 named in a copy of the package and run the tests that claim to cover it:
# every mutation must make one fail (about 3 minutes; the embedded-model tests are left to `make test`).
mutations: $(STAMP)
	$(PY) tests/mutation/run_mutations.py --fast

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

bench: $(STAMP)
	$(PY) benchmarks/llm_latency.py
	$(PY) benchmarks/env_throughput.py
	$(PY) benchmarks/ppo_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache build site *.egg-info
