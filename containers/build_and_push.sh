#!/usr/bin/env bash
# Build the job images and push them to ECR, tagged <package version>-<git revision>.
#   containers/build_and_push.sh [cpu|gpu|all] [--no-push]
# Prints the image URIs; publish with them:
#   python -m pipelines.upsert --set images.processing=CPU_URI --set images.training=CPU_URI \
#       --set images.serving=CPU_URI --set images.gpu=GPU_URI
# The bases are the Dockerfiles' upstream defaults (ARG BASE_IMAGE); CPU_BASE_IMAGE / GPU_BASE_IMAGE override
# them (a mirror of the same image, say). A stand-in base (containers/base/build_bases.sh, labelled
# conviction.stand-in-for) is for local builds only: this script refuses to push an image built on one.
# Labels as `make images` sets them: version, git revision, sha256 of the lock the image installed.
set -euo pipefail
cd "$(dirname "$0")/.."

which_images="${1:-all}"
push=1
[ "${2:-}" = "--no-push" ] && push=0

command -v docker >/dev/null || { echo "build_and_push: docker is not installed" >&2; exit 2; }
version=$(sed -n 's/^version *= *//p' setup.cfg)
revision=$(git rev-parse --short=12 HEAD)
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then revision="${revision}-dirty"; fi
tag="${version}-${revision}"

# Before any login: a stand-in base never reaches a registry.
if [ "$push" = 1 ]; then
  for base in "${CPU_BASE_IMAGE:-}" "${GPU_BASE_IMAGE:-}"; do
    if [ -n "$base" ] && [ -n "$(docker image inspect "$base" \
         --format '{{index .Config.Labels "conviction.stand-in-for"}}' 2>/dev/null)" ]; then
      echo "build_and_push: ${base} is a local stand-in base (containers/base/); push needs the upstream base" >&2
      exit 2
    fi
  done
fi

region="${AWS_REGION:-$(python3 -c 'import yaml;print(yaml.safe_load(open("configs/pipeline.yaml"))["pipeline"]["region"])')}"
if [ "$push" = 1 ]; then
  account=$(aws sts get-caller-identity --query Account --output text)
  registry="${account}.dkr.ecr.${region}.amazonaws.com"
  aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "$registry" >/dev/null
else
  registry="local"
fi

build() {
  local kind="$1" repository="conviction-$1"
  local uri="${registry}/${repository}:${tag}"
  local base_variable base_args=() lock_sha
  base_variable="$(echo "$kind" | tr '[:lower:]' '[:upper:]')_BASE_IMAGE"
  if [ -n "${!base_variable:-}" ]; then
    base_args=(--build-arg "BASE_IMAGE=${!base_variable}")
  fi
  lock_sha=$(sha256sum "containers/${kind}/requirements.lock" | cut -d' ' -f1)
  docker build "${base_args[@]}" \
    --label "conviction.version=${version}" \
    --label "conviction.git-revision=${revision}" \
    --label "conviction.requirements-lock=containers/${kind}/requirements.lock" \
    --label "conviction.requirements-lock-sha256=${lock_sha}" \
    -f "containers/${kind}/Dockerfile" -t "$uri" .
  if [ "$push" = 1 ]; then
    aws ecr describe-repositories --repository-names "$repository" --region "$region" >/dev/null 2>&1 \
      || aws ecr create-repository --repository-name "$repository" --region "$region" \
           --image-scanning-configuration scanOnPush=true >/dev/null
    docker push "$uri"
  fi
  echo "${kind}: ${uri}"
}

case "$which_images" in
  cpu) build cpu ;;
  gpu) build gpu ;;
  all) build cpu; build gpu ;;
  *) echo "usage: containers/build_and_push.sh [cpu|gpu|all] [--no-push]" >&2; exit 2 ;;
esac
