// 400s that name the field and the reason (image bodies are a union of image and clone: the error is the
// meant branch's, not "Invalid input"), Kubernetes quantities wherever a size is taken, booleans as
// true/false/1/0, and unknown query parameters refused on every route.
import { describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import { json, type TestApp } from '../helpers/app.js';
import { Images } from '../../src/ceph/images.js';
import type { CephConnection } from '../../src/ceph/connection.js';

const it = usePoolApp({ prefix: 'validation', key: 'rbdapi-pools' });
let t: TestApp;
let pool: TestPool;
let conn: CephConnection;
let base: string;
const Gi = 1024 ** 3;

it.beforeAll(async ({ pool: p, replicas, conn: c }) => {
  pool = p; [t] = replicas as [TestApp]; conn = c;
  base = `/api/v1/pools/${pool.name}/images`;
  const images = new Images(conn);
  await images.create(pool.name, 'golden', 64 * 1024 * 1024);
  await images.snapshotCreate(pool.name, 'golden', 'v1');
});

interface Problem { code: string; detail: string; errors?: { in: string; path: string; message: string }[] }

describe('a 400 names the field and the reason', () => {
  it('POST and PUT of images and clones: the meant branch of the body is reported', async () => {
    // [method, body, the first error's field, its reason]
    const cases: ['POST' | 'PUT', unknown, string, RegExp][] = [
      ['POST', { name: 'a', size: '10GB' }, 'size', /unknown unit "GB".*G = 10\^9 bytes, or Gi \/ GiB = 2\^30/],
      ['PUT', { size: '10Gb' }, 'size', /unknown unit "Gb"/],
      ['POST', { name: 'a', size: -1 }, 'size', /greater than zero/],
      ['PUT', { size: '-1Gi' }, 'size', /greater than zero/],
      ['PUT', { size: '0.5' }, 'size', /not a whole number of bytes/],
      ['PUT', { size: '1m' }, 'size', /not a whole number of bytes/],
      ['PUT', { size: true }, 'size', /must be a number of bytes or a string like "10Gi"/],
      ['POST', { size: '1Gi' }, 'name', /^is required$/],
      ['POST', {}, 'name', /^is required$/],
      ['PUT', {}, 'size', /^is required$/],
      ['PUT', { size: '1Gi', features: ['layering', 'exclusiv-lock'] }, 'features.1', /expected one of .*"exclusive-lock"/],
      ['POST', { name: 'a', size: '1Gi', features: ['object-map'] }, 'features', /object-map needs exclusive-lock/],
      ['PUT', { size: '1Gi', objectSize: '3Mi' }, 'objectSize', /power of two/],
      ['PUT', { size: '1Gi', stripeUnit: '10G' }, 'stripeUnit', /must divide objectSize/],
      ['PUT', { size: '1Gi', sorce: { image: 'golden', snapshot: 'v1' } }, 'sorce', /unknown field/],
      ['PUT', { name: 'a', size: '1Gi' }, 'name', /unknown field/],
      ['POST', { name: 'has space', size: '1Gi' }, 'name', /image names are 1–128 characters/],
      // a clone: the clone's branch is reported, not "source is an unknown field"
      ['PUT', { source: { image: 'golden' } }, 'source.snapshot', /^is required$/],
      ['PUT', { source: { image: 'golden', snapshot: 'v1' }, size: '1.5' }, 'size', /not a whole number/],
      ['POST', { name: 'c', source: { image: 'golden', snapshot: 'v1', pool: 'a/b' } }, 'source.pool', /cannot contain "\/"/],
      ['POST', { name: 'c', source: { image: 'golden', snapshot: 'v1', extra: 1 } }, 'source.extra', /unknown field/],
      ['PUT', 'text', '', /expected object, received string/],
    ];
    const failures: string[] = [];
    for (const [method, body, path, reason] of cases) {
      const r = await t.app.inject({ method, url: method === 'PUT' ? `${base}/v-put` : base, ...json(body) });
      const p = r.json<Problem>();
      const first = p.errors?.[0];
      const label = `${method} ${JSON.stringify(body)} → ${r.statusCode} ${p.detail}`;
      if (r.statusCode !== 400 || p.code !== 'VALIDATION_FAILED' || first?.in !== 'body' || first.path !== path || !reason.test(first.message)) {
        failures.push(label);
      } else if (!p.detail.startsWith(`body${path ? `.${path}` : ''}: `)) failures.push(`${label} (detail does not name the field)`);
    }
    expect(failures, failures.join('\n')).toEqual([]);
    expect(await new Images(conn).listNames(pool.name)).toEqual(['golden']);
  });

  it('PATCH and copy: sizes name their field', async () => {
    const patch = await t.app.inject({ method: 'PATCH', url: `${base}/golden`, ...json({ size: '64Mb' }) });
    expect(patch.statusCode).toBe(400);
    expect(patch.json().detail).toMatch(/^body\.size: unknown unit "Mb"/);
    const copy = await t.app.inject({ method: 'POST', url: `${base}/golden/copy`, ...json({ destination: { name: 'c2' }, objectSize: '4 MB' }) });
    expect(copy.statusCode).toBe(400);
    expect(copy.json().detail).toMatch(/^body\.objectSize: unknown unit "MB"/);
  });
});

describe('Kubernetes quantities', () => {
  it('10Gi, 10G (10^10 bytes, as in Kubernetes), 1.5Gi, 1e9, 10GiB and plain integers are sizes', async () => {
    const cases: [unknown, number][] = [
      ['10Gi', 10 * Gi], ['10G', 10 ** 10], ['1.5Gi', 1.5 * Gi], ['1e9', 10 ** 9], ['10GiB', 10 * Gi], ['512M', 512e6], ['+1Ti', 1024 * Gi],
      ['4096000m', 4096], [1048576, 1048576], ['1048576', 1048576],
    ];
    for (const [i, [size, bytes]] of cases.entries()) {
      const r = await t.app.inject({ method: 'PUT', url: `${base}/q${i}`, ...json({ size }) });
      expect(r.statusCode, `${JSON.stringify(size)} ${r.body}`).toBe(201);
      expect(r.json().size).toBe(bytes);
      // the same quantity again: the same image (idempotent), whatever the spelling
      const again = await t.app.inject({ method: 'PUT', url: `${base}/q${i}`, ...json({ size: bytes }) });
      expect(again.statusCode).toBe(200);
      expect((await t.app.inject({ method: 'DELETE', url: `${base}/q${i}` })).statusCode).toBe(204);
    }
    // a clone grown with a quantity, PATCH with a quantity
    const clone = await t.app.inject({ method: 'PUT', url: `${base}/qc`, ...json({ source: { image: 'golden', snapshot: 'v1' }, size: '128Mi' }) });
    expect(clone.statusCode, clone.body).toBe(201);
    expect(clone.json().size).toBe(128 * 1024 ** 2);
    const grown = await t.app.inject({ method: 'PATCH', url: `${base}/qc`, ...json({ size: '0.25Gi' }) });
    expect(grown.statusCode, grown.body).toBe(200);
    expect(grown.json().size).toBe(Gi / 4);
    expect((await t.app.inject({ method: 'DELETE', url: `${base}/qc` })).statusCode).toBe(204);
  });
});

describe('query parameters', () => {
  it('an unknown query parameter is 400 on every kind of route, naming it and what the route takes', async () => {
    const cases: [string, string, string, RegExp][] = [
      ['GET', `${base}?sort=name`, 'sort', /unknown query parameter; this route takes: limit, cursor, prefix, search, total, details/],
      ['DELETE', `/api/v1/pools/${pool.name}/namespaces/nope?forse=true`, 'forse', /unknown query parameter; this route takes: confirm, force, dryRun$/],
      ['GET', `/api/v1/tasks?image=x`, 'image', /unknown query parameter; this route takes: .*pool/],
      ['GET', `${base}/golden?details=true`, 'details', /unknown query parameter; this route takes none/],
      ['PUT', `${base}/golden?dryRun=1`, 'dryRun', /unknown query parameter/],
      ['DELETE', `/api/v1/pools/${pool.name}?confirm=${pool.name}&forse=true`, 'forse', /this route takes: confirm, force/],
      ['GET', '/healthz?verbose=1', 'verbose', /unknown query parameter/],
    ];
    for (const [method, url, param, reason] of cases) {
      const r = await t.app.inject({ method: method as 'GET', url, ...(method === 'PUT' ? json({ size: '64Mi' }) : {}) });
      expect(r.statusCode, `${method} ${url} ${r.body}`).toBe(400);
      const p = r.json<Problem>();
      expect(p.code).toBe('VALIDATION_FAILED');
      expect(p.errors?.[0]).toMatchObject({ in: 'querystring', path: param });
      expect(p.errors?.[0]?.message).toMatch(reason);
    }
    // nothing was deleted, the image is unchanged
    expect(await new Images(conn).listNames(pool.name)).toEqual(['golden']);
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}` })).statusCode).toBe(200);
  });

  it('booleans take true/false/1/0 and nothing else', async () => {
    for (const [v, details] of [['true', true], ['1', true], ['false', false], ['0', false]] as const) {
      const r = await t.app.inject({ method: 'GET', url: `${base}?details=${v}` });
      expect(r.statusCode, r.body).toBe(200);
      expect('size' in r.json().items[0], v).toBe(details);
    }
    for (const v of ['yes', 'TRUE', '', '2']) {
      const r = await t.app.inject({ method: 'GET', url: `${base}?details=${v}` });
      expect(r.statusCode, v).toBe(400);
      expect(r.json().errors[0]).toMatchObject({ in: 'querystring', path: 'details' });
      for (const allowed of ['"true"', '"false"', '"1"', '"0"']) expect(r.json().errors[0].message).toContain(allowed);
    }
  });
});
