// RBD mirroring between two real clusters, each with its rbd-mirror daemon (scripts/ceph-sites.sh, booted by the
// `mirror` project's global setup). The service runs on each site with the least-privilege mirroring key. The
// tests run in order on one pool pair: peers by bootstrap token through the API only, precise refusals, a
// snapshot-mode and a journal-mode image replicated byte for byte, a planned failover and failback, then an
// unplanned failover with site A frozen (SIGSTOP) and its return as secondary. Every wait polls a state.
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CephConnection } from '../../src/ceph/connection.js';
import { Pools } from '../../src/ceph/pools.js';
import type { TestApp } from '../helpers/app.js';
import { uniqueName } from '../helpers/cluster.js';
import { eventually } from '../helpers/eventually.js';
import { exportOn, rbdOn, siteAdmin, siteApp, signalSite, type SiteName } from '../helpers/sites.js';

const SIZE = 4 * 2 ** 20;
const POOL = uniqueName('mirror');
const base = `/api/v1/pools/${POOL}`;

let a: TestApp;
let b: TestApp;
const admins: CephConnection[] = [];
const data: Record<string, Buffer> = {};

interface Reply { status: number; body: Record<string, unknown> }

async function call(app: FastifyInstance, method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, body?: unknown): Promise<Reply> {
  const r = await app.inject({
    method, url,
    ...(body !== undefined ? { payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
  });
  return { status: r.statusCode, body: r.body ? JSON.parse(r.body) as Record<string, unknown> : {} };
}
const on = (site: SiteName) => (site === 'site-a' ? a : b).app;

/** Write `bytes` at offset 0 of an existing image through the API (a Content-Range part upload). */
async function writeAt(site: SiteName, image: string, bytes: Buffer, offset = 0): Promise<void> {
  const r = await on(site).inject({
    method: 'PUT', url: `${base}/images/${image}/content`, payload: bytes,
    headers: { 'content-type': 'application/octet-stream', 'content-range': `bytes ${offset}-${offset + bytes.length - 1}/${SIZE}` },
  });
  expect(r.statusCode, r.body).toBe(200);
}

/** The local entry of an image's global status on `site`. */
async function localStatus(site: SiteName, image: string): Promise<Record<string, unknown>> {
  const r = await call(on(site), 'GET', `${base}/images/${image}/mirroring`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  const sites = r.body.sites as Record<string, unknown>[];
  return sites.find((s) => s.local === true) ?? {};
}

/**
 * Wait until the secondary `site` reports the image replayed up to date (snapshot mode: the last primary mirror
 * snapshot, taken at or after `since` seconds, is synced; journal mode: no entries behind) and holds `expected`.
 */
async function replayed(site: SiteName, image: string, expected: Buffer, since: number, timeoutMs = 90_000): Promise<Record<string, unknown>> {
  return eventually(async () => {
    const s = await localStatus(site, image);
    const replay = s.replay as Record<string, number> | null;
    if (replay === null) {
      // the primary was demoted and the demotion replayed here: the daemon stops, saying so (both sites non-primary)
      expect(s.description, JSON.stringify(s)).toBe('remote image is not primary');
    } else if ('remote_snapshot_timestamp' in replay) {
      expect(s.state, JSON.stringify(s)).toBe('replaying');
      expect(replay.remote_snapshot_timestamp).toBeGreaterThanOrEqual(since);
      expect(s.secondsBehind).toBe(0);
      expect(replay.replay_state).toBe('idle');
    } else {
      expect(s.state, JSON.stringify(s)).toBe('replaying');
      expect(s.entriesBehind).toBe(0);
    }
    expect(exportOn(site, `${POOL}/${image}`).equals(expected)).toBe(true);
    return s;
  }, { timeoutMs, intervalMs: 1000, what: `${image} replayed on ${site}` });
}

const now = (): number => Math.floor(Date.now() / 1000) - 1;

beforeAll(async () => {
  for (const site of ['site-a', 'site-b'] as const) {
    const conn = await siteAdmin(site);
    admins.push(conn);
    await new Pools(conn).create(POOL, { pgNum: 8 });
  }
  [a, b] = await Promise.all([siteApp('site-a'), siteApp('site-b')]);
});

afterAll(async () => {
  signalSite('site-a', 'SIGCONT'); // never leave a site frozen
  await Promise.allSettled([a?.close(), b?.close()]);
  for (const conn of admins) {
    if (process.env.MIRROR_KEEP_POOL !== '1') await new Pools(conn).delete(POOL).catch(() => undefined);
    await conn.close();
  }
});

describe('mirroring between two sites', () => {
  it('pool mode and peers by bootstrap token, through the API only; a bad token imports nothing', async () => {
    for (const [site, name] of [['site-a', 'site-a'], ['site-b', 'site-b']] as const) {
      const r = await call(on(site), 'PUT', `${base}/mirroring`, { mode: 'image', siteName: name });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body).toEqual({ mode: 'image', siteName: name });
    }
    const created = await call(a.app, 'POST', `${base}/mirroring/bootstrap-token`);
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    const token = created.body.token as string;
    expect(token.length).toBeGreaterThan(100);

    for (const bad of ['not a token', Buffer.from('{"fsid":"x"}').toString('base64')]) {
      const r = await call(b.app, 'POST', `${base}/mirroring/peers`, { token: bad, direction: 'rx-tx' });
      expect(r.status).toBe(400);
      expect(r.body.code).toBe('VALIDATION_FAILED');
      expect((r.body.errors as { path: string }[])[0]!.path).toBe('token');
    }
    expect((await call(b.app, 'GET', `${base}/mirroring/peers`)).body.items).toEqual([]);

    const imported = await call(b.app, 'POST', `${base}/mirroring/peers`, { token, direction: 'rx-tx' });
    expect(imported.status, JSON.stringify(imported.body)).toBe(201);
    const peer = (imported.body.items as Record<string, unknown>[])[0]!;
    expect(peer).toMatchObject({ siteName: 'site-a', direction: 'rx-tx', clientName: 'client.rbd-mirror-peer' });
    expect((await call(b.app, 'GET', `${base}/mirroring/peers/${peer.uuid as string}`)).body).toMatchObject({ siteName: 'site-a' });
    // rx-tx registered B on A as well
    const onA = await call(a.app, 'GET', `${base}/mirroring/peers`);
    expect((onA.body.items as Record<string, unknown>[]).map((p) => p.siteName)).toEqual(['site-b']);
  });

  it('refuses precisely: a non-mirrored image, a promote of a primary, a demote of a secondary', async () => {
    const made = await a.app.inject({ method: 'PUT', url: `${base}/images/plain`, ...{ payload: JSON.stringify({ size: '1MiB' }), headers: { 'content-type': 'application/json' } } });
    expect(made.statusCode, made.body).toBe(201);
    const got = await call(a.app, 'GET', `${base}/images/plain`);
    expect(got.body.mirroring).toBeNull();
    for (const verb of ['promote', 'demote', 'resync', 'snapshots']) {
      const r = await call(a.app, 'POST', `${base}/images/plain/mirroring/${verb}`);
      expect(r.status, verb).toBe(409);
      expect(r.body.code).toBe('MIRRORING_DISABLED');
    }
    expect((await call(a.app, 'GET', `${base}/images/plain/mirroring`)).body.code).toBe('MIRRORING_DISABLED');
    expect((await call(a.app, 'POST', `${base}/images/nosuch/mirroring/promote`)).status).toBe(404);
  });

  it('a snapshot-mode and a journal-mode image written on A replicate to B byte for byte', async () => {
    for (const [image, mode] of [['snap1', 'snapshot'], ['jrnl1', 'journal']] as const) {
      data[image] = randomBytes(SIZE);
      const up = await a.app.inject({ method: 'PUT', url: `${base}/images/${image}/content`, payload: data[image],
        headers: { 'content-type': 'application/octet-stream' } });
      expect(up.statusCode, up.body).toBe(201);
      const r = await call(a.app, 'PUT', `${base}/images/${image}/mirroring`, { enabled: true, mode });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body).toMatchObject({ changed: true, mirroring: { mode, state: 'enabled', primary: true } });
      // enabling again changes nothing; the other mode is a conflict
      expect((await call(a.app, 'PUT', `${base}/images/${image}/mirroring`, { enabled: true, mode })).body.changed).toBe(false);
      const other = await call(a.app, 'PUT', `${base}/images/${image}/mirroring`, { enabled: true, mode: mode === 'journal' ? 'snapshot' : 'journal' });
      expect(other.body.code).toBe('MIRROR_MODE_CONFLICT');
    }
    // an image for the schedule test, scheduled now: the mgr learns of new mirrored images once a minute
    expect((await call(a.app, 'PUT', `${base}/images/sched1`, { size: '1MiB' })).status).toBe(201);
    expect((await call(a.app, 'PUT', `${base}/images/sched1/mirroring`, { enabled: true, mode: 'snapshot' })).status).toBe(200);
    const scheduled = await call(a.app, 'POST', `${base}/images/sched1/mirroring/schedules`, { interval: '1m' });
    expect(scheduled.status, JSON.stringify(scheduled.body)).toBe(201);
    expect(scheduled.body.items).toEqual([{ level: { spec: POOL, image: 'sched1' }, interval: '1m', startTime: null }]);

    const got = await call(a.app, 'GET', `${base}/images/jrnl1`);
    expect(got.body.features).toEqual(expect.arrayContaining(['exclusive-lock', 'journaling']));
    expect(got.body.mirroring).toMatchObject({ mode: 'journal', primary: true });
    // the journal-mode image takes no mirror snapshots; a primary is not promoted again
    expect((await call(a.app, 'POST', `${base}/images/jrnl1/mirroring/snapshots`)).body.code).toBe('MIRROR_MODE_CONFLICT');
    const again = await call(a.app, 'POST', `${base}/images/snap1/mirroring/promote`);
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('MIRROR_IMAGE_PRIMARY');

    // overwrite part of each after enabling, then a mirror snapshot of the snapshot-mode one
    for (const image of ['snap1', 'jrnl1']) {
      const part = randomBytes(64 * 1024);
      await writeAt('site-a', image, part, 4096);
      part.copy(data[image]!, 4096);
    }
    const since = now();
    const snap = await call(a.app, 'POST', `${base}/images/snap1/mirroring/snapshots`);
    expect(snap.status, JSON.stringify(snap.body)).toBe(201);
    expect(snap.body.snapshotId).toEqual(expect.any(Number));

    const [s, j] = await Promise.all([replayed('site-b', 'snap1', data.snap1!, since), replayed('site-b', 'jrnl1', data.jrnl1!, 0)]);
    expect(s.up).toBe(true);
    expect(j.up).toBe(true);
    // B's copies are secondaries: its listing filter and image representation say so
    await eventually(async () => {
      const list = await call(b.app, 'GET', `${base}/images?mirroring=enabled`);
      expect((list.body.items as { name: string; mirroring: { primary: boolean } }[]).map((i) => [i.name, i.mirroring.primary]))
        .toEqual([['jrnl1', false], ['sched1', false], ['snap1', false]]);
    }, { timeoutMs: 60_000, intervalMs: 1000, what: 'the mirrored images listed on B' });
    const plainOnA = await call(a.app, 'GET', `${base}/images?mirroring=disabled`);
    expect((plainOnA.body.items as { name: string }[]).map((i) => i.name)).toEqual(['plain']);
    expect((await call(b.app, 'POST', `${base}/images/snap1/mirroring/demote`)).body.code).toBe('MIRROR_IMAGE_NOT_PRIMARY');
    // the pool summary counts them
    await eventually(async () => {
      const summary = await call(b.app, 'GET', `${base}/mirroring/status`);
      expect(summary.body).toMatchObject({ total: 3, states: { replaying: 3 }, imageHealth: 'ok' });
      expect(summary.body.daemons).toBeNull(); // the least-privilege key may not read the mgr's service map
    }, { timeoutMs: 60_000, intervalMs: 1000, what: 'the pool summary on B' });
  }, 180_000);

  it('mirror-snapshot schedules at pool and image level; an image schedule really takes mirror snapshots', async () => {
    const mirrorSnapshots = (): number => (JSON.parse(rbdOn('site-a', 'snap', 'ls', '--all', '--format', 'json', `${POOL}/sched1`)) as
      { namespace: { type: string } }[]).filter((x) => x.namespace.type === 'mirror').length;
    const pool = await call(a.app, 'POST', `${base}/mirroring/schedules`, { interval: '1d', startTime: '02:30' });
    expect(pool.status, JSON.stringify(pool.body)).toBe(201);
    expect(pool.body.items).toEqual([{ level: { spec: POOL, image: null }, interval: '1d', startTime: '02:30:00' }]);
    expect((await call(a.app, 'DELETE', `${base}/mirroring/schedules/1d`)).status).toBe(204);
    expect((await call(a.app, 'DELETE', `${base}/mirroring/schedules/1d`)).status).toBe(404);
    expect((await call(a.app, 'POST', `${base}/mirroring/schedules`, { interval: 'often' })).status).toBe(400);

    // sched1 was scheduled every minute when it was made (the replication test): the mgr takes mirror snapshots of it
    await eventually(async () => {
      const r = await call(a.app, 'GET', `${base}/images/sched1/mirroring/schedules`);
      expect(r.body.items).toEqual([{ level: { spec: POOL, image: 'sched1' }, interval: '1m', startTime: null }]);
      expect(r.body.scheduled).toEqual([{ image: `${POOL}/sched1`, scheduleTime: expect.stringMatching(/Z$/) }]);
      expect(mirrorSnapshots()).toBeGreaterThan(1); // the first one is enable's
    }, { timeoutMs: 150_000, intervalMs: 2000, what: 'a scheduled mirror snapshot of sched1' });
    expect((await call(a.app, 'DELETE', `${base}/images/sched1/mirroring/schedules/1m`)).status).toBe(204);
    expect((await call(a.app, 'GET', `${base}/images/sched1/mirroring/schedules`)).body.items).toEqual([]);
  }, 180_000);

  it('planned failover and failback: demote A, promote B, write on B, demote B, promote A, the data is back on A', async () => {
    const image = 'snap1';
    // a promote without force while A is still primary is refused
    const early = await call(b.app, 'POST', `${base}/images/${image}/mirroring/promote`);
    expect(early.body.code).toBe('MIRROR_PEER_PRIMARY');

    let since = now();
    expect((await call(a.app, 'POST', `${base}/images/${image}/mirroring/demote`)).body).toMatchObject({ primary: false });
    // B may promote once it has replayed the demotion (librbd lets a snapshot-mode image be promoted as soon as its
    // own last mirror snapshot is a demotion: wait until the status shows the peer's demotion synced first)
    await replayed('site-b', image, data[image]!, since);
    const promoted = await eventually(async () => {
      const r = await call(b.app, 'POST', `${base}/images/${image}/mirroring/promote`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body;
    }, { timeoutMs: 90_000, intervalMs: 1000, what: 'promote on B after the demotion on A' });
    expect(promoted).toMatchObject({ primary: true });

    const part = randomBytes(32 * 1024);
    await writeAt('site-b', image, part, 1 << 20);
    part.copy(data[image]!, 1 << 20);
    // A follows B now: wait until it replays B's writes (a mirror snapshot taken on B) before failing back — a
    // demotion on B that A's daemon never saw B primary before is not replayed (both sites would stay demoted)
    since = now();
    expect((await call(b.app, 'POST', `${base}/images/${image}/mirroring/snapshots`)).status).toBe(201);
    await replayed('site-a', image, data[image]!, since);
    since = now();
    expect((await call(b.app, 'POST', `${base}/images/${image}/mirroring/demote`)).body).toMatchObject({ primary: false });
    await replayed('site-a', image, data[image]!, since);
    await eventually(async () => {
      const r = await call(a.app, 'POST', `${base}/images/${image}/mirroring/promote`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    }, { timeoutMs: 90_000, intervalMs: 1000, what: 'promote on A after the demotion on B' });
    expect(exportOn('site-a', `${POOL}/${image}`).equals(data[image]!)).toBe(true);
    // and A replicates to B again
    since = now();
    await call(a.app, 'POST', `${base}/images/${image}/mirroring/snapshots`);
    await replayed('site-b', image, data[image]!, since);
  }, 240_000);

  it('unplanned failover: site A frozen, force-promote on B answers in bounded time; A comes back as secondary with B\'s data', async () => {
    const image = 'snap1';
    signalSite('site-a', 'SIGSTOP');
    try {
      const started = Date.now();
      const r = await call(b.app, 'POST', `${base}/images/${image}/mirroring/promote?force=true`);
      const took = Date.now() - started;
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body).toMatchObject({ primary: true });
      expect(took).toBeLessThan(45_000);
      // B is writable
      const part = randomBytes(16 * 1024);
      await writeAt('site-b', image, part, 2 << 20);
      part.copy(data[image]!, 2 << 20);
    } finally {
      signalSite('site-a', 'SIGCONT');
    }
    // A still believes it is primary (split brain): demote it, resync it from B
    await eventually(async () => {
      const r = await call(a.app, 'POST', `${base}/images/${image}/mirroring/demote`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    }, { timeoutMs: 60_000, intervalMs: 1000, what: 'demote on A after it thawed' });
    const resync = await call(a.app, 'POST', `${base}/images/${image}/mirroring/resync`);
    expect(resync.status, JSON.stringify(resync.body)).toBe(202);
    const since = now();
    await call(b.app, 'POST', `${base}/images/${image}/mirroring/snapshots`);
    await replayed('site-a', image, data[image]!, since, 150_000);
  }, 300_000);
});
