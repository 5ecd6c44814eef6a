#!/usr/bin/env bash
# scripts/ceph-tentacle.sh — a second throwaway cluster on this machine, of Ceph 20.2 (Tentacle) from Debian forky,
# beside the Pacific one that scripts/ceph-cluster.sh boots from the host's packages. The same
# scripts/ceph-cluster.sh runs inside a container of the image scripts/image-ceph.sh forky makes (mon + memstore
# OSD + mgr, and the rbd-mirror binary for mirroring between the two). Host network: the monitor listens on
# 127.0.0.1:MON_V2_PORT. The cluster directory is on the host (its parent is bind-mounted at the same path), so
# host clients — the service, the host's rbd/ceph CLI (Pacific clients talk to a Tentacle cluster) — use its
# ceph.conf and keyrings as they are.
#
#   scripts/ceph-tentacle.sh up      [DIR]            build the image if needed, start the cluster, wait until ready
#   scripts/ceph-tentacle.sh down    [DIR]            stop it (clean memstore shutdown) and remove the container
#   scripts/ceph-tentacle.sh status  [DIR]            the container and `ceph -s`
#   scripts/ceph-tentacle.sh env     [DIR]            the environment that points the service at it
#   scripts/ceph-tentacle.sh exec    [DIR] -- CMD...  run a command inside, with Tentacle's tools
#                                                     (e.g. -- rbd-mirror -c DIR/ceph.conf -n client.admin ...)
#
# DIR defaults to $PWD/.ceph/tentacle. As with ceph-cluster.sh, memstore keeps data in RAM: `up` after `down`
# makes a fresh cluster (new fsid and keys). Run as root (rootful podman; no Docker daemon is needed).
# Knobs: MON_V2_PORT (3390), MON_V1_PORT (6990), CREATE_POOLS ("rbd"), MEMSTORE_BYTES (2 GiB), CLIENT_ID
# (rbdapi), READY_TIMEOUT (180 s), CEPH_IMAGE (default: what scripts/image-ceph.sh forky builds).
set -euo pipefail
SCRIPT_NAME=ceph-tentacle
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/image-lib.sh
. "$HERE/image-lib.sh"

CMD=${1:-up}
[ $# -gt 0 ] && shift
DIR=$PWD/.ceph/tentacle
if [ $# -gt 0 ] && [ "$1" != -- ]; then DIR=$1; shift; fi
DIR=$(realpath -m "$DIR")
PARENT=$(dirname "$DIR")
NAME=rbd-rest-api-tentacle-$(printf '%s' "$DIR" | sha256sum | cut -c1-8)
MON_V2_PORT=${MON_V2_PORT:-3390}
MON_V1_PORT=${MON_V1_PORT:-6990}
READY_TIMEOUT=${READY_TIMEOUT:-180}

[ "$(id -u)" = 0 ] || fail "run as root (rootful podman)"
ensure_container_tools

running() { [ "$(podman inspect --format '{{.State.Running}}' "$NAME" 2>/dev/null)" = true ]; }

case "$CMD" in
  up)
    if running; then say "$NAME already runs ($DIR)"; exit 0; fi
    podman rm -f "$NAME" >/dev/null 2>&1 || true
    image=${CEPH_IMAGE:-$(bash "$HERE/image-ceph.sh" forky | tail -n1)}
    mkdir -p "$PARENT"
    started=$SECONDS
    say "starting $NAME from $image: monitor on 127.0.0.1:$MON_V2_PORT/$MON_V1_PORT, cluster in $DIR"
    podman run -d --name "$NAME" --network host --no-healthcheck \
      -v "$PARENT:$PARENT" \
      -e MON_V2_PORT="$MON_V2_PORT" -e MON_V1_PORT="$MON_V1_PORT" -e READY_TIMEOUT="$READY_TIMEOUT" \
      -e CREATE_POOLS="${CREATE_POOLS-rbd}" -e MEMSTORE_BYTES="${MEMSTORE_BYTES:-$((2 << 30))}" \
      -e CLIENT_ID="${CLIENT_ID:-rbdapi}" \
      "$image" sh -c "trap 'ceph-cluster.sh down $DIR; exit 0' TERM; ceph-cluster.sh up $DIR && echo CLUSTER READY; sleep infinity & wait" \
      >/dev/null || fail "podman run failed"
    until podman logs "$NAME" 2>&1 | grep -q '^CLUSTER READY$'; do
      running || { podman logs "$NAME" 2>&1 | tail -n 20 >&2; fail "the cluster container stopped; logs above and in $DIR/log"; }
      [ $((SECONDS - started)) -lt "$READY_TIMEOUT" ] || fail "not ready within $READY_TIMEOUT s; see podman logs $NAME and $DIR/log"
      sleep 0.5
    done
    say "ready in $((SECONDS - started)) s: $(podman exec "$NAME" ceph --version | cut -d' ' -f1-3,5); config: $DIR/ceph.conf"
    ;;
  down)
    if podman container exists "$NAME"; then
      say "stopping $NAME"
      podman stop -t 30 "$NAME" >/dev/null || true
      podman rm -f "$NAME" >/dev/null || true
    fi
    ;;
  status)
    podman ps -a --filter "name=^$NAME\$" --format '{{.Names}} {{.Status}} {{.Image}}'
    running && podman exec "$NAME" ceph -c "$DIR/ceph.conf" -n client.admin -s
    ;;
  env) bash "$HERE/ceph-cluster.sh" env "$DIR" ;;
  exec)
    [ "${1:-}" = -- ] && shift
    running || fail "$NAME is not running (scripts/ceph-tentacle.sh up $DIR)"
    exec podman exec "$NAME" "$@"
    ;;
  *) sed -n '2,22p' "$0"; exit 2 ;;
esac
