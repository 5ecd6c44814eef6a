#!/usr/bin/env bash
# scripts/setup.sh — everything the project needs on a fresh Debian machine: Ceph from Debian's packages,
# the headers and compiler for the C baseline, and the npm dependencies. Safe to run again.
#
#   scripts/setup.sh           what the service, npm run dev and the cluster tests need
#   scripts/setup.sh --test    also what the rest of npm test needs: Debian's chromium (Swagger UI driven by
#                              playwright-core, no browser download) and the container tools of the image
#                              end-to-end test (podman, buildah, runc, docker-registry, htpasswd, mmdebstrap)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "[setup] $*" >&2; }
PACKAGES=(ceph-mon ceph-osd ceph-mgr ceph-common librados2 librbd1 librados-dev librbd-dev gcc qemu-utils rbd-mirror)
if [ "${1:-}" = --test ]; then
  PACKAGES+=(chromium)
  # SKIP_IMAGE_E2E=1 npm test leaves the container test out, and so its tools
  [ "${SKIP_IMAGE_E2E:-0}" = 1 ] || PACKAGES+=(podman buildah runc docker-registry apache2-utils mmdebstrap curl)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    say "missing Debian packages: ${missing[*]}"
    say "install them as root: sudo apt-get install -y --no-install-recommends ${missing[*]}"
    exit 1
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node.js: 24 LTS recommended (what the container image runs); >= 20.12 works (package.json engines)
command -v node >/dev/null || { say "Node.js >= 20.12 is required (24 LTS recommended); node not found"; exit 1; }
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 12) ? 0 : 1)' ||
  { say "Node.js >= 20.12 is required (24 LTS recommended), found $(node --version)"; exit 1; }

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi
