#!/usr/bin/env bash
# Build the job images locally, on any machine with a Docker engine: `make images` (IMAGES=cpu|gpu|all).
#   containers/build_images.sh [cpu|gpu|all]
#
# Tags conviction-cpu:<version> and conviction-gpu:<version> (version from setup.cfg), labelled with the git
# revision and the sha256 of the requirements.lock each one installed (the title and description replace
# those a stand-in base would pass on; its conviction.stand-in-for label stays, saying what it replaced):
#   docker image inspect conviction-cpu:0.1.0 --format '{{json .Config.Labels}}'
# Base: the Dockerfile's upstream default (ARG BASE_IMAGE) when it is here or a pull succeeds within
# PULL_TIMEOUT seconds (default 60); otherwise the stand-in conviction-base/<kind>:bookworm, built from
# Debian packages by containers/base/build_bases.sh when missing (see docs/containers.md).
# The full build output goes to runs/images/<kind>.log; each image's build time and size are printed.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "build_images: $*"; }
die() { echo "build_images: $*" >&2; exit 1; }

which_images="${1:-all}"
case "$which_images" in cpu|gpu) kinds=("$which_images") ;; all) kinds=(cpu gpu) ;;
  *) echo "usage: containers/build_images.sh [cpu|gpu|all]" >&2; exit 2 ;; esac

command -v docker >/dev/null || die "docker is not installed (Debian: apt-get install docker.io)"
timeout 30 docker info >/dev/null 2>&1 \
  || die "the Docker daemon is not running: start it with 'dockerd &' (as root) or 'sudo systemctl start docker'"

version=$(sed -n 's/^version *= *//p' setup.cfg)
[ -n "$version" ] || die "no version = ... in setup.cfg"
revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ "$revision" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  revision="${revision}-dirty"
fi
PULL_TIMEOUT="${PULL_TIMEOUT:-60}"
log_dir="runs/images"
mkdir -p "$log_dir"

upstream_base() {  # the Dockerfile's ARG BASE_IMAGE default
  sed -n 's/^ARG BASE_IMAGE=\([^ ]*\).*/\1/p' "containers/$1/Dockerfile" | head -n 1
}

choose_base() {  # choose_base <kind>: prints the base image to build on
  local kind="$1" upstream standin
  upstream=$(upstream_base "$kind")
  [ -n "$upstream" ] || die "containers/${kind}/Dockerfile has no ARG BASE_IMAGE=<image>"
  standin="conviction-base/${kind}:bookworm"
  if docker image inspect "$upstream" >/dev/null 2>&1; then
    echo "$upstream"; return
  fi
  if timeout "$PULL_TIMEOUT" docker pull -q "$upstream" >/dev/null 2>&1; then
    echo "$upstream"; return
  fi
  if ! docker image inspect "$standin" >/dev/null 2>&1; then
    containers/base/build_bases.sh "$kind" >&2 || die "could not build the stand-in base ${standin}"
  fi
  say "${kind}: ${upstream} is not here and docker pull failed (or ran past ${PULL_TIMEOUT}s); building on the stand-in ${standin} (containers/base/build_bases.sh)" >&2
  echo "$standin"
}

human() { awk -v bytes="$1" 'BEGIN { printf "%.2f GB (%.2f GiB)", bytes / 1e9, bytes / 2^30 }'; }

build() {
  local kind="$1" base tag lock_sha started elapsed size log status
  base=$(choose_base "$kind")
  tag="conviction-${kind}:${version}"
  lock_sha=$(sha256sum "containers/${kind}/requirements.lock" | cut -d' ' -f1)
  log="${log_dir}/${kind}.log"
  say "${kind}: building ${tag} on ${base} (output: ${log})"
  started=$(date +%s)
  # The legacy builder (no buildx needed). docker build tags only when every step succeeded, so a failed
  # build leaves no ${tag} behind it (an older ${tag} from an earlier success stays as it was); --force-rm
  # removes the container of a failed step too.
  set +e
  DOCKER_BUILDKIT=0 docker build --force-rm \
    --build-arg "BASE_IMAGE=${base}" \
    --label "conviction.version=${version}" \
    --label "conviction.git-revision=${revision}" \
    --label "conviction.requirements-lock=containers/${kind}/requirements.lock" \
    --label "conviction.requirements-lock-sha256=${lock_sha}" \
    --label "conviction.base-image=${base}" \
    --label "org.opencontainers.image.title=conviction-${kind}" \
    --label "org.opencontainers.image.description=conviction ${kind} job image (containers/${kind}/Dockerfile) on ${base}" \
    --label "org.opencontainers.image.version=${version}" \
    --label "org.opencontainers.image.revision=${revision}" \
    --label "org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    -f "containers/${kind}/Dockerfile" -t "$tag" . > "$log" 2>&1
  status=$?
  set -e
  elapsed=$(( $(date +%s) - started ))
  grep -m 1 '^Sending build context' "$log" | sed "s/^/build_images: ${kind}: /" || true
  if [ "$status" != 0 ]; then
    tail -n 25 "$log" >&2
    die "${kind}: docker build failed after ${elapsed}s (exit ${status}); ${tag} was not tagged by this build; full output: ${log}"
  fi
  size=$(docker image inspect "$tag" --format '{{.Size}}')
  say "${kind}: built ${tag} in $((elapsed / 60))m$((elapsed % 60))s, $(human "$size"), revision ${revision}, lock sha256 ${lock_sha:0:12}"
}

for kind in "${kinds[@]}"; do
  build "$kind"
done
