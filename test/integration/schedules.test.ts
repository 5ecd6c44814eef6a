// Snapshot schedules with retention and trash purge schedules on three replicas (two in-process apps, one
// service process) over several 2 s slots: the replica running a slot is killed -9 and another takes the slot
// over; one replica's clock jumps back three slots and forward again. Every slot of every image has its snapshot
// exactly once (a schedule keeping 100 shows the whole history, without a gap; every replica's record of what it
// created names each snapshot once), retention kept exactly the policy's set (the newest two, plus an older one
// with a clone, reported in the schedule's status), the namespace and image schedules win over the pool's. The
// trash purge schedule removes the expired entries and only those.
import { afterAll, describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import { json, testApp, type TestApp } from '../helpers/app.js';
import { radosCli, rbdCli, rbdSync as rbd } from '../helpers/cli.js';
import { serviceEnv } from '../helpers/cluster.js';
import { eventually } from '../helpers/eventually.js';
import { startService, type Service } from '../helpers/service.js';
import { imageKey, mutationLocks } from '../../src/ceph/image-lock.js';
import { RECORD_PREFIX } from '../../src/ceph/tasks/store.js';
import type { ScheduleEvent } from '../../src/ceph/schedules/index.js';

const EVERY = 2000;
// A and B never die: their mutation-lock lease is the default 15 s. With 3 s, the test's hold of every image
// (below) was lost once under CI load (renewals late by 2 s), V took a lock and finished its slot itself
const CLIENT = { tasks: { leaseMs: 3000, scanMs: 300 } };
let skew = 0; // the clock of replica B
const it = usePoolApp({ prefix: 'sched', replicas: 1, client: { ...CLIENT, schedules: { minIntervalMs: 1000 } } });

let pool: TestPool;
let a: TestApp;
let b: TestApp;
let v: Service | undefined;
const events: ScheduleEvent[] = [];

afterAll(async () => {
  await v?.stop(5000);
  await b?.close();
});

const P = () => `/api/v1/pools/${pool.name}`;
const call = async (app: TestApp, method: 'GET' | 'PUT' | 'DELETE', url: string, body?: unknown) => {
  const r = await app.app.inject({ method, url, ...(body === undefined ? {} : json(body)) });
  return { status: r.statusCode, body: r.body ? (JSON.parse(r.body) as Record<string, unknown>) : {} };
};
// the rbd CLI asynchronously: replicas A and B share this process's event loop
const snapsOf = async (spec: string, image: string, prefix: string): Promise<string[]> =>
  (JSON.parse(await rbdCli('snap', 'ls', '--format', 'json', `${spec}/${image}`)) as { name: string }[])
    .map((s) => s.name).filter((n) => n.startsWith(`${prefix}-`)).sort();
const slotOf = (name: string): number => {
  const m = /-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(name)!;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
};
/** what V's scheduler said it did (audit lines on its stdout) */
const eventsOfV = (): { kind: string; target: string; snapshot?: string }[] => (v?.output() ?? '').split('\n').flatMap((l) => {
  try {
    const o = JSON.parse(l) as { kind?: string; event: string; target: string; snapshot?: string };
    return o.kind === 'schedule' ? [{ kind: o.event, target: o.target, ...(o.snapshot ? { snapshot: o.snapshot } : {}) }] : [];
  } catch { return []; }
});

it.beforeAll(async ({ pool: p, replicas }) => {
  pool = p;
  [a] = replicas as [TestApp];
  b = await testApp('admin', {}, { ...CLIENT, schedules: { minIntervalMs: 1000, now: () => Date.now() + skew } });
  for (const r of [a, b]) r.ceph.schedules.onEvent((e) => events.push(e));
  rbd('namespace', 'create', `${pool.name}/ns1`);
  for (const img of ['a', 'b', 'x']) rbd('create', '--size', '1M', `${pool.name}/${img}`);
  rbd('create', '--size', '1M', `${pool.name}/ns1/c`);
  v = await startService({ ...serviceEnv('rbdapi'), LOG_LEVEL: 'error', TASK_LEASE_MS: '3000', TASK_SCAN_MS: '300',
    MUTATION_LOCK_LEASE_MS: '3000', SCHEDULE_MIN_INTERVAL: '1' });
});

describe('snapshot schedules', () => {
  it('refuses bad schedules naming the field, and 404s where none is set', async () => {
    const bad = await call(a, 'PUT', `${P()}/snapshot-schedule`, { every: '500ms', keep: { latest: 1 } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('every');
    const none = await call(a, 'PUT', `${P()}/snapshot-schedule`, { every: '2s', keep: {} });
    expect(none.status).toBe(400);
    expect(JSON.stringify(none.body)).toContain('keep');
    const tz = await call(a, 'PUT', `${P()}/snapshot-schedule`, { every: '2s', keep: { latest: 1 }, timezone: 'Mars/Olympus' });
    expect(tz.status).toBe(400);
    expect(JSON.stringify(tz.body)).toContain('timezone');
    expect((await call(a, 'GET', `${P()}/snapshot-schedule`)).body.code).toBe('SCHEDULE_NOT_FOUND');
    expect((await call(a, 'PUT', `${P()}/images/nope/snapshot-schedule`, { every: '2s', keep: { latest: 1 } })).status).toBe(404);
  });

  it('takes one snapshot per image per slot across three replicas, through a kill -9 and a clock jump; retention keeps the policy\'s set', async () => {
    const put = (url: string, body: unknown) => call(a, 'PUT', url, body).then((r) => { expect(r.status, JSON.stringify(r.body)).toBe(201); return r.body; });
    // the most specific first: the pool's schedule would govern x and ns1/c until theirs are set
    const xs = await put(`${P()}/images/x/snapshot-schedule`, { every: '2s', keep: { latest: 100 }, prefix: 'x' });
    await put(`${P()}/namespaces/ns1/snapshot-schedule`, { every: '2s', keep: { latest: 1 }, prefix: 'n' });
    await put(`${P()}/snapshot-schedule`, { every: '2s', keep: { latest: 2 }, prefix: 'p' });
    expect(xs).toMatchObject({ level: 'image', spreadSeconds: 2 });
    expect(Date.parse(xs.nextRun as string)).toBeGreaterThan(Date.now() - 100);

    // an early snapshot of b gets a clone: retention must keep it
    const first = await eventually(async () => (await snapsOf(pool.name, 'b', 'p'))[0] ?? false, { timeoutMs: 10_000, intervalMs: 300, what: 'b\'s first slot' });
    await rbdCli('clone', '--rbd-default-clone-format', '2', `${pool.name}/b@${first}`, `${pool.name}/bclone`);

    // kill -9 of the replica running a slot: of the replicas only V runs tasks now (other test files' replicas
    // scan only their own pools: TASK_POOLS), and every governed image's lock is held, so a slot V takes stays
    // running in V. The slot killed is one whose record names V (its pid) as the runner
    await a.ceph.tasks.stop();
    await b.ceph.tasks.stop();
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    // (bclone too: the pool's schedule governs it, and a slot of it that V took would not wait)
    const keys = [...['a', 'b', 'x', 'bclone'].map((i) => imageKey(pool.name, i)), imageKey(`${pool.name}/ns1`, 'c')];
    // a run of V's that holds an image's lock finishes before A gets that lock: only a run V started after A
    // held them all is certain to wait (seen: a slot "running in V" that V finished itself, attempts 1)
    let heldAll!: () => void;
    const acquired = new Promise<void>((r) => { heldAll = r; });
    const holding = mutationLocks(a.ceph).run(keys, () => { heldAll(); return held; }, { waitMs: 20_000 });
    type SlotTask = { id: string; action: string; startedAt?: string; target: { namespace: string; image: string }; params: { slot: number; prefix: string } };
    let running: SlotTask;
    try {
      await Promise.race([acquired, holding]);
      const since = Date.now();
      running = await eventually(async () => {
        const r = await call(a, 'GET', `/api/v1/tasks?pool=${pool.name}&state=running&limit=100`);
        for (const t of (r.body.items as SlotTask[]).filter((i) => i.action === 'schedule.snapshot' && Date.parse(i.startedAt ?? '') > since)) {
          const rec = JSON.parse(await radosCli('-p', pool.name, 'get', `${RECORD_PREFIX}${t.id}`, '-')) as { runner?: string };
          if (rec.runner?.split(':')[1] === String(v!.child.pid)) return t;
        }
        return false;
      }, { timeoutMs: 15_000, intervalMs: 300, what: 'a slot running in V' });
      v!.child.kill('SIGKILL');
      await v!.exited;
    } finally {
      a.ceph.tasks.start();
      b.ceph.tasks.start();
      release();
      await holding.catch(() => undefined);
    }
    const killedSlot = `${running.params.prefix}-${new Date(running.params.slot).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
    // on a timeout, the diff shows the record (its state, attempts, error); the run after the takeover took the
    // killed slot's snapshot (or found it: V may have taken it before it died)
    const done = await eventually(async () => {
      const r = await call(a, 'GET', `/api/v1/tasks/${running.id}`);
      expect({ ...r.body, attemptsAtLeast2: (r.body.attempts as number) >= 2 }).toMatchObject({ state: 'succeeded', attemptsAtLeast2: true });
      return r.body;
    }, { timeoutMs: 20_000, intervalMs: 300, what: 'the killed slot taken over' });
    expect(done.result).toMatchObject({ snapshot: killedSlot });
    expect(['taken', 'existed', 'done-before']).toContain((done.result as { outcome: string }).outcome);
    if (running.target.image === 'x') expect((await snapsOf(pool.name, 'x', 'x'))).toContain(killedSlot); // x keeps every slot

    // B's clock jumps three slots back (it must not take any slot again), then forward to the right time
    const before = (await snapsOf(pool.name, 'x', 'x')).length;
    skew = -3 * EVERY;
    await eventually(async () => (await snapsOf(pool.name, 'x', 'x')).length >= before + 2, { timeoutMs: 20_000, intervalMs: 300, what: 'two slots with B behind' });
    skew = 0;
    const now = (await snapsOf(pool.name, 'x', 'x')).length;
    await eventually(async () => (await snapsOf(pool.name, 'x', 'x')).length >= now + 2, { timeoutMs: 20_000, intervalMs: 300, what: 'two slots after the jump' });

    // stop: no schedule left, no schedule task left running
    for (const url of [`${P()}/snapshot-schedule`, `${P()}/namespaces/ns1/snapshot-schedule`]) expect((await call(a, 'DELETE', url)).status).toBe(204);
    const status = (await call(a, 'GET', `${P()}/images/x/snapshot-schedule`)).body;
    expect((await call(a, 'DELETE', `${P()}/images/x/snapshot-schedule`)).status).toBe(204);
    await eventually(async () => {
      const r = await call(a, 'GET', `/api/v1/tasks?pool=${pool.name}&limit=1000`);
      // on a timeout, the diff shows the tasks still queued or running (or failed)
      expect((r.body.items as { state: string }[]).filter((t) => t.state !== 'succeeded')).toEqual([]);
    }, { timeoutMs: 20_000, intervalMs: 300, what: 'every schedule task ended' });

    // x keeps 100: its whole history, one snapshot per slot from the first to the last, no gap
    const xSlots = (await snapsOf(pool.name, 'x', 'x')).map(slotOf);
    expect(xSlots.length).toBeGreaterThanOrEqual(6);
    for (let i = 1; i < xSlots.length; i++) expect(xSlots[i]! - xSlots[i - 1]!).toBe(EVERY);
    expect(status.lastRun).toMatchObject({ image: 'x' });
    // each snapshot created once: what the replicas reported (V until it died)
    const all = [...events as { kind: string; target: string; snapshot?: string }[], ...eventsOfV()];
    const created = all.filter((e) => e.kind === 'snapshot-created');
    const counts = new Map<string, number>();
    for (const c of created) counts.set(`${c.target}@${c.snapshot}`, (counts.get(`${c.target}@${c.snapshot}`) ?? 0) + 1);
    expect([...counts].filter(([, n]) => n > 1)).toEqual([]);

    // retention: a keeps its newest two (consecutive slots), b those and the clone's parent, ns1/c one
    const aSnaps = (await snapsOf(pool.name, 'a', 'p'));
    expect(aSnaps).toHaveLength(2);
    expect(slotOf(aSnaps[1]!) - slotOf(aSnaps[0]!)).toBe(EVERY);
    const bSnaps = (await snapsOf(pool.name, 'b', 'p'));
    expect(bSnaps).toHaveLength(3);
    expect(bSnaps[0]).toBe(first);
    expect(slotOf(bSnaps[2]!) - slotOf(bSnaps[1]!)).toBe(EVERY);
    expect((await snapsOf(`${pool.name}/ns1`, 'c', 'n'))).toHaveLength(1);
    // the pool's schedule never touched x or ns1/c; x's never touched a
    expect((await snapsOf(pool.name, 'x', 'p'))).toEqual([]);
    expect((await snapsOf(`${pool.name}/ns1`, 'c', 'p'))).toEqual([]);
    // V's audit trail names the slot it was running when it was killed (which schedule lines it has besides
    // depends on who won the claims and runs: A, B and other test files' replicas compete with V — a CI run saw
    // V create no snapshot at all before the kill)
    const vLines = (v?.output() ?? '').split('\n').flatMap((l) => { try { return [JSON.parse(l) as Record<string, unknown>]; } catch { return []; } });
    expect(vLines.some((l) => l.kind === 'task' && l.taskId === running.id && l.state === 'running' && l.action === 'schedule.snapshot')).toBe(true);
    expect(all.some((e) => e.kind === 'retention-kept' && e.target === `${pool.name}/b` && e.snapshot === first)).toBe(true);

    const metrics = await a.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/rbdapi_schedule_snapshots_total\{event="removed"\} [1-9]/);
    expect(metrics.body).toMatch(/rbdapi_schedule_runs_total\{schedule="snapshot",outcome="claimed"\} [1-9]/);
  }, 150_000); // ~20 s on an idle machine; the waits are bounded one by one

  it('reports the snapshots retention kept because of clones', async () => {
    await call(a, 'PUT', `${P()}/images/b/snapshot-schedule`, { every: '1s', keep: { latest: 1 }, prefix: 'p' });
    const st = await eventually(async () => {
      const r = await call(a, 'GET', `${P()}/images/b/snapshot-schedule`);
      const skips = r.body.retentionSkips as { image: string; snapshots: string[] }[];
      return skips.length > 0 ? r.body : false;
    }, { timeoutMs: 8000, what: 'a retention skip' });
    expect((st.retentionSkips as { snapshots: string[] }[])[0]!.snapshots).toEqual([(await snapsOf(pool.name, 'b', 'p'))[0]]);
    expect((await call(a, 'DELETE', `${P()}/images/b/snapshot-schedule`)).status).toBe(204);
  });
});

describe('trash purge schedule', () => {
  it('removes the entries whose deferment ended, and only those', async () => {
    // no snapshot schedule may govern t0 (a trash entry with snapshots is not purged), whatever an earlier test left
    for (const url of [`${P()}/snapshot-schedule`, `${P()}/namespaces/ns1/snapshot-schedule`, `${P()}/images/x/snapshot-schedule`, `${P()}/images/b/snapshot-schedule`]) {
      expect([204, 404]).toContain((await call(a, 'DELETE', url)).status);
    }
    for (const img of ['t0', 't1']) await rbdCli('create', '--size', '1M', `${pool.name}/${img}`);
    await rbdCli('trash', 'mv', `${pool.name}/t0`);
    await rbdCli('trash', 'mv', '--expires-at', new Date(Date.now() + 3_600_000).toISOString().slice(0, 19).replace('T', ' '), `${pool.name}/t1`);
    const r = await call(a, 'PUT', `${P()}/trash/purge-schedule`, { every: '1s' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const ids = async () => (JSON.parse(await rbdCli('trash', 'ls', '--format', 'json', pool.name)) as { name: string }[]).map((e) => e.name);
    await eventually(async () => !(await ids()).includes('t0'), { timeoutMs: 25_000, intervalMs: 300, what: 't0 purged' });
    expect(await ids()).toContain('t1');
    const st = (await call(a, 'GET', `${P()}/trash/purge-schedule`)).body;
    expect(st).toMatchObject({ level: 'pool', schedule: { every: '1s' } });
    expect((await call(a, 'DELETE', `${P()}/trash/purge-schedule`)).status).toBe(204);
    expect((await call(a, 'GET', `${P()}/trash/purge-schedule`)).status).toBe(404);
  });
});
