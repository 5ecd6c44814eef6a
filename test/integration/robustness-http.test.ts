// Items 7 and 8 of the robustness issue, over real sockets (what the framework answers by itself never
// reaches inject()): JSON with any parameters on every body route; every error — the framework's own too —
// is problem+json with x-request-id, an access-log line and a metric.
import { connect as netConnect } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { CephClient } from '../../src/ceph/client.js';
import { buildApp } from '../../src/http/app.js';
import { connectionOptions, connect, makePool } from '../helpers/cluster.js';
import type { FastifyInstance } from 'fastify';
import type { CephConnection } from '../../src/ceph/connection.js';

let app: FastifyInstance;
let ceph: CephClient;
let base: string;
let port: number;
let conn: CephConnection;
let pool: { name: string; remove: () => Promise<void> };
const logLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  conn = await connect();
  pool = await makePool(conn, 'rob-http');
  ceph = new CephClient({ ...connectionOptions('rbdapi-pools'), operationTimeoutMs: 15_000 });
  await ceph.ready();
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  app = await buildApp({ ceph, loggerInstance: pino({ level: 'info' }, sink) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  await app.close();
  await ceph.close();
  await pool.remove();
  await conn.close();
});

/** Raw HTTP/1.1 over a socket: the answer's status line, headers and body. */
function raw(request: string | Buffer, { endAfter = true, waitMs = 10_000 } = {}): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const s = netConnect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`no answer within ${waitMs} ms: ${data}`)); }, waitMs);
    s.on('data', (d) => {
      data += d.toString('latin1');
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = data.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const h of head.slice(1)) {
        const i = h.indexOf(':');
        headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
      }
      const len = Number(headers['content-length'] ?? 0);
      const body = data.slice(end + 4);
      if (Buffer.byteLength(body, 'latin1') >= len) {
        clearTimeout(timer);
        s.destroy();
        resolve({ status: Number(head[0]!.split(' ')[1]), headers, body: body.slice(0, len) });
      }
    });
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
    s.on('connect', () => { s.write(request); if (endAfter) { /* keep open for the answer */ } });
  });
}

async function expectProblem(r: { status: number; headers: Record<string, string>; body: string }, status: number, code?: RegExp) {
  expect(r.status).toBe(status);
  expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(r.headers['x-request-id']).toBeTruthy();
  const p = JSON.parse(r.body) as { status: number; code: string; requestId: string };
  expect(p.status).toBe(status);
  if (code) expect(p.code).toMatch(code);
  expect(p.requestId).toBe(r.headers['x-request-id']);
  // one access-log line for it (written after the answer: give the logger a moment)
  await new Promise((res) => setTimeout(res, 50));
  expect(logLines.some((l) => l.msg === 'request' && l.status === status && (l.reqId === p.requestId || l.requestId === p.requestId)),
    `access log line for ${status} ${p.code}`).toBe(true);
  return p;
}

const CONTENT_TYPES = [
  'application/json; charset=utf-8',
  'Application/Json; Charset=UTF-8',
  'application/json;charset="utf-8"',
  'application/json ; charset=utf-8',
  'application/json; charset=UTF8',
  'application/vnd.foo+json; x=1',
  'application/merge-patch+json',
  'application/json; foo=bar; charset=utf-8',
];

