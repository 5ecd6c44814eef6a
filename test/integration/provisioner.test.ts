// examples/provisioner against the real service (a listening server on the test cluster): a claim becomes
// an image through PUT, a simulated timeout is retried and gets the same answer, 503/429 with Retry-After
// are waited out, release deletes (and is done when the image is gone), and sizes round like ceph-csi.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GiB, MiB, ProvisionError, Provisioner, imageNameFor, parseQuantity, retryAfterMs, roundSize, withRetries, type ClaimLike,
} from '../../examples/provisioner/provisioner.js';
import type { CephConnection } from '../../src/ceph/connection.js';
import { Images } from '../../src/ceph/images.js';
import { TokenStore } from '../../src/http/auth.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { connect, makePool, uniqueName } from '../helpers/cluster.js';

const TOKEN = 'provisioner-test-token-0123456789abcdef';
let t: TestApp;
let conn: CephConnection;
let pool: { name: string; remove: () => Promise<void> };
let base: string;

const claim = (name: string, storage: string | number, namespace = 'shop', source?: string): ClaimLike => ({
  metadata: { name, namespace },
  spec: { resources: { requests: { storage } }, ...(source ? { dataSource: { kind: 'PersistentVolumeClaim' as const, name: source } } : {}) },
});

beforeAll(async () => {
  conn = await connect();
  pool = await makePool(conn, 'prov');
  t = await testApp('admin', { auth: TokenStore.parse(`${TOKEN} write * provisioner\n`) });
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await t?.close();
  await pool?.remove();
  await conn?.close();
});

describe('sizes and names', () => {
  it('parses Kubernetes quantities and rounds like ceph-csi (MiB below 1 GiB, GiB from 1 GiB)', () => {
    expect(parseQuantity('10Gi')).toBe(10 * GiB);
    expect(parseQuantity('500M')).toBe(500e6);
    expect(parseQuantity('1.5Gi')).toBe(1.5 * GiB);
    expect(parseQuantity('1e9')).toBe(1e9);
    expect(parseQuantity(4096)).toBe(4096);
    for (const bad of ['', '10 GB', '-1Gi', 'ten', '1Qi', 0, -5, Number.NaN]) expect(() => parseQuantity(bad)).toThrow(ProvisionError);
    expect(roundSize(1)).toBe(MiB);
    expect(roundSize(500e6)).toBe(477 * MiB); // 476.8 MiB → 477 MiB
    expect(roundSize(GiB - 1)).toBe(GiB);
    expect(roundSize(GiB)).toBe(GiB);
    expect(roundSize(GiB + 1)).toBe(2 * GiB);
    expect(roundSize(1e9)).toBe(954 * MiB);
    expect(roundSize(1.5 * GiB)).toBe(2 * GiB);
    expect(roundSize(10e9)).toBe(10 * GiB); // 9.31 GiB → 10 GiB
  });

  it('derives stable image names within the service\'s 128 characters', () => {
    expect(imageNameFor('shop', 'data-0')).toBe('kube.shop.data-0');
    const long = imageNameFor('a'.repeat(63), 'b'.repeat(253));
    expect(long).toHaveLength(128);
    expect(long).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/);
    expect(imageNameFor('a'.repeat(63), 'b'.repeat(253))).toBe(long);
    expect(imageNameFor('a'.repeat(63), `${'b'.repeat(252)}c`)).not.toBe(long);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs('2')).toBe(2000);
    expect(retryAfterMs(new Date(Date.now() + 3000).toUTCString(), Date.now())).toBeGreaterThan(1000);
    expect(retryAfterMs(null)).toBeUndefined();
    expect(retryAfterMs('soon')).toBeUndefined();
  });
});

