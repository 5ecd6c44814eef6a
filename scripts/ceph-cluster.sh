#!/usr/bin/env bash
# scripts/ceph-cluster.sh — a throwaway one-node Ceph cluster for development and tests.
#
#   scripts/ceph-cluster.sh up     [DIR]   create the cluster in DIR if it has none, start its daemons,
#                                          wait until osd.0 is up and the mgr is active
#   scripts/ceph-cluster.sh down   [DIR]   stop the daemons this script started (by their PID files)
#   scripts/ceph-cluster.sh status [DIR]   daemon PIDs and `ceph -s`
#   scripts/ceph-cluster.sh env    [DIR]   print the environment that points the service at the cluster
#   scripts/ceph-cluster.sh destroy [DIR]  down, then delete DIR
#
# DIR defaults to $CEPH_CLUSTER_DIR or ./.ceph/cluster. Everything lives in DIR: config, keyrings,
# daemon data (memstore: in RAM; `up` makes a cluster whose OSD has stopped afresh), logs, PID files.
# One monitor on 127.0.0.1 (msgr v2 + v1), one memstore OSD, one mgr; cephx on.
#
# Knobs: MON_V2_PORT (3300), MON_V1_PORT (6789), READY_TIMEOUT (90 s), CLIENT_ID (rbdapi),
#        CREATE_POOLS ("" e.g. "rbd"), MGR_EXTRA_MODULES ("" e.g. "dashboard"), MEMSTORE_BYTES (4 GiB).
#
# Keyrings written to DIR:
#   ceph.client.admin.keyring         everything (tests and the CLI)
#   ceph.client.$CLIENT_ID.keyring    images only: mon/osd/mgr 'profile rbd'
#   ceph.client.$CLIENT_ID-pools.keyring   images + pool create/delete/tag/set/get via mon commands
set -euo pipefail

CMD=${1:-up}
DIR=$(realpath -m "${2:-${CEPH_CLUSTER_DIR:-$PWD/.ceph/cluster}}")
CONF=$DIR/ceph.conf
MON_V2_PORT=${MON_V2_PORT:-3300}
MON_V1_PORT=${MON_V1_PORT:-6789}
READY_TIMEOUT=${READY_TIMEOUT:-90}
CLIENT_ID=${CLIENT_ID:-rbdapi}
MEMSTORE_BYTES=${MEMSTORE_BYTES:-$((4 << 30))}
PACKAGES="ceph-mon ceph-osd ceph-mgr ceph-common librados2 librbd1"

say() { echo "[ceph-cluster $(date +%T)] $*" >&2; }
fail() { say "error: $*"; exit 1; }
ceph_cli() { timeout 30 ceph -c "$CONF" -n client.admin --connect-timeout 10 "$@"; }

ensure_packages() {
  local missing=() p
  for p in ceph-mon ceph-osd ceph-mgr ceph monmaptool ceph-authtool; do
    command -v "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  ldconfig -p 2>/dev/null | grep -q 'librbd.so.1 ' || missing+=(librbd1)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    fail "missing ${missing[*]}; install them as root: apt-get install -y --no-install-recommends $PACKAGES"
  fi
  say "installing $PACKAGES from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null ||
    fail "apt-get install $PACKAGES failed"
}

# PID of a daemon we started, if it is still alive and really ours (its command line names our conf).
daemon_pid() {
  local f=$DIR/run/$1.pid p
  [ -s "$f" ] || return 1
  p=$(cat "$f")
  [ -d "/proc/$p" ] || return 1
  grep -qs '^[0-9]* ([^)]*) Z' "/proc/$p/stat" && return 1
  tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$CONF" || return 1
  echo "$p"
}

poll() { # poll DESCRIPTION CMD...: retry every 0.2 s until CMD succeeds or READY_TIMEOUT passes
  local what=$1 until=$((SECONDS + READY_TIMEOUT))
  shift
  while ! "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$until" ] || fail "timed out waiting for $what; logs are in $DIR/log"
    sleep 0.2
  done
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

