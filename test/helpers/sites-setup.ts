// Global setup of the `mirror` project: boots the two mirroring sites (scripts/ceph-sites.sh: two one-node
// clusters, an rbd-mirror daemon each) afresh, and takes them down afterwards. MIRROR_SITES_DIR names their
// parent directory (default .ceph); MIRROR_SITES_RUNNING=1 uses sites already running there as they are (a
// development loop) and leaves them up.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export default function setup(): () => void {
  const dir = resolve(process.env.MIRROR_SITES_DIR ?? '.ceph');
  const run = (cmd: string) => execFileSync('bash', ['scripts/ceph-sites.sh', cmd, dir], { stdio: 'inherit' });
  process.env.MIRROR_SITES_DIR = dir;
  if (process.env.MIRROR_SITES_RUNNING === '1') {
    if (!existsSync(`${dir}/site-a/ceph.conf`)) throw new Error(`no sites in ${dir}: bash scripts/ceph-sites.sh up ${dir}`);
    return () => undefined;
  }
  // afresh: a site stopped earlier keeps nothing (memstore), and running ones may hold peers of an earlier run
  run('down');
  run('up');
  return () => run('down');
}
