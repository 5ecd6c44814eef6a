// Builds the real app on a real connection to the test cluster.
import type { FastifyInstance } from 'fastify';
import { CephClient, type ClientOptions } from '../../src/ceph/client.js';
import { buildApp, type AppOptions } from '../../src/http/app.js';
import { connectionOptions, FILE_TASK_POOLS, type TestKey } from './cluster.js';

export interface TestApp {
  app: FastifyInstance;
  ceph: CephClient;
  close: () => Promise<void>;
}

/** The app on a Ceph client of its own with `key`; `client` overrides the client's options (deadlines, locks, tasks: this file's pools by default). */
export async function testApp(key: TestKey = 'admin', extra: Partial<AppOptions> = {}, client: Partial<ClientOptions> = {}): Promise<TestApp> {
  // tasks and schedules of this file's pools only (cluster.ts FILE_TASK_POOLS), unless the test says otherwise
  const ceph = new CephClient({ ...connectionOptions(key), operationTimeoutMs: 30_000, mountTimeout: 10, monOpTimeout: 10, osdOpTimeout: 10, ...client,
    tasks: { pools: [FILE_TASK_POOLS], ...client.tasks } });
  await ceph.ready();
  const app = await buildApp({ ceph, ...extra });
  await app.ready();
  return {
    app,
    ceph,
    close: async () => {
      await app.close();
      await ceph.close();
    },
  };
}

export const json = (body: unknown) => ({ payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
