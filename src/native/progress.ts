// librbd progress callbacks for long operations (tasks). librbd calls a progress function without a NULL
// check (a NULL callback crashes the process: rbd-lifecycle-facts §0.1), from its own threads; koffi runs
// each call on the JS main thread and blocks that librbd thread until JS returns. So the JS side does the
// least possible: it records the numbers and answers "go on" (0) or "stop" (-ECANCELED); the caller reads
// the recorded progress on its own (throttled) schedule.
//
// The native call that receives the callback must be made with `.async` (a sync call would block the main
// thread that has to run the callback: deadlock), and the callback must stay registered until that call
// has returned: `unregister()` comes after.
//
// This file declares the librbd_progress_fn_t type the bindings name (import it before binding them), and
// noProgress for calls whose progress nobody reads.
import { koffi } from './library.js';

/** typedef int (*librbd_progress_fn_t)(uint64_t offset, uint64_t total, void *ptr); */
const ProgressFn = koffi.proto('int librbd_progress_fn_t(uint64_t offset, uint64_t total, void *ptr)');

/** The one progress type every binding uses (`librbd_progress_fn_t *cb` in their prototypes). */
export const PROGRESS_FN_POINTER = 'librbd_progress_fn_t *';

/**
 * A progress callback that does nothing. librbd calls the callback it is given without a NULL check, so NULL
 * crashes the process. A JS callback (koffi.register) would be run on the JS main thread for every object
 * librbd touches — a shrink or removal without object map calls it ~12,000 times a second and blocks a librbd
 * thread on each. So it is C code instead: libc's `int sched_yield(void)`, which ignores the arguments (passed
 * in registers on x86-64 and arm64) and returns 0 ("go on"). A JS no-op only if libc cannot be searched.
 */
export const noProgress: unknown = (() => {
  try {
    // void *dlsym(void *handle, const char *symbol);
    const dlsym = koffi.load('libc.so.6').func('void *dlsym(void *handle, const char *symbol)') as (h: null, s: string) => bigint | null;
    const p = dlsym(null, 'sched_yield'); // RTLD_DEFAULT
    if (p) return p;
  } catch { /* below */ }
  return koffi.register(() => 0, koffi.pointer(ProgressFn));
})();

const ECANCELED = 125;

export interface ProgressCallback {
  /** the registered C function pointer: pass it as the librbd_progress_fn_t argument */
  readonly pointer: unknown;
  /** the last (offset, total) librbd reported, and how many calls came */
  readonly offset: number;
  readonly total: number;
  readonly calls: number;
  /** fraction 0..1 (0 before the first call) */
  readonly fraction: number;
  /** from now on, every call answers -ECANCELED (librbd stops at its next step) */
  cancel(): void;
  /** release the callback; only after the native call that uses it has returned */
  unregister(): void;
}

/** Register a progress callback. `onCall` (optional) runs on every call: keep it trivial. */
export function registerProgress(onCall?: () => void): ProgressCallback {
  let offset = 0, total = 0, calls = 0, cancelled = false, registered = true;
  const pointer = koffi.register((o: number | bigint, t: number | bigint) => {
    offset = Number(o);
    total = Number(t);
    calls++;
    if (onCall) {
      try { onCall(); } catch { /* never throw into librbd */ }
    }
    return cancelled ? -ECANCELED : 0;
  }, PROGRESS_FN_POINTER);
  return {
    pointer,
    get offset() { return offset; },
    get total() { return total; },
    get calls() { return calls; },
    get fraction() { return total > 0 ? Math.min(1, Math.max(0, offset / total)) : 0; },
    cancel() { cancelled = true; },
    unregister() {
      if (!registered) return;
      registered = false;
      koffi.unregister(pointer);
    },
  };
}
