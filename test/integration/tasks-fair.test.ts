// Fairness: one tenant's backlog of long removals does not hold another tenant's task. Tenant A (namespace
// a) queues three long removals (1 TiB images without object map: ~100k objects each); tenant B (namespace b)
// then deletes a small image: B's removal must start and finish while A's backlog is still running.
import { afterAll, describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import { type TestApp } from '../helpers/app.js';
import { rbdCli } from '../helpers/cli.js';
import { monitorId, waitTask } from '../helpers/wait-task.js';

const it = usePoolApp({ prefix: 'tfair', key: 'rbdapi' });
let t: TestApp;
let pool: TestPool;

it.beforeAll(async ({ pool: p, replicas }) => {
  pool = p; [t] = replicas as [TestApp];
  await rbdCli('namespace', 'create', `${pool.name}/a`);
  await rbdCli('namespace', 'create', `${pool.name}/b`);
});
afterAll(async () => {
  // cancel what is left of A's backlog, then drop the pool
  const list = await t.app.inject({ method: 'GET', url: `/api/v1/tasks?pool=${pool.name}&limit=100` });
  for (const x of list.json().items as { id: string; state: string }[]) {
    if (x.state === 'queued' || x.state === 'running') await t.app.inject({ method: 'DELETE', url: `/api/v1/tasks/${x.id}` });
  }
});

describe('fairness across pool specs', () => {
  it("tenant B's removal finishes while tenant A's backlog of long removals still runs", async () => {
    const aTasks: string[] = [];
    for (let i = 0; i < 3; i++) {
      await rbdCli('create', '--size', '1T', '--image-feature', 'layering', `${pool.name}/a/big${i}`);
      const r = await t.app.inject({ method: 'DELETE', url: `/api/v1/pools/${pool.name}/namespaces/a/images/big${i}` });
      expect(r.statusCode, r.body).toBe(204);
      aTasks.push(monitorId(r.headers.link));
    }
    await rbdCli('create', '--size', '64M', `${pool.name}/b/small`);
    await rbdCli('bench', '--io-type', 'write', '--io-size', '4M', '--io-total', '8M', `${pool.name}/b/small`);
    const submitted = Date.now();
    const r = await t.app.inject({ method: 'DELETE', url: `/api/v1/pools/${pool.name}/namespaces/b/images/small` });
    expect(r.statusCode).toBe(204);
    const { task } = await waitTask(t.app, monitorId(r.headers.link), 60_000);
    expect(task.state).toBe('succeeded');
    const tookMs = Date.parse(task.finishedAt!) - submitted;
    const states = await Promise.all(aTasks.map(async (id) => (await t.app.inject({ method: 'GET', url: `/api/v1/tasks/${id}` })).json().state as string));
    // eslint-disable-next-line no-console
    console.log(`tenant B's removal: done ${tookMs} ms after its DELETE; tenant A's tasks then: ${states.join(', ')}`);
    expect(tookMs).toBeLessThan(10_000);
    expect(states.filter((s) => s === 'queued' || s === 'running').length).toBeGreaterThan(0);
  }, 120_000);
});
