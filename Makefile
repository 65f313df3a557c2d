# Two entry points for a new user: `make demo` and `make test`.
# Each creates the virtual environment in .venv when it is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
TORCH  ?= torch==2.13.0

.PHONY: env demo test test-slow bench clean-env

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

clean-env:
	rm -rf $(VENV)
