// Live migration of an image (librbd's migration: prepare, execute, commit, abort) and the import-only migration
// from a raw or qcow2 file served over http(s). Protocol:
//   1. `start` (or `startImport`) checks everything first — source present, not open, not migrating; destination
//      pool, namespace and data pool present; destination name free — then, holding the mutation lock of BOTH
//      names (source and destination), calls rbd_migration_prepare (rbd_migration_prepare_import): from here on
//      the image lives under its destination name (clients open it there and read through to the source, which
//      librbd keeps in the trash), then submits the `image.migration-execute` task.
//   2. The execute task copies the data (rbd_migration_execute_with_progress, a real progress callback) holding
//      both names; with commitOnSuccess it commits too. Cancel: the callback answers -ECANCELED, librbd stops and
//      the migration stays prepared (execute again, or abort). Interrupted (kill -9): resumed, librbd executes
//      again from where its object copy stands (migration-kill.test.ts).
//   3. `image.migration-commit` (removes the source) and `image.migration-abort` (removes the destination and
//      restores the source under its name) are tasks too: both walk every object. Interrupted → resumed; a run
//      that finds the migration gone counts as done.
import { E } from '../native/errno.js';
import { radosPool } from '../native/rados-pool.js';
import { RBD_MIGRATION_STATE, decodeMigrationStatus, migrationStatusBuffer, MIGRATION_STATUS_SIZE, rbdMigration } from '../native/rbd-migration.js';
import { rbdImage } from '../native/rbd-image.js';
import { cString } from '../native/memory.js';
import type { Pointer } from '../native/types.js';
import { native, nativeChecked, nativeLong } from './call.js';
import type { CephSession } from './connection.js';
import { CephError, isCephError, MigrationStateError, NotMigratingError } from './errors.js';
import { withImageOptions } from './image-options.js';
import { holdForTask, imageKey, mutationLocks, type MutationKey } from './image-lock.js';
import { poolSpec } from './spec.js';
import type { TaskContext, TaskSession } from './tasks/types.js';

export const MIGRATION_EXECUTE_ACTION = 'image.migration-execute';
export const MIGRATION_COMMIT_ACTION = 'image.migration-commit';
export const MIGRATION_ABORT_ACTION = 'image.migration-abort';

export type MigrationState = 'unknown' | 'error' | 'preparing' | 'prepared' | 'executing' | 'executed' | 'aborting';
const STATE_NAMES: Record<number, MigrationState> = {
  [RBD_MIGRATION_STATE.UNKNOWN]: 'unknown', [RBD_MIGRATION_STATE.ERROR]: 'error', [RBD_MIGRATION_STATE.PREPARING]: 'preparing',
  [RBD_MIGRATION_STATE.PREPARED]: 'prepared', [RBD_MIGRATION_STATE.EXECUTING]: 'executing',
  [RBD_MIGRATION_STATE.EXECUTED]: 'executed', [RBD_MIGRATION_STATE.ABORTING]: 'aborting',
};

export interface ImageRef { pool: string; namespace: string; image: string }
export interface MigrationEnd extends ImageRef { imageId: string }
/** An import's source: a file over http(s), raw or qcow2. */
export interface ImportSource { url: string; format: 'raw' | 'qcow2' }

export interface MigrationStatus {
  /** the source image; null for an import-only migration (see `import`) */
  source: MigrationEnd | null;
  destination: MigrationEnd;
  state: MigrationState;
  stateDescription: string;
  /** an import-only migration's source (its URL without credentials) */
  import?: ImportSource | undefined;
}

/** What the execute, commit and abort tasks carry: the names they hold. */
export interface MigrationTaskParams {
  /** the source's name (null: an import), held so that nothing takes it while abort may restore it */
  source: ImageRef | null;
  commitOnSuccess?: boolean | undefined;
  import?: ImportSource | undefined;
}

export interface DestinationOptions {
  features?: bigint | undefined;
  order?: number | undefined;
  dataPool?: string | undefined;
}

/** The librbd source spec of an import (src/librbd/migration: format raw|qcow, stream http). */
export function importSourceSpec(s: ImportSource): string {
  return JSON.stringify({ type: s.format === 'qcow2' ? 'qcow' : 'raw', stream: { type: 'http', url: s.url } });
}

