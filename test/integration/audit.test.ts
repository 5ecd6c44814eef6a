// The audit trail: after a scripted run of requests against the real cluster, every mutation (successful,
// refused and failed) has exactly one audit line with the right action, target, principal, source and outcome,
// refusals by authentication are there too, reads are not, no line holds a token or the cephx key, and
// LOG_LEVEL never drops audit lines (in-process, and the real service process with AUDIT_LOG_FILE).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as connectTcp, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CephClient } from '../../src/ceph/client.js';
import { buildApp, REDACT_PATHS } from '../../src/http/app.js';
import { TokenStore } from '../../src/http/auth.js';
import { auditAction, auditTarget, auditTasks, type AuditableTask, type TransitionListener } from '../../src/http/plugins/audit.js';
import { connect, connectionOptions, makePool, uniqueName, serviceEnv } from '../helpers/cluster.js';
import { rbdCli } from '../helpers/cli.js';
import { startExpectingExit, startService, type Service } from '../helpers/service.js';
import type { CephConnection } from '../../src/ceph/connection.js';
import type { FastifyInstance } from 'fastify';

const READ = 'audit-read-6c1f0e2d9b8a7c65';
const WRITE = 'audit-write-0d9c8b7a6f5e4d3c';
const ADMIN = 'audit-admin-f1e2d3c4b5a69788';
const WRONG = 'audit-wrong-000000000000000';
const TOKENS = `${READ} read * console\n${WRITE} write * provisioner\n${ADMIN} admin * operator\n`;
const SECRETS = [READ, WRITE, ADMIN, WRONG];

let conn: CephConnection;
let pool: { name: string; remove: () => Promise<void> };
let ceph: CephClient;
let cephxKey: string;

function sink(lines: string[]): Writable {
  return new Writable({ write(chunk, _enc, cb) { lines.push(...String(chunk).split('\n').filter(Boolean)); cb(); } });
}
const parse = (lines: string[]) => lines.map((l) => JSON.parse(l) as Record<string, any>);

beforeAll(async () => {
  conn = await connect('admin');
  pool = await makePool(conn, 'audit');
  ceph = new CephClient({ ...connectionOptions('rbdapi-pools'), operationTimeoutMs: 30_000, mountTimeout: 10, monOpTimeout: 10, osdOpTimeout: 10 });
  await ceph.ready();
  cephxKey = /key\s*=\s*(\S+)/.exec(readFileSync(connectionOptions('rbdapi-pools').keyring, 'utf8'))![1]!;
});

afterAll(async () => {
  await ceph?.close();
  await pool?.remove();
  await conn?.close();
});

