#!/usr/bin/env bash
# scripts/image-ceph.sh — a container image with a throwaway single-node Ceph cluster (mon + memstore OSD +
# mgr; rbd-mirror installed for mirroring tests), built from Debian's own packages, with scripts/ceph-cluster.sh as
# /usr/local/bin/ceph-cluster.sh:
#   forky     Ceph 20.2 (Tentacle), on debian:forky-slim (the default; made by `scripts/image-base.sh debian forky`)
#   bookworm  Ceph 16.2 (Pacific), on the Node 24 bookworm base (scripts/image-base.sh)
# Used by the container end-to-end test (test/e2e/container.test.ts), which runs it through testcontainers
# with host networking, and by scripts/ceph-tentacle.sh (a second cluster of another release on this machine):
#
#   ceph-cluster.sh up /some/dir     (bind-mount the directory's PARENT at the same path: `up` may remove
#                                     and remake the directory itself, which a mount point cannot be)
#
# Cached: the tag is a hash of this script and scripts/ceph-cluster.sh, so the image is built once and
# again only when either changes. Prints the image name on stdout.
#
#   scripts/image-ceph.sh [forky|bookworm]            build unless present
#   FORCE=1 scripts/image-ceph.sh [forky|bookworm]    build again
set -euo pipefail
SCRIPT_NAME=image-ceph
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/image-lib.sh
. "$HERE/image-lib.sh"

[ "$(id -u)" = 0 ] || fail "run as root (rootful buildah storage)"
ensure_container_tools
SUITE=${1:-forky}
case "$SUITE" in
  forky) BASE=docker.io/library/debian:forky-slim; make_base=(debian forky) ;;
  bookworm) BASE=docker.io/library/node:24-bookworm-slim; make_base=(node) ;;
  *) fail "usage: $0 [forky|bookworm]" ;;
esac
hash=$(cat "$HERE/image-ceph.sh" "$HERE/ceph-cluster.sh" | sha256sum | cut -c1-12)
IMAGE=localhost/rbd-rest-api-ceph:$SUITE-$hash
if podman image exists "$IMAGE" && [ -z "${FORCE:-}" ]; then
  say "$IMAGE already built"
  echo "$IMAGE"
  exit 0
fi
podman image exists "$BASE" || bash "$HERE/image-base.sh" "${make_base[@]}" >&2

started=$SECONDS
say "building $IMAGE from $BASE and Debian $SUITE's ceph packages"
c=$(buildah from --pull-never "$BASE")
trap 'buildah rm "$c" >/dev/null 2>&1 || true' EXIT
# policy-rc.d: no service is started or restarted while installing (there is no init; forky's ceph-mon
# postinst runs `deb-systemd-invoke try-restart`, which fails without one unless the policy says no)
buildah run --isolation chroot --runtime runc --network host "$c" -- sh -c '
  export DEBIAN_FRONTEND=noninteractive
  printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d &&
  apt-get update -qq &&
  apt-get install -y -qq --no-install-recommends ceph-mon ceph-osd ceph-mgr ceph-common rbd-mirror >/tmp/apt.log 2>&1 ||
  { tail -n 30 /tmp/apt.log; exit 1; }
  apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt/* /var/log/dpkg.log /tmp/apt.log' >&2 ||
  fail "apt-get install of the ceph packages failed"
buildah copy --chmod 0755 "$c" "$HERE/ceph-cluster.sh" /usr/local/bin/ceph-cluster.sh >/dev/null
buildah config --cmd '["ceph-cluster.sh","status"]' \
  --label org.opencontainers.image.description="throwaway Ceph cluster for rbd-rest-api tests (scripts/image-ceph.sh)" "$c"
buildah commit --quiet --rm "$c" "$IMAGE" >/dev/null
trap - EXIT
# earlier builds of this suite (other hashes) are of no further use
podman images --format '{{.Repository}}:{{.Tag}}' | grep "^localhost/rbd-rest-api-ceph:$SUITE-" | grep -vx "$IMAGE" |
  while read -r old; do podman rmi "$old" >/dev/null 2>&1 || true; done || true
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
say "built $IMAGE in $((SECONDS - started)) s; size $((size / 1000000)) MB"
echo "$IMAGE"
