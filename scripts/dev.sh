#!/usr/bin/env bash
# npm run dev — the embedded default: installs what is missing, boots a throwaway local Ceph cluster,
# creates pool "rbd" and serves the API on :8080 with a least-privilege key, restarting the service when a
# source file changes: the cluster stays up; esbuild bundles src/ into .dev/main.js again (scripts/dev-bundle.ts;
# no type check: `npm run typecheck` does that) and node --watch restarts the service on it (README: figures).
# Ctrl-C stops the service and the cluster (KEEP_CLUSTER=1 leaves the cluster running).
#
# The port is checked first, before anything is installed or booted: a busy port costs nothing.
# WATCH=0 builds once with tsc and runs dist/main.js as `npm start` does (no restarts).
# DEV_CEPH_CONF=<ceph.conf>: serve an existing cluster instead (nothing is booted or stopped; give
# CEPH_CLIENT_ID and CEPH_KEYRING of a key that exists there).
#
# Logs: human-readable (pino-pretty) when stdout is a terminal, the service's JSON lines otherwise
# (piped, redirected, CI); LOG_FORMAT=json|pretty forces one.
# Authentication: off unless AUTH=1 (a random admin token is written to $CEPH_CLUSTER_DIR.tokens) or
# API_TOKENS_FILE is set; the banner then shows the token to send and curl lines that send it.
set -euo pipefail
cd "$(dirname "$0")/.."

export PORT=${PORT:-8080} HOST=${HOST:-127.0.0.1} LOG_LEVEL=${LOG_LEVEL:-info}
# the port first: nothing is booted for a service that could not listen
port_error() {
  if command -v node >/dev/null; then
    node -e '
      const s = require("net").createServer();
      s.once("error", (e) => { process.stdout.write(e.code ?? String(e)); process.exit(0); });
      s.listen(Number(process.argv[1]), process.argv[2], () => s.close());
    ' "$PORT" "$HOST"
  elif (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    echo EADDRINUSE
  fi
}
err=$(port_error)
if [ -n "$err" ]; then
  case $err in
    EADDRINUSE) echo "port $PORT is in use on $HOST; run with PORT=<another port> npm run dev" >&2 ;;
    *) echo "cannot listen on $HOST:$PORT ($err); run with PORT=<another port> or HOST=<address> npm run dev" >&2 ;;
  esac
  exit 1
fi

bash scripts/setup.sh

if [ -n "${DEV_CEPH_CONF:-}" ]; then
  [ -r "$DEV_CEPH_CONF" ] || { echo "DEV_CEPH_CONF=$DEV_CEPH_CONF is not a readable file" >&2; exit 1; }
  export CEPH_CONF=$DEV_CEPH_CONF CEPH_CLUSTER_DIR=$(dirname "$DEV_CEPH_CONF")
  KEEP_CLUSTER=1
else
  export CEPH_CLUSTER_DIR=${CEPH_CLUSTER_DIR:-$PWD/.ceph/cluster}
  export CEPH_CONF=$CEPH_CLUSTER_DIR/ceph.conf
  CREATE_POOLS=rbd bash scripts/ceph-cluster.sh up "$CEPH_CLUSTER_DIR"
fi

cleanup() {
  [ -n "${bundler:-}" ] && kill "$bundler" 2>/dev/null
  [ -n "${svc:-}" ] && kill "$svc" 2>/dev/null && wait "$svc" 2>/dev/null
  if [ "${KEEP_CLUSTER:-0}" != 1 ]; then bash scripts/ceph-cluster.sh down "$CEPH_CLUSTER_DIR"; fi
}
# from here on, whatever fails stops the cluster this script booted
trap cleanup EXIT INT TERM

if [ "${WATCH:-1}" = 0 ]; then
  npm run --silent build
else
  # src/ bundled into .dev/main.js, and again on every change (scripts/dev-bundle.ts)
  node_modules/.bin/tsx scripts/dev-bundle.ts --once
  node_modules/.bin/tsx scripts/dev-bundle.ts &
  bundler=$!
fi

export CEPH_CLIENT_ID=${CEPH_CLIENT_ID:-rbdapi-pools}
export CEPH_KEYRING=${CEPH_KEYRING:-$CEPH_CLUSTER_DIR/ceph.client.$CEPH_CLIENT_ID.keyring}
export UV_THREADPOOL_SIZE=${UV_THREADPOOL_SIZE:-32}
# a restart waits for the old process to end: in development, in-flight requests get 3 s, not 20
export SHUTDOWN_TIMEOUT_MS=${SHUTDOWN_TIMEOUT_MS:-3000}

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

format=${LOG_FORMAT:-}
if [ -z "$format" ]; then
  if [ -t 1 ]; then format=pretty; else format=json; fi
fi
if [ "${WATCH:-1}" = 0 ]; then
  run=(node --max-semi-space-size=4 dist/main.js)
else
  # node restarts the service when the bundle changes, after the old one has stopped (SIGTERM, then
  # SHUTDOWN_TIMEOUT_MS at most); a service that fails to start waits for the next change
  run=(node --watch --enable-source-maps --max-semi-space-size=4 .dev/main.js)
fi
if [ "$format" = pretty ]; then
  # $! stays the service's pid: pino-pretty reads its stdout through a process substitution
  "${run[@]}" > >(exec node_modules/.bin/pino-pretty --colorize --translateTime 'SYS:HH:MM:ss.l' --ignore pid,hostname) &
else
  "${run[@]}" &
fi
svc=$!
ready=0
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && { ready=1; break; }
  kill -0 "$svc" 2>/dev/null || { echo "the service exited; see the log above" >&2; exit 1; }
  sleep 0.2
done
# (node --watch outlives a service that failed to start: fixing the source starts it again)
[ "$ready" = 1 ] || echo "the service is not ready after 20 s; see the log above" >&2
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

  rbd-rest-api is running on $([ -n "${DEV_CEPH_CONF:-}" ] && echo "the cluster of $CEPH_CONF" || echo "a throwaway Ceph cluster ($CEPH_CLUSTER_DIR)"), as client.$CEPH_CLIENT_ID.

  Swagger UI:   $base/docs
  OpenAPI:      $base/openapi.json
$auth_line
  Try:
    curl -s -X PUT $base/api/v1/pools/rbd/images/demo$h -H 'content-type: application/json' -d '{"size":"10Gi"}'
    curl -s '$base/api/v1/pools/rbd/images?details=true'$h
    curl -s -X PATCH $base/api/v1/pools/rbd/images/demo$h -H 'content-type: application/json' -d '{"size":"20GiB"}'
    curl -s -X DELETE $base/api/v1/pools/rbd/images/demo$h -i

  The ceph CLI works too:  CEPH_CONF=$CEPH_CONF ceph -s
  $([ "${WATCH:-1}" = 0 ] && echo "Built once (WATCH=0): no restarts." || echo "Edit src/: the service restarts on the change; the cluster stays up (npm run typecheck for types).")
  Ctrl-C stops the service$([ "${KEEP_CLUSTER:-0}" = 1 ] || echo " and the cluster").

MSG
wait "$svc"
