// Every route of the committed OpenAPI document, every method, with hostile path parameters, bodies and
// queries: never a 5xx, every error application/problem+json with a stable code, and the fixtures (an image
// with a snapshot, a namespace) unchanged at the end. The routes come from openapi/openapi.json, so a route
// added later is fuzzed without editing this file.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CephConnection } from '../../src/ceph/connection.js';
import { Images } from '../../src/ceph/images.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { connect, makePool } from '../helpers/cluster.js';
import { documentedRoutes, fillTemplate } from '../helpers/openapi-routes.js';
import { vague400 } from '../helpers/vague-400.js';

let t: TestApp;
let conn: CephConnection;
let pool: { name: string; remove: () => Promise<void> };


/** Hostile values for a path parameter, already percent-encoded as a client would send them. */
const HOSTILE = [
  '%00', 'a%2Fb', 'a%40b', 'x'.repeat(300), '%F0%9F%92%A9', '%ff', '%20', '-', '.rbdapi-copy-1', 'rbd_directory',
  '__proto__', 'constructor', '9'.repeat(30), '%25', 'a%3Fb%3Dc', '%E2%80%AE', 'A'.repeat(64) + '%00',
];
const BODIES: (string | undefined)[] = [
  undefined, '', '{}', '[]', 'null', '"x"', '{', '{"name":null,"size":-1}', '{"size":"1e999GiB","features":["nope"]}',
  '{"destination":{"name":"../x"},"snapshots":"yes"}', '{"value":{"a":1}}', '{"__proto__":{"polluted":1}}',
  JSON.stringify({ a: Array.from({ length: 50 }, () => ({ b: [1, 2, { c: 'x'.repeat(100) }] })) }),
  // near misses of real bodies: a union (image or clone) must still report the field, not "Invalid input"
  '{"size":"10G","name":"x"}', '{"size":"10Gi","features":["layring"]}', '{"source":{"image":1,"snapshot":"s"}}', '{"size":true}',
  '{"name":"n","size":"1.5","source":{"image":"img","snapshot":"snap","pool":"a/b"}}', '{"destination":{"name":"d"},"objectSize":"4MB"}',
  '{"value":7}', '{"name":"","protected":"yes"}', '{"allowShrink":1,"size":"1m"}', '{"keepFor":"7d"}',
];
const QUERIES = ['', '?limit=-1&cursor=%00', '?confirm=&force=maybe', '?keepFor=-1d&timeoutMs=1e9', '?state=nope&pool=%00', '?details=true&total=true&prefix=%FF',
  '?bogus=1', '?details=yes&limit=1e3', '?force=2&sort=name', '?cursor=garbage', '?keepFor=soon'];

beforeAll(async () => {
  conn = await connect('admin');
  pool = await makePool(conn, 'fuzzroutes');
  const images = new Images(conn);
  await images.create(pool.name, 'img', 8 * 1024 * 1024);
  await images.snapshotCreate(pool.name, 'img', 'snap');
  t = await testApp('admin');
  const ns = await t.app.inject({ method: 'PUT', url: `/api/v1/pools/${pool.name}/namespaces/ns` });
  expect(ns.statusCode).toBe(201);
}, 120_000);
afterAll(async () => {
  await t?.close();
  await pool?.remove();
  await conn?.close();
});

/** The path with every parameter filled: the fixture's value, except `hostileAt` which gets `value`. */
function fill(template: string, hostileAt: string | undefined, value: string): string {
  const real: Record<string, string> = { pool: pool.name, namespace: 'ns', image: 'img', snapshot: 'snap', key: 'k1', id: 'nope' };
  return fillTemplate(template, (name) => (name === hostileAt ? value : real[name] ?? 'x'));
}

