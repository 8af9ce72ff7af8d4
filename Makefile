# Two entry points, each creating its own virtual environment on a fresh machine:
#   make demo   -- the main job
#   make test   -- the test suite (what CI runs)
PYTHON ?= python3
TEST_ENV := .venv-test
DEMO_ENV := .venv-demo
BENCH_ENV := .venv-bench

.PHONY: test test-fast lint docs demo bench bench-pytorch clean

$(TEST_ENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(TEST_ENV)
	$(TEST_ENV)/bin/python -m pip install --quiet --upgrade pip
	$(TEST_ENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $@

$(DEMO_ENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(DEMO_ENV)
	$(DEMO_ENV)/bin/python -m pip install --quiet --upgrade pip
	$(DEMO_ENV)/bin/python -m pip install --quiet -e '.[demo]'
	touch $@

$(BENCH_ENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(BENCH_ENV)
	$(BENCH_ENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_ENV)/bin/python -m pip install --quiet -e '.[benchmarks]'
	touch $@

# Lint (ruff: style and import order) and types (mypy), the docs, then the doctests, then every test.
test: lint docs
	$(TEST_ENV)/bin/python -m pytest -q --doctest-modules gradxform
	$(TEST_ENV)/bin/python -m pytest -n auto -q

# The same checks without the tests marked slow (notebooks, subprocesses, long trajectories).
test-fast: lint
	$(TEST_ENV)/bin/python -m pytest -n auto -q -m "not slow"

lint: $(TEST_ENV)/.installed
	$(TEST_ENV)/bin/ruff check gradxform tests benchmarks
	$(TEST_ENV)/bin/mypy

# The API reference (generated from the docstrings) and the guides, as HTML in build/docs; any
# Sphinx warning fails the build (-W), after reporting them all (--keep-going). Fetches nothing.
docs: $(TEST_ENV)/.installed
	$(TEST_ENV)/bin/python -m sphinx -E -W --keep-going -q -b html docs build/docs

demo: $(DEMO_ENV)/.installed
	$(DEMO_ENV)/bin/python -m gradxform

bench: $(BENCH_ENV)/.installed
	$(BENCH_ENV)/bin/python benchmarks/adam_speed.py
	$(BENCH_ENV)/bin/python benchmarks/compile_time.py
	$(BENCH_ENV)/bin/python benchmarks/hlo_passes.py --time
	$(BENCH_ENV)/bin/python benchmarks/kernel_count.py
	$(BENCH_ENV)/bin/python benchmarks/step_time.py

# PyTorch's Adam beside gradxform and Optax (adam_speed.py --pytorch). Optional and large, so not
# in the benchmarks extra. RESULTS.md's figures are from 2.13.0's CPU build; on Linux, PyPI's torch
# wheels are CUDA builds of several GB (for the CPU build alone, install torch first with
# --index-url https://download.pytorch.org/whl/cpu).
bench-pytorch: $(BENCH_ENV)/.installed
	$(BENCH_ENV)/bin/python -m pip install --quiet torch==2.13.0
	$(BENCH_ENV)/bin/python benchmarks/adam_speed.py --workloads single,leaves,gpt2-25m --pytorch fused

clean:
	rm -rf $(TEST_ENV) $(DEMO_ENV) $(BENCH_ENV) build dist *.egg-info
