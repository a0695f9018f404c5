#!/usr/bin/env bash
# Compile the project's three locks, every package pinned with PyPI's sha256 hashes, for linux x86_64 and
# CPython 3.11 (transitive packages and the build backend included):
#   requirements.lock                     the development and test environment (setup.cfg's `dev` extra):
#                                         what `make install` / `make test` / CI install, torch excepted
#   containers/cpu/requirements.lock      the CPU job image (the package with `sentiment`)
#   containers/gpu/requirements.lock      the GPU job image (`gru` and `sentiment`)
#
#   make lock                  after changing setup.cfg, pyproject.toml or the Makefile's torch pin: the current
#                              pins are kept wherever they still satisfy setup.cfg (uv prefers the output file's)
#   make lock UPGRADE=1        the newest versions setup.cfg allows (after `make test-latest` is green)
#
# One version per library across the tests and the images: the development lock is compiled first and
# constrains the images'. torch is the Makefile's `torch==` pin. The development lock leaves torch out, with
# whatever only torch's PyPI (CUDA) build needs: the Makefile installs the CPU build of the pinned version
# from this machine's disk first, and that build needs nothing the lock does not already list (`pip check`).
# The images take PyPI's torch (CUDA) build of the same version: PyTorch's CPU wheel index is not reachable
# from where the locks are made.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
PYTHON=.venv/bin/python
UV=.venv/bin/uv
[ -x "$PYTHON" ] || { echo "lock.sh: no $PYTHON; run make install first" >&2; exit 2; }
if ! "$UV" --version 2>/dev/null | grep -q "^uv ${UV_VERSION}\b"; then
  "$PYTHON" -m pip install --quiet "uv==${UV_VERSION}"
fi
upgrade=()
[ "${UPGRADE:-0}" = 1 ] && upgrade=(--upgrade)

torch_pin=$(sed -n 's/^TORCH_PIN *:= *\(torch==[0-9][0-9A-Za-z.]*\)*$/\1/p' Makefile)
[ -n "$torch_pin" ] || { echo "lock.sh: no 'TORCH_PIN := torch==<version>' line in the Makefile" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "$torch_pin" > "$work/torch.txt"

# The build backend goes into every lock, so `pip install --no-deps --no-build-isolation` builds the package
# with hashed packages.
"$PYTHON" -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' \
  > "$work/build.in"

resolve() {  # resolve <output> <constraints> [uv option]...
  local output="$1" constraints="$2"
  shift 2
  UV_NO_CONFIG=1 "$UV" pip compile setup.cfg "$work/build.in" "$@" "${upgrade[@]}" \
    --constraints "$constraints" \
    --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
    --index-url https://pypi.org/simple --no-emit-index-url \
    --generate-hashes --annotation-style line --quiet \
    --custom-compile-command "containers/lock.sh" \
    --output-file "$output"
  sed -i "s|$work/build.in|pyproject.toml (build-system.requires)|; s|$work/torch.txt|Makefile (torch pin)|; s|$work/dev.txt|requirements.lock|" \
    "$output"
}

# The packages of a lock that only PyPI's torch build needs, directly or through one another (its CUDA
# libraries, triton); never one that the CPU build installed in .venv needs.
torch_only() {  # torch_only <lock>
  "$PYTHON" - "$1" <<'EOF'
import re, sys
parents, name = {}, None
for line in open(sys.argv[1]):
    pinned = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==", line)
    if pinned:
        name = pinned.group(1).lower()
    via = re.match(r"\s+# via (.*)", line)
    if via and name:
        parents[name] = {p.strip().lower() for p in via.group(1).split(",")}
# what the CPU build installed here needs stays in the lock whoever else needs it
from importlib.metadata import requires
from packaging.requirements import Requirement
cpu_needs = {Requirement(r).name.lower() for r in requires("torch") or [] if "extra ==" not in r}
only = {"torch"}
while grown := {n for n, via in parents.items() if n not in only | cpu_needs and via <= only}:
    only |= grown
print("\n".join(sorted(only)))
EOF
}

compile_dev() {
  resolve requirements.lock "$work/torch.txt" --extra dev
  local skip=() names name
  names=$(torch_only requirements.lock)
  for name in $names; do skip+=(--no-emit-package "$name"); done
  resolve requirements.lock "$work/torch.txt" --extra dev "${skip[@]}"
  echo "wrote requirements.lock ($(grep -c '^[A-Za-z0-9]' requirements.lock) packages; torch's own left out:" $names ")"
  grep -E '^[A-Za-z0-9][A-Za-z0-9._-]*==' requirements.lock | sed 's/ .*//' > "$work/dev.txt"
  echo "$torch_pin" >> "$work/dev.txt"
}

compile_image() {  # compile_image <image> <extra>...
  local image="$1" extras=() extra
  shift
  for extra in "$@"; do extras+=(--extra "$extra"); done
  resolve "containers/${image}/requirements.lock" "$work/dev.txt" "${extras[@]}"
  echo "wrote containers/${image}/requirements.lock ($(grep -c '^[A-Za-z0-9]' "containers/${image}/requirements.lock") packages)"
}

compile_dev
# CPU: processing, training (xgboost, catboost, lightgbm), serving, FinBERT scoring.
compile_image cpu sentiment
# GPU: the PyTorch GRU and FinGPT (torch, transformers, peft and its accelerate come with `sentiment`).
compile_image gpu gru sentiment
