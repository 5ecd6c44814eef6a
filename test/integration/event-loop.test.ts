// With 32 Ceph operations in flight, the event loop stays responsive: 99% of the ticks of a 10 ms timer
// are less than 25 ms late, and between two ticks the loop is never busy for 100 ms. Every
// librados/librbd call that touches the network runs on libuv's threadpool; one on the main thread
// would stall every tick behind it (hundreds of round trips here), which both bounds catch.
// "Busy" is the loop's own active time (performance.eventLoopUtilization), not the wall-clock lateness:
// on a 2-core CI machine running a Ceph cluster and another test file, the OS deschedules the process
// while it waits in epoll (a CI run saw one tick 69 ms late, p99 10 ms). The longest busy stretch,
// profiled (--cpu-prof), is a burst of completions (32 operations finishing together, each resuming its
// next call) plus a scavenge: 20-45 ms on an idle machine, once 76 ms with two CPU burners running.
// The loop's active time also grows while the OS keeps the main thread waiting on the run queue in the middle
// of a stretch (a CI run: 119 ms "busy"; idle, with the wait taken off, the longest stretch was 10 ms): that wait, read from the kernel's
// scheduler statistics of the main thread (/proc/self/task/<pid>/schedstat, field 2), is taken off.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CephConnection } from '../../src/ceph/connection.js';
import { nativeLoad } from '../../src/ceph/process.js';
import { Images } from '../../src/ceph/images.js';
import { Pools } from '../../src/ceph/pools.js';
import { connect, makePool } from '../helpers/cluster.js';

let conn: CephConnection;
let pool: { name: string; remove: () => Promise<void> };

beforeAll(async () => {
  conn = await connect('admin');
  pool = await makePool(conn, 'loop');
});
afterAll(async () => {
  await pool?.remove();
  await conn?.close();
});

/** How long the main thread has waited on the run queue (runnable, not running), in ms. */
function runQueueWaitMs(): number {
  return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[1]) / 1e6;
}

/** Run `work` while a 10 ms interval measures how late each tick fires; returns the worst lateness. */
async function worstTimerDelay(work: () => Promise<void>): Promise<{ worst: number; ticks: number; p99: number; busiest: number }> {
  const delays: number[] = [];
  let busiest = 0;
  let last = performance.now();
  let lastUse = performance.eventLoopUtilization();
  let lastWait = runQueueWaitMs();
  const timer = setInterval(() => {
    const now = performance.now();
    const use = performance.eventLoopUtilization();
    const wait = runQueueWaitMs();
    delays.push(now - last - 10);
    busiest = Math.max(busiest, performance.eventLoopUtilization(use, lastUse).active - (wait - lastWait));
    last = now;
    lastUse = use;
    lastWait = wait;
  }, 10);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  delays.sort((a, b) => a - b);
  return { worst: delays[delays.length - 1] ?? 0, ticks: delays.length, p99: delays[Math.floor(delays.length * 0.99)] ?? 0, busiest };
}

describe('event loop under Ceph load', () => {
  it('32 operations in flight (creates, opens + stats, listings, removes): the p99 lateness of a 10 ms timer < 25 ms, never 100 ms of busy loop between ticks', async () => {
    const images = new Images(conn);
    const pools = new Pools(conn);
    let maxInFlight = 0;
    const sample = setInterval(() => { maxInFlight = Math.max(maxInFlight, nativeLoad().inFlight + nativeLoad().queued); }, 1);
    const result = await worstTimerDelay(async () => {
      for (let round = 0; round < 6; round++) {
        const names = Array.from({ length: 32 }, (_, i) => `r${round}-${i}`);
        await Promise.all(names.map((n) => images.create(pool.name, n, 64 * 1024 * 1024)));
        await Promise.all(names.map((n) => images.stat(pool.name, n)));
        await Promise.all([
          ...Array.from({ length: 16 }, () => images.listNames(pool.name)),
          ...Array.from({ length: 16 }, () => pools.stats(pool.name)),
        ]);
        await Promise.all(names.map((n) => images.remove(pool.name, n)));
      }
    });
    clearInterval(sample);
    console.log(`timer lateness with up to ${maxInFlight} Ceph calls in flight or queued: worst ${result.worst.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms over ${result.ticks} ticks; longest busy stretch between ticks ${result.busiest.toFixed(1)} ms`);
    expect(maxInFlight).toBeGreaterThanOrEqual(16);
    expect(result.ticks).toBeGreaterThan(20);
    expect(result.busiest).toBeLessThan(100);
    expect(result.p99).toBeLessThan(25);
  }, 120_000);
});
