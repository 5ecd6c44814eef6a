// Fencing stops the task, not the replica (issue 21 item 6; probe finding N7). Instance A runs a long
// image.remove; A is stopped (SIGSTOP) for longer than the task lease; instance B takes the task over and
// fences (blocklists) the client A ran it on. After SIGCONT every request A serves succeeds — the takeover
// fenced A's task runner, not the client that serves A's requests — the task ends succeeded on B, and A
// writes nothing more for it (one run after the takeover, attempts = 2).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CephConnection } from '../../src/ceph/connection.js';
import { connect, makePool, takeoverEnv } from '../helpers/cluster.js';
import { startService, type Service } from '../helpers/service.js';
import { objectsOf, rbdCli } from '../helpers/cli.js';
import { monitorId, type TaskJson } from '../helpers/wait-task.js';

let admin: CephConnection;
let pool: { name: string; remove: () => Promise<void> };
let base: string;
const services: Service[] = [];

const serviceEnv = () => takeoverEnv();

beforeAll(async () => {
  admin = await connect('admin');
  pool = await makePool(admin, 'tfence');
  base = `/api/v1/pools/${pool.name}`;
});
afterAll(async () => {
  for (const s of services) {
    if (s.child.exitCode === null) {
      s.child.kill('SIGCONT');
      s.child.kill('SIGKILL');
    }
  }
  await pool.remove();
  await admin.close();
});

async function taskVia(url: string, id: string): Promise<TaskJson> {
  const r = await fetch(`${url}/api/v1/tasks/${id}`);
  expect(r.status).toBe(200);
  return (await r.json()) as TaskJson;
}