write_conf() {
  cat >"$CONF" <<EOF
# written by scripts/ceph-cluster.sh — a throwaway test cluster, not for production
[global]
fsid = $1
mon_initial_members = a
mon_host = [v2:127.0.0.1:$MON_V2_PORT,v1:127.0.0.1:$MON_V1_PORT]
public_addr = 127.0.0.1
ms_bind_ipv6 = false
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
auth_allow_insecure_global_id_reclaim = false
keyring = $DIR/\$cluster.\$name.keyring
run_dir = $DIR/run
# a single OSD holds every replica
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_warn_on_too_few_osds = false
osd_crush_chooseleaf_type = 0
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_max_pg_per_osd = 4000
mon_allow_pool_delete = true
mon_data_avail_warn = 2
mon_data_avail_crit = 1
mgr_initial_modules = iostat
clog_to_monitors = false
# a client killed with -9 keeps its watches (and so the images it had open look in use) until the OSD drops
# them: 10 s here instead of 30 s, so the kill -9 tests wait a third as long (clients ping every 5 s)
osd_client_watch_timeout = 10

[mon]
mon_data = $DIR/mon.\$id
keyring = $DIR/mon.\$id/keyring
log_file = $DIR/log/\$name.log
pid_file = $DIR/run/\$name.pid
mon_cluster_log_file = $DIR/log/cluster.log
mon_cluster_log_file_level = info
# Ceph 20+: accept the client keys of the old (AES-128) type that clients of Ceph 16-19 need (ignored before 20)
mon_auth_allow_insecure_key = true
mon_auth_emergency_allowed_ciphers = aes, aes256k
# propose map changes every 50 ms (default 1 s): pool create and rbd pool init become ~20x faster
paxos_propose_interval = 0.05
paxos_min_wait = 0.01

[mgr]
mgr_data = $DIR/mgr.\$id
keyring = $DIR/mgr.\$id/keyring
log_file = $DIR/log/\$name.log
pid_file = $DIR/run/\$name.pid
# load only the always-on modules: the mgr is active sooner and uses less memory
mgr_module_path = $DIR/mgr-modules
# keep the devicehealth module from creating its pool on a one-OSD cluster
osd_pool_default_size = 3

[osd]
osd_data = $DIR/osd.\$id
keyring = $DIR/osd.\$id/keyring
log_file = $DIR/log/\$name.log
pid_file = $DIR/run/\$name.pid
osd_objectstore = memstore
memstore_device_bytes = $MEMSTORE_BYTES
# memstore reaches disk only on a clean stop
osd_fast_shutdown = false
# short PG logs keep the OSD's memory flat under image churn
osd_min_pg_log_entries = 100
osd_max_pg_log_entries = 500
osd_pg_log_dups_tracked = 500
EOF
}

link_mgr_modules() {
  local m src=/usr/share/ceph/mgr
  mkdir -p "$DIR/mgr-modules"
  for m in mgr_module.py mgr_util.py balancer crash devicehealth orchestrator pg_autoscaler progress \
    rbd_support status telemetry volumes iostat ${MGR_EXTRA_MODULES:-}; do
    if [ -e "$src/$m" ]; then ln -sfn "$src/$m" "$DIR/mgr-modules/$m"; fi
  done
}

# A cephx secret in the AES-128 format every client since Ceph 16 reads: type 1, creation time (seconds, ns), length
# 16, 16 random bytes, base64. Ceph 20's `ceph-authtool --gen-key` makes keys of a newer type (aes256k) that a
# Pacific client rejects ("Malformed input"): the client keys are made in the old format (the monitor is told to
# accept them, mon_auth_allow_insecure_key), so a cluster of any release made here serves clients of every
# supported release; the daemons' own keys stay of the release's default type.
legacy_key() {
  local hex
  hex=$(printf '%08x' "$(date +%s)")
  {
    printf '\x01\x00'
    printf "\\x${hex:6:2}\\x${hex:4:2}\\x${hex:2:2}\\x${hex:0:2}"
    printf '\x00\x00\x00\x00\x10\x00'
    head -c 16 /dev/urandom
  } | base64 -w0
}

new_key() { # new_key FILE NAME CAPS...   (client.* keys in the old format, see legacy_key)
  local file=$1 name=$2
  shift 2
  if [ "${name#client.}" != "$name" ]; then
    ceph-authtool --create-keyring "$file" --add-key "$(legacy_key)" -n "$name" "$@" >/dev/null
  else
    ceph-authtool --create-keyring "$file" --gen-key -n "$name" "$@" >/dev/null
  fi
  chmod 600 "$file"
}