/** `url` without user:password@ (a source spec may carry them; answers never do). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return '(not a URL)';
  }
}

/**
 * The destination's image options. A new object size comes with plain striping (stripe unit = object size,
 * count 1): librbd keeps the source's stripe unit otherwise, which a smaller object cannot hold (EINVAL).
 */
const layoutOptions = (o: DestinationOptions) => ({
  format: 2 as const, features: o.features, order: o.order, dataPool: o.dataPool,
  ...(o.order !== undefined ? { stripeUnit: 2 ** o.order, stripeCount: 1 } : {}),
});

const keysOf = (...refs: (ImageRef | null)[]): MutationKey[] =>
  refs.filter((r): r is ImageRef => r !== null).map((r) => imageKey(poolSpec(r.pool, r.namespace), r.image));

/** rbd_migration_prepare from `source` to `dest`, both names held. */
export async function prepareMigration(session: CephSession, source: ImageRef, dest: ImageRef, o: DestinationOptions): Promise<void> {
  const srcSpec = poolSpec(source.pool, source.namespace);
  const dstSpec = poolSpec(dest.pool, dest.namespace);
  await mutationLocks(session).run(keysOf(source, dest), () => session.withIoctx(srcSpec, (src) => session.withIoctx(dstSpec, (dst) =>
    src.use('rbd_migration_prepare', (s) => dst.use('rbd_migration_prepare', (d) => withImageOptions(
      layoutOptions(o),
      (opts) => nativeChecked('image', 'rbd_migration_prepare', `${srcSpec}/${source.image}`, rbdMigration.prepare, s, source.image, d, dest.image, opts)))))));
}

/** rbd_migration_prepare_import of `from` into `dest`, its name held. */
export async function prepareImport(session: CephSession, from: ImportSource, dest: ImageRef, o: DestinationOptions): Promise<void> {
  const dstSpec = poolSpec(dest.pool, dest.namespace);
  await mutationLocks(session).run(keysOf(dest), () => session.withIoctx(dstSpec, (dst) =>
    dst.use('rbd_migration_prepare_import', (d) => withImageOptions(
      layoutOptions(o),
      (opts) => nativeChecked('newImage', 'rbd_migration_prepare_import', `${dstSpec}/${dest.image}`, rbdMigration.prepareImport,
        importSourceSpec(from), d, dest.image, opts)))));
}

/** The migration of `image` in `spec` (its source's name or its destination's). NotMigratingError when none. */
export async function migrationStatus(session: CephSession, spec: string, image: string): Promise<MigrationStatus> {
  return session.withIoctx(spec, (io) => io.use('rbd_migration_status', (p) => statusIn(session, p, spec, image)));
}

async function statusIn(session: CephSession, io: Pointer, spec: string, image: string): Promise<MigrationStatus> {
  const buf = migrationStatusBuffer();
  const rc = await native<number>('rbd_migration_status', rbdMigration.status, io, image, buf, MIGRATION_STATUS_SIZE);
  // EINVAL: the image exists and is not migrating
  if (rc === -E.EINVAL) throw new NotMigratingError(spec, image);
  if (rc < 0) throw new CephError('image', 'rbd_migration_status', rc, `${spec}/${image}`);
  let v;
  try {
    v = decodeMigrationStatus(buf);
  } finally {
    rbdMigration.statusCleanup(buf); // local memory: inline
  }
  const names = new Map<number, string>();
  const name = async (id: number): Promise<string> => {
    if (!names.has(id)) names.set(id, await poolName(session, id));
    return names.get(id)!;
  };
  const srcPool = Number(v.source_pool_id);
  const destination = {
    pool: await name(Number(v.dest_pool_id)), namespace: v.dest_pool_namespace ?? '',
    image: v.dest_image_name ?? '', imageId: v.dest_image_id ?? '',
  };
  const source = srcPool < 0 ? null : {
    pool: await name(srcPool), namespace: v.source_pool_namespace ?? '', image: v.source_image_name ?? '', imageId: v.source_image_id ?? '',
  };
  const status: MigrationStatus = { source, destination, state: STATE_NAMES[v.state] ?? 'unknown', stateDescription: v.state_description ?? '' };
  if (!source) status.import = await importOf(io, destination.image);
  return status;
}

