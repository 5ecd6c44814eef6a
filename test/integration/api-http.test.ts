// Every route over real HTTP (a listening server and fetch), plus the error codes that need a special
// situation: no cluster (CEPH_UNAVAILABLE), a full call queue (CEPH_BUSY), an oversized body, an unknown route.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CephClient } from '../../src/ceph/client.js';
import { configureConcurrency, nativeLimiter } from '../../src/ceph/process.js';
import { buildApp } from '../../src/http/app.js';
import type { CephConnection } from '../../src/ceph/connection.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { connect, uniqueName } from '../helpers/cluster.js';

let t: TestApp;
let url: string;
let admin: CephConnection;
const poolName = uniqueName('http');

const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
  const r = await fetch(`${url}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  const type = r.headers.get('content-type') ?? '';
  return { status: r.status, headers: r.headers, type, body: type.includes('json') && text ? JSON.parse(text) : text };
};

beforeAll(async () => {
  admin = await connect('admin');
  t = await testApp('rbdapi-pools', { settings: { bodyLimit: 4096 } });
  url = await t.app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await t?.close();
  const { Pools } = await import('../../src/ceph/pools.js');
  const pools = new Pools(admin);
  if (await pools.exists(poolName)) await pools.delete(poolName);
  await admin?.close();
});

describe('the whole contract over real HTTP', () => {
  it('pools and images: every route, with Location, x-request-id and problem+json', async () => {
    const created = await call('POST', '/api/v1/pools', { name: poolName, pgNum: 8 }, { 'x-request-id': 'http-test-1' });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`/api/v1/pools/${poolName}`);
    expect(created.headers.get('x-request-id')).toBe('http-test-1');
    expect(created.body).toMatchObject({ name: poolName, applications: expect.arrayContaining(['rbd']) });
    expect((await call('POST', '/api/v1/pools', { name: poolName })).body.code).toBe('POOL_EXISTS');
    expect((await call('GET', '/api/v1/pools')).body.items.map((p: { name: string }) => p.name)).toContain(poolName);
    expect((await call('GET', `/api/v1/pools/${poolName}`)).status).toBe(200);

    const base = `/api/v1/pools/${poolName}/images`;
    const post = await call('POST', base, { name: 'h1', size: '1GiB' });
    expect(post.status).toBe(201);
    expect(post.headers.get('location')).toBe(`${base}/h1`);
    expect(post.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect((await call('POST', base, { name: 'h1', size: '1GiB' })).body.code).toBe('IMAGE_EXISTS');
    expect((await call('PUT', `${base}/h2`, { size: '2GiB' })).status).toBe(201);
    expect((await call('PUT', `${base}/h2`, { size: '2GiB' })).status).toBe(200);
    const conflict = await call('PUT', `${base}/h2`, { size: '3GiB' });
    expect(conflict.status).toBe(409);
    expect(conflict.type).toMatch(/^application\/problem\+json/);
    expect(conflict.body).toMatchObject({ code: 'IMAGE_SPEC_CONFLICT', status: 409, title: expect.any(String), detail: expect.any(String), type: expect.any(String) });
    expect((await call('GET', `${base}/h1`)).body).toMatchObject({ name: 'h1', size: 1024 ** 3, watchers: [] });
    expect((await call('GET', `${base}/nope`)).body.code).toBe('IMAGE_NOT_FOUND');
    expect((await call('GET', `/api/v1/pools/${poolName}-missing/images`)).body.code).toBe('POOL_NOT_FOUND');
    expect((await call('PATCH', `${base}/h1`, { size: '512MiB' })).body.code).toBe('SHRINK_NOT_ALLOWED');
    expect((await call('PATCH', `${base}/h1`, { size: '512MiB', allowShrink: true })).body.size).toBe(512 * 1024 ** 2);
    const list = await call('GET', `${base}?limit=1&total=true`);
    expect(list.body).toMatchObject({ items: [{ name: 'h1' }], total: 2, nextCursor: expect.any(String) });
    const next = await call('GET', `${base}?limit=1&cursor=${encodeURIComponent(list.body.nextCursor)}`);
    expect(next.body).toMatchObject({ items: [{ name: 'h2' }], nextCursor: null });
    expect((await call('DELETE', `/api/v1/pools/${poolName}`)).body.code).toBe('CONFIRMATION_REQUIRED');
    expect((await call('DELETE', `/api/v1/pools/${poolName}?confirm=${poolName}`)).body.code).toBe('POOL_NOT_EMPTY');
    expect((await call('DELETE', `${base}/h1`)).status).toBe(204);
    expect((await call('DELETE', `${base}/h1`)).body.code).toBe('IMAGE_NOT_FOUND');
    expect((await call('DELETE', `/api/v1/pools/${poolName}?confirm=${poolName}&force=true`)).status).toBe(204);
    expect((await call('GET', `/api/v1/pools/${poolName}`)).body.code).toBe('POOL_NOT_FOUND');
  });

  it('probes, OpenAPI and Swagger UI', async () => {
    expect((await call('GET', '/healthz')).body).toEqual({ status: 'ok' });
    expect((await call('GET', '/readyz')).body).toMatchObject({ status: 'ok', ceph: 'connected' });
    const doc = await call('GET', '/openapi.json');
    expect(doc.body.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/api/v1/pools', '/api/v1/pools/{pool}/images/{image}']));
    const ui = await call('GET', '/docs');
    expect(ui.status).toBe(200);
    expect(ui.type).toMatch(/text\/html/);
    expect(String(ui.body)).toMatch(/swagger/i);
  });

  it('413 PAYLOAD_TOO_LARGE, 415 UNSUPPORTED_MEDIA_TYPE, 404 NOT_FOUND for unknown routes, 400 for bad JSON', async () => {
    const big = await call('POST', '/api/v1/pools/rbd/images', JSON.stringify({ name: 'x', size: 1, pad: 'x'.repeat(10_000) }));
    expect(big.status).toBe(413);
    expect(big.body.code).toBe('PAYLOAD_TOO_LARGE');
    const form = await call('POST', '/api/v1/pools/rbd/images', undefined, { 'content-type': 'application/x-www-form-urlencoded' });
    expect([400, 415]).toContain(form.status);
    const text = await fetch(`${url}/api/v1/pools/rbd/images`, { method: 'POST', body: 'name=x', headers: { 'content-type': 'text/plain' } });
    expect(text.status).toBe(415);
    expect((await text.json()).code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const unknown = await call('GET', '/api/v2/whatever');
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('NOT_FOUND');
    const bad = await call('POST', '/api/v1/pools/rbd/images', '{"name": ');
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('VALIDATION_FAILED');
  });

  it('503 CEPH_BUSY with Retry-After when the call queue is full, instead of queueing without bound', async () => {
    // the limiter is process-wide (and the worker runs other files after this one): restored as it was
    const before = nativeLimiter.concurrency;
    configureConcurrency(1, 0);
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, () => call('GET', '/api/v1/pools')));
      const busy = answers.filter((a) => a.status === 503);
      expect(busy.length).toBeGreaterThan(0);
      for (const b of busy) {
        expect(b.body.code).toBe('CEPH_BUSY');
        expect(b.headers.get('retry-after')).toBe('1');
      }
      for (const a of answers) expect([200, 503]).toContain(a.status);
    } finally {
      configureConcurrency(before, 1000);
    }
    expect((await call('GET', '/api/v1/pools')).status).toBe(200);
  });
});

describe('no cluster', () => {
  it('503 CEPH_UNAVAILABLE with Retry-After at once, readyz 503, healthz 200', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rbdapi-nocluster-'));
    // a monitor address where nothing listens
    writeFileSync(join(dir, 'ceph.conf'), '[global]\nfsid = 00000000-0000-0000-0000-000000000001\nmon_host = v2:127.0.0.1:9\nauth_client_required = none\n');
    const ceph = new CephClient({ confFile: join(dir, 'ceph.conf'), clientId: 'admin', mountTimeout: 1, monOpTimeout: 1, osdOpTimeout: 1, operationTimeoutMs: 2000, backoffMinMs: 60_000 });
    await ceph.start();
    const app = await buildApp({ ceph, settings: { readyTimeoutMs: 500 } });
    try {
      const started = performance.now();
      const r = await app.inject({ method: 'GET', url: '/api/v1/pools/rbd/images' });
      expect(performance.now() - started).toBeLessThan(1000);
      expect(r.statusCode).toBe(503);
      expect(r.json()).toMatchObject({ code: 'CEPH_UNAVAILABLE', status: 503 });
      expect(r.headers['retry-after']).toBe('1');
      const ready = await app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await app.close();
      await ceph.close();
    }
  });
});
