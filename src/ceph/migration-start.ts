// The entry of live migrations for the API (one call per route): start a migration or an import (everything
// checked before anything is prepared), read its state, and queue its execute, commit or abort task. The
// protocol and the task runs are in migration.ts; the import's source check in migration-source.ts.
import type { CephSession } from './connection.js';
import {
  AlreadyMigratingError, CephError, DataPoolMissingError, ImageInUseError, ImportSourceError, isCephError, isMissingInScope,
  NotMigratingError, PoolNotPermittedError,
} from './errors.js';
import type { Images } from './images.js';
import {
  MIGRATION_ABORT_ACTION, MIGRATION_COMMIT_ACTION, MIGRATION_EXECUTE_ACTION, migrationStatus, prepareImport, prepareMigration,
  redactUrl, requireState, runAbort, runCommit, runExecute,
  type DestinationOptions, type ImageRef, type ImportSource, type MigrationStatus, type MigrationTaskParams,
} from './migration.js';
import { checkImportSource } from './migration-source.js';
import type { Pools } from './pools.js';
import { poolSpec } from './spec.js';
import type { TaskEngine } from './tasks/engine.js';
import type { TaskRecord } from './tasks/types.js';

/** May the caller use (write) this pool and namespace? (a token's pools; always true without tokens) */
export type MayUse = (pool: string, namespace: string) => boolean;

export interface StartMigration extends DestinationOptions {
  source: ImageRef;
  destination: ImageRef;
  commitOnSuccess: boolean;
}
export interface StartImport extends DestinationOptions {
  source: ImportSource;
  destination: ImageRef;
  commitOnSuccess: boolean;
}
export interface Started { task: TaskRecord; migration: MigrationStatus }

const specOf = (r: ImageRef): string => poolSpec(r.pool, r.namespace);
const same = (a: ImageRef, b: ImageRef): boolean => a.pool === b.pool && a.namespace === b.namespace && a.image === b.image;

/** Register the three migration actions on the task engine (tasks/handlers.ts). */
export function registerMigrationTasks(tasks: TaskEngine): void {
  // librbd 16.2 ignores the progress callback's answer in execute, commit and abort (a cancel cannot stop them):
  // each commits (refuses cancels) right before its librbd call; queued, a cancel still takes effect
  const commitFirst = (run: typeof runExecute): typeof runExecute => async (ctx) => { await ctx.commit(); return run(ctx); };
  tasks.register<MigrationTaskParams>({ action: MIGRATION_EXECUTE_ACTION, run: commitFirst(runExecute), interrupted: 'resume', commitPoint: true });
  tasks.register<MigrationTaskParams>({ action: MIGRATION_COMMIT_ACTION, run: commitFirst(runCommit), interrupted: 'resume', commitPoint: true });
  tasks.register<MigrationTaskParams>({ action: MIGRATION_ABORT_ACTION, run: commitFirst(runAbort), interrupted: 'resume', commitPoint: true });
}

export class Migrations {
  constructor(private readonly session: CephSession, private readonly tasks: TaskEngine,
    private readonly images: Images, private readonly pools: Pools) {}

  /** Check, prepare (source → destination), and queue the execute task. */
  async start(req: StartMigration, mayUse: MayUse): Promise<Started> {
    const { source, destination } = req;
    if (!mayUse(destination.pool, destination.namespace)) throw new PoolNotPermittedError(destination.pool, 'migration', destination.namespace);
    await this.checkDataPool(req.dataPool, destination.namespace, mayUse);
    const info = await this.images.stat(specOf(source), source.image); // 404 for the source
    if (info.watchers && info.watchers.length > 0) throw new ImageInUseError(specOf(source), source.image, info.watchers);
    await this.notMigrating(source);
    if (!same(source, destination)) await this.nameFree(destination);
    await prepareMigration(this.session, source, destination, req).catch((e: unknown) => { throw this.prepareFailed(e, source, destination); });
    return this.queueExecute(destination, { source, commitOnSuccess: req.commitOnSuccess });
  }

  /** Check the URL, prepare the import into `destination`, and queue the execute task. */
  async startImport(req: StartImport, mayUse: MayUse): Promise<Started> {
    const { destination } = req;
    await this.checkDataPool(req.dataPool, destination.namespace, mayUse);
    await this.nameFree(destination);
    // librbd 16.2 aborts the process when an http source answers an error while it opens it: look first
    await checkImportSource(req.source.url);
    await prepareImport(this.session, req.source, destination, req).catch((e: unknown) => {
      if (e instanceof CephError && e.code !== 'EEXIST' && e.subject === 'newImage') throw new ImportSourceError(req.source.url, e);
      throw this.prepareFailed(e, null, destination);
    });
    const from = { url: redactUrl(req.source.url), format: req.source.format };
    return this.queueExecute(destination, { source: null, commitOnSuccess: req.commitOnSuccess, import: from });
  }

