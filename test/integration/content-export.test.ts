// Downloads of image content, byte for byte against the rbd CLI: raw exports of several sizes and sparseness
// (and a clone), Range pieces reassembled, 416, If-Range, HEAD, a snapshot exported while the image is written,
// rbd's diff stream into `rbd import-diff`, export-format 2 into `rbd import --export-format 2` (every snapshot),
// JSON diff pages against `rbd diff`, a client that goes away mid-download (no read left in flight), scopes,
// and a fuzz of the query and Range headers (never a 5xx).
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { configureTransfers, transferLoad, transferSettings } from '../../src/ceph/content/budget.js';
import { TokenStore } from '../../src/http/auth.js';
import { usePoolApp } from '../fixtures.js';
import { exportImage, importRandom, rbdCli } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';

const READ = 'read-content-0a1b2c3d4e5f6a7b8c9d';
const OTHER = 'other-pool-content-9f8e7d6c5b4a3f2e';
const auth = TokenStore.parse(`${READ} read * reader\n${OTHER} read not-this-pool-xyz tenant\n`);
const it = usePoolApp({ prefix: 'export', key: 'rbdapi', app: { auth } });
const bearer = { authorization: `Bearer ${READ}` };

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const MiB = 2 ** 20;

/** `rbd import` of a file holding `blocks` (offset → bytes) and zeros elsewhere: a sparse image (import skips zeros). */
async function importSparse(spec: string, image: string, size: number, blocks: [number, Buffer][]): Promise<Buffer> {
  const data = Buffer.alloc(size);
  for (const [off, b] of blocks) b.copy(data, off);
  const dir = mkdtempSync(join(tmpdir(), 'rbdapi-sparse-'));
  try {
    writeFileSync(join(dir, 'data'), data);
    await rbdCli('import', '--no-progress', join(dir, 'data'), `${spec}/${image}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return data;
}

async function writeAt(spec: string, image: string, offset: number, bytes: Buffer): Promise<void> {
  // rbd import-diff of a hand-made diff v1: one 'w' record (the CLI has no "write these bytes here")
  const le64 = (n: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b; };
  const info = JSON.parse(await rbdCli('info', '--format', 'json', `${spec}/${image}`)) as { size: number };
  const diff = Buffer.concat([Buffer.from('rbd diff v1\n'), Buffer.from('s'), le64(info.size),
    Buffer.from('w'), le64(offset), le64(bytes.length), bytes, Buffer.from('e')]);
  const dir = mkdtempSync(join(tmpdir(), 'rbdapi-diff-'));
  try {
    writeFileSync(join(dir, 'd'), diff);
    await rbdCli('import-diff', '--no-progress', join(dir, 'd'), `${spec}/${image}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function withFile<T>(bytes: Buffer, fn: (path: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'rbdapi-file-'));
  try {
    writeFileSync(join(dir, 'f'), bytes);
    return await fn(join(dir, 'f'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('raw export', () => {
  it('equals rbd export byte for byte: full, odd-sized, sparse, empty regions, a clone', { timeout: 240_000 }, async ({ app, pool }) => {
    const p = pool.name;
    await importRandom(p, 'full', 5 * MiB + 123);
    await importSparse(p, 'sparse', 64 * MiB, [[0, randomBytes(4096)], [13 * MiB + 7, randomBytes(100_000)], [64 * MiB - 512, randomBytes(512)]]);
    await rbdCli('create', '--size', '40M', `${p}/empty`);
    await rbdCli('snap', 'create', `${p}/sparse@s`);
    await rbdCli('snap', 'protect', `${p}/sparse@s`);
    await rbdCli('clone', `${p}/sparse@s`, `${p}/clone`);
    await writeAt(p, 'clone', 20 * MiB, randomBytes(70_000));
    for (const name of ['full', 'sparse', 'empty', 'clone', 'sparse@s']) {
      const [image, snap] = name.split('@');
      const r = await app.inject({ method: 'GET', url: `/api/v1/pools/${p}/images/${image}/content${snap ? `?snapshot=${snap}` : ''}`, headers: bearer });
      expect(r.statusCode, name).toBe(200);
      expect(r.headers['content-type']).toBe('application/octet-stream');
      const want = await exportImage(p, name);
      expect(Number(r.headers['content-length']), name).toBe(want.length);
      expect(sha(r.rawPayload), name).toBe(sha(want));
    }
  });

  it('HEAD: the headers of GET, no body; a snapshot has a strong ETag, the image a weak one unique per answer', async ({ app, pool }) => {
    const url = `/api/v1/pools/${pool.name}/images/full/content`;
    const h = await app.inject({ method: 'HEAD', url, headers: bearer });
    expect(h.statusCode).toBe(200);
    expect(h.headers['content-length']).toBe(String(5 * MiB + 123));
    expect(h.headers['accept-ranges']).toBe('bytes');
    expect(h.rawPayload.length).toBe(0);
    expect(h.headers.etag).toMatch(/^W\//);
    const h2 = await app.inject({ method: 'HEAD', url, headers: bearer });
    expect(h2.headers.etag).not.toBe(h.headers.etag);
    const s1 = await app.inject({ method: 'HEAD', url: `/api/v1/pools/${pool.name}/images/sparse/content?snapshot=s`, headers: bearer });
    const s2 = await app.inject({ method: 'HEAD', url: `/api/v1/pools/${pool.name}/images/sparse/content?snapshot=s`, headers: bearer });
    expect(s1.headers.etag).toMatch(/^"/);
    expect(s2.headers.etag).toBe(s1.headers.etag);
    expect(transferLoad().transfers).toBe(0); // HEAD made no stream
  });
});

/** GET over a real socket: status, headers, body and trailers (fetch does not expose trailers). */
function rawGet(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; trailers: NodeJS.Dict<string> }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), trailers: res.trailers }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

describe('digests of downloads (Want-Content-Digest → Content-Digest trailer, RFC 9530)', () => {
  it('the trailer is the digest of the bytes sent: whole, a range, sha-512; none unless asked for one it computes', { timeout: 120_000 }, async ({ app, api, pool }) => {
    void api; // listening on a real socket
    const port = (app.server.address() as AddressInfo).port;
    const base = `/api/v1/pools/${pool.name}/images`;
    const b64 = (alg: string, b: Buffer) => createHash(alg).update(b).digest('base64');
    const want = await exportImage(pool.name, 'full');
    const whole = await rawGet(port, `${base}/full/content`, { ...bearer, 'want-content-digest': 'sha-256=5, sha-512=3' });
    expect(whole.status).toBe(200);
    expect(whole.headers.trailer).toBe('content-digest');
    expect(whole.headers['transfer-encoding']).toBe('chunked');
    expect(whole.headers['content-length']).toBeUndefined();
    expect(sha(whole.body)).toBe(sha(want));
    expect(whole.trailers['content-digest']).toBe(`sha-256=:${b64('sha256', want)}:`);

    const snap = await exportImage(pool.name, 'sparse@s');
    const part = await rawGet(port, `${base}/sparse/content?snapshot=s`, { ...bearer, range: 'bytes=13631488-13731495', 'want-content-digest': 'sha-512' });
    expect(part.status).toBe(206);
    expect(part.body.equals(snap.subarray(13631488, 13731496))).toBe(true);
    expect(part.trailers['content-digest']).toBe(`sha-512=:${b64('sha512', part.body)}:`);

    const v2 = await rawGet(port, `${base}/full/content?format=rbd-export-v2`, { ...bearer, 'want-content-digest': 'sha-256=1' });
    expect(v2.status).toBe(200);
    expect(v2.trailers['content-digest']).toBe(`sha-256=:${b64('sha256', v2.body)}:`);

    // not asked, asked with weight 0, for an algorithm this service does not compute, or malformed: no trailer, Content-Length as usual
    for (const h of [undefined, 'sha-256=0', 'md5=10, unixsum=2', ';;;', 'sha-256=99']) {
      const r = await rawGet(port, `${base}/full/content`, { ...bearer, ...(h === undefined ? {} : { 'want-content-digest': h }) });
      expect(r.status, String(h)).toBe(200);
      expect(r.headers['content-length'], String(h)).toBe(String(want.length));
      expect(r.headers.trailer, String(h)).toBeUndefined();
      expect(r.trailers['content-digest'], String(h)).toBeUndefined();
      expect(sha(r.body), String(h)).toBe(sha(want));
    }
    // HEAD: headers only, Content-Length kept
    const head = await app.inject({ method: 'HEAD', url: `${base}/full/content`, headers: { ...bearer, 'want-content-digest': 'sha-256' } });
    expect(head.headers['content-length']).toBe(String(want.length));
    expect(head.headers.trailer).toBeUndefined();
  });
});

describe('ranges', () => {
  it('pieces reassembled equal the whole; 416 past the end and for several ranges; If-Range', { timeout: 180_000 }, async ({ app, pool }) => {
    await importSparse(pool.name, 'ranged', 9 * MiB + 17, [[5, randomBytes(70_000)], [6 * MiB - 3, randomBytes(MiB)]]);
    await rbdCli('snap', 'create', `${pool.name}/ranged@r`);
    const url = `/api/v1/pools/${pool.name}/images/ranged/content?snapshot=r`;
    const whole = await exportImage(pool.name, 'ranged@r');
    const size = whole.length;
    const cuts = ['0-0', '1-4194303', `4194304-${6 * MiB + 50_000}`, `${6 * MiB + 50_001}-${size - 1001}`];
    const pieces: Buffer[] = [];
    for (const c of [...cuts, '-1000']) {
      const r = await app.inject({ method: 'GET', url, headers: { ...bearer, range: `bytes=${c}` } });
      expect(r.statusCode, c).toBe(206);
      expect(r.headers['content-range']).toMatch(new RegExp(`^bytes \\d+-\\d+/${size}$`));
      pieces.push(r.rawPayload);
    }
    expect(sha(Buffer.concat(pieces))).toBe(sha(whole));
    const open = await app.inject({ method: 'GET', url, headers: { ...bearer, range: `bytes=${size - 10}-` } });
    expect(open.statusCode).toBe(206);
    expect(open.rawPayload.equals(whole.subarray(size - 10))).toBe(true);
    const clamp = await app.inject({ method: 'GET', url, headers: { ...bearer, range: `bytes=${size - 3}-${size + 1000}` } });
    expect(clamp.headers['content-range']).toBe(`bytes ${size - 3}-${size - 1}/${size}`);

    for (const bad of [`bytes=${size}-`, `bytes=${size + 5}-${size + 9}`, 'bytes=0-1,5-9', 'bytes=9-1', 'bytes=-0', 'bytes=x-y', 'bytes=99999999999999999999-']) {
      const r = await app.inject({ method: 'GET', url, headers: { ...bearer, range: bad } });
      expect(r.statusCode, bad).toBe(416);
      expect(r.headers['content-range']).toBe(`bytes */${size}`);
      expect(r.json()).toMatchObject({ code: 'RANGE_NOT_SATISFIABLE' });
    }
    const other = await app.inject({ method: 'GET', url, headers: { ...bearer, range: 'items=0-5' } });
    expect(other.statusCode).toBe(200); // another unit: ignored

    const etag = (await app.inject({ method: 'HEAD', url, headers: bearer })).headers.etag as string;
    const same = await app.inject({ method: 'GET', url, headers: { ...bearer, range: 'bytes=10-19', 'if-range': etag } });
    expect(same.statusCode).toBe(206);
    expect(same.rawPayload.equals(whole.subarray(10, 20))).toBe(true);
    const changed = await app.inject({ method: 'GET', url, headers: { ...bearer, range: 'bytes=10-19', 'if-range': '"something-else"' } });
    expect(changed.statusCode).toBe(200);
    expect(changed.rawPayload.length).toBe(size);
    // the image's ETag is weak: a resume from it always restarts
    const head = `/api/v1/pools/${pool.name}/images/full/content`;
    const weak = (await app.inject({ method: 'HEAD', url: head, headers: bearer })).headers.etag as string;
    const r = await app.inject({ method: 'GET', url: head, headers: { ...bearer, range: 'bytes=0-9', 'if-range': weak } });
    expect(r.statusCode).toBe(200);
  });
});

describe('snapshots and diffs', () => {
  it('a snapshot exported while the image is written equals the snapshot', { timeout: 180_000 }, async ({ app, pool }) => {
    const p = pool.name;
    await importRandom(p, 'busy', 24 * MiB);
    await rbdCli('snap', 'create', `${p}/busy@before`);
    const want = await exportImage(p, 'busy@before');
    const writer = rbdCli('bench', '--io-type', 'write', '--io-pattern', 'rand', '--io-size', '64K', '--io-total', '48M', `${p}/busy`);
    const r = await app.inject({ method: 'GET', url: `/api/v1/pools/${p}/images/busy/content?snapshot=before`, headers: bearer });
    await writer;
    expect(r.statusCode).toBe(200);
    expect(sha(r.rawPayload)).toBe(sha(want));
    expect(sha(await exportImage(p, 'busy'))).not.toBe(sha(want)); // the writes landed
  });

  it('rbd-diff stream → rbd import-diff into a copy equals the target snapshot; JSON pages equal rbd diff', { timeout: 180_000 }, async ({ app, pool }) => {
    const p = pool.name;
    await importRandom(p, 'src', 16 * MiB);
    await rbdCli('snap', 'create', `${p}/src@a`);
    await writeAt(p, 'src', 3 * MiB + 5, randomBytes(300_000));
    await writeAt(p, 'src', 12 * MiB, randomBytes(4096));
    await rbdCli('snap', 'create', `${p}/src@b`);
    // the copy: the same content as src@a, with a snapshot named a
    await withFile(await exportImage(p, 'src@a'), (f) => rbdCli('import', '--no-progress', f, `${p}/dst`));
    await rbdCli('snap', 'create', `${p}/dst@a`);
    const r = await app.inject({ method: 'GET', url: `/api/v1/pools/${p}/images/src/diff?fromSnapshot=a&snapshot=b&format=rbd-diff`, headers: bearer });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('application/vnd.ceph.rbd-diff');
    expect(r.headers.etag).toMatch(/^"/);
    await withFile(r.rawPayload, (f) => rbdCli('import-diff', '--no-progress', f, `${p}/dst`));
    expect(sha(await exportImage(p, 'dst'))).toBe(sha(await exportImage(p, 'src@b')));
    expect(await rbdCli('snap', 'ls', '--format', 'json', `${p}/dst`)).toContain('"b"');

    // the same changes as JSON pages (3 per page), against `rbd diff`
    const cli = (JSON.parse(await rbdCli('diff', '--from-snap', 'a', '--format', 'json', `${p}/src@b`)) as { offset: number; length: number; exists: string }[])
      .map((x) => ({ offset: x.offset, length: x.length, exists: x.exists === 'true' }));
    const items: { offset: number; length: number; exists: boolean }[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 100; pages++) {
      const page = await app.inject({ method: 'GET', url: `/api/v1/pools/${p}/images/src/diff?fromSnapshot=a&snapshot=b&limit=1${cursor ? `&cursor=${cursor}` : ''}`, headers: bearer });
      expect(page.statusCode).toBe(200);
      const body = page.json() as { items: typeof items; nextCursor?: string };
      expect(body.items.length).toBeLessThanOrEqual(1);
      items.push(...body.items);
      cursor = body.nextCursor;
      if (!cursor) break;
    }
    const merge = (xs: typeof items) => xs.reduce<typeof items>((out, x) => {
      const last = out[out.length - 1];
      if (last && last.exists === x.exists && last.offset + last.length === x.offset) last.length += x.length;
      else out.push({ ...x });
      return out;
    }, []);
    expect(merge(items)).toEqual(merge(cli));

    const wrongOrder = await app.inject({ method: 'GET', url: `/api/v1/pools/${p}/images/src/diff?fromSnapshot=b&snapshot=a`, headers: bearer });
    expect(wrongOrder.statusCode).toBe(400);
    const missing = await app.inject({ method: 'GET', url: `/api/v1/pools/${p}/images/src/diff?fromSnapshot=nope`, headers: bearer });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: 'SNAPSHOT_NOT_FOUND' });
  });

  it('export-format 2 → rbd import --export-format 2 rebuilds the image and every snapshot (data, protection, metadata)', { timeout: 180_000 }, async ({ app, pool }) => {
    const p = pool.name;
    await importSparse(p, 'v2', 20 * MiB, [[MiB, randomBytes(200_000)]]);
    await rbdCli('snap', 'create', `${p}/v2@one`);
    await writeAt(p, 'v2', 9 * MiB, randomBytes(50_000));
    await rbdCli('snap', 'create', `${p}/v2@two`);
    await rbdCli('snap', 'protect', `${p}/v2@two`);
    await writeAt(p, 'v2', 19 * MiB, randomBytes(10_000));
    await rbdCli('image-meta', 'set', `${p}/v2`, 'owner', 'console');
    const r = await app.inject({ method: 'GET', url: `/api/v1/pools/${p}/images/v2/content`, headers: { ...bearer, accept: 'application/vnd.ceph.rbd-export-v2' } });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('application/vnd.ceph.rbd-export-v2');
    await withFile(r.rawPayload, (f) => rbdCli('import', '--no-progress', '--export-format', '2', f, `${p}/v2copy`));
    for (const s of ['@one', '@two', '']) {
      expect(sha(await exportImage(p, `v2copy${s}`)), s).toBe(sha(await exportImage(p, `v2${s}`)));
    }
    const snaps = JSON.parse(await rbdCli('snap', 'ls', '--format', 'json', `${p}/v2copy`)) as { name: string; protected: string }[];
    expect(snaps.map((s) => [s.name, s.protected])).toEqual([['one', 'false'], ['two', 'true']]);
    expect((await rbdCli('image-meta', 'get', `${p}/v2copy`, 'owner')).trim()).toBe('console');
    await rbdCli('snap', 'unprotect', `${p}/v2@two`);
    await rbdCli('snap', 'unprotect', `${p}/v2copy@two`);

    const withSnap = await app.inject({ method: 'GET', url: `/api/v1/pools/${p}/images/v2/content?format=rbd-export-v2&snapshot=one`, headers: bearer });
    expect(withSnap.statusCode).toBe(400);
  });
});

describe('transfers end with their clients', () => {
  it('a client that disconnects mid-download leaves no read in flight (within 1 s)', { timeout: 120_000 }, async ({ app, api, pool }) => {
    void api; // listening on a real socket
    const p = pool.name;
    await importRandom(p, 'long', 96 * MiB);
    const port = (app.server.address() as AddressInfo).port;
    const got = await new Promise<number>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: `/api/v1/pools/${p}/images/long/content`, headers: bearer }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => {
          n += c.length;
          if (n >= 8 * MiB) { req.destroy(); resolve(n); }
        });
        res.on('error', () => undefined);
      });
      req.on('error', (e) => { if (!req.destroyed) reject(e); });
    });
    expect(got).toBeGreaterThanOrEqual(8 * MiB);
    const started = Date.now();
    await eventually(() => transferLoad().transfers === 0 && transferLoad().aioInFlight === 0,
      { timeoutMs: 1000, intervalMs: 20, what: 'the download ended with its client' });
    expect(Date.now() - started).toBeLessThan(1000);
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/^rbdapi_transfer_io_in_flight 0$/m);
  });

  it('a client gone while the next window of extents is walked: the walk ends before the image closes; the next download is whole', { timeout: 120_000 }, async ({ app, api, pool }) => {
    void api; // listening on a real socket
    const p = pool.name;
    // 3 windows of ~256 MiB, data in each: the walk of window 2 runs while window 1's bytes go out
    const size = 700 * MiB;
    const blocks: [number, Buffer][] = [[MiB, randomBytes(2 * MiB)], [300 * MiB, randomBytes(MiB)], [600 * MiB + 5, randomBytes(70_000)]];
    await rbdCli('create', '--size', '700M', `${p}/windows`);
    for (const [off, b] of blocks) await writeAt(p, 'windows', off, b);
    const port = (app.server.address() as AddressInfo).port;
    /** GET the content; stop after `stopAt` bytes, else hash it whole */
    const get = (stopAt?: number) => new Promise<{ n: number; sha: string }>((resolve, reject) => {
      const h = createHash('sha256');
      const req = http.get({ host: '127.0.0.1', port, path: `/api/v1/pools/${p}/images/windows/content`, headers: bearer }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => {
          n += c.length;
          h.update(c);
          if (stopAt !== undefined && n >= stopAt) { req.destroy(); resolve({ n, sha: '' }); }
        });
        res.on('end', () => resolve({ n, sha: h.digest('hex') }));
        res.on('error', () => undefined);
      });
      req.on('error', (e) => { if (!req.destroyed) reject(e); });
    });
    for (const stopAt of [MiB, 3 * MiB, 290 * MiB]) {
      expect((await get(stopAt)).n).toBeGreaterThanOrEqual(stopAt);
      await eventually(() => transferLoad().transfers === 0 && transferLoad().aioInFlight === 0, { timeoutMs: 5000, intervalMs: 20, what: 'the download ended' });
    }
    const want = createHash('sha256');
    let at = 0;
    const zeros = Buffer.alloc(8 * MiB);
    for (const [off, b] of blocks) {
      for (; at < off; at += Math.min(zeros.length, off - at)) want.update(zeros.subarray(0, Math.min(zeros.length, off - at)));
      want.update(b);
      at = off + b.length;
    }
    for (; at < size; at += Math.min(zeros.length, size - at)) want.update(zeros.subarray(0, Math.min(zeros.length, size - at)));
    expect(await get()).toEqual({ n: size, sha: want.digest('hex') });
  });

  it('a client that stops reading is dropped after the idle time, and its reads end', { timeout: 120_000 }, async ({ app, api, pool }) => {
    void api; // listening on a real socket
    await importRandom(pool.name, 'stall', 48 * MiB);
    const before = { ...transferSettings };
    configureTransfers({ idleMs: 1500 });
    try {
      const port = (app.server.address() as AddressInfo).port;
      let req: http.ClientRequest | undefined;
      const paused = new Promise<void>((resolve) => {
        req = http.get({ host: '127.0.0.1', port, path: `/api/v1/pools/${pool.name}/images/stall/content`, headers: bearer }, (res) => {
          let n = 0;
          res.on('data', (c: Buffer) => { n += c.length; if (n >= 4 * MiB) { res.pause(); resolve(); } }); // then never again
          res.on('error', () => undefined);
        });
        req.on('error', () => undefined);
      });
      await paused;
      expect(transferLoad().transfers).toBe(1);
      // the service drops it on its own: the connection closes and the reads end
      await eventually(() => transferLoad().transfers === 0 && transferLoad().aioInFlight === 0,
        { timeoutMs: 15_000, what: 'the stalled download ended' });
      const connections = () => new Promise<number>((resolve, reject) => app.server.getConnections((e, n) => (e ? reject(e) : resolve(n))));
      await eventually(async () => (await connections()) === 0, { timeoutMs: 5000, what: 'the connection closed by the service' });
      req!.destroy();
    } finally {
      configureTransfers(before);
    }
  });
});

