#!/usr/bin/env bash
# npm run dev — the embedded default: installs what is missing, boots a throwaway local Ceph cluster,
# creates pool "rbd", builds and starts the service on :8080 with a least-privilege key.
# Ctrl-C stops the service and the cluster (KEEP_CLUSTER=1 leaves the cluster running).
#
# Logs: human-readable (pino-pretty) when stdout is a terminal, the service's JSON lines otherwise
# (piped, redirected, CI); LOG_FORMAT=json|pretty forces one.
# Authentication: off unless AUTH=1 (a random admin token is written to $CEPH_CLUSTER_DIR.tokens) or
# API_TOKENS_FILE is set; the banner then shows the token to send and curl lines that send it.
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

# bearer tokens: AUTH=1 makes one for this cluster; a given API_TOKENS_FILE is used as it is
token=
if [ -z "${API_TOKENS_FILE:-}" ] && [ "${AUTH:-0}" = 1 ]; then
  export API_TOKENS_FILE=$CEPH_CLUSTER_DIR.tokens
  if [ ! -s "$API_TOKENS_FILE" ]; then
    (umask 077 && printf '# written by scripts/dev.sh (AUTH=1)\n%s admin * dev\n' "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" >"$API_TOKENS_FILE")
  fi
fi
if [ -n "${API_TOKENS_FILE:-}" ]; then
  # the first token of the file (either format the service reads: lines or a JSON array)
  token=$(node -e '
    const t = require("fs").readFileSync(process.argv[1], "utf8").trim();
    if (t.startsWith("[")) { const a = JSON.parse(t); process.stdout.write(String(a[0]?.token ?? "")); }
    else process.stdout.write((t.split(/\r?\n/).map((l) => l.replace(/#.*/, "").trim()).find(Boolean) ?? "").split(/\s+/)[0]);
  ' "$API_TOKENS_FILE" 2>/dev/null || true)
fi

cleanup() {
  [ -n "${svc:-}" ] && kill "$svc" 2>/dev/null && wait "$svc" 2>/dev/null
  if [ "${KEEP_CLUSTER:-0}" != 1 ]; then bash scripts/ceph-cluster.sh down "$CEPH_CLUSTER_DIR"; fi
}
trap cleanup EXIT INT TERM

format=${LOG_FORMAT:-}
if [ -z "$format" ]; then
  if [ -t 1 ]; then format=pretty; else format=json; fi
fi
if [ "$format" = pretty ]; then
  # $! stays the service's pid: pino-pretty reads its stdout through a process substitution
  node --max-semi-space-size=4 dist/main.js > >(exec node_modules/.bin/pino-pretty --colorize --translateTime 'SYS:HH:MM:ss.l' --ignore pid,hostname) &
else
  node --max-semi-space-size=4 dist/main.js &
fi
svc=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  kill -0 "$svc" 2>/dev/null || { echo "the service exited; see the log above" >&2; exit 1; }
  sleep 0.2
done
base="http://127.0.0.1:$PORT"
if [ -n "$token" ]; then
  auth_line="  Authentication is ON ($API_TOKENS_FILE). Token:  $token
  (Swagger UI: Authorize, paste the token; curl: -H 'authorization: Bearer $token')
"
  h=" -H 'authorization: Bearer $token'"
elif [ -n "${API_TOKENS_FILE:-}" ]; then
  auth_line="  Authentication is ON ($API_TOKENS_FILE); send one of its tokens as 'authorization: Bearer <token>'.
"
  h=" -H 'authorization: Bearer <token>'"
else
  auth_line="  Authentication is OFF (AUTH=1 npm run dev turns it on with a generated token).
"
  h=
fi
cat >&2 <<MSG

  rbd-rest-api is running on a throwaway Ceph cluster ($CEPH_CLUSTER_DIR), as client.$CEPH_CLIENT_ID.

  Swagger UI:   $base/docs
  OpenAPI:      $base/openapi.json
$auth_line
  Try:
    curl -s -X PUT $base/api/v1/pools/rbd/images/demo$h -H 'content-type: application/json' -d '{"size":"10GiB"}'
    curl -s '$base/api/v1/pools/rbd/images?details=true'$h
    curl -s -X PATCH $base/api/v1/pools/rbd/images/demo$h -H 'content-type: application/json' -d '{"size":"20GiB"}'
    curl -s -X DELETE $base/api/v1/pools/rbd/images/demo$h -i

  The ceph CLI works too:  CEPH_CONF=$CEPH_CONF ceph -s
  Ctrl-C stops the service and the cluster.

MSG
wait "$svc"