async function until(url: string, id: string, ok: (t: TaskJson) => boolean, ms: number): Promise<TaskJson> {
  const end = Date.now() + ms;
  for (;;) {
    const t = await taskVia(url, id);
    if (ok(t)) return t;
    if (Date.now() > end) throw new Error(`task ${id}: ${JSON.stringify(t)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const post = (url: string, path: string, body: unknown) => fetch(`${url}${path}`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
});

/** The lines of a service's log about one task (pino JSON, one per transition). */
function taskLines(svc: Service, id: string): { reason: string; instance: string }[] {
  return svc.output().split('\n').filter((l) => l.includes(`"id":"${id}"`)).map((l) => {
    const j = JSON.parse(l) as { task: { reason: string }; instance: string };
    return { reason: j.task.reason, instance: j.instance };
  });
}

describe('a stalled task runner is fenced, not its replica', () => {
  it('SIGSTOP past the lease while image.remove runs: B takes over; after SIGCONT every request on A succeeds', async () => {
    // 256 GiB without object map: the removal walks 65,536 objects (seconds)
    await rbdCli('create', '--size', '256G', '--image-feature', 'layering', `${pool.name}/big`);
    const imageId = (JSON.parse(await rbdCli('info', '--format', 'json', `${pool.name}/big`)) as { id: string }).id;
    const a = await startService(serviceEnv(), { entry: 'dist', readyTimeoutMs: 30_000 });
    services.push(a);
    const b = await startService(serviceEnv(), { entry: 'dist', readyTimeoutMs: 30_000 });
    services.push(b);
    // images for A to serve afterwards
    for (let i = 0; i < 4; i++) {
      const r = await post(a.url, `${base}/images`, { name: `r${i}`, size: 1 << 20 });
      expect(r.status).toBe(201);
    }

    const d = await fetch(`${a.url}${base}/images/big`, { method: 'DELETE' });
    expect(d.status).toBe(204);
    const id = monitorId(d.headers.get('link') ?? undefined);
    // A runs it (it started it at once: a free slot)
    await until(a.url, id, (t) => t.state === 'running' && t.progress > 0, 30_000);
    expect(taskLines(a, id).map((l) => l.reason)).toContain('started');

    a.child.kill('SIGSTOP');
    const stoppedAt = Date.now();
    // B takes it over once A's lease (3 s) has run out: attempts 2 is written after B fenced A's runner
    const taken = await until(b.url, id, (t) => (t.attempts ?? 0) >= 2, 60_000);
    const stoppedMs = Date.now() - stoppedAt;
    a.child.kill('SIGCONT');

    // 64 requests on A at once-ish (8 at a time): reads, creates, snapshot creates
    const statuses: { what: string; status: number; code?: string }[] = [];
    const jobs = Array.from({ length: 64 }, (_, i) => async () => {
      let r: Response;
      let what: string;
      switch (i % 4) {
        case 0: what = `GET r${i % 4}`; r = await fetch(`${a.url}${base}/images/r${(i >> 2) % 4}`); break;
        case 1: what = `create n${i}`; r = await post(a.url, `${base}/images`, { name: `n${i}`, size: 1 << 20 }); break;
        case 2: what = `snapshot r${(i >> 2) % 4}@s${i}`; r = await post(a.url, `${base}/images/r${(i >> 2) % 4}/snapshots`, { name: `s${i}` }); break;
        default: what = 'list'; r = await fetch(`${a.url}${base}/images?limit=10`); break;
      }
      const body = await r.text();
      let code: string | undefined;
      try { code = (JSON.parse(body) as { code?: string }).code; } catch { /* not JSON */ }
      statuses.push({ what, status: r.status, ...(code ? { code } : {}) });
    });
    const queue = [...jobs];
    await Promise.all(Array.from({ length: 8 }, async () => { for (let j = queue.shift(); j; j = queue.shift()) await j(); }));
    const failed = statuses.filter((s) => s.status >= 300);
    // eslint-disable-next-line no-console
    console.log(`A stopped ${stoppedMs} ms (lease 3 s), taken over at attempt ${taken.attempts}; `
      + `${statuses.length} requests on A after SIGCONT, ${failed.length} failed ${JSON.stringify(failed.slice(0, 5))}`);
    expect(failed).toEqual([]);

    // the task ends succeeded, run once after the takeover (attempts 2), not by A. (Taken over by B, or by
    // another service on the shared test cluster: every instance with the key scans every pool.)
    const end = await until(b.url, id, (t) => ['succeeded', 'failed', 'cancelled'].includes(t.state), 180_000);
    expect(end.state, JSON.stringify(end)).toBe('succeeded');
    expect(end.attempts).toBe(2);
    const aReasons = taskLines(a, id).map((l) => l.reason);
    const bReasons = taskLines(b, id).map((l) => l.reason);
    // eslint-disable-next-line no-console
    console.log(`task lines: A ${aReasons.join(', ')}; B ${bReasons.join(', ')}`);
    // A wrote no end for it and did not run it again: it stopped when it found its client fenced
    for (const r of ['resumed', 'succeeded', 'failed', 'cancelled', 'interrupted']) expect(aReasons).not.toContain(r);
    expect(aReasons).toEqual(['submitted', 'started', 'lost']);
    // A is still whole: its request client was never blocklisted
    const again = await fetch(`${a.url}${base}/images/r0`);
    expect(again.status).toBe(200);
    // and A's later tasks run on A, on a new client of their own (the fenced one was shut down)
    const d2 = await fetch(`${a.url}${base}/images/n1`, { method: 'DELETE' });
    expect(d2.status).toBe(204);
    const id2 = monitorId(d2.headers.get('link') ?? undefined);
    expect((await until(a.url, id2, (t) => ['succeeded', 'failed', 'cancelled'].includes(t.state), 60_000)).state).toBe('succeeded');
    expect(taskLines(a, id2).map((l) => l.reason)).toEqual(expect.arrayContaining(['started', 'succeeded']));
    expect((await objectsOf(pool.name)).filter((o) => o.includes(imageId))).toEqual([]);
    expect(JSON.parse(await rbdCli('trash', 'ls', '--all', '--format', 'json', pool.name))).toEqual([]);
  }, 300_000);
});
