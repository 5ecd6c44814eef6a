// WORKER_NICE: every thread but the event loop's gets the nice value; the main thread keeps its own.
import { readdirSync, readFileSync } from 'node:fs';
import { pbkdf2 } from 'node:crypto';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { lowerWorkerPriority } from '../../src/ceph/worker-priority.js';

/** nice value of each thread of this process, by thread id (field 19 of /proc/<pid>/task/<tid>/stat) */
function niceByThread(): Map<number, number> {
  const out = new Map<number, number>();
  for (const t of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(t), Number(fields[16]));
    } catch {
      // the thread ended
    }
  }
  return out;
}

describe('lowerWorkerPriority', () => {
  it('gives every thread but the main one the nice value, and catches threads started later', async () => {
    const mainBefore = niceByThread().get(process.pid);
    const stop = lowerWorkerPriority(7, 50);
    try {
      // start libuv's threadpool (if not yet) and keep it busy: these threads may be new
      await Promise.all(Array.from({ length: 8 }, () => promisify(pbkdf2)('x', 'y', 20_000, 32, 'sha256')));
      await new Promise((r) => setTimeout(r, 200));
      const nice = niceByThread();
      expect(nice.size).toBeGreaterThan(2);
      expect(nice.get(process.pid)).toBe(mainBefore);
      for (const [tid, n] of nice) if (tid !== process.pid) expect({ tid, n }).toEqual({ tid, n: 7 });
    } finally {
      stop();
    }
  });

  it('does nothing with nice 0', () => {
    const before = niceByThread();
    lowerWorkerPriority(0)();
    expect(niceByThread()).toEqual(before);
  });
});
