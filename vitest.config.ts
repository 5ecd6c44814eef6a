import { defineConfig } from 'vitest/config';

// Forked workers inherit this: Ceph calls run on libuv's threadpool, which must be larger than
// the native call limit (see src/native/async-call.ts).
process.env.UV_THREADPOOL_SIZE ??= '24';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // integration files share one cluster; two at a time keeps a 2-core machine responsive
    maxWorkers: 2,
    reporters: ['default'],
  },
});
