// PUT …/images/{image}/content: imports compared byte for byte with what the rbd CLI exports (sha256), the
// temporary invisible until complete and gone after every failure (aborted, short, wrong digest, too large,
// kill -9 of the service), resumable parts, rbd diff and export-format 2 streams, scopes and header fuzz.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import type { TestApp } from '../helpers/app.js';
import { clusterDir } from '../helpers/cluster.js';
import { cliSyncBytes, rbdSync as rbd } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { startService, type Service } from '../helpers/service.js';
import { pino } from 'pino';
import { buildApp } from '../../src/http/app.js';
import { TokenStore } from '../../src/http/auth.js';

const it = usePoolApp({ prefix: 'import', key: 'rbdapi', app: { settings: { import: { maxBytes: 256 << 20, idleMs: 3000, writesInFlight: 8 } } } });
let t: TestApp;
let pool: TestPool;
let url: string;
let work: string;
const services: Service[] = [];
const MiB = 1024 * 1024;

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const exportImage = (spec: string): Buffer => cliSyncBytes('rbd', ['--no-progress', 'export', spec, '-']);
const lsAll = (): string[] => rbd('ls', pool.name).split('\n').filter(Boolean).sort();
/** every directory entry, the service's hidden temporaries included (rbd ls shows names starting with '.') */
const temporaries = (): string[] => lsAll().filter((n) => n.startsWith('.rbdapi-import-'));
const trashNames = (): string[] => (JSON.parse(rbd('trash', 'ls', '--all', '--format', 'json', pool.name)) as { name: string }[]).map((e) => e.name);

const snapNames = (spec: string): string[] => (JSON.parse(rbd('snap', 'ls', '--format', 'json', spec)) as { name: string }[]).map((x) => x.name);
const fileBytes = (args: string[]): Buffer => cliSyncBytes('rbd', ['--no-progress', ...args]);

const path = (image: string): string => `/api/v1/pools/${pool.name}/images/${image}/content`;

async function put(image: string, body: Buffer, headers: Record<string, string> = {}, query = ''): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`${url}${path(image)}${query}`, {
    method: 'PUT', body: new Uint8Array(body), headers: { 'content-type': 'application/octet-stream', ...headers },
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) as Record<string, unknown> : {} };
}

/** An image's content: random, zeros and random again (a sparse middle), `size` bytes. */
function sparseContent(size: number): Buffer {
  const b = Buffer.alloc(size);
  randomBytes(Math.min(size, 3 * MiB + 123)).copy(b, 0);
  if (size > 8 * MiB) randomBytes(MiB).copy(b, size - MiB - 4096);
  return b;
}

/**
 * Send raw HTTP: the head (with Content-Length `declared`) and `sendBytes` of body, then close the socket (or keep
 * it open for `holdMs`); resolves with whatever the server answered (may be '').
 */
function rawUpload(image: string, declared: number, sendBytes: number, opts: { end?: 'close' | 'hold'; holdMs?: number } = {}): Promise<string> {
  const { port } = t.app.server.address() as AddressInfo;
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1');
    let answer = '';
    s.on('data', (d) => { answer += d.toString(); });
    s.on('error', () => resolve(answer));
    s.on('close', () => resolve(answer));
    s.write(`PUT ${path(image)} HTTP/1.1\r\nhost: x\r\ncontent-type: application/octet-stream\r\ncontent-length: ${declared}\r\n\r\n`);
    s.write(randomBytes(sendBytes), () => {
      if (opts.end === 'hold') setTimeout(() => s.destroy(), opts.holdMs ?? 10_000);
      else setTimeout(() => s.destroy(), 200);
    });
  });
}

it.beforeAll(async ({ pool: p, replicas, app }) => {
  pool = p; [t] = replicas as [TestApp];
  await app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  work = mkdtempSync(join(tmpdir(), 'rbdapi-import-'));
});

