// GET/DELETE …/images/{image}/locks: a client in a process of its own holds the image's exclusive lock and is
// frozen (SIGSTOP); the API names it (owner, watcher, IMAGE_IN_USE with the locks link), fences it and breaks
// the lock; rollback and DELETE then succeed; after SIGCONT the client's writes fail (it is blocklisted) and
// none of its data lands after the break (the image read back byte for byte). The service's own client is never
// fenced (409 LOCK_HELD_BY_SERVICE), and advisory locks (`rbd lock add`) are listed and broken too.
import { describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import { json, testApp, type TestApp } from '../helpers/app.js';
import { TokenStore } from '../../src/http/auth.js';
import { cephCli, exportImage, importRandom, rbdCli } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { compileLockHolder, startLockHolder } from '../helpers/lock-holder.js';
import { waitTask } from '../helpers/wait-task.js';
import { withOpenImage } from '../../src/ceph/open-image.js';
import { nativeChecked } from '../../src/ceph/call.js';
import { rbdImage } from '../../src/native/rbd-image.js';

const it = usePoolApp({ prefix: 'locks', key: 'rbdapi' });
let t: TestApp;
let pool: TestPool;
let base: string;
let holderBinary: string;
const MiB = 1024 * 1024;

it.beforeAll(({ pool: p, replicas }) => {
  pool = p; [t] = replicas as [TestApp];
  base = `/api/v1/pools/${pool.name}/images`;
  holderBinary = compileLockHolder();
});

const inject = (method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown) =>
  t.app.inject({ method, url, ...(body === undefined ? {} : json(body)) });

describe('locks', () => {
  it('a frozen lock owner is fenced and its lock broken; rollback and DELETE then succeed; its later writes never land', async () => {
    const golden = await importRandom(pool.name, 'held', 4 * MiB);
    expect((await inject('POST', `${base}/held/snapshots`, { name: 's0' })).statusCode).toBe(201);
    const holder = await startLockHolder(holderBinary, pool.name, '', 'held');
    try {
      const locks = await inject('GET', `${base}/held/locks`);
      expect(locks.statusCode, locks.body).toBe(200);
      expect(locks.json().owners).toEqual([{ address: holder.address, mode: 'exclusive', client: `client.${holder.id}`, service: false }]);
      expect(locks.json().watchers).toEqual([expect.objectContaining({ address: holder.address, id: holder.id, service: false })]);
      expect(locks.json().lockers.entries).toEqual([expect.objectContaining({ address: holder.address, managed: true, client: `client.${holder.id}` })]);

      // refusals name the owner and link to the locks
      const del = await inject('DELETE', `${base}/held`);
      expect(del.statusCode, del.body).toBe(409);
      expect(del.json()).toMatchObject({ code: 'IMAGE_IN_USE', lockOwners: [holder.address], locks: `${base}/held/locks` });
      expect(del.json().detail).toContain(holder.address);
      expect(del.json().detail).toContain(`DELETE ${base}/held/locks?confirm=held`);
      const rb = await inject('POST', `${base}/held/snapshots/s0/rollback?confirm=held`);
      expect(rb.json()).toMatchObject({ code: 'IMAGE_IN_USE', lockOwners: [holder.address] });
      expect((await inject('DELETE', `${base}/held/locks`)).json().code).toBe('CONFIRMATION_REQUIRED');
      expect((await inject('DELETE', `${base}/held/locks?confirm=other`)).json().code).toBe('CONFIRMATION_REQUIRED');

      holder.child.kill('SIGSTOP');
      const broke = await inject('DELETE', `${base}/held/locks?confirm=held`);
      expect(broke.statusCode, broke.body).toBe(200);
      expect(broke.json()).toEqual({
        broken: [{ kind: 'exclusive', address: holder.address, client: `client.${holder.id}`, cookie: null }],
        fenced: [holder.address],
      });
      expect(await cephCli('osd', 'blocklist', 'ls')).toContain(holder.address);
      const after = (await inject('GET', `${base}/held/locks`)).json();
      expect(after).toMatchObject({ owners: [], watchers: [], lockers: { entries: [] } });

      // the rollback now runs (it takes the lock) and restores s0
      const roll = await inject('POST', `${base}/held/snapshots/s0/rollback?confirm=held`);
      expect(roll.statusCode, roll.body).toBe(202);
      expect((await waitTask(t.app, roll.headers.location as string)).task.state).toBe('succeeded');

      // woken up, the fenced client's writes fail; none of its 0xbb blocks lands over the rolled-back image
      holder.child.kill('SIGCONT');
      await eventually(() => /^FAILED -\d+$/m.test(holder.output()), { timeoutMs: 20_000, what: 'the fenced client failing a write' });
      expect(await holder.exited).toBe(3);
      expect((await exportImage(pool.name, 'held')).equals(golden)).toBe(true);

      await rbdCli('snap', 'rm', `${pool.name}/held@s0`);
      const gone = await inject('DELETE', `${base}/held`);
      expect(gone.statusCode, gone.body).toBe(204);
    } finally {
      holder.child.kill('SIGKILL');
    }
  }, 60_000);

  it("the service's own client holding the lock is never fenced: 409 LOCK_HELD_BY_SERVICE, nothing broken", async () => {
    expect((await inject('POST', base, { name: 'mine', size: '4MiB' })).statusCode).toBe(201);
    // the app's own librados client writes, so it owns the exclusive lock while the handle is open
    await t.ceph.withIoctx(pool.name, (io) => withOpenImage(io, pool.name, 'mine', {}, async (img) => {
      const buf = Buffer.alloc(4096, 7);
      await nativeChecked('image', 'rbd_write', 'mine', rbdImage.write, img, 0, buf.length, buf);
      const locks = (await inject('GET', `${base}/mine/locks`)).json();
      expect(locks.owners).toEqual([expect.objectContaining({ service: true })]);
      const r = await inject('DELETE', `${base}/mine/locks?confirm=mine`);
      expect(r.statusCode, r.body).toBe(409);
      expect(r.json()).toMatchObject({ code: 'LOCK_HELD_BY_SERVICE', addresses: [locks.owners[0].address] });
      expect(await cephCli('osd', 'blocklist', 'ls')).not.toContain(locks.owners[0].address);
    }));
    // released: nothing to break, nothing fenced
    expect((await inject('DELETE', `${base}/mine/locks?confirm=mine`)).json()).toEqual({ broken: [], fenced: [] });
  });

  it('advisory locks (rbd lock add) are listed and broken, their client fenced; a missing image is 404', async () => {
    expect((await inject('POST', base, { name: 'adv', size: '4MiB' })).statusCode).toBe(201);
    await rbdCli('lock', 'add', `${pool.name}/adv`, 'maintenance');
    const locks = (await inject('GET', `${base}/adv/locks`)).json();
    expect(locks.owners).toEqual([]);
    expect(locks.lockers.entries).toEqual([expect.objectContaining({ cookie: 'maintenance', managed: false, service: false })]);
    const r = await inject('DELETE', `${base}/adv/locks?confirm=adv`);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().broken).toEqual([expect.objectContaining({ kind: 'advisory', cookie: 'maintenance' })]);
    expect(r.json().fenced).toEqual([locks.lockers.entries[0].address]);
    expect((await inject('GET', `${base}/adv/locks`)).json().lockers.entries).toEqual([]);
    expect((await inject('GET', `${base}/nope/locks`)).statusCode).toBe(404);
    expect((await inject('DELETE', `${base}/nope/locks?confirm=nope`)).statusCode).toBe(404);
  });

  it('scopes: reading the locks needs read, breaking them admin (write is 403 naming the scope); sparsify needs write', async () => {
    const [READ, WRITE, ADMIN] = ['locks-read-0123456789abcdef', 'locks-write-0123456789abcdef', 'locks-admin-0123456789abcdef'];
    const auth = TokenStore.parse(`${READ} read * console\n${WRITE} write * provisioner\n${ADMIN} admin * operator\n`);
    const secured = await testApp('rbdapi', { auth });
    try {
      const as = (token: string, method: 'GET' | 'POST' | 'DELETE', url: string) =>
        secured.app.inject({ method, url, headers: { authorization: `Bearer ${token}` } });
      expect((await as(READ, 'GET', `${base}/adv/locks`)).statusCode).toBe(200);
      const w = await as(WRITE, 'DELETE', `${base}/adv/locks?confirm=adv`);
      expect(w.statusCode).toBe(403);
      expect(w.json().requiredScope).toBe('admin');
      expect((await as(READ, 'POST', `${base}/adv/sparsify`)).statusCode).toBe(403);
      expect((await as(ADMIN, 'DELETE', `${base}/adv/locks?confirm=adv`)).json()).toEqual({ broken: [], fenced: [] });
    } finally {
      await secured.close();
    }
  });
});