describe('provisioning against the service', () => {
  it('creates, answers the same twice, survives a timeout after the server acted, and releases', async () => {
    const p = new Provisioner({ baseUrl: base, token: TOKEN, pool: pool.name, baseDelayMs: 20 });
    const c = claim(uniqueName('data'), '1500Mi');
    const first = await p.provision(c);
    expect(first).toEqual({
      volumeHandle: `${pool.name}/kube.shop.${c.metadata.name}`, pool: pool.name, image: `kube.shop.${c.metadata.name}`,
      capacityBytes: 2 * GiB, created: true,
    });
    expect((await new Images(conn).stat(pool.name, first.image)).size).toBe(2 * GiB);
    const second = await p.provision(c);
    expect(second).toEqual({ ...first, created: false });

    // a request the server carries out but whose answer never arrives: the client times out, retries, and
    // the idempotent PUT answers with the image the lost request made
    const c2 = claim(uniqueName('timeout'), '300Mi');
    let calls = 0;
    const retries: string[] = [];
    const lossy = new Provisioner({
      baseUrl: base, token: TOKEN, pool: pool.name, baseDelayMs: 20, requestTimeoutMs: 5_000,
      onRetry: (i) => retries.push(i.reason),
      fetch: async (req) => {
        calls++;
        const res = await fetch(req);
        if (calls === 1) {
          await res.arrayBuffer();
          throw new DOMException('The operation was aborted due to timeout', 'TimeoutError');
        }
        return res;
      },
    });
    const afterTimeout = await lossy.provision(c2);
    expect(calls).toBe(2);
    expect(retries).toEqual(['TimeoutError: The operation was aborted due to timeout']);
    expect(afterTimeout).toMatchObject({ image: `kube.shop.${c2.metadata.name}`, capacityBytes: 300 * MiB, created: false });
    expect(await p.provision(c2)).toEqual(afterTimeout);

    // a size change of the claim is a conflict, not a silent resize
    await expect(p.provision(claim(c.metadata.name, '3Gi'))).rejects.toMatchObject({ status: 409, problem: { code: 'IMAGE_SPEC_CONFLICT' } });

    expect(await p.release(c)).toBe(true);
    expect(await p.release(c)).toBe(false); // already gone: done
    expect(await p.release(c2)).toBe(true);
    await expect(new Images(conn).stat(pool.name, first.image)).rejects.toMatchObject({ errno: 2 }); // ENOENT
  });

  it('waits out 503, 504 and 429 as long as Retry-After asks, then gets the answer', async () => {
    const c = claim(uniqueName('busy'), '64Mi');
    const statuses = [503, 504, 429];
    const waits: number[] = [];
    let n = 0;
    const p = new Provisioner({
      baseUrl: base, token: TOKEN, pool: pool.name, baseDelayMs: 10,
      onRetry: (i) => waits.push(i.delayMs),
      fetch: async (req) => {
        const s = statuses[n++];
        if (s !== undefined) {
          return new Response(JSON.stringify({ type: 'about:blank', title: 't', status: s, detail: 'simulated', code: 'CEPH_BUSY' }), {
            status: s, headers: { 'content-type': 'application/problem+json', 'retry-after': s === 429 ? '1' : '0' },
          });
        }
        return fetch(req);
      },
    });
    const started = Date.now();
    const v = await p.provision(c);
    expect(v).toMatchObject({ created: true, capacityBytes: 64 * MiB });
    expect(n).toBe(4);
    expect(waits).toHaveLength(3);
    expect(waits[2]).toBeGreaterThanOrEqual(1000); // Retry-After: 1 on the 429
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(await p.release(c)).toBe(true);
  });

  it('gives up after the attempts it is allowed, with the last answer', async () => {
    let n = 0;
    const r = await withRetries(async () => {
      n++;
      return { response: new Response('', { status: 503, headers: { 'retry-after': '0' } }) };
    }, { attempts: 3, baseDelayMs: 1 });
    expect([n, r.response.status]).toEqual([3, 503]);
  });

  it('refuses bad claims precisely', async () => {
    const p = new Provisioner({ baseUrl: base, token: TOKEN, pool: pool.name });
    await expect(p.provision(claim('Bad_Name', '1Gi'))).rejects.toThrow(/metadata.name/);
    await expect(p.provision(claim('ok', 'lots'))).rejects.toThrow(/quantity/);
    await expect(p.provision(claim('ok', '1Gi', 'shop', 'no-such-source'))).rejects.toMatchObject({ status: 404 });
    // a token the service does not know: the 401 is reported, not retried
    const denied = new Provisioner({ baseUrl: base, token: 'not-a-valid-token-at-all', pool: pool.name });
    await expect(denied.provision(claim('x', '1Gi'))).rejects.toMatchObject({ status: 401 });
  });

  it('clones from another claim (snapshot + copy-on-write clone), idempotently, and cleans up on release', async () => {
    const p = new Provisioner({ baseUrl: base, token: TOKEN, pool: pool.name, baseDelayMs: 20 });
    const golden = claim(uniqueName('golden'), '1Gi');
    const src = await p.provision(golden);
    const c = claim(uniqueName('clone'), '1500Mi', 'shop', golden.metadata.name);
    const clone = await p.provision(c);
    expect(clone).toMatchObject({ image: `kube.shop.${c.metadata.name}`, capacityBytes: 2 * GiB, created: true });
    const snapshot = Provisioner.cloneSnapshotName(clone.image);
    const got = await p.client.GET('/api/v1/pools/{pool}/images/{image}', { params: { path: { pool: pool.name, image: clone.image } } });
    expect(got.data?.parent).toMatchObject({ pool: pool.name, image: src.image, snapshot });
    expect(await p.provision(c)).toEqual({ ...clone, created: false });
    // a claim smaller than its source cannot be a clone of it
    await expect(p.provision(claim('small', '512Mi', 'shop', golden.metadata.name))).rejects.toMatchObject({ status: 400 });

    expect(await p.release(c)).toBe(true);
    const snap = await p.client.GET('/api/v1/pools/{pool}/images/{image}/snapshots/{snapshot}', { params: { path: { pool: pool.name, image: src.image, snapshot } } });
    expect(snap.response.status).toBe(404); // the clone's snapshot went with it
    expect(await p.release(c)).toBe(false);
    expect(await p.release(golden)).toBe(true); // possible only because the snapshot is gone
  }, 90_000);

  it('flattens clones with an Idempotency-Key: a retry after a lost answer gets the same task, not NOT_A_CLONE', async () => {
    const p = new Provisioner({ baseUrl: base, token: TOKEN, pool: pool.name, baseDelayMs: 20, flattenClones: true });
    const golden = claim(uniqueName('golden'), '64Mi');
    await p.provision(golden);
    const c = claim(uniqueName('flat'), '64Mi', 'shop', golden.metadata.name);
    const clone = await p.provision(c);
    const got = await p.client.GET('/api/v1/pools/{pool}/images/{image}', { params: { path: { pool: pool.name, image: clone.image } } });
    expect(got.data?.parent).toBeNull(); // flattened
    // the hook's flatten answered, but the answer was lost: its retry (the same key) gets the first task
    let dropped = 0;
    const lossy = new Provisioner({
      baseUrl: base, token: TOKEN, pool: pool.name, baseDelayMs: 20, flattenClones: true,
      fetch: async (req) => {
        const res = await fetch(req);
        if (req.method === 'POST' && dropped++ === 0) {
          await res.arrayBuffer();
          throw new DOMException('The operation was aborted due to timeout', 'TimeoutError');
        }
        return res;
      },
    });
    const first = await p.flatten(clone.image); // the task of the flatten provision() ran
    expect(await lossy.flatten(clone.image)).toBe(first);
    expect(dropped).toBe(2);
    expect(await p.release(c)).toBe(true);
    expect(await p.release(golden)).toBe(true);
  }, 60_000);

  it('the CLI provisions from a claim file and releases it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'prov-'));
    const c = claim(uniqueName('cli'), '2G', 'team-a');
    writeFileSync(join(dir, 'claim.json'), JSON.stringify(c));
    const run = (cmd: string) => promisify(execFile)('npx', ['--no-install', 'tsx', 'examples/provisioner/main.ts', cmd, join(dir, 'claim.json')], {
      env: { ...process.env, RBD_API_URL: base, RBD_API_TOKEN: TOKEN, RBD_POOL: pool.name },
    });
    const out = JSON.parse((await run('provision')).stdout);
    expect(out).toMatchObject({ image: `kube.team-a.${c.metadata.name}`, capacityBytes: 2 * GiB, created: true }); // 1.86 GiB → 2 GiB
    expect(JSON.parse((await run('provision')).stdout)).toEqual({ ...out, created: false });
    expect(JSON.parse((await run('release')).stdout)).toEqual({ deleted: true });
    expect(JSON.parse((await run('release')).stdout)).toEqual({ deleted: false });
  }, 180_000); // four tsx start-ups: 5 s alone, 26 s seen on a busy machine
});
