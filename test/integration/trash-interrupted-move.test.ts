// A move into the trash interrupted between librbd's steps (its client killed: the service itself, a task runner,
// an rbd CLI) leaves the entry in state MOVING, which rbd_trash_remove and rbd_trash_restore refuse with EUCLEAN
// for ever (the CI run of 2026-12-07 failed on exactly this: a namespace purge taken over after a kill -9 inside
// rbd_trash_move). The test makes librbd's interrupted states with librbd and cls_rbd's own calls (a real move,
// then the entry's state set back to MOVING; the directory entry put back where the kill came earlier) and checks
// that removal, purge and restore finish the move and do their work — and never touch an image that took the name.
import { createHash } from 'node:crypto';
import { describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import type { CephConnection } from '../../src/ceph/connection.js';
import { json, type TestApp } from '../helpers/app.js';
import { exportImage, importRandom, objectsOf, rbdCli } from '../helpers/cli.js';
import { waitTask } from '../helpers/wait-task.js';
import { native } from '../../src/ceph/call.js';
import { readTrashState, setTrashState, str, TRASH_STATE } from '../../src/ceph/rbd-objects.js';
import { radosObject } from '../../src/native/rados-object.js';

const it = usePoolApp({ prefix: 'trashmv', key: 'rbdapi', client: { tasks: { leaseMs: 3000, scanMs: 500 } } });
let t: TestApp;
let admin: CephConnection;
let pool: TestPool;
let base: string;
const MiB = 1024 * 1024;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

it.beforeAll(({ pool: p, replicas, conn }) => {
  pool = p; [t] = replicas as [TestApp]; admin = conn;
  base = `/api/v1/pools/${pool.name}`;
});

const imageId = async (spec: string): Promise<string> => (JSON.parse(await rbdCli('info', '--format', 'json', spec)) as { id: string }).id;

/**
 * `spec/name` moved to the trash by librbd (rbd trash mv), then left as a move killed after its directory step
 * (`killedAt: 'state'`) or before it (`'directory'`: the entry name ↔ id is listed again); the entry's id.
 */
async function interruptedMove(spec: string, name: string, killedAt: 'state' | 'directory', keep = false): Promise<string> {
  const id = await imageId(`${spec}/${name}`);
  await rbdCli('trash', 'mv', ...(keep ? ['--expires-at', '2099-01-01'] : []), `${spec}/${name}`);
  await admin.withIoctx(spec, async (io) => {
    expect(await setTrashState(io, spec, id, TRASH_STATE.MOVING, TRASH_STATE.NORMAL)).toBe(0);
    if (killedAt === 'directory') {
      const input = Buffer.concat([str(name), str(id)]);
      const rc = await io.use('rados_exec', (p) =>
        native<number>('cls_rbd.dir_add_image', radosObject.exec, p, 'rbd_directory', 'rbd', 'dir_add_image', input, input.length, null, 0));
      expect(rc).toBe(0);
    }
    expect(await readTrashState(io, spec, id)).toMatchObject({ name, state: TRASH_STATE.MOVING });
  });
  return id;
}

const state = (spec: string, id: string) => admin.withIoctx(spec, (io) => readTrashState(io, spec, id));

describe('a move into the trash that was interrupted', () => {
  it('librbd itself refuses the entry (EUCLEAN), as in the failed CI run; DELETE /trash/{id} finishes the move and removes the image', async () => {
    const spec = pool.name;
    await importRandom(spec, 'a', 4 * MiB);
    const id = await interruptedMove(spec, 'a', 'state');
    // the state the CI run hit: the rbd CLI cannot remove it either
    await expect(rbdCli('trash', 'rm', '--no-progress', `${spec}/${id}`)).rejects.toThrow(/pending moving|Structure needs cleaning/);
    const r = await t.app.inject({ method: 'DELETE', url: `${base}/trash/${id}?force=true` });
    expect(r.statusCode, r.body).toBe(202);
    const { task } = await waitTask(t.app, r.json().id);
    expect(task.state, JSON.stringify(task)).toBe('succeeded');
    expect(await state(spec, id)).toBeUndefined();
    expect((await objectsOf(pool.name)).filter((o) => o.includes(id))).toEqual([]);
  });

  it('killed before its directory step (the name still listed): the removal drops the listing too', async () => {
    const spec = pool.name;
    await importRandom(spec, 'b', 1 * MiB);
    const id = await interruptedMove(spec, 'b', 'directory');
    expect((await rbdCli('ls', spec)).split('\n')).toContain('b');
    const r = await t.app.inject({ method: 'DELETE', url: `${base}/trash/${id}?force=true` });
    expect((await waitTask(t.app, r.json().id)).task.state).toBe('succeeded');
    expect((await rbdCli('ls', spec)).split('\n')).not.toContain('b');
    expect(await state(spec, id)).toBeUndefined();
  });

  it('the name taken again by a new image: the old entry goes, the new image is untouched byte for byte', async () => {
    const spec = pool.name;
    await importRandom(spec, 'c', 1 * MiB);
    const id = await interruptedMove(spec, 'c', 'state');
    const data = await importRandom(spec, 'c', 2 * MiB);
    const newId = await imageId(`${spec}/c`);
    expect(newId).not.toBe(id);
    const r = await t.app.inject({ method: 'DELETE', url: `${base}/trash/${id}?force=true` });
    expect((await waitTask(t.app, r.json().id)).task.state).toBe('succeeded');
    expect(await imageId(`${spec}/c`)).toBe(newId);
    expect(sha(await exportImage(spec, 'c'))).toBe(sha(data));
    expect(await state(spec, id)).toBeUndefined();
  });

  it('restore of such an entry finishes the move and restores the image with its data', async () => {
    const spec = pool.name;
    const data = await importRandom(spec, 'd', 2 * MiB);
    const id = await interruptedMove(spec, 'd', 'state', true);
    const r = await t.app.inject({ method: 'POST', url: `${base}/trash/${id}/restore`, ...json({ name: 'd-back' }) });
    expect(r.statusCode, r.body).toBe(201);
    expect(await imageId(`${spec}/d-back`)).toBe(id);
    expect(sha(await exportImage(spec, 'd-back'))).toBe(sha(data));
  });

  it('a namespace purge removes such an entry with the rest', async () => {
    const ns = 'left';
    expect((await t.app.inject({ method: 'PUT', url: `${base}/namespaces/${ns}` })).statusCode).toBe(201);
    const spec = `${pool.name}/${ns}`;
    await importRandom(spec, 'e', 1 * MiB);
    await importRandom(spec, 'f', 1 * MiB);
    await interruptedMove(spec, 'e', 'state');
    const r = await t.app.inject({ method: 'DELETE', url: `${base}/namespaces/${ns}?force=true&confirm=${ns}` });
    expect(r.statusCode, r.body).toBe(202);
    const { task } = await waitTask(t.app, r.json().id, 60_000);
    expect(task.state, JSON.stringify(task)).toBe('succeeded');
    expect((await t.app.inject({ method: 'GET', url: `${base}/namespaces/${ns}` })).statusCode).toBe(404);
  });
});

describe('DELETE of the image again (a hook retrying after the service was killed inside the move)', () => {
  it('finishes the interrupted move and queues the removal: 204 with the task, the task succeeds, nothing of the image is left', async () => {
    const spec = pool.name;
    await importRandom(spec, 'g', 1 * MiB);
    const id = await interruptedMove(spec, 'g', 'state');
    const r = await t.app.inject({ method: 'DELETE', url: `${base}/images/g` });
    expect(r.statusCode, r.body).toBe(204);
    expect(r.headers['x-trash-id']).toBe(id);
    const taskId = /\/tasks\/([^>]+)>; rel="monitor"/.exec(String(r.headers.link))?.[1];
    expect(taskId, String(r.headers.link)).toBeDefined();
    expect((await waitTask(t.app, taskId!)).task.state).toBe('succeeded');
    expect(await state(spec, id)).toBeUndefined();
    expect((await objectsOf(pool.name)).filter((o) => o.includes(id))).toEqual([]);
    // and once more: the image is gone
    expect((await t.app.inject({ method: 'DELETE', url: `${base}/images/g` })).statusCode).toBe(404);
  });
});

describe('a DELETE records its removal task before the move (a process dying between the two leaves the task)', () => {
  // the state such a death leaves is made here with the engine's own prepare(), which is never started: the
  // reservation runs out (two leases) and a replica's scan runs the task
  it('died after the move: the recorded task removes the image; nothing is left', async () => {
    const spec = pool.name;
    await importRandom(spec, 'h', 1 * MiB);
    const id = await imageId(`${spec}/h`);
    const prepared = await t.ceph.tasks.prepare('image.remove', { pool: spec, namespace: '', image: 'h', imageId: id }, { id, force: true });
    await rbdCli('trash', 'mv', `${spec}/h`);
    const { task } = await waitTask(t.app, prepared.task.id, 60_000);
    expect(task.state, JSON.stringify(task)).toBe('succeeded');
    expect(await state(spec, id)).toBeUndefined();
    expect((await objectsOf(pool.name)).filter((o) => o.includes(id))).toEqual([]);
  });

  it('died before the move: the task removes nothing and says so; the image is intact byte for byte', async () => {
    const spec = pool.name;
    const data = await importRandom(spec, 'k', 2 * MiB);
    const id = await imageId(`${spec}/k`);
    const prepared = await t.ceph.tasks.prepare('image.remove', { pool: spec, namespace: '', image: 'k', imageId: id }, { id, force: true });
    const { task } = await waitTask(t.app, prepared.task.id, 60_000);
    expect(task.state, JSON.stringify(task)).toBe('failed');
    expect(task.error).toMatchObject({ code: 'TRASH_ENTRY_NOT_FOUND', detail: expect.stringContaining('nothing was removed') });
    expect(await imageId(`${spec}/k`)).toBe(id);
    expect(sha(await exportImage(spec, 'k'))).toBe(sha(data));
  });

  it('an image in a group is refused before anything is recorded or moved (librbd 16.2 would trash it and then refuse its removal)', async () => {
    const spec = pool.name;
    const data = await importRandom(spec, 'm', 1 * MiB);
    await rbdCli('group', 'create', `${spec}/g`);
    await rbdCli('group', 'image', 'add', `${spec}/g`, `${spec}/m`);
    const r = await t.app.inject({ method: 'DELETE', url: `${base}/images/m` });
    expect(r.statusCode, r.body).toBe(409);
    expect(r.json()).toMatchObject({ code: 'CONFLICT', detail: expect.stringContaining('group') });
    const tasks = (await t.app.inject({ method: 'GET', url: `/api/v1/tasks?pool=${spec}&limit=1000` })).json().items as { action: string; state: string; target: { image: string } }[];
    expect(tasks.filter((x) => x.action === 'image.remove' && x.target.image === 'm')).toEqual([]);
    expect((await rbdCli('ls', spec)).split('\n')).toContain('m');
    expect(sha(await exportImage(spec, 'm'))).toBe(sha(data));
    await rbdCli('group', 'image', 'rm', `${spec}/g`, `${spec}/m`);
    const again = await t.app.inject({ method: 'DELETE', url: `${base}/images/m` });
    expect(again.statusCode, again.body).toBe(204);
  });

  it('abandon() (the move failed) ends the recorded task cancelled; it never runs', async () => {
    const spec = pool.name;
    await importRandom(spec, 'n', 1 * MiB);
    const id = await imageId(`${spec}/n`);
    const prepared = await t.ceph.tasks.prepare('image.remove', { pool: spec, namespace: '', image: 'n', imageId: id }, { id, force: true });
    await prepared.abandon();
    const r = await t.app.inject({ method: 'GET', url: `/api/v1/tasks/${prepared.task.id}` });
    expect(r.json()).toMatchObject({ state: 'cancelled', attempts: 0 });
    expect(await imageId(`${spec}/n`)).toBe(id);
  });
});
