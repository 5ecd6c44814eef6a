// One image, one writer (docs/concurrency.md): the races the second probe found between features, each run
// for 20+ rounds with random delays across two replicas (two apps, two Ceph clients, one cluster), and the
// cluster checked with the CLIs after every round:
//   1. two restores of one trash entry: exactly one 201, the other a 409 with a precise code; every rbd_id
//      object names a listed image
//   2. a snapshot DELETE racing clone PUTs of it: the DELETE wins (204, every clone 404) or the clones do (409
//      SNAPSHOT_HAS_CHILDREN); never 204 with a 201, nothing in librbd's trash snapshot namespace
//   3. an image DELETE racing snapshot creates, PATCHes and metadata writes: a 204 DELETE's removal task
//      succeeds and nothing is left in the trash; never 409 IMAGE_IN_USE naming this service's own client
import { describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import { json, type TestApp } from '../helpers/app.js';
import { radosCli, rbdCli } from '../helpers/cli.js';
import { monitorId, waitTask } from '../helpers/wait-task.js';

const it = usePoolApp({ prefix: 'one-writer', key: 'rbdapi-pools', replicas: 2 });
let a: TestApp;
let b: TestApp; // a second replica
let pool: TestPool;

it.beforeAll(({ pool: p, replicas }) => {
  pool = p; [a, b] = replicas as [TestApp, TestApp];
});

const ROUNDS = Number(process.env.ONE_WRITER_ROUNDS ?? 20);
const base = () => `/api/v1/pools/${pool.name}/images`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const jitter = (max: number) => sleep(Math.floor(Math.random() * max));
const replica = (i: number) => (i % 2 === 0 ? a : b).app;

interface Answer { status: number; code?: string; detail?: string; headers: Record<string, unknown> }
async function send(i: number, method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, body?: unknown): Promise<Answer> {
  const r = await replica(i).inject({ method, url, ...(body === undefined ? {} : json(body)) });
  const out: Answer = { status: r.statusCode, headers: r.headers };
  if (r.statusCode >= 400) {
    const p = r.json();
    out.code = p.code;
    out.detail = p.detail;
  }
  return out;
}

/** Every rbd_id.<name> object of a name starting with `prefix` names an image `rbd ls` lists, and every such listed image has one. */
async function idObjectsMatchListing(prefix: string): Promise<string[]> {
  const listed = new Set((await rbdCli('ls', pool.name)).split('\n').filter((n) => n.startsWith(prefix)));
  const ids = (await radosCli('-p', pool.name, 'ls')).split('\n').filter((o) => o.startsWith(`rbd_id.${prefix}`)).map((o) => o.slice(7));
  const bad = ids.filter((n) => !listed.has(n)).map((n) => `stray rbd_id.${n}`);
  for (const n of listed) if (!ids.includes(n)) bad.push(`listed ${n} without rbd_id`);
  return bad;
}

const trashIds = async (): Promise<string[]> =>
  (await rbdCli('trash', 'ls', '--all', pool.name)).split('\n').filter(Boolean).map((l) => l.split(' ')[0]!);

describe('one image, one writer', () => {
  it(`two restores of one trash entry: exactly one 201 (${ROUNDS} rounds)`, async () => {
    const failures: string[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const name = `rs${r}`;
      expect((await send(r, 'POST', base(), { name, size: '64MiB' })).status).toBe(201);
      const del = await send(r, 'DELETE', `${base()}/${name}?keepFor=1h`);
      expect(del.status).toBe(204);
      const id = String(del.headers['x-trash-id']);
      const restore = (i: number, body: unknown) => jitter(8).then(() => send(i, 'POST', `/api/v1/pools/${pool.name}/trash/${id}/restore`, body));
      // same name on one replica, another name on the other, and sometimes a third restore of the same name
      const answers = await Promise.all([
        restore(r, {}), restore(r + 1, { name: `${name}x` }), ...(r % 3 === 0 ? [restore(r + 1, {})] : []),
      ]);
      const ok = answers.filter((x) => x.status === 201);
      const others = answers.filter((x) => x.status !== 201);
      if (ok.length !== 1) failures.push(`round ${r}: ${ok.length} × 201`);
      for (const o of others) {
        if (o.status !== 409 || !['TRASH_ENTRY_GONE', 'IMAGE_EXISTS', 'OPERATION_IN_PROGRESS'].includes(o.code ?? '')) {
          failures.push(`round ${r}: ${o.status} ${o.code} ${o.detail}`);
        }
      }
      failures.push(...(await idObjectsMatchListing(name)).map((x) => `round ${r}: ${x}`));
      if ((await trashIds()).includes(id)) failures.push(`round ${r}: entry ${id} still in the trash`);
      // the name the 201 gave is the image: GET it, and `rbd info` agrees on the id
      const location = String(ok[0]?.headers.location ?? '');
      if (location) {
        const got = await a.app.inject({ method: 'GET', url: location });
        if (got.statusCode !== 200 || got.json().id !== id) failures.push(`round ${r}: ${location} → ${got.statusCode}`);
      }
    }
    expect(failures).toEqual([]);
  }, 240_000);

  it(`a snapshot DELETE racing clones of it: never 204 with a 201 (${ROUNDS} rounds)`, async () => {
    const failures: string[] = [];
    let deleted = 0;
    let refused = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const golden = `g${r}`;
      expect((await send(r, 'POST', base(), { name: golden, size: '64MiB' })).status).toBe(201);
      expect((await send(r, 'PUT', `${base()}/${golden}/snapshots/s`)).status).toBe(201);
      const clones = Array.from({ length: 4 }, (_, k) => jitter(20).then(() =>
        send(r + k, 'PUT', `${base()}/c${r}_${k}`, { source: { image: golden, snapshot: 's' } })));
      const del = jitter(40).then(() => send(r + 1, 'DELETE', `${base()}/${golden}/snapshots/s`));
      const [d, ...cs] = await Promise.all([del, ...clones]);
      const made = cs.filter((c) => c.status === 201 || c.status === 200).length;
      if (d.status === 204) {
        deleted++;
        if (made > 0) failures.push(`round ${r}: DELETE 204 and ${made} clone(s) made`);
        for (const c of cs) if (c.status !== 404) failures.push(`round ${r}: clone after the delete → ${c.status} ${c.code}`);
      } else if (d.status === 409 && d.code === 'SNAPSHOT_HAS_CHILDREN') {
        refused++;
        if (made === 0) failures.push(`round ${r}: 409 SNAPSHOT_HAS_CHILDREN without a clone made`);
      } else {
        failures.push(`round ${r}: DELETE → ${d.status} ${d.code} ${d.detail}`);
      }
      for (const c of cs) if (c.status >= 500) failures.push(`round ${r}: clone → ${c.status} ${c.code}`);
      const snaps = await rbdCli('snap', 'ls', '--all', `${pool.name}/${golden}`);
      if (/trash/i.test(snaps)) failures.push(`round ${r}: a snapshot in the trash namespace:\n${snaps}`);
      failures.push(...(await idObjectsMatchListing(`c${r}_`)).map((x) => `round ${r}: ${x}`));
    }
    expect(failures).toEqual([]);
    expect(deleted + refused).toBe(ROUNDS);
  }, 240_000);

  it(`an image DELETE racing snapshot creates, PATCHes and metadata writes: a 204 means it goes (${ROUNDS} rounds)`, async () => {
    const failures: string[] = [];
    const removals: string[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const name = `d${r}`;
      expect((await send(r, 'POST', base(), { name, size: '64MiB' })).status).toBe(201);
      const img = `${base()}/${name}`;
      const ops: Promise<[string, Answer]>[] = [
        jitter(10).then(() => send(r + 1, 'DELETE', img)).then((x) => ['DELETE', x]),
        jitter(10).then(() => send(r, 'PUT', `${img}/snapshots/s1`)).then((x) => ['PUT snapshot', x]),
        jitter(10).then(() => send(r + 1, 'POST', `${img}/snapshots`, { name: 's2' })).then((x) => ['POST snapshot', x]),
        jitter(10).then(() => send(r, 'PATCH', img, { size: '128MiB' })).then((x) => ['PATCH', x]),
        jitter(10).then(() => send(r + 1, 'PUT', `${img}/metadata/k`, { value: 'v' })).then((x) => ['PUT metadata', x]),
      ];
      const answers = await Promise.all(ops);
      const [, d] = answers[0]!;
      for (const [what, x] of answers) {
        if (x.status >= 500) failures.push(`round ${r}: ${what} → ${x.status} ${x.code} ${x.detail}`);
        if (x.code === 'IMAGE_IN_USE') failures.push(`round ${r}: ${what} → IMAGE_IN_USE: ${x.detail}`);
      }
      if (d.status === 204) {
        const link = d.headers.link;
        if (!link) failures.push(`round ${r}: 204 without a removal task`);
        else removals.push(monitorId(link as string));
      } else if (!(d.status === 409 && d.code === 'IMAGE_HAS_SNAPSHOTS')) {
        failures.push(`round ${r}: DELETE → ${d.status} ${d.code} ${d.detail}`);
      }
    }
    // every acknowledged DELETE's removal task succeeds and leaves nothing in the trash
    for (const id of removals) {
      const { task: t } = await waitTask(a.app, id);
      if (t.state !== 'succeeded') failures.push(`removal ${id}: ${t.state} ${JSON.stringify(t.error)}`);
    }
    expect(await trashIds()).toEqual([]);
    expect(failures).toEqual([]);
  }, 240_000);
});
