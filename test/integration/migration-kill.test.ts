// kill -9 of the service while a migration's execute task copies the data: another instance takes the task over
// (the dead runner's lease runs out, its client is blocklisted), runs librbd's execute again — it goes on from the
// `executing` state — and the task ends succeeded; after commit the destination holds the source's data byte for
// byte and nothing of the source is left.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CephConnection } from '../../src/ceph/connection.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { connect, makePool, takeoverEnv } from '../helpers/cluster.js';
import { exportImage, rbdCli } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { startService, type Service } from '../helpers/service.js';
import { monitorId, waitTask, type TaskJson } from '../helpers/wait-task.js';

const MiB = 1024 * 1024;
let admin: CephConnection;
let a: { name: string; remove: () => Promise<void> };
let b: { name: string; remove: () => Promise<void> };
let svc: Service | undefined;
let other: TestApp | undefined;
let src: Buffer;

beforeAll(async () => {
  admin = await connect('admin');
  [a, b] = await Promise.all([makePool(admin, 'migkill-a'), makePool(admin, 'migkill-b')]);
  // 4 KiB objects: 1536 of them, so the copy runs for a while (each object is one progress call)
  src = randomBytes(6 * MiB);
  const dir = mkdtempSync(join(tmpdir(), 'rbdapi-migkill-'));
  writeFileSync(join(dir, 'src'), src);
  await rbdCli('import', '--no-progress', '--object-size', '4K', join(dir, 'src'), `${a.name}/vol`);
  rmSync(dir, { recursive: true, force: true });
}, 120_000);
afterAll(async () => {
  if (svc && svc.child.exitCode === null) svc.child.kill('SIGKILL');
  await other?.close();
  await Promise.all([a?.remove(), b?.remove()]);
  await admin?.close();
});

describe('a service killed mid-migration', () => {
  it('kill -9 while image.migration-execute runs: taken over and finished; commit; data byte for byte', async () => {
    svc = await startService(takeoverEnv(), { readyTimeoutMs: 60_000 });
    const r = await fetch(`${svc.url}/api/v1/pools/${a.name}/images/vol/migration`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ destination: { pool: b.name } }),
    });
    expect(r.status, await r.clone().text()).toBe(202);
    const id = monitorId(`<${r.headers.get('location')}>; rel="monitor"`);
    const running = await eventually(async () => {
      const t = (await (await fetch(`${svc!.url}/api/v1/tasks/${id}`)).json()) as TaskJson;
      if (t.state !== 'running' || t.progress <= 0) throw new Error(`not copying yet: ${t.state} ${t.progress}`);
      return t;
    }, { timeoutMs: 30_000, intervalMs: 50 });
    svc.child.kill('SIGKILL');
    expect((await svc.exited).signal).toBe('SIGKILL');
    expect(running.progress).toBeLessThan(1);

    other = await testApp('rbdapi');
    const mid = await other.app.inject({ method: 'GET', url: `/api/v1/pools/${b.name}/images/vol/migration` });
    expect(mid.json().state).toMatch(/^(executing|prepared)$/);
    const { task } = await waitTask(other.app, id, 120_000);
    expect(task.state, JSON.stringify(task)).toBe('succeeded');
    expect(task.attempts).toBeGreaterThanOrEqual(2);
    // eslint-disable-next-line no-console
    console.log(`killed at ${Math.round(running.progress * 100)} %: taken over, execute ran again, attempts ${task.attempts}`);
    expect((await other.app.inject({ method: 'GET', url: `/api/v1/pools/${b.name}/images/vol/migration` })).json().state).toBe('executed');
    expect((await exportImage(b.name, 'vol')).equals(src)).toBe(true);
    const c = await other.app.inject({ method: 'POST', url: `/api/v1/pools/${b.name}/images/vol/migration/commit` });
    expect(c.statusCode, c.body).toBe(202);
    expect((await waitTask(other.app, String(c.headers.location), 60_000)).task.state).toBe('succeeded');
    expect((await exportImage(b.name, 'vol')).equals(src)).toBe(true);
    expect((await rbdCli('ls', a.name)).trim()).toBe('');
    expect((await rbdCli('trash', 'ls', '--all', a.name)).trim()).toBe('');
  });
});
