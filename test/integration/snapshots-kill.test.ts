// A snapshot or clone request killed mid-way (kill -9 of the service process that serves it) leaves either
// nothing or a complete object, and a retried PUT (on another service process) answers 200/201 with one object:
// a whole clone of the right snapshot that reads the parent's data byte for byte.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, clusterDir, makePool } from '../helpers/cluster.js';
import { exportImage, importRandom, radosCli, rbdCli } from '../helpers/rbd-cli.js';
import { startFromSource, type SourceService } from '../helpers/service-src.js';
import { Images } from '../../src/ceph/images.js';
import type { CephConnection } from '../../src/ceph/connection.js';

let admin: CephConnection;
let images: Images;
let pool: { name: string; remove: () => Promise<void> };
let survivor: SourceService;
let pattern: Buffer;
const MiB = 1024 * 1024;

const env = () => ({
  CEPH_CONF: `${clusterDir()}/ceph.conf`, CEPH_CLIENT_ID: 'rbdapi', CEPH_KEYRING: `${clusterDir()}/ceph.client.rbdapi.keyring`,
  LOG_LEVEL: 'error', TASK_LEASE_MS: '3000',
});

beforeAll(async () => {
  admin = await connect('admin');
  images = new Images(admin);
  pool = await makePool(admin, 'snapkill');
  pattern = await importRandom(pool.name, 'golden', 4 * MiB);
  await rbdCli('snap', 'create', `${pool.name}/golden@v1`);
  survivor = await startFromSource(env(), { readyTimeoutMs: 120_000 });
}, 180_000);
afterAll(async () => {
  if (survivor && survivor.child.exitCode !== null) {
    throw new Error(`the surviving service exited (${survivor.child.exitCode} ${survivor.child.signalCode}):\n${survivor.output().slice(-6000)}`);
  }
  await survivor?.stop();
  await pool?.remove();
  await admin?.close();
});

const putOnce = (svc: SourceService, path: string, body?: unknown) => fetch(`${svc.url}/api/v1/pools/${pool.name}${path}`, {
  method: 'PUT', ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
});

/**
 * PUT, retried on 503/504 and 409 OPERATION_IN_PROGRESS as a client should: after a crash the dead process
 * keeps its watch on the images it had open until the OSD drops it (osd_client_watch_timeout, 30 s): calls that
 * need the image's exclusive lock time out, and an unfinished clone cannot be removed before.
 */
async function put(svc: SourceService, path: string, body?: unknown, retries?: { count: number }): Promise<Response> {
  const until = Date.now() + 120_000;
  for (;;) {
    const r = await putOnce(svc, path, body).catch((e: unknown) => {
      throw new Error(`${String(e)}; the service (exit ${svc.child.exitCode}, signal ${svc.child.signalCode}) said:\n${svc.output().slice(-6000)}`);
    });
    const retryable = r.status === 503 || r.status === 504
      || (r.status === 409 && (await r.clone().json() as { code: string }).code === 'OPERATION_IN_PROGRESS');
    if (!retryable || Date.now() > until) return r;
    if (retries) retries.count++;
    await r.body?.cancel();
    await new Promise((res) => setTimeout(res, 1000));
  }
}

/**
 * Start a victim, warm it up with one whole request like the one to kill (`warm`: a path of its own), then send
 * `path` and kill -9 the process after `fraction` of the time the warm-up took; resolves once it is gone.
 */
async function killMidway(warm: string, path: string, body: unknown, fraction: number): Promise<string> {
  const victim = await startFromSource(env(), { readyTimeoutMs: 120_000 });
  const t0 = performance.now();
  const w = await putOnce(victim, warm, body);
  expect(w.status, await w.text()).toBeLessThan(300);
  const took = performance.now() - t0;
  const delay = Math.round(took * fraction);
  const pending = putOnce(victim, path, body).then((r) => `answered ${r.status}`, () => 'killed');
  await new Promise((r) => setTimeout(r, delay));
  victim.child.kill('SIGKILL');
  await victim.exited;
  return `after ${delay} of ${Math.round(took)} ms ${await pending}`;
}

