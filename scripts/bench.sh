#!/usr/bin/env bash
# scripts/bench.sh — `npm run bench`: the service against the physical baseline (librbd from C), the rbd CLI
# and the Ceph Dashboard, in one run, on a throwaway cluster. Prints the tables; writes
# bench/results/<date>.json, latest.json, latest.svg, latest.md. See docs/benchmarks.md.
#
# Knobs (environment):
#   BENCH_IMAGES (1000)        images per run; BENCH_IMAGES=100 for a quick run
#   BENCH_CONCURRENCY (1,4)    C threads = HTTP clients = the service's DETAILS_CONCURRENCY, per run
#   BENCH_REPS (10)            repetitions of each listing; BENCH_DETAIL_REPS (3) of the full detail listing
#   BENCH_DASHBOARD (auto)     "off" skips the Ceph Dashboard
#   BENCH_LOAD_INFLIGHT (64), BENCH_LOAD_SECONDS (10), BENCH_RSS_OPS (10000)
#   BENCH_KEEP_CLUSTER (0)     1 = leave the cluster running afterwards
#   BENCH_SKIP_BUILD (0)       1 = use the existing dist/ and bench/rbdbench
#   BENCH_STRICT (0)           1 = exit 1 when a target is missed
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DIR=$ROOT/.ceph/bench
# v1 port below 6800: OSDs and mgrs of other clusters on this machine bind ports in 6800-7300
export MON_V2_PORT=${BENCH_MON_V2_PORT:-3350} MON_V1_PORT=${BENCH_MON_V1_PORT:-6750}
POOL=${BENCH_POOL:-bench}

say() { echo "[bench $(date +%T)] $*" >&2; }
fail() { say "error: $*"; exit 1; }

apt_install() { # apt_install PKG... (as root, when missing)
  [ "$(id -u)" = 0 ] || fail "missing packages $*; install them: apt-get install -y --no-install-recommends $*"
  say "installing $*"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null || fail "apt-get install $* failed"
}

# --- tools: a C compiler and the librados/librbd headers; the dashboard when the distribution has it ---
need=()
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
[ -f /usr/include/rados/librados.h ] || need+=(librados-dev)
[ -f /usr/include/rbd/librbd.h ] || need+=(librbd-dev)
command -v rbd >/dev/null 2>&1 || need+=(ceph-common)
[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
# The Ceph Dashboard is the incumbent the service is compared with: install it, or stop here (BENCH_DASHBOARD=off
# skips it on purpose). Never `apt-cache policy … | grep -q` under pipefail: grep -q exits at its first match,
# apt-cache then dies of SIGPIPE and the pipeline "fails" — the check said "not available" on every fresh machine.
if [ "${BENCH_DASHBOARD:-auto}" != off ] && [ ! -d /usr/share/ceph/mgr/dashboard ]; then
  [ "$(id -u)" = 0 ] || fail "the Ceph Dashboard is not installed; as root: apt-get install -y --no-install-recommends ceph-mgr-dashboard (or BENCH_DASHBOARD=off)"
  policy=$(apt-cache policy ceph-mgr-dashboard 2>/dev/null || true)
  if ! [[ $policy =~ Candidate:\ [0-9] ]]; then
    say "ceph-mgr-dashboard has no install candidate; updating the package lists"
    apt-get update -qq >/dev/null || true
    policy=$(apt-cache policy ceph-mgr-dashboard 2>/dev/null || true)
  fi
  [[ $policy =~ Candidate:\ [0-9] ]] || fail "no ceph-mgr-dashboard package to install (apt-cache policy: ${policy:-nothing}); BENCH_DASHBOARD=off runs without it"
  say "installing ceph-mgr-dashboard (BENCH_DASHBOARD=off skips it)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ceph-mgr-dashboard >/dev/null ||
    fail "apt-get install ceph-mgr-dashboard failed; BENCH_DASHBOARD=off runs without the Dashboard"
  [ -d /usr/share/ceph/mgr/dashboard ] || fail "ceph-mgr-dashboard installed but /usr/share/ceph/mgr/dashboard is missing"
fi

# --- build: the C baseline and the service ---
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ] || [ ! -x bench/rbdbench ]; then
  say "compiling bench/rbdbench"
  gcc -O2 -Wall -o bench/rbdbench bench/rbdbench.c -lrbd -lrados -lpthread
fi
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ] || [ ! -f dist/main.js ]; then
  if [ -f src/main.ts ]; then
    [ -d node_modules ] || npm ci --no-audit --no-fund
    say "building the service (npm run build)"
    npm run -s build || say "npm run build failed; the service part will be reported as not available"
  fi
fi

# scripts/bench-scale.sh uses this script for the tools and the builds only
if [ "${1:-}" = --tools-only ]; then exit 0; fi

# --- the cluster: boot it, and always stop it again ---
cleanup() {
  local rc=$?
  if [ "${BENCH_KEEP_CLUSTER:-0}" = 1 ]; then
    say "leaving the cluster running: scripts/ceph-cluster.sh down $DIR"
  else
    scripts/ceph-cluster.sh down "$DIR" >/dev/null 2>&1 || true
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
extra=""
[ "${BENCH_DASHBOARD:-auto}" != off ] && [ -d /usr/share/ceph/mgr/dashboard ] && extra=dashboard
# a fresh cluster each run: the figures must not depend on what an earlier run left behind
scripts/ceph-cluster.sh destroy "$DIR" >/dev/null 2>&1 || true
MGR_EXTRA_MODULES=$extra scripts/ceph-cluster.sh up "$DIR"
eval "$(scripts/ceph-cluster.sh env "$DIR" | grep '^export ')"
ceph_() { timeout 60 ceph -c "$CEPH_CONF" --id admin --keyring "$CEPH_KEYRING" "$@"; }
ceph_ osd pool create "$POOL" 32 >/dev/null
ceph_ osd pool application enable "$POOL" rbd >/dev/null
timeout 60 rbd -c "$CEPH_CONF" --id admin --keyring "$CEPH_KEYRING" pool init "$POOL"
ceph_ osd pool application get "$POOL" | grep -q rbd || fail "pool $POOL is not tagged for rbd"
say "cluster up, pool $POOL ready"

[ "${BENCH_DASHBOARD:-auto}" = off ] && export BENCH_SKIP="${BENCH_SKIP:+$BENCH_SKIP,}dashboard"
BENCH_POOL=$POOL npx tsx bench/run.ts