  /**
   * The migration of `image` (its source's name or its destination's); NotMigratingError when none. With
   * `mayUse`, both ends must be usable (PoolNotPermittedError otherwise: the other end is another tenant's).
   */
  async status(spec: string, image: string, mayUse?: MayUse): Promise<MigrationStatus> {
    const s = await migrationStatus(this.session, spec, image);
    for (const end of [s.source, s.destination]) {
      if (mayUse && end && !mayUse(end.pool, end.namespace)) throw new PoolNotPermittedError(end.pool, 'migration', end.namespace);
    }
    return s;
  }

  /** Queue `image.migration-execute` again (after a failed run): the migration must be prepared or executing. */
  async execute(spec: string, image: string, mayUse: MayUse, commitOnSuccess = false): Promise<Started> {
    const s = await this.ready(spec, image, ['prepared', 'executing'], mayUse);
    return this.queueExecute(s.destination, { source: s.source && refOf(s.source), commitOnSuccess, ...(s.import ? { import: s.import } : {}) });
  }

  /** Queue `image.migration-commit`: the migration must be executed. */
  async commit(spec: string, image: string, mayUse: MayUse): Promise<Started> {
    const s = await this.ready(spec, image, ['executed'], mayUse);
    return this.queue(MIGRATION_COMMIT_ACTION, s, { source: s.source && refOf(s.source) });
  }

  /** Queue `image.migration-abort` (any state): the destination goes, the source is back under its name. */
  async abort(spec: string, image: string, mayUse: MayUse): Promise<Started> {
    const s = await this.ready(spec, image, ['prepared', 'executing', 'executed', 'error', 'aborting', 'unknown'], mayUse);
    return this.queue(MIGRATION_ABORT_ACTION, s, { source: s.source && refOf(s.source) });
  }

  private async ready(spec: string, image: string, wanted: Parameters<typeof requireState>[1], mayUse: MayUse): Promise<MigrationStatus> {
    // a namespace-scoped token acts on a migration only when it may write both of its ends
    const s = await this.status(spec, image, mayUse);
    requireState(s, wanted, spec, image);
    return s;
  }

  private async queueExecute(destination: ImageRef, params: MigrationTaskParams): Promise<Started> {
    const migration = await this.status(specOf(destination), destination.image);
    return this.queue(MIGRATION_EXECUTE_ACTION, migration, params);
  }

  private async queue(action: string, migration: MigrationStatus, params: MigrationTaskParams): Promise<Started> {
    const d = migration.destination;
    const task = await this.tasks.submit(action, { pool: d.pool, namespace: d.namespace, image: d.image, imageId: d.imageId },
      params as unknown as Record<string, unknown>);
    return { task, migration };
  }

  private async checkDataPool(dataPool: string | undefined, namespace: string, mayUse: MayUse): Promise<void> {
    if (dataPool === undefined) return;
    if (!mayUse(dataPool, namespace)) throw new PoolNotPermittedError(dataPool, 'dataPool');
    if (!(await this.pools.exists(dataPool))) throw new DataPoolMissingError(dataPool);
  }

  /** The image is neither end of a migration already (409 MIGRATION_IN_PROGRESS). */
  private async notMigrating(r: ImageRef): Promise<void> {
    const migrating = await this.status(specOf(r), r.image).then(() => true, (e: unknown) => {
      if (e instanceof NotMigratingError) return false;
      throw e;
    });
    if (migrating) throw new AlreadyMigratingError(specOf(r), r.image);
  }

  /** 409 IMAGE_EXISTS when the destination name is taken; 404 POOL_NOT_FOUND / NAMESPACE_NOT_FOUND for its scope. */
  private async nameFree(r: ImageRef): Promise<void> {
    const taken = await this.images.stat(specOf(r), r.image).then(() => true, (e: unknown) => {
      if (isMissingInScope(e)) return false;
      throw e;
    });
    if (taken) throw new CephError('newImage', 'rbd_migration_prepare', -17, `${specOf(r)}/${r.image}`);
  }

  /** librbd's refusals of a prepare, named: EBUSY (opened meanwhile), EEXIST (name taken meanwhile). */
  private prepareFailed(e: unknown, source: ImageRef | null, destination: ImageRef): unknown {
    if (source && isCephError(e, 'EBUSY')) return new ImageInUseError(specOf(source), source.image, [], e);
    if (isCephError(e, 'EEXIST')) return new CephError('newImage', 'rbd_migration_prepare', -17, `${specOf(destination)}/${destination.image}`);
    return e;
  }
}

const refOf = (e: ImageRef): ImageRef => ({ pool: e.pool, namespace: e.namespace, image: e.image });
