#!/usr/bin/env bash
# npm run test:quick — the edit-test loop: the unit tests and a fast subset of the API tests, against a cluster
# that is already running (by default the dev cluster `KEEP_CLUSTER=1 npm run dev` leaves at .ceph/cluster;
# TEST_CEPH_DIR=<dir> names another). No install, no build, no cluster boot or teardown; each test file still
# makes pools of its own and removes them. Extra arguments go to vitest (e.g. -t 'rename').
# The whole suite (with the fault tests and the container e2e) is `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."

export TEST_CEPH_DIR=${TEST_CEPH_DIR:-${CEPH_CLUSTER_DIR:-$PWD/.ceph/cluster}}
export TEST_CLUSTER_RUNNING=1 UV_THREADPOOL_SIZE=${UV_THREADPOOL_SIZE:-24}
conf=$TEST_CEPH_DIR/ceph.conf
if [ ! -s "$conf" ] || ! timeout 15 ceph -c "$conf" --id admin --keyring "$TEST_CEPH_DIR/ceph.client.admin.keyring" \
    --connect-timeout 10 health >/dev/null 2>&1; then
  echo "no running cluster at $TEST_CEPH_DIR: start one with KEEP_CLUSTER=1 npm run dev (or set TEST_CEPH_DIR)" >&2
  exit 1
fi

# the API files of the loop: images, pools, snapshots, trash, namespaces, auth, the typed client's contract
# check — each under ~10 s on 2 cores; the rest run in `npm test`
quick=(
  test/unit
  test/integration/api-images.test.ts
  test/integration/api-pools.test.ts
  test/integration/api-auth.test.ts
  test/integration/client.test.ts
  test/integration/pool-stats.test.ts
)
exec npx vitest run --project unit --project api "${quick[@]}" "$@"
