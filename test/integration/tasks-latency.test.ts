// Figures for docs/tasks.md, measured on the test cluster (printed): DELETE of a 1 GiB image through the trash
// (target p50 ≤ 20 ms), 202 → running for a task when the runner is idle (target ≤ 1 s), 202 → done for the
// purge of a 1 GiB image whose every object is written.
import { describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import { json, type TestApp } from '../helpers/app.js';
import { objectsOf, rbdCli } from '../helpers/cli.js';
import { monitorId, waitTask } from '../helpers/wait-task.js';

const it = usePoolApp({ prefix: 'tlat', key: 'rbdapi' });
let t: TestApp;
let pool: TestPool;
let base: string;

it.beforeAll(({ pool: p, replicas }) => {
  pool = p; [t] = replicas as [TestApp];
  base = `/api/v1/pools/${pool.name}`;
});

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const fmt = (xs: number[]) => `p50 ${pct(xs, 0.5).toFixed(1)} ms, p90 ${pct(xs, 0.9).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms (n=${xs.length})`;

describe('latency', () => {
  it('DELETE of a 1 GiB image: 204 in milliseconds; the removal task finishes in the background', async () => {
    const n = 25;
    for (let i = 0; i < n; i++) {
      for (const name of [`l${i}`, `b${i}`]) {
        const r = await t.app.inject({ method: 'POST', url: `${base}/images`, ...json({ name, size: '1GiB' }) });
        expect(r.statusCode).toBe(201);
      }
    }
    const times: number[] = [];
    const baseline: number[] = [];
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const started = performance.now();
      const r = await t.app.inject({ method: 'DELETE', url: `${base}/images/l${i}` });
      times.push(performance.now() - started);
      expect(r.statusCode).toBe(204);
      ids.push(monitorId(r.headers.link));
      // the old synchronous path at the same moment (the machine's load varies a lot): rbd_remove of a 1 GiB image
      const b = performance.now();
      await t.ceph.images.remove(pool.name, `b${i}`);
      baseline.push(performance.now() - b);
      await new Promise((res) => setTimeout(res, 50)); // one DELETE at a time, its task running meanwhile (as a client would)
    }
    // eslint-disable-next-line no-console
    console.log(`DELETE 1 GiB image (checks + trash move + task queued): ${fmt(times)}; rbd_remove alone, interleaved: ${fmt(baseline)}`);
    for (const id of ids) expect((await waitTask(t.app, id)).task.state).toBe('succeeded');
    // a guard against the old synchronous removal (15 s and a 504 for big images), not the latency target:
    // that is measured and printed above (docs/tasks.md has the figures); a loaded CI machine must not fail it
    expect(pct(times, 0.5)).toBeLessThan(500);
  });

  it('202 → running when the runner is idle', async () => {
    const delays: number[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await t.app.inject({ method: 'POST', url: `${base}/trash/purge` });
      expect(r.statusCode).toBe(202);
      const answered = Date.now();
      const { task } = await waitTask(t.app, r.json().id, 30_000);
      expect(task.state).toBe('succeeded');
      delays.push(Math.max(0, Date.parse(task.startedAt!) - answered));
      const fromCreate = Date.parse(task.startedAt!) - Date.parse(task.createdAt);
      expect(fromCreate).toBeLessThan(1000);
    }
    // eslint-disable-next-line no-console
    console.log(`202 → running (startedAt − time the 202 arrived; ms clock): ${fmt(delays)}`);
    expect(pct(delays, 0.5)).toBeLessThan(1000);
  });

  it('202 → done: purge of a 1 GiB image with every object written', async () => {
    await rbdCli('create', '--size', '1G', `${pool.name}/full`);
    await rbdCli('bench', '--io-type', 'write', '--io-size', '4M', '--io-threads', '4', '--io-total', '1G', '--io-pattern', 'seq', `${pool.name}/full`);
    const info = JSON.parse(await rbdCli('info', '--format', 'json', `${pool.name}/full`)) as { id: string };
    expect((await objectsOf(pool.name)).filter((o) => o.startsWith(`rbd_data.${info.id}.`)).length).toBe(256);
    const d = await t.app.inject({ method: 'DELETE', url: `${base}/images/full?keepFor=1h` });
    expect(d.statusCode).toBe(204);
    const started = performance.now();
    const r = await t.app.inject({ method: 'DELETE', url: `${base}/trash/${info.id}?force=true` });
    expect(r.statusCode).toBe(202);
    const answered = performance.now();
    const { task } = await waitTask(t.app, r.json().id, 120_000, undefined);
    const done = performance.now();
    expect(task.state).toBe('succeeded');
    expect((await objectsOf(pool.name)).filter((o) => o.includes(info.id))).toEqual([]);
    // eslint-disable-next-line no-console
    console.log(`1 GiB purge: 202 in ${(answered - started).toFixed(1)} ms; 202 → succeeded seen ${(done - answered).toFixed(0)} ms `
      + `(task: queued→running ${Date.parse(task.startedAt!) - Date.parse(task.createdAt)} ms, running→done ${Date.parse(task.finishedAt!) - Date.parse(task.startedAt!)} ms)`);
  }, 180_000);
});
