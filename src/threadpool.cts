// libuv's threadpool size, set before anything uses the pool. Preloaded as CommonJS — the image runs
// `node --require ./dist/threadpool.cjs dist/main.js` — because libuv sizes its pool once, at the first
// piece of work, and the ES module loader does that work (it reads dist/main.js on the pool) before any line
// of an ES module runs: setting UV_THREADPOOL_SIZE in src/main.ts would be too late (measured: 4 threads).
//
// Ceph calls run on the pool (src/native/async-call.ts): CEPH_CONCURRENCY request-sized calls, CEPH_LONG_CONCURRENCY
// long calls, the transfers' extent walks, one readiness probe, and one thread left for fs/dns/crypto (configureConcurrency in
// src/ceph/connection.ts keeps the limits below the pool). Without UV_THREADPOOL_SIZE the pool is sized for
// that, so the defaults serve fully with no configuration; an explicit UV_THREADPOOL_SIZE is left alone.

/** src/config.ts's defaults for the two limits. */
const DEFAULT_CONCURRENCY = 16;
const DEFAULT_LONG_CONCURRENCY = 2;
/** the transfers' extent walks (transferLimiter in src/native/async-call.ts) */
const TRANSFER_THREADS = 2;

function positive(v: string | undefined, fallback: number): number {
  const n = Number(v);
  return v !== undefined && v.trim() !== '' && Number.isInteger(n) && n > 0 ? n : fallback;
}

/**
 * The pool that lets CEPH_CONCURRENCY and CEPH_LONG_CONCURRENCY run in full beside the transfers' extent walks:
 * their sum + 2 + 2, at most 1024 (libuv's cap).
 */
function threadpoolFor(env: Record<string, string | undefined>): number {
  const limit = positive(env.CEPH_CONCURRENCY, DEFAULT_CONCURRENCY);
  const long = positive(env.CEPH_LONG_CONCURRENCY, DEFAULT_LONG_CONCURRENCY);
  return Math.min(1024, limit + long + TRANSFER_THREADS + 2);
}

if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = String(threadpoolFor(process.env));

export = { threadpoolFor };
