#!/usr/bin/env bash
# scripts/e2e-registry.sh — container image end-to-end test: private registry with authentication,
# image pull secret, hardened run against a real Ceph cluster, clean SIGTERM. Run as root; scripts/test.sh
# (npm test) calls it after vitest. Needs no Docker daemon and no public registry.
#
#   1. build the image (scripts/image-build.sh; cached layers make a rebuild fast)
#   2. start Debian's docker-registry on 127.0.0.1 with htpasswd (bcrypt) basic auth, storage in a temp dir
#   3. push the image with credentials (podman push --creds)
#   4. anonymous access is refused: GET /v2/<repo>/manifests/<tag> is 401 and `podman pull` fails
#   5. write the .dockerconfigjson exactly as `kubectl create secret docker-registry` does
#      (scripts/pull-secret.ts; compared byte for byte with kubectl when kubectl is installed)
#   6. remove the pushed tag from local storage, pull with --authfile <that file> into an empty image store
#      (a stand-in for a fresh Kubernetes node, so every layer really comes from the registry)
#   7. boot a throwaway Ceph cluster (scripts/ceph-cluster.sh, its own dir and ports) and run the pulled
#      image the way k8s/base/deployment.yaml does: ceph.conf and keyring mounted read-only, read-only root
#      filesystem with a tmpfs at /tmp, all capabilities dropped, no-new-privileges, uid/gid 10001, bearer
#      tokens from a read-only file (API_TOKENS_FILE, REQUIRE_AUTH=true)
#   8. /readyz and GET /api/v1/pools (with a token) answer 200 (within READY_WAIT s); without a token 401
#   9. SIGTERM: the container exits with code 0 within 10 s
# Every step prints PASS or FAIL; the exit status is non-zero if any failed. A trap stops the registry,
# removes the container and the temporary image store, and stops the cluster.
#
# Knobs: IMAGE (rbd-rest-api:dev), REGISTRY_PORT (5055, next free one if taken), APP_PORT (18080, ditto),
#   E2E_CEPH_DIR (.ceph/e2e), E2E_MON_V2_PORT (3340), E2E_MON_V1_PORT (6840), E2E_CLIENT (rbdapi: the
#   images-only cephx user; rbdapi-pools for the pool-admin one), READY_WAIT (30), SKIP_BUILD=1 (use the
#   image as it is), E2E_KEEP=1 (leave the temp dir, registry data and logs for inspection),
#   E2E_DESTROY_CLUSTER=1 (delete the cluster dir instead of only stopping it).
set -uo pipefail
SCRIPT_NAME=e2e-registry
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=scripts/image-lib.sh
. "$HERE/image-lib.sh"
cd "$ROOT"

IMAGE=${IMAGE:-rbd-rest-api:dev}
E2E_CEPH_DIR=${E2E_CEPH_DIR:-$ROOT/.ceph/e2e}
E2E_CLIENT=${E2E_CLIENT:-rbdapi}
READY_WAIT=${READY_WAIT:-30}
STOP_LIMIT_MS=10000
REPO=rbd-rest-api
TAG=e2e-$(date +%s)
REG_USER=e2e-robot
# 24 random characters; no ':' (the auth field is user:password)
REG_PASS=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')

failures=0
passes=0
declare -a TIMINGS=()
now_ms() { echo $(($(date +%s%N) / 1000000)); }
pass() { passes=$((passes + 1)); say "PASS  $*"; }
failed() { failures=$((failures + 1)); say "FAIL  $*"; }
# a failed step that later steps depend on: report it and stop (the trap cleans up)
fatal() { failed "$*"; exit 1; }
timing() { TIMINGS+=("$1=$2"); say "      $1: $(awk -v ms="$2" 'BEGIN{printf "%.1f s", ms/1000}')"; }
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { # free_port PREFERRED: PREFERRED or the next free port after it
  local p=$1
  while port_in_use "$p"; do p=$((p + 1)); done
  echo "$p"
}

