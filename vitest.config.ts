import { defineConfig } from 'vitest/config';

// Forked workers inherit this: Ceph calls run on libuv's threadpool, which must be larger than
// the native call limit (see src/native/async-call.ts).
process.env.UV_THREADPOOL_SIZE ??= '24';

/**
 * The files that break the cluster or a process on purpose: they stop or kill an OSD or the monitor (on
 * clusters of their own), hang OSD operations on a pool, or SIGSTOP a service past its lease. They run one at
 * a time, after the API tests, so they neither disturb those nor get disturbed by them. (The kill -9 suites —
 * snapshots-kill, manage-kill, tasks-kill — kill only service processes they started themselves and stay with
 * the API tests: serially they would add ~8 minutes to every run.)
 */
export const FAULT_FILES = [
  'faults-osd', 'faults-monitor', 'faults-load', // an OSD / the monitor lost; SIGTERM with 50 creates in flight
  'robustness-stuck', // OSD operations that hang; SIGTERM of a process with stuck calls
  'tasks-fence', // SIGSTOP past the task lease
].map((f) => `test/integration/${f}.test.ts`);

export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        // no cluster; beside the API tests (same group: the same two workers)
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], maxWorkers: 2, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: {
          name: 'api',
          include: ['test/integration/**/*.test.ts'],
          exclude: FAULT_FILES,
          // boots the throwaway test cluster (or finds it running: TEST_CEPH_DIR); every file has pools of its own
          globalSetup: ['test/helpers/global-setup.ts'],
          // two files at a time keeps a 2-core machine responsive
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'fault',
          include: FAULT_FILES,
          globalSetup: ['test/helpers/global-setup.ts'],
          // marks the start of this phase for scripts/test.sh, which then starts the mirror project beside it
          setupFiles: ['test/helpers/fault-phase.ts'],
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          // RBD mirroring between two clusters with their rbd-mirror daemons (scripts/ceph-sites.sh), booted afresh
          // by its own global setup and taken down after: one file. npm test runs it in a vitest process of its
          // own beside the fault project (it mostly waits on replication; the fault files use one core)
          name: 'mirror',
          include: ['test/mirror/**/*.test.ts'],
          globalSetup: ['test/helpers/sites-setup.ts'],
          maxWorkers: 1,
          sequence: { groupOrder: 2 },
        },
      },
      {
        extends: true,
        // the container image end to end (npm test runs it last, alone: image builds take both cores)
        test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], maxWorkers: 1, sequence: { groupOrder: 2 } },
      },
    ],
  },
});
