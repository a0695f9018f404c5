#!/usr/bin/env bash
# Stand-in base images for machines that reach no container registry (docker pull fails) but do reach
# Debian's package mirror: a `debootstrap --variant=minbase bookworm` tree, imported with `docker import`,
# then one small Dockerfile per image kind on top of it.
#   containers/base/build_bases.sh [cpu|gpu|all]        (root: debootstrap needs it)
#
#   conviction-base/cpu:bookworm  stands in for python:3.11.7-slim-bookworm (containers/cpu/Dockerfile):
#                                 Debian's python3 (3.11) in a venv at /opt/python, first on PATH, so
#                                 `python3` and `pip` install as root with no PEP 668 refusal; apt-get works.
#   conviction-base/gpu:bookworm  stands in for nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04
#                                 (containers/gpu/Dockerfile): apt-get can install python3.11,
#                                 python3.11-venv and libgomp1; no CUDA libraries (PyPI's torch brings its own).
#
# They carry their own names, never the upstream ones, and a `conviction.stand-in-for` label, so nothing
# mistakes them for the real bases. They hold this host's CA certificates (a TLS-inspecting proxy between
# here and PyPI is what the host trusts), with pip pointed at them: images built on them are for this
# machine, not for a registry (containers/build_and_push.sh refuses to push them).
#
# Environment: DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR (default: the host's apt sources), SUITE (bookworm).
# The imported tree, conviction-base/debian:<suite>-minbase, is reused once made; `docker rmi` it to take a
# fresh one from the mirror.
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { echo "build_bases: $*" >&2; }
die() { say "$*"; exit 1; }

which_bases="${1:-all}"
case "$which_bases" in cpu|gpu) kinds=("$which_bases") ;; all) kinds=(cpu gpu) ;;
  *) echo "usage: containers/base/build_bases.sh [cpu|gpu|all]" >&2; exit 2 ;; esac

SUITE="${SUITE:-bookworm}"
ROOTFS_TAG="conviction-base/debian:${SUITE}-minbase"

command -v docker >/dev/null || die "docker is not installed (apt-get install docker.io)"
docker info >/dev/null 2>&1 || die "the Docker daemon is not running: start it with 'dockerd &' or 'sudo systemctl start docker'"

# The mirror the host's apt uses (deb822 URIs: or one-line deb), so debootstrap and apt-get in the image
# go the same way the host's apt does.
host_uri() {  # host_uri <pattern the URI must match> <pattern it must not match>
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | sed -n -e 's/^URIs: *\([^ ]*\).*/\1/p' -e 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) .*/\2/p' \
    | grep -E "$1" | grep -v -E "$2" | head -n 1 || true
}
DEBIAN_MIRROR="${DEBIAN_MIRROR:-$(host_uri '/debian/?$' 'security')}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN_SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-$(host_uri 'debian-security/?$' '^$')}"
DEBIAN_SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"

remove_work() {
  local mount
  awk -v root="$root/" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r | while read -r mount; do
    umount -l "$mount" || true
  done
  rm -rf --one-file-system "$work"
}

build_rootfs() {
  command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
  [ "$(id -u)" = 0 ] || die "debootstrap needs root: run as root or with sudo"
  # The tree lives in a temporary folder outside the repository, removed however this ends.
  # debootstrap mounts /proc and /sys inside it while it works: unmount whatever is still mounted there, then
  # delete without crossing into another file system.
  work=$(mktemp -d /tmp/conviction-base.XXXXXX)
  root="$work/rootfs"
  trap remove_work EXIT
  say "debootstrap --variant=minbase ${SUITE} from ${DEBIAN_MIRROR} (a few minutes)"
  # In its own process group, waited for in the background, so an interrupt stops it (and its dpkg and
  # downloads) at once and the EXIT trap removes the tree.
  setsid debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$root" "$DEBIAN_MIRROR" \
    > "$work/debootstrap.log" 2>&1 &
  debootstrap_pid=$!
  trap 'kill -- -"$debootstrap_pid" 2>/dev/null; wait "$debootstrap_pid"; say "interrupted: debootstrap stopped; removing its tree"; exit 130' INT TERM
  wait "$debootstrap_pid" || { tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
  trap - INT TERM

  cat > "$root/etc/apt/sources.list" <<SOURCES
deb ${DEBIAN_MIRROR} ${SUITE} main
deb ${DEBIAN_MIRROR} ${SUITE}-updates main
deb ${DEBIAN_SECURITY_MIRROR} ${SUITE}-security main
SOURCES
  # The host's apt proxy settings, if any, so apt-get in the image goes the same way.
  local conf
  for conf in /etc/apt/apt.conf.d/*; do
    if grep -q -i 'Acquire::[a-z]*::Proxy' "$conf" 2>/dev/null; then cp "$conf" "$root/etc/apt/apt.conf.d/"; fi
  done
  # The host's CA certificates: its local ones join the image's bundle, and the host's bundle is kept whole
  # so what the host trusts (a TLS-inspecting proxy included) the image trusts too.
  if [ -d /usr/local/share/ca-certificates ]; then
    cp -r /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
  fi
  chroot "$root" update-ca-certificates > /dev/null
  cat /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt" \
    | awk '/-----BEGIN CERTIFICATE-----/{c=""} {c=c $0 "\n"} /-----END CERTIFICATE-----/{if(!seen[c]++) printf "%s", c}' \
    > "$work/bundle.crt"
  cp "$work/bundle.crt" "$root/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb

  # Imported without a tag, tagged only once whole: an interrupted import leaves no name behind.
  local id
  id=$(tar -C "$root" -c . | docker import \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["bash"]' \
        - ) || die "docker import failed"
  docker tag "$id" "$ROOTFS_TAG"
  remove_work
  trap - EXIT
  say "imported ${ROOTFS_TAG}"
}

if ! docker image inspect "$ROOTFS_TAG" >/dev/null 2>&1; then
  build_rootfs
fi

created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for kind in "${kinds[@]}"; do
  # docker build tags only when every step succeeded; --force-rm leaves no container of a failed step.
  if ! output=$(DOCKER_BUILDKIT=0 docker build --force-rm \
      --build-arg ROOTFS="$ROOTFS_TAG" \
      --label "org.opencontainers.image.created=${created}" \
      --label "conviction.debian-mirror=${DEBIAN_MIRROR}" \
      -f "containers/base/${kind}.Dockerfile" -t "conviction-base/${kind}:${SUITE}" containers/base 2>&1); then
    echo "$output" | tail -n 20 >&2
    die "building the ${kind} stand-in base failed; conviction-base/${kind}:${SUITE} was not tagged by it"
  fi
  say "built conviction-base/${kind}:${SUITE}"
done
