// CORS for the web console, tested from a real browser: headless Chromium opens a page served by another
// origin (a tiny HTTP server on another 127.0.0.1 port) whose script calls the API with a bearer token.
// Preflights (PUT/PATCH/DELETE with Authorization and JSON) are answered before authentication; the page can
// read x-request-id, Location and Link; an origin not in CORS_ORIGINS cannot read anything; without
// CORS_ORIGINS the service sends no CORS headers at all.
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CephClient } from '../../src/ceph/client.js';
import { buildApp } from '../../src/http/app.js';
import { TokenStore } from '../../src/http/auth.js';
import { parseCorsOrigins } from '../../src/http/plugins/cors.js';
import { loadConfig, ConfigError } from '../../src/config.js';
import { connect, connectionOptions, makePool } from '../helpers/cluster.js';
import type { CephConnection } from '../../src/ceph/connection.js';

const TOKEN = 'console-3b9f2c7e1d5a4f60b8e2';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let conn: CephConnection;
let pool: { name: string; remove: () => Promise<void> };
let ceph: CephClient;
let api: FastifyInstance;
let apiUrl: string;
let pages: Server[] = [];
let browser: Browser;
let allowedOrigin: string;
let otherOrigin: string;

/** A page server on 127.0.0.1:<free port>: another origin than the API. */
async function pageServer(): Promise<{ server: Server; origin: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>console</title><h1>console</h1>');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  pages.push(server);
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function buildApi(corsOrigins: readonly string[] | undefined): Promise<{ app: FastifyInstance; url: string }> {
  const app = await buildApp({ ceph, auth: TokenStore.parse(`${TOKEN} write * console\n`), ...(corsOrigins ? { corsOrigins } : {}) });
  // a test-only route that sends a Link header (pagination and task links use it)
  app.get('/api/v1/test-link', async (_req, reply) => reply.header('link', '</api/v1/pools>; rel="next"').send({ ok: true }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
}

/** Open a page of `origin` in the browser. */
async function openPage(origin: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${origin}/console.html`);
  return page;
}

interface Seen { ok: boolean; status?: number; headers?: Record<string, string | null>; body?: unknown; error?: string }

/** fetch() inside the page, with the bearer token; returns what the page's script can see. */
async function pageFetch(page: Page, url: string, init: { method?: string; body?: unknown; token?: string | null; headers?: Record<string, string> } = {}): Promise<Seen> {
  return page.evaluate(async ({ url, init, token }) => {
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    if (token) headers.authorization = `Bearer ${token}`;
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    try {
      const r = await fetch(url, { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : JSON.stringify(init.body), mode: 'cors' });
      const text = await r.text();
      const pick = ['x-request-id', 'location', 'link', 'content-type', 'www-authenticate', 'retry-after'];
      return {
        ok: true, status: r.status,
        headers: Object.fromEntries(pick.map((h) => [h, r.headers.get(h)])),
        body: text ? JSON.parse(text) : undefined,
      };
    } catch (e) {
      return { ok: false, error: String(e) };
    }
  }, { url, init, token: init.token === undefined ? TOKEN : init.token });
}

beforeAll(async () => {
  expect(existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (apt-get install chromium)`).toBe(true);
  conn = await connect('admin');
  pool = await makePool(conn, 'cors');
  ceph = new CephClient({ ...connectionOptions('rbdapi-pools'), operationTimeoutMs: 30_000, mountTimeout: 10, monOpTimeout: 10, osdOpTimeout: 10 });
  await ceph.ready();
  const allowed = await pageServer();
  const other = await pageServer();
  allowedOrigin = allowed.origin;
  otherOrigin = other.origin;
  ({ app: api, url: apiUrl } = await buildApi([allowedOrigin, 'https://console.example.com']));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await api?.close();
  for (const s of pages) await new Promise((r) => s.close(r));
  await ceph?.close();
  await pool?.remove();
  await conn?.close();
});

describe('from a page of an allowed origin (headless Chromium)', () => {
  it('GET with a bearer token → 200, and the page reads the body and x-request-id', async () => {
    const page = await openPage(allowedOrigin);
    const r = await pageFetch(page, `${apiUrl}/api/v1/pools`);
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(200);
    expect(r.headers!['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect((r.body as { items: Array<{ name: string }> }).items.map((p) => p.name)).toContain(pool.name);
    await page.close();
  });

  it('POST creates (preflight with Authorization + JSON), Location readable; PUT, PATCH, DELETE work too', async () => {
    const page = await openPage(allowedOrigin);
    const base = `${apiUrl}/api/v1/pools/${pool.name}/images`;
    const created = await pageFetch(page, base, { method: 'POST', body: { name: 'from-browser', size: '1MiB' } });
    expect(created.error).toBeUndefined();
    expect(created.status).toBe(201);
    expect(created.headers!.location).toBe(`/api/v1/pools/${pool.name}/images/from-browser`);
    expect(created.headers!['x-request-id']).toBeTruthy();
    const put = await pageFetch(page, `${base}/put-from-browser`, { method: 'PUT', body: { size: '2MiB' } });
    expect(put.status).toBe(201);
    const patched = await pageFetch(page, `${base}/from-browser`, { method: 'PATCH', body: { size: '4MiB' } });
    expect(patched.status).toBe(200);
    expect((patched.body as { size: number }).size).toBe(4 * 1024 * 1024);
    for (const name of ['from-browser', 'put-from-browser']) {
      expect((await pageFetch(page, `${base}/${name}`, { method: 'DELETE' })).status).toBe(204);
    }
    expect((await pageFetch(page, base)).body).toMatchObject({ items: [] });
    await page.close();
  });

  it('the page can read a Link header and a request id it chose', async () => {
    const page = await openPage(allowedOrigin);
    const r = await pageFetch(page, `${apiUrl}/api/v1/test-link`, { headers: { 'x-request-id': 'console-req-42' } });
    expect(r.status).toBe(200);
    expect(r.headers!.link).toBe('</api/v1/pools>; rel="next"');
    expect(r.headers!['x-request-id']).toBe('console-req-42');
    await page.close();
  });

  it('error answers are readable too: 401 problem+json with WWW-Authenticate, 404 for a missing image', async () => {
    const page = await openPage(allowedOrigin);
    const noToken = await pageFetch(page, `${apiUrl}/api/v1/pools`, { token: null });
    expect(noToken.status).toBe(401);
    expect(noToken.headers!['content-type']).toMatch(/application\/problem\+json/);
    expect(noToken.headers!['www-authenticate']).toMatch(/^Bearer/);
    expect(noToken.body).toMatchObject({ code: 'UNAUTHORIZED' });
    const wrong = await pageFetch(page, `${apiUrl}/api/v1/pools/${pool.name}/images/nope`, { method: 'DELETE', token: 'not-the-token-0123456789' });
    expect(wrong.status).toBe(401);
    const missing = await pageFetch(page, `${apiUrl}/api/v1/pools/${pool.name}/images/nope`);
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ code: 'IMAGE_NOT_FOUND' });
    await page.close();
  });
});

describe('from a page of another origin', () => {
  it('the browser blocks the read, and a preflighted write never reaches the API', async () => {
    const page = await openPage(otherOrigin);
    const r = await pageFetch(page, `${apiUrl}/api/v1/pools`);
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/Failed to fetch|TypeError/);
    const w = await pageFetch(page, `${apiUrl}/api/v1/pools/${pool.name}/images`, { method: 'POST', body: { name: 'evil', size: '1MiB' } });
    expect(w.ok).toBe(false);
    await page.close();
    const list = await api.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/images`, headers: { authorization: `Bearer ${TOKEN}` } });
    expect(list.json().items).toEqual([]);
  });
});

describe('preflight answers (HTTP level)', () => {
  const preflight = (origin: string, method = 'DELETE', headers = 'authorization,content-type') => api.inject({
    method: 'OPTIONS', url: `/api/v1/pools/${pool.name}/images/x`,
    headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers },
  });

  it('an allowed origin: 204 with the origin, methods, Authorization allowed, max-age; no token needed', async () => {
    const r = await preflight(allowedOrigin);
    expect(r.statusCode).toBe(204);
    expect(r.headers['access-control-allow-origin']).toBe(allowedOrigin);
    expect(String(r.headers['access-control-allow-methods'])).toMatch(/DELETE/);
    expect(String(r.headers['access-control-allow-headers']).toLowerCase()).toContain('authorization');
    expect(r.headers['access-control-max-age']).toBe('600');
    expect(r.headers['access-control-allow-credentials']).toBeUndefined();
    expect(String(r.headers.vary)).toMatch(/Origin/i);
  });

  it('every route family answers preflights (pools, images, namespaced images, unknown paths)', async () => {
    for (const url of ['/api/v1/pools', `/api/v1/pools/${pool.name}`, `/api/v1/pools/${pool.name}/images`,
      `/api/v1/pools/${pool.name}/namespaces/ns/images/a`, '/api/v1/tasks/abc', '/readyz']) {
      const r = await api.inject({ method: 'OPTIONS', url, headers: { origin: allowedOrigin, 'access-control-request-method': 'PUT', 'access-control-request-headers': 'authorization' } });
      expect(r.statusCode, url).toBe(204);
      expect(r.headers['access-control-allow-origin'], url).toBe(allowedOrigin);
    }
  });

  it('actual responses expose x-request-id, Location and Link', async () => {
    const r = await api.inject({ method: 'GET', url: '/api/v1/pools', headers: { origin: allowedOrigin, authorization: `Bearer ${TOKEN}` } });
    expect(r.statusCode).toBe(200);
    expect(r.headers['access-control-allow-origin']).toBe(allowedOrigin);
    const exposed = String(r.headers['access-control-expose-headers']).toLowerCase().split(/\s*,\s*/);
    expect(exposed).toEqual(expect.arrayContaining(['x-request-id', 'location', 'link', 'retry-after']));
  });

  it('another origin gets no CORS headers on a preflight or a request', async () => {
    const r = await preflight(otherOrigin);
    expect(r.headers['access-control-allow-origin']).toBeUndefined();
    expect(r.statusCode).not.toBe(204);
    const g = await api.inject({ method: 'GET', url: '/api/v1/pools', headers: { origin: otherOrigin, authorization: `Bearer ${TOKEN}` } });
    expect(g.statusCode).toBe(200);
    expect(g.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('a plain OPTIONS (no Origin / no request method) is not treated as a preflight', async () => {
    const r = await api.inject({ method: 'OPTIONS', url: '/api/v1/pools' });
    expect(r.statusCode).toBeGreaterThanOrEqual(400);
    expect(r.statusCode).toBeLessThan(500);
    expect(r.headers['access-control-allow-origin']).toBeUndefined();
    const r2 = await api.inject({ method: 'OPTIONS', url: '/api/v1/pools', headers: { origin: allowedOrigin } });
    expect(r2.statusCode).toBeGreaterThanOrEqual(400);
    expect(r2.statusCode).toBeLessThan(500);
  });
});

describe('CORS_ORIGINS unset', () => {
  it('no CORS headers at all, and the browser cannot read the API', async () => {
    const plain = await buildApi(undefined);
    try {
      const r = await plain.app.inject({ method: 'GET', url: '/api/v1/pools', headers: { origin: allowedOrigin, authorization: `Bearer ${TOKEN}` } });
      expect(r.statusCode).toBe(200);
      expect(Object.keys(r.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
      const p = await plain.app.inject({ method: 'OPTIONS', url: '/api/v1/pools', headers: { origin: allowedOrigin, 'access-control-request-method': 'GET' } });
      expect(Object.keys(p.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
      const page = await openPage(allowedOrigin);
      const seen = await pageFetch(page, `${plain.url}/api/v1/pools`);
      expect(seen.ok).toBe(false);
      await page.close();
    } finally {
      await plain.app.close();
    }
  });
});

describe('CORS_ORIGINS configuration', () => {
  it('parses a comma list, * and trailing slashes; refuses paths, other schemes and garbage with a clear message', () => {
    expect(parseCorsOrigins('https://a.example.com, http://127.0.0.1:3000/')).toEqual(['https://a.example.com', 'http://127.0.0.1:3000']);
    expect(parseCorsOrigins('*')).toEqual(['*']);
    expect(loadConfig({ CORS_ORIGINS: 'https://console.example.com' }).CORS_ORIGINS).toEqual(['https://console.example.com']);
    expect(loadConfig({}).CORS_ORIGINS).toBeUndefined();
    for (const bad of ['https://a.example.com/console', 'ftp://a.example.com', 'console.example.com', 'https://u:p@a.example.com']) {
      expect(() => loadConfig({ CORS_ORIGINS: bad }), bad).toThrow(ConfigError);
      expect(() => loadConfig({ CORS_ORIGINS: bad }), bad).toThrow(/CORS_ORIGINS/);
    }
  });
});
