// DELETE through the trash and the task engine on the real cluster: the removal task ends succeeded and the
// data objects are gone; keepFor + restore brings the same image back byte for byte; concurrent DELETEs;
// a task read through two instances; cancel; the task routes with the least-privilege key.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import { testApp, json, type TestApp } from '../helpers/app.js';
import { objectsOf, rbdCli } from '../helpers/cli.js';
import { monitorId, waitTask } from '../helpers/wait-task.js';
import { lockLease, unlockLease } from '../../src/ceph/tasks/store.js';

const it = usePoolApp({ prefix: 'tasks', key: 'rbdapi', replicas: 2 });
let t: TestApp;
let t2: TestApp;
let pool: TestPool;
let base: string;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const tmp = mkdtempSync(join(tmpdir(), 'rbdapi-tasks-'));

it.beforeAll(({ pool: p, replicas }) => {
  pool = p; [t, t2] = replicas as [TestApp, TestApp];
  base = `/api/v1/pools/${pool.name}`;
});

async function createImage(name: string, size: number | string = '1GiB', features?: string[]): Promise<string> {
  const r = await t.app.inject({ method: 'POST', url: `${base}/images`, ...json({ name, size, ...(features ? { features } : {}) }) });
  expect(r.statusCode, r.body).toBe(201);
  return r.json().id as string;
}

