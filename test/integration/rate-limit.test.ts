// Per-token request limits: a token bucket per principal (per client address with authentication off);
// 429 problem+json RATE_LIMITED with Retry-After past the burst; other tokens unaffected; probes and /metrics
// exempt; a metric per principal; the defaults let a provisioning burst of 200 PUTs through.
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { CephClient } from '../../src/ceph/client.js';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/http/app.js';
import { TokenStore } from '../../src/http/auth.js';
import { TokenBuckets } from '../../src/http/plugins/rate-limit.js';
import { connect, connectionOptions, makePool } from '../helpers/cluster.js';
import type { CephConnection } from '../../src/ceph/connection.js';

const HOOK = 'hook-provisioner-0a1b2c3d4e5f6071';
const CONSOLE = 'console-reader-9f8e7d6c5b4a3921';
const tokens = () => TokenStore.parse(`${HOOK} write * provisioner\n${CONSOLE} read * console\n`);
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

let conn: CephConnection;
let pool: { name: string; remove: () => Promise<void> };
let ceph: CephClient;
const apps: FastifyInstance[] = [];

async function app(opts: Parameters<typeof buildApp>[0]): Promise<FastifyInstance> {
  const a = await buildApp(opts);
  await a.ready();
  apps.push(a);
  return a;
}

beforeAll(async () => {
  conn = await connect('admin');
  pool = await makePool(conn, 'ratelimit');
  ceph = new CephClient({ ...connectionOptions('rbdapi'), operationTimeoutMs: 30_000, mountTimeout: 10, monOpTimeout: 10, osdOpTimeout: 10 });
  await ceph.ready();
});

afterAll(async () => {
  for (const a of apps) await a.close();
  await ceph?.close();
  await pool?.remove();
  await conn?.close();
});

describe('token bucket', () => {
  it('allows the burst at once, then perSecond; Retry-After is the time to the next token', () => {
    let now = 1_000_000;
    const b = new TokenBuckets(2, 5, () => now);
    for (let i = 0; i < 5; i++) expect(b.take('k').allowed, `request ${i}`).toBe(true);
    const refused = b.take('k');
    expect(refused).toMatchObject({ allowed: false, remaining: 0 });
    expect(refused.ttlMs).toBe(500); // 2 per second → one token every 500 ms
    now += 499;
    expect(b.take('k').allowed).toBe(false);
    now += 1;
    expect(b.take('k').allowed).toBe(true);
    expect(b.take('other').allowed).toBe(true); // keys are independent
    now += 10_000; // refills to the burst, never beyond
    for (let i = 0; i < 5; i++) expect(b.take('k').allowed).toBe(true);
    expect(b.take('k').allowed).toBe(false);
  });

  it('forgets full buckets', () => {
    let now = 0;
    const b = new TokenBuckets(10, 3, () => now);
    b.take('a');
    b.take('b');
    expect(b.size).toBe(2);
    now += 1000;
    b.sweep();
    expect(b.size).toBe(0);
  });
});