afterAll(() => {
  for (const s of services) if (s.child.exitCode === null) s.child.kill('SIGKILL');
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('raw import', () => {
  it('images of several sizes and sparseness, exported by rbd, imported through the API: equal byte for byte', async () => {
    const cases: [string, Buffer][] = [
      ['r-empty', Buffer.alloc(0)],
      ['r-small', randomBytes(4097)],
      ['r-zeros', Buffer.alloc(9 * MiB)],
      ['r-sparse', sparseContent(13 * MiB + 512)],
      ['r-full', randomBytes(10 * MiB)],
    ];
    for (const [name, content] of cases) {
      // the source: made with the CLI, then exported by it (rbd cannot import an empty file: then the bytes)
      const f = join(work, `${name}.src`);
      writeFileSync(f, content);
      if (content.length > 0) rbd('import', '--no-progress', f, `${pool.name}/${name}-cli`);
      const exported = content.length > 0 ? exportImage(`${pool.name}/${name}-cli`) : content;
      expect(sha(exported)).toBe(sha(content));
      const digest = `sha-256=:${createHash('sha256').update(exported).digest('base64')}:`;
      const r = await put(name, exported, { 'content-digest': digest });
      expect(r.status, JSON.stringify(r.json)).toBe(201);
      expect(r.json).toMatchObject({ name, size: content.length, bytes: content.length, digest });
      expect(sha(exportImage(`${pool.name}/${name}`)), name).toBe(sha(content));
    }
    // runs of zeros were not written: the all-zero image has no data objects
    const du = JSON.parse(rbd('du', '--format', 'json', `${pool.name}/r-zeros`)) as { images: { used_size: number }[] };
    expect(du.images[0]!.used_size).toBe(0);
    expect(temporaries()).toEqual([]);
  });

  it('object size and features from the query', async () => {
    const content = randomBytes(3 * MiB);
    const r = await put('r-opts', content, {}, '?objectSize=1MiB&features=layering,exclusive-lock');
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    const info = JSON.parse(rbd('info', '--format', 'json', `${pool.name}/r-opts`)) as { object_size: number; features: string[] };
    expect(info.object_size).toBe(MiB);
    expect(info.features.sort()).toEqual(['exclusive-lock', 'layering']);
    expect(sha(exportImage(`${pool.name}/r-opts`))).toBe(sha(content));
  });

  it('409 IMAGE_EXISTS for a name that is taken; nothing changes', async () => {
    const before = sha(exportImage(`${pool.name}/r-small`));
    const r = await put('r-small', randomBytes(100));
    expect(r.status).toBe(409);
    expect(r.json.code).toBe('IMAGE_EXISTS');
    expect(sha(exportImage(`${pool.name}/r-small`))).toBe(before);
  });

  it('precise 4xx before reading: 415 wrong media type, 411 no length, 413 too large, 400 bad digest header', async () => {
    const r415 = await put('x415', randomBytes(10), { 'content-type': 'text/plain' });
    expect([r415.status, r415.json.code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    const rjson = await put('x415', Buffer.from('{}'), { 'content-type': 'application/json' });
    expect([rjson.status, rjson.json.code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    // chunked: no Content-Length
    const chunked = await fetch(`${url}${path('x411')}`, {
      method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, duplex: 'half',
      body: new ReadableStream({ start(c) { c.enqueue(new Uint8Array(10)); c.close(); } }),
    } as RequestInit);
    expect(chunked.status).toBe(411);
    expect(((await chunked.json()) as { code: string }).code).toBe('LENGTH_REQUIRED');
    const big = await rawUpload('x413', 300 * MiB, 0);
    expect(big).toMatch(/^HTTP\/1.1 413/);
    expect(big).toContain('PAYLOAD_TOO_LARGE');
    for (const bad of ['md5=:AAAA:', 'sha-256=abc', 'sha-256=:AAAA:', 'sha-256=:not base64!:']) {
      const r = await put('xdig', randomBytes(10), { 'content-digest': bad });
      expect([r.status, r.json.code], bad).toEqual([400, 'VALIDATION_FAILED']);
      expect(String(r.json.detail)).toMatch(/content-digest/i);
    }
    expect(lsAll().filter((n) => n.startsWith('x'))).toEqual([]);
    expect(temporaries()).toEqual([]);
  });

  it('a digest that does not match: 400 DIGEST_MISMATCH and nothing left', async () => {
    const body = randomBytes(5 * MiB);
    const wrong = `sha-256=:${createHash('sha256').update('other').digest('base64')}:`;
    const r = await put('r-digest', body, { 'content-digest': wrong });
    expect([r.status, r.json.code]).toEqual([400, 'DIGEST_MISMATCH']);
    expect(lsAll()).not.toContain('r-digest');
    await eventually(() => temporaries().length === 0 && !trashNames().some((n) => n.startsWith('.rbdapi-')), { timeoutMs: 20_000, what: 'no temporary' });
  });

  it('an upload cut short (client gone mid-body) leaves nothing: no image, no temporary', async () => {
    await rawUpload('r-cut', 20 * MiB, 9 * MiB, { end: 'close' });
    await eventually(() => temporaries().length === 0 && !lsAll().includes('r-cut') && !trashNames().some((n) => n.startsWith('.rbdapi-')),
      { timeoutMs: 20_000, what: 'the temporary removed' });
  });

  it('a stalled upload (shorter than Content-Length, connection kept open) is dropped after the idle time, nothing left', async () => {
    const started = Date.now();
    await rawUpload('r-stall', 8 * MiB, 3 * MiB, { end: 'hold', holdMs: 15_000 });
    expect(Date.now() - started, 'dropped by the server before the client gave up').toBeLessThan(14_000);
    await eventually(() => temporaries().length === 0 && !lsAll().includes('r-stall') && !trashNames().some((n) => n.startsWith('.rbdapi-')),
      { timeoutMs: 20_000, what: 'the temporary removed' });
  });
});

describe('resumable parts (Content-Range)', () => {
  it('parts written into an existing image, then the whole equals', async () => {
    const size = 9 * MiB + 100;
    const content = sparseContent(size);
    rbd('create', '--size', `${size}B`, `${pool.name}/parts`);
    // write junk first: zeros in a part must overwrite it
    rbd('bench', '--io-type', 'write', '--io-size', '64K', '--io-total', '4M', '--io-pattern', 'rand', `${pool.name}/parts`);
    const cuts = [0, 1234567, 4 * MiB, 7 * MiB + 3, size];
    for (let i = cuts.length - 2; i >= 0; i--) {
      const [a, b] = [cuts[i]!, cuts[i + 1]!];
      const r = await put('parts', content.subarray(a, b), { 'content-range': `bytes ${a}-${b - 1}/${size}` });
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      expect(r.json.range).toEqual({ start: a, end: b - 1 });
    }
    expect(sha(exportImage(`${pool.name}/parts`))).toBe(sha(content));
  });

  it('a part for another size, a range outside, or a length that disagrees: 400; a missing image: 404', async () => {
    const r1 = await put('parts', randomBytes(10), { 'content-range': 'bytes 0-9/1000' });
    expect([r1.status, r1.json.code]).toEqual([400, 'VALIDATION_FAILED']);
    const r2 = await put('parts', randomBytes(10), { 'content-range': 'bytes 0-19/1000' });
    expect(r2.status).toBe(400);
    const r3 = await put('parts', randomBytes(10), { 'content-range': 'bytes 995-1004/1000' });
    expect(r3.status).toBe(400);
    const r4 = await put('no-such', randomBytes(10), { 'content-range': 'bytes 0-9/1000' });
    expect([r4.status, r4.json.code]).toEqual([404, 'IMAGE_NOT_FOUND']);
  });
});

describe('kill -9 of the service mid-import', () => {
  it('leaves nothing visible, and the temporary is cleaned up by the task takeover', async () => {
    const dir = clusterDir();
    const svc = await startService({
      CEPH_CONF: `${dir}/ceph.conf`, CEPH_CLIENT_ID: 'rbdapi', CEPH_KEYRING: `${dir}/ceph.client.rbdapi.keyring`,
      TASK_LEASE_MS: '3000', TASK_SCAN_MS: '500', MUTATION_LOCK_LEASE_MS: '3000', IMPORT_IDLE_MS: '60000',
    }, { readyTimeoutMs: 60_000 });
    services.push(svc);
    const { port } = new URL(svc.url);
    const s = netConnect(Number(port), '127.0.0.1');
    s.on('error', () => undefined);
    s.write(`PUT ${path('killed')} HTTP/1.1\r\nhost: x\r\ncontent-type: application/octet-stream\r\ncontent-length: ${64 * MiB}\r\n\r\n`);
    s.write(randomBytes(6 * MiB));
    // the import is running: its temporary exists
    await eventually(() => temporaries().length > 0, { timeoutMs: 30_000, what: 'the temporary made' });
    svc.child.kill('SIGKILL');
    expect((await svc.exited).signal).toBe('SIGKILL');
    s.destroy();
    expect(lsAll()).not.toContain('killed');
    // this test's app (a replica) takes the import task over once the dead runner's lease expired: cleanup
    await eventually(() => temporaries().length === 0 && !trashNames().some((n) => n.startsWith('.rbdapi-')),
      { timeoutMs: 90_000, intervalMs: 500, what: 'the temporary cleaned up after the takeover' });
    expect(lsAll()).not.toContain('killed');
    // the task that stood for the import ends INTERRUPTED (its cleanup done)
    await eventually(async () => {
      const tasks = (await t.app.inject({ method: 'GET', url: `/api/v1/tasks?pool=${pool.name}` })).json() as { items: { action: string; state: string; target: { image: string }; error?: { code: string } }[] };
      const imp = tasks.items.find((x) => x.action === 'image.import' && x.target.image === 'killed');
      expect(imp?.state, JSON.stringify(imp)).toBe('failed');
      expect(imp?.error?.code).toBe('INTERRUPTED');
    }, { timeoutMs: 30_000, intervalMs: 500, what: 'the import task INTERRUPTED' });
  });
});

describe('rbd diff import (application/vnd.ceph.rbd-diff)', () => {
  it('`rbd export-diff` streams applied through the API equal `rbd import-diff` of the same streams', async () => {
    const src = `${pool.name}/dsrc`;
    rbd('create', '--size', '24M', src);
    rbd('bench', '--io-type', 'write', '--io-size', '64K', '--io-total', '6M', '--io-pattern', 'rand', src);
    rbd('snap', 'create', `${src}@s1`);
    rbd('bench', '--io-type', 'write', '--io-size', '4K', '--io-total', '1M', '--io-pattern', 'rand', src);
    rbd('resize', '--size', '28M', src);
    rbd('snap', 'create', `${src}@s2`);
    const d0 = fileBytes(['export-diff', '--snap', 's1', src, '-']);
    const d1 = fileBytes(['export-diff', '--from-snap', 's1', '--snap', 's2', src, '-']);
    expect(d0.subarray(0, 12).toString()).toBe('rbd diff v1\n');
    // the CLI's way
    rbd('create', '--size', '1M', `${pool.name}/dcli`);
    writeFileSync(join(work, 'd0'), d0);
    writeFileSync(join(work, 'd1'), d1);
    rbd('import-diff', '--no-progress', join(work, 'd0'), `${pool.name}/dcli`);
    rbd('import-diff', '--no-progress', join(work, 'd1'), `${pool.name}/dcli`);
    // the API's
    rbd('create', '--size', '1M', `${pool.name}/dapi`);
    const digest = `sha-256=:${createHash('sha256').update(d0).digest('base64')}:`;
    const r0 = await put('dapi', d0, { 'content-type': 'application/vnd.ceph.rbd-diff', 'content-digest': digest });
    expect(r0.status, JSON.stringify(r0.json)).toBe(200);
    expect(r0.json).toMatchObject({ snapshots: ['s1'], size: 24 * MiB, bytes: d0.length, digest });
    const r1 = await put('dapi', d1, { 'content-type': 'application/vnd.ceph.rbd-diff' });
    expect(r1.status, JSON.stringify(r1.json)).toBe(200);
    expect(r1.json).toMatchObject({ fromSnapshot: 's1', snapshots: ['s2'], size: 28 * MiB });
    expect(snapNames(`${pool.name}/dapi`)).toEqual(['s1', 's2']);
    for (const at of ['@s1', '@s2', '']) {
      const want = sha(exportImage(`${pool.name}/dcli${at}`));
      expect(sha(exportImage(`${pool.name}/dapi${at}`)), `dapi${at}`).toBe(want);
      if (at) expect(want).toBe(sha(exportImage(`${src}${at}`)));
    }
  });

  it("rbd's checks: a missing from-snapshot (404), an existing to-snapshot (409), a corrupt stream (400): the image unchanged", async () => {
    const d1 = fileBytes(['export-diff', '--from-snap', 's1', '--snap', 's2', `${pool.name}/dsrc`, '-']);
    rbd('create', '--size', '4M', `${pool.name}/dother`);
    const before = sha(exportImage(`${pool.name}/dother`));
    const missing = await put('dother', d1, { 'content-type': 'application/vnd.ceph.rbd-diff' });
    expect([missing.status, missing.json.code]).toEqual([404, 'SNAPSHOT_NOT_FOUND']);
    const again = await put('dapi', d1, { 'content-type': 'application/vnd.ceph.rbd-diff' });
    expect([again.status, again.json.code]).toEqual([409, 'SNAPSHOT_EXISTS']);
    for (const [what, body] of [
      ['bad header', Buffer.from('rbd diff v9\ne')],
      // cut inside its metadata ('t'): nothing has been applied yet (a diff cut in its data leaves the image
      // partly changed, as rbd import-diff does, and makes no end snapshot)
      ['truncated', fileBytes(['export-diff', '--snap', 's1', `${pool.name}/dsrc`, '-']).subarray(0, 16)],
      ['bytes after the end', Buffer.concat([Buffer.from('rbd diff v1\ne'), Buffer.from('xx')])],
      ['unknown tag', Buffer.from('rbd diff v1\nq')],
      ['beyond the size', (() => {
        const b = Buffer.alloc(12 + 9 + 17 + 1); b.write('rbd diff v1\n'); b.write('s', 12); b.writeBigUInt64LE(4194304n, 13);
        b.write('z', 21); b.writeBigUInt64LE(4194304n - 5n, 22); b.writeBigUInt64LE(10n, 30); b.write('e', 38); return b;
      })()],
    ] as const) {
      const r = await put('dother', body, { 'content-type': 'application/vnd.ceph.rbd-diff' });
      expect([r.status, r.json.code], what).toEqual([400, 'INVALID_STREAM']);
    }
    expect(sha(exportImage(`${pool.name}/dother`))).toBe(before);
    expect(snapNames(`${pool.name}/dother`)).toEqual([]);
    const none = await put('no-such-image', Buffer.from('rbd diff v1\ne'), { 'content-type': 'application/vnd.ceph.rbd-diff' });
    expect([none.status, none.json.code]).toEqual([404, 'IMAGE_NOT_FOUND']);
  });
});

describe('export-format 2 import (application/vnd.ceph.rbd-export-v2)', () => {
  it('`rbd export --export-format 2` imported through the API: the image and every snapshot equal, protection kept', async () => {
    const src = `${pool.name}/v2src`;
    rbd('create', '--size', '16M', '--object-size', '1M', src);
    rbd('bench', '--io-type', 'write', '--io-size', '64K', '--io-total', '3M', '--io-pattern', 'rand', src);
    rbd('snap', 'create', `${src}@a`);
    rbd('snap', 'protect', `${src}@a`);
    rbd('bench', '--io-type', 'write', '--io-size', '4K', '--io-total', '512K', '--io-pattern', 'rand', src);
    rbd('snap', 'create', `${src}@b`);
    rbd('resize', '--size', '20M', src);
    rbd('bench', '--io-type', 'write', '--io-size', '4K', '--io-total', '256K', '--io-pattern', 'rand', src);
    const stream = fileBytes(['export', '--export-format', '2', src, '-']);
    const r = await put('v2api', stream, { 'content-type': 'application/vnd.ceph.rbd-export-v2' });
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    expect(r.json).toMatchObject({ snapshots: ['a', 'b'], size: 20 * MiB, bytes: stream.length });
    expect(snapNames(`${pool.name}/v2api`)).toEqual(['a', 'b']);
    for (const at of ['@a', '@b', '']) expect(sha(exportImage(`${pool.name}/v2api${at}`)), at).toBe(sha(exportImage(`${src}${at}`)));
    const info = JSON.parse(rbd('info', '--format', 'json', `${pool.name}/v2api`)) as { object_size: number };
    expect(info.object_size).toBe(MiB);
    expect(rbd('snap', 'ls', '--format', 'json', `${pool.name}/v2api`)).toMatch(/"protected":\s*"true"/);
    // a corrupt stream leaves nothing
    const bad = await put('v2bad', stream.subarray(0, stream.length - 1000), { 'content-type': 'application/vnd.ceph.rbd-export-v2' });
    expect([bad.status, bad.json.code]).toEqual([400, 'INVALID_STREAM']);
    await eventually(() => !lsAll().includes('v2bad') && temporaries().length === 0 && !trashNames().some((n) => n.startsWith('.rbdapi-')),
      { timeoutMs: 20_000, what: 'nothing left of the corrupt import' });
  });
});

describe('scopes, audit and header fuzz', () => {
  it('a read token gets 403 and nothing is made; a write token imports, with an audit line of bytes and digest', async () => {
    const lines: Record<string, unknown>[] = [];
    const audit = pino({ level: 'info' }, { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } });
    const READ = 'r'.repeat(20);
    const WRITE = 'w'.repeat(20);
    const app = await buildApp({ ceph: t.ceph, auth: TokenStore.parse(`${READ} read * reader\n${WRITE} write * writer\n`), audit });
    try {
      await app.listen({ host: '127.0.0.1', port: 0 });
      const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}${path('scoped')}`;
      const body = randomBytes(70_000);
      const send = (token: string) => fetch(base, { method: 'PUT', body: new Uint8Array(body),
        headers: { 'content-type': 'application/octet-stream', authorization: `Bearer ${token}` } });
      const denied = await send(READ);
      expect(denied.status).toBe(403);
      expect(lsAll()).not.toContain('scoped');
      const ok = await send(WRITE);
      expect(ok.status).toBe(201);
      expect(sha(exportImage(`${pool.name}/scoped`))).toBe(sha(body));
      const line = lines.find((l) => l.kind === 'request' && l.method === 'PUT' && (l.outcome as { status: number }).status === 201);
      expect(line, JSON.stringify(lines)).toMatchObject({ principal: 'writer', content: { declared: body.length, bytes: body.length } });
    } finally {
      await app.close();
    }
  });

  it('fuzzed headers: always a precise 4xx (never 5xx), nothing left', async () => {
    const cases: Record<string, string>[] = [
      { 'content-type': 'application/octet-stream; charset=binary', 'content-range': 'bytes=0-1/2' },
      { 'content-type': 'application/octet-stream', 'content-range': 'bytes 5-1/10' },
      { 'content-type': 'application/octet-stream', 'content-range': 'bytes 0-9/99999999999999999999' },
      { 'content-type': 'application/octet-stream', 'content-digest': '' },
      { 'content-type': 'application/octet-stream', 'content-digest': 'sha-256=:' + 'A'.repeat(5000) + ':' },
      { 'content-type': 'application/octet-stream', 'content-digest': 'sha-512=:AAAA:, sha-256=:AAAA:' },
      { 'content-type': 'application/vnd.ceph.rbd-diff', 'content-range': 'bytes 0-9/10' },
      { 'content-type': 'application/vnd.ceph.rbd-export-v2' },
      { 'content-type': 'multipart/form-data; boundary=x' },
      { 'content-type': 'application/octet-stream' },
    ];
    for (const [i, h] of cases.entries()) {
      for (const image of ['fz', '.hidden', 'bad@name']) {
        const r = await put(image, randomBytes(10), h, i % 2 ? '?objectSize=3' : '');
        expect(r.status, `${image} ${JSON.stringify(h)}: ${JSON.stringify(r.json)}`).toBeGreaterThanOrEqual(400);
        expect(r.status, `${image} ${JSON.stringify(h)}`).toBeLessThan(500);
        expect(typeof r.json.code).toBe('string');
      }
    }
    expect(lsAll().filter((n) => n.startsWith('fz') || n.startsWith('.hidden') || n.includes('@'))).toEqual([]);
    await eventually(() => temporaries().length === 0, { timeoutMs: 20_000, what: 'no temporary' });
  });
});
