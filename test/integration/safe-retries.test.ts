// Safe retries and concurrent edits (issue 25 items 3–4; docs/concurrency.md), across two replicas (two apps,
// two Ceph clients, one cluster):
//   1. ETag: GET and a PATCH's answer agree; what changes it (size, features, name, snapshots, a metadata value)
//      and what does not; If-Match / If-None-Match on PUT, PATCH and DELETE of images, snapshots, metadata keys
//      and namespaces → 412 with the current representation
//   2. two console users changing one image at once with the same ETag, one per replica, many rounds: exactly
//      one succeeds, the other gets 412 and the winner's state
//   3. Idempotency-Key: a retried flatten of a clone the first attempt flattened, a retried copy and a retried
//      snapshot create get the first answer (the same task); another body 422; concurrent requests with one key
//      on both replicas start exactly one task
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import { type TestApp } from '../helpers/app.js';
import { radosCli } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { IdempotencyKeyInUseError, IdempotencyKeyReusedError } from '../../src/ceph/errors.js';
import { Idempotency } from '../../src/ceph/idempotency.js';
import { waitTask } from '../helpers/wait-task.js';
import { etagOf, idempotencyKey, ifMatch, ifNoneMatch, isPreconditionFailed } from '../../client/index.js';

const it = usePoolApp({ prefix: 'safe-retries', replicas: 2 });
let a: TestApp;
let b: TestApp;
let pool: TestPool;
it.beforeAll(({ pool: p, replicas }) => {
  pool = p; [a, b] = replicas as [TestApp, TestApp];
});

