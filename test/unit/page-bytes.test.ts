// The byte bound of listing pages (page-bytes.ts) and the listing limiter (scan-limit.ts).
import { describe, expect, it } from 'vitest';
import { fittingItems, PAGE_BYTES } from '../../src/http/page-bytes.js';
import { listingLimiter, ScanLimiter } from '../../src/http/scan-limit.js';

describe('fittingItems', () => {
  it('keeps items while their JSON array stays within the budget; at least one', () => {
    const items = Array.from({ length: 10 }, (_, i) => ({ name: `n${i}`, pad: 'x'.repeat(90) })); // 112 bytes each
    expect(Buffer.byteLength(JSON.stringify(items[0]))).toBe(112);
    expect(fittingItems(items, 2 + 112 * 3 + 2)).toBe(3);
    expect(fittingItems(items, 2 + 112 * 3 + 1)).toBe(2);
    expect(fittingItems(items, 10)).toBe(1);
    expect(fittingItems(items)).toBe(10);
    expect(fittingItems([])).toBe(0);
    const big = Array.from({ length: 3000 }, () => ({ name: 'é'.repeat(300) })); // UTF-8 bytes, not characters
    const n = fittingItems(big);
    expect(Buffer.byteLength(JSON.stringify(big.slice(0, n)))).toBeLessThanOrEqual(PAGE_BYTES);
    expect(Buffer.byteLength(JSON.stringify(big.slice(0, n + 1)))).toBeGreaterThan(PAGE_BYTES - 16 * 1024);
  });
});

describe('listing limiter', () => {
  it('one per owner; runs at most `concurrency` at once, never shares, 503 CEPH_BUSY beyond the queue', async () => {
    const owner = {};
    expect(listingLimiter(owner)).toBe(listingLimiter(owner));
    expect(listingLimiter({})).not.toBe(listingLimiter(owner));
    const l = new ScanLimiter({ concurrency: 2, maxQueue: 1, waitMs: 1000 });
    let running = 0;
    let peak = 0;
    const release: (() => void)[] = [];
    const job = () => l.limit(async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise<void>((r) => release.push(r));
      running--;
      return 'done';
    });
    const jobs = [job(), job(), job()];
    await expect(job()).rejects.toMatchObject({ code: 'CEPH_BUSY' });
    expect(l.active).toBe(2);
    expect(l.waiting).toBe(1);
    while (release.length) release.shift()!();
    await new Promise((r) => setTimeout(r, 0));
    while (release.length) release.shift()!();
    expect(await Promise.all(jobs)).toEqual(['done', 'done', 'done']);
    expect(peak).toBe(2);
  });
});
