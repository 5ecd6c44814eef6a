// GET …/usage equals `rbd du --format json`, row for row, on images with and without fast-diff, with snapshots,
// in a namespace; a scan past timeoutMs is 504 USAGE_TIMEOUT.
import { describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import { json, type TestApp } from '../helpers/app.js';
import { rbdSync as rbd } from '../helpers/cli.js';

const it = usePoolApp({ prefix: 'usage', key: 'rbdapi' });
let t: TestApp;
let pool: TestPool;
let base: string;

const write = (spec: string, total: string, pattern = 'rand', size = '4K') =>
  rbd('bench', '--io-type', 'write', '--io-size', size, '--io-total', total, '--io-pattern', pattern, spec);

interface DuRow { name: string; snapshot?: string; provisioned_size: number; used_size: number }
function du(name: string, ns?: string): DuRow[] {
  return (JSON.parse(rbd('du', '--format', 'json', ...(ns ? ['--namespace', ns] : []), `${pool.name}/${name}`)) as { images: DuRow[] }).images;
}

async function usage(name: string, query = '', scope = base) {
  const r = await t.app.inject({ method: 'GET', url: `${scope}/${name}/usage${query}` });
  return r;
}

function expectSameAsDu(body: { provisionedBytes: number; usedBytes: number; totalUsedBytes: number; snapshots: { name: string; usedBytes: number; provisionedBytes: number }[] }, rows: DuRow[]): void {
  const head = rows.find((r) => r.snapshot === undefined)!;
  const snaps = rows.filter((r) => r.snapshot !== undefined);
  expect(body.provisionedBytes).toBe(head.provisioned_size);
  expect(body.usedBytes).toBe(head.used_size);
  expect(body.snapshots.map((s) => [s.name, s.provisionedBytes, s.usedBytes])).toEqual(snaps.map((s) => [s.snapshot, s.provisioned_size, s.used_size]));
  expect(body.totalUsedBytes).toBe(rows.reduce((a, r) => a + r.used_size, 0));
}

it.beforeAll(({ pool: p, replicas }) => {
  pool = p; [t] = replicas as [TestApp];
  base = `/api/v1/pools/${pool.name}/images`;
});

describe('usage', () => {
  it('an empty image: 0 used, provisioned = size', async () => {
    expect((await t.app.inject({ method: 'POST', url: base, ...json({ name: 'empty', size: '1GiB' }) })).statusCode).toBe(201);
    const r = await usage('empty');
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ provisionedBytes: 1024 ** 3, usedBytes: 0, totalUsedBytes: 0, snapshots: [], exact: false, method: 'fast-diff' });
    expectSameAsDu(r.json(), du('empty'));
  });

  it('with fast-diff: equals rbd du, snapshots included', async () => {
    expect((await t.app.inject({ method: 'POST', url: base, ...json({ name: 'fd', size: '256MiB' }) })).statusCode).toBe(201);
    write(`${pool.name}/fd`, '2M');
    rbd('snap', 'create', `${pool.name}/fd@s1`);
    write(`${pool.name}/fd`, '1M');
    rbd('snap', 'create', `${pool.name}/fd@s2`);
    rbd('resize', '--size', '512M', `${pool.name}/fd`);
    write(`${pool.name}/fd`, '64K', 'seq');
    const r = await usage('fd');
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().method).toBe('fast-diff');
    expect(r.json().snapshots.map((s: { name: string }) => s.name)).toEqual(['s1', 's2']);
    expect(r.json().totalUsedBytes).toBeGreaterThan(0);
    expectSameAsDu(r.json(), du('fd'));
  });

  it('without fast-diff (scan): equals rbd du too', async () => {
    expect((await t.app.inject({ method: 'POST', url: base, ...json({ name: 'nofd', size: '256MiB', features: ['layering'] }) })).statusCode).toBe(201);
    write(`${pool.name}/nofd`, '2M');
    rbd('snap', 'create', `${pool.name}/nofd@a`);
    write(`${pool.name}/nofd`, '512K');
    const r = await usage('nofd');
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().method).toBe('scan');
    expect(r.json().usedBytes).toBeGreaterThan(0);
    expectSameAsDu(r.json(), du('nofd'));
  });

  it('an invalid object map (switched off and on without rebuild) is not trusted: scan, same as rbd du', async () => {
    expect((await t.app.inject({ method: 'POST', url: base, ...json({ name: 'inv', size: '128MiB' }) })).statusCode).toBe(201);
    write(`${pool.name}/inv`, '1M');
    rbd('feature', 'disable', `${pool.name}/inv`, 'object-map', 'fast-diff');
    rbd('feature', 'enable', `${pool.name}/inv`, 'object-map', 'fast-diff');
    const r = await usage('inv');
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().method).toBe('scan');
    expectSameAsDu(r.json(), du('inv'));
  });

  it('exact=true counts bytes: less than or equal to whole objects, and the written bytes at least', async () => {
    expect((await t.app.inject({ method: 'POST', url: base, ...json({ name: 'ex', size: '64MiB' }) })).statusCode).toBe(201);
    write(`${pool.name}/ex`, '256K', 'seq', '64K');
    const whole = (await usage('ex')).json();
    const exact = (await usage('ex', '?exact=true')).json();
    expect(exact.exact).toBe(true);
    expect(exact.usedBytes).toBe(256 * 1024);
    expect(whole.usedBytes % (4 * 1024 * 1024)).toBe(0);
    expect(whole.usedBytes).toBeGreaterThanOrEqual(exact.usedBytes);
    expectSameAsDu(whole, du('ex'));
  });

  it('in a namespace: equals rbd du --namespace', async () => {
    rbd('namespace', 'create', `${pool.name}/tenant`);
    const nsBase = `/api/v1/pools/${pool.name}/namespaces/tenant/images`;
    expect((await t.app.inject({ method: 'POST', url: nsBase, ...json({ name: 'n', size: '64MiB' }) })).statusCode).toBe(201);
    write(`${pool.name}/tenant/n`, '1M');
    const r = await usage('n', '', nsBase);
    expect(r.statusCode, r.body).toBe(200);
    expectSameAsDu(r.json(), du('n', 'tenant'));
  });

  it('a scan that takes longer than timeoutMs is 504 USAGE_TIMEOUT, and the service stays responsive', async () => {
    expect((await t.app.inject({ method: 'POST', url: base, ...json({ name: 'slow', size: '1GiB', objectSize: '64KiB', features: ['layering'] }) })).statusCode).toBe(201);
    write(`${pool.name}/slow`, '8M', 'rand', '4K');
    const started = Date.now();
    const r = await usage('slow', '?timeoutMs=100');
    expect(r.statusCode, r.body).toBe(504);
    expect(r.json()).toMatchObject({ code: 'USAGE_TIMEOUT', timeoutMs: 100, method: 'scan' });
    expect(Date.now() - started).toBeLessThan(2000);
    expect((await t.app.inject({ method: 'GET', url: `${base}/empty` })).statusCode).toBe(200);
    // given time, the same image is answered, and matches rbd du
    const full = await usage('slow', '?timeoutMs=60000');
    expect(full.statusCode, full.body).toBe(200);
    expectSameAsDu(full.json(), du('slow'));
  });

  it('bad queries are 400; a missing image 404', async () => {
    for (const q of ['?timeoutMs=0', '?timeoutMs=60001', '?timeoutMs=abc', '?exact=maybe', '?other=1']) {
      expect((await usage('empty', q)).statusCode, q).toBe(400);
    }
    const missing = await usage('nope');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('IMAGE_NOT_FOUND');
  });
});