describe('per token, with authentication', () => {
  let a: FastifyInstance;
  // one token every 50 s: nothing refills during these tests, however slow the machine
  beforeAll(async () => { a = await app({ ceph, auth: tokens(), rateLimit: { perSecond: 0.02, burst: 10 } }); });

  it('10 requests pass, the 11th is 429 RATE_LIMITED problem+json with Retry-After; another token is unaffected', async () => {
    for (let i = 0; i < 10; i++) {
      const r = await a.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/images`, headers: bearer(HOOK) });
      expect(r.statusCode, `request ${i}`).toBe(200);
      expect(r.headers['ratelimit-limit']).toBe('10');
      expect(r.headers['ratelimit-remaining']).toBe(String(9 - i));
    }
    const r = await a.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/images`, headers: bearer(HOOK) });
    expect(r.statusCode).toBe(429);
    expect(r.headers['content-type']).toMatch(/application\/problem\+json/);
    const retryAfter = Number(r.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(45); // the time to the next token: ~50 s
    expect(retryAfter).toBeLessThanOrEqual(50);
    expect(r.headers['ratelimit-remaining']).toBe('0');
    const body = r.json();
    expect(body).toMatchObject({ status: 429, code: 'RATE_LIMITED', type: 'urn:rbd-rest-api:problem:rate-limited', retryAfter });
    expect(body.detail).toContain('provisioner');
    expect(JSON.stringify(body)).not.toContain(HOOK);
    expect(body.requestId).toBe(r.headers['x-request-id']);
    // writes are limited too, before the body is even looked at (no Ceph work, no validation)
    const w = await a.inject({ method: 'POST', url: `/api/v1/pools/${pool.name}/images`, headers: { ...bearer(HOOK), 'content-type': 'application/json' }, payload: '{"bad":' });
    expect(w.statusCode).toBe(429);
    // the console's token has its own bucket
    expect((await a.inject({ method: 'GET', url: '/api/v1/pools', headers: bearer(CONSOLE) })).statusCode).toBe(200);
  });

  it('probes and /metrics are never limited; the metric counts limited requests per token name', async () => {
    for (let i = 0; i < 30; i++) {
      for (const url of ['/healthz', '/readyz', '/metrics']) {
        expect((await a.inject({ method: 'GET', url })).statusCode, url).toBe(200);
      }
    }
    const m = (await a.inject({ method: 'GET', url: '/metrics' })).body;
    expect(m).toMatch(/^rbdapi_http_rate_limited_total\{principal="provisioner"\} 2$/m);
    expect(m).not.toMatch(/rate_limited_total\{principal="console"\}/);
    expect(m).not.toContain(HOOK);
  });

  it('after Retry-After the token may call again', async () => {
    const a = await app({ ceph, auth: tokens(), rateLimit: { perSecond: 2, burst: 1 } });
    let r = await a.inject({ method: 'GET', url: '/api/v1/pools', headers: bearer(HOOK) });
    for (let i = 0; i < 20 && r.statusCode !== 429; i++) r = await a.inject({ method: 'GET', url: '/api/v1/pools', headers: bearer(HOOK) });
    expect(r.statusCode).toBe(429);
    await new Promise((res) => setTimeout(res, Number(r.headers['retry-after']) * 1000 + 50));
    expect((await a.inject({ method: 'GET', url: '/api/v1/pools', headers: bearer(HOOK) })).statusCode).toBe(200);
  });

  it('requests without a valid token are refused by authentication (401), not counted against a token', async () => {
    for (let i = 0; i < 15; i++) expect((await a.inject({ method: 'GET', url: '/api/v1/pools' })).statusCode).toBe(401);
    expect((await a.inject({ method: 'GET', url: '/api/v1/pools', headers: bearer(CONSOLE) })).statusCode).toBe(200);
  });
});

describe('guessing tokens', () => {
  it('after 30 failed authentications an address gets 429 instead of a token check; valid tokens and other addresses still pass', async () => {
    const a = await app({ ceph, auth: tokens(), rateLimit: { perSecond: 100, burst: 400 } });
    const from = (remoteAddress: string, token?: string) => a.inject({
      method: 'GET', url: '/api/v1/pools', remoteAddress, ...(token ? { headers: bearer(token) } : {}),
    });
    let r = await from('10.1.1.1', 'guess-0-0000000000000000');
    let failed = 0;
    while (r.statusCode === 401 && failed < 60) r = await from('10.1.1.1', `guess-${++failed}-0000000000000000`);
    expect(failed).toBeGreaterThanOrEqual(30); // the burst (plus what refilled meanwhile on a slow machine)
    expect(r.statusCode).toBe(429);
    expect(r.json()).toMatchObject({ code: 'RATE_LIMITED' });
    expect(r.json().detail).toMatch(/failed authentications/);
    expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect((await from('10.1.1.1')).statusCode).toBe(429); // no token at all: the same
    expect((await from('10.1.1.1', CONSOLE)).statusCode).toBe(200); // a valid token from the same address (NAT)
    expect((await from('10.1.1.2', 'guess-x-0000000000000000')).statusCode).toBe(401); // another address
    expect((await a.inject({ method: 'GET', url: '/readyz', remoteAddress: '10.1.1.1' })).statusCode).toBe(200);
    const m = (await a.inject({ method: 'GET', url: '/metrics' })).body;
    expect(m).toMatch(/^rbdapi_http_rate_limited_total\{principal="-"\} 2$/m);
  });
});

