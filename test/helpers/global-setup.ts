// Boots the throwaway test cluster once per vitest run (projects api and fault) and hands its location to
// the workers through the environment. TEST_CEPH_DIR names the cluster's directory (default .ceph/test);
// TEST_CLUSTER_RUNNING=1 uses the cluster running there as it is (npm run test:quick: the dev cluster) and
// never boots one. TEST_SKIP_CLUSTER=1 skips all of it. scripts/test.sh stops the cluster at the end.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export default function setup(): void {
  if (process.env.TEST_SKIP_CLUSTER === '1') return;
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
    execFileSync('bash', ['scripts/ceph-cluster.sh', 'up', dir], { stdio: 'inherit', env });
  }
  process.env.TEST_CEPH_DIR = dir;
  process.env.CEPH_CONF = `${dir}/ceph.conf`;
}