const ROUNDS = Number(process.env.SAFE_RETRIES_ROUNDS ?? 12);
const img = (name: string) => `/api/v1/pools/${pool.name}/images/${name}`;
type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
async function send(on: TestApp, method: Method, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const r = await on.app.inject({ method, url, ...(body === undefined ? { headers } : { payload: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } }) });
  return { status: r.statusCode, headers: r.headers, body: r.body ? (r.json() as Record<string, any>) : {} };
}
const tagOf = async (url: string, on = a): Promise<string> => {
  const r = await send(on, 'GET', url);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  expect(r.headers.etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
  return r.headers.etag as string;
};

describe('ETag and conditional requests', () => {
  it('GET and PATCH agree; size, features, name and snapshots change the tag, a metadata value changes only its key\'s', async () => {
    expect((await send(a, 'PUT', img('e1'), { size: '8MiB', features: ['layering', 'exclusive-lock'] })).status).toBe(201);
    const t0 = await tagOf(img('e1'));
    expect(await tagOf(img('e1'), b)).toBe(t0); // both replicas, one tag
    const cached = await a.app.inject({ method: 'GET', url: img('e1'), headers: { 'if-none-match': t0 } });
    expect([cached.statusCode, cached.body, cached.headers.etag]).toEqual([304, '', t0]);
    expect((await a.app.inject({ method: 'GET', url: img('e1'), headers: { 'if-none-match': 'garbage' } })).statusCode).toBe(200);
    const grown = await send(a, 'PATCH', img('e1'), { size: '16MiB' }, { 'if-match': t0 });
    expect(grown.status).toBe(200);
    const t1 = await tagOf(img('e1'));
    expect(grown.headers.etag).toBe(t1);
    expect(t1).not.toBe(t0);
    const f = await send(a, 'PATCH', img('e1'), { features: ['layering', 'exclusive-lock', 'object-map', 'fast-diff'] }, { 'if-match': t1 });
    expect(f.status).toBe(200);
    const t2 = await tagOf(img('e1'));
    expect(new Set([t0, t1, t2]).size).toBe(3);
    expect((await send(a, 'PUT', `${img('e1')}/metadata/owner`, { value: 'x' })).status).toBe(201);
    expect(await tagOf(img('e1'))).toBe(t2); // not shown in the image representation
    const m0 = await tagOf(`${img('e1')}/metadata/owner`);
    expect((await send(a, 'PUT', `${img('e1')}/metadata/owner`, { value: 'y' }, { 'if-match': m0 })).status).toBe(200);
    const stale = await send(b, 'PUT', `${img('e1')}/metadata/owner`, { value: 'z' }, { 'if-match': m0 });
    expect(stale.status).toBe(412);
    expect(stale.body).toMatchObject({ code: 'PRECONDITION_FAILED', current: { key: 'owner', value: 'y' } });
    expect(await tagOf(`${img('e1')}/metadata/owner`)).toBe(stale.body.currentETag);
    expect((await send(a, 'POST', `${img('e1')}/snapshots`, { name: 's1' })).status).toBe(201);
    const t3 = await tagOf(img('e1'));
    expect(t3).not.toBe(t2);
    // snapshots: PATCH with a stale tag is refused, with the current one done
    const s0 = await tagOf(`${img('e1')}/snapshots/s1`);
    expect((await send(a, 'PATCH', `${img('e1')}/snapshots/s1`, { protected: true }, { 'if-match': s0 })).status).toBe(200);
    const s1 = await send(b, 'DELETE', `${img('e1')}/snapshots/s1`, undefined, { 'if-match': s0 });
    expect(s1.status).toBe(412);
    expect(s1.body.current).toMatchObject({ name: 's1', protected: true });
    // a rename changes the tag; the old tag no longer matches anything under the new name
    const renamed = await send(a, 'PATCH', img('e1'), { name: 'e1b' }, { 'if-match': t3 });
    expect(renamed.status).toBe(200);
    expect(renamed.headers.etag).not.toBe(t3);
    expect((await send(a, 'PATCH', img('e1b'), { size: '32MiB' }, { 'if-match': t3 })).status).toBe(412);
  });

  it('If-None-Match: * is create-only; If-Match on DELETE; weak and malformed tags', async () => {
    expect((await send(a, 'PUT', img('e2'), { size: '4MiB' }, { 'if-none-match': '*' })).status).toBe(201);
    const again = await send(b, 'PUT', img('e2'), { size: '4MiB' }, { 'if-none-match': '*' });
    expect(again.status).toBe(412);
    expect(again.body.current).toMatchObject({ name: 'e2', size: 4 * 1024 * 1024 });
    expect(again.headers['content-type']).toMatch(/problem\+json/);
    // update-only PUT of a missing image
    expect((await send(a, 'PUT', img('e2-missing'), { size: '4MiB' }, { 'if-match': '*' })).status).toBe(412);
    const t = await tagOf(img('e2'));
    expect((await send(a, 'DELETE', img('e2'), undefined, { 'if-match': `W/${t}` })).status).toBe(412); // weak never matches
    expect((await send(a, 'DELETE', img('e2'), undefined, { 'if-match': 'no-quotes' })).body).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect((await send(a, 'DELETE', img('e2'), undefined, { 'if-match': `"other", ${t}` })).status).toBe(204);
    // a missing image stays 404 (a precondition never hides it)
    expect((await send(a, 'DELETE', img('e2'), undefined, { 'if-match': t })).status).toBe(404);
    // a conditional PUT and a plain PUT of one name at once, on one replica: neither waits for the other's lock
    for (let r = 0; r < 4; r++) {
      const started = Date.now();
      const [plain, created] = await Promise.all([
        send(a, 'PUT', img(`both${r}`), { size: '4MiB' }), send(a, 'PUT', img(`both${r}`), { size: '4MiB' }, { 'if-none-match': '*' })]);
      expect([200, 201]).toContain(plain.status);
      expect(created.status === 201 ? plain.status : created.status).toBe(created.status === 201 ? 200 : 412);
      expect(Date.now() - started).toBeLessThan(5000);
    }
    // namespaces
    expect((await send(a, 'PUT', `/api/v1/pools/${pool.name}/namespaces/ns1`, undefined, { 'if-none-match': '*' })).status).toBe(201);
    expect((await send(b, 'PUT', `/api/v1/pools/${pool.name}/namespaces/ns1`, undefined, { 'if-none-match': '*' })).status).toBe(412);
    const n = await tagOf(`/api/v1/pools/${pool.name}/namespaces/ns1`);
    expect((await send(a, 'DELETE', `/api/v1/pools/${pool.name}/namespaces/ns1`, undefined, { 'if-match': '"nope"' })).status).toBe(412);
    expect((await send(a, 'DELETE', `/api/v1/pools/${pool.name}/namespaces/ns1`, undefined, { 'if-match': n })).status).toBe(204);
  });

  it(`two users change one image at once with one ETag, one per replica: exactly one wins (${ROUNDS} rounds)`, async () => {
    expect((await send(a, 'PUT', img('race'), { size: '4MiB' })).status).toBe(201);
    const failures: string[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const tag = await tagOf(img('race'), r % 2 ? a : b);
      const before = (await send(a, 'GET', img('race'))).body.size as number;
      const sizes = [before + 1024 * 1024, before + 2 * 1024 * 1024];
      const [x, y] = await Promise.all([
        send(a, 'PATCH', img('race'), { size: sizes[0] }, { 'if-match': tag }),
        send(b, 'PATCH', img('race'), { size: sizes[1] }, { 'if-match': tag }),
      ]);
      const statuses = [x.status, y.status].sort();
      if (statuses[0] !== 200 || statuses[1] !== 412) { failures.push(`round ${r}: ${x.status} ${y.status} ${JSON.stringify([x.body, y.body])}`); continue; }
      const [won, lost] = x.status === 200 ? [x, y] : [y, x];
      const now = await send(a, 'GET', img('race'));
      if (now.body.size !== won.body.size) failures.push(`round ${r}: size ${now.body.size}, winner said ${won.body.size}`);
      if (lost.body.current?.size !== won.body.size || lost.body.currentETag !== now.headers.etag || won.headers.etag !== now.headers.etag) {
        failures.push(`round ${r}: the 412 did not carry the winner's state: ${JSON.stringify(lost.body)}`);
      }
    }
    expect(failures).toEqual([]);
    // without If-Match nothing is compared (the last writer wins): what the header is for
    const [x, y] = await Promise.all([send(a, 'PATCH', img('race'), { size: '64MiB' }), send(b, 'PATCH', img('race'), { size: '65MiB' })]);
    expect([x.status, y.status], JSON.stringify([x.body, y.body])).not.toContain(412);
  });
});

describe('the typed client', () => {
  it('etagOf, ifMatch, ifNoneMatch, idempotencyKey and isPreconditionFailed, answers checked against the document', async ({ api }) => {
    const path = { pool: pool.name, image: 'typed' };
    const made = await api.PUT('/api/v1/pools/{pool}/images/{image}', { params: { path, header: ifNoneMatch() }, body: { size: '4MiB' } });
    expect(made.response.status).toBe(201);
    const again = await api.PUT('/api/v1/pools/{pool}/images/{image}', { params: { path, header: ifNoneMatch() }, body: { size: '4MiB' } });
    expect(isPreconditionFailed(again.error)).toBe(true);
    const got = await api.GET('/api/v1/pools/{pool}/images/{image}', { params: { path } });
    const tag = etagOf(got.response)!;
    const grown = await api.PATCH('/api/v1/pools/{pool}/images/{image}', { params: { path, header: ifMatch(tag) }, body: { size: '8MiB' } });
    expect(grown.data && 'size' in grown.data && grown.data.size).toBe(8 * 1024 * 1024);
    const stale = await api.PATCH('/api/v1/pools/{pool}/images/{image}', { params: { path, header: ifMatch(tag) }, body: { size: '9MiB' } });
    expect(isPreconditionFailed(stale.error) && stale.error.current).toMatchObject({ size: 8 * 1024 * 1024 });
    const key = idempotencyKey();
    const s1 = await api.POST('/api/v1/pools/{pool}/images/{image}/snapshots', { params: { path, header: key }, body: { name: 'k' } });
    const s2 = await api.POST('/api/v1/pools/{pool}/images/{image}/snapshots', { params: { path, header: key }, body: { name: 'k' } });
    expect(s2.data).toEqual(s1.data);
    expect(s2.response.headers.get('idempotency-replayed')).toBe('true');
  });
});

describe('Idempotency-Key', () => {
  it('a retried flatten of a clone the first attempt flattened: the same task, not NOT_A_CLONE', async () => {
    expect((await send(a, 'PUT', img('parent'), { size: '8MiB' })).status).toBe(201);
    expect((await send(a, 'PUT', `${img('parent')}/snapshots/base`)).status).toBe(201);
    expect((await send(a, 'PUT', img('child'), { source: { image: 'parent', snapshot: 'base' } })).status).toBe(201);
    const key = { 'idempotency-key': '"flatten-child-1"' };
    const first = await send(a, 'POST', `${img('child')}/flatten`, undefined, key);
    expect(first.status).toBe(202);
    expect((await waitTask(a.app, first.headers.location as string)).task.state).toBe('succeeded');
    const retry = await send(b, 'POST', `${img('child')}/flatten`, undefined, key);
    expect(retry.status).toBe(202);
    expect(retry.headers.location).toBe(first.headers.location);
    expect(retry.headers['idempotency-replayed']).toBe('true');
    expect(retry.body).toMatchObject({ id: first.body.id, state: 'succeeded' }); // the task as it is now
    expect((await send(b, 'POST', `${img('child')}/flatten`)).body.code).toBe('NOT_A_CLONE'); // without the key: as before
    // the key with another request: 422
    const other = await send(a, 'POST', `${img('parent')}/flatten`, undefined, key);
    expect(other.status).toBe(422);
    expect(other.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect((await send(a, 'POST', `${img('child')}/flatten`, undefined, { 'idempotency-key': '"bad\\key"' })).body).toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('a retried copy and a retried snapshot create get the first answer; another body is 422', async () => {
    const key = { 'idempotency-key': 'copy-parent-1' };
    const first = await send(a, 'POST', `${img('parent')}/copy`, { destination: { name: 'copy1' } }, key);
    expect(first.status).toBe(202);
    await waitTask(a.app, first.headers.location as string);
    const retry = await send(b, 'POST', `${img('parent')}/copy`, { destination: { name: 'copy1' } }, key);
    expect(retry.status).toBe(202);
    expect(retry.body.id).toBe(first.body.id);
    expect((await send(b, 'POST', `${img('parent')}/copy`, { destination: { name: 'copy1' } })).body.code).toBe('IMAGE_EXISTS');
    expect((await send(b, 'POST', `${img('parent')}/copy`, { destination: { name: 'copy2' } }, key)).status).toBe(422);
    // a snapshot create answers 201 with the snapshot: replayed as it was
    const s = { 'idempotency-key': '"snap-copy1-a"' };
    const s1 = await send(a, 'POST', `${img('copy1')}/snapshots`, { name: 'a' }, s);
    expect(s1.status).toBe(201);
    const s2 = await send(b, 'POST', `${img('copy1')}/snapshots`, { name: 'a' }, s);
    expect(s2.status).toBe(201);
    expect(s2.body).toEqual(s1.body);
    expect(s2.headers.location).toBe(s1.headers.location);
    // a failed first attempt keeps nothing: the retry does the work
    const bad = { 'idempotency-key': '"restore-none"' };
    expect((await send(a, 'POST', `/api/v1/pools/${pool.name}/trash/00000000deadbeef/restore`, {}, bad)).status).toBe(404);
    expect((await send(a, 'POST', `/api/v1/pools/${pool.name}/trash/00000000deadbeef/restore`, {}, bad)).status).toBe(404);
  });

  it(`concurrent requests with one key on both replicas start exactly one task (${ROUNDS} rounds)`, async () => {
    const failures: string[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const key = { 'idempotency-key': `"purge-${r}-${Date.now()}"` };
      const url = `/api/v1/pools/${pool.name}/trash/purge`;
      const answers = await Promise.all([send(a, 'POST', url, undefined, key), send(b, 'POST', url, undefined, key), send(r % 2 ? a : b, 'POST', url, undefined, key)]);
      const tasks = new Set(answers.filter((x) => x.status === 202).map((x) => x.body.id as string));
      const others = answers.filter((x) => x.status !== 202);
      if (tasks.size !== 1 || others.some((x) => x.status !== 409 || x.body.code !== 'IDEMPOTENCY_KEY_IN_USE')) {
        failures.push(`round ${r}: ${answers.map((x) => `${x.status} ${x.body.id ?? x.body.code}`).join(', ')}`);
      }
      // once answered, every retry gets that task
      const late = await send(r % 2 ? b : a, 'POST', url, undefined, key);
      if (late.status !== 202 || !tasks.has(late.body.id)) failures.push(`round ${r}: late retry ${late.status} ${JSON.stringify(late.body)}`);
    }
    expect(failures).toEqual([]);
  });

  it('a claim whose process died before answering is taken over once it is stale; its answer is then the new one', async () => {
    const opts = { retentionMs: 60_000, pendingMs: 400, taskExists: async () => true };
    const dead = new Idempotency(a.ceph, opts); // the process that claims and never answers
    const live = new Idempotency(b.ceph, opts);
    const req = { pool: pool.name, principal: '', key: `stale-${Date.now()}`, fingerprint: 'POST /x\n{}' };
    expect((await dead.begin(req)).kind).toBe('new');
    await expect(live.begin(req)).rejects.toBeInstanceOf(IdempotencyKeyInUseError);
    await expect(live.begin({ ...req, fingerprint: 'POST /y\n{}' })).rejects.toBeInstanceOf(IdempotencyKeyReusedError);
    const taken = await eventually(async () => {
      const r = await live.begin(req);
      return r.kind === 'new' ? r.claim : false;
    }, { what: 'the stale claim taken over', timeoutMs: 5000 });
    await taken.complete({ status: 201, headers: { location: '/x/1' }, body: '{"n":1}' });
    expect(await live.begin(req)).toEqual({ kind: 'replay', answer: { status: 201, headers: { location: '/x/1' }, body: '{"n":1}' } });
  });

  it('a key lives as long as its task: the retention that removes the task removes the key', async () => {
    const keyObjects = async () => (await radosCli('-p', pool.name, 'ls')).split('\n').filter((o) => o.startsWith('rbdapi_idem.'));
    const before = await keyObjects();
    expect(before.length).toBeGreaterThan(2);
    const key = { 'idempotency-key': '"flatten-child-1"' }; // the first test's flatten
    const replay = await send(a, 'POST', `${img('child')}/flatten`, undefined, key);
    expect(replay.headers['idempotency-replayed']).toBe('true');
    await a.ceph.tasks.trim(pool.name, 0); // every task that has ended, and the keys' records with them
    // a key left names a task still kept (still running, or not in the finished list yet); every other key went
    const taskOf = async (oid: string) => {
      const dir = mkdtempSync(join(tmpdir(), 'idem-'));
      try {
        await radosCli('-p', pool.name, 'get', oid, join(dir, 'r'));
        return (JSON.parse(readFileSync(join(dir, 'r'), 'utf8')) as { answer?: { task?: string } }).answer?.task;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };
    const left = await keyObjects();
    expect(left.length).toBeLessThan(before.length);
    for (const oid of left) {
      const task = await taskOf(oid);
      expect(task, `${oid} names no task`).toBeDefined();
      expect((await send(a, 'GET', `/api/v1/tasks/${task}`)).status, `${oid}: its task ${task} is gone`).toBe(200);
    }
    if ((await send(a, 'GET', `/api/v1/tasks/${replay.body.id}`)).status === 404) {
      // the key is free again: the request is made afresh (the clone is flattened: 400, and nothing kept)
      expect((await send(b, 'POST', `${img('child')}/flatten`, undefined, key)).body.code).toBe('NOT_A_CLONE');
    }
  });
});
