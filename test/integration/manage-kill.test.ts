// A rename (PATCH {name}), a trash restore or an image DELETE killed mid-way (kill -9 of the service process serving it, at
// points spread over the request) leaves the image whole under exactly one name, and a retry on another process
// converges: the image under its new name (or restored), its data byte for byte, the old name 404 — never a
// listed-but-broken name, never two names, never an image lost.
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { connect, makePool, serviceEnv } from '../helpers/cluster.js';
import { exportImage, importRandom, radosCli, rbdCli } from '../helpers/cli.js';
import { startService, stopSurvivor, victims, type Service } from '../helpers/service.js';
import type { CephConnection } from '../../src/ceph/connection.js';
import { readTrashState, TRASH_STATE } from '../../src/ceph/rbd-objects.js';
import { eventually } from '../helpers/eventually.js';

let admin: CephConnection;
let pool: { name: string; remove: () => Promise<void> };
let survivor: Service;
const MiB = 1024 * 1024;

const env = () => ({ ...serviceEnv(), LOG_LEVEL: 'error', TASK_LEASE_MS: '3000', MUTATION_LOCK_LEASE_MS: '3000' });

beforeAll(async () => {
  admin = await connect('admin');
  pool = await makePool(admin, 'mkill');
  survivor = await startService(env(), { readyTimeoutMs: 120_000 });
}, 180_000);
afterAll(async () => {
  await stopSurvivor(survivor);
  await pool?.remove();
  await admin?.close();
});

type Method = 'PATCH' | 'POST' | 'GET' | 'DELETE' | 'PUT';
const send = (svc: Service, method: Method, path: string, body?: unknown) => fetch(`${svc.url}/api/v1/pools/${pool.name}${path}`, {
  method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
});

/** A request retried on 503/504 and 409 OPERATION_IN_PROGRESS, as a client should after a crash. */
async function retried(svc: Service, method: Method, path: string, body?: unknown, count = { n: 0 }, inUseToo = false): Promise<{ status: number; body: Record<string, unknown> }> {
  const until = Date.now() + 120_000;
  for (;;) {
    const r = await send(svc, method, path, body);
    const text = await r.text();
    const parsed = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
    // inUseToo: a process killed inside librbd's move keeps its watch (and the exclusive lock) on the image until
    // the OSD drops it (osd_client_watch_timeout, 10 s on the test cluster): 409 IMAGE_IN_USE naming it until then
    const again = r.status === 503 || r.status === 504 || (r.status === 409 && parsed.code === 'OPERATION_IN_PROGRESS')
      || (inUseToo && r.status === 409 && parsed.code === 'IMAGE_IN_USE');
    if (!again || Date.now() > until) return { status: r.status, body: parsed };
    count.n++;
    await new Promise((res) => setTimeout(res, 1000));
  }
}

/**
 * On a started victim, time a warm-up request like the one to kill (`warm`, the second of two), then send
 * `request` and kill -9 the process after `fraction` of the warm-up's time; resolves once it is gone.
 */
async function killMidway(warm: (k: number) => Promise<Response>, request: (v: Service) => Promise<Response>, fraction: number, victim: Service): Promise<string> {
  // the first warm-up pays for the cold process (JIT, first I/O contexts); the second one is timed
  const cold = await warm(0);
  expect(cold.status, await cold.text()).toBeLessThan(300);
  const t0 = performance.now();
  const w = await warm(1);
  expect(w.status, await w.text()).toBeLessThan(300);
  const took = performance.now() - t0;
  const delay = Math.round(took * fraction);
  const pending = request(victim).then((r) => `answered ${r.status}`, () => 'killed');
  await new Promise((r) => setTimeout(r, delay));
  victim.child.kill('SIGKILL');
  await victim.exited;
  return `after ${delay} of ${Math.round(took)} ms ${await pending}`;
}

const names = async (): Promise<string[]> => (await rbdCli('ls', pool.name)).split('\n').filter(Boolean);
const idObjects = async (): Promise<string[]> => (await radosCli('-p', pool.name, 'ls')).split('\n').filter((o) => o.startsWith('rbd_id.')).sort();

