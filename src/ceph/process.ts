// Process-wide settings of the native layer: the call limiters' concurrency, their load, malloc tuning, the
// observer of every librados/librbd call (metrics), and the library version.
import { radosCluster } from '../native/rados-cluster.js';
import { limiter, longLimiter, threadpoolSize, transferLimiter } from '../native/async-call.js';
import { errnoName } from '../native/errno.js';
import { capMallocArenas, trimMalloc } from '../native/malloc.js';

/** librados and librbd versions, e.g. "3.0.0" (librados API version, not Ceph's). */
export function libraryVersion(): string {
  const a = [0], b = [0], c = [0];
  radosCluster.version(a, b, c);
  return `${a[0]}.${b[0]}.${c[0]}`;
}

/** The process-wide native call limiter: concurrency must stay below UV_THREADPOOL_SIZE. */
export function configureConcurrency(limit: number, maxQueue: number, longLimit = 2): { limit: number; longLimit: number; threadpool: number } {
  const threadpool = threadpoolSize();
  const long = Math.max(1, Math.min(longLimit, threadpool - 3));
  // the transfers' extent walks (transferLimiter) have their own threads too
  const effective = Math.max(1, Math.min(limit, threadpool - 2 - long - transferLimiter.concurrency));
  limiter.configure(effective, maxQueue);
  longLimiter.configure(long, 10_000);
  return { limit: effective, longLimit: long, threadpool };
}

export function nativeLoad(): { inFlight: number; queued: number; concurrency: number; longInFlight: number; longQueued: number } {
  return {
    inFlight: limiter.inFlight, queued: limiter.queued, concurrency: limiter.concurrency,
    longInFlight: longLimiter.inFlight, longQueued: longLimiter.queued,
  };
}

export { limiter as nativeLimiter, longLimiter as nativeLongLimiter };

/**
 * Process memory: cap glibc malloc arenas, and hand freed heap pages back to the kernel (see
 * src/native/malloc.ts): every `trimEveryMs` while work goes on, and once soon after a burst of Ceph calls
 * ends (the native layer idle for 250 ms), so RSS follows the work down instead of waiting for the next
 * tick. Call once at start; returns a stop function.
 */
export function tuneProcessMemory(maxArenas = 2, trimEveryMs = 10_000): () => void {
  capMallocArenas(maxArenas);
  if (trimEveryMs <= 0) return () => undefined;
  let running = false;
  let trimmedAt = limiter.completed;
  let lastTrim = 0;
  const runTrim = (): void => {
    if (running) return;
    running = true;
    lastTrim = Date.now();
    void trimMalloc().finally(() => { running = false; trimmedAt = limiter.completed; });
  };
  const periodic = setInterval(runTrim, trimEveryMs);
  periodic.unref();
  let idleSince = 0;
  const idleCheck = setInterval(() => {
    if (limiter.inFlight > 0 || limiter.queued > 0) { idleSince = 0; return; }
    const now = Date.now();
    if (idleSince === 0) idleSince = now;
    // at least 250 ms idle, work since the last trim, and not more often than once a second
    if (now - idleSince >= 250 && limiter.completed !== trimmedAt && now - lastTrim >= 1000) runTrim();
  }, 125);
  idleCheck.unref();
  return () => { clearInterval(periodic); clearInterval(idleCheck); };
}

/** Sees every finished librados/librbd call: its name, duration, and the errno name when it returned one. */
export type CephCallObserver = (op: string, seconds: number, errno: string | undefined) => void;

/** One observer per process (the metrics of the running app); undefined removes it. */
export function observeCephCalls(observer: CephCallObserver | undefined): void {
  const wrapped = observer && ((name: string, seconds: number, result: unknown, error?: unknown) => {
    const errno = error !== undefined ? 'EFAULT' : typeof result === 'number' && result < 0 ? errnoName(result) : undefined;
    observer(name, seconds, errno);
  });
  limiter.observe(wrapped);
  longLimiter.observe(wrapped);
}