describe('action and target derivation', () => {
  it.each([
    ['POST', '/api/v1/pools', 'pool.create'],
    ['DELETE', '/api/v1/pools/:pool', 'pool.delete'],
    ['POST', '/api/v1/pools/:pool/images', 'image.create'],
    ['PUT', '/api/v1/pools/:pool/namespaces/:namespace/images/:image', 'image.put'],
    ['PATCH', '/api/v1/pools/:pool/images/:image', 'image.update'],
    ['DELETE', '/api/v1/pools/:pool/namespaces/:namespace/images/:image', 'image.delete'],
    ['POST', '/api/v1/pools/:pool/images/:image/snapshots', 'snapshot.create'],
    ['DELETE', '/api/v1/pools/:pool/images/:image/snapshots/:snapshot', 'snapshot.delete'],
    ['POST', '/api/v1/pools/:pool/images/:image/snapshots/:snapshot/rollback', 'snapshot.rollback'],
    ['POST', '/api/v1/pools/:pool/images/:image/flatten', 'image.flatten'],
    ['POST', '/api/v1/pools/:pool/trash/:id/restore', 'trash.restore'],
    ['DELETE', '/api/v1/pools/:pool/trash/:id', 'trash.delete'],
    ['PUT', '/api/v1/pools/:pool/namespaces/:namespace', 'namespace.put'],
    ['PUT', '/api/v1/pools/:pool/images/:image/metadata/:key', 'metadata.put'],
    ['POST', '/api/v1/tasks/:id/cancel', 'task.cancel'],
    ['POST', '/api/v1/pools/:pool/images/:image/copy', 'image.copy'],
    ['PUT', '/api/v1/pools/:pool/images/:image/features/:feature', 'feature.put'],
    ['DELETE', '/api/v1/tasks/:id', 'task.delete'],
    ['DELETE', '/api/v1/pools/:pool/namespaces/:namespace/images/:image/locks', 'lock.delete'],
    ['POST', '/api/v1/pools/:pool/images/:image/sparsify', 'image.sparsify'],
    ['GET', '/api/v1/pools', 'pool.list'],
    ['GET', '/api/v1/pools/:pool/images/:image', 'image.get'],
    ['POST', undefined, 'unmatched.post'],
  ])('%s %s → %s', (method, route, action) => {
    expect(auditAction(method, route)).toBe(action);
  });

  it.each([
    ['POST', '/api/v1/pools', {}, { name: 'new' }, 'new'],
    ['DELETE', '/api/v1/pools/:pool', { pool: 'rbd' }, undefined, 'rbd'],
    ['POST', '/api/v1/pools/:pool/images', { pool: 'rbd' }, { name: 'vol1', size: 1 }, 'rbd/vol1'],
    ['POST', '/api/v1/pools/:pool/namespaces/:namespace/images', { pool: 'rbd', namespace: 'ns' }, { name: 'vol1' }, 'rbd/ns/vol1'],
    ['DELETE', '/api/v1/pools/:pool/namespaces/:namespace/images/:image', { pool: 'rbd', namespace: 'ns', image: 'vol1' }, undefined, 'rbd/ns/vol1'],
    ['POST', '/api/v1/pools/:pool/namespaces/:namespace/images/:image/snapshots/:snapshot/rollback', { pool: 'p', namespace: 'ns', image: 'i', snapshot: 's' }, undefined, 'p/ns/i@s'],
    ['POST', '/api/v1/pools/:pool/images/:image/snapshots', { pool: 'p', image: 'i' }, { name: 's2' }, 'p/i@s2'],
    ['POST', '/api/v1/pools/:pool/trash/:id/restore', { pool: 'p', id: '10ab' }, undefined, 'p/trash:10ab'],
    ['PUT', '/api/v1/pools/:pool/images/:image/metadata/:key', { pool: 'p', image: 'i', key: 'conf_x' }, { value: 'v' }, 'p/i/metadata:conf_x'],
    ['POST', '/api/v1/tasks/:id/cancel', { id: 't1' }, undefined, 'task:t1'],
    ['PUT', '/api/v1/pools/:pool/namespaces/:namespace', { pool: 'p', namespace: 'tenant-a' }, undefined, 'p/tenant-a'],
  ])('%s %s → target', (method, route, params, body, target) => {
    expect(auditTarget(route, params, body, method)).toBe(target);
  });
});