/** The import source of a destination image (rbd_get_migration_source_spec), its URL redacted. */
async function importOf(io: Pointer, image: string): Promise<ImportSource | undefined> {
  const out: [Pointer | null] = [null];
  if (await native<number>('rbd_open_read_only', rbdImage.openReadOnly, io, image, out, null) < 0) return undefined;
  try {
    const buf = Buffer.alloc(4096);
    const len: [number | bigint] = [buf.length];
    const rc = await native<number>('rbd_get_migration_source_spec', rbdMigration.getSourceSpec, out[0]!, buf, len);
    if (rc < 0) return undefined;
    const spec = JSON.parse(cString(buf)) as { type?: string; stream?: { url?: string } };
    return { url: redactUrl(String(spec.stream?.url ?? '')), format: spec.type === 'qcow' ? 'qcow2' : 'raw' };
  } catch {
    return undefined;
  } finally {
    await native('rbd_close', rbdImage.close, out[0]!);
  }
}

async function poolName(session: CephSession, id: number): Promise<string> {
  return session.withCluster('rados_pool_reverse_lookup', async (cluster) => {
    const buf = Buffer.alloc(256);
    await nativeChecked('pool', 'rados_pool_reverse_lookup', String(id), radosPool.poolReverseLookup, cluster, id, buf, buf.length);
    return cString(buf);
  });
}

/** What an operation on a migration may find: the state it needs, or one it accepts as already done. */
export function requireState(s: MigrationStatus, wanted: readonly MigrationState[], spec: string, image: string): void {
  if (!wanted.includes(s.state)) throw new MigrationStateError(spec, image, s.state, wanted);
}

type Step = 'execute' | 'commit' | 'abort';
const CALLS = {
  execute: ['rbd_migration_execute_with_progress', rbdMigration.executeWithProgress],
  commit: ['rbd_migration_commit_with_progress', rbdMigration.commitWithProgress],
  abort: ['rbd_migration_abort_with_progress', rbdMigration.abortWithProgress],
} as const;

/** One librbd migration step on the task's destination image, with the task's progress callback. */
async function step(ctx: TaskContext<MigrationTaskParams>, which: Step, range?: { from: number; to: number }): Promise<void> {
  const { pool, namespace, image } = ctx.task.target;
  const target = `${poolSpec(pool, namespace)}/${image}`;
  const [op, fn] = CALLS[which];
  await ctx.io((io) => ctx.withProgress((cb) => nativeLong('image', op, target, fn, io, image, cb, null), range));
}

/** The migration of the task's destination, or null when there is none (any more). */
async function currentState(ctx: TaskContext<MigrationTaskParams>): Promise<MigrationStatus | null> {
  const { pool, namespace, image } = ctx.task.target;
  const spec = poolSpec(pool, namespace);
  return ctx.io((io) => statusIn(ctx.session, io, spec, image)).catch((e: unknown) => {
    if (e instanceof NotMigratingError || isCephError(e, 'ENOENT')) return null;
    throw e;
  });
}

export type MigrationRun = (ctx: TaskContext<MigrationTaskParams>) => Promise<Record<string, unknown>>;

/** Hold both names of the task's migration for `fn` (the task's own client, so a takeover's fencing stops it). */
export function holdMigration<T>(ctx: TaskContext<MigrationTaskParams>, fn: () => Promise<T>): Promise<T> {
  const { pool, namespace, image } = ctx.task.target;
  return holdForTask(ctx.session as TaskSession, ctx.task.id, keysOf({ pool, namespace, image }, ctx.params.source), fn);
}

export const runExecute: MigrationRun = (ctx) => holdMigration(ctx, async () => {
  const before = await currentState(ctx);
  if (!before) return { state: 'committed', alreadyDone: true };
  const commit = ctx.params.commitOnSuccess === true;
  if (before.state !== 'executed') {
    await step(ctx, 'execute', commit ? { from: 0, to: 0.9 } : undefined);
  }
  if (!commit) return { state: 'executed' };
  await step(ctx, 'commit', { from: 0.9, to: 1 });
  return { state: 'committed' };
});

export const runCommit: MigrationRun = (ctx) => holdMigration(ctx, async () => {
  const before = await currentState(ctx);
  if (!before) return { state: 'committed', alreadyDone: true };
  await step(ctx, 'commit');
  return { state: 'committed' };
});

export const runAbort: MigrationRun = (ctx) => holdMigration(ctx, async () => {
  const before = await currentState(ctx);
  if (!before) return { state: 'not-migrating' };
  await step(ctx, 'abort');
  return { state: 'aborted' };
});
