// A second throwaway cluster for tests that break it on purpose (stop the monitor): they must not
// disturb the shared test cluster. Booted and stopped by scripts/ceph-cluster.sh like the shared one.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export interface OwnCluster {
  dir: string;
  conf: string;
  keyring: (id: string) => string;
  /** SIGKILL the monitor (by its PID file) */
  killMon: () => void;
  /** SIGKILL the manager (by its PID file) */
  killMgr: () => void;
  /** start whatever is not running (the monitor) and wait until the cluster is ready */
  up: () => void;
  down: () => void;
}

export function ownCluster(name: string, v2Port: number, v1Port: number, pools = 'rbd'): OwnCluster {
  const dir = resolve(`.ceph/${name}`);
  const env = { ...process.env, MON_V2_PORT: String(v2Port), MON_V1_PORT: String(v1Port), CREATE_POOLS: pools };
  const run = (cmd: string) => execFileSync('bash', ['scripts/ceph-cluster.sh', cmd, dir], { stdio: ['ignore', 'ignore', 'inherit'], env });
  return {
    dir,
    conf: `${dir}/ceph.conf`,
    keyring: (id) => `${dir}/ceph.client.${id}.keyring`,
    killMon: () => {
      const pid = Number(readFileSync(`${dir}/run/mon.a.pid`, 'utf8').trim());
      process.kill(pid, 'SIGKILL');
    },
    killMgr: () => {
      const pid = Number(readFileSync(`${dir}/run/mgr.x.pid`, 'utf8').trim());
      process.kill(pid, 'SIGKILL');
    },
    up: () => run('up'),
    down: () => run('down'),
  };
}
