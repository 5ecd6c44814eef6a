#!/usr/bin/env bash
# scripts/ceph-sites.sh — two throwaway one-node clusters on this machine, "site-a" and "site-b", each with an
# rbd-mirror daemon (Debian's rbd-mirror package): the two sites of RBD mirroring, for development and the
# `mirror` test project. Each site is a scripts/ceph-cluster.sh cluster; this script adds the mirroring
# pieces on top of it.
#
#   scripts/ceph-sites.sh up     [DIR]   boot both sites (DIR/site-a, DIR/site-b) and their rbd-mirror daemons
#   scripts/ceph-sites.sh down   [DIR]   stop the rbd-mirror daemons, then both clusters
#   scripts/ceph-sites.sh status [DIR]   daemons of both sites
#   scripts/ceph-sites.sh env    [DIR]   the environment that points a service at site A (and B in comments)
#
# DIR defaults to ./.ceph. Ports (monitor v2/v1): site A SITE_A_V2 (3440) / SITE_A_V1 (3441), site B SITE_B_V2
# (3450) / SITE_B_V1 (3451) — v1 ports outside 6800-7300, where OSDs and mgrs of other clusters bind, and
# none of the test cluster's or the fault tests' own clusters' (3320, 3360, 3395): npm test runs the mirror
# project beside the fault project.
# POOLS ("mirror") are made on both sites (same names: mirroring pairs pools by name).
#
# Keyrings written to each site's directory, besides ceph-cluster.sh's:
#   ceph.client.rbd-mirror.local.keyring  the daemon's: mon 'profile rbd-mirror', osd 'profile rbd'
#   ceph.client.rbdapi-mirror.keyring     the service's least-privilege key for everything mirroring
#                                         (see docs/mirroring.md: mon 'profile rbd-mirror-peer, …')
set -euo pipefail

CMD=${1:-up}
BASE=$(realpath -m "${2:-$PWD/.ceph}")
HERE=$(cd "$(dirname "$0")" && pwd)
SITE_A_V2=${SITE_A_V2:-3440}
SITE_A_V1=${SITE_A_V1:-3441}
SITE_B_V2=${SITE_B_V2:-3450}
SITE_B_V1=${SITE_B_V1:-3451}
POOLS=${POOLS:-mirror}
READY_TIMEOUT=${READY_TIMEOUT:-90}

# The service's mon caps for mirroring (found by trial, each denied command read from the monitor's audit log):
# `profile rbd` (mirror mode, image enable/promote/demote/resync/status, schedules through the mgr's profile rbd)
# plus, for the site name and the peer bootstrap, librbd's config-key and auth commands. docs/mirroring.md.
MIRROR_MON_CAPS='profile rbd, allow command "config-key get" with key prefix "rbd/mirror/", allow command "config-key set" with key prefix "rbd/mirror/", allow command "config-key rm" with key prefix "rbd/mirror/", allow command "auth get-or-create" with entity="client.rbd-mirror-peer"'

say() { echo "[ceph-sites $(date +%T)] $*" >&2; }
fail() { say "error: $*"; exit 1; }

ensure_rbd_mirror() {
  command -v rbd-mirror >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || fail "rbd-mirror is missing; install it as root: apt-get install -y --no-install-recommends rbd-mirror"
  say "installing rbd-mirror from Debian's packages"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rbd-mirror >/dev/null ||
    fail "apt-get install rbd-mirror failed"
}

# PID of the site's rbd-mirror, if alive and ours (its command line names the site's conf)
mirror_pid() {
  local dir=$1 f p
  f=$dir/run/rbd-mirror.pid
  [ -s "$f" ] || return 1
  p=$(cat "$f")
  [ -d "/proc/$p" ] || return 1
  grep -qs '^[0-9]* ([^)]*) Z' "/proc/$p/stat" && return 1
  tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$dir/ceph.conf" || return 1
  echo "$p"
}

admin() { local dir=$1; shift; timeout 30 ceph -c "$dir/ceph.conf" -n client.admin --connect-timeout 10 "$@"; }