describe('kill -9 mid-way, then retry', () => {
  it('rename: the image is whole under exactly one name; the retried PATCH ends with it under the new name, data intact', async () => {
    const outcomes: string[] = [];
    const rounds = Number(process.env.KILL_ROUNDS ?? 6);
    const next = victims(env, { readyTimeoutMs: 120_000 });
    onTestFinished(() => next.close());
    for (let i = 0; i < rounds; i++) {
      const from = `r${i}`, to = `r${i}-renamed`;
      const data = await importRandom(pool.name, from, 4 * MiB);
      for (const k of [0, 1]) await importRandom(pool.name, `warm${i}-${k}`, MiB);
      const victim = await next.next(i === rounds - 1);
      const how = await killMidway((k) => send(victim, 'PATCH', `/images/warm${i}-${k}`, { name: `warm${i}-${k}b` }),
        (v) => send(v, 'PATCH', `/images/${from}`, { name: to }), i / (rounds - 1), victim);
      const rawNow = `${JSON.stringify((await names()).filter((n) => n.startsWith(from)))} ${JSON.stringify((await idObjects()).filter((o) => o.startsWith(`rbd_id.${from}`)))}`;
      // what the dead process had already sent may still land for a moment after its death
      await new Promise((res) => setTimeout(res, Number(process.env.KILL_SETTLE_MS ?? 1000)));
      const listed = await names();
      const rawSettled = `${JSON.stringify(listed.filter((n) => n.startsWith(from)))} ${JSON.stringify((await idObjects()).filter((o) => o.startsWith(`rbd_id.${from}`)))}`;
      if (process.env.KILL_DIAG) console.log(`${from}: ${how}: at the kill ${rawNow}; settled ${rawSettled}`);
      // whole under exactly one of the two names once the kill has settled
      const whole = [from, to].filter((n) => listed.includes(n));
      expect(whole, `${how}: listed ${JSON.stringify(listed)}`).toHaveLength(1);
      // and reachable under that one name only, even where the dead process left a stray id object
      const gone = await retried(survivor, 'GET', `/images/${whole[0] === to ? from : to}`);
      expect(gone.status, `${how}: ${rawSettled}: ${JSON.stringify(gone.body)}`).toBe(404);
      const count = { n: 0 };
      const retry = await retried(survivor, 'PATCH', `/images/${from}`, { name: to }, count);
      outcomes.push(`${from}: ${how}, ${whole[0] === to ? 'renamed' : 'not renamed'}, retry ${retry.status} ${String(retry.body.code ?? '')}${count.n ? ` after ${count.n} retries` : ''}`);
      // 200: renamed by the retry. 404 IMAGE_NOT_FOUND for the old name: renamed before it — by the dead process,
      // or by an attempt of the retry that timed out (504) while librbd waited for the exclusive lock the dead
      // process still held (rbd_rename is forwarded to the lock owner) and that finished in the background; the
      // next attempt then finds the old name gone. Either way the image must now be whole under the new name.
      expect([200, 404], JSON.stringify(retry.body)).toContain(retry.status);
      if (retry.status === 404) expect(retry.body.code).toBe('IMAGE_NOT_FOUND');
      // 200 after the dead process moved the directory entry: the retry removed the old id object it left
      // (src/ceph/rename.ts, finishInterruptedRename), which finishes the rename
      if (whole[0] === to && retry.status === 200) expect(rawSettled).toContain(`rbd_id.${from}"`);
      const old = await retried(survivor, 'GET', `/images/${from}`);
      expect(old.status, JSON.stringify(old.body)).toBe(404);
      const now = await retried(survivor, 'GET', `/images/${to}`);
      expect(now.status, JSON.stringify(now.body)).toBe(200);
      expect((await exportImage(pool.name, to)).equals(data)).toBe(true);
      const after = await names();
      expect(after).toContain(to);
      expect(after).not.toContain(from);
      expect(await idObjects()).not.toContain(`rbd_id.${from}`);
    }
    console.log(`rename kill rounds:\n  ${outcomes.join('\n  ')}`);
  }, 600_000);

  it('trash restore: the image is in the trash or restored, never both or neither; the retried restore ends with it restored, data intact', async () => {
    const outcomes: string[] = [];
    const rounds = 6;
    const next = victims(env, { readyTimeoutMs: 120_000 });
    onTestFinished(() => next.close());
    const trashed = async (image: string): Promise<string> => {
      const d = await send(survivor, 'DELETE', `/images/${image}?keepFor=1d`);
      expect(d.status, await d.text()).toBe(204);
      return d.headers.get('x-trash-id')!;
    };
    for (let i = 0; i < rounds; i++) {
      const image = `t${i}`;
      const data = await importRandom(pool.name, image, 4 * MiB);
      const warmIds: string[] = [];
      for (const k of [0, 1]) {
        await importRandom(pool.name, `twarm${i}-${k}`, MiB);
        warmIds.push(await trashed(`twarm${i}-${k}`));
      }
      const id = await trashed(image);
      const victim = await next.next(i === rounds - 1);
      const how = await killMidway((k) => send(victim, 'POST', `/trash/${warmIds[k]}/restore`, {}),
        (v) => send(v, 'POST', `/trash/${id}/restore`, {}), i / (rounds - 1), victim);
      const inTrash = (JSON.parse(await rbdCli('trash', 'ls', '--format', 'json', pool.name)) as { id: string }[]).some((e) => e.id === id);
      const listed = (await names()).includes(image);
      expect({ inTrash, listed }, how).not.toEqual({ inTrash: false, listed: false });
      const count = { n: 0 };
      const retry = await retried(survivor, 'POST', `/trash/${id}/restore`, {}, count);
      outcomes.push(`${image}: ${how}, ${inTrash ? 'in the trash' : ''}${inTrash && listed ? ' and ' : ''}${listed ? 'listed' : ''}, retry ${retry.status} ${String(retry.body.code ?? '')}${count.n ? ` after ${count.n} retries` : ''}`);
      // the killed restore finished: the retry is told where the image went (409 TRASH_ENTRY_GONE, restoredAs)
      expect([201, 404, 409], JSON.stringify(retry.body)).toContain(retry.status);
      if (retry.status === 404) expect(retry.body.code).toBe('TRASH_ENTRY_NOT_FOUND');
      if (retry.status === 409) expect(retry.body).toMatchObject({ code: 'TRASH_ENTRY_GONE', restoredAs: image });
      const got = await retried(survivor, 'GET', `/images/${image}`);
      expect(got.status, JSON.stringify(got.body)).toBe(200);
      expect(got.body.id).toBe(id);
      expect((await exportImage(pool.name, image)).equals(data)).toBe(true);
      const trash = await retried(survivor, 'GET', '/trash');
      expect((trash.body.items as { id: string }[]).map((e) => e.id)).not.toContain(id);
    }
    console.log(`restore kill rounds:\n  ${outcomes.join('\n  ')}`);
  }, 600_000);

  it('delete: the retried DELETE leaves the name gone, never an entry left moving (librbd refuses those for ever), and in the end nothing of the images', async () => {
    const outcomes: string[] = [];
    const rounds = 6;
    const next = victims(env, { readyTimeoutMs: 120_000 });
    onTestFinished(() => next.close());
    const trashEntries = async (): Promise<{ id: string; name: string }[]> => JSON.parse(await rbdCli('trash', 'ls', '-a', '--format', 'json', pool.name)) as { id: string; name: string }[];
    for (let i = 0; i < rounds; i++) {
      const image = `d${i}`;
      await importRandom(pool.name, image, 4 * MiB);
      const id = (JSON.parse(await rbdCli('info', '--format', 'json', `${pool.name}/${image}`)) as { id: string }).id;
      for (const k of [0, 1]) await importRandom(pool.name, `dwarm${i}-${k}`, MiB);
      const victim = await next.next(i === rounds - 1);
      const how = await killMidway((k) => send(victim, 'DELETE', `/images/dwarm${i}-${k}`),
        (v) => send(v, 'DELETE', `/images/${image}`), i / (rounds - 1), victim);
      const atKill = await admin.withIoctx(pool.name, (io) => readTrashState(io, pool.name, id));
      const seen = `${(await names()).includes(image) ? 'listed' : 'not listed'}, ${atKill ? `trash entry ${['normal', 'moving', 'removing', 'restoring'][atKill.state]}` : 'no trash entry'}`;
      const count = { n: 0 };
      const retry = await retried(survivor, 'DELETE', `/images/${image}`, undefined, count, true);
      outcomes.push(`${image}: ${how} (${seen}), retry ${retry.status} ${String(retry.body.code ?? '')}${count.n ? ` after ${count.n} retries` : ''}`);
      // 204: the retry moved it (or finished the interrupted move) and queued its removal; 404: the dead process
      // had moved it already
      expect([204, 404], JSON.stringify(retry.body)).toContain(retry.status);
      if (retry.status === 404) expect(retry.body.code).toBe('IMAGE_NOT_FOUND');
      expect(await names()).not.toContain(image);
      expect((await retried(survivor, 'GET', `/images/${image}`)).status).toBe(404);
      // what is left of it now is an entry its task will remove — not one that rbd_trash_remove refuses
      const entry = (await trashEntries()).find((e) => e.id === id);
      if (entry) {
        const state = await admin.withIoctx(pool.name, (io) => readTrashState(io, pool.name, id));
        expect(state?.state ?? TRASH_STATE.NORMAL, `${how}: ${JSON.stringify(state)}`).not.toBe(TRASH_STATE.MOVING);
      }
    }
    // and nothing is left of them once their removal tasks have run — a task a dead process recorded before its
    // move included (its reservation ends after two leases; the survivor runs it)
    await eventually(async () => (await trashEntries()).filter((e) => /^d\d$/.test(e.name)).length === 0, { timeoutMs: 120_000, intervalMs: 1000, what: 'the trash entries of the rounds removed' });
    console.log(`delete kill rounds:\n  ${outcomes.join('\n  ')}`);
  }, 600_000);
});
