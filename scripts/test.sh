#!/usr/bin/env bash
# npm test — the whole test suite on a fresh machine: installs what is missing, type-checks, builds,
# boots a throwaway Ceph cluster (vitest global setup), runs unit and integration tests, then the
# container image end-to-end test (test/e2e/container.test.ts: testcontainers over podman's API — build,
# private registry with auth, pull with the pull secret, hardened run against a Ceph cluster container).
# SKIP_IMAGE_E2E=1 leaves out the container part for a quick local loop (CI never sets it).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test || exit 1

export UV_THREADPOOL_SIZE=${UV_THREADPOOL_SIZE:-24}
export TEST_CEPH_DIR=${TEST_CEPH_DIR:-$PWD/.ceph/test}
mkdir -p .build
status=0
trap 'bash scripts/ceph-cluster.sh down "$TEST_CEPH_DIR" >/dev/null 2>&1 || true' EXIT

echo "== typecheck + build"
npx tsc -p tsconfig.json --noEmit || status=1
npm run --silent build || status=1

# vitest projects (vitest.config.ts): unit and api side by side (two files at a time, the api files on the
# shared cluster), then fault alone, one file at a time (OSD/monitor faults on clusters of their own, kill -9
# and SIGSTOP of service processes, hung OSD operations, memory under load).
# RBD mirroring (two clusters with an rbd-mirror daemon each, booted and taken down by the project's global
# setup) mostly waits on replication, and the fault files use one core: it runs in a vitest process of its own,
# started when the first fault file starts (the fault project's setup file writes the marker), so the two
# phases overlap instead of adding up. Its output is printed after the main run's.
export TEST_SERVICE_ENTRY=dist # the service processes tests start run the build just made
export FAULT_PHASE_MARKER=$PWD/.build/fault-phase
rm -f "$FAULT_PHASE_MARKER" .build/mirror.log .build/mirror.rc
(
  # the marker, or the main run's end (written below when it ended before any fault file started)
  until [ -e "$FAULT_PHASE_MARKER" ]; do sleep 1; done
  npx vitest run --project mirror --reporter=default --reporter=json --outputFile.json=.build/vitest-mirror.json \
    >.build/mirror.log 2>&1
  echo $? >.build/mirror.rc
) &
mirror_job=$!
echo "== unit, api and fault tests (vitest, real Ceph cluster); mirroring between two clusters beside the fault tests"
npx vitest run --project unit --project api --project fault --reporter=default --reporter=json --outputFile.json=.build/vitest.json || status=1
touch "$FAULT_PHASE_MARKER"
wait "$mirror_job"
echo "== mirroring between two clusters (vitest project mirror, run beside the fault tests)"
cat .build/mirror.log
[ "$(cat .build/mirror.rc 2>/dev/null)" = 0 ] || status=1

reports=(.build/vitest.json .build/vitest-mirror.json)
rm -f .build/vitest-e2e.json
if [ "${SKIP_IMAGE_E2E:-0}" != 1 ]; then
  # after the rest, alone: the image builds take both cores
  echo "== container image end-to-end (testcontainers over podman: private registry, pull secret, hardened run)"
  npx vitest run --project e2e --reporter=default --reporter=json --outputFile.json=.build/vitest-e2e.json || status=1
  reports+=(.build/vitest-e2e.json)
fi

node -e '
  const fs = require("fs");
  let passed = 0, failed = 0, skipped = 0;
  for (const file of process.argv.slice(1)) {
    try {
      const r = JSON.parse(fs.readFileSync(file, "utf8"));
      passed += r.numPassedTests; skipped += r.numPendingTests + r.numTodoTests;
      failed += r.numFailedTests || (r.numFailedTestSuites > 0 ? r.numFailedTestSuites : 0);
    } catch { failed += 1; }
  }
  console.log(`\n${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "${reports[@]}"
exit $status