create_cluster() {
  say "creating a new cluster in $DIR"
  mkdir -p "$DIR"/{run,log,tmp,mon.a,osd.0,mgr.x}
  local fsid osd_uuid seed=$DIR/tmp/mon.keyring k
  fsid=$(cat /proc/sys/kernel/random/uuid)
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  echo "$osd_uuid" >"$DIR/tmp/osd.0.uuid"
  write_conf "$fsid"
  link_mgr_modules
  new_key "$seed" mon. --cap mon 'allow *'
  new_key "$DIR/ceph.client.admin.keyring" client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *'
  new_key "$DIR/ceph.client.$CLIENT_ID.keyring" "client.$CLIENT_ID" \
    --cap mon 'profile rbd' --cap osd 'profile rbd' --cap mgr 'profile rbd'
  new_key "$DIR/ceph.client.$CLIENT_ID-pools.keyring" "client.$CLIENT_ID-pools" \
    --cap mon 'profile rbd, allow command "osd pool create", allow command "osd pool delete", allow command "osd pool rm", allow command "osd pool application enable", allow command "osd pool set", allow command "osd pool get"' \
    --cap osd 'profile rbd' --cap mgr 'profile rbd'
  new_key "$DIR/osd.0/keyring" osd.0 --cap mon 'allow profile osd' --cap mgr 'allow profile osd' --cap osd 'allow *'
  new_key "$DIR/mgr.x/keyring" mgr.x --cap mon 'allow profile mgr' --cap osd 'allow *' --cap mds 'allow *'
  for k in "$DIR/ceph.client.admin.keyring" "$DIR/ceph.client.$CLIENT_ID.keyring" \
    "$DIR/ceph.client.$CLIENT_ID-pools.keyring" "$DIR/osd.0/keyring" "$DIR/mgr.x/keyring"; do
    ceph-authtool "$seed" --import-keyring "$k" >/dev/null
  done
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$MON_V2_PORT,v1:127.0.0.1:$MON_V1_PORT]" \
    "$DIR/tmp/monmap" >/dev/null
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/tmp/monmap" --keyring "$seed" 2>>"$DIR/log/mkfs.log" ||
    fail "ceph-mon --mkfs failed (see $DIR/log/mkfs.log)"
  ceph-osd -c "$CONF" -i 0 --mkfs --no-mon-config --osd-uuid "$osd_uuid" >>"$DIR/log/mkfs.log" 2>&1 ||
    fail "ceph-osd --mkfs failed (see $DIR/log/mkfs.log)"
  touch "$DIR/tmp/osd.0.register"
}

start_one() { # start_one TYPE ID
  local name=$1.$2 p
  if p=$(daemon_pid "$name"); then say "$name already running (pid $p)"; return 0; fi
  rm -f "$DIR/run/$name.pid"
  MALLOC_ARENA_MAX=2 "ceph-$1" -c "$CONF" -i "$2" 2>>"$DIR/log/$name.stderr" ||
    fail "ceph-$1 -i $2 did not start (see $DIR/log)"
  poll "$name to write its pid file" test -s "$DIR/run/$name.pid"
}

osd_is_up() { ceph_cli osd dump -f json 2>/dev/null | grep -q '"osd":0,"uuid":"[^"]*","up":1,"in":1'; }
mgr_is_active() {
  local d
  d=$(ceph_cli mgr dump -f json 2>/dev/null) || return 1
  grep -q '"available":true' <<<"$d" || return 1
  # after a restart the monitor still names the previous mgr for a while
  [ -z "${OLD_MGR_GID:-}" ] || ! grep -q "\"active_gid\":$OLD_MGR_GID," <<<"$d"
}

start_cluster() {
  if ! daemon_pid mon.a >/dev/null && port_in_use "$MON_V2_PORT"; then
    fail "127.0.0.1:$MON_V2_PORT is taken by something else; set MON_V2_PORT and MON_V1_PORT"
  fi
  start_one mon a
  poll "the monitor to listen on $MON_V2_PORT" port_in_use "$MON_V2_PORT"
  if [ -f "$DIR/tmp/osd.0.register" ]; then
    local id
    id=$(ceph_cli osd new "$(cat "$DIR/tmp/osd.0.uuid")" 0) || fail "ceph osd new failed"
    [ "$id" = 0 ] || fail "expected osd id 0, got '$id'"
    rm -f "$DIR/tmp/osd.0.register"
  fi
  start_one osd 0
  if ! daemon_pid mgr.x >/dev/null && [ -z "${FRESH:-}" ]; then
    OLD_MGR_GID=$(ceph_cli mgr dump -f json 2>/dev/null | grep -o '"active_gid":[0-9]*' | cut -d: -f2 || true)
  fi
  start_one mgr x
  poll "osd.0 to be up" osd_is_up
  poll "the mgr to be active" mgr_is_active
}