describe('per client address, without authentication', () => {
  it('each address has its own bucket', async () => {
    const a = await app({ ceph, rateLimit: { perSecond: 0.02, burst: 3 } });
    const get = (remoteAddress: string) => a.inject({ method: 'GET', url: '/api/v1/pools', remoteAddress });
    for (let i = 0; i < 3; i++) expect((await get('10.0.0.1')).statusCode).toBe(200);
    const r = await get('10.0.0.1');
    expect(r.statusCode).toBe(429);
    expect(r.json().detail).toContain('this client');
    expect((await get('10.0.0.2')).statusCode).toBe(200);
    expect((await a.inject({ method: 'GET', url: '/metrics', remoteAddress: '10.0.0.1' })).body)
      .toMatch(/^rbdapi_http_rate_limited_total\{principal="-"\} 1$/m);
  });

  it('perSecond 0 (RATE_LIMIT_PER_SECOND=0) turns limits off', async () => {
    const a = await app({ ceph, rateLimit: { perSecond: 0, burst: 1 } });
    for (let i = 0; i < 20; i++) expect((await a.inject({ method: 'GET', url: '/api/v1/pools' })).statusCode).toBe(200);
  });
});

describe('defaults', () => {
  it('RATE_LIMIT_PER_SECOND=100 and RATE_LIMIT_BURST=400; bad values stop the start', () => {
    const c = loadConfig({});
    expect(c.RATE_LIMIT_PER_SECOND).toBe(100);
    expect(c.RATE_LIMIT_BURST).toBe(400);
    expect(loadConfig({ RATE_LIMIT_PER_SECOND: '0.5', RATE_LIMIT_BURST: '5' })).toMatchObject({ RATE_LIMIT_PER_SECOND: 0.5, RATE_LIMIT_BURST: 5 });
    expect(() => loadConfig({ RATE_LIMIT_PER_SECOND: '-1' })).toThrow(/RATE_LIMIT_PER_SECOND/);
    expect(() => loadConfig({ RATE_LIMIT_BURST: '0' })).toThrow(/RATE_LIMIT_BURST/);
    expect(() => loadConfig({ RATE_LIMIT_BURST: 'many' })).toThrow(/RATE_LIMIT_BURST/);
  });

  it('a provisioning burst of 200 concurrent PUTs with one token passes over HTTP; going on past the burst gets 429s', async () => {
    const c = loadConfig({});
    const a = await app({ ceph, auth: tokens(), rateLimit: { perSecond: c.RATE_LIMIT_PER_SECOND, burst: c.RATE_LIMIT_BURST } });
    await a.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(a.server.address() as AddressInfo).port}`;
    const dispatcher = new Agent({ connections: 64 });
    try {
      const puts = await Promise.all(Array.from({ length: 200 }, (_, i) => request(`${base}/api/v1/pools/${pool.name}/images/pvc-${i}`, {
        method: 'PUT', dispatcher, headers: { ...bearer(HOOK), 'content-type': 'application/json' }, body: JSON.stringify({ size: '1MiB' }),
      }).then(async (r) => { await r.body.dump(); return r.statusCode; })));
      expect(puts.filter((s) => s !== 201)).toEqual([]);
      // the same token keeps going as fast as it can (cheap requests: refused by validation, no Ceph work):
      // the bucket runs dry and 429s appear; probes stay 200 meanwhile
      const statuses: number[] = [];
      const probes: number[] = [];
      const started = Date.now();
      while (!statuses.includes(429) && Date.now() - started < 20_000) {
        const batch = await Promise.all(Array.from({ length: 300 }, () => request(`${base}/api/v1/pools/${pool.name}/images?limit=0`, { dispatcher, headers: bearer(HOOK) })
          .then(async (r) => { await r.body.dump(); return r.statusCode; })));
        statuses.push(...batch);
        const p = await request(`${base}/readyz`, { dispatcher });
        await p.body.dump();
        probes.push(p.statusCode);
      }
      expect(statuses).toContain(429);
      expect(statuses.filter((s) => s !== 400 && s !== 429)).toEqual([]);
      expect(statuses.filter((s) => s === 400).length).toBeGreaterThanOrEqual(150); // what was left of the burst, and more
      expect(probes.every((s) => s === 200)).toBe(true);
    } finally {
      await dispatcher.close();
    }
    const listed = await a.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/images?limit=1000`, headers: bearer(CONSOLE) });
    expect(listed.statusCode, listed.body).toBe(200);
    expect(listed.json().items).toHaveLength(200);
  }, 120_000);
});
