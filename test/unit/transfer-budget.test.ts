// The transfer budget is work-conserving (src/ceph/content/budget.ts): TRANSFER_IO_LIMIT while other requests
// are served or were within quietMs, TRANSFER_IO_BURST when only transfers are; waiters beyond the low limit get
// the burst once it is quiet, without anything else releasing a slot.
import { afterEach, describe, expect, it } from 'vitest';
import { budget, configureTransfers, currentIoLimit, foregroundStarted, transferSettings } from '../../src/ceph/content/budget.js';
import { eventually } from '../helpers/eventually.js';

const before = { ...transferSettings };
afterEach(() => { configureTransfers(before); });

describe('transfer budget', () => {
  it('is the burst when nothing else is served, the limit while a request runs and for quietMs after', async () => {
    configureTransfers({ ioLimit: 2, ioBurst: 6, quietMs: 150 });
    await eventually(() => currentIoLimit() === 6, { timeoutMs: 2000, intervalMs: 10, what: 'quiet' });
    const end = foregroundStarted();
    expect(currentIoLimit()).toBe(2);
    const end2 = foregroundStarted();
    end();
    end(); // idempotent: the second request still counts
    expect(currentIoLimit()).toBe(2);
    end2();
    const ended = performance.now();
    expect(currentIoLimit()).toBe(2);
    expect(currentIoLimit(ended + 100)).toBe(2);
    expect(currentIoLimit(ended + 151)).toBe(6);
  });

  it('a burst below the limit counts as the limit', () => {
    configureTransfers({ ioLimit: 5, ioBurst: 1, quietMs: 0 });
    expect(currentIoLimit(performance.now() + 1)).toBe(5);
  });

  it('waiters held at the limit while a request ran take the burst once it is quiet, in order', async () => {
    configureTransfers({ ioLimit: 2, ioBurst: 5, quietMs: 100 });
    const end = foregroundStarted();
    const got: number[] = [];
    const takes = Array.from({ length: 6 }, (_, i) => budget.acquire().then(() => { got.push(i); }));
    await new Promise((r) => setImmediate(r));
    expect(got).toEqual([0, 1]); // the limit while the request runs
    end();
    await eventually(() => got.length === 5, { timeoutMs: 2000, intervalMs: 10, what: 'the burst after the quiet time' });
    expect(got).toEqual([0, 1, 2, 3, 4]);
    budget.release();
    await Promise.all(takes);
    expect(got).toEqual([0, 1, 2, 3, 4, 5]);
    for (let i = 0; i < 5; i++) budget.release();
    expect(budget.used).toBe(0);
  });
});
