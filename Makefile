# The two set-up commands: `make run` (the whole pipeline locally on the bundled sample data) and
# `make test`. Both create .venv and install what they need on a fresh machine with Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export SAGEMAKER_SUPPRESS_V2_WARNING := 1

.PHONY: run test lint install clean

# torch first: `torch==2.13.0` is a CPU build that lies on this machine's disk; any later requirement
# that 2.13.0 satisfies then installs nothing more (a bare `torch` would pull a multi-GB CUDA build).
$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m pipelines.run --profile quick

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache *.egg-info

# `make images` (IMAGES=cpu|gpu|all): the job images, conviction-<kind>:<setup.cfg version>, built locally
# on the upstream bases or, where no registry is reachable, on Debian stand-ins (docs/containers.md).
IMAGES ?= all

.PHONY: images
images:
	containers/build_images.sh $(IMAGES)
