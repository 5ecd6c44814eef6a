// TASK_POOLS: a replica scans for tasks, and runs schedules, only in the pools it names. A task queued by a
// replica that runs none (TASK_RUNNER=off) stays queued while the only runner names other pools — for twenty of
// its scans — and is run as soon as a replica that names the pool (by a pattern) is up. (The test suite relies on
// it: each file's replicas run only that file's pools.)
import { afterAll, describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { waitTask } from '../helpers/wait-task.js';

const SCAN_MS = 200;
const it = usePoolApp({ prefix: 'tpools', client: { tasks: { run: false } } });
let pool: TestPool;
let submitter: TestApp;
const started: TestApp[] = [];
afterAll(async () => { for (const a of started) await a.close(); });

it.beforeAll(({ pool: p, replicas }) => { pool = p; [submitter] = replicas as [TestApp]; });

describe('TASK_POOLS', () => {
  it('a queued task waits for a replica that names its pool, and runs there', async () => {
    const elsewhere = await testApp('admin', {}, { tasks: { pools: ['not-this-one-*', 'nor-this'], scanMs: SCAN_MS, leaseMs: 3000 } });
    started.push(elsewhere);
    expect(elsewhere.ceph.tasks.serves(pool.name)).toBe(false);
    const r = await submitter.app.inject({ method: 'POST', url: `/api/v1/pools/${pool.name}/trash/purge` });
    expect(r.statusCode, r.body).toBe(202);
    const location = r.headers.location as string;
    // twenty scans of the replica that names other pools: nobody takes it
    const until = Date.now() + 20 * SCAN_MS;
    while (Date.now() < until) {
      const t = (await submitter.app.inject({ method: 'GET', url: location })).json() as { state: string };
      expect(t.state).toBe('queued');
      await new Promise((res) => setTimeout(res, SCAN_MS));
    }
    // a replica whose pattern matches this pool's name runs it
    const prefix = pool.name.slice(0, pool.name.indexOf('-') + 1);
    const here = await testApp('admin', {}, { tasks: { pools: ['nor-this', `${prefix}*`], scanMs: SCAN_MS, leaseMs: 3000 } });
    started.push(here);
    expect(here.ceph.tasks.serves(pool.name)).toBe(true);
    const { task } = await waitTask(submitter.app, location, 20_000);
    expect(task.state, JSON.stringify(task)).toBe('succeeded');
  });
});
