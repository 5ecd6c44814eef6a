#!/usr/bin/env bash
# npm test — the whole test suite on a fresh machine: installs what is missing, type-checks, builds,
# boots a throwaway Ceph cluster (vitest global setup), runs unit and integration tests, then the
# container image end-to-end test (build, private registry with auth, pull, run against the cluster).
# SKIP_IMAGE_E2E=1 leaves out the container part for a quick local loop (CI never sets it).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1

export UV_THREADPOOL_SIZE=${UV_THREADPOOL_SIZE:-24}
export TEST_CEPH_DIR=${TEST_CEPH_DIR:-$PWD/.ceph/test}
mkdir -p .build
status=0
trap 'bash scripts/ceph-cluster.sh down "$TEST_CEPH_DIR" >/dev/null 2>&1 || true' EXIT

echo "== typecheck + build"
npx tsc -p tsconfig.json --noEmit || status=1
npm run --silent build || status=1

echo "== unit and integration tests (vitest, real Ceph cluster)"
npx vitest run --reporter=default --reporter=json --outputFile.json=.build/vitest.json || status=1

e2e_passed=0
e2e_failed=0
if [ "${SKIP_IMAGE_E2E:-0}" != 1 ] && [ -f scripts/e2e-registry.sh ]; then
  echo "== container image end-to-end (private registry, pull secret, hardened run)"
  if bash scripts/e2e-registry.sh; then e2e_passed=1; else e2e_failed=1; status=1; fi
fi

node -e '
  const fs = require("fs");
  let passed = 0, failed = 0, skipped = 0;
  try {
    const r = JSON.parse(fs.readFileSync(".build/vitest.json", "utf8"));
    passed = r.numPassedTests; failed = r.numFailedTests + (r.numFailedTestSuites || 0) * 0; skipped = r.numPendingTests + r.numTodoTests;
    if (r.numFailedTestSuites > 0 && failed === 0) failed = r.numFailedTestSuites;
  } catch { failed = 1; }
  passed += Number(process.argv[1]); failed += Number(process.argv[2]);
  console.log(`\n${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$e2e_passed" "$e2e_failed"
exit $status
