// Loads librados and librbd once, after configuring koffi. The only place that opens the shared objects.
import koffi from 'koffi';

/** Upper bound on koffi async calls in flight; our own limiter (async-call.ts) stays well below it. */
export const KOFFI_MAX_ASYNC_CALLS = 1024;

/**
 * Sets of call memory (stack + heap blocks, 256 KiB) kept for async calls. koffi mallocs and frees a fresh
 * set for every async call beyond this many in flight: with the default 8 and 16 Ceph calls in flight,
 * that cost ~100 µs of main-thread time per call and was a third of the event loop's work under load.
 * 32 is koffi's maximum; the native call limit (CEPH_CONCURRENCY, default 16) should stay at or below it.
 */
export const KOFFI_RESIDENT_ASYNC_POOLS = 32;

// Must run before the first library is loaded.
koffi.config({ ...koffi.config(), max_async_calls: KOFFI_MAX_ASYNC_CALLS, resident_async_pools: KOFFI_RESIDENT_ASYNC_POOLS });

export const librados = koffi.load(process.env.LIBRADOS_PATH ?? 'librados.so.2');
export const librbd = koffi.load(process.env.LIBRBD_PATH ?? 'librbd.so.1');

export { koffi };
