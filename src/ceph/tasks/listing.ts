// A page of tasks, newest first, across the pools asked for (GET /tasks): each pool's index (store.ts) read from
// the cursor on, merged by index key, the page's records read. The cursor is the last item's index key.
import type { CephSession } from '../connection.js';
import { poolNames } from './pool-lookup.js';
import { idOfKey, indexPage, isIndexKey, publicView, readRecord } from './store.js';
import type { StoredTask, TaskListOptions, TaskRecord } from './types.js';

export async function listTasks(session: CephSession, o: TaskListOptions): Promise<{ items: TaskRecord[]; nextCursor: string | undefined }> {
  if (o.cursor !== undefined && !isIndexKey(o.cursor)) throw new RangeError('bad cursor');
  const pools = o.pool !== undefined ? [o.pool] : (await poolNames(session)).filter((p) => o.visiblePool?.(p) ?? true);
  const perPool = await Promise.all(pools.map((pool) =>
    session.withIoctx(pool, (io) => io.use('task_list', (p) => indexPage(p, pool, o))).catch((e: unknown) => {
      // a pool named explicitly must exist; others may vanish or be unreadable for this key meanwhile
      if (o.pool !== undefined) throw e;
      return { keys: [] as { key: string; pool: string }[], more: false };
    })));
  const merged = perPool.flatMap((r) => r.keys).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const page = merged.slice(0, o.limit);
  const more = merged.length > o.limit || perPool.some((r) => r.more);
  const records = await Promise.all(page.map(({ key, pool }) =>
    session.withIoctx(pool, (io) => io.use('task_get', (p) => readRecord(p, idOfKey(key)))).catch(() => undefined)));
  const items = records.filter((r): r is StoredTask => r !== undefined && (o.state === undefined || r.state === o.state)).map(publicView);
  return { items, nextCursor: more && page.length > 0 ? page[page.length - 1]!.key : undefined };
}
