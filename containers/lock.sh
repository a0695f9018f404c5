#!/usr/bin/env bash
# Compile each job image's lock: every package the image installs (transitive ones included), pinned, with
# PyPI's sha256 hashes, for linux x86_64 and CPython 3.11. The Dockerfiles install a lock with
# `pip install --require-hashes --no-deps -r`, then this package with `--no-deps`.
#   containers/lock.sh        (after changing setup.cfg, pyproject.toml or the Makefile's torch pin; then rebuild)
#
# One version per library across the images and the tests: the versions installed in .venv (what
# `make test` ran with) constrain the resolution, and torch is the Makefile's `torch==` pin. The lock takes
# PyPI's torch for both images: PyTorch's CPU wheel index is not reachable from where the locks are made, so
# the CPU image's torch is PyPI's (CUDA) build of the same version.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
PYTHON=.venv/bin/python
UV=.venv/bin/uv
if ! "$UV" --version 2>/dev/null | grep -q "^uv ${UV_VERSION}\b"; then
  "$PYTHON" -m pip install --quiet "uv==${UV_VERSION}"
fi

torch_pin=$(sed -n 's/.*pip install[^#]*\b\(torch==[0-9][0-9A-Za-z.]*\).*/\1/p' Makefile | head -n 1)
[ -n "$torch_pin" ] || { echo "lock.sh: no torch==<version> pin in the Makefile" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The tests' versions, less the editable package itself and local version labels (+cpu), torch from the pin.
"$PYTHON" -m pip freeze --exclude-editable --disable-pip-version-check \
  | grep -E '^[A-Za-z0-9][A-Za-z0-9._-]*==' \
  | grep -v -i -E '^(torch|conviction[-_]pipelines)==' \
  | sed 's/+[A-Za-z0-9.]*$//' > "$work/constraints.txt"
echo "$torch_pin" >> "$work/constraints.txt"

# The build backend goes into the lock too, so `pip install --no-deps --no-build-isolation .` builds with
# hashed packages.
"$PYTHON" -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' \
  > "$work/build.in"

compile() {  # compile <image> <extra>...
  local image="$1" extras=() extra
  shift
  for extra in "$@"; do extras+=(--extra "$extra"); done
  UV_NO_CONFIG=1 "$UV" pip compile setup.cfg "$work/build.in" "${extras[@]}" \
    --constraints "$work/constraints.txt" \
    --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
    --index-url https://pypi.org/simple --no-emit-index-url \
    --generate-hashes --annotation-style line --quiet \
    --custom-compile-command "containers/lock.sh" \
    --output-file "containers/${image}/requirements.lock"
  sed -i "s|$work/build.in|pyproject.toml (build-system.requires)|; s|$work/constraints.txt|.venv (pip freeze)|" \
    "containers/${image}/requirements.lock"
  echo "wrote containers/${image}/requirements.lock ($(grep -c '^[A-Za-z0-9]' "containers/${image}/requirements.lock") packages)"
}

# CPU: processing, training (xgboost, catboost, lightgbm), serving, FinBERT scoring.
compile cpu sentiment
# GPU: the PyTorch GRU and FinGPT (torch, transformers, peft and its accelerate come with `sentiment`).
compile gpu gru sentiment
