#!/usr/bin/env bash
# Builds the real ../../Dockerfile with podman where debian:bookworm-slim cannot be pulled: the
# base is then a Debian 12 minbase made locally with debootstrap (Debian's own archive, the same
# packages apt installs; close to, but not byte for byte, the slim image) and imported as
# localhost/debian-minbase:bookworm. Not part of CTest: it compiles the service inside the build
# stage (minutes) and needs the Debian archive. Run the image test on the result:
#
#   tests/deploy/build_dockerfile.sh [TAG]          (as root; default TAG localhost/coredb:dockerfile)
#   eval "$(scripts/devstack env DIR)"
#   COREDB_TEST_IMAGE=localhost/coredb:dockerfile tests/deploy/image_test.sh build/coredb
#
# Env: DEBIAN_IMAGE  a base image that exists locally (skips debootstrap), e.g. debian:bookworm-slim
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TAG="${1:-localhost/coredb:dockerfile}"
BASE="${DEBIAN_IMAGE:-localhost/debian-minbase:bookworm}"
log() { printf 'build_dockerfile: %s\n' "$*" >&2; }

command -v podman >/dev/null 2>&1 || { echo "podman is not installed"; exit 1; }
if ! podman image exists "$BASE"; then
  [[ "$BASE" == localhost/debian-minbase:bookworm ]] || { echo "$BASE does not exist locally"; exit 1; }
  command -v debootstrap >/dev/null 2>&1 || { echo "debootstrap is not installed (apt-get install debootstrap)"; exit 1; }
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  log "making $BASE with debootstrap --variant=minbase bookworm"
  debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
    { tail -n 20 "$work/debootstrap.log"; exit 1; }
  rm -f "$work"/rootfs/var/cache/apt/archives/*.deb
  tar -C "$work/rootfs" -c . | podman import - "$BASE" >/dev/null
fi
# chroot isolation: RUN steps need no OCI runtime (crun refuses hybrid cgroup hosts).
log "podman build of $REPO/Dockerfile on $BASE"
nice -n 10 podman build --isolation chroot --format docker --build-arg DEBIAN_IMAGE="$BASE" -t "$TAG" \
  -f "$REPO/Dockerfile" "$REPO"
podman image inspect -f 'user={{.Config.User}} stopsignal={{.Config.StopSignal}} healthcheck={{.Config.Healthcheck.Test}} size={{.Size}}' "$TAG"