describe('DELETE of an image goes through the trash and a removal task', () => {
  it('204 with Link rel=monitor; the task reaches succeeded; no rbd_data.<id>.* is left', async () => {
    const id = await createImage('del1', '1GiB');
    await rbdCli('bench', '--io-type', 'write', '--io-size', '4M', '--io-total', '64M', '--io-pattern', 'seq', `${pool.name}/del1`);
    expect((await objectsOf(pool.name)).filter((o) => o.startsWith(`rbd_data.${id}.`)).length).toBeGreaterThan(0);
    const r = await t.app.inject({ method: 'DELETE', url: `${base}/images/del1` });
    expect(r.statusCode, r.body).toBe(204);
    const taskId = monitorId(r.headers.link);
    // the name is free at once
    expect((await t.app.inject({ method: 'GET', url: `${base}/images/del1` })).statusCode).toBe(404);
    const { task, seen } = await waitTask(t.app, taskId, 60_000);
    expect(task.state, JSON.stringify(task)).toBe('succeeded');
    expect(task).toMatchObject({ action: 'image.remove', progress: 1, target: { pool: pool.name, namespace: '', image: 'del1', imageId: id } });
    expect(Date.parse(task.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(task.startedAt!));
    expect(seen.map((s) => s.state)).toContain('succeeded');
    const left = (await objectsOf(pool.name)).filter((o) => o.includes(id));
    expect(left).toEqual([]);
    // nor in the trash
    const trash = await t.app.inject({ method: 'GET', url: `${base}/trash` });
    expect(trash.json().items.map((e: { id: string }) => e.id)).not.toContain(id);
  });

  it('keepFor moves to the trash without purging; restore brings the same image back, same id, same bytes', async () => {
    const id = await createImage('keep1', '64MiB', ['layering']);
    const data = randomBytes(16 * MiB);
    const src = join(tmp, 'keep1.bin');
    writeFileSync(src, data);
    // write the pattern at offset 0 through the rbd CLI (import into the existing image: bench can't; use import-diff-free path)
    await rbdCli('rm', `${pool.name}/keep1`);
    await rbdCli('import', '--image-feature', 'layering', src, `${pool.name}/keep1`);
    const info = await t.app.inject({ method: 'GET', url: `${base}/images/keep1` });
    const realId = info.json().id as string;
    expect(realId).not.toBe(id);

    const d = await t.app.inject({ method: 'DELETE', url: `${base}/images/keep1?keepFor=1h` });
    expect(d.statusCode, d.body).toBe(204);
    expect(d.headers.link).toBe(`<${base}/trash/${realId}>; rel="related"`);
    const entry = await t.app.inject({ method: 'GET', url: `${base}/trash/${realId}` });
    expect(entry.statusCode, entry.body).toBe(200);
    const e = entry.json();
    expect(e).toMatchObject({ id: realId, name: 'keep1', source: 'user' });
    const kept = Date.parse(e.deferredUntil) - Date.parse(e.deletedAt);
    expect(kept).toBeGreaterThanOrEqual(3599_000);
    expect(kept).toBeLessThanOrEqual(3601_000);
    // data objects still there
    expect((await objectsOf(pool.name)).some((o) => o.startsWith(`rbd_data.${realId}.`))).toBe(true);
    // deferred: DELETE of the entry without force is refused
    const refused = await t.app.inject({ method: 'DELETE', url: `${base}/trash/${realId}` });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().code).toBe('TRASH_DEFERRED');
    // name taken again → 409 IMAGE_EXISTS
    await createImage('keep1', '1MiB');
    const clash = await t.app.inject({ method: 'POST', url: `${base}/trash/${realId}/restore`, ...json({}) });
    expect(clash.statusCode, clash.body).toBe(409);
    expect(clash.json().code).toBe('IMAGE_EXISTS');
    expect((await t.app.inject({ method: 'DELETE', url: `${base}/images/keep1` })).statusCode).toBe(204);
    const restored = await t.app.inject({ method: 'POST', url: `${base}/trash/${realId}/restore`, ...json({}) });
    expect(restored.statusCode, restored.body).toBe(201);
    expect(restored.headers.location).toBe(`${base}/images/keep1`);
    expect(restored.json()).toMatchObject({ name: 'keep1', id: realId, size: 16 * MiB });
    const out = join(tmp, 'keep1.out');
    await rbdCli('export', `${pool.name}/keep1`, out);
    expect(readFileSync(out).equals(data)).toBe(true);
    // restore under a new name
    expect((await t.app.inject({ method: 'DELETE', url: `${base}/images/keep1?keepFor=7d` })).statusCode).toBe(204);
    const renamed = await t.app.inject({ method: 'POST', url: `${base}/trash/${realId}/restore`, ...json({ name: 'keep1-back' }) });
    expect(renamed.statusCode, renamed.body).toBe(201);
    expect(renamed.headers.location).toBe(`${base}/images/keep1-back`);
    await rbdCli('export', `${pool.name}/keep1-back`, `${out}2`);
    expect(readFileSync(`${out}2`).equals(data)).toBe(true);
  });

  it('concurrent DELETEs of one image: one 204, the others 404, one trash entry', async () => {
    const id = await createImage('race1', '1GiB');
    const rs = await Promise.all(Array.from({ length: 6 }, (_, i) =>
      (i % 2 === 0 ? t : t2).app.inject({ method: 'DELETE', url: `${base}/images/race1?keepFor=1h` })));
    const codes = rs.map((r) => r.statusCode).sort();
    expect(codes, rs.map((r) => r.body).join('\n')).toEqual([204, 404, 404, 404, 404, 404]);
    for (const r of rs.filter((x) => x.statusCode === 404)) expect(r.json().code).toBe('IMAGE_NOT_FOUND');
    const trash = await t.app.inject({ method: 'GET', url: `${base}/trash?limit=1000` });
    expect(trash.json().items.filter((e: { id: string; name: string }) => e.id === id || e.name === 'race1')).toHaveLength(1);
  });

  it('refuses an image in use (naming the watchers) and one with snapshots, and changes nothing', async () => {
    await createImage('busy1', '1GiB');
    const release = await t.ceph.images.hold(pool.name, 'busy1');
    try {
      const r = await t.app.inject({ method: 'DELETE', url: `${base}/images/busy1` });
      expect(r.statusCode).toBe(409);
      expect(r.json().code).toBe('IMAGE_IN_USE');
      expect(r.json().watchers.length).toBe(1);
      expect(r.json().detail).toContain(r.json().watchers[0].address);
    } finally {
      await release();
    }
    await createImage('snap1', '1GiB');
    await rbdCli('snap', 'create', `${pool.name}/snap1@s1`);
    const s = await t.app.inject({ method: 'DELETE', url: `${base}/images/snap1` });
    expect(s.statusCode).toBe(409);
    expect(s.json()).toMatchObject({ code: 'IMAGE_HAS_SNAPSHOTS', snapshotCount: 1 });
    expect((await t.app.inject({ method: 'GET', url: `${base}/images/busy1` })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: `${base}/images/snap1` })).statusCode).toBe(200);
    const trash = await t.app.inject({ method: 'GET', url: `${base}/trash` });
    expect(trash.json().items.map((e: { name: string }) => e.name)).not.toContain('snap1');
    const missing = await t.app.inject({ method: 'DELETE', url: `${base}/images/never-was` });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('IMAGE_NOT_FOUND');
  });

  it('keepFor: every malformed or out-of-range duration is a 400', async () => {
    await createImage('dur1', '1MiB');
    for (const bad of ['', '0m', '59s', '30s', '1', 'm', '7 d', '7D', '-1d', '1.5h', '2y', '366d', '53w', '8761h', '525601m', 'P7D', '1e3m', '٣d', 'x'.repeat(40)]) {
      const r = await t.app.inject({ method: 'DELETE', url: `${base}/images/dur1?keepFor=${encodeURIComponent(bad)}` });
      expect(r.statusCode, `${bad}: ${r.body}`).toBe(400);
      expect(r.json().code).toBe('VALIDATION_FAILED');
    }
    expect((await t.app.inject({ method: 'GET', url: `${base}/images/dur1` })).statusCode).toBe(200);
    for (const good of ['1m', '30m', '12h', '7d', '52w', '1y', '365d']) {
      const r = await t.app.inject({ method: 'DELETE', url: `${base}/images/dur1?keepFor=${good}` });
      expect(r.statusCode, `${good}: ${r.body}`).toBe(204);
      const trashId = String(r.headers['x-trash-id']);
      const back = await t.app.inject({ method: 'POST', url: `${base}/trash/${trashId}/restore` });
      expect(back.statusCode, back.body).toBe(201);
    }
  });
});

