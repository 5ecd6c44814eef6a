// Load and shutdown over real HTTP against the built service running as a process (as `npm start` runs it):
// 200 concurrent identical PUTs, 200 concurrent creates, and SIGTERM while 50 creates are in flight.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pool as HttpPool } from 'undici';
import type { CephConnection } from '../../src/ceph/connection.js';
import { Images } from '../../src/ceph/images.js';
import { connect, makePool, serviceEnv } from '../helpers/cluster.js';
import { startService, type Service } from '../helpers/service.js';

let conn: CephConnection;
let pool: { name: string; remove: () => Promise<void> };
let images: Images;
const running: Service[] = [];

const victimEnv = () => ({
  ...serviceEnv(),
  SHUTDOWN_TIMEOUT_MS: '15000',
});

async function send(http: HttpPool, method: 'PUT' | 'POST', path: string, body: unknown) {
  try {
    const r = await http.request({ method, path, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    const text = await r.body.text();
    return { status: r.statusCode, body: text ? JSON.parse(text) : undefined };
  } catch (e) {
    return { status: 0, error: (e as Error).message, body: undefined };
  }
}

beforeAll(async () => {
  conn = await connect('admin');
  pool = await makePool(conn, 'load');
  images = new Images(conn);
});

afterAll(async () => {
  for (const s of running) if (s.child.exitCode === null) s.child.kill('SIGKILL');
  await pool?.remove();
  await conn?.close();
});

describe('under load (real HTTP, service process)', () => {
  it('200 concurrent PUTs of one name: exactly one image, one 201, the rest 200 with the same spec', async () => {
    const svc = await startService(victimEnv(), { entry: 'dist', readyTimeoutMs: 30_000 });
    running.push(svc);
    const http = new HttpPool(svc.url, { connections: 200 });
    const answers = await Promise.all(Array.from({ length: 200 }, () =>
      send(http, 'PUT', `/api/v1/pools/${pool.name}/images/same`, { size: '64MiB', objectSize: '1MiB', features: ['layering'] })));
    await http.close();
    const counts = answers.reduce<Record<number, number>>((m, a) => ({ ...m, [a.status]: (m[a.status] ?? 0) + 1 }), {});
    console.log('200 identical PUTs:', JSON.stringify(counts));
    expect(counts[201]).toBe(1);
    expect(counts[200]).toBe(199);
    const ids = new Set(answers.map((a) => a.body.id));
    expect(ids.size).toBe(1);
    for (const a of answers) expect(a.body).toMatchObject({ name: 'same', size: 64 * 1024 * 1024, objectSize: 1024 * 1024, features: ['layering'] });
    expect((await images.listNames(pool.name)).filter((n) => n === 'same')).toEqual(['same']);
  });

  it('200 concurrent creates of different names all succeed', async () => {
    const svc = running[0]!;
    const http = new HttpPool(svc.url, { connections: 200 });
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) =>
      send(http, 'POST', `/api/v1/pools/${pool.name}/images`, { name: `many-${String(i).padStart(3, '0')}`, size: '8MiB' })));
    await http.close();
    const bad = answers.filter((a) => a.status !== 201);
    expect(bad).toEqual([]);
    const names = (await images.listNames(pool.name)).filter((n) => n.startsWith('many-'));
    expect(names).toHaveLength(200);
    svc.child.kill('SIGTERM');
    expect((await svc.exited).code).toBe(0);
  }, 120_000);

  it('SIGTERM while 50 creates are in flight: each create completed (201, image exists) or never started; exit 0 within 10 s', async () => {
    const svc = await startService(victimEnv(), { entry: 'dist', readyTimeoutMs: 30_000 });
    running.push(svc);
    const http = new HttpPool(svc.url, { connections: 50 });
    // warm the connections so every request below is in flight at once
    await Promise.all(Array.from({ length: 50 }, () => http.request({ method: 'GET', path: '/healthz' }).then((r) => r.body.text())));
    const pending = Array.from({ length: 50 }, (_, i) =>
      send(http, 'POST', `/api/v1/pools/${pool.name}/images`, { name: `term-${String(i).padStart(2, '0')}`, size: '4MiB' }));
    await new Promise((r) => setTimeout(r, 15));
    const signalled = performance.now();
    svc.child.kill('SIGTERM');
    // and more after the signal: these must be refused (503 or connection closed) or, if they slipped in, complete
    await new Promise((r) => setTimeout(r, 20));
    for (let i = 50; i < 60; i++) {
      pending.push(send(http, 'POST', `/api/v1/pools/${pool.name}/images`, { name: `term-${String(i).padStart(2, '0')}`, size: '4MiB' }));
    }
    const answers = await Promise.all(pending);
    const { code } = await svc.exited;
    const stopMs = performance.now() - signalled;
    await http.close().catch(() => undefined);
    const counts = answers.reduce<Record<string, number>>((m, a) => ({ ...m, [String(a.status)]: (m[String(a.status)] ?? 0) + 1 }), {});
    console.log(`SIGTERM with 50 creates in flight: answers ${JSON.stringify(counts)}, exit ${code} after ${Math.round(stopMs)} ms`);
    expect(code, svc.output().split('\n').filter((l) => !l.includes('"msg":"request"')).slice(-12).join('\n')).toBe(0);
    expect(stopMs).toBeLessThan(10_000);
    expect(counts['201'] ?? 0).toBeGreaterThan(0); // the signal came while work was in flight
    const existing = new Set(await images.listNames(pool.name));
    for (const [i, a] of answers.entries()) {
      const name = `term-${String(i).padStart(2, '0')}`;
      if (a.status === 201) {
        expect(existing.has(name), `${name} got 201`).toBe(true);
        const info = await images.stat(pool.name, name);
        expect(info.size).toBe(4 * 1024 * 1024);
      } else {
        // refused (503 while closing) or the connection was closed before it was read: never started
        expect([0, 503]).toContain(a.status);
        expect(existing.has(name), `${name} got ${a.status} but exists`).toBe(false);
      }
    }
    expect(svc.output()).toMatch(/"msg":"stopped"/);
  }, 60_000);
});
