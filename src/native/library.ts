// Loads librados and librbd once, after configuring koffi. The only place that opens the shared objects.
import koffi from 'koffi';

/** Upper bound on koffi async calls in flight; our own limiter (async-call.ts) stays well below it. */
export const KOFFI_MAX_ASYNC_CALLS = 1024;

// Must run before the first library is loaded.
koffi.config({ ...koffi.config(), max_async_calls: KOFFI_MAX_ASYNC_CALLS });

export const librados = koffi.load(process.env.LIBRADOS_PATH ?? 'librados.so.2');
export const librbd = koffi.load(process.env.LIBRBD_PATH ?? 'librbd.so.1');

export { koffi };