describe('tasks through two instances', () => {
  it('a task listed by one instance is the same task through a second one', async () => {
    await createImage('two1', '1GiB');
    const r = await t.app.inject({ method: 'DELETE', url: `${base}/images/two1` });
    const id = monitorId(r.headers.link);
    const { task } = await waitTask(t.app, id);
    const a = await t.app.inject({ method: 'GET', url: `/api/v1/tasks/${id}` });
    const b = await t2.app.inject({ method: 'GET', url: `/api/v1/tasks/${id}` });
    expect(b.statusCode).toBe(200);
    expect(b.json()).toEqual(a.json());
    expect(b.json()).toEqual(task);
    const la = await t.app.inject({ method: 'GET', url: `/api/v1/tasks?pool=${pool.name}&limit=1000` });
    const lb = await t2.app.inject({ method: 'GET', url: `/api/v1/tasks?pool=${pool.name}&limit=1000` });
    expect(la.json().items.find((x: { id: string }) => x.id === id)).toEqual(task);
    expect(lb.json()).toEqual(la.json());
  });

  it('lists newest first, pages with a cursor, filters by state', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      await createImage(`page${i}`, '1MiB');
      const r = await t.app.inject({ method: 'DELETE', url: `${base}/images/page${i}` });
      ids.push(monitorId(r.headers.link));
    }
    for (const id of ids) await waitTask(t.app, id);
    const all: string[] = [];
    let cursor: string | undefined;
    for (let n = 0; n < 50; n++) {
      const r = await t2.app.inject({ method: 'GET', url: `/api/v1/tasks?pool=${pool.name}&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}` });
      expect(r.statusCode, r.body).toBe(200);
      all.push(...r.json().items.map((x: { id: string }) => x.id));
      cursor = r.json().nextCursor;
      if (!cursor) break;
    }
    expect(new Set(all).size).toBe(all.length);
    const mine = all.filter((id) => ids.includes(id));
    expect(mine).toEqual([...ids].reverse());
    const ok = await t.app.inject({ method: 'GET', url: `/api/v1/tasks?pool=${pool.name}&state=succeeded&limit=1000` });
    expect(ok.json().items.every((x: { state: string }) => x.state === 'succeeded')).toBe(true);
    expect(ok.json().items.map((x: { id: string }) => x.id)).toEqual(expect.arrayContaining(ids));
    const none = await t.app.inject({ method: 'GET', url: `/api/v1/tasks?pool=${pool.name}&state=queued&limit=1000` });
    expect(none.json().items.map((x: { id: string }) => x.id)).not.toEqual(expect.arrayContaining(ids));
    // without pool: every pool this key sees, still including ours
    const any = await t.app.inject({ method: 'GET', url: '/api/v1/tasks?limit=1000' });
    expect(any.statusCode).toBe(200);
    expect(any.json().items.map((x: { id: string }) => x.id)).toEqual(expect.arrayContaining(ids));
  });

  it('server-sent events: one event per change, ending with the final state', async () => {
    await createImage('sse1', '1GiB');
    await rbdCli('bench', '--io-type', 'write', '--io-size', '4M', '--io-total', '32M', `${pool.name}/sse1`);
    const r = await t.app.inject({ method: 'DELETE', url: `${base}/images/sse1` });
    const id = monitorId(r.headers.link);
    const ev = await t2.app.inject({ method: 'GET', url: `/api/v1/tasks/${id}/events` });
    expect(ev.statusCode).toBe(200);
    expect(ev.headers['content-type']).toContain('text/event-stream');
    const events = ev.body.split('\n\n').filter((b) => b.includes('data: ')).map((b) => JSON.parse(b.slice(b.indexOf('data: ') + 6)));
    expect(events.length).toBeGreaterThanOrEqual(1);
    expect(events[events.length - 1]).toMatchObject({ id, state: 'succeeded', progress: 1 });
    for (let i = 1; i < events.length; i++) {
      const [a, b] = [events[i - 1], events[i]];
      expect(a.state !== b.state || a.progress !== b.progress).toBe(true);
    }
  });
});

