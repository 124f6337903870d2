# Two commands on a fresh clone:  `make course` runs every notebook, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
PROFILE ?= tiny
PY := $(VENV)/bin/python
# A CPU-only machine gets the CPU build of torch instead of several GB of CUDA packages.
TORCH_CPU ?= torch==2.13.0

.PHONY: setup course test unit lint clean
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	if ! command -v nvidia-smi >/dev/null 2>&1; then $(PY) -m pip install -q "$(TORCH_CPU)"; fi
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

course: setup
	$(PY) -m medlab.runner --profile $(PROFILE)

test: setup
	$(PY) -m pytest

# The unit tests and doctests alone, without executing the notebooks: a minute, for quick checks.
unit: setup
	$(PY) -m pytest tests medlab

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf runs figures/tiny
