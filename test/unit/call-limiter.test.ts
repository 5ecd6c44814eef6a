// The native call limiter: bounded concurrency, a bounded FIFO queue, arguments held until the C call
// returns, errors and the observer. Uses stand-ins for koffi functions (the real ones are tested on the cluster).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { CallLimiter, NativeQueueFullError, type NativeFunction } from '../../src/native/async-call.js';

/** A fake `.async` function whose calls complete when the test says so. */
function controllable() {
  const pending: { args: unknown[]; done: (err: unknown, res: unknown) => void }[] = [];
  const fn = (() => { throw new Error('sync call'); }) as unknown as NativeFunction;
  fn.async = (...all: unknown[]) => {
    const done = all.pop() as (err: unknown, res: unknown) => void;
    pending.push({ args: all, done });
  };
  return { fn, pending };
}
const tick = () => new Promise((r) => setImmediate(r));
// a real, synchronous full GC without --expose-gc on the command line
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('CallLimiter', () => {
  it('never runs more than the limit at once and starts waiters in FIFO order', async () => {
    const lim = new CallLimiter(2, 10);
    const { fn, pending } = controllable();
    const results = [1, 2, 3, 4, 5].map((i) => lim.call('f', fn, i));
    await tick();
    expect(pending.map((p) => p.args[0])).toEqual([1, 2]);
    expect([lim.inFlight, lim.queued]).toEqual([2, 3]);
    pending[1]!.done(null, 'b');
    await tick();
    expect(pending.map((p) => p.args[0])).toEqual([1, 2, 3]);
    // finish the rest one by one; each completion starts the next waiter
    for (const i of [0, 2, 3, 4]) {
      for (let k = 0; k < 5 && pending.length <= i; k++) await tick();
      pending[i]!.done(null, pending[i]!.args[0]);
      await tick();
    }
    expect(await Promise.all(results)).toEqual([1, 'b', 3, 4, 5]);
    expect([lim.inFlight, lim.queued]).toEqual([0, 0]);
  });

  it('rejects with NativeQueueFullError when the queue is full, without calling C', async () => {
    const lim = new CallLimiter(1, 1);
    const { fn, pending } = controllable();
    const a = lim.call('f', fn, 'a');
    const b = lim.call('f', fn, 'b');
    await expect(lim.call('f', fn, 'c')).rejects.toBeInstanceOf(NativeQueueFullError);
    await tick();
    expect(pending).toHaveLength(1);
    pending[0]!.done(null, 1);
    await tick();
    pending[1]!.done(null, 2);
    expect(await Promise.all([a, b])).toEqual([1, 2]);
  });

  it('propagates errors and frees the slot', async () => {
    const lim = new CallLimiter(1, 5);
    const { fn, pending } = controllable();
    const a = lim.call('f', fn);
    const b = lim.call('f', fn);
    await tick();
    pending[0]!.done('boom', undefined);
    await expect(a).rejects.toThrow('boom');
    await tick();
    pending[1]!.done(null, 7);
    expect(await b).toBe(7);
    expect(lim.inFlight).toBe(0);
  });

  it('keeps every argument reachable until the C call has returned, and no longer', async () => {
    const lim = new CallLimiter(1, 1);
    const collected = new Set<string>();
    const registry = new FinalizationRegistry<string>((tag) => { collected.add(tag); });
    const { fn, pending } = controllable();
    const collect = async () => {
      for (let i = 0; i < 6; i++) {
        gc();
        await tick();
      }
    };
    // control: an argument nobody holds is collected, so the check below can see a collection
    (() => { const b = Buffer.alloc(1 << 20); registry.register(b, 'control'); })();
    // the test keeps no reference of its own to the buffer: only the limiter's pending call does
    const call = (() => {
      const buf = Buffer.alloc(1 << 20);
      registry.register(buf, 'arg');
      return lim.call('f', fn, buf);
    })();
    await tick();
    // drop our fake's own reference so that only the limiter holds the argument
    let done: ((err: unknown, res: unknown) => void) | undefined = pending[0]!.done;
    pending.length = 0;
    await collect();
    expect(collected.has('control')).toBe(true);
    expect(collected.has('arg')).toBe(false);
    done(null, 0);
    done = undefined; // koffi drops its callback after calling it; so do we
    await call;
    await collect();
    // once C has returned the limiter lets go (no leak of every buffer ever passed)
    expect(collected.has('arg')).toBe(true);
  });

  it('reports each call to the observer with its duration and result or error', async () => {
    const lim = new CallLimiter(4, 4);
    const seen: [string, number, unknown, unknown][] = [];
    lim.observe((name, s, result, error) => seen.push([name, s, result, error]));
    const { fn, pending } = controllable();
    const a = lim.call('rbd_stat', fn);
    const b = lim.call('rbd_open', fn);
    await tick();
    pending[0]!.done(null, -2);
    pending[1]!.done(new Error('x'), undefined);
    await a;
    await b.catch(() => undefined);
    expect(seen.map(([n, , r]) => [n, r])).toEqual([['rbd_stat', -2], ['rbd_open', undefined]]);
    expect(seen[1]![3]).toBeInstanceOf(Error);
    for (const [, s] of seen) expect(s).toBeGreaterThanOrEqual(0);
  });

  it('configure() validates and takes effect for waiting calls', async () => {
    const lim = new CallLimiter(1, 10);
    expect(() => lim.configure(0, 1)).toThrow(RangeError);
    const { fn, pending } = controllable();
    const calls = [lim.call('f', fn), lim.call('f', fn), lim.call('f', fn)];
    await tick();
    expect(pending).toHaveLength(1);
    lim.configure(3, 10);
    await tick();
    expect(pending).toHaveLength(3);
    for (const p of pending) p.done(null, 0);
    await Promise.all(calls);
  });
});
