// The event loop before the workers. librbd and librados do their CPU work on their own threads and on
// libuv's workers; on a busy machine those threads compete with the one thread that answers HTTP, and
// probes and small requests wait for a core behind image opens (measured: /healthz p99 19 ms with 64
// single-image GETs in flight and the main thread only 20 % busy). Lowering the priority (raising the nice
// value) of every thread but the main one lets the event loop run first; Ceph calls still get every core
// the loop does not need (p99 5–6 ms, same GET rate). Raising nice needs no privilege.
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * Give every thread of this process except the main one the nice value `nice`, now and every `rescanMs`
 * (librados and libuv start threads later). Returns a stop function. nice 0 does nothing.
 */
export function lowerWorkerPriority(nice: number, rescanMs = 5_000): () => void {
  if (nice <= 0) return () => undefined;
  const done = new Set<number>();
  const scan = (): void => {
    let tids: string[];
    try {
      tids = readdirSync('/proc/self/task');
    } catch {
      return; // not Linux: nothing to do
    }
    for (const t of tids) {
      const tid = Number(t);
      if (tid === process.pid || done.has(tid)) continue;
      done.add(tid);
      try {
        setPriority(tid, nice); // setpriority(PRIO_PROCESS, tid): on Linux, that one thread
      } catch {
        // the thread ended meanwhile, or the system refuses: leave it
      }
    }
    if (done.size > 4096) done.clear(); // thread ids are reused; a re-nice is harmless
  };
  scan();
  const timer = setInterval(scan, rescanMs);
  timer.unref();
  return () => clearInterval(timer);
}
