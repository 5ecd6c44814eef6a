#!/usr/bin/env bash
# npm run dev — the embedded default: installs what is missing, boots a throwaway local Ceph cluster,
# creates pool "rbd", builds and starts the service on :8080 with a least-privilege key.
# Ctrl-C stops the service and the cluster (KEEP_CLUSTER=1 leaves the cluster running).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

export CEPH_CLUSTER_DIR=${CEPH_CLUSTER_DIR:-$PWD/.ceph/cluster}
CREATE_POOLS=rbd bash scripts/ceph-cluster.sh up "$CEPH_CLUSTER_DIR"
npm run --silent build

export CEPH_CONF=$CEPH_CLUSTER_DIR/ceph.conf
export CEPH_CLIENT_ID=${CEPH_CLIENT_ID:-rbdapi-pools}
export CEPH_KEYRING=${CEPH_KEYRING:-$CEPH_CLUSTER_DIR/ceph.client.$CEPH_CLIENT_ID.keyring}
export PORT=${PORT:-8080} HOST=${HOST:-127.0.0.1} LOG_LEVEL=${LOG_LEVEL:-info}
export UV_THREADPOOL_SIZE=${UV_THREADPOOL_SIZE:-32}

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "port $PORT is in use; run with PORT=<another port> npm run dev" >&2
  exit 1
fi

cleanup() {
  [ -n "${svc:-}" ] && kill "$svc" 2>/dev/null && wait "$svc" 2>/dev/null
  if [ "${KEEP_CLUSTER:-0}" != 1 ]; then bash scripts/ceph-cluster.sh down "$CEPH_CLUSTER_DIR"; fi
}
trap cleanup EXIT INT TERM

node --max-semi-space-size=4 dist/main.js &
svc=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  kill -0 "$svc" 2>/dev/null || { echo "the service exited; see the log above" >&2; exit 1; }
  sleep 0.2
done
base="http://127.0.0.1:$PORT"
cat >&2 <<MSG

  rbd-rest-api is running on a throwaway Ceph cluster ($CEPH_CLUSTER_DIR), as client.$CEPH_CLIENT_ID.

  Swagger UI:   $base/docs
  OpenAPI:      $base/openapi.json

  Try:
    curl -s -X PUT $base/api/v1/pools/rbd/images/demo -H 'content-type: application/json' -d '{"size":"10GiB"}'
    curl -s '$base/api/v1/pools/rbd/images?details=true'
    curl -s -X PATCH $base/api/v1/pools/rbd/images/demo -H 'content-type: application/json' -d '{"size":"20GiB"}'
    curl -s -X DELETE $base/api/v1/pools/rbd/images/demo -i

  The ceph CLI works too:  CEPH_CONF=$CEPH_CONF ceph -s
  Ctrl-C stops the service and the cluster.

MSG
wait "$svc"
