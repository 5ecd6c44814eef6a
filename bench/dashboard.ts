// bench/dashboard.ts — the Ceph Dashboard (ceph-mgr-dashboard) as a contender: enable it on the bench
// cluster's mgr on a free port, make a user, log in, and GET its image listing (Pacific's
// /api/block/image, version 2.0: paginated with offset/limit, every image with its details).
// Shared by bench/run.ts (npm run bench) and bench/scale.ts (npm run bench:scale).
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { freePort, Http, now, run, sleep, type RunResult } from './lib.js';

export interface Dashboard {
  /** GET /api/block/image?pool_name=POOL&QUERY; returns the number of images answered */
  images(pool: string, query: string): Promise<number>;
  close(): Promise<void>;
}

export type CephCli = (args: string[], input?: string) => Promise<RunResult>;

export function cephCli(conf: string, keyring: string): CephCli {
  return (args, input) => run('ceph', ['-c', conf, '--id', 'admin', '--keyring', keyring, '--connect-timeout', '10', ...args], { timeoutMs: 60_000, input });
}

/** The Dashboard ready to answer, or the reason it cannot be measured. */
export async function openDashboard(ceph: CephCli): Promise<Dashboard | { error: string }> {
  const fail = (error: string) => ({ error });
  if (!existsSync('/usr/share/ceph/mgr/dashboard')) return fail('package ceph-mgr-dashboard is not installed');
  const ls = await ceph(['mgr', 'module', 'ls', '-f', 'json']);
  if (ls.code !== 0) return fail(`ceph mgr module ls failed: ${ls.stderr.trim().slice(0, 200)}`);
  const mods = JSON.parse(ls.stdout) as { enabled_modules?: string[]; disabled_modules?: { name: string; can_run?: boolean; error_string?: string }[] };
  const dis = mods.disabled_modules?.find((m) => m.name === 'dashboard');
  if (!mods.enabled_modules?.includes('dashboard') && !dis) return fail('the mgr does not see the dashboard module (boot the cluster with MGR_EXTRA_MODULES=dashboard)');
  if (dis && dis.can_run === false) return fail(`the mgr cannot run the dashboard module: ${dis.error_string ?? 'unknown reason'}`);

  const port = await freePort();
  for (const [k, v] of [['ssl', 'false'], ['server_addr', '127.0.0.1'], ['server_port', String(port)]] as const) {
    const r = await ceph(['config', 'set', 'mgr', `mgr/dashboard/${k}`, v]);
    if (r.code !== 0) return fail(`ceph config set mgr/dashboard/${k} failed: ${r.stderr.trim().slice(0, 200)}`);
  }
  const en = await ceph(['mgr', 'module', 'enable', 'dashboard']);
  if (en.code !== 0) return fail(`ceph mgr module enable dashboard failed: ${en.stderr.trim().slice(0, 200)}`);
  // a user of its own per run, removed afterwards: a cluster kept between runs (BENCH_KEEP_CLUSTER=1) keeps
  // the dashboard's users, and re-setting an old user's password was refused at login ("Invalid credentials")
  const user = `rbd-bench-${randomBytes(4).toString('hex')}`;
  let userMade = false;
  const disable = async (): Promise<void> => {
    if (userMade) await ceph(['dashboard', 'ac-user-delete', user]);
    await ceph(['mgr', 'module', 'disable', 'dashboard']);
  };
  let http: Http | undefined;
  try {
    let url = '';
    const deadline = now() + 90_000;
    while (!url) {
      const r = await ceph(['mgr', 'services', '-f', 'json']);
      const u = r.code === 0 ? (JSON.parse(r.stdout || '{}') as { dashboard?: string }).dashboard : undefined;
      if (u && u.includes(`:${port}`)) url = u.replace(/\/$/, '');
      else if (now() > deadline) throw new Error(`the dashboard did not come up on port ${port} within 90 s`);
      else await sleep(500);
    }
    const password = `Bx-${randomBytes(12).toString('hex')}-9!`;
    const r = await ceph(['dashboard', 'ac-user-create', user, '-i', '-', 'administrator'], password);
    if (r.code !== 0) throw new Error(`creating the dashboard user failed: ${(r.stderr || r.stdout).trim().slice(0, 200)}`);
    userMade = true;
    const client = new Http(url, 2, { accept: 'application/vnd.ceph.api.v1.0+json' });
    http = client;
    let token = '';
    for (let i = 0; i < 40 && !token; i++) {
      try {
        token = (await client.json<{ token: string }>('POST', '/api/auth', { username: user, password })).token;
      } catch (e) {
        if (i === 39) throw e;
        await sleep(500);
      }
    }
    // Pacific's /api/block/image is version 2.0 and paginated: no limit = its default page (5 images),
    // limit=100 = a page of 100, limit=-1 = every image; each with the image's details.
    const headers = { authorization: `Bearer ${token}`, accept: 'application/vnd.ceph.api.v2.0+json' };
    return {
      images: async (pool, query) => {
        const res = await client.expect('GET', `/api/block/image?pool_name=${encodeURIComponent(pool)}${query}`, undefined, [200], headers);
        const body = JSON.parse(res.text) as { value?: unknown[] }[];
        return body.reduce((a, p) => a + (p.value?.length ?? 0), 0);
      },
      close: async () => {
        await client.close().catch(() => undefined);
        await disable();
      },
    };
  } catch (e) {
    await http?.close().catch(() => undefined);
    await disable();
    return fail(e instanceof Error ? e.message : String(e));
  }
}
