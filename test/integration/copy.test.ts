// POST …/copy: copies and deep copies compared byte for byte with `rbd export`, snapshots listed on the
// destination, the destination invisible until complete, cancel and kill -9 leave nothing behind.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect } from 'vitest';
import { usePoolApp, type TestPool } from '../fixtures.js';
import { json, type TestApp } from '../helpers/app.js';
import { clusterDir } from '../helpers/cluster.js';
import { cliSyncBytes, rbdSync as rbd } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { startService, type Service } from '../helpers/service.js';
import { waitTask as waitTaskState, type TaskJson } from '../helpers/wait-task.js';

const it = usePoolApp({ prefix: 'copy', key: 'rbdapi' });
let t: TestApp;
let pool: TestPool;
let base: string;
let work: string;
const services: Service[] = [];
const MiB = 1024 * 1024;

const exportImage = (spec: string): Buffer => cliSyncBytes('rbd', ['--no-progress', 'export', spec, '-']);
const ls = (ns?: string): string[] => rbd('ls', ...(ns ? ['--namespace', ns] : []), pool.name).split('\n').filter(Boolean).sort();
const snapNames = (spec: string): string[] => (JSON.parse(rbd('snap', 'ls', '--format', 'json', spec)) as { name: string }[]).map((s) => s.name);

/** Import `bytes` of random data as a new image. */
function importRandom(name: string, bytes: number, objectSize = '4M'): void {
  const f = join(work, `${name}.bin`);
  writeFileSync(f, randomBytes(bytes));
  rbd('import', '--no-progress', '--object-size', objectSize, f, `${pool.name}/${name}`);
  rmSync(f);
}

/** The task's view once `until` holds (default: it ended); fails past `ms`. */
const waitTask = async (id: string, until: (s: string) => boolean = (s) => ['succeeded', 'failed', 'cancelled'].includes(s), ms = 120_000) =>
  (await waitTaskState(t.app, id, ms, (task) => until(task.state))).task as TaskJson & { error: { code: string; detail: string } };

async function copy(source: string, body: unknown, scope = base) {
  return t.app.inject({ method: 'POST', url: `${scope}/${source}/copy`, ...json(body) });
}

it.beforeAll(({ pool: p, replicas }) => {
  pool = p; [t] = replicas as [TestApp];
  base = `/api/v1/pools/${pool.name}/images`;
  work = mkdtempSync(join(tmpdir(), 'rbdapi-copy-'));
  importRandom('src', 24 * MiB);
  rbd('snap', 'create', `${pool.name}/src@s1`);
  rbd('bench', '--io-type', 'write', '--io-size', '4K', '--io-total', '1M', '--io-pattern', 'rand', `${pool.name}/src`);
  rbd('snap', 'create', `${pool.name}/src@s2`);
  rbd('bench', '--io-type', 'write', '--io-size', '4K', '--io-total', '1M', '--io-pattern', 'rand', `${pool.name}/src`);
  rbd('image-meta', 'set', `${pool.name}/src`, 'owner', 'alice');
  rbd('namespace', 'create', `${pool.name}/tenant`);
});