create_pools() {
  local p
  for p in ${CREATE_POOLS:-}; do
    ceph_cli osd pool ls | grep -qx -- "$p" && continue
    ceph_cli osd pool create "$p" 8 >/dev/null 2>&1 || fail "creating pool $p failed"
    ceph_cli osd pool application enable "$p" rbd >/dev/null 2>&1 || fail "tagging pool $p failed"
    timeout 30 rbd -c "$CONF" -n client.admin pool init "$p" || fail "rbd pool init $p failed"
    say "pool $p created"
  done
}

stop_cluster() {
  local name p i
  for name in mgr.x osd.0 mon.a; do
    if ! p=$(daemon_pid "$name"); then rm -f "$DIR/run/$name.pid"; continue; fi
    say "stopping $name (pid $p)"
    kill -TERM "$p" 2>/dev/null || true
    for i in $(seq 1 100); do [ -d "/proc/$p" ] && ! grep -qs ') Z' "/proc/$p/stat" || break; sleep 0.1; done
    if [ -d "/proc/$p" ] && ! grep -qs ') Z' "/proc/$p/stat"; then kill -KILL "$p" 2>/dev/null || true; fi
    rm -f "$DIR/run/$name.pid"
  done
}

print_env() {
  cat <<EOF
export CEPH_CONF=$CONF
export CEPH_CLIENT_ID=admin
export CEPH_KEYRING=$DIR/ceph.client.admin.keyring
# least privilege: CEPH_CLIENT_ID=$CLIENT_ID-pools CEPH_KEYRING=$DIR/ceph.client.$CLIENT_ID-pools.keyring
# images only:     CEPH_CLIENT_ID=$CLIENT_ID CEPH_KEYRING=$DIR/ceph.client.$CLIENT_ID.keyring
EOF
}

case "$CMD" in
  up)
    ensure_packages
    started=$SECONDS
    # the OSD keeps its data in memory (memstore): once it has stopped, the pools' data is gone and the
    # monitor would wait for it forever. A stopped cluster is therefore made afresh (new fsid and keys);
    # only a monitor or mgr that stopped while the OSD runs is restarted in place.
    if [ -f "$DIR/mon.a/store.db/CURRENT" ] && ! daemon_pid osd.0 >/dev/null && grep -qs 'scripts/ceph-cluster.sh' "$CONF"; then
      say "osd.0 is not running, so its in-memory data is gone: making the cluster afresh"
      stop_cluster
      rm -rf "$DIR"
    fi
    # a cluster of ours made with other monitor ports (e.g. `up` by hand, then the tests' ports) would never
    # listen where asked: make it afresh instead of waiting for it
    if [ -f "$DIR/mon.a/store.db/CURRENT" ] && grep -qs 'scripts/ceph-cluster.sh' "$CONF" \
       && ! grep -qs "^mon_host = \[v2:127.0.0.1:$MON_V2_PORT,v1:127.0.0.1:$MON_V1_PORT\]" "$CONF"; then
      say "the cluster in $DIR uses other monitor ports than $MON_V2_PORT/$MON_V1_PORT: making it afresh"
      stop_cluster
      rm -rf "$DIR"
    fi
    if [ ! -f "$DIR/mon.a/store.db/CURRENT" ]; then
      if [ -d "$DIR" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ] && ! grep -qs 'scripts/ceph-cluster.sh' "$CONF"; then
        fail "$DIR holds something that is not a cluster of ours; refusing to touch it"
      fi
      rm -rf "$DIR"
      create_cluster
      FRESH=1
    fi
    start_cluster
    create_pools
    say "ready in $((SECONDS - started)) s; config: $CONF"
    ;;
  down) [ -d "$DIR" ] && stop_cluster; true ;;
  destroy)
    [ -d "$DIR" ] || exit 0
    stop_cluster
    grep -qs 'scripts/ceph-cluster.sh' "$CONF" || fail "$DIR is not a cluster of ours; not deleting it"
    rm -rf "$DIR"
    ;;
  status)
    for name in mon.a osd.0 mgr.x; do
      if p=$(daemon_pid "$name"); then echo "$name running (pid $p)"; else echo "$name stopped"; fi
    done
    [ -f "$CONF" ] && daemon_pid mon.a >/dev/null && ceph_cli -s
    ;;
  env) print_env ;;
  *) sed -n '2,20p' "$0"; exit 2 ;;
esac
