// Helpers for integration tests: connections to the test cluster with each of its keys, and pools
// that are unique to a test file and removed afterwards.
import { randomBytes } from 'node:crypto';
import { CephConnection } from '../../src/ceph/connection.js';
import { Pools } from '../../src/ceph/pools.js';
import { isCephError } from '../../src/ceph/errors.js';

export type TestKey = 'admin' | 'rbdapi' | 'rbdapi-pools';

export function clusterDir(): string {
  const dir = process.env.TEST_CEPH_DIR;
  if (!dir) throw new Error('TEST_CEPH_DIR is not set: run integration tests through vitest (global setup boots the cluster)');
  return dir;
}

export function connectionOptions(key: TestKey = 'admin') {
  const dir = clusterDir();
  return { confFile: `${dir}/ceph.conf`, clientId: key, keyring: `${dir}/ceph.client.${key}.keyring` };
}

export function connect(key: TestKey = 'admin'): Promise<CephConnection> {
  return CephConnection.connect(connectionOptions(key));
}

/** The environment a service process needs to reach the test cluster with `key` (the least-privilege one by default). */
export function serviceEnv(key: TestKey = 'rbdapi'): { CEPH_CONF: string; CEPH_CLIENT_ID: string; CEPH_KEYRING: string } {
  const dir = clusterDir();
  return { CEPH_CONF: `${dir}/ceph.conf`, CEPH_CLIENT_ID: key, CEPH_KEYRING: `${dir}/ceph.client.${key}.keyring` };
}

/**
 * serviceEnv with short leases, for the suites that kill, stop or SIGSTOP a service mid-task: another instance
 * takes a task over (TASK_LEASE_MS) and an image a dead holder locked (MUTATION_LOCK_LEASE_MS) within ~3 s.
 */
export function takeoverEnv(key: TestKey = 'rbdapi'): Record<string, string> {
  return { ...serviceEnv(key), TASK_LEASE_MS: '3000', TASK_SCAN_MS: '500', MUTATION_LOCK_LEASE_MS: '3000' };
}

/**
 * This test file's mark (modules are loaded afresh for each file): the end of every name uniqueName makes. The
 * file's replicas (testApp, startService) scan only pools so named for tasks and schedules (TASK_POOLS), so a
 * replica of another file on the shared cluster never runs this file's tasks or claims its schedule slots.
 */
const FILE_MARK = randomBytes(3).toString('hex');
export const FILE_TASK_POOLS = `*-${FILE_MARK}`;

export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${randomBytes(2).toString('hex')}-${FILE_MARK}`;
}

/** Create a uniquely named RBD pool with the admin key; returns its name and a cleanup function. */
export async function makePool(conn: CephConnection, prefix = 't'): Promise<{ name: string; remove: () => Promise<void> }> {
  const pools = new Pools(conn);
  const name = uniqueName(prefix);
  await pools.create(name, { pgNum: 8 });
  return {
    name,
    remove: async () => {
      // ENOENT: gone anyway — librados resent the mon command after its first run deleted the pool (seen once
      // in CI under load: the monitor then answered "does not exist")
      if (await pools.exists(name)) await pools.delete(name).catch((e: unknown) => { if (!isCephError(e, 'ENOENT')) throw e; });
    },
  };
}
