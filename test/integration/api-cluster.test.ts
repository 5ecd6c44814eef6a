// GET /api/v1/cluster: versions and optional features. Any token may read it (it names no pool); without one, 401.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenStore } from '../../src/http/auth.js';
import { clientLibraries, OPTIONAL_FEATURE_NAMES, optionalFeatures } from '../../src/ceph/cluster-info.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { cliOn } from '../helpers/cli.js';
import { clusterDir } from '../helpers/cluster.js';

const READ = 'cluster-test-read-token-0123456789abcdef';
const TENANT = 'cluster-test-tenant-token-0123456789abcd';
let t: TestApp;
const as = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

beforeAll(async () => {
  t = await testApp('rbdapi', { auth: TokenStore.parse(`${READ} read * console\n${TENANT} read,write some-pool/tenant-a tenant\n`), version: '9.8.7' });
});
afterAll(async () => { await t?.close(); });

describe('GET /api/v1/cluster', () => {
  it('answers a read token and a pool-limited token with the versions the CLI reads and the probed features', async () => {
    for (const token of [READ, TENANT]) {
      const r = await t.app.inject({ method: 'GET', url: '/api/v1/cluster', ...as(token) });
      expect(r.statusCode).toBe(200);
      const body = r.json();
      expect(body.service).toEqual({ version: '9.8.7', node: process.version });
      expect(body.client).toEqual(clientLibraries());
      const cli = JSON.parse(cliOn(`${clusterDir()}/ceph.conf`).ceph('versions', '-f', 'json')) as Record<string, Record<string, number>>;
      for (const kind of ['mon', 'mgr', 'osd', 'overall']) {
        expect(Object.fromEntries(body.cluster.versions[kind].map((d: { text: string; daemons: number }) => [d.text, d.daemons]))).toEqual(cli[kind]);
      }
      expect(body.cluster.fsid).toBe(JSON.parse(cliOn(`${clusterDir()}/ceph.conf`).ceph('fsid', '-f', 'json')).fsid);
      expect(Object.keys(body.features).sort()).toEqual([...OPTIONAL_FEATURE_NAMES].sort());
      const probed = optionalFeatures();
      for (const f of OPTIONAL_FEATURE_NAMES) expect(body.features[f].available).toBe(probed[f]);
    }
  });

  it('401 without a token; 400 naming an unknown query parameter', async () => {
    const anonymous = await t.app.inject({ method: 'GET', url: '/api/v1/cluster' });
    expect([anonymous.statusCode, anonymous.json().code]).toEqual([401, 'UNAUTHORIZED']);
    const odd = await t.app.inject({ method: 'GET', url: '/api/v1/cluster?verbose=true', ...as(READ) });
    expect([odd.statusCode, odd.json().code]).toEqual([400, 'VALIDATION_FAILED']);
    expect(odd.headers['content-type']).toMatch(/^application\/problem\+json/);
  });
});
