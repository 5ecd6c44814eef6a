// The two mirroring sites of the `mirror` project (test/helpers/sites-setup.ts boots them): their directories,
// apps on each with the service's least-privilege mirroring key, the admin CLI aimed at each, and freezing a
// whole site (SIGSTOP of its daemons) for the unplanned failover.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CephClient } from '../../src/ceph/client.js';
import { CephConnection } from '../../src/ceph/connection.js';
import { buildApp } from '../../src/http/app.js';
import type { TestApp } from './app.js';
import { cliSync, cliSyncBytes } from './cli.js';

export type SiteName = 'site-a' | 'site-b';

export const siteDir = (site: SiteName): string => resolve(process.env.MIRROR_SITES_DIR ?? '.ceph', site);
export const siteConf = (site: SiteName): string => `${siteDir(site)}/ceph.conf`;

/** The service on one site, with the key scripts/ceph-sites.sh made for mirroring (docs/mirroring.md: its caps). */
export async function siteApp(site: SiteName, key = 'rbdapi-mirror'): Promise<TestApp> {
  const ceph = new CephClient({
    confFile: siteConf(site), clientId: key, keyring: `${siteDir(site)}/ceph.client.${key}.keyring`,
    operationTimeoutMs: 30_000, mountTimeout: 10, monOpTimeout: 10, osdOpTimeout: 10,
  });
  await ceph.ready();
  const app = await buildApp({ ceph });
  await app.ready();
  return { app, ceph, close: async () => { await app.close(); await ceph.close(); } };
}

/** An admin connection to a site (pools are made with it: the mirroring key may not). */
export const siteAdmin = (site: SiteName): Promise<CephConnection> =>
  CephConnection.connect({ confFile: siteConf(site), clientId: 'admin', keyring: `${siteDir(site)}/ceph.client.admin.keyring` });

export const rbdOn = (site: SiteName, ...args: string[]): string => cliSync('rbd', args, { conf: siteConf(site), timeout: 60_000 });
/** `rbd export spec -` on a site: the image's bytes as that site's copy holds them. */
export const exportOn = (site: SiteName, spec: string): Buffer =>
  cliSyncBytes('rbd', ['export', '--no-progress', spec, '-'], { conf: siteConf(site), timeout: 60_000 });

const DAEMONS = ['mon.a', 'osd.0', 'mgr.x', 'rbd-mirror'];
const pidOf = (site: SiteName, daemon: string): number => Number(readFileSync(`${siteDir(site)}/run/${daemon}.pid`, 'utf8').trim());

/** SIGSTOP (freeze) or SIGCONT (thaw) every daemon of a site: the site is gone for its peers, then back. */
export function signalSite(site: SiteName, signal: 'SIGSTOP' | 'SIGCONT'): void {
  for (const d of DAEMONS) process.kill(pidOf(site, d), signal);
}
