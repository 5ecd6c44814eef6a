#!/usr/bin/env bash
# scripts/bench-scale.sh — `npm run bench:scale`: a page of images in pools of 1,000, 10,000 and 100,000
# images (bench/scale.ts), against C's rbd_list2 and the Ceph Dashboard. See docs/benchmarks.md.
# `scripts/bench-scale.sh --write` (`npm run bench:write`): creates through the service against C's
# rbd_create on the same cluster, interleaved (bench/write-path.ts); BENCH_CPU_PROF=DIR profiles the service.
#
# The cluster lives in its own directory (.ceph/scale, monitor ports 3370/6770): never the test cluster's.
# Its pools are made by the C program (bench/rbdbench -F: rbd_create of img-000000…, topping a pool up to
# its size); 100,000 images take 4–5 minutes on 2 cores. With BENCH_KEEP_CLUSTER=1 the cluster and its
# pools stay after the run and are reused by the next one (memstore: while the OSD runs).
#
# Knobs (environment):
#   BENCH_SCALE_SIZES (1000,10000,100000)   pool sizes; pool "scale-1k" for 1000 etc.
#   BENCH_SCALE_REPS (10)                   timed requests per page (medians)
#   BENCH_SCALE_THREADS (8)                 rbdbench threads when filling pools
#   BENCH_KEEP_CLUSTER (0)                  1 = keep (and reuse) the cluster and its pools
#   BENCH_DASHBOARD (auto)                  "off" skips the Ceph Dashboard
#   BENCH_SKIP_BUILD (0)                    1 = use the existing dist/ and bench/rbdbench
#   BENCH_STRICT (0)                        1 = exit 1 when a target is missed
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DIR=${BENCH_SCALE_DIR:-$ROOT/.ceph/scale}
# v1 port below 6800: OSDs and mgrs of other clusters on this machine bind ports in 6800-7300
export MON_V2_PORT=${BENCH_SCALE_MON_V2_PORT:-3370} MON_V1_PORT=${BENCH_SCALE_MON_V1_PORT:-6770}
# a kept cluster is reused with the ports it was made with (other ports would make it afresh: 5 minutes)
if [ "${BENCH_KEEP_CLUSTER:-0}" = 1 ] && [ -z "${BENCH_SCALE_MON_V1_PORT:-}" ] && [ -f "$DIR/ceph.conf" ]; then
  if [[ $(grep -m1 '^mon_host' "$DIR/ceph.conf") =~ v2:127\.0\.0\.1:([0-9]+),v1:127\.0\.0\.1:([0-9]+) ]]; then
    MON_V2_PORT=${BASH_REMATCH[1]} MON_V1_PORT=${BASH_REMATCH[2]}
  fi
fi
# memstore keeps everything in the OSD's memory: 100,000 images take ~8 GiB of it
export MEMSTORE_BYTES=${BENCH_SCALE_MEMSTORE_BYTES:-$((16 << 30))}
SIZES=${BENCH_SCALE_SIZES:-1000,10000,100000}
THREADS=${BENCH_SCALE_THREADS:-8}

say() { echo "[bench:scale $(date +%T)] $*" >&2; }
fail() { say "error: $*"; exit 1; }

# tools (gcc, headers, the Dashboard) and builds, as npm run bench does
bash scripts/bench.sh --tools-only

cleanup() {
  local rc=$?
  if [ "${BENCH_KEEP_CLUSTER:-0}" = 1 ]; then
    say "leaving the cluster running (pools kept for the next run): scripts/ceph-cluster.sh down $DIR"
  else
    scripts/ceph-cluster.sh down "$DIR" >/dev/null 2>&1 || true
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

extra=""
if [ "${BENCH_DASHBOARD:-auto}" != off ]; then extra=dashboard; fi
if [ "${BENCH_KEEP_CLUSTER:-0}" != 1 ]; then
  scripts/ceph-cluster.sh destroy "$DIR" >/dev/null 2>&1 || true
fi
MGR_EXTRA_MODULES=$extra scripts/ceph-cluster.sh up "$DIR"
eval "$(scripts/ceph-cluster.sh env "$DIR" | grep '^export ')"
ceph_() { timeout 60 ceph -c "$CEPH_CONF" --id admin --keyring "$CEPH_KEYRING" "$@"; }
if [ "${1:-}" = --write ]; then
  npx tsx bench/write-path.ts
  exit $?
fi
if [ -n "$extra" ]; then
  mods=$(ceph_ mgr module ls -f json)
  [[ $mods == *'"dashboard"'* ]] || fail "this cluster's mgr was started without the dashboard module: scripts/ceph-cluster.sh destroy $DIR, then run again"
fi

pools=()
IFS=, read -ra sizes <<<"$SIZES"
for n in "${sizes[@]}"; do
  if [ $((n % 1000)) -eq 0 ]; then pool=scale-$((n / 1000))k; else pool=scale-$n; fi
  pools+=("$pool:$n")
  if ! ceph_ osd pool ls | grep -qx "$pool"; then
    ceph_ osd pool create "$pool" 32 >/dev/null
    ceph_ osd pool application enable "$pool" rbd >/dev/null
    timeout 60 rbd -c "$CEPH_CONF" --id admin --keyring "$CEPH_KEYRING" pool init "$pool"
  fi
  keys=$(timeout 300 rados -c "$CEPH_CONF" --id admin --keyring "$CEPH_KEYRING" -p "$pool" listomapkeys rbd_directory 2>/dev/null || true)
  have=$(grep -c '^name_img-' <<<"$keys" || true)
  if [ "$have" -lt "$n" ]; then
    say "$pool: $have of $n images; making the rest with bench/rbdbench ($THREADS threads)"
    bench/rbdbench -c "$CEPH_CONF" -k "$CEPH_KEYRING" -p "$pool" -N "$n" -t "$THREADS" -x create -F -P img- >/dev/null ||
      say "rbdbench reported errors while filling $pool (bench/scale.ts checks the count)"
  else
    say "$pool: $have images, ready"
  fi
done

POOL_LIST=$(IFS=,; echo "${pools[*]}")
[ "${BENCH_DASHBOARD:-auto}" = off ] && export BENCH_SKIP="${BENCH_SKIP:+$BENCH_SKIP,}dashboard"
BENCH_SCALE_POOLS=$POOL_LIST npx tsx bench/scale.ts
