// Unit checks of the robustness building blocks: the per-name lock's bounded wait, the full-scan limiter
// (bound, queue, sharing), the call limiter's overdue watchdog and trace, and the errno mapping of ESTALE.
import { describe, expect, it } from 'vitest';
import { KeyedLock } from '../../src/ceph/keyed-lock.js';
import { ScanLimiter } from '../../src/http/scan-limit.js';
import { ApiError, fromCephError } from '../../src/http/errors.js';
import { CephError, LockBusyError, PoolBeingDeletedError } from '../../src/ceph/errors.js';
import { CallLimiter, callTrace, type CallTrace, type NativeFunction } from '../../src/native/async-call.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A stand-in for a koffi function: `.async` answers after `ms`. */
const slow = (ms: number, value = 0): NativeFunction => Object.assign(() => value, {
  async: (...args: unknown[]) => { const cb = args[args.length - 1] as (e: unknown, r: number) => void; setTimeout(() => cb(null, value), ms); },
});

describe('KeyedLock', () => {
  it('runs one holder per key, in order, and gives up waiting after waitMs', async () => {
    const lock = new KeyedLock({ waitMs: 100, maxWaiters: 10 });
    const order: number[] = [];
    const first = lock.run('k', async () => { await sleep(50); order.push(1); });
    const second = lock.run('k', async () => { order.push(2); });
    const other = lock.run('other', async () => { order.push(0); });
    await Promise.all([first, second, other]);
    expect(order).toEqual([0, 1, 2]);
    const long = lock.run('k', () => sleep(300));
    const started = Date.now();
    await expect(lock.run('k', async () => 1)).rejects.toBeInstanceOf(LockBusyError);
    expect(Date.now() - started).toBeLessThan(250);
    await long;
    expect(lock.size).toBe(0);
  });

  it('refuses at once beyond maxWaiters', async () => {
    const lock = new KeyedLock({ waitMs: 1000, maxWaiters: 2 });
    const hold = lock.run('k', () => sleep(100));
    const w1 = lock.run('k', async () => 1);
    const w2 = lock.run('k', async () => 2);
    await expect(lock.run('k', async () => 3)).rejects.toMatchObject({ waitedMs: 0, queued: 2 });
    await Promise.all([hold, w1, w2]);
  });
});

describe('ScanLimiter', () => {
  it('runs at most `concurrency` scans, shares identical ones, and refuses beyond the queue with CEPH_BUSY', async () => {
    const scans = new ScanLimiter({ concurrency: 2, maxQueue: 2, waitMs: 1000 });
    let running = 0, peak = 0, calls = 0;
    const scan = async () => { calls++; running++; peak = Math.max(peak, running); await sleep(50); running--; return calls; };
    const shared = await Promise.all(Array.from({ length: 10 }, () => scans.run('same', scan)));
    expect(new Set(shared).size).toBe(1);
    expect(calls).toBe(1);
    const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => scans.run(`k${i}`, scan)));
    expect(peak).toBe(2);
    const refused = results.filter((r) => r.status === 'rejected');
    expect(refused).toHaveLength(2);
    const reason = (refused[0] as PromiseRejectedResult).reason as ApiError;
    expect(reason.code).toBe('CEPH_BUSY');
  });
});

describe('CallLimiter: overdue calls and the call trace', () => {
  it('flags a call past overdueAfterMs once, and counts it while it runs', async () => {
    const l = new CallLimiter(2, 10, 'test');
    l.overdueAfterMs = 30;
    const seen: string[] = [];
    const p = l.call('slow_op', slow(120));
    await sleep(60);
    expect(l.checkOverdue((name) => seen.push(name))).toBe(1);
    expect(l.checkOverdue((name) => seen.push(name))).toBe(1);
    expect(seen).toEqual(['slow_op']);
    expect(l.overdue).toBe(1);
    await p;
    expect(l.overdue).toBe(0);
    expect(l.overdueTotal).toBe(1);
  });

  it('the trace tells a queued operation from a running one, and names the running call', async () => {
    const l = new CallLimiter(1, 10, 'test');
    const busy = l.call('holder', slow(80));
    const trace: CallTrace = { op: undefined, queued: 0, running: 0 };
    const waiting = callTrace.run(trace, () => l.call('rbd_open', slow(10)));
    await sleep(20);
    expect(trace).toMatchObject({ queued: 1, running: 0 });
    await busy;
    await sleep(5);
    expect(trace.op).toBe('rbd_open');
    await waiting;
    expect(trace).toMatchObject({ queued: 0, running: 0, op: 'rbd_open' });
  });
});

describe('errno mapping', () => {
  it('ESTALE is a retryable 409 CONFLICT, never 500', () => {
    const api = fromCephError(new CephError('image', 'rbd_remove', -116, 'p/x'));
    expect(api.status).toBe(409);
    expect(api.code).toBe('CONFLICT');
  });
  it('a second pool delete while one holds the marker is 409 POOL_BEING_DELETED', () => {
    expect(fromCephError(new PoolBeingDeletedError('p')).code).toBe('POOL_BEING_DELETED');
  });
});
