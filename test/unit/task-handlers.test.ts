// One list of task handlers (src/ceph/tasks/handlers.ts), registered by the Ceph client itself: a client that no
// HTTP route has touched can run every action a task record may name (a replica built without the snapshot or
// clone routes once backed rollbacks and flattens off as unknown actions).
import { describe, expect, it } from 'vitest';
import { CephClient } from '../../src/ceph/client.js';

const ACTIONS = ['image.remove', 'trash.remove', 'trash.purge', 'image.shrink', 'image.object-map-rebuild', 'image.copy',
  'snapshot.rollback', 'image.flatten', 'image.migration-execute', 'image.migration-commit', 'image.migration-abort'];

describe('task handlers', () => {
  it('a new CephClient (never connected, no routes) has a handler for every action', () => {
    const client = new CephClient({ confFile: '/nonexistent/ceph.conf', operationTimeoutMs: 1000, tasks: { run: false } });
    for (const action of ACTIONS) expect(client.tasks.hasHandler(action), action).toBe(true);
  });
});