describe('item 7: JSON with parameters on every body route', () => {
  it('POST/PUT/PATCH images and POST pools accept application/json with any parameters, any case', async () => {
    let n = 0;
    for (const ct of CONTENT_TYPES) {
      const name = `ct${n++}`;
      const post = await fetch(`${base}/api/v1/pools/${pool.name}/images`, { method: 'POST', headers: { 'content-type': ct }, body: JSON.stringify({ name, size: '1MiB' }) });
      expect(post.status, `POST ${ct}`).toBe(201);
      const put = await fetch(`${base}/api/v1/pools/${pool.name}/images/${name}p`, { method: 'PUT', headers: { 'content-type': ct }, body: JSON.stringify({ size: '1MiB' }) });
      expect(put.status, `PUT ${ct}`).toBe(201);
      const patch = await fetch(`${base}/api/v1/pools/${pool.name}/images/${name}`, { method: 'PATCH', headers: { 'content-type': ct }, body: JSON.stringify({ size: '2MiB' }) });
      expect(patch.status, `PATCH ${ct}`).toBe(200);
    }
    // pool create: a bad body proves the JSON was parsed (400 VALIDATION_FAILED, not 415)
    const bad = await fetch(`${base}/api/v1/pools`, { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify({ name: '' }) });
    expect(bad.status).toBe(400);
    expect((await bad.json()).code).toBe('VALIDATION_FAILED');
  });

  it('a charset other than UTF-8 is 415 with a reason; a non-JSON body is 415', async () => {
    const r = await fetch(`${base}/api/v1/pools/${pool.name}/images`, { method: 'POST', headers: { 'content-type': 'application/json; charset=latin1' }, body: JSON.stringify({ name: 'l1', size: '1MiB' }) });
    expect(r.status).toBe(415);
    expect((await r.json()).detail).toMatch(/UTF-8/);
    const f = await fetch(`${base}/api/v1/pools/${pool.name}/images`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=x&size=1' });
    expect(f.status).toBe(415);
    expect(f.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('DELETE with an empty body works whatever its Content-Type says (curl -X DELETE -d "")', async () => {
    const types = ['application/json; charset=utf-8', 'application/json', 'application/x-www-form-urlencoded', 'text/plain;charset=UTF-8', 'multipart/form-data; boundary=x'];
    let i = 0;
    for (const ct of types) {
      const name = `del${i++}`;
      expect((await fetch(`${base}/api/v1/pools/${pool.name}/images`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, size: '1MiB' }) })).status).toBe(201);
      const r = await raw(`DELETE /api/v1/pools/${pool.name}/images/${name} HTTP/1.1\r\nHost: x\r\nContent-Type: ${ct}\r\nContent-Length: 0\r\n\r\n`);
      expect([202, 204], `DELETE with ${ct}`).toContain(r.status);
    }
  });
});

describe('item 8: every error is problem+json with x-request-id, an access-log line and a metric', () => {
  it('bad percent-encoding in the path → 400 problem+json (not FST_ERR_BAD_URL)', async () => {
    for (const bad of ['%C3%28', '%C0%AF', '%', '%zz', 'caf%E9']) {
      const r = await raw(`GET /api/v1/pools/${pool.name}/images/${bad} HTTP/1.1\r\nHost: x\r\n\r\n`);
      const p = await expectProblem(r, 400, /^VALIDATION_FAILED$/);
      expect(JSON.stringify(p)).not.toContain('FST_ERR');
    }
  });

  it('a path parameter over the limit → 414 problem+json', async () => {
    const r = await raw(`GET /api/v1/pools/${pool.name}/images/${'x'.repeat(5000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await expectProblem(r, 414);
  });

  it('headers too large → 431 problem+json', async () => {
    const r = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(r.status).toBe(431);
    expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(r.headers['x-request-id']).toBeTruthy();
    expect(JSON.parse(r.body)).toMatchObject({ status: 431, code: 'HEADERS_TOO_LARGE' });
  });

  it('malformed request → 400 problem+json from the clientError handler', async () => {
    const r = await raw('GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n');
    expect(r.status).toBe(400);
    expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(r.headers['x-request-id']).toBeTruthy();
  });

  it('wrong method → 405 with Allow; OPTIONS too (no CORS preflight)', async () => {
    const r = await raw('DELETE /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    const p = await expectProblem(r, 405, /^METHOD_NOT_ALLOWED$/);
    expect(r.headers.allow).toMatch(/GET/);
    expect(p.code).toBe('METHOD_NOT_ALLOWED');
    const o = await raw(`OPTIONS /api/v1/pools/${pool.name}/images HTTP/1.1\r\nHost: x\r\n\r\n`);
    await expectProblem(o, 405);
    expect(o.headers.allow).toMatch(/GET/);
    expect(o.headers.allow).toMatch(/POST/);
    const put = await raw('PUT /api/v1/pools HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
    await expectProblem(put, 405);
    expect(put.headers.allow).toMatch(/POST/);
    // a path that exists under no method is still 404
    const none = await raw('GET /api/v1/nothing-here HTTP/1.1\r\nHost: x\r\n\r\n');
    await expectProblem(none, 404);
  });

  it('/docs/static/../.. is 404, not 400', async () => {
    const r = await raw('GET /docs/static/../../package.json HTTP/1.1\r\nHost: x\r\n\r\n');
    await expectProblem(r, 404);
  });

  it('framework errors are counted in the HTTP metrics', async () => {
    await raw(`GET /api/v1/pools/${pool.name}/images/%zz HTTP/1.1\r\nHost: x\r\n\r\n`);
    const m = await (await fetch(`${base}/metrics`)).text();
    expect(m).toMatch(/rbdapi_http_request_duration_seconds_count\{[^}]*status="400"[^}]*\}/);
    expect(m).toMatch(/rbdapi_http_request_duration_seconds_count\{[^}]*status="405"[^}]*\}/);
  });
});

describe('small contract gaps (L9)', () => {
  it('GET of a name over 2 KB is 404 IMAGE_NOT_FOUND, not 400 ENAMETOOLONG', async () => {
    const r = await fetch(`${base}/api/v1/pools/${pool.name}/images/${'x'.repeat(3000)}`);
    expect(r.status).toBe(404);
    expect((await r.json()).code).toBe('IMAGE_NOT_FOUND');
  });

  it('a query with 1,500 unknown keys gets a small answer', async () => {
    const q = Array.from({ length: 1500 }, (_, i) => `k${i}=1`).join('&');
    const r = await fetch(`${base}/api/v1/pools/${pool.name}/images?${q}`);
    expect(r.status).toBe(400);
    const text = await r.text();
    expect(text.length).toBeLessThan(12_000);
  });
});