[ "$(id -u)" = 0 ] || fail "run as root (rootful podman storage, apt-get for missing tools)"
ensure_container_tools docker-registry:docker-registry htpasswd:apache2-utils curl:curl

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rbd-e2e-registry.XXXXXX")
chmod 700 "$WORK"
REG_PID=
CONTAINER=rbd-e2e-$$
REMOTE=
CLUSTER_STARTED=
NODE_ROOT=$WORK/node/storage
NODE_RUNROOT=$WORK/node/run
DRIVER=$(podman info --format '{{.Store.GraphDriverName}}' 2>/dev/null || echo overlay)
# the "fresh node": an image store of its own, same driver as the host's
node_podman() { podman --root "$NODE_ROOT" --runroot "$NODE_RUNROOT" --storage-driver "$DRIVER" "$@"; }

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  say "cleaning up"
  if [ -d "$NODE_ROOT" ]; then
    node_podman rm -f -t 0 "$CONTAINER" >/dev/null 2>&1
    node_podman rmi -a -f >/dev/null 2>&1
  fi
  if [ -n "$REG_PID" ] && kill -0 "$REG_PID" 2>/dev/null; then
    kill -TERM "$REG_PID" 2>/dev/null
    wait "$REG_PID" 2>/dev/null
  fi
  [ -n "$REMOTE" ] && podman image exists "$REMOTE" && podman rmi "$REMOTE" >/dev/null 2>&1
  if [ -n "$CLUSTER_STARTED" ]; then
    if [ "${E2E_DESTROY_CLUSTER:-0}" = 1 ]; then
      bash "$HERE/ceph-cluster.sh" destroy "$E2E_CEPH_DIR" >/dev/null 2>&1
    else
      bash "$HERE/ceph-cluster.sh" down "$E2E_CEPH_DIR" >/dev/null 2>&1
    fi
  fi
  # containers/storage leaves its own mounts in the node store; unmount deepest first
  findmnt -rn -o TARGET 2>/dev/null | grep -F "$WORK/" | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
  done
  if [ "${E2E_KEEP:-0}" = 1 ]; then
    say "kept $WORK (E2E_KEEP=1)"
  else
    rm -rf "$WORK"
  fi
  say "summary: $passes passed, $failures failed; timings: ${TIMINGS[*]:-none}"
  if [ -d "$ROOT/.build" ] || mkdir -p "$ROOT/.build" 2>/dev/null; then
    local t json=
    for t in "${TIMINGS[@]}"; do json+="${json:+,}\"${t%%=*}\":${t#*=}"; done
    printf '{"passed":%d,"failed":%d,"timings_ms":{%s}}\n' "$passes" "$failures" "$json" \
      >"$ROOT/.build/e2e-registry.json" 2>/dev/null
  fi
  if [ "$failures" -gt 0 ] || [ "$rc" -ne 0 ]; then
    say "RESULT: FAIL"
    exit 1
  fi
  say "RESULT: PASS"
  exit 0
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# ---- 1. build ------------------------------------------------------------------------------------
if [ "${SKIP_BUILD:-0}" = 1 ]; then
  podman image exists "$IMAGE" || fatal "SKIP_BUILD=1 but $IMAGE is not in local storage"
  say "SKIP  build (SKIP_BUILD=1)"
else
  t0=$(now_ms)
  if IMAGE="$IMAGE" bash "$HERE/image-build.sh" >"$WORK/build.log" 2>&1 && podman image exists "$IMAGE"; then
    timing build_ms $(($(now_ms) - t0))
    pass "build $IMAGE"
  else
    tail -n 40 "$WORK/build.log" >&2
    fatal "build $IMAGE (log above)"
  fi
fi
podman image inspect --format '{{.Config.User}}' "$IMAGE" | grep -qx '10001:10001' ||
  failed "image user is 10001:10001 (got $(podman image inspect --format '{{.Config.User}}' "$IMAGE"))"

# ---- 2. private registry with htpasswd auth ---------------------------------------------------------
REGISTRY_PORT=$(free_port "${REGISTRY_PORT:-5055}")
REG=127.0.0.1:$REGISTRY_PORT
REMOTE=$REG/$REPO:$TAG
mkdir -p "$WORK/registry/data"
if command -v htpasswd >/dev/null 2>&1; then
  htpasswd -Bbn "$REG_USER" "$REG_PASS" >"$WORK/registry/htpasswd" 2>/dev/null