describe('task errors and cancel', () => {
  it('GET/DELETE of a task: 400 for malformed ids, 404 TASK_NOT_FOUND, 409 TASK_FINISHED', async () => {
    for (const bad of ['x', '1-2-3', '../etc', '1-aaaaaaaaa-zzzzzzzz', `${'9'.repeat(11)}-aaaaaaaaa-00000000`, 'a'.repeat(200), '%00', '1-AAAAAAAAA-00000000']) {
      for (const method of ['GET', 'DELETE'] as const) {
        const r = await t.app.inject({ method, url: `/api/v1/tasks/${encodeURIComponent(bad)}` });
        expect(r.statusCode, `${method} ${bad}: ${r.body}`).toBe(400);
        expect(r.json().code).toBe('VALIDATION_FAILED');
      }
      const ev = await t.app.inject({ method: 'GET', url: `/api/v1/tasks/${encodeURIComponent(bad)}/events` });
      expect(ev.statusCode).toBe(400);
    }
    await createImage('fin1', '1MiB');
    const d = await t.app.inject({ method: 'DELETE', url: `${base}/images/fin1` });
    const id = monitorId(d.headers.link);
    const poolId = id.split('-')[0]!;
    for (const id of [`${poolId}-000000001-00000000`, '999999-000000001-00000000']) {
      const r = await t.app.inject({ method: 'GET', url: `/api/v1/tasks/${id}` });
      expect(r.statusCode, r.body).toBe(404);
      expect(r.json().code).toBe('TASK_NOT_FOUND');
      expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/tasks/${id}` })).json().code).toBe('TASK_NOT_FOUND');
    }
    await waitTask(t.app, id);
    const c = await t2.app.inject({ method: 'DELETE', url: `/api/v1/tasks/${id}` });
    expect(c.statusCode).toBe(409);
    expect(c.json()).toMatchObject({ code: 'TASK_FINISHED', state: 'succeeded' });
    for (const q of ['state=done', 'limit=0', 'limit=1001', 'limit=x', 'cursor=abc', 'cursor=' + encodeURIComponent('0000000000000.1-2-3')]) {
      const r = await t.app.inject({ method: 'GET', url: `/api/v1/tasks?${q}` });
      expect(r.statusCode, `${q}: ${r.body}`).toBe(400);
    }
    const nopool = await t.app.inject({ method: 'GET', url: '/api/v1/tasks?pool=no-such-pool-here' });
    expect(nopool.statusCode).toBe(404);
    expect(nopool.json().code).toBe('POOL_NOT_FOUND');
  });

  it('cancel of a queued task: cancelled at once (204), never runs, the entry stays in the trash', async () => {
    // an instance that only submits (runner off), and the lease held by the test so that no runner anywhere takes it
    const submitter = await testApp('rbdapi');
    await submitter.ceph.tasks.stop();
    try {
      await createImage('q1', '1GiB');
      const moved = await submitter.ceph.trash.moveImage(pool.name, 'q1', 0);
      const task = await submitter.ceph.trash.queueRemove(pool.name, moved, 'image.remove', true);
      // hold the lease ourselves at once (no runner anywhere can take it now)
      const held = await submitter.ceph.withIoctx(pool.name, (io) => io.use('test', (p) => lockLease(p, task.id, 'test-holds-it', 'test', 60_000, false)));
      expect(held).toBe(0);
      expect((await t.app.inject({ method: 'GET', url: `/api/v1/tasks/${task.id}` })).json().state).toBe('queued');
      const c = await t2.app.inject({ method: 'DELETE', url: `/api/v1/tasks/${task.id}` });
      expect(c.statusCode, c.body).toBe(204);
      const after = await t.app.inject({ method: 'GET', url: `/api/v1/tasks/${task.id}` });
      expect(after.json()).toMatchObject({ state: 'cancelled', progress: 0 });
      expect(after.json().startedAt).toBeUndefined();
      expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/tasks/${task.id}` })).json().code).toBe('TASK_FINISHED');
      await submitter.ceph.withIoctx(pool.name, (io) => io.use('test', (p) => unlockLease(p, task.id, 'test-holds-it')));
      await new Promise((r) => setTimeout(r, 3000));
      expect((await t.app.inject({ method: 'GET', url: `/api/v1/tasks/${task.id}` })).json().state).toBe('cancelled');
      const entry = await t.app.inject({ method: 'GET', url: `${base}/trash/${moved.id}` });
      expect(entry.statusCode).toBe(200);
      // and it can be purged later
      const p = await t.app.inject({ method: 'DELETE', url: `${base}/trash/${moved.id}` });
      expect(p.statusCode, p.body).toBe(202);
      expect(p.headers.location).toBe(`/api/v1/tasks/${p.json().id}`);
      expect((await waitTask(t.app, p.json().id)).task.state).toBe('succeeded');
    } finally {
      await submitter.close();
    }
  });

  it('cancel of a running task: 202 once it has stopped (cancelled); the entry stays in the trash', async () => {
    // 4 TiB without object map: removal walks 1M objects, long enough to cancel
    await rbdCli('create', '--size', '4T', '--image-feature', 'layering', `${pool.name}/long1`);
    const r = await t.app.inject({ method: 'DELETE', url: `${base}/images/long1` });
    const id = monitorId(r.headers.link);
    await waitTask(t.app, id, 30_000, (x) => x.state === 'running' && x.progress > 0);
    const c = await t2.app.inject({ method: 'DELETE', url: `/api/v1/tasks/${id}` });
    expect(c.statusCode, c.body).toBe(202);
    // the answer waits for the runner (here on the other instance): a 202 means the task ended cancelled
    expect(c.json()).toMatchObject({ id, state: 'cancelled', cancelRequested: true });
    const { task } = await waitTask(t.app, id, 30_000);
    expect(task.state).toBe('cancelled');
    expect(task.progress).toBeGreaterThan(0);
    expect(task.progress).toBeLessThan(1);
    const trashId = task.target.imageId!;
    expect((await t.app.inject({ method: 'GET', url: `${base}/trash/${trashId}` })).statusCode).toBe(200);
    const again = await t.app.inject({ method: 'DELETE', url: `${base}/trash/${trashId}?force=true` });
    expect(again.statusCode).toBe(202);
    expect(again.json().action).toBe('trash.remove');
    await t.app.inject({ method: 'DELETE', url: `/api/v1/tasks/${again.json().id}` });
  });
});

