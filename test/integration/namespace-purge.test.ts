// A namespace removed with everything in it (issue 24 item 4), on the real cluster: clones of clones (format 1
// on protected snapshots, and format 2), a snapshot in librbd's snapshot trash (removed while a v2 clone used
// it), trash entries (a deferred one, a trashed clone), images with data — one DELETE …?force=true&confirm= makes
// one namespace.purge task; the service process running it is killed (kill -9) mid-way and the in-process replica
// takes it over and finishes (an image it removes late stays locked by the test until the kill). A clone in another namespace whose parent is inside: 409, nothing removed.
import { afterAll, describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import { type TestApp } from '../helpers/app.js';
import { takeoverEnv } from '../helpers/cluster.js';
import { importRandom, rbdCli } from '../helpers/cli.js';
import { startService, type Service } from '../helpers/service.js';
import { waitTask } from '../helpers/wait-task.js';
import { imageKey, mutationLocks } from '../../src/ceph/image-lock.js';

const it = usePoolApp({
  prefix: 'nspurge', key: 'rbdapi',
  client: { tasks: { leaseMs: 3000, scanMs: 500 }, locks: { leaseMs: 3000 } },
});
let t: TestApp;
let pool: TestPool;
let victim: Service | undefined;
const MiB = 1024 * 1024;
const NS = 'tenant';
let spec: string;
let nsUrl: string;

/** rbd ls (+ trash ls -a) of the namespace: what is left in it */
const contents = async (): Promise<{ images: string[]; trash: number }> => ({
  images: (await rbdCli('ls', spec)).split('\n').filter(Boolean).sort(),
  trash: JSON.parse(await rbdCli('trash', 'ls', '-a', '--format', 'json', spec)).length as number,
});

it.beforeAll(async ({ pool: p, replicas }) => {
  pool = p; [t] = replicas as [TestApp];
  spec = `${pool.name}/${NS}`;
  nsUrl = `/api/v1/pools/${pool.name}/namespaces/${NS}`;
  const victimStarting = startService({ ...takeoverEnv(), LOG_LEVEL: 'error' }, { readyTimeoutMs: 120_000 });
  for (const ns of [NS, 'other']) expect((await t.app.inject({ method: 'PUT', url: `/api/v1/pools/${pool.name}/namespaces/${ns}` })).statusCode).toBe(201);
  await importRandom(spec, 'gold', 4 * MiB);
  // v1 clone chain: gold@s1 (protected) ← c1 ; c1@s (protected) ← c2
  await rbdCli('snap', 'create', `${spec}/gold@s1`);
  await rbdCli('snap', 'protect', `${spec}/gold@s1`);
  await rbdCli('clone', '--rbd-default-clone-format', '1', `${spec}/gold@s1`, `${spec}/c1`);
  await rbdCli('snap', 'create', `${spec}/c1@s`);
  await rbdCli('snap', 'protect', `${spec}/c1@s`);
  await rbdCli('clone', '--rbd-default-clone-format', '1', `${spec}/c1@s`, `${spec}/c2`);
  // v2 clone c3 of gold@s2, then s2 removed: it goes to the snapshot trash while c3 uses it
  await rbdCli('snap', 'create', `${spec}/gold@s2`);
  await rbdCli('clone', '--rbd-default-clone-format', '2', `${spec}/gold@s2`, `${spec}/c3`);
  await rbdCli('snap', 'rm', '--no-progress', `${spec}/gold@s2`);
  // trash entries: a plain one, a deferred one, a v2 clone of gold@s1 in the trash
  await importRandom(spec, 't1', 1 * MiB);
  await rbdCli('trash', 'mv', `${spec}/t1`);
  await rbdCli('create', '--size', '1M', `${spec}/t2`);
  await rbdCli('trash', 'mv', '--expires-at', '2099-01-01', `${spec}/t2`);
  await rbdCli('clone', '--rbd-default-clone-format', '2', `${spec}/gold@s1`, `${spec}/c4`);
  await rbdCli('trash', 'mv', `${spec}/c4`);
  // images with data, to give the task some length
  for (let i = 0; i < 6; i++) await importRandom(spec, `d${i}`, 1 * MiB);
  victim = await victimStarting;
}, 180_000);
afterAll(async () => {
  if (victim && victim.child.exitCode === null && victim.child.signalCode === null) await victim.stop();
});

describe('DELETE namespace with force', () => {
  it('without force: 409 NAMESPACE_NOT_EMPTY as before; force without confirm or with a wrong one: 400 naming confirm', async () => {
    const plain = await t.app.inject({ method: 'DELETE', url: nsUrl });
    expect(plain.statusCode).toBe(409);
    expect(plain.json().code).toBe('NAMESPACE_NOT_EMPTY');
    for (const q of ['force=true', 'force=true&confirm=wrong']) {
      const r = await t.app.inject({ method: 'DELETE', url: `${nsUrl}?${q}` });
      expect(r.statusCode, q).toBe(400);
      expect(r.json().code).toBe('CONFIRMATION_REQUIRED');
      expect(r.json().detail).toContain('confirm');
    }
    expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/pools/${pool.name}/namespaces/nosuch?force=true&confirm=nosuch` })).statusCode).toBe(404);
  });

  it('a clone in another namespace whose parent is here: 409 NAMESPACE_HAS_FOREIGN_CLONES naming it, nothing removed', async () => {
    await rbdCli('clone', '--rbd-default-clone-format', '2', `${spec}/gold@s1`, `${pool.name}/other/foreign`);
    const before = await contents();
    try {
      const r = await t.app.inject({ method: 'DELETE', url: `${nsUrl}?force=true&confirm=${NS}` });
      expect(r.statusCode, r.body).toBe(409);
      expect(r.json()).toMatchObject({ code: 'NAMESPACE_HAS_FOREIGN_CLONES', cloneCount: 1 });
      expect(r.json().clones).toEqual([{ pool: pool.name, namespace: 'other', image: 'foreign', parent: `${spec}/gold@s1` }]);
      expect(await contents()).toEqual(before);
    } finally {
      await rbdCli('rm', '--no-progress', `${pool.name}/other/foreign`);
    }
  });

  it('one call removes everything; the runner killed -9 mid-way, the replica takes over and finishes', async () => {
    const before = await contents();
    expect(before.images).toEqual(['c1', 'c2', 'c3', 'd0', 'd1', 'd2', 'd3', 'd4', 'd5', 'gold']);
    expect(before.trash).toBe(3);
    // gold (removed after the clones and d0–d5) stays locked until the victim is dead: the run cannot end first
    // (CI once saw the whole purge finish, in 1.1 s, between the test's look at its progress and the kill)
    let release!: () => void;
    const held = new Promise<void>((res) => { release = res; });
    let holdsGold!: () => void;
    const goldHeld = new Promise<void>((res) => { holdsGold = res; });
    const holding = mutationLocks(t.ceph).run([imageKey(spec, 'gold')], () => { holdsGold(); return held; }, { waitMs: 20_000 });
    let location: string;
    try {
      await Promise.race([goldHeld, holding]);
      const r = await fetch(`${victim!.url}${nsUrl}?force=true&confirm=${NS}`, { method: 'DELETE' });
      expect(r.status, await r.clone().text()).toBe(202);
      location = r.headers.get('location')!;
      expect(location).toMatch(/^\/api\/v1\/tasks\//);
      expect(await r.json()).toMatchObject({ action: 'namespace.purge', target: { pool: pool.name, namespace: NS } });
      // kill the victim once it has removed something, before it is done
      await waitTask(t.app, location, 60_000, (task) => task.progress > 0 || task.state !== 'queued' && task.state !== 'running');
      victim!.child.kill('SIGKILL');
      await victim!.exited;
      const mid = (await t.app.inject({ method: 'GET', url: location })).json();
      expect(mid.state, JSON.stringify(mid)).toBe('running');
      expect((await contents()).images).toContain('gold');
    } finally {
      release();
      await holding.catch(() => undefined);
    }
    const { task, seen } = await waitTask(t.app, location, 120_000);
    expect(task.state, JSON.stringify(task)).toBe('succeeded');
    expect(task.attempts).toBeGreaterThanOrEqual(2);
    expect(seen.length).toBeGreaterThan(1);
    expect(task.result).toMatchObject({ namespaceRemoved: true });
    expect((await rbdCli('namespace', 'ls', pool.name))).not.toContain(NS);
    expect((await t.app.inject({ method: 'GET', url: `${nsUrl}/images` })).json().code).toBe('NAMESPACE_NOT_FOUND');
    expect((await t.app.inject({ method: 'GET', url: nsUrl })).statusCode).toBe(404);
    // the other namespace and the pool's default namespace are untouched
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/namespaces/other` })).statusCode).toBe(200);
  });
});
