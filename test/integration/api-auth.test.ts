// Authentication, scopes, pool limits, open probes, metrics and log redaction — on the real cluster.
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDACT_PATHS } from '../../src/http/app.js';
import { TokenStore } from '../../src/http/auth.js';
import { json, testApp, type TestApp } from '../helpers/app.js';
import { connect, makePool, uniqueName } from '../helpers/cluster.js';
import type { CephConnection } from '../../src/ceph/connection.js';

const READ = 'read-7f1c2e9a44b0d6e3a1c5f8b2';
const WRITE = 'write-9d3e8a7b6c5d4e3f2a1b0c9d';
const ADMIN = 'admin-1a2b3c4d5e6f7a8b9c0d1e2f';
const LIMITED = 'limited-5e4d3c2b1a0f9e8d7c6b5a4';

let t: TestApp;
let conn: CephConnection;
let pool: { name: string; remove: () => Promise<void> };
let other: { name: string; remove: () => Promise<void> };
const logs: string[] = [];
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  conn = await connect('admin');
  pool = await makePool(conn, 'auth');
  other = await makePool(conn, 'auth-other');
  const sink = new Writable({ write(chunk, _enc, cb) { logs.push(String(chunk)); cb(); } });
  const logger = pino({ level: 'debug', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink);
  const auth = TokenStore.parse(`${READ} read * console\n${WRITE} write * provisioner\n${ADMIN} admin * operator\n${LIMITED} write ${pool.name} tenant\n`);
  t = await testApp('rbdapi-pools', { auth, loggerInstance: logger });
});

afterAll(async () => {
  await t?.close();
  await pool?.remove();
  await other?.remove();
  await conn?.close();
});

describe('authentication', () => {
  it('401 problem+json with WWW-Authenticate without a token or with a wrong one', async () => {
    for (const headers of [{}, bearer('not-a-valid-token-at-all'), { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, { authorization: 'Bearer' }]) {
      const r = await t.app.inject({ method: 'GET', url: '/api/v1/pools', headers });
      expect(r.statusCode).toBe(401);
      expect(r.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(r.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(r.json()).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
    }
  });

  it('401 comes before validation and Ceph: a bad body without a token changes nothing', async () => {
    const r = await t.app.inject({ method: 'POST', url: `/api/v1/pools/${pool.name}/images`, ...json({ name: 'x', size: -1 }) });
    expect(r.statusCode).toBe(401);
  });

  it('probes, metrics, the OpenAPI document and Swagger UI stay open', async () => {
    for (const url of ['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs', '/docs/static/index.html']) {
      const r = await t.app.inject({ method: 'GET', url });
      expect(r.statusCode, url).toBeLessThan(400);
    }
    const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
  });
});

describe('scopes', () => {
  it('read may list and get, not create', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/pools', headers: bearer(READ) })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/images`, headers: bearer(READ) })).statusCode).toBe(200);
    const r = await t.app.inject({ method: 'POST', url: `/api/v1/pools/${pool.name}/images`, ...json({ name: 'r1', size: '1MiB' }), headers: { ...bearer(READ), 'content-type': 'application/json' } });
    expect(r.statusCode).toBe(403);
    expect(r.json()).toMatchObject({ code: 'FORBIDDEN', requiredScope: 'write' });
    expect(await conn.withIoctx(pool.name, async () => true)).toBe(true);
    const names = (await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/images`, headers: bearer(ADMIN) })).json().items;
    expect(names).toEqual([]);
  });

  it('write may create, resize and delete images but not pools', async () => {
    const h = { ...bearer(WRITE), 'content-type': 'application/json' };
    const c = await t.app.inject({ method: 'POST', url: `/api/v1/pools/${pool.name}/images`, payload: JSON.stringify({ name: 'w1', size: '1MiB' }), headers: h });
    expect(c.statusCode).toBe(201);
    const p = await t.app.inject({ method: 'PATCH', url: `/api/v1/pools/${pool.name}/images/w1`, payload: JSON.stringify({ size: '2MiB' }), headers: h });
    expect(p.statusCode).toBe(200);
    const d = await t.app.inject({ method: 'DELETE', url: `/api/v1/pools/${pool.name}/images/w1`, headers: bearer(WRITE) });
    expect(d.statusCode).toBe(204);
    const name = uniqueName('auth-denied');
    const cp = await t.app.inject({ method: 'POST', url: '/api/v1/pools', payload: JSON.stringify({ name }), headers: h });
    expect(cp.statusCode).toBe(403);
    expect(cp.json().requiredScope).toBe('admin');
    const dp = await t.app.inject({ method: 'DELETE', url: `/api/v1/pools/${other.name}?confirm=${other.name}`, headers: bearer(WRITE) });
    expect(dp.statusCode).toBe(403);
    const pools = (await t.app.inject({ method: 'GET', url: '/api/v1/pools', headers: bearer(ADMIN) })).json().items.map((x: { name: string }) => x.name);
    expect(pools).toContain(other.name);
    expect(pools).not.toContain(name);
  });

  it('admin may create and delete pools', async () => {
    const name = uniqueName('auth-admin');
    const h = { ...bearer(ADMIN), 'content-type': 'application/json' };
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/pools', payload: JSON.stringify({ name, pgNum: 8 }), headers: h })).statusCode).toBe(201);
    expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/pools/${name}?confirm=${name}`, headers: bearer(ADMIN) })).statusCode).toBe(204);
  });

  it('a token limited to one pool sees and touches only that pool', async () => {
    const h = { ...bearer(LIMITED), 'content-type': 'application/json' };
    const list = (await t.app.inject({ method: 'GET', url: '/api/v1/pools', headers: bearer(LIMITED) })).json().items.map((x: { name: string }) => x.name);
    expect(list).toEqual([pool.name]);
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/pools/${other.name}`, headers: bearer(LIMITED) })).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/pools/${other.name}/images`, headers: bearer(LIMITED) })).statusCode).toBe(403);
    const elsewhere = await t.app.inject({ method: 'PUT', url: `/api/v1/pools/${other.name}/images/l1`, payload: JSON.stringify({ size: '1MiB' }), headers: h });
    expect(elsewhere.statusCode).toBe(403);
    const dataPool = await t.app.inject({ method: 'PUT', url: `/api/v1/pools/${pool.name}/images/l1`, payload: JSON.stringify({ size: '1MiB', dataPool: other.name }), headers: h });
    expect(dataPool.statusCode).toBe(403);
    const ok = await t.app.inject({ method: 'PUT', url: `/api/v1/pools/${pool.name}/images/l1`, payload: JSON.stringify({ size: '1MiB' }), headers: h });
    expect(ok.statusCode).toBe(201);
    const inOther = (await t.app.inject({ method: 'GET', url: `/api/v1/pools/${other.name}/images`, headers: bearer(ADMIN) })).json().items;
    expect(inOther).toEqual([]);
  });
});

