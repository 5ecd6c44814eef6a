// The typed client (client/index.ts, generated from openapi/openapi.json) against the real service on a
// real listening socket: pools, images and namespaces. Every answer is also checked against the document
// (test/helpers/contract.ts), so a schema that disagrees with what the service sends fails here.
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Image, ImageList, Pool, Problem, RbdClient } from '../../client/index.js';
import { contentDigest, createRbdClient, RbdApiError } from '../../client/index.js';
import { createHash, randomBytes } from 'node:crypto';
import { exportImage, rbdCli } from '../helpers/cli.js';
import type { CephConnection } from '../../src/ceph/connection.js';
import { Images } from '../../src/ceph/images.js';
import { TokenStore } from '../../src/http/auth.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { connect, makePool, uniqueName } from '../helpers/cluster.js';
import { ContractViolation, checkAnswer, checkedClient } from '../helpers/contract.js';

const ADMIN = 'client-test-admin-token-0123456789abcdef';
const READ = 'client-test-read-token-0123456789abcdef00';
const GiB = 1024 ** 3;
let t: TestApp;
let conn: CephConnection;
let pool: { name: string; remove: () => Promise<void> };
let base: string;
let rbd: RbdClient;
const madePools: string[] = [];

beforeAll(async () => {
  conn = await connect();
  pool = await makePool(conn, 'client');
  t = await testApp('admin', { auth: TokenStore.parse(`${ADMIN} admin * operator\n${READ} read * console\n`) });
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  rbd = checkedClient(base, ADMIN);
});

afterAll(async () => {
  for (const p of madePools) {
    await rbd.DELETE('/api/v1/pools/{pool}', { params: { path: { pool: p }, query: { confirm: p, force: 'true' } } }).catch(() => undefined);
  }
  await t?.close();
  await pool?.remove();
  await conn?.close();
});

describe('typed client: pools', () => {
  it('creates, reads, lists and deletes a pool', async () => {
    const name = uniqueName('client-pool');
    madePools.push(name);
    const created = await rbd.POST('/api/v1/pools', { body: { name, pgNum: 8 } });
    expect(created.response.status).toBe(201);
    const p: Pool = created.data!;
    expect(p).toMatchObject({ name, pgNum: 8, type: 'replicated' });
    expect(p.applications).toContain('rbd');
    expect(created.response.headers.get('location')).toBe(`/api/v1/pools/${name}`);

    const got = await rbd.GET('/api/v1/pools/{pool}', { params: { path: { pool: name } } });
    expect(got.data).toMatchObject({ name, id: p.id });
    const list = await rbd.GET('/api/v1/pools');
    expect(list.data!.items.map((x) => x.name)).toContain(name);

    const again = await rbd.POST('/api/v1/pools', { body: { name } });
    expect(again.response.status).toBe(409);
    const problem: Problem = again.error!;
    expect(problem.code).toBe('POOL_EXISTS');
    expect(again.response.headers.get('content-type')).toMatch(/^application\/problem\+json/);

    const unconfirmed = await rbd.DELETE('/api/v1/pools/{pool}', { params: { path: { pool: name } } });
    expect([unconfirmed.response.status, unconfirmed.error?.code]).toEqual([400, 'CONFIRMATION_REQUIRED']);
    const deleted = await rbd.DELETE('/api/v1/pools/{pool}', { params: { path: { pool: name }, query: { confirm: name } } });
    expect(deleted.response.status).toBe(204);
    const gone = await rbd.GET('/api/v1/pools/{pool}', { params: { path: { pool: name } } });
    expect([gone.response.status, gone.error?.code]).toEqual([404, 'POOL_NOT_FOUND']);
  });

  it('sends the token: none is 401, a read token cannot create (403), both problem+json', async () => {
    const r = await checkedClient(base).GET('/api/v1/pools');
    expect([r.response.status, r.error?.code]).toEqual([401, 'UNAUTHORIZED']);
    const wrong = await createRbdClient(base, 'not-a-valid-token-at-all').GET('/api/v1/pools/{pool}', { params: { path: { pool: pool.name } } });
    expect([wrong.response.status, wrong.error?.code]).toEqual([401, 'UNAUTHORIZED']);
    const reader = checkedClient(base, READ);
    expect((await reader.GET('/api/v1/pools')).response.status).toBe(200);
    const denied = await reader.POST('/api/v1/pools', { body: { name: uniqueName('client-denied') } });
    expect([denied.response.status, denied.error?.code]).toEqual([403, 'FORBIDDEN']);
  });
});

