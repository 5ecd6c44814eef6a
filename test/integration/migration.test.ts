// Live migration through the API, on the real cluster: between pools, into a namespace with a data pool and a new
// layout, abort back to the source, data compared byte for byte (rbd export) after commit and after abort; a
// client reading the destination while the copy runs; bad specs answered with precise 4xx and nothing prepared;
// imports of raw and qcow2 files served by a local HTTP server (qemu-img makes the qcow2).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CephConnection } from '../../src/ceph/connection.js';
import { Images } from '../../src/ceph/images.js';
import { TokenStore } from '../../src/http/auth.js';
import { json, testApp, type TestApp } from '../helpers/app.js';
import { connect, makePool } from '../helpers/cluster.js';
import { cliSyncBytes, exportImage as exportAsync, rbdSync as rbd } from '../helpers/cli.js';
import { waitTask, type TaskJson } from '../helpers/wait-task.js';

const ADMIN = 'migration-admin-0123456789abcdef';
const WRITER = 'migration-writer-0123456789abcdef';
const TENANT = 'migration-tenant-0123456789abcdef';
const MiB = 1024 * 1024;
let admin: CephConnection;
let t: TestApp;
let a: { name: string; remove: () => Promise<void> };
let b: { name: string; remove: () => Promise<void> };
let work: string;
let http: Server;
let httpBase: string;
const data: Record<string, Buffer> = {};

const bearer = (tok = ADMIN) => ({ authorization: `Bearer ${tok}` });
const exportImage = (spec: string): Buffer => cliSyncBytes('rbd', ['--no-progress', 'export', spec, '-']);
const ls = (spec: string): string[] => rbd('ls', spec).split('\n').filter(Boolean).sort();
const trash = (spec: string): string[] => rbd('trash', 'ls', '--all', spec).split('\n').filter(Boolean);

function importRandom(spec: string, name: string, bytes: number, objectSize = '1M'): Buffer {
  const buf = randomBytes(bytes);
  const f = join(work, `${name}.bin`);
  writeFileSync(f, buf);
  rbd('import', '--no-progress', '--object-size', objectSize, f, `${spec}/${name}`);
  rmSync(f);
  data[name] = buf;
  return buf;
}

const post = (url: string, body?: unknown, tok = ADMIN) => t.app.inject({
  method: 'POST', url: `/api/v1/pools/${url}`,
  ...(body === undefined ? { headers: bearer(tok) } : { payload: json(body).payload, headers: { ...json(body).headers, ...bearer(tok) } }),
});
const get = (url: string, tok = ADMIN) => t.app.inject({ method: 'GET', url: `/api/v1/pools/${url}`, headers: bearer(tok) });

async function done(r: { statusCode: number; body: string; headers: Record<string, unknown> }): Promise<TaskJson> {
  expect(r.statusCode, r.body).toBe(202);
  const { task } = await waitTask(t.app, String(r.headers.location), 120_000, undefined, bearer());
  expect(task.state, JSON.stringify(task)).toBe('succeeded');
  return task;
}

/** A server of the files in `work` with HEAD and single range GETs, as librbd's http stream needs. */
function serveFiles(): Promise<void> {
  http = createServer((req, res) => {
    const path = join(work, decodeURIComponent((req.url ?? '/').slice(1)));
    if (req.url === '/no-ranges.raw') { // a server that ignores Range
      res.writeHead(200, { 'content-length': '4' }).end(req.method === 'HEAD' ? undefined : 'abcd');
      return;
    }
    let body: Buffer;
    try { body = readFileSync(path); } catch { res.writeHead(404, { 'content-length': '0' }).end(); return; }
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (m) {
      const [s, e] = [Number(m[1]), Math.min(Number(m[2]), body.length - 1)];
      res.writeHead(206, { 'content-length': String(e - s + 1), 'content-range': `bytes ${s}-${e}/${body.length}` });
      res.end(req.method === 'HEAD' ? undefined : body.subarray(s, e + 1));
    } else {
      res.writeHead(200, { 'content-length': String(body.length), 'accept-ranges': 'bytes' });
      res.end(req.method === 'HEAD' ? undefined : body);
    }
  });
  return new Promise((r) => http.listen(0, '127.0.0.1', () => {
    httpBase = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
    r();
  }));
}

