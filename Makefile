# The two set-up commands: `make run` (the whole pipeline locally on the bundled sample data) and
# `make test`. Both create .venv and install what they need on a fresh machine with Python 3.11: exactly
# requirements.lock (every package pinned with its hashes), torch from the pin below, and this package.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LOCK := requirements.lock
PIP_PIN := pip==26.3
# The one torch: a CPU build that lies on this machine's disk (containers/lock.sh reads the pin from here).
TORCH_PIN := torch==2.13.0
# Where pip would otherwise take PyPI's torch (a CUDA build on Linux x86_64, several GB): the CPU-only wheels,
# e.g. `make test TORCH_INDEX=https://download.pytorch.org/whl/cpu`. Empty: pip's configured index.
TORCH_INDEX ?=
# The drift check's own environment: the newest versions setup.cfg allows (make test-latest).
LATEST_VENV := .venv-latest
# What drift breaks first: everything that talks to the emulator (moto, boto3, the SageMaker SDK) and the
# end-to-end runs. Whole folders, not a marker: not every emulator test carries one.
LATEST_TESTS := tests/local tests/deploy tests/pipelines tests/sentiment tests/steps/test_aws_clients.py \
	tests/steps/test_live_monitor.py
export SAGEMAKER_SUPPRESS_V2_WARNING := 1

.PHONY: run test lint install lock test-latest clean

# torch first: the pin is a CPU build that lies on this machine's disk, and the lock leaves torch out
# (containers/lock.sh); a bare `torch` would pull a multi-GB CUDA build. The lock is installed hash-checked and
# without resolution (--no-deps: nothing it does not list), into a new venv, so nothing from an earlier install
# lingers; then the package itself, built by the locked setuptools, and pip check.
$(STAMP): $(LOCK) setup.cfg pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(PIP_PIN)
	$(BIN)/python -m pip install --quiet $(TORCH_PIN) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m pipelines.run --profile quick

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q --durations=15

lint: $(STAMP)
	$(BIN)/ruff check .

# Refresh the locks (requirements.lock and the images'): `make lock` keeps every pin that still satisfies
# setup.cfg; `make lock UPGRADE=1` takes the newest versions it allows (after `make test-latest` is green).
lock: $(STAMP)
	UPGRADE=$(UPGRADE) bash containers/lock.sh

# Drift before users meet it: the newest versions setup.cfg allows, in their own venv, against the emulator
# and end-to-end tests (LATEST_TESTS). Prints what differs from the lock first.
test-latest:
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install --quiet $(PIP_PIN)
	$(LATEST_VENV)/bin/python -m pip install --quiet $(TORCH_PIN)
	echo '$(TORCH_PIN)' > $(LATEST_VENV)/torch-pin.txt
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -c $(LATEST_VENV)/torch-pin.txt -e '.[dev]'
	$(LATEST_VENV)/bin/python -m pip check
	$(LATEST_VENV)/bin/python containers/lock_drift.py $(LOCK)
	$(LATEST_VENV)/bin/python -m pytest -q -p no:cacheprovider $(LATEST_TESTS)

clean:
	rm -rf $(VENV) $(LATEST_VENV) runs .pytest_cache .ruff_cache *.egg-info

# `make images` (IMAGES=cpu|gpu|all): the job images, conviction-<kind>:<setup.cfg version>, built locally
# on the upstream bases or, where no registry is reachable, on Debian stand-ins (docs/containers.md).
IMAGES ?= all

.PHONY: images
images:
	containers/build_images.sh $(IMAGES)