describe('scopes and bad input', () => {
  it('a read token may download; a token for another pool gets 403; none gets 401', async ({ app, pool }) => {
    const url = `/api/v1/pools/${pool.name}/images/full/content`;
    expect((await app.inject({ method: 'HEAD', url, headers: bearer })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${OTHER}` } })).statusCode).toBe(403);
    expect((await app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/images/full/diff`, headers: { authorization: `Bearer ${OTHER}` } })).statusCode).toBe(403);
    expect((await app.inject({ method: 'GET', url })).statusCode).toBe(401);
  });

  it('404s: missing image, missing snapshot', async ({ app, pool }) => {
    const base = `/api/v1/pools/${pool.name}/images`;
    const a = await app.inject({ method: 'GET', url: `${base}/nope/content`, headers: bearer });
    expect(a.statusCode).toBe(404);
    expect(a.json()).toMatchObject({ code: 'IMAGE_NOT_FOUND' });
    const b = await app.inject({ method: 'GET', url: `${base}/full/content?snapshot=nope`, headers: bearer });
    expect(b.statusCode).toBe(404);
    expect(b.json()).toMatchObject({ code: 'SNAPSHOT_NOT_FOUND' });
  });

  it('fuzz of the query and Range headers: 2xx or 4xx, never a 5xx; nothing left streaming', { timeout: 180_000 }, async ({ app, pool }) => {
    const base = `/api/v1/pools/${pool.name}/images/full`;
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
    const values = ['', '0', '-1', 'x', '%00', 's', 'nope', '1e3', '99999999999999999999', 'a'.repeat(5000), 'true', 'rbd-diff', 'raw', 'rbd-export-v2', 'json'];
    const keys = ['snapshot', 'format', 'fromSnapshot', 'limit', 'cursor', 'wholeObject', 'zzz'];
    const ranges = [undefined, 'bytes=', 'bytes=-', 'bytes=0-', 'bytes=5-2', 'bytes=0-0,1-1', 'bytes=--1', 'bytes=1-2-3', 'BYTES=0-9', 'bytes = 0-9',
      'bytes=18446744073709551616-', 'bytes=-18446744073709551616', 'x', '\u00ff', 'bytes=0-9, ', 'bytes=,0-9'];
    for (let i = 0; i < 120; i++) {
      const q = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () => `${pick(keys)}=${encodeURIComponent(pick(values))}`).join('&');
      const path = pick(['content', 'diff']);
      const range = pick(ranges);
      const ifRange = pick([undefined, '"x"', 'W/"y"', 'Tue, 01 Jan 2030 00:00:00 GMT']);
      const headers: Record<string, string> = { ...bearer, ...(range !== undefined ? { range } : {}), ...(ifRange ? { 'if-range': ifRange } : {}) };
      const r = await app.inject({ method: pick(['GET', 'HEAD']), url: `${base}/${path}?${q}`, headers });
      expect(r.statusCode, `${path}?${q} range=${range}`).toBeLessThan(500);
    }
    await eventually(() => transferLoad().transfers === 0 && transferLoad().aioInFlight === 0, { timeoutMs: 5000, what: 'no transfer left' });
  });
});