beforeAll(async () => {
  admin = await connect('admin');
  [a, b] = await Promise.all([makePool(admin, 'mig-a'), makePool(admin, 'mig-b')]);
  work = mkdtempSync(join(tmpdir(), 'rbdapi-migration-'));
  rbd('namespace', 'create', `${a.name}/ns1`);
  rbd('namespace', 'create', `${a.name}/tenant`);
  const auth = TokenStore.parse(`${ADMIN} admin * operator\n${WRITER} write * provisioner\n${TENANT} write ${a.name}/tenant tenant\n`);
  t = await testApp('rbdapi', { auth });
  await serveFiles();
}, 120_000);
afterAll(async () => {
  http?.close();
  await t?.close();
  await Promise.all([a?.remove(), b?.remove()]);
  await admin?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('live migration', () => {
  it('between pools: usable under the new name at once, read while the copy runs, byte for byte after commit; the source is gone', async () => {
    // 16 KiB objects: 128 of them, so the copy is still running when the destination is read
    const src = importRandom(a.name, 'm1', 2 * MiB, '16K');
    const r = await post(`${a.name}/images/m1/migration`, { destination: { pool: b.name, name: 'm1b' } });
    expect(r.statusCode, r.body).toBe(202);
    expect(r.headers.link).toBe(`</api/v1/pools/${b.name}/images/m1b/migration>; rel="related"`);
    expect(ls(a.name)).not.toContain('m1');
    // a client (the service's own download) reads the destination through to the source while it migrates
    const read = await t.app.inject({ method: 'GET', url: `/api/v1/pools/${b.name}/images/m1b/content`, headers: bearer() });
    expect(read.statusCode).toBe(200);
    expect(read.rawPayload.equals(src)).toBe(true);
    const task = await done(r);
    expect(task.action).toBe('image.migration-execute');
    expect(task.result).toEqual({ state: 'executed' });
    // the state, by either name
    for (const at of [`${b.name}/images/m1b/migration`, `${a.name}/images/m1/migration`]) {
      const s = await get(at);
      expect(s.statusCode, s.body).toBe(200);
      expect(s.json()).toMatchObject({
        state: 'executed', source: { pool: a.name, namespace: '', image: 'm1' }, destination: { pool: b.name, namespace: '', image: 'm1b' },
        links: { commit: `/api/v1/pools/${b.name}/images/m1b/migration/commit` },
      });
    }
    expect(exportImage(`${b.name}/m1b`).equals(src)).toBe(true);
    await done(await post(`${b.name}/images/m1b/migration/commit`));
    expect(exportImage(`${b.name}/m1b`).equals(src)).toBe(true);
    expect(trash(a.name)).toEqual([]);
    const after = await get(`${b.name}/images/m1b/migration`);
    expect(after.statusCode).toBe(404);
    expect(after.json().code).toBe('MIGRATION_NOT_FOUND');
    expect((await get(`${b.name}/images/m1b`)).json().features).not.toContain('migrating');
  });

  it('into a namespace with a data pool, a new object size and features, committed on success', async () => {
    const src = importRandom(a.name, 'm2', 3 * MiB);
    await done(await post(`${a.name}/images/m2/migration`, {
      destination: { namespace: 'ns1' }, dataPool: b.name, objectSize: '256KiB', features: ['layering', 'exclusive-lock'], commitOnSuccess: true,
    }));
    const info = (await get(`${a.name}/namespaces/ns1/images/m2`)).json();
    expect(info).toMatchObject({ dataPool: b.name, objectSize: 256 * 1024 });
    expect(info.features).toEqual(expect.arrayContaining(['layering', 'exclusive-lock']));
    expect(info.features).not.toContain('object-map');
    expect(exportImage(`${a.name}/ns1/m2`).equals(src)).toBe(true);
    expect(ls(a.name)).not.toContain('m2');
    expect(trash(a.name)).toEqual([]);
  });

  it('abort rolls back to the source: its name and data, the destination gone', async () => {
    const src = importRandom(a.name, 'm3', 2 * MiB);
    await done(await post(`${a.name}/images/m3/migration`, { destination: { pool: b.name, namespace: '' } }));
    // commit needs `executed`; this one is: refused states are tested below through a fresh prepare
    const task = await done(await post(`${a.name}/images/m3/migration/abort`));
    expect(task.action).toBe('image.migration-abort');
    expect(ls(a.name)).toContain('m3');
    expect(ls(b.name)).not.toContain('m3');
    expect(exportImage(`${a.name}/m3`).equals(src)).toBe(true);
    expect(trash(a.name)).toEqual([]);
    expect((await get(`${a.name}/images/m3/migration`)).statusCode).toBe(404);
  });

  it('bad specs: precise 4xx, and nothing prepared', async () => {
    importRandom(a.name, 'bad', 1 * MiB);
    importRandom(b.name, 'taken', 1 * MiB);
    const inB = ls(b.name);
    const cases: [unknown, number, string, string?][] = [
      [{ destination: { pool: 'no-such-pool' } }, 404, 'POOL_NOT_FOUND'],
      [{ destination: { namespace: 'no-such-ns' } }, 404, 'NAMESPACE_NOT_FOUND'],
      [{ destination: { pool: b.name, name: 'taken' } }, 409, 'IMAGE_EXISTS'],
      [{ dataPool: 'no-such-pool' }, 400, 'VALIDATION_FAILED', 'dataPool'],
      [{ objectSize: 3000 }, 400, 'VALIDATION_FAILED', 'objectSize'],
      [{ features: ['fast-diff'] }, 400, 'VALIDATION_FAILED', 'features'],
      [{ destination: { name: 'a/b' } }, 400, 'VALIDATION_FAILED', 'destination.name'],
      [{ destination: { pool: b.name }, extra: 1 }, 400, 'VALIDATION_FAILED'],
    ];
    for (const [body, status, code, field] of cases) {
      const r = await post(`${a.name}/images/bad/migration`, body);
      expect(r.statusCode, `${JSON.stringify(body)}: ${r.body}`).toBe(status);
      expect(r.json().code).toBe(code);
      if (field) expect(r.json().errors.map((e: { path: string }) => e.path)).toContain(field);
    }
    expect((await post(`${a.name}/images/nothere/migration`, {})).json().code).toBe('IMAGE_NOT_FOUND');
    // a namespace-scoped token may only migrate within what it may write (both ends)
    importRandom(`${a.name}/tenant`, 'tm', 1 * MiB);
    const out = await post(`${a.name}/namespaces/tenant/images/tm/migration`, { destination: { pool: a.name, namespace: '' } }, TENANT);
    expect(out.statusCode, out.body).toBe(403);
    expect(out.json().detail).toMatch(/both ends/);
    expect((await post(`${a.name}/namespaces/tenant/images/tm/migration`, { dataPool: b.name }, TENANT)).statusCode).toBe(403);
    // an image open by a client
    const release = await new Images(admin).hold(a.name, 'bad');
    try {
      const r = await post(`${a.name}/images/bad/migration`, { destination: { pool: b.name } });
      expect(r.statusCode, r.body).toBe(409);
      expect(r.json().code).toBe('IMAGE_IN_USE');
    } finally {
      await release();
    }
    expect(ls(a.name)).toContain('bad');
    expect(ls(b.name)).toEqual(inB);
    expect((await get(`${a.name}/images/bad/migration`)).json().code).toBe('MIGRATION_NOT_FOUND');
    expect(rbd('status', `${a.name}/bad`)).not.toMatch(/Migration/);
    // within the tenant's own namespace it may
    const own = await post(`${a.name}/namespaces/tenant/images/tm/migration`, { destination: { name: 'tm2' }, commitOnSuccess: true }, TENANT);
    expect(own.statusCode, own.body).toBe(202);
    await waitTask(t.app, String(own.headers.location), 60_000, undefined, bearer());
    expect(ls(`${a.name}/tenant`)).toEqual(['tm2']);
  });

  it('state conflicts (409): a second migration of a migrating image, execute once executed', async () => {
    importRandom(a.name, 'm4', 1 * MiB);
    const r = await post(`${a.name}/images/m4/migration`, { destination: { name: 'm4b' } });
    await done(r);
    const again = await post(`${a.name}/images/m4b/migration`, { destination: { pool: b.name } });
    expect(again.statusCode, again.body).toBe(409);
    expect(again.json().code).toBe('MIGRATION_IN_PROGRESS');
    const exec = await post(`${a.name}/images/m4b/migration/execute`);
    expect(exec.statusCode).toBe(409);
    expect(exec.json()).toMatchObject({ code: 'MIGRATION_STATE_CONFLICT', state: 'executed' });
    await done(await post(`${a.name}/images/m4b/migration/abort`));
    expect(ls(a.name)).toContain('m4');
  });
});

describe('import from a URL', () => {
  beforeAll(() => {
    data.raw = randomBytes(3 * MiB);
    writeFileSync(join(work, 'disk.raw'), data.raw);
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', join(work, 'disk.raw'), join(work, 'disk.qcow2')]);
  });
  const importUrl = (body: unknown, tok = ADMIN) => post(`${b.name}/image-imports`, body, tok);

  it('a raw file: readable at once (before any copy), then executed and committed, byte for byte', async () => {
    const r = await importUrl({ name: 'fromraw', source: { url: `${httpBase}/disk.raw`, format: 'raw' } });
    expect(r.statusCode, r.body).toBe(202);
    // asynchronously: rbd export reads from this process's HTTP server
    expect((await exportAsync(b.name, 'fromraw')).equals(data.raw!)).toBe(true);
    await done(r);
    const s = (await get(`${b.name}/images/fromraw/migration`)).json();
    expect(s).toMatchObject({ source: null, state: 'executed', import: { url: `${httpBase}/disk.raw`, format: 'raw' } });
    await done(await post(`${b.name}/images/fromraw/migration/commit`));
    expect(exportImage(`${b.name}/fromraw`).equals(data.raw!)).toBe(true);
  });

  it('a qcow2 file (qemu-img convert), committed on success', async () => {
    await done(await importUrl({ name: 'fromqcow', source: { url: `${httpBase}/disk.qcow2`, format: 'qcow2' }, commitOnSuccess: true }));
    http.close(); // the image no longer needs the server
    expect(exportImage(`${b.name}/fromqcow`).equals(data.raw!)).toBe(true);
    await serveFiles();
  });

  it('refused before anything is made: other schemes, unreachable, 404, no ranges, wrong format; admin scope', async () => {
    const bad: [string, string, RegExp?][] = [
      ['file:///etc/passwd', 'raw'], ['ftp://127.0.0.1/x', 'raw'], ['s3://bucket/x', 'raw'], ['not a url', 'raw'],
      ['http://127.0.0.1:1/x', 'raw', /could not be reached/], [`${httpBase}/missing.raw`, 'raw', /HTTP 404/],
      [`${httpBase}/no-ranges.raw`, 'raw', /206/], [`${httpBase}/disk.raw`, 'qcow2', /librbd could not open it/],
    ];
    for (const [url, format, why] of bad) {
      const r = await importUrl({ name: 'never', source: { url, format } });
      expect(r.statusCode, `${url}: ${r.body}`).toBe(400);
      const e = r.json().errors[0];
      expect(e.path).toBe('source.url');
      if (why) expect(e.message).toMatch(why);
    }
    expect((await importUrl({ name: 'never', source: { url: `${httpBase}/disk.raw`, format: 'raw' } }, WRITER)).statusCode).toBe(403);
    expect((await importUrl({ name: 'fromraw', source: { url: `${httpBase}/disk.raw`, format: 'raw' } })).json().code).toBe('IMAGE_EXISTS');
    expect(ls(b.name)).not.toContain('never');
  });
});