describe('metrics and logs', () => {
  it('/metrics has HTTP histograms by route and status, Ceph call latency and errors by errno, in-flight and state', async () => {
    await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/images/missing-image`, headers: bearer(READ) });
    const text = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toMatch(/rbdapi_http_request_duration_seconds_bucket\{[^}]*route="\/api\/v1\/pools\/:pool\/images\/:image"[^}]*status="404"/);
    expect(text).toMatch(/rbdapi_ceph_call_duration_seconds_count\{op="rbd_open_read_only",result="ENOENT"\} [1-9]/);
    expect(text).toMatch(/rbdapi_ceph_call_errors_total\{op="rbd_open_read_only",errno="ENOENT"\} [1-9]/);
    // listings read the image directory in one compound OSD read (src/ceph/image-directory.ts)
    expect(text).toMatch(/rbdapi_ceph_call_duration_seconds_count\{op="rados_read_op_operate",result="ok"\} [1-9]/);
    expect(text).toMatch(/^rbdapi_ceph_calls_in_flight \d+$/m);
    expect(text).toMatch(/^rbdapi_ceph_connection_state\{state="connected"\} 1$/m);
    expect(text).toMatch(/^rbdapi_ceph_connected 1$/m);
    expect(text).toMatch(/rbdapi_process_resident_memory_bytes \d/);
  });

  it('access log lines carry request id, route, status, duration and errno; never a token', async () => {
    await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/images/absent`, headers: { ...bearer(WRITE), 'x-request-id': 'req-log-check-1' } });
    const all = logs.join('');
    for (const secret of [READ, WRITE, ADMIN, LIMITED]) expect(all).not.toContain(secret);
    expect(all).not.toMatch(/AQ[A-Za-z0-9+/]{30,}==/); // no cephx key
    const line = logs.map((l) => JSON.parse(l)).find((l) => l.reqId === 'req-log-check-1' && l.msg === 'request');
    expect(line).toMatchObject({ route: '/api/v1/pools/:pool/images/:image', status: 404, code: 'IMAGE_NOT_FOUND', errno: 'ENOENT', principal: 'provisioner' });
    expect(typeof line.durationMs).toBe('number');
  });
});