site_up() { # site_up NAME V2 V1
  local dir=$BASE/$1 p
  MON_V2_PORT=$2 MON_V1_PORT=$3 CREATE_POOLS="$POOLS" READY_TIMEOUT=$READY_TIMEOUT \
    MEMSTORE_BYTES=${MEMSTORE_BYTES:-$((2 << 30))} bash "$HERE/ceph-cluster.sh" up "$dir"
  # the daemon's key and the service's mirroring key (made once per cluster: a fresh cluster has neither)
  if [ ! -s "$dir/ceph.client.rbd-mirror.local.keyring" ]; then
    admin "$dir" auth get-or-create client.rbd-mirror.local mon 'profile rbd-mirror' osd 'profile rbd' \
      -o "$dir/ceph.client.rbd-mirror.local.keyring" >/dev/null
    chmod 600 "$dir/ceph.client.rbd-mirror.local.keyring"
  fi
  if [ ! -s "$dir/ceph.client.rbdapi-mirror.keyring" ]; then
    # `profile rbd` for the images (enable, promote, status…) and the pool's mirror mode; the mirror peer
    # bootstrap creates (or reads) client.rbd-mirror-peer and imports a peer whose key it stores in the
    # monitor's config-key store: docs/mirroring.md explains each part
    admin "$dir" auth get-or-create client.rbdapi-mirror \
      mon "$MIRROR_MON_CAPS" \
      osd 'profile rbd' mgr 'profile rbd' \
      -o "$dir/ceph.client.rbdapi-mirror.keyring" >/dev/null
    chmod 600 "$dir/ceph.client.rbdapi-mirror.keyring"
  fi
  if p=$(mirror_pid "$dir"); then say "$1: rbd-mirror already running (pid $p)"; return 0; fi
  rm -f "$dir/run/rbd-mirror.pid"
  # daemonizes once connected; its admin socket and log in the site's directory. CEPH_CONF: the daemon's pool
  # replayers open connections of their own to the local cluster, which read only the default config search
  # path (not -c)
  CEPH_CONF=$dir/ceph.conf MALLOC_ARENA_MAX=2 rbd-mirror -c "$dir/ceph.conf" -n client.rbd-mirror.local \
    --keyring "$dir/ceph.client.rbd-mirror.local.keyring" \
    --pid-file "$dir/run/rbd-mirror.pid" --log-file "$dir/log/rbd-mirror.log" \
    --admin-socket "$dir/run/rbd-mirror.asok" \
    --rbd_mirror_pool_replayers_refresh_interval 2 \
    --rbd_mirror_image_state_check_interval 2 \
    --rbd_mirror_sync_point_update_age 2 \
    2>>"$dir/log/rbd-mirror.stderr" || fail "$1: rbd-mirror did not start (see $dir/log)"
  local until=$((SECONDS + READY_TIMEOUT))
  until mirror_pid "$dir" >/dev/null; do
    [ "$SECONDS" -lt "$until" ] || fail "$1: rbd-mirror wrote no pid file (see $dir/log)"
    sleep 0.2
  done
  say "$1: rbd-mirror running (pid $(mirror_pid "$dir"))"
}

site_down() {
  local dir=$BASE/$1 p i
  [ -d "$dir" ] || return 0
  if p=$(mirror_pid "$dir"); then
    say "$1: stopping rbd-mirror (pid $p)"
    kill -CONT "$p" 2>/dev/null || true
    kill -TERM "$p" 2>/dev/null || true
    for i in $(seq 1 50); do [ -d "/proc/$p" ] && ! grep -qs ') Z' "/proc/$p/stat" || break; sleep 0.1; done
    if [ -d "/proc/$p" ] && ! grep -qs ') Z' "/proc/$p/stat"; then kill -KILL "$p" 2>/dev/null || true; fi
  fi
  rm -f "$dir/run/rbd-mirror.pid"
  # a frozen site (the unplanned-failover test stops its daemons) must be thawed to stop cleanly
  for f in "$dir"/run/*.pid; do [ -s "$f" ] && kill -CONT "$(cat "$f")" 2>/dev/null || true; done
  bash "$HERE/ceph-cluster.sh" down "$dir"
}

case "$CMD" in
  up)
    ensure_rbd_mirror
    started=$SECONDS
    site_up site-a "$SITE_A_V2" "$SITE_A_V1"
    site_up site-b "$SITE_B_V2" "$SITE_B_V1"
    say "both sites ready in $((SECONDS - started)) s"
    ;;
  down) site_down site-a; site_down site-b ;;
  status)
    for s in site-a site-b; do
      echo "== $s"
      bash "$HERE/ceph-cluster.sh" status "$BASE/$s" 2>/dev/null | grep -E 'running|stopped' || true
      if p=$(mirror_pid "$BASE/$s"); then echo "rbd-mirror running (pid $p)"; else echo "rbd-mirror stopped"; fi
    done
    ;;
  env)
    cat <<EOF
export CEPH_CONF=$BASE/site-a/ceph.conf
export CEPH_CLIENT_ID=rbdapi-mirror
export CEPH_KEYRING=$BASE/site-a/ceph.client.rbdapi-mirror.keyring
# site B: CEPH_CONF=$BASE/site-b/ceph.conf CEPH_KEYRING=$BASE/site-b/ceph.client.rbdapi-mirror.keyring
EOF
    ;;
  *) sed -n '2,20p' "$0"; exit 2 ;;
esac
