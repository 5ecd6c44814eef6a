// The only OSD lost mid-load — frozen (SIGSTOP) and killed (SIGKILL) — on a cluster of this file's own (other
// monitor ports, v1 below the 6800-7300 range OSDs bind to; its OSD on BlueStore in a file, so a killed OSD
// comes back with its data, unlike memstore):
// reads and writes answer 504 CEPH_TIMEOUT within the configured timeout, no request hangs, /readyz stays 200
// while the monitors answer, nothing is left half-created, and everything works again within 10 s after the
// OSD returns. Then the same with the service process restarted while the OSD is gone.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CephClient } from '../../src/ceph/client.js';
import { buildApp } from '../../src/http/app.js';
import { cliOn } from '../helpers/cli.js';
import { startService, type Service } from '../helpers/service.js';

const DIR = resolve('.ceph/faults-osd');
const CONF = `${DIR}/ceph.conf`;
const KEY_ID = 'rbdapi-pools';
const KEYRING = `${DIR}/ceph.client.${KEY_ID}.keyring`;
const OP_TIMEOUT_S = 3;
const DEADLINE_MS = OP_TIMEOUT_S * 1500; // a request's Ceph work is cut at 1.5 × CEPH_OP_TIMEOUT
const SLACK_MS = 2000;
// BlueStore on a sparse file instead of the script's memstore (CEPH_ARGS overrides ceph.conf for every daemon)
const CEPH_ARGS = '--osd-objectstore=bluestore --bluestore-block-size=4294967296 --osd-memory-target=939524096 '
  + '--bluestore-cache-autotune=false --bluestore-cache-size=134217728';
