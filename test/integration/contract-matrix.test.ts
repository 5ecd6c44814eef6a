// The version matrix, Pacific side: the API contract walk (test/e2e/route-walk.ts — every documented operation
// at least once, each answer checked against openapi/openapi.json) against the service in process, on this
// machine's Ceph 16.2 (Pacific) client libraries and test cluster. The Tentacle side (the image's Ceph 20.2
// libraries against a Ceph 20.2 cluster) is the same walk in test/e2e/container.test.ts.
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../helpers/app.js';
import { cliOn } from '../helpers/cli.js';
import { clusterDir, uniqueName } from '../helpers/cluster.js';
import { walkRoutes } from '../e2e/route-walk.js';

let t: TestApp;
let base: string;

beforeAll(async () => {
  t = await testApp('admin');
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
});
afterAll(async () => { await t?.close(); });

describe('version matrix: Ceph 16 (Pacific) libraries and cluster', () => {
  it('every documented operation answers as documented (walk of all routes, both namespace scopes)', async () => {
    const walk = await walkRoutes({ base, pool: uniqueName('matrix') });
    expect(walk.missing).toEqual([]);
    expect(walk.covered.size).toBeGreaterThanOrEqual(70);
    const cluster = walk.cluster as { client: { librbd: { version: string; release: string } }; cluster: { versions: Record<'mon', { release: string; text: string }[]> };
      features: Record<string, { available: boolean }> };
    expect(cluster.client.librbd).toMatchObject({ version: expect.stringMatching(/^1\.16\./), release: 'pacific' });
    // the daemons' versions as the ceph CLI reads them (TEST_CEPH_DIR may point at a Tentacle cluster of
    // scripts/ceph-tentacle.sh: then this is the Pacific-client / Tentacle-cluster cell)
    const cli = JSON.parse(cliOn(`${clusterDir()}/ceph.conf`).ceph('versions', '-f', 'json')) as Record<string, Record<string, number>>;
    for (const kind of ['mon', 'mgr', 'osd']) {
      expect(cluster.cluster.versions[kind as 'mon'].map((m) => m.text).sort()).toEqual(Object.keys(cli[kind]!).sort());
    }
    // none of the optional features is in librbd 1.16
    expect(Object.values(cluster.features).filter((f) => f.available)).toEqual([]);
  }, 300_000);
});
