// kill -9 of the service process while a long task runs: a new instance takes the task over (its lease ran
// out), runs it again (image.remove is idempotent: 'resume'), and reports it succeeded; nothing is left of the
// image. And a graceful stop (SIGTERM) hands a running task over at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CephConnection } from '../../src/ceph/connection.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { connect, makePool, takeoverEnv } from '../helpers/cluster.js';
import { startService, type Service } from '../helpers/service.js';
import { objectsOf, rbdCli } from '../helpers/cli.js';
import { monitorId, waitTask, type TaskJson } from '../helpers/wait-task.js';

let admin: CephConnection;
let pool: { name: string; remove: () => Promise<void> };
let base: string;
const services: Service[] = [];
const apps: TestApp[] = [];

const serviceEnv = () => takeoverEnv();

beforeAll(async () => {
  admin = await connect('admin');
  pool = await makePool(admin, 'tkill');
  base = `/api/v1/pools/${pool.name}`;
});
afterAll(async () => {
  for (const s of services) if (s.child.exitCode === null) s.child.kill('SIGKILL');
  for (const a of apps) await a.close();
  await pool.remove();
  await admin.close();
});

async function taskVia(url: string, id: string): Promise<TaskJson> {
  const r = await fetch(`${url}/api/v1/tasks/${id}`);
  expect(r.status).toBe(200);
  return (await r.json()) as TaskJson;
}

async function untilRunning(url: string, id: string): Promise<TaskJson> {
  const end = Date.now() + 30_000;
  for (;;) {
    const t = await taskVia(url, id);
    if (t.state === 'running' && t.progress > 0) return t;
    if (Date.now() > end) throw new Error(`task ${id} did not make progress: ${JSON.stringify(t)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a service killed mid-task', () => {
  it('kill -9 while image.remove runs: another instance takes it over and finishes it; nothing is left', async () => {
    // 256 GiB without object map: the removal walks 65,536 objects (seconds here)
    await rbdCli('create', '--size', '256G', '--image-feature', 'layering', `${pool.name}/big`);
    const info = await rbdCli('info', '--format', 'json', `${pool.name}/big`);
    const imageId = (JSON.parse(info) as { id: string }).id;
    const svc = await startService(serviceEnv(), { entry: 'dist', readyTimeoutMs: 30_000 });
    services.push(svc);
    const d = await fetch(`${svc.url}${base}/images/big`, { method: 'DELETE' });
    expect(d.status).toBe(204);
    const id = monitorId(d.headers.get('link') ?? undefined);
    const before = await untilRunning(svc.url, id);
    expect(before.attempts).toBe(1);
    svc.child.kill('SIGKILL');
    const exit = await svc.exited;
    expect(exit.signal).toBe('SIGKILL');
    const killedAt = Date.now();

    // the record still says running: nobody wrote after the runner died
    const other = await testApp('rbdapi');
    apps.push(other);
    const seenRunning = await other.app.inject({ method: 'GET', url: `/api/v1/tasks/${id}` });
    expect(seenRunning.json().state).toBe('running');
    const { task, seen } = await waitTask(other.app, id, 120_000);
    expect(task.state, JSON.stringify(task)).toBe('succeeded');
    expect(task.attempts).toBeGreaterThanOrEqual(2);
    expect(task.progress).toBe(1);
    expect(seen.some((s) => s.state === 'running')).toBe(true);
    const tookOverMs = Date.parse(task.finishedAt!) - killedAt;
    // eslint-disable-next-line no-console
    console.log(`kill -9 → taken over and finished in ${tookOverMs} ms (lease 3 s)`);
    expect((await objectsOf(pool.name)).filter((o) => o.includes(imageId))).toEqual([]);
    const trash = await other.app.inject({ method: 'GET', url: `${base}/trash` });
    expect(trash.json().items).toEqual([]);
  }, 180_000);

  it('SIGTERM while a task runs: the lease is released and another instance takes it over at once', async () => {
    await rbdCli('create', '--size', '256G', '--image-feature', 'layering', `${pool.name}/big2`);
    const svc = await startService(serviceEnv(), { entry: 'dist', readyTimeoutMs: 30_000 });
    services.push(svc);
    const d = await fetch(`${svc.url}${base}/images/big2`, { method: 'DELETE' });
    expect(d.status).toBe(204);
    const id = monitorId(d.headers.get('link') ?? undefined);
    await untilRunning(svc.url, id);
    const termAt = Date.now();
    svc.child.kill('SIGTERM');
    await svc.exited;
    const exitedMs = Date.now() - termAt;
    const other = apps[0] ?? await testApp('rbdapi');
    const { task, seen } = await waitTask(other.app, id, 120_000);
    expect(task.state, JSON.stringify(task)).toBe('succeeded');
    const resumedAt = seen.find((s) => (s.attempts ?? 0) >= 2)?.state;
    // eslint-disable-next-line no-console
    console.log(`SIGTERM → exited in ${exitedMs} ms, finished ${Date.parse(task.finishedAt!) - termAt} ms after SIGTERM (${resumedAt ?? '?'})`);
    expect(task.attempts).toBeGreaterThanOrEqual(2);
  }, 180_000);
});