describe('every documented route with hostile input', () => {
  it('never answers 5xx; every error is problem+json with a code; the fixtures are unchanged', async () => {
    const failures: string[] = [];
    let requests = 0;
    const routes = documentedRoutes();
    for (const { template, method, params } of routes) {
      if (template.endsWith('/events') || template === '/metrics') continue; // streams; covered by their own tests
      // hostile values in each parameter in turn (never all-real for a destructive method: the fixtures stay)
      const urls: string[] = [];
      // (dot segments only for GET: a client's URL parser resolves `…/namespaces/../images/img` to
      // `…/images/img` before sending — curl does too — so a DELETE of it is a DELETE of the real image)
      const values = method === 'get' ? [...HOSTILE, '..', '%2e%2e'] : HOSTILE;
      for (const p of params) for (const v of values) urls.push(fill(template, p, v));
      if (method === 'get' || params.length === 0) urls.push(fill(template, undefined, ''));
      for (const [i, url] of urls.entries()) {
        const query = QUERIES[i % QUERIES.length]!;
        const body = method === 'get' ? undefined : BODIES[i % BODIES.length];
        const r = await t.app.inject({
          method: method.toUpperCase() as 'GET',
          url: url + query,
          ...(body !== undefined ? { payload: body, headers: { 'content-type': 'application/json' } } : {}),
        });
        requests++;
        const where = `${method.toUpperCase()} ${url}${query} body=${body?.slice(0, 60)}`;
        if (r.statusCode >= 500) failures.push(`${where} → ${r.statusCode} ${r.body.slice(0, 300)}`);
        else if (r.statusCode >= 400) {
          if (!String(r.headers['content-type']).startsWith('application/problem+json')) failures.push(`${where} → ${r.statusCode} as ${r.headers['content-type']}`);
          else if (typeof r.json().code !== 'string') failures.push(`${where} → ${r.statusCode} without a code`);
          else if (r.statusCode === 400 && vague400(r.json())) failures.push(`${where} → 400 with ${vague400(r.json())}: ${r.body.slice(0, 300)}`);
        }
      }
    }
    console.log(`${requests} requests over ${new Set(routes.map((r) => r.template)).size} paths`);
    expect(failures, failures.join('\n')).toEqual([]);
    expect(requests).toBeGreaterThan(1000);
    // the fixtures: still there, unchanged
    const img = await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/images/img` });
    expect(img.statusCode).toBe(200);
    expect(img.json()).toMatchObject({ size: 8 * 1024 * 1024, snapshotCount: 1 });
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/namespaces/ns` })).statusCode).toBe(200);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  }, 600_000);

  it('an unknown query parameter is 400 on every route, named, before anything is done', async () => {
    const failures: string[] = [];
    for (const { template, method } of documentedRoutes()) {
      if (template === '/metrics') continue;
      const url = `${fill(template, undefined, '')}?bogus=1`;
      const r = await t.app.inject({ method: method.toUpperCase() as 'GET', url });
      const p = r.json();
      // a route with a body may report the (missing) body first; the query must be refused either way
      const named = p.errors?.some((e: { in: string; path: string }) => e.in === 'querystring' && e.path === 'bogus');
      if (r.statusCode !== 400 || p.code !== 'VALIDATION_FAILED' || (!named && !['put', 'post', 'patch'].includes(method))) {
        failures.push(`${method.toUpperCase()} ${url} → ${r.statusCode} ${r.body.slice(0, 200)}`);
      }
    }
    expect(failures, failures.join('\n')).toEqual([]);
    // nothing was done: the fixtures are whole
    const img = await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/images/img` });
    expect(img.json()).toMatchObject({ size: 8 * 1024 * 1024, snapshotCount: 1 });
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/namespaces/ns` })).statusCode).toBe(200);
  });

  it('the check itself: a 400 that does not name the field fails it', () => {
    expect(vague400({ code: 'VALIDATION_FAILED', detail: 'body: Invalid input', errors: [{ in: 'body', path: '', message: 'Invalid input' }] })).toBeDefined();
    expect(vague400({ code: 'VALIDATION_FAILED', detail: 'querystring: Unrecognized key: "x"', errors: [{ in: 'querystring', path: '', message: 'Unrecognized key: "x"' }] })).toBeDefined();
    expect(vague400({ code: 'VALIDATION_FAILED', detail: 'body.size: is required', errors: [{ in: 'body', path: 'size', message: 'is required' }] })).toBeUndefined();
    expect(vague400({ code: 'CONFIRMATION_REQUIRED', detail: 'Deleting pool p needs ?confirm=p.' })).toBeUndefined();
  });
});