describe('kill -9 mid-way, then retry', () => {
  it('clones: nothing or a whole clone is left; the retried PUT answers 201/200 with one whole clone of golden@v1', async () => {
    // how long one clone takes here, so that the kills land before, during and after librbd's steps
    const outcomes: string[] = [];
    const rounds = 9;
    for (let i = 0; i < rounds; i++) {
      const name = `k${i}`;
      const how = await killMidway(`/images/warm${i}`, `/images/${name}`, { source: { image: 'golden', snapshot: 'v1' } }, i / (rounds - 1));
      const leftBehind = (await images.listNames(pool.name)).includes(name);
      const retries = { count: 0 };
      const retry = await put(survivor, `/images/${name}`, { source: { image: 'golden', snapshot: 'v1' } }, retries);
      const body = await retry.json() as { parent: unknown; name: string };
      outcomes.push(`${name}: ${how}, ${leftBehind ? 'image left' : 'nothing left'}, retry ${retry.status}${retries.count ? ` after ${retries.count} × 503/504/409 (watch of the dead process)` : ''}`);
      expect([200, 201], JSON.stringify(body)).toContain(retry.status);
      expect(body.parent).toEqual({ pool: pool.name, namespace: '', image: 'golden', snapshot: 'v1', overlap: pattern.length });
      // exactly one image of that name, a whole clone: linked, registered with its parent, reading its data
      expect((await images.listNames(pool.name)).filter((n) => n === name)).toHaveLength(1);
      expect((await rbdCli('children', `${pool.name}/golden@v1`)).split('\n')).toContain(`${pool.name}/${name}`);
      expect((await exportImage(pool.name, name)).equals(pattern)).toBe(true);
      // and it stays so: PUT again is 200
      expect((await put(survivor, `/images/${name}`, { source: { image: 'golden', snapshot: 'v1' } })).status).toBe(200);
    }
    // no intent records left behind
    const objects = await radosCli('-p', pool.name, 'ls');
    expect(objects.split('\n').filter((o) => o.startsWith('rbdapi_clone_intent.'))).toEqual([]);
    console.log(`clone kill rounds:\n  ${outcomes.join('\n  ')}`);
  }, 600_000);

  it('snapshots: nothing or the snapshot is left; the retried PUT answers 201/200 and there is exactly one', async () => {
    await images.create(pool.name, 'snapimg', 8 * MiB);
    const outcomes: string[] = [];
    const rounds = 6;
    for (let i = 0; i < rounds; i++) {
      const snap = `s${i}`;
      const how = await killMidway(`/images/snapimg/snapshots/warm${i}`, `/images/snapimg/snapshots/${snap}`, undefined, i / (rounds - 1));
      const before = (JSON.parse(await rbdCli('snap', 'ls', '--format', 'json', `${pool.name}/snapimg`)) as { name: string }[]).map((s) => s.name);
      const retries = { count: 0 };
      const retry = await put(survivor, `/images/snapimg/snapshots/${snap}`, undefined, retries);
      outcomes.push(`${snap}: ${how}, ${before.includes(snap) ? 'snapshot left' : 'nothing left'}, retry ${retry.status}${retries.count ? ` after ${retries.count} × 503/504 (lock of the dead process)` : ''}`);
      expect([200, 201]).toContain(retry.status);
      expect(await retry.json()).toMatchObject({ name: snap, size: 8 * MiB });
      const after = (JSON.parse(await rbdCli('snap', 'ls', '--all', '--format', 'json', `${pool.name}/snapimg`)) as { name: string }[]).map((s) => s.name);
      expect(after.filter((n) => n === snap)).toHaveLength(1);
    }
    console.log(`snapshot kill rounds:\n  ${outcomes.join('\n  ')}`);
  }, 600_000);
});