else # bcrypt without apache2-utils (IMAGE_TOOLS_NO_INSTALL=1)
  python3 -c 'import crypt,sys; print(sys.argv[1]+":"+crypt.crypt(sys.argv[2], crypt.mksalt(crypt.METHOD_BLOWFISH)))' \
    "$REG_USER" "$REG_PASS" >"$WORK/registry/htpasswd" 2>/dev/null
fi
grep -q "^$REG_USER:"'[$]2[aby][$]' "$WORK/registry/htpasswd" || fatal "htpasswd entry with a bcrypt hash"
cat >"$WORK/registry/config.yml" <<EOF
# written by scripts/e2e-registry.sh
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: $WORK/registry/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $REG
  secret: $(head -c 24 /dev/urandom | base64)
auth:
  htpasswd:
    realm: rbd-rest-api-e2e
    path: $WORK/registry/htpasswd
EOF
docker-registry serve "$WORK/registry/config.yml" >"$WORK/registry/registry.log" 2>&1 &
REG_PID=$!
code=
for _ in $(seq 1 100); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://$REG/v2/" 2>/dev/null)
  [ "$code" = 401 ] && break
  kill -0 "$REG_PID" 2>/dev/null || break
  sleep 0.1
done
if [ "$code" = 401 ]; then
  pass "docker-registry on $REG with htpasswd auth (GET /v2/ without credentials: 401)"
else
  tail -n 20 "$WORK/registry/registry.log" >&2
  fatal "docker-registry on $REG (GET /v2/ answered '$code', expected 401)"
fi
code=$(curl -s -o /dev/null -w '%{http_code}' -u "$REG_USER:$REG_PASS" "http://$REG/v2/")
[ "$code" = 200 ] && pass "GET /v2/ with credentials: 200" || failed "GET /v2/ with credentials: $code, expected 200"

# ---- 3. push with credentials -------------------------------------------------------------------
podman tag "$IMAGE" "$REMOTE" || fatal "podman tag $IMAGE $REMOTE"
t0=$(now_ms)
if podman push --quiet --tls-verify=false --creds "$REG_USER:$REG_PASS" "$REMOTE" >"$WORK/push.log" 2>&1; then
  timing push_ms $(($(now_ms) - t0))
  pass "push $REMOTE with credentials"
else
  cat "$WORK/push.log" >&2
  fatal "push $REMOTE with credentials"
fi
accept='application/vnd.docker.distribution.manifest.v2+json,application/vnd.oci.image.manifest.v1+json'
code=$(curl -s -o /dev/null -w '%{http_code}' -u "$REG_USER:$REG_PASS" -H "Accept: $accept" \
  "http://$REG/v2/$REPO/manifests/$TAG")
[ "$code" = 200 ] && pass "manifest $REPO:$TAG with credentials: 200" || failed "manifest with credentials: $code, expected 200"

# ---- 4. anonymous access is refused -----------------------------------------------------------------
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Accept: $accept" "http://$REG/v2/$REPO/manifests/$TAG")
[ "$code" = 401 ] && pass "anonymous GET /v2/$REPO/manifests/$TAG: 401" ||
  failed "anonymous GET /v2/$REPO/manifests/$TAG answered $code, expected 401"
code=$(curl -s -o /dev/null -w '%{http_code}' -u "$REG_USER:wrong-password" "http://$REG/v2/$REPO/manifests/$TAG")
[ "$code" = 401 ] && pass "wrong password: 401" || failed "wrong password answered $code, expected 401"
mkdir -p "$NODE_ROOT" "$NODE_RUNROOT"
echo '{"auths":{}}' >"$WORK/no-auth.json"
if node_podman pull --quiet --tls-verify=false --authfile "$WORK/no-auth.json" "$REMOTE" >"$WORK/anon-pull.log" 2>&1; then
  failed "anonymous podman pull must fail, but it succeeded"
elif grep -qiE 'unauthorized|401|authentication required' "$WORK/anon-pull.log"; then
  pass "anonymous podman pull refused ($(grep -oiE 'unauthorized[^;]*|authentication required' "$WORK/anon-pull.log" | head -n1))"