describe('typed client: images', () => {
  it('PUT creates (201) then confirms (200) with the same answer; GET, list, resize, delete', async () => {
    const image = uniqueName('vol');
    const path = { pool: pool.name, image };
    const first = await rbd.PUT('/api/v1/pools/{pool}/images/{image}', { params: { path }, body: { size: '1GiB' } });
    expect(first.response.status).toBe(201);
    expect(first.response.headers.get('location')).toBe(`/api/v1/pools/${pool.name}/images/${image}`);
    const second = await rbd.PUT('/api/v1/pools/{pool}/images/{image}', { params: { path }, body: { size: GiB } });
    expect(second.response.status).toBe(200);
    const a = first.data as Image;
    const b = second.data as Image;
    expect(b).toMatchObject({ name: image, pool: pool.name, size: GiB, id: a.id, objectSize: a.objectSize, features: a.features });

    const conflict = await rbd.PUT('/api/v1/pools/{pool}/images/{image}', { params: { path }, body: { size: '2GiB' } });
    expect([conflict.response.status, conflict.error?.code]).toEqual([409, 'IMAGE_SPEC_CONFLICT']);

    const got = await rbd.GET('/api/v1/pools/{pool}/images/{image}', { params: { path } });
    const img: Image = got.data!;
    expect(img).toMatchObject({ name: image, size: GiB, snapshotCount: 0, watchers: [] });

    const page = await rbd.GET('/api/v1/pools/{pool}/images', { params: { path: { pool: pool.name }, query: { details: 'true', limit: 10 } } });
    const list: ImageList = page.data!;
    expect(list.items.find((i) => i.name === image)).toMatchObject({ size: GiB, id: a.id });

    const bigger = await rbd.PATCH('/api/v1/pools/{pool}/images/{image}', { params: { path }, body: { size: '2GiB' } });
    expect(bigger.response.status).toBe(200);
    const grown = bigger.data as Image; // 200: the image (202 would be a task)
    expect(grown.size).toBe(2 * GiB);
    const shrink = await rbd.PATCH('/api/v1/pools/{pool}/images/{image}', { params: { path }, body: { size: '1GiB' } });
    expect([shrink.response.status, shrink.error?.code]).toEqual([409, 'SHRINK_NOT_ALLOWED']);

    const bad = await rbd.PUT('/api/v1/pools/{pool}/images/{image}', { params: { path }, body: { size: '1.5 bytes' } });
    expect([bad.response.status, bad.error?.code]).toEqual([400, 'VALIDATION_FAILED']);

    expect((await rbd.DELETE('/api/v1/pools/{pool}/images/{image}', { params: { path } })).response.status).toBe(204);
    const gone = await rbd.GET('/api/v1/pools/{pool}/images/{image}', { params: { path } });
    expect([gone.response.status, gone.error?.code]).toEqual([404, 'IMAGE_NOT_FOUND']);
  });

  it('POST creates with a name from the body; names with reserved characters are percent-encoded by the client', async () => {
    const name = uniqueName('post');
    const created = await rbd.POST('/api/v1/pools/{pool}/images', { params: { path: { pool: pool.name } }, body: { name, size: '64MiB', features: ['layering'] } });
    expect(created.response.status).toBe(201);
    expect(created.data).toMatchObject({ name, size: 64 * 1024 ** 2 });
    // an existing name made by rbd with a character the create API refuses: reachable through the client
    const odd = `odd name ${uniqueName('x')}`;
    await new Images(conn).create(pool.name, odd, 4 * 1024 ** 2);
    const got = await rbd.GET('/api/v1/pools/{pool}/images/{image}', { params: { path: { pool: pool.name, image: odd } } });
    expect([got.response.status, got.data?.name]).toEqual([200, odd]);
    for (const image of [name, odd]) {
      expect((await rbd.DELETE('/api/v1/pools/{pool}/images/{image}', { params: { path: { pool: pool.name, image } } })).response.status).toBe(204);
    }
  });
});

