#!/usr/bin/env bash
# scripts/image-build.sh — build the container image from the unchanged Dockerfile with buildah
# (no Docker daemon needed; chroot isolation, runc).
#
#   scripts/image-build.sh                      build rbd-rest-api:dev
#   IMAGE=rbd-rest-api:0.1.0 scripts/image-build.sh
#
# If the base images (node:24-bookworm, debian:forky-slim) are not in local storage, it makes
# local stand-ins with scripts/image-base.sh first (no public registry is reachable here); set
# BASE_IMAGES=pull to let buildah pull the official ones instead. Build layers are cached
# (--layers): a rebuild without changes to package*.json skips `npm ci`.
#
# Knobs: IMAGE (rbd-rest-api:dev), BASE_IMAGES (local|pull, default local), BUILD_ARGS (extra
# buildah bud arguments, e.g. "--build-arg RUNTIME_IMAGE=..."), STORAGE_DRIVER.
set -euo pipefail
SCRIPT_NAME=image-build
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=scripts/image-lib.sh
. "$HERE/image-lib.sh"

IMAGE=${IMAGE:-rbd-rest-api:dev}
[ "$(id -u)" = 0 ] || fail "run as root (rootful buildah storage)"
ensure_container_tools

if [ "${BASE_IMAGES:-local}" = local ]; then
  bash "$HERE/image-base.sh"               # node:24-bookworm (the build stage)
  bash "$HERE/image-base.sh" debian forky  # debian:forky-slim (the runtime: Ceph 20.2 client libraries)
fi

started=$SECONDS
say "building $IMAGE from $ROOT/Dockerfile"
# --format docker keeps the HEALTHCHECK (the OCI image format has no such field)
# shellcheck disable=SC2086
buildah bud --layers --format docker --isolation chroot --runtime runc \
  ${BUILD_ARGS:-} -f "$ROOT/Dockerfile" -t "$IMAGE" "$ROOT" ||
  fail "buildah bud failed"

size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
say "built $IMAGE in $((SECONDS - started)) s; size $((size / 1000000)) MB"