afterAll(async () => {
  for (const s of services) if (s.child.exitCode === null) s.child.kill('SIGKILL');
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('copy', () => {
  it('202 + task; the copy has the same bytes as the source (rbd export), no snapshots, the metadata', async () => {
    const r = await copy('src', { destination: { name: 'c1' } });
    expect(r.statusCode, r.body).toBe(202);
    expect(r.headers.location).toBe(`/api/v1/tasks/${r.json().id}`);
    expect(r.json()).toMatchObject({ action: 'image.copy', target: { pool: pool.name, namespace: '', image: 'src' } });
    // what the client asked for; not the runner's hidden temporary name
    expect(Object.keys(r.json().params).sort()).toEqual(['destination', 'objectSize', 'snapshots']);
    const task = await waitTask(r.json().id);
    expect((task as { params?: object }).params).not.toHaveProperty('temporary');
    expect(task.state, JSON.stringify(task)).toBe('succeeded');
    expect(task.progress).toBe(1);
    expect(exportImage(`${pool.name}/c1`).equals(exportImage(`${pool.name}/src`))).toBe(true);
    expect(snapNames(`${pool.name}/c1`)).toEqual([]);
    expect(rbd('image-meta', 'get', `${pool.name}/c1`, 'owner').trim()).toBe('alice');
    expect(ls()).toEqual(['c1', 'src']);
  });

  it('deep copy into another namespace: HEAD and every snapshot byte for byte, snapshots listed', async () => {
    const r = await copy('src', { destination: { namespace: 'tenant', name: 'd1' }, snapshots: true });
    expect(r.statusCode, r.body).toBe(202);
    const task = await waitTask(r.json().id);
    expect(task.state, JSON.stringify(task)).toBe('succeeded');
    const dst = `${pool.name}/tenant/d1`;
    expect(snapNames(dst)).toEqual(['s1', 's2']);
    expect(exportImage(dst).equals(exportImage(`${pool.name}/src`))).toBe(true);
    for (const s of ['s1', 's2']) expect(exportImage(`${dst}@${s}`).equals(exportImage(`${pool.name}/src@${s}`)), s).toBe(true);
    expect(ls('tenant')).toEqual(['d1']);
    const got = await t.app.inject({ method: 'GET', url: `/api/v1/pools/${pool.name}/namespaces/tenant/images/d1` });
    expect(got.statusCode).toBe(200);
    expect(got.json().snapshotCount).toBe(2);
  });

  it('a clone is flattened into its copy and its deep copy: same bytes, no parent', async () => {
    rbd('snap', 'create', `${pool.name}/src@base`);
    rbd('snap', 'protect', `${pool.name}/src@base`);
    rbd('clone', `${pool.name}/src@base`, `${pool.name}/child`);
    rbd('bench', '--io-type', 'write', '--io-size', '4K', '--io-total', '256K', '--io-pattern', 'rand', `${pool.name}/child`);
    rbd('snap', 'create', `${pool.name}/child@c1`);
    for (const [name, snapshots] of [['child-copy', false], ['child-deep', true]] as const) {
      const r = await copy('child', { destination: { namespace: 'tenant', name }, snapshots });
      expect(r.statusCode, r.body).toBe(202);
      const done = await waitTask(r.json().id);
      expect(done.state, JSON.stringify(done)).toBe('succeeded');
      const info = JSON.parse(rbd('info', '--format', 'json', `${pool.name}/tenant/${name}`)) as { parent?: unknown };
      expect(info.parent, name).toBeUndefined();
      expect(exportImage(`${pool.name}/tenant/${name}`).equals(exportImage(`${pool.name}/child`)), name).toBe(true);
    }
    expect(snapNames(`${pool.name}/tenant/child-deep`)).toEqual(['c1']);
    expect(exportImage(`${pool.name}/tenant/child-deep@c1`).equals(exportImage(`${pool.name}/child@c1`))).toBe(true);
    for (const n of ['tenant/child-copy', 'tenant/child-deep', 'child']) rbd('snap', 'purge', `${pool.name}/${n}`);
    for (const n of ['tenant/child-copy', 'tenant/child-deep', 'child']) rbd('rm', '--no-progress', `${pool.name}/${n}`);
    rbd('snap', 'unprotect', `${pool.name}/src@base`);
    rbd('snap', 'rm', `${pool.name}/src@base`);
  });

  it('features and objectSize of the copy are honoured', async () => {
    const r = await copy('src', { destination: { name: 'c2' }, features: ['layering'], objectSize: '1MiB' });
    expect(r.statusCode, r.body).toBe(202);
    const done = await waitTask(r.json().id);
    expect(done.state, JSON.stringify(done)).toBe('succeeded');
    const info = JSON.parse(rbd('info', '--format', 'json', `${pool.name}/c2`)) as { features: string[]; object_size: number };
    expect(info.features).toEqual(['layering']);
    expect(info.object_size).toBe(MiB);
    expect(exportImage(`${pool.name}/c2`).equals(exportImage(`${pool.name}/src`))).toBe(true);
  });

  it('409 IMAGE_EXISTS when the destination exists; 404 for a missing source, pool or namespace; 400 for bad bodies', async () => {
    const exists = await copy('src', { destination: { name: 'c1' } });
    expect(exists.statusCode).toBe(409);
    expect(exists.json().code).toBe('IMAGE_EXISTS');
    expect((await copy('nope', { destination: { name: 'x' } })).json().code).toBe('IMAGE_NOT_FOUND');
    expect((await copy('src', { destination: { pool: 'no-such-pool-cp', name: 'x' } })).json().code).toBe('POOL_NOT_FOUND');
    expect((await copy('src', { destination: { namespace: 'nons', name: 'x' } })).json().code).toBe('NAMESPACE_NOT_FOUND');
    for (const body of [
      {}, { destination: {} }, { destination: { name: '.rbdapi-copy-0123' } }, { destination: { name: 'a/b' } },
      { destination: { name: 'x', namespace: 'a/b' } }, { destination: { name: 'x' }, snapshots: 'yes' },
      { destination: { name: 'x' }, features: ['fast-diff'] }, { destination: { name: 'x' }, objectSize: '3MiB' },
      { destination: { name: 'x' }, extra: 1 }, { destination: { name: 'x', other: 1 } },
    ]) {
      const r = await copy('src', body);
      expect(r.statusCode, JSON.stringify(body)).toBe(400);
    }
    expect(ls()).toEqual(['c1', 'c2', 'src']);
  });

  it('the destination is invisible until the copy is complete; a cancelled copy leaves nothing', async () => {
    importRandom('big', 32 * MiB, '4K');
    const r = await copy('big', { destination: { name: 'big-copy' } });
    expect(r.statusCode, r.body).toBe(202);
    const id = r.json().id as string;
    const running = await waitTask(id, (s) => s !== 'queued');
    expect(running.state).toBe('running');
    // 'running' is written before the copy has made its temporary (a loaded CI run looked too early once):
    // wait for the temporary to appear, the task still running
    await eventually(() => ls().some((n) => n.startsWith('.rbdapi-copy-')), { intervalMs: 50, what: 'the temporary' });
    expect((await waitTask(id, () => true)).state).toBe('running');
    const hidden = await t.app.inject({ method: 'GET', url: `${base}/big-copy` });
    expect(hidden.statusCode, hidden.body).toBe(404);
    expect(ls()).not.toContain('big-copy');
    // the temporary is there (rbd ls shows it) but the API neither lists nor counts it
    expect(ls().some((n) => n.startsWith('.rbdapi-copy-'))).toBe(true);
    const listed = await t.app.inject({ method: 'GET', url: `${base}?limit=1000&total=true` });
    expect(listed.json()).toMatchObject({ total: 4, items: [{ name: 'big' }, { name: 'c1' }, { name: 'c2' }, { name: 'src' }] });
    const cancel = await t.app.inject({ method: 'DELETE', url: `/api/v1/tasks/${id}` });
    expect([202, 204]).toContain(cancel.statusCode);
    const end = await waitTask(id);
    expect(end.state, JSON.stringify(end)).toBe('cancelled');
    expect(ls()).toEqual(['big', 'c1', 'c2', 'src']);
  });

  it('a copy whose service process is killed (kill -9) leaves no destination, and the task ends INTERRUPTED', async () => {
    const dir = clusterDir();
    const svc = await startService({
      CEPH_CONF: `${dir}/ceph.conf`, CEPH_CLIENT_ID: 'rbdapi', CEPH_KEYRING: `${dir}/ceph.client.rbdapi.keyring`,
      TASK_LEASE_MS: '3000', TASK_SCAN_MS: '500', MUTATION_LOCK_LEASE_MS: '3000',
    }, { entry: 'dist', readyTimeoutMs: 30_000 });
    services.push(svc);
    const started = await fetch(`${svc.url}${base}/big/copy`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ destination: { name: 'killed' }, snapshots: true }),
    });
    expect(started.status).toBe(202);
    const id = ((await started.json()) as { id: string }).id;
    // wait until the copy has written something under its temporary name
    await eventually(async () => {
      const task = (await (await fetch(`${svc.url}/api/v1/tasks/${id}`)).json()) as { state: string; progress: number };
      expect(task.state, 'the copy ended before it was killed').not.toBe('succeeded');
      expect(task.state === 'running' && task.progress > 0.05, `the copy did not progress: ${JSON.stringify(task)}`).toBe(true);
    }, { timeoutMs: 30_000, intervalMs: 50, what: 'the copy writing' });
    expect(ls().some((n) => n.startsWith('.rbdapi-copy-'))).toBe(true);
    svc.child.kill('SIGKILL');
    expect((await svc.exited).signal).toBe('SIGKILL');
    // this process's task engine takes the task over once the dead runner's lease has expired
    const task = await waitTask(id, undefined, 90_000);
    expect(task.state, JSON.stringify(task)).toBe('failed');
    expect(task.error.code).toBe('INTERRUPTED');
    // seen twice in ~10 fresh-clone CI runs, never locally, while the cleanup used rbd_remove: the task ended
    // INTERRUPTED and `rbd ls` still listed the temporary (rbd_remove restores an image it cannot remove — the
    // dead runner's watch still there — under its name; copy-cleanup.test.ts). Should it come back, what is
    // needed to find out why goes into the failure message: the temporary's watchers (who holds it), its
    // objects, the task's history, the killed process's last output, and whether it is still listed 5 s later
    const leftNow = ls().filter((n) => n.startsWith('.rbdapi-copy-'));
    if (leftNow.length > 0) {
      const tryRbd = (...a: string[]): string => { try { return rbd(...a); } catch (e) { return String((e as { stderr?: unknown }).stderr ?? e); } };
      const details = leftNow.map((n) => `${n}: status ${tryRbd('status', '--format', 'json', `${pool.name}/${n}`)} `
        + `info ${tryRbd('info', '--format', 'json', `${pool.name}/${n}`)} snaps ${tryRbd('snap', 'ls', '--all', '--format', 'json', `${pool.name}/${n}`)}`);
      const events = (await t.app.inject({ method: 'GET', url: `/api/v1/tasks/${id}` })).body;
      await new Promise((res) => setTimeout(res, 5000));
      const later = ls().filter((n) => n.startsWith('.rbdapi-copy-'));
      expect.fail(`temporary left after INTERRUPTED: ${JSON.stringify(leftNow)}; 5 s later ${JSON.stringify(later)}\n${details.join('\n')}\n`
        + `task ${events}\nkilled process's last output:\n${svc.output().slice(-4000)}`);
    }
    expect(ls()).toEqual(['big', 'c1', 'c2', 'src']);
  });
});