describe('typed client: namespaces, trash and tasks', () => {
  it('creates a namespace, makes an image in it, parks it in the trash and restores it, removes it in a task, deletes the namespace', async () => {
    const ns = uniqueName('ns');
    const made = await rbd.PUT('/api/v1/pools/{pool}/namespaces/{namespace}', { params: { path: { pool: pool.name, namespace: ns } } });
    expect([made.response.status, made.data]).toEqual([201, { name: ns, pool: pool.name }]);
    const again = await rbd.PUT('/api/v1/pools/{pool}/namespaces/{namespace}', { params: { path: { pool: pool.name, namespace: ns } } });
    expect(again.response.status).toBe(200);
    const list = await rbd.GET('/api/v1/pools/{pool}/namespaces', { params: { path: { pool: pool.name } } });
    expect(list.data!.items).toContainEqual({ name: ns, pool: pool.name });

    const path = { pool: pool.name, namespace: ns, image: 'in-ns' };
    const img = await rbd.PUT('/api/v1/pools/{pool}/namespaces/{namespace}/images/{image}', { params: { path }, body: { size: '128MiB' } });
    expect(img.response.status).toBe(201);
    expect(img.response.headers.get('location')).toBe(`/api/v1/pools/${pool.name}/namespaces/${ns}/images/in-ns`);
    const inNs = await rbd.GET('/api/v1/pools/{pool}/namespaces/{namespace}/images', { params: { path: { pool: pool.name, namespace: ns } } });
    expect(inNs.data!.items.map((i) => i.name)).toEqual(['in-ns']);
    // not in the default namespace
    const outside = await rbd.GET('/api/v1/pools/{pool}/images/{image}', { params: { path: { pool: pool.name, image: 'in-ns' } } });
    expect(outside.response.status).toBe(404);

    const busy = await rbd.DELETE('/api/v1/pools/{pool}/namespaces/{namespace}', { params: { path: { pool: pool.name, namespace: ns } } });
    expect([busy.response.status, busy.error?.code]).toEqual([409, 'NAMESPACE_NOT_EMPTY']);

    // trash and tasks through the client: keepFor parks the image in the namespace's trash, restore brings it
    // back, a plain DELETE removes it in a task we follow until it has succeeded
    const parked = await rbd.DELETE('/api/v1/pools/{pool}/namespaces/{namespace}/images/{image}', { params: { path, query: { keepFor: '1h' } } });
    expect(parked.response.status).toBe(204);
    const trash = await rbd.GET('/api/v1/pools/{pool}/namespaces/{namespace}/trash', { params: { path: { pool: pool.name, namespace: ns } } });
    const entry = trash.data!.items.find((e) => e.name === 'in-ns');
    expect(entry).toMatchObject({ name: 'in-ns', source: 'user' });
    const restored = await rbd.POST('/api/v1/pools/{pool}/namespaces/{namespace}/trash/{id}/restore', {
      params: { path: { pool: pool.name, namespace: ns, id: entry!.id } }, body: {},
    });
    expect(restored.response.status).toBe(201);
    expect((await rbd.GET('/api/v1/pools/{pool}/namespaces/{namespace}/images/{image}', { params: { path } })).data?.size).toBe(128 * 1024 ** 2);

    const removed = await rbd.DELETE('/api/v1/pools/{pool}/namespaces/{namespace}/images/{image}', { params: { path } });
    expect(removed.response.status).toBe(204);
    const taskId = /<\/api\/v1\/tasks\/([^>]+)>;\s*rel="monitor"/.exec(removed.response.headers.get('link') ?? '')?.[1];
    expect(taskId).toBeDefined();
    const deadline = Date.now() + 30_000;
    let state = '';
    while (Date.now() < deadline) {
      const task = await rbd.GET('/api/v1/tasks/{id}', { params: { path: { id: decodeURIComponent(taskId!) } } });
      state = task.data!.state;
      expect(task.data!.target).toMatchObject({ pool: pool.name, namespace: ns, image: 'in-ns' });
      if (state === 'succeeded' || state === 'failed' || state === 'cancelled') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(state).toBe('succeeded');
    expect((await rbd.DELETE('/api/v1/pools/{pool}/namespaces/{namespace}', { params: { path: { pool: pool.name, namespace: ns } } })).response.status).toBe(204);
    const missing = await rbd.GET('/api/v1/pools/{pool}/namespaces/{namespace}/images', { params: { path: { pool: pool.name, namespace: ns } } });
    expect([missing.response.status, missing.error?.code]).toEqual([404, 'NAMESPACE_NOT_FOUND']);
  });
});

describe('typed client: content (download and upload helpers)', () => {
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
  const code = (e: unknown) => (e instanceof RbdApiError ? `${e.status} ${e.code ?? ''}` : String(e));
  it('uploads a stream with its size and digest, a part of it, downloads it whole and a resumed range; errors are RbdApiError', async () => {
    const p = pool.name;
    const data = randomBytes(5 * 1024 * 1024 + 123);
    // a stream body in uneven chunks, its size given (the service needs Content-Length)
    let off = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (off >= data.length) { c.close(); return; }
        const n = Math.min(data.length - off, 100_000 + (off % 7919));
        c.enqueue(data.subarray(off, off + n));
        off += n;
      },
    });
    const up = await rbd.upload({ pool: p, image: 'up1' }, stream, { size: data.length, digest: await contentDigest(data) });
    expect(up).toMatchObject({ name: 'up1', size: data.length, bytes: data.length });
    expect(sha(await exportImage(p, 'up1'))).toBe(sha(data));
    await expect(rbd.upload({ pool: p, image: 'up2' }, new ReadableStream<Uint8Array>())).rejects.toThrow(/needs `size`/);

    // a part of the existing image (resumable uploads), then the whole downloaded equals what was written
    const patch = randomBytes(4096);
    expect(await rbd.upload({ pool: p, image: 'up1' }, patch, { part: { start: 8192, imageSize: data.length } })).toMatchObject({ range: { start: 8192, end: 12287 } });
    patch.copy(data, 8192);
    const whole = await rbd.download({ pool: p, image: 'up1' });
    expect([whole.status, whole.length, whole.size, whole.range]).toEqual([200, data.length, data.length, undefined]);
    expect(sha(new Uint8Array(await new Response(whole.body).arrayBuffer()))).toBe(sha(data));

    // a snapshot: strong ETag; a range resumed with If-Range
    await rbdCli('snap', 'create', `${p}/up1@s1`);
    const first = await rbd.download({ pool: p, image: 'up1' }, { snapshot: 's1', range: { start: 0, end: 999 } });
    expect([first.status, first.range, first.size]).toEqual([206, { start: 0, end: 999 }, data.length]);
    await first.body.cancel();
    const rest = await rbd.download({ pool: p, image: 'up1' }, { snapshot: 's1', range: { start: 1000 }, ifRange: first.etag! });
    expect(rest.status).toBe(206);
    expect(Buffer.from(await new Response(rest.body).arrayBuffer()).equals(data.subarray(1000))).toBe(true);

    // errors: a missing image (404), an existing name (409), a wrong digest (400, nothing left)
    expect(await rbd.download({ pool: p, image: 'nope' }).then(() => 'resolved', code)).toBe('404 IMAGE_NOT_FOUND');
    expect(await rbd.upload({ pool: p, image: 'up1' }, new Uint8Array(10)).then(() => 'resolved', code)).toBe('409 IMAGE_EXISTS');
    expect(await rbd.upload({ pool: p, image: 'up3' }, new Uint8Array(10), { digest: await contentDigest(new Uint8Array(11)) }).then(() => 'resolved', code)).toBe('400 DIGEST_MISMATCH');
    expect((await rbd.GET('/api/v1/pools/{pool}/images/{image}', { params: { path: { pool: p, image: 'up3' } } })).response.status).toBe(404);
  });
});

describe('contract check', () => {
  it('rejects an answer the document does not describe (so these tests can fail)', async () => {
    const wrongBody = new Response(JSON.stringify({ items: [{ name: 1 }] }), { status: 200, headers: { 'content-type': 'application/json' } });
    await expect(checkAnswer('GET', '/api/v1/pools', wrongBody)).rejects.toThrow(ContractViolation);
    const wrongType = new Response(JSON.stringify({ type: 'x', title: 'x', status: 404, detail: 'x', code: 'POOL_NOT_FOUND' }), { status: 404, headers: { 'content-type': 'application/json' } });
    await expect(checkAnswer('GET', '/api/v1/pools/{pool}', wrongType)).rejects.toThrow(/content-type application\/json/);
    const undocumented = new Response('', { status: 418 });
    await expect(checkAnswer('GET', '/api/v1/pools', undocumented)).rejects.toThrow(/not documented/);
    const unknownCode = new Response(JSON.stringify({ type: 'x', title: 'x', status: 404, detail: 'x', code: 'NO_SUCH_CODE' }), { status: 404, headers: { 'content-type': 'application/problem+json' } });
    await expect(checkAnswer('GET', '/api/v1/pools/{pool}', unknownCode)).rejects.toThrow(/code/);
  });
});