void GiB;

describe('retention', () => {
  it('trim removes finished tasks (record and index), keeps the rest', async () => {
    await createImage('ret1', '1MiB');
    const r = await t.app.inject({ method: 'DELETE', url: `${base}/images/ret1` });
    const id = monitorId(r.headers.link);
    await waitTask(t.app, id);
    // an hour's retention: nothing that just ended goes
    expect(await t.ceph.tasks.trim(pool.name, 3600_000)).toBe(0);
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/tasks/${id}` })).statusCode).toBe(200);
    const removed = await t.ceph.tasks.trim(pool.name, 0);
    expect(removed).toBeGreaterThan(0);
    const gone = await t2.app.inject({ method: 'GET', url: `/api/v1/tasks/${id}` });
    expect(gone.statusCode).toBe(404);
    const list = await t2.app.inject({ method: 'GET', url: `/api/v1/tasks?pool=${pool.name}&limit=1000` });
    expect(list.json().items.filter((x: { state: string }) => ['succeeded', 'failed', 'cancelled'].includes(x.state))).toEqual([]);
    expect((await objectsOf(pool.name)).filter((o) => o === `rbdapi_task.${id}`)).toEqual([]);
  });
});

describe('interruption', () => {
  it('a task whose runner stops, with a cleanup handler: another instance runs the cleanup and ends it failed INTERRUPTED', async () => {
    const action = `test.cleanup-${Date.now().toString(36)}`;
    const cleaned: string[] = [];
    const started: string[] = [];
    const a = await testApp('rbdapi');
    const b = await testApp('rbdapi');
    try {
      for (const app of [a, b]) {
        app.ceph.tasks.register({
          action,
          run: (ctx) => new Promise((resolve, reject) => {
            started.push(ctx.task.id);
            const timer = setTimeout(() => resolve({ finished: true }), 60_000);
            ctx.signal.addEventListener('abort', () => { clearTimeout(timer); reject(new Error('stopped')); });
          }),
          interrupted: async (ctx) => { cleaned.push(ctx.task.id); },
        });
      }
      // b does not run anything until a has stopped
      await b.ceph.tasks.stop();
      const task = await a.ceph.tasks.submit(action, { pool: pool.name, namespace: '', image: 'none' }, {});
      await waitTask(a.app, task.id, 10_000, (x) => x.state === 'running');
      expect(started).toEqual([task.id]);
      await a.ceph.tasks.stop(); // hands the running task over (lease released, record still running)
      expect((await t.app.inject({ method: 'GET', url: `/api/v1/tasks/${task.id}` })).json().state).toBe('running');
      b.ceph.tasks.start();
      const { task: end } = await waitTask(t.app, task.id, 20_000);
      expect(end, JSON.stringify(end)).toMatchObject({ state: 'failed', error: { code: 'INTERRUPTED' }, attempts: 2 });
      expect(end.error!.detail).toContain('stopped before it finished');
      expect(cleaned).toEqual([task.id]);
      expect(started).toEqual([task.id]); // never run again
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('a task run where it was made (runHere: an upload streams into its process)', () => {
  it('another replica that gets the lease first leaves a reserved task to its own process, every round', async () => {
    // the race a run under load hit: a replica's scan found an upload's queued task between its record being
    // written and its own process claiming it, ran the action's generic handler, and the upload ended 503
    // "started by another replica". Here replica b is offered each task as a's record is written, and a's claim
    // waits until b's attempt has ended: b holds the lease first, every round.
    const action = `test.here-${Date.now().toString(36)}`;
    const a = await testApp('rbdapi');
    const b = await testApp('rbdapi');
    const ranElsewhere: string[] = [];
    try {
      for (const app of [a, b]) {
        app.ceph.tasks.register({
          action, interrupted: 'resume',
          run: async (ctx) => { ranElsewhere.push(ctx.task.id); return { where: 'generic' }; },
        });
      }
      type Candidate = { pool: string; id: string; spec: string };
      const bEngine = b.ceph.tasks as unknown as { scheduler: { offer(c: Candidate): void }; runner: { runOne(c: Candidate, run: unknown): Promise<unknown> } };
      const aEngine = a.ceph.tasks as unknown as { runners: { acquire(): Promise<unknown> } };
      let bTried: Promise<unknown> = Promise.resolve();
      const bRunOne = bEngine.runner.runOne.bind(bEngine.runner);
      bEngine.runner.runOne = (c, run) => { const p = bRunOne(c, run); bTried = p.catch(() => undefined); return p; };
      const aAcquire = aEngine.runners.acquire.bind(aEngine.runners);
      aEngine.runners.acquire = async () => { await bTried; return aAcquire(); };
      a.ceph.tasks.onTransition(({ task, from, to }) => {
        if (task.action === action && from === undefined && to === 'queued') bEngine.scheduler.offer({ pool: pool.name, id: task.id, spec: pool.name });
      });
      for (let i = 0; i < 8; i++) {
        const r = await a.ceph.tasks.runHere(action, { pool: pool.name, namespace: '', image: `here${i}` }, {}, async () => ({ where: 'here' }));
        expect(r).toEqual({ where: 'here' });
      }
      expect(ranElsewhere).toEqual([]);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
