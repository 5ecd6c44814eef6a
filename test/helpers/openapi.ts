// Builds the app without connecting to Ceph and returns its OpenAPI document.
import { CephClient } from '../../src/ceph/client.js';
import { buildApp } from '../../src/http/app.js';

export async function openapiDocument(): Promise<unknown> {
  const ceph = new CephClient({ operationTimeoutMs: 1000 }); // never started: no connection is made
  const app = await buildApp({ ceph, version: '0.1.0' });
  await app.ready();
  const doc = app.swagger();
  await app.close();
  return JSON.parse(JSON.stringify(doc));
}