else
  cat "$WORK/anon-pull.log" >&2
  failed "anonymous podman pull failed, but not with 401 unauthorized (output above)"
fi

# ---- 5. .dockerconfigjson as kubectl create secret docker-registry writes it ------------------------------
if printf '%s' "$REG_PASS" | npx --no-install tsx scripts/pull-secret.ts --server "$REG" --username "$REG_USER" \
  --password-stdin >"$WORK/dockerconfig.json.tmp" 2>"$WORK/pull-secret.log"; then
  # the file on a node (and under data[".dockerconfigjson"]) has no trailing newline
  printf '%s' "$(cat "$WORK/dockerconfig.json.tmp")" >"$WORK/dockerconfig.json"
  auth=$(printf '%s:%s' "$REG_USER" "$REG_PASS" | base64 -w0)
  expected=$(printf '{"auths":{"%s":{"username":"%s","password":"%s","auth":"%s"}}}' "$REG" "$REG_USER" "$REG_PASS" "$auth")
  if [ "$(cat "$WORK/dockerconfig.json")" = "$expected" ]; then
    pass ".dockerconfigjson: auths.\"$REG\" with username, password and auth=base64(user:password)"
  else
    failed ".dockerconfigjson has an unexpected shape: $(sed "s/$REG_PASS/<password>/g" "$WORK/dockerconfig.json")"
  fi
  if command -v kubectl >/dev/null 2>&1 &&
    kubectl create secret docker-registry e2e --docker-server="$REG" --docker-username="$REG_USER" \
      --docker-password="$REG_PASS" --dry-run=client -o 'jsonpath={.data.\.dockerconfigjson}' \
      >"$WORK/kubectl.b64" 2>/dev/null && [ -s "$WORK/kubectl.b64" ]; then
    if [ "$(base64 -d <"$WORK/kubectl.b64")" = "$(cat "$WORK/dockerconfig.json")" ]; then
      pass ".dockerconfigjson is byte for byte what kubectl create secret docker-registry writes"
    else
      failed ".dockerconfigjson differs from kubectl's"
    fi
  else
    say "SKIP  comparison with kubectl (not installed)"
  fi
else
  cat "$WORK/pull-secret.log" >&2
  fatal "scripts/pull-secret.ts"
fi

# ---- 6. remove the tag locally, pull with the pull secret into an empty store ------------------------------
podman rmi "$REMOTE" >/dev/null 2>&1
if podman image exists "$REMOTE" || node_podman image exists "$REMOTE"; then
  failed "$REMOTE removed from local storage"
else
  pass "$REMOTE removed from local storage (the node store is empty: $(node_podman images -q | wc -l) images)"
fi
t0=$(now_ms)
if node_podman pull --tls-verify=false --authfile "$WORK/dockerconfig.json" "$REMOTE" >"$WORK/pull.log" 2>&1; then
  timing pull_ms $(($(now_ms) - t0))
  want=$(podman image inspect --format '{{.Id}}' "$IMAGE")
  got=$(node_podman image inspect --format '{{.Id}}' "$REMOTE")
  if [ "$want" = "$got" ]; then
    pass "pull with --authfile .dockerconfigjson ($(grep -c '^Copying blob' "$WORK/pull.log") blobs; image id ${got:0:12} = built image)"
  else
    failed "pulled image id ${got:0:12} differs from the built ${want:0:12}"
  fi
else
  cat "$WORK/pull.log" >&2
  fatal "pull with --authfile .dockerconfigjson"
fi

# ---- 7. Ceph cluster, hardened run of the pulled image -----------------------------------------------
t0=$(now_ms)
CLUSTER_STARTED=1
if MON_V2_PORT=${E2E_MON_V2_PORT:-3340} MON_V1_PORT=${E2E_MON_V1_PORT:-6840} CREATE_POOLS=rbd \
  bash "$HERE/ceph-cluster.sh" up "$E2E_CEPH_DIR" >"$WORK/cluster.log" 2>&1; then
  timing cluster_up_ms $(($(now_ms) - t0))
  pass "Ceph cluster up in $E2E_CEPH_DIR (pool rbd)"
else
  tail -n 30 "$WORK/cluster.log" >&2
  fatal "Ceph cluster up in $E2E_CEPH_DIR"
fi
# What a ConfigMap would hold: the cluster's ceph.conf names host paths (keyring, run_dir, daemon
# sections) that do not exist in the container; a client needs only fsid and mon_host.
cfg=$WORK/etc-ceph
mkdir -p "$cfg"
fsid=$(sed -n 's/^fsid *= *//p' "$E2E_CEPH_DIR/ceph.conf" | head -n1)
mon_host=$(sed -n 's/^mon_host *= *//p' "$E2E_CEPH_DIR/ceph.conf" | head -n1)
[ -n "$fsid" ] && [ -n "$mon_host" ] || fatal "fsid and mon_host from $E2E_CEPH_DIR/ceph.conf"
printf '# client configuration for the container (written by scripts/e2e-registry.sh)\n[global]\nfsid = %s\nmon_host = %s\n' \
  "$fsid" "$mon_host" >"$cfg/ceph.conf"
keyring_src=$E2E_CEPH_DIR/ceph.client.$E2E_CLIENT.keyring
[ -s "$keyring_src" ] || fatal "keyring $keyring_src"
# as the kubelet lays out the Deployment's Secret/ConfigMap volumes: root-owned, group 10001 (fsGroup), 0440
install -m 0440 -o 0 -g 10001 "$keyring_src" "$cfg/keyring"
chown 0:10001 "$cfg/ceph.conf" && chmod 0440 "$cfg/ceph.conf"
# bearer tokens (API_TOKENS_FILE), REQUIRE_AUTH=true as in k8s/base/configmap.yaml
API_TOKEN=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
mkdir -p "$WORK/etc-rbd-rest-api"
printf '# written by scripts/e2e-registry.sh\n%s admin * e2e\n' "$API_TOKEN" >"$WORK/etc-rbd-rest-api/tokens"
chown 0:10001 "$WORK/etc-rbd-rest-api/tokens" && chmod 0440 "$WORK/etc-rbd-rest-api/tokens"
APP_PORT=$(free_port "${APP_PORT:-18080}")
t_start=$(now_ms)
if node_podman run -d --name "$CONTAINER" --pull=never \
  --read-only --read-only-tmpfs=false --tmpfs /tmp:rw,nosuid,nodev,size=64m,mode=1777 \
  --cap-drop=ALL --security-opt no-new-privileges --user 10001:10001 \
  --network host --no-healthcheck \
  -v "$cfg/ceph.conf:/etc/ceph/ceph.conf:ro" \
  -v "$cfg/keyring:/etc/ceph/keyring:ro" \
  -v "$WORK/etc-rbd-rest-api:/etc/rbd-rest-api:ro" \
  -e CEPH_CONF=/etc/ceph/ceph.conf -e CEPH_CLIENT_ID="$E2E_CLIENT" \
  -e CEPH_KEYRING=/etc/ceph/keyring \
  -e API_TOKENS_FILE=/etc/rbd-rest-api/tokens -e REQUIRE_AUTH=true \
  -e HOST=127.0.0.1 -e PORT="$APP_PORT" -e SHUTDOWN_TIMEOUT_MS=8000 -e UV_THREADPOOL_SIZE=24 \
  "$REMOTE" >"$WORK/run.log" 2>&1; then
  pass "run the pulled image: read-only root, tmpfs /tmp, cap-drop ALL, no-new-privileges, user 10001, ceph.conf + keyring read-only"
else
  cat "$WORK/run.log" >&2
  fatal "podman run $REMOTE"
fi
logs() { node_podman logs "$CONTAINER" 2>&1 | tail -n "${1:-30}" >&2; }

