# Two commands on a fresh clone:  `make course` runs every notebook, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
PROFILE ?= tiny
PY := $(VENV)/bin/python
# A CPU-only machine gets the CPU build of torch instead of several GB of CUDA packages.
TORCH_CPU ?= torch==2.13.0

.PHONY: setup course site lab test unit lint clean
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml medlab/llama_build.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	if ! command -v nvidia-smi >/dev/null 2>&1; then $(PY) -m pip install -q "$(TORCH_CPU)"; fi
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m medlab.llama_build  # llama.cpp for any x86-64 CPU with AVX2 (no -march=native, no AVX-512, no AMX), built once and cached
	$(PY) -m medlab.export  # llama.cpp's GGUF converter, from the installed llama-cpp-python's source
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (medlab)" >/dev/null
	touch $@

course: setup
	$(PY) -m medlab.runner --profile $(PROFILE)

# The course as a website from the run's executed notebooks: runs/$(PROFILE)/site/index.html.
site: setup
	$(PY) -m medlab.site --profile $(PROFILE)

# JupyterLab on the notebooks, with the course's environment as the kernel "Python 3 (medlab)".
lab: setup
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

test: setup
	$(PY) -m pytest

# The tests and doctests without executing the notebooks: about 3 minutes, for quick checks.
unit: setup
	$(PY) -m pytest tests medlab

lint: setup
	$(VENV)/bin/ruff check .

# Runs and the figures they wrote; the few figures committed under figures/tiny/ stay.
clean:
	rm -rf runs
	git clean -fqX figures 2>/dev/null || rm -rf figures/tiny
