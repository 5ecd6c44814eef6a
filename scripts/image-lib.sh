# scripts/image-lib.sh — shared by scripts/image-base.sh, image-build.sh and e2e-registry.sh (sourced, not run).
#
# Sets up buildah/podman the way they work on these machines: no Docker daemon, root, chroot
# isolation for builds, runc (crun refuses this cgroup setup), cgroupfs, host networking, and
# default ulimits at or below the machine's hard limits. Installs missing tools from Debian.
#
# Knobs: STORAGE_DRIVER (overlay by default, vfs also works), CONTAINERS_CONF (our generated file
# unless you bring your own), IMAGE_TOOLS_NO_INSTALL=1 (fail instead of apt-get install).

say() { echo "[${SCRIPT_NAME:-image} $(date +%T)] $*" >&2; }
fail() { say "error: $*"; exit 1; }

# ensure_tools CMD:PACKAGE ... — install the Debian packages whose command is missing
ensure_tools() {
  local pair cmd pkg missing=()
  for pair in "$@"; do
    cmd=${pair%%:*} pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || [ -n "${IMAGE_TOOLS_NO_INSTALL:-}" ]; then
    fail "missing tools; install them as root: apt-get install -y --no-install-recommends ${missing[*]}"
  fi
  say "installing ${missing[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "${IMAGE_APT_UPDATED:-}" ]; then
    apt-get update -qq >/dev/null || fail "apt-get update failed"
    IMAGE_APT_UPDATED=1
  fi
  # sort -u: several commands can come from one package
  # shellcheck disable=SC2046
  apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null ||
    fail "apt-get install ${missing[*]} failed"
}

ensure_container_tools() {
  ensure_tools buildah:buildah podman:podman runc:runc "$@"
  export BUILDAH_ISOLATION=chroot
  if [ -z "${CONTAINERS_CONF:-}" ]; then
    local dir=${TMPDIR:-/tmp}/rbd-rest-api-containers nofile nproc
    nofile=$(ulimit -Hn) nproc=$(ulimit -Hu)
    [ "$nofile" = unlimited ] && nofile=1048576
    [ "$nofile" -gt 65536 ] && nofile=65536
    # podman lowers its own RLIMIT_NPROC to 32768 and runc cannot set more than that
    [ "$nproc" = unlimited ] && nproc=32768
    [ "$nproc" -gt 32768 ] && nproc=32768
    mkdir -p "$dir"
    cat >"$dir/containers.conf" <<EOF
# written by scripts/image-lib.sh
[containers]
netns = "host"
utsns = "host"
cgroupns = "host"
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
EOF
    export CONTAINERS_CONF=$dir/containers.conf
  fi
}