# ---- 8. /readyz and /api/v1/pools -----------------------------------------------------------------
deadline=$(($(now_ms) + READY_WAIT * 1000))
ready=
while [ "$(now_ms)" -lt "$deadline" ]; do
  if [ "$(curl -s -o "$WORK/readyz.json" -w '%{http_code}' --max-time 3 "http://127.0.0.1:$APP_PORT/readyz")" = 200 ]; then
    ready=1
    break
  fi
  [ "$(node_podman inspect --format '{{.State.Running}}' "$CONTAINER" 2>/dev/null)" = true ] || break
  sleep 0.25
done
if [ -n "$ready" ]; then
  timing ready_ms $(($(now_ms) - t_start))
  pass "GET /readyz: 200 $(cat "$WORK/readyz.json")"
else
  logs 40
  fatal "GET /readyz did not answer 200 within ${READY_WAIT} s (last: $(cat "$WORK/readyz.json" 2>/dev/null))"
fi
code=
deadline=$(($(now_ms) + READY_WAIT * 1000))
while [ "$(now_ms)" -lt "$deadline" ]; do
  code=$(curl -s -o "$WORK/pools.json" -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $API_TOKEN" \
    "http://127.0.0.1:$APP_PORT/api/v1/pools")
  [ "$code" = 200 ] && break
  sleep 0.5
done
if [ "$code" = 200 ] && grep -q '"name":"rbd"' "$WORK/pools.json"; then
  pass "GET /api/v1/pools with a bearer token: 200, lists pool rbd"
else
  logs 20
  failed "GET /api/v1/pools: '$code' $(head -c 300 "$WORK/pools.json" 2>/dev/null)"
fi
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$APP_PORT/api/v1/pools")
[ "$code" = 401 ] && pass "GET /api/v1/pools without a token: 401 (token file read from a read-only mount)" ||
  failed "GET /api/v1/pools without a token answered $code, expected 401"

# the hardening really is in effect inside the container
# shellcheck disable=SC2016
probe='for p in /proc/[0-9]*; do [ -r $p/status ] && grep -hE "^(Uid|Gid|CapEff|CapPrm|NoNewPrivs):" $p/status; done
  touch /app/x 2>/dev/null && echo ROOTFS_WRITABLE
  touch /etc/ceph/ceph.conf 2>/dev/null && echo CONF_WRITABLE
  touch /tmp/x && echo TMP_WRITABLE'
if out=$(node_podman exec "$CONTAINER" sh -c "$probe" 2>&1); then
  bad=$(grep -vE '^(Uid|Gid):[[:space:]]+10001[[:space:]]+10001[[:space:]]+10001[[:space:]]+10001$|^Cap(Eff|Prm):[[:space:]]+0+$|^NoNewPrivs:[[:space:]]+1$|^TMP_WRITABLE$' <<<"$out")
  if [ -z "$bad" ] && grep -q TMP_WRITABLE <<<"$out" && grep -q '^NoNewPrivs' <<<"$out"; then
    pass "inside: every process uid/gid 10001, no capabilities, no_new_privs; / and ceph.conf read-only; /tmp writable"
  else
    failed "inside the container: unexpected $(tr '\n' ' ' <<<"$bad")"
  fi
else
  failed "podman exec probe: $out"
fi

# ---- 9. SIGTERM -----------------------------------------------------------------------------------
t0=$(now_ms)
node_podman kill --signal TERM "$CONTAINER" >/dev/null 2>&1 || failed "podman kill --signal TERM"
exit_code=$(timeout 15 podman --root "$NODE_ROOT" --runroot "$NODE_RUNROOT" --storage-driver "$DRIVER" \
  wait "$CONTAINER" 2>"$WORK/wait.log")
elapsed=$(($(now_ms) - t0))
[ -n "$exit_code" ] || { cat "$WORK/wait.log" >&2; node_podman inspect --format 'state {{.State.Status}} exit {{.State.ExitCode}}' "$CONTAINER" >&2; }
timing sigterm_exit_ms "$elapsed"
if [ "$exit_code" = 0 ] && [ "$elapsed" -le "$STOP_LIMIT_MS" ]; then
  pass "SIGTERM: exited with code 0 in ${elapsed} ms (limit ${STOP_LIMIT_MS} ms)"
else
  logs 20
  failed "SIGTERM: exit code '${exit_code:-still running}' after ${elapsed} ms (want 0 within ${STOP_LIMIT_MS} ms)"
fi
if node_podman logs "$CONTAINER" 2>&1 | grep -q '"msg":"stopped"'; then
  pass "service logged a clean shutdown"
else
  logs 10
  failed "no 'stopped' line in the service log"
fi
