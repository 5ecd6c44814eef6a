#!/usr/bin/env bash
# scripts/e2e-registry.sh — the container image end-to-end test on its own: build the image, private registry
# with htpasswd authentication, anonymous pull refused, pull with the generated .dockerconfigjson, hardened
# run against a Ceph cluster container, SIGTERM. The steps are test/e2e/container.test.ts (vitest +
# testcontainers over podman's API); `npm test` runs it too. Run as root. Timings: .build/e2e-container.json.
set -euo pipefail
cd "$(dirname "$0")/.."
exec env TEST_SKIP_CLUSTER=1 npx vitest run test/e2e/container.test.ts "$@"
