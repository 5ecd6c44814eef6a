// Boots the throwaway test cluster once per vitest run (projects api and fault) and hands its location to
// the workers through the environment. TEST_CEPH_DIR names the cluster's directory (default .ceph/test);
// TEST_CLUSTER_RUNNING=1 uses the cluster running there as it is (npm run test:quick: the dev cluster) and
// never boots one. TEST_SKIP_CLUSTER=1 skips all of it. A cluster this setup booted is taken down when the run
// ends (teardown: after every test file), so `npx vitest run` leaves nothing on the test ports; one that was
// running before is left running, and TEST_KEEP_CLUSTER=1 keeps the booted one. scripts/test.sh stops it too.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** Is the monitor of the cluster in `dir` running (its pid file names a live process)? */
function monitorRunning(dir: string): boolean {
  try {
    process.kill(Number(readFileSync(`${dir}/run/mon.a.pid`, 'utf8').trim()), 0);
    return true;
  } catch {
    return false;
  }
}

export default function setup(): (() => void) | undefined {
  if (process.env.TEST_SKIP_CLUSTER === '1') return undefined;
  let teardown: (() => void) | undefined;
  const dir = resolve(process.env.TEST_CEPH_DIR ?? '.ceph/test');
  if (process.env.TEST_CLUSTER_RUNNING === '1') {
    if (!existsSync(`${dir}/ceph.conf`)) throw new Error(`no cluster at ${dir}: start one (KEEP_CLUSTER=1 npm run dev) or set TEST_CEPH_DIR`);
  } else {
    const env = {
      ...process.env,
      MON_V2_PORT: process.env.TEST_MON_V2_PORT ?? '3320',
      MON_V1_PORT: process.env.TEST_MON_V1_PORT ?? '6820',
      // every test file shares this cluster and some move GiBs of data: room for all of them at once
      // (memstore takes memory only for what is stored)
      MEMSTORE_BYTES: process.env.MEMSTORE_BYTES ?? String(12 * 2 ** 30),
    };
    const wasRunning = monitorRunning(dir);
    execFileSync('bash', ['scripts/ceph-cluster.sh', 'up', dir], { stdio: 'inherit', env });
    if (!wasRunning && process.env.TEST_KEEP_CLUSTER !== '1') {
      teardown = () => { execFileSync('bash', ['scripts/ceph-cluster.sh', 'down', dir], { stdio: 'inherit' }); };
    }
  }
  process.env.TEST_CEPH_DIR = dir;
  process.env.CEPH_CONF = `${dir}/ceph.conf`;
  return teardown;
}