describe('a scripted run of requests (in-process, LOG_LEVEL silent)', () => {
  const service: string[] = [];
  let app: FastifyInstance;
  const expected: Array<{ id: string; method: string; action: string; target?: string | null; status: number; principal: string | null; code?: string; errno?: string }> = [];
  const reads: string[] = [];
  const newPool = uniqueName('audit-new');

  beforeAll(async () => {
    // like main.ts: the service logger at LOG_LEVEL (silent here), the audit logger its child at info
    const logger = pino({ level: 'silent', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink(service));
    // the app's own log at debug (access lines, errors) goes to the same place, to look for secrets in it
    const debugLogger = pino({ level: 'debug', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink(service));
    app = await buildApp({ ceph, auth: TokenStore.parse(TOKENS), loggerInstance: debugLogger, audit: logger.child({ audit: true }, { level: 'info' }) });
    await app.ready();

    let n = 0;
    const send = async (method: string, url: string, token: string | null, body: unknown, expect_: Omit<(typeof expected)[number], 'id' | 'method'>) => {
      const id = `audit-${++n}`;
      const headers: Record<string, string> = { 'x-request-id': id };
      if (token) headers.authorization = `Bearer ${token}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const r = await app.inject({ method: method as 'GET', url, headers, ...(body !== undefined ? { payload: JSON.stringify(body) } : {}), remoteAddress: '10.9.8.7' });
      expect(r.statusCode, `${method} ${url}: ${r.body}`).toBe(expect_.status);
      if (method === 'GET' && r.statusCode < 400) reads.push(id);
      else expected.push({ id, method, ...expect_ });
    };
    const P = `/api/v1/pools/${pool.name}`;
    await send('POST', '/api/v1/pools', ADMIN, { name: newPool, pgNum: 8 }, { action: 'pool.create', target: newPool, status: 201, principal: 'operator' });
    await send('POST', '/api/v1/pools', WRITE, { name: 'nope' }, { action: 'pool.create', target: null, status: 403, principal: 'provisioner', code: 'FORBIDDEN' });
    await send('POST', `${P}/images`, WRITE, { name: 'vol1', size: '4MiB' }, { action: 'image.create', target: `${pool.name}/vol1`, status: 201, principal: 'provisioner' });
    await send('POST', `${P}/images`, WRITE, { name: 'vol1', size: '4MiB' }, { action: 'image.create', target: `${pool.name}/vol1`, status: 409, principal: 'provisioner', code: 'IMAGE_EXISTS', errno: 'EEXIST' });
    await send('PUT', `${P}/images/vol2`, WRITE, { size: '1MiB' }, { action: 'image.put', target: `${pool.name}/vol2`, status: 201, principal: 'provisioner' });
    await send('PUT', `${P}/images/vol2`, WRITE, { size: '1MiB' }, { action: 'image.put', target: `${pool.name}/vol2`, status: 200, principal: 'provisioner' });
    await send('GET', `${P}/images/vol2`, READ, undefined, { action: 'image.get', status: 200, principal: 'console' });
    await send('GET', `${P}/images`, READ, undefined, { action: 'image.list', status: 200, principal: 'console' });
    await send('PATCH', `${P}/images/vol1`, WRITE, { size: '8MiB' }, { action: 'image.update', target: `${pool.name}/vol1`, status: 200, principal: 'provisioner' });
    await send('PATCH', `${P}/images/vol1`, WRITE, { size: '1MiB' }, { action: 'image.update', target: `${pool.name}/vol1`, status: 409, principal: 'provisioner', code: 'SHRINK_NOT_ALLOWED' });
    await send('PATCH', `${P}/images/vol1`, READ, { size: '16MiB' }, { action: 'image.update', target: `${pool.name}/vol1`, status: 403, principal: 'console', code: 'FORBIDDEN' });
    await send('DELETE', `${P}/images/vol1`, null, undefined, { action: 'image.delete', target: `${pool.name}/vol1`, status: 401, principal: null, code: 'UNAUTHORIZED' });
    await send('DELETE', `${P}/images/vol1`, WRONG, undefined, { action: 'image.delete', target: `${pool.name}/vol1`, status: 401, principal: null, code: 'UNAUTHORIZED' });
    await send('GET', `${P}/images`, WRONG, undefined, { action: 'image.list', target: pool.name, status: 401, principal: null, code: 'UNAUTHORIZED' });
    await send('POST', `${P}/images`, WRITE, { name: 'bad', size: -1 }, { action: 'image.create', target: `${pool.name}/bad`, status: 400, principal: 'provisioner', code: 'VALIDATION_FAILED' });
    await send('DELETE', `${P}/images/vol1`, WRITE, undefined, { action: 'image.delete', target: `${pool.name}/vol1`, status: 204, principal: 'provisioner' });
    await send('DELETE', `${P}/images/vol1`, WRITE, undefined, { action: 'image.delete', target: `${pool.name}/vol1`, status: 404, principal: 'provisioner', code: 'IMAGE_NOT_FOUND', errno: 'ENOENT' });
    await send('DELETE', `${P}/images/vol2`, WRITE, undefined, { action: 'image.delete', target: `${pool.name}/vol2`, status: 204, principal: 'provisioner' });
    await send('DELETE', `/api/v1/pools/${newPool}`, ADMIN, undefined, { action: 'pool.delete', target: newPool, status: 400, principal: 'operator', code: 'CONFIRMATION_REQUIRED' });
    await send('DELETE', `/api/v1/pools/${newPool}?confirm=${newPool}`, ADMIN, undefined, { action: 'pool.delete', target: newPool, status: 204, principal: 'operator' });
    await send('POST', '/api/v1/no-such-route', WRITE, {}, { action: 'unmatched.post', status: 404, principal: 'provisioner', code: 'NOT_FOUND' });
    // refused before routing (no hook runs): a percent-encoding that is not UTF-8 (400), a segment over 4096
    // characters (414) — one line each all the same, named after the route the path would have matched
    const S = `${P}/images/vol2/snapshots`;
    const long = 'a'.repeat(4097);
    const actions: Record<string, string> = { PUT: 'snapshot.put', DELETE: 'snapshot.delete', PATCH: 'snapshot.update', POST: 'unmatched.post' };
    for (const method of ['PUT', 'DELETE', 'PATCH', 'POST']) {
      const target = (name: string) => (method === 'POST' ? undefined : `${pool.name}/vol2@${name}`);
      await send(method, `${S}/%C0%AF`, WRITE, undefined, { action: actions[method]!, target: target('%C0%AF'), status: 400, principal: 'provisioner', code: 'VALIDATION_FAILED' });
      await send(method, `${S}/${long}`, WRITE, undefined, { action: actions[method]!, target: target(`${'a'.repeat(256)}…`), status: 414, principal: 'provisioner', code: 'URI_TOO_LONG' });
      await send(method, `${S}/%C0%AF`, null, undefined, { action: actions[method]!, target: target('%C0%AF'), status: 400, principal: null, code: 'VALIDATION_FAILED' });
      await send(method, `${S}/${long}`, WRONG, undefined, { action: actions[method]!, target: target(`${'a'.repeat(256)}…`), status: 414, principal: null, code: 'URI_TOO_LONG' });
    }
    // a read refused the same way leaves no line, as reads do
    for (const url of [`${S}/%C0%AF`, `${S}/${long}`]) {
      const id = `audit-${++n}`;
      const r = await app.inject({ method: 'GET', url, headers: { 'x-request-id': id, authorization: `Bearer ${READ}` } });
      expect(r.statusCode).toBeGreaterThanOrEqual(400);
      reads.push(id);
    }
  }, 120_000);

  afterAll(async () => { await app?.close(); });

  it('every mutation and every refusal has exactly one line with action, target, principal, source and outcome', () => {
    const lines = parse(service.filter((l) => l.includes('"audit":true')));
    const byId = new Map<string, Record<string, any>[]>();
    for (const l of lines) byId.set(l.requestId, [...(byId.get(l.requestId) ?? []), l]);
    for (const e of expected) {
      const found = byId.get(e.id) ?? [];
      expect(found, `${e.method} ${e.action} (${e.id})`).toHaveLength(1);
      const l = found[0]!;
      expect(l).toMatchObject({ audit: true, kind: 'request', level: 30, method: e.method, action: e.action, principal: e.principal, source: '10.9.8.7' });
      expect(typeof l.time).toBe('number');
      // null: refused before the body was read (authentication), so the new name is not known
      if (e.target === null) expect(l.target, e.id).toBeUndefined();
      else if (e.target !== undefined) expect(l.target, e.id).toBe(e.target);
      expect(l.outcome.status, e.id).toBe(e.status);
      expect(l.outcome.result, e.id).toBe(e.status < 400 ? 'success' : e.status === 401 || e.status === 403 ? 'denied' : 'rejected');
      if (e.code) expect(l.outcome.code, e.id).toBe(e.code);
      else expect(l.outcome.code, e.id).toBeUndefined();
      if (e.errno) expect(l.outcome.errno, e.id).toBe(e.errno);
    }
    // nothing else: successful reads leave no audit line
    for (const id of reads) expect(byId.has(id), id).toBe(false);
    expect(lines.filter((l) => l.kind === 'request')).toHaveLength(expected.length);
  });

  it('the audit lines are on the audit logger even with LOG_LEVEL silent, and hold no token and no cephx key', () => {
    const all = service.join('\n');
    const auditLines = service.filter((l) => l.includes('"audit":true'));
    // one request line per scripted mutation/refusal; the deletes' trash-removal tasks add task lines
    expect(parse(auditLines).filter((l) => l.kind === 'request').length).toBe(expected.length);
    expect(parse(auditLines).every((l) => l.kind === 'request' || l.kind === 'task')).toBe(true);
    for (const secret of [...SECRETS, cephxKey]) {
      expect(all.includes(secret), 'a secret in the logs').toBe(false);
      expect(all.includes(secret.slice(0, 12)), 'part of a secret in the logs').toBe(false);
    }
    expect(all).not.toMatch(/Bearer\s+(?!<token>)\S/);
  });
});

describe('mutations no route hook sees (Node cannot parse them, or their body never arrives)', () => {
  let app: FastifyInstance;
  let port: number;
  const lines: string[] = [];
  const serverSockets: Socket[] = [];
  beforeAll(async () => {
    const logger = pino({ level: 'silent' }, sink(lines));
    app = await buildApp({ ceph, auth: TokenStore.parse(TOKENS), audit: logger.child({ audit: true }, { level: 'info' }) });
    app.server.on('connection', (socket: Socket) => { serverSockets.push(socket); });
    await app.listen({ host: '127.0.0.1', port: 0 });
    ({ port } = app.server.address() as AddressInfo);
  });
  afterAll(async () => { await app?.close(); });
  /** send `text` in one write; `closeAfterMs`: then close without reading; resolves with what came back */
  const rawRequest = (text: string, closeAfterMs?: number) => new Promise<string>((resolve, reject) => {
    const socket = connectTcp({ host: '127.0.0.1', port }, () => {
      socket.write(text);
      if (closeAfterMs !== undefined) setTimeout(() => socket.destroy(), closeAfterMs);
    });
    let answer = '';
    socket.on('data', (d) => { answer += String(d); });
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
  const requestLines = (path: string) => parse(lines).filter((l) => l.kind === 'request' && l.path === path);
  const P = () => `/api/v1/pools/${pool.name}/images`;
  const headers = (method: string, path: string, token: string, more = '') =>
    `${method} ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n${more}`;

  it('a mutation whose headers overflow (431) still gets its one line, with the principal of its token', async () => {
    // one write, so that the bytes Node could not parse begin with the request line
    const raw = (method: string, path: string, token: string) => rawRequest(`${headers(method, path, token)}X-Pad: ${'p'.repeat(17_000)}\r\n\r\n`);
    const cases = [['PUT', `${P()}/big/snapshots/s1`, WRITE, 'snapshot.put', `${pool.name}/big@s1`, 'provisioner'],
      ['DELETE', `${P()}/big`, WRONG, 'image.delete', `${pool.name}/big`, null], ['GET', `${P()}/big`, WRITE, '', '', '']] as const;
    for (const [method, path, token] of cases) expect(await raw(method, path, token)).toMatch(/^HTTP\/1\.1 431 /);
    const parsed = parse(lines).filter((l) => l.kind === 'request');
    expect(parsed.map((l) => [l.method, l.action, l.target, l.principal, l.outcome])).toEqual(cases.filter((c) => c[0] !== 'GET').map(
      ([method, , , action, target, principal]) => [method, action, target, principal, { result: 'rejected', status: 431, code: 'HEADERS_TOO_LARGE' }]));
    for (const s of SECRETS) expect(lines.join('\n').includes(s)).toBe(false);
  });

  it('a mutation whose body never arrives whole: one line, when the client closes (400) and when it times out (408)', async () => {
    const partial = (path: string) => `${headers('PUT', path, WRITE, 'Content-Type: application/json\r\nContent-Length: 40\r\n')}\r\n{"size":`;
    // the client closes mid-body: Node's parser error on the early end (400, never read by the client)
    const closed = `${P()}/half-closed`;
    expect(await rawRequest(partial(closed), 200)).toBe('');
    await expect.poll(() => requestLines(closed).length, { timeout: 5000 }).toBe(1);
    expect(requestLines(closed)[0]).toMatchObject({ method: 'PUT', action: 'image.put', target: `${pool.name}/half-closed`, principal: 'provisioner',
      outcome: { result: 'rejected', status: 400, code: 'MALFORMED_REQUEST' } });
    // the request timeout (30 s, which Node checks every 30 s: a minute of waiting): what Node does when it expires —
    // socketOnError with ERR_HTTP_REQUEST_TIMEOUT, i.e. 'clientError' on the server for the socket — done at once
    // (checked by hand with the real timeout: the same 408 after 90 s, and before this change no audit line)
    const slow = `${P()}/half-slow`;
    const sockets = serverSockets.length;
    const answer = rawRequest(partial(slow));
    await expect.poll(() => serverSockets.length, { timeout: 5000 }).toBe(sockets + 1);
    await new Promise((r) => setTimeout(r, 200)); // the headers are in and routed; the body waits
    app.server.emit('clientError', Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), serverSockets.at(-1));
    expect(await answer).toMatch(/^HTTP\/1\.1 408 /);
    await new Promise((r) => setTimeout(r, 200));
    expect(requestLines(slow)).toHaveLength(1);
    expect(requestLines(slow)[0]).toMatchObject({ method: 'PUT', action: 'image.put', target: `${pool.name}/half-slow`, principal: 'provisioner',
      outcome: { result: 'rejected', status: 408, code: 'REQUEST_TIMEOUT' } });
    expect(await rbdCli('ls', pool.name)).not.toContain('half-');
  }, 30_000);
});

describe('task transitions', () => {
  it('one line per transition of the task engine, with task id, action, target, from → state and the error', () => {
    const lines: string[] = [];
    const listeners: TransitionListener[] = [];
    const engine = { onTransition: (l: TransitionListener) => { listeners.push(l); return () => listeners.splice(listeners.indexOf(l), 1); } };
    const off = auditTasks(pino({ level: 'info' }, sink(lines)).child({ audit: true }), engine);
    const task: AuditableTask = { id: 't-1', action: 'image.flatten', target: { pool: 'rbd', namespace: 'ns', image: 'clone1', imageId: 'abc' }, state: 'queued' };
    const emit = (t: Parameters<TransitionListener>[0]) => { for (const l of listeners) l(t); };
    emit({ task, from: undefined, to: 'queued', reason: 'submitted', instance: 'host:1' });
    emit({ task: { ...task, state: 'running' }, from: 'queued', to: 'running', reason: 'started', instance: 'host:1' });
    emit({ task: { ...task, state: 'failed', error: { code: 'CEPH_TIMEOUT', detail: 'x', errno: 'ETIMEDOUT' } }, from: 'running', to: 'failed', reason: 'failed', instance: 'host:1' });
    off();
    expect(listeners).toHaveLength(0);
    const parsed = parse(lines);
    expect(parsed).toHaveLength(3);
    expect(parsed[0]).toMatchObject({ audit: true, kind: 'task', taskId: 't-1', action: 'image.flatten', target: 'rbd/ns/clone1', imageId: 'abc', state: 'queued', reason: 'submitted', instance: 'host:1' });
    expect(parsed[0]!.from).toBeUndefined();
    expect(parsed[1]).toMatchObject({ from: 'queued', state: 'running' });
    expect(parsed[2]).toMatchObject({ from: 'running', state: 'failed', error: { code: 'CEPH_TIMEOUT', errno: 'ETIMEDOUT' } });
  });
});

describe('task transitions of the real task engine (DELETE → trash → image.remove task)', () => {
  it('the DELETE line carries the task id from its Link header; the task\'s transitions follow with the same id', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'silent' }, sink(lines));
    const app = await buildApp({ ceph, auth: TokenStore.parse(TOKENS), audit: logger.child({ audit: true }, { level: 'info' }) });
    await app.ready();
    try {
      const P = `/api/v1/pools/${pool.name}/images`;
      const h = { authorization: `Bearer ${WRITE}`, 'content-type': 'application/json' };
      expect((await app.inject({ method: 'PUT', url: `${P}/tasked`, headers: h, payload: JSON.stringify({ size: '1MiB' }) })).statusCode).toBe(201);
      const del = await app.inject({ method: 'DELETE', url: `${P}/tasked`, headers: { authorization: `Bearer ${WRITE}` } });
      expect(del.statusCode).toBe(204);
      const taskId = /\/api\/v1\/tasks\/([^>]+)>/.exec(String(del.headers.link))?.[1];
      expect(taskId, String(del.headers.link)).toBeTruthy();
      const started = Date.now();
      let state = '';
      while (Date.now() - started < 30_000) {
        const t = await app.inject({ method: 'GET', url: `/api/v1/tasks/${taskId}`, headers: { authorization: `Bearer ${READ}` } });
        state = t.json().state;
        if (state === 'succeeded' || state === 'failed' || state === 'cancelled') break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(state).toBe('succeeded');
      await new Promise((r) => setTimeout(r, 100));
      const parsed = parse(lines);
      const request = parsed.find((l) => l.kind === 'request' && l.method === 'DELETE');
      expect(request).toMatchObject({ action: 'image.delete', target: `${pool.name}/tasked`, principal: 'provisioner', outcome: { status: 204, taskId } });
      const transitions = parsed.filter((l) => l.kind === 'task' && l.taskId === taskId);
      expect(transitions.map((l) => l.state)).toEqual(expect.arrayContaining(['queued', 'running', 'succeeded']));
      expect(transitions.at(-1)).toMatchObject({ audit: true, state: 'succeeded', from: 'running', target: `${pool.name}/tasked` });
      for (const l of transitions) expect(l.action).toBe(transitions[0]!.action);
      console.log('task audit lines:', JSON.stringify(transitions.map((l) => `${l.action} ${l.from ?? 'new'}->${l.state} (${l.reason})`)));
    } finally {
      await app.close();
    }
  }, 60_000);
});

describe('the service process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'audit-'));
  const tokens = join(dir, 'tokens');
  writeFileSync(tokens, TOKENS);
  const env = () => ({
    ...serviceEnv(),
    API_TOKENS_FILE: tokens,
  });
  let svc: Service | undefined;
  afterAll(async () => {
    await svc?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = (url: string, method: string, token: string | null, body?: unknown) => fetch(url, {
    method, body: body === undefined ? undefined : JSON.stringify(body),
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
  });

  it('AUDIT_LOG_FILE with LOG_LEVEL=silent: the file has every mutation; stdout has nothing', async () => {
    const file = join(dir, 'sub', 'audit.log');
    svc = await startService({ ...env(), LOG_LEVEL: 'silent', AUDIT_LOG_FILE: file });
    const P = `${svc.url}/api/v1/pools/${pool.name}`;
    expect((await call(`${P}/images`, 'POST', WRITE, { name: 'proc1', size: '1MiB' })).status).toBe(201);
    expect((await call(`${P}/images/proc1`, 'PATCH', WRITE, { size: '2MiB' })).status).toBe(200);
    expect((await call(`${P}/images/proc1`, 'DELETE', READ)).status).toBe(403);
    expect((await call(`${P}/images/proc1`, 'DELETE', WRONG)).status).toBe(401);
    expect((await call(`${P}/images/proc1`, 'DELETE', WRITE)).status).toBe(204);
    expect((await call(`${P}/images`, 'GET', READ)).status).toBe(200);
    await svc.stop();
    expect((await svc.exited).code).toBe(0);
    const text = readFileSync(file, 'utf8');
    const all = parse(text.split('\n').filter(Boolean));
    const lines = all.filter((l) => l.kind === 'request');
    // the DELETE queued a trash-removal task: its transitions are in the file too, tied by the task id
    const deleted = lines.at(-1)!;
    expect(deleted.outcome.taskId).toBeTruthy();
    expect(all.filter((l) => l.kind === 'task' && l.taskId === deleted.outcome.taskId).length).toBeGreaterThan(0);
    expect(lines.map((l) => [l.action, l.outcome.status, l.principal])).toEqual([
      ['image.create', 201, 'provisioner'], ['image.update', 200, 'provisioner'], ['image.delete', 403, 'console'],
      ['image.delete', 401, null], ['image.delete', 204, 'provisioner'],
    ]);
    for (const l of lines) expect(l).toMatchObject({ audit: true, kind: 'request', source: '127.0.0.1', target: `${pool.name}/proc1` });
    for (const s of SECRETS) expect(text.includes(s)).toBe(false);
    expect(svc.output()).toBe('');
    svc = undefined;
  }, 120_000);

  it('without AUDIT_LOG_FILE, with LOG_LEVEL=error: audit lines on stdout, nothing else at info', async () => {
    svc = await startService({ ...env(), LOG_LEVEL: 'error' });
    const P = `${svc.url}/api/v1/pools/${pool.name}`;
    expect((await call(`${P}/images/proc2`, 'PUT', WRITE, { size: '1MiB' })).status).toBe(201);
    expect((await call(`${P}/images/proc2`, 'DELETE', WRITE)).status).toBe(204);
    await svc.stop();
    const lines = parse(svc.output().split('\n').filter((l) => l.startsWith('{')));
    expect(lines.every((l) => l.audit === true)).toBe(true); // LOG_LEVEL=error: nothing but the audit trail
    expect(lines.filter((l) => l.kind === 'request').map((l) => [l.action, l.outcome?.status])).toEqual([['image.put', 201], ['image.delete', 204]]);
    for (const s of SECRETS) expect(svc.output().includes(s)).toBe(false);
    svc = undefined;
  }, 120_000);

  it('an AUDIT_LOG_FILE that cannot be opened stops the start with a clear message', async () => {
    const r = await startExpectingExit({ ...env(), AUDIT_LOG_FILE: join(tokens, 'under-a-file', 'audit.log') });
    expect(r.code).toBe(2);
    expect(r.output).toMatch(/cannot open AUDIT_LOG_FILE .*under-a-file/);
  }, 60_000);
});