const clusterEnv = { ...process.env, MON_V2_PORT: '3395', MON_V1_PORT: '6795', CREATE_POOLS: 'rbd', CEPH_ARGS };
const script = (cmd: string) => execFileSync('bash', ['scripts/ceph-cluster.sh', cmd, DIR], { stdio: ['ignore', 'ignore', 'inherit'], env: clusterEnv });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const osdPid = (): number => Number(readFileSync(`${DIR}/run/osd.0.pid`, 'utf8').trim());
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch { return false; }
};
let frozen: number | undefined;
function freezeOsd(): void { frozen = osdPid(); process.kill(frozen, 'SIGSTOP'); }
function thawOsd(): void { if (frozen !== undefined) process.kill(frozen, 'SIGCONT'); frozen = undefined; }
async function killOsd(): Promise<void> {
  const pid = osdPid();
  process.kill(pid, 'SIGKILL');
  while (alive(pid)) await sleep(50);
}
/** start the OSD again on its BlueStore data, as ceph-cluster.sh starts it */
function startOsd(): void {
  const r = spawnSync('ceph-osd', ['-c', CONF, '-i', '0'], { env: { ...clusterEnv, MALLOC_ARENA_MAX: '2' }, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`ceph-osd did not start: ${r.stderr}`);
}
const { rbd: rbdCli, rados: radosCli, ceph: cephCli } = cliOn(CONF, 30_000);

interface Answer { label: string; status: number; code?: string; ms: number }

type Send = (method: 'GET' | 'PUT' | 'PATCH' | 'DELETE', url: string, body?: unknown) => Promise<{ status: number; body: any }>;

async function timed(send: Send, label: string, method: 'GET' | 'PUT' | 'PATCH' | 'DELETE', url: string, body?: unknown): Promise<Answer> {
  const started = performance.now();
  const r = await send(method, url, body);
  // a problem's code, or for status 0 (no HTTP answer) the network error's code (ECONNREFUSED, ECONNRESET…)
  return { label, status: r.status, ms: performance.now() - started, ...((r.status >= 400 || r.status === 0) && r.body?.code ? { code: r.body.code as string } : {}) };
}

/** The load sent while the OSD is gone: image reads, listings, creates, resizes, deletes; a pool listing. */
function outageLoad(send: Send, tag: string): Promise<Answer[]> {
  const P = '/api/v1/pools/rbd/images';
  return Promise.all([
    ...Array.from({ length: 4 }, () => timed(send, 'read', 'GET', `${P}/before`)),
    ...Array.from({ length: 3 }, () => timed(send, 'read', 'GET', `${P}?details=true`)),
    ...Array.from({ length: 3 }, () => timed(send, 'read', 'GET', P)),
    ...Array.from({ length: 6 }, (_, i) => timed(send, 'write', 'PUT', `${P}/${tag}-${i}`, { size: '1MiB' })),
    timed(send, 'write', 'PATCH', `${P}/before`, { size: '2MiB' }),
    timed(send, 'write', 'DELETE', `${P}/victim-${tag}`),
  ]);
}

function checkOutage(answers: Answer[], where: string): void {
  console.log(`${where}:`, JSON.stringify(answers.map((a) => `${a.label} ${a.status}${a.code ? ` ${a.code}` : ''} ${Math.round(a.ms)}ms`)));
  for (const a of answers) {
    expect(a.ms, `${where}: ${a.label} answered within the deadline`).toBeLessThan(DEADLINE_MS + SLACK_MS);
    expect(a.status, `${where}: ${a.label}`).toBe(504);
    expect(a.code, `${where}: ${a.label}`).toBe('CEPH_TIMEOUT');
  }
}

/** Until an image read and a create both work again; ms since `from`. */
async function recovery(send: Send, tag: string, from: number): Promise<number> {
  for (let i = 0; performance.now() - from < 30_000; i++) {
    const [g, p] = await Promise.all([
      send('GET', '/api/v1/pools/rbd/images/before'),
      send('PUT', `/api/v1/pools/rbd/images/recover-${tag}-${i}`, { size: '1MiB' }),
    ]);
    if (g.status === 200 && (p.status === 201 || p.status === 200)) return performance.now() - from;
    await sleep(100);
  }
  return -1;
}

/**
 * Nothing half-made: every name tried during the outage is now a whole image (GET 200 with its size) or
 * absent (404) — never a leftover (409 IMAGE_INCOMPLETE) — and RADOS holds exactly the id and header objects
 * of the listed images. A PUT of each name then gives the image (201 or 200).
 */
async function checkNothingHalfMade(send: Send, tag: string, answers: Answer[]): Promise<void> {
  await sleep(1500); // let operations the OSD still had queued land
  const states: string[] = [];
  for (let i = 0; i < 6; i++) {
    const g = await send('GET', `/api/v1/pools/rbd/images/${tag}-${i}`);
    states.push(`${tag}-${i}: ${g.status}`);
    expect([200, 404], `${tag}-${i} after the outage (${g.body?.code ?? ''})`).toContain(g.status);
    if (g.status === 200) expect(g.body.size).toBe(1024 * 1024);
  }
  console.log(`${tag}: names tried during the outage →`, states.join(', '));
  const victim = await send('GET', `/api/v1/pools/rbd/images/victim-${tag}`);
  expect([200, 404]).toContain(victim.status);
  const before = await send('GET', '/api/v1/pools/rbd/images/before');
  expect(before.status).toBe(200);
  expect([1024 * 1024, 2 * 1024 * 1024]).toContain(before.body.size);
  // RADOS: one rbd_id.<name> per listed image, one rbd_header.<id> per listed image, nothing else of images
  const listed = JSON.parse(rbdCli('ls', '-l', '--format', 'json', 'rbd')) as Array<{ image: string }>;
  const names = new Set(listed.map((l) => l.image));
  const objects = radosCli('-p', 'rbd', 'ls').split('\n').filter(Boolean);
  const idObjects = objects.filter((o) => o.startsWith('rbd_id.')).map((o) => o.slice('rbd_id.'.length)).sort();
  expect(idObjects).toEqual([...names].sort());
  const headers = objects.filter((o) => o.startsWith('rbd_header.'));
  expect(headers.length).toBe(names.size);
  for (let i = 0; i < 6; i++) {
    const p = await send('PUT', `/api/v1/pools/rbd/images/${tag}-${i}`, { size: '1MiB' });
    expect([200, 201], `PUT ${tag}-${i} after the outage`).toContain(p.status);
  }
  void answers;
}

beforeAll(() => {
  if (existsSync(`${DIR}/run/osd.0.pid`)) {
    try { process.kill(osdPid(), 'SIGCONT'); } catch { /* not running */ }
  }
  script('up');
}, 180_000);

afterAll(() => {
  thawOsd();
  try { if (!alive(osdPid())) startOsd(); } catch { /* no pid file */ }
  script('destroy');
}, 120_000);

describe('the OSD lost under load (in-process app on a cluster of its own)', () => {
  let ceph: CephClient;
  let app: FastifyInstance;
  let send: Send;

  beforeAll(async () => {
    ceph = new CephClient({
      confFile: CONF, clientId: KEY_ID, keyring: KEYRING,
      mountTimeout: OP_TIMEOUT_S, monOpTimeout: OP_TIMEOUT_S, osdOpTimeout: OP_TIMEOUT_S,
      operationTimeoutMs: DEADLINE_MS, backoffMinMs: 200, backoffMaxMs: 1000,
    });
    await ceph.ready();
    app = await buildApp({ ceph, settings: { readyCacheMs: 200, readyTimeoutMs: 1000 } });
    await app.ready();
    send = async (method, url, body) => {
      const r = await app.inject({ method, url, ...(body !== undefined ? { payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) });
      return { status: r.statusCode, body: r.body ? JSON.parse(r.body) : undefined };
    };
    expect((await send('PUT', '/api/v1/pools/rbd/images/before', { size: '1MiB' })).status).toBeLessThan(300);
  }, 60_000);

  afterAll(async () => {
    thawOsd();
    await app?.close();
    await ceph?.close();
  });

  async function readyDuring(ms: number): Promise<number[]> {
    const out: number[] = [];
    const end = performance.now() + ms;
    while (performance.now() < end) {
      const started = performance.now();
      out.push((await send('GET', '/readyz')).status);
      expect(performance.now() - started).toBeLessThan(1500);
      await sleep(300);
    }
    return out;
  }

  it('SIGSTOP: 504 CEPH_TIMEOUT within the deadline, /readyz 200 (monitors answer), back within 10 s of SIGCONT, nothing half-made', async () => {
    expect((await send('PUT', '/api/v1/pools/rbd/images/victim-stop', { size: '1MiB' })).status).toBeLessThan(300);
    freezeOsd();
    let answers: Answer[];
    try {
      let ready: number[];
      [answers, ready] = await Promise.all([outageLoad(send, 'stop'), readyDuring(DEADLINE_MS)]);
      checkOutage(answers, 'OSD stopped (SIGSTOP)');
      expect(ready.every((s) => s === 200), `readyz during the outage: ${ready.join(',')}`).toBe(true);
      expect((await send('GET', '/healthz')).status).toBe(200);
      expect((await send('GET', '/api/v1/pools')).status).toBe(200); // monitors only
    } finally {
      thawOsd();
    }
    const back = performance.now();
    const took = await recovery(send, 'stop', back);
    console.log(`SIGSTOP: working again ${Math.round(took)} ms after SIGCONT`);
    expect(took).toBeGreaterThanOrEqual(0);
    expect(took).toBeLessThan(10_000);
    await checkNothingHalfMade(send, 'stop', answers);
  }, 120_000);

  it('SIGKILL: the same, and back within 10 s of the OSD being started again (its data intact)', async () => {
    expect((await send('PUT', '/api/v1/pools/rbd/images/victim-kill', { size: '1MiB' })).status).toBeLessThan(300);
    await killOsd();
    let answers: Answer[];
    let back: number;
    try {
      let ready: number[];
      [answers, ready] = await Promise.all([outageLoad(send, 'kill'), readyDuring(DEADLINE_MS)]);
      checkOutage(answers, 'OSD killed (SIGKILL)');
      expect(ready.every((s) => s === 200), `readyz during the outage: ${ready.join(',')}`).toBe(true);
    } finally {
      back = performance.now();
      startOsd();
    }
    const took = await recovery(send, 'kill', back);
    console.log(`SIGKILL: working again ${Math.round(took)} ms after ceph-osd was started`);
    expect(took).toBeGreaterThanOrEqual(0);
    expect(took).toBeLessThan(10_000);
    await checkNothingHalfMade(send, 'kill', answers);
  }, 120_000);
});

describe('the service process restarted while the OSD is gone', () => {
  let svc: Service | undefined;
  const env = {
    CEPH_CONF: CONF, CEPH_CLIENT_ID: KEY_ID, CEPH_KEYRING: KEYRING,
    CEPH_OP_TIMEOUT: String(OP_TIMEOUT_S), CEPH_CONNECT_TIMEOUT: String(OP_TIMEOUT_S),
    READY_CACHE_MS: '200', READY_TIMEOUT_MS: '1000', SHUTDOWN_TIMEOUT_MS: '8000', RATE_LIMIT_PER_SECOND: '0',
  };
  const sender = (url: string): Send => async (method, path, body) => {
    try {
      const r = await fetch(`${url}${path}`, {
        method, signal: AbortSignal.timeout(30_000),
        ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
      });
      const text = await r.text();
      return { status: r.status, body: text ? JSON.parse(text) : undefined };
    } catch (e) {
      const cause = (e as Error & { cause?: { code?: string } }).cause;
      return { status: 0, body: { code: cause?.code ?? (e as Error).message } };
    }
  };
  afterAll(async () => {
    thawOsd();
    try { if (!alive(osdPid())) startOsd(); } catch { /* no pid file */ }
    await svc?.stop(5000);
  });

  // The OSD is killed here, not frozen: a restart of the service takes ~15 s, and a lone OSD frozen longer than
  // the PG read lease (0.8 x osd_heartbeat_grace = 16 s) keeps its PGs "waiting for readable" long after SIGCONT
  // (30 s and more seen, whatever the client does) — Ceph's lease, not the service; docs/security.md.
  it('stops cleanly during the outage; a new process starts, is ready, answers 504 within the deadline, recovers within 10 s', async () => {
    svc = await startService(env);
    let send = sender(svc.url);
    expect((await send('PUT', '/api/v1/pools/rbd/images/victim-restart', { size: '1MiB' })).status).toBeLessThan(300);
    const before = await send('GET', '/api/v1/pools/rbd/images/before');
    if (before.status === 404) expect((await send('PUT', '/api/v1/pools/rbd/images/before', { size: '1MiB' })).status).toBe(201);
    await killOsd();
    // requests in flight when SIGTERM arrives: they end (504) and the process exits within SHUTDOWN_TIMEOUT_MS
    const inFlight = outageLoad(send, 'restart-old');
    // SIGTERM only once the requests are inside the service (their Ceph calls running or queued: each of the
    // 18 holds at least one while the OSD is gone), so that a request the client had not sent yet (refused
    // after SIGTERM, status 0) is not mistaken for a lost one. (Waiting for 12 let a CI run send SIGTERM with
    // two not yet in: one answered 503 SHUTTING_DOWN, one got no HTTP answer.)
    const waitStarted = performance.now();
    for (;;) {
      const text = await fetch(`${svc.url}/metrics`).then((r) => r.text(), () => '');
      const calls = ['rbdapi_ceph_calls_in_flight', 'rbdapi_ceph_calls_queued']
        .reduce((sum, name) => sum + Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? 0), 0);
      if (calls >= 18 || performance.now() - waitStarted > 2500) break;
      await sleep(50);
    }
    const stopStarted = performance.now();
    svc.child.kill('SIGTERM');
    const exit = await svc.exited;
    const stopMs = performance.now() - stopStarted;
    const old = await inFlight;
    console.log(`old process: exit ${exit.code ?? exit.signal} ${Math.round(stopMs)} ms after SIGTERM;`,
      JSON.stringify(old.map((a) => `${a.status}${a.code ? ` ${a.code}` : ''}`)));
    expect(stopMs).toBeLessThan(8000 + SLACK_MS);
    for (const a of old) expect(a.ms).toBeLessThan(DEADLINE_MS + SLACK_MS);
    // 504 (its Ceph call timed out), 503 SHUTTING_DOWN (it arrived after SIGTERM), or — only for a request that
    // never reached the service because the listener was already closed — a refused connection
    for (const a of old) expect(a.status === 0 ? a.code : a.status, JSON.stringify(a)).toBeOneOf([504, 503, 'ECONNREFUSED']);

    // a new process while the OSD is still gone: it starts, /readyz 200 (startService waits for it)
    const startedAt = performance.now();
    svc = await startService(env, { readyTimeoutMs: 30_000 });
    console.log(`new process ready ${Math.round(performance.now() - startedAt)} ms after start with the OSD stopped`);
    send = sender(svc.url);
    const answers = await outageLoad(send, 'restart');
    checkOutage(answers, 'new process, OSD stopped');
    expect((await send('GET', '/readyz')).status).toBe(200);

    const back = performance.now();
    startOsd();
    const took = await recovery(send, 'restart', back);
    console.log(`restart: working again ${Math.round(took)} ms after ceph-osd was started`);
    if (took < 0) {
      const cli = (...args: string[]) => { try { return cephCli(...args); } catch (e) { return String(e); } };
      console.log(`health: ${cli('health', 'detail')}\nops: ${cli('tell', 'osd.0', 'dump_ops_in_flight').slice(0, 6000)}\nblocked: ${cli('tell', 'osd.0', 'dump_blocked_ops').slice(0, 3000)}`);
    }
    if (took < 0) console.log(`service output (tail):\n${svc.output().split('\n').filter((l) => !l.includes('"audit":true')).slice(-30).join('\n')}`);
    expect(took).toBeGreaterThanOrEqual(0);
    expect(took).toBeLessThan(10_000);
    await checkNothingHalfMade(send, 'restart', answers);
    await checkNothingHalfMade(send, 'restart-old', old);
  }, 180_000);
});
