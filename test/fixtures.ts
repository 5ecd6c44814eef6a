// The integration tests' one fixture (vitest test.extend): a test file states what it needs — a pool of its
// own, one app or several replicas (each on its own Ceph client, one cluster), the typed client checked
// against openapi/openapi.json — and gets it set up once for the file and torn down after it, in order
// (clients, apps, pool, connection), whether the tests passed or not.
//
//   const it = usePoolApp({ prefix: 'snapshots', key: 'rbdapi' });
//   it('…', async ({ pool, app, api }) => {
//     const r = await api.PUT('/api/v1/pools/{pool}/images/{image}', { params: { path: { pool: pool.name, image: 'a' } }, body: { size: '1MiB' } });
//   });
//
// Module-level helpers that need the pool or an app read them in `it.beforeAll(({ pool, app }) => …)`: the
// file-scoped fixtures are the same objects there and in every test.
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { test } from 'vitest';
import type { RbdClient } from '../client/index.js';
import type { ClientOptions } from '../src/ceph/client.js';
import type { CephConnection } from '../src/ceph/connection.js';
import type { AppOptions } from '../src/http/app.js';
import { testApp, type TestApp } from './helpers/app.js';
import * as cliHelpers from './helpers/cli.js';
import { connect, makePool, type TestKey } from './helpers/cluster.js';
import { checkedClient } from './helpers/contract.js';

export interface TestPool { name: string; remove: () => Promise<void> }

export interface PoolAppOptions {
  /** prefix of the pool's unique name (the file's concept) */
  prefix: string;
  /** the Ceph key the apps use (default admin; the least-privilege keys are rbdapi and rbdapi-pools) */
  key?: TestKey;
  /** how many apps, each on its own Ceph client: replicas of one service (default 1) */
  replicas?: number;
  /** options of every app (auth, limits, …) */
  app?: Partial<AppOptions>;
  /** options of every app's Ceph client (deadlines, locks, tasks) */
  client?: Partial<ClientOptions>;
  /** the bearer token the typed client sends */
  token?: string;
}

/** The test API of a file that works in a pool of its own through the app. */
export function usePoolApp(o: PoolAppOptions) {
  return test
    // the admin connection that made the pool (for src/ceph calls the test makes itself)
    .extend('conn', { scope: 'file' }, async ({}, { onCleanup }): Promise<CephConnection> => {
      const conn = await connect();
      onCleanup(() => conn.close());
      return conn;
    })
    .extend('pool', { scope: 'file' }, async ({ conn }, { onCleanup }): Promise<TestPool> => {
      const pool = await makePool(conn, o.prefix);
      onCleanup(() => pool.remove());
      return pool;
    })
    // made after the pool, so closed before it is removed
    .extend('replicas', { scope: 'file' }, async ({ pool }, { onCleanup }): Promise<TestApp[]> => {
      void pool;
      const apps: TestApp[] = [];
      onCleanup(async () => { for (const a of apps) await a.close(); });
      for (let i = 0; i < (o.replicas ?? 1); i++) apps.push(await testApp(o.key ?? 'admin', o.app ?? {}, o.client ?? {}));
      return apps;
    })
    .extend('app', { scope: 'file' }, ({ replicas }): FastifyInstance => replicas[0]!.app)
    // the first app on a real socket, through the generated client; every answer checked against the document
    .extend('api', { scope: 'file' }, async ({ app }): Promise<RbdClient> => {
      await app.listen({ host: '127.0.0.1', port: 0 });
      return checkedClient(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, o.token);
    })
    .extend('cli', { scope: 'file' }, () => cliHelpers);
}
