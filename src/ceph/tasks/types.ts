// The task engine's types: the record (as the API shows it and as stored), what a handler gets and gives, the
// errors of the public API, the engine's options, and the two bookkeeping types the scheduler and the runner
// share (Candidate, LocalRun). Which file does what: engine.ts.
import type { CephSession } from '../connection.js';
import type { Handle } from '../handle.js';
import type { Pointer } from '../../native/types.js';
import { TaskFailure } from '../errors.js';

export type TaskState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const TASK_STATES: readonly TaskState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];
export const isFinished = (s: TaskState): boolean => s === 'succeeded' || s === 'failed' || s === 'cancelled';

export interface TaskTarget { pool: string; namespace: string; image: string; imageId?: string; snapshot?: string }
export interface TaskError { code: string; detail: string; errno?: string }
export interface TaskRecord {
  id: string;
  action: string;
  target: TaskTarget;
  state: TaskState;
  progress: number;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  error?: TaskError;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  /** a cancel was asked for while the task ran; the runner stops at its next step */
  cancelRequested?: boolean;
  /** runs started: 1 = first run; more = a replica took it over after its runner died and ran it again */
  attempts?: number;
}

/** The record as stored: the public fields plus the version and the runner's bookkeeping. */
export interface StoredTask extends TaskRecord {
  v: number;
  /** the instance running it (host:pid:random) */
  runner?: string;
  /** its librados client address: blocklisted by the replica that takes the task over (fencing) */
  runnerAddr?: string;
  /** a handler with a commit point: 'pending' (a cancel is accepted at once) or 'passed' (refused) */
  commit?: 'pending' | 'passed';
  /**
   * A task runHere runs in the process that made it (an upload streams into that process): other replicas
   * leave it queued until `reservedUntil` (epoch ms), by when its own process has claimed it — or died, and
   * then a replica takes it (the handler's cleanup).
   */
  reservedFor?: string;
  reservedUntil?: number;
  /** the Idempotency-Key record of the request that submitted it (src/ceph/idempotency.ts): removed with this record */
  idempotency?: string;
}

export interface TaskContext<P> {
  task: TaskRecord;
  params: P;
  /** aborted when the task is cancelled (or this runner lost its lease or is shutting down) */
  signal: AbortSignal;
  /** 0..1, persisted (throttled) */
  progress(fraction: number): void;
  /**
   * Run fn with a librbd progress callback (a koffi pointer) bound to this task: it reports progress (mapped
   * into [from, to] of the task's progress) and returns -ECANCELED once the task is cancelled (librbd then
   * stops). Never pass NULL as a progress callback. Call the native function with `.async` (nativeLong does).
   */
  withProgress<T>(fn: (cb: unknown) => Promise<T>, range?: { from: number; to: number }): Promise<T>;
  /** An I/O context of the task's pool spec (target.pool/target.namespace), without the per-request deadline. */
  io<T>(fn: (io: Pointer) => Promise<T>): Promise<T>;
  /**
   * This run's own librados client: do every other Ceph call of the task (other pools, image handles) through
   * it, never through the service's request client, so a takeover's fencing stops this run and nothing else.
   */
  session: TaskSession;
  /**
   * The commit point of a handler with `commitPoint: true`: call it right before the first step that cannot be
   * undone. Throws (the task ends cancelled) when a cancel was accepted before; afterwards a cancel answers 409
   * TASK_NOT_CANCELLABLE. One compare-and-swap on the record, so a cancel and the commit exclude each other
   * across replicas. A no-op for other handlers.
   */
  commit(): Promise<void>;
  /** 1 on the first run, more when a runner took the task over and runs it again ('resume') */
  attempt: number;
}

export interface TaskHandler<P = Record<string, unknown>> {
  action: string;
  run(ctx: TaskContext<P>): Promise<Record<string, unknown> | void>;
  /**
   * What to do with a task whose runner died: 'resume' = run again (idempotent actions), or a cleanup that
   * leaves nothing half-made; the task then ends failed with code INTERRUPTED.
   */
  interrupted: 'resume' | ((ctx: TaskContext<P>) => Promise<void>);
  /**
   * The handler calls ctx.commit() before its first step that cannot be undone, and undoes everything before it
   * when cancelled. Until then a cancel is accepted at once (202: it will take effect); after it, refused at once.
   * Without a commit point a cancel's answer waits for the runner's outcome (cancel()).
   */
  commitPoint?: boolean;
}

/** For withImageIn: the task's image is gone (its open answered ENOENT) — a failure, not something to retry. */
export const imageMissing = (target: string) => (e: { code: string }): TaskFailure =>
  new TaskFailure('IMAGE_NOT_FOUND', `Image ${target} does not exist.`, e.code);

export interface TaskTransition {
  task: TaskRecord;
  from: TaskState | undefined;
  to: TaskState;
  /** submitted | started | resumed | cancel-requested | cancelled | succeeded | failed | interrupted */
  reason: string;
  /** this instance (host:pid) */
  instance: string;
}
export type TransitionListener = (t: TaskTransition) => void;

export interface TaskListOptions {
  pool?: string | undefined;
  state?: TaskState | undefined;
  limit: number;
  cursor?: string | undefined;
  /** which (pool, namespace) the caller may see; undefined = all */
  visible?: ((pool: string, namespace: string) => boolean) | undefined;
  /** which pools to look in at all when no pool is given; undefined = all */
  visiblePool?: ((pool: string) => boolean) | undefined;
}

export interface TaskEngineOptions {
  /** the runner's lease, ms (renewed every third of it) */
  leaseMs: number;
  /** how often every replica looks for queued tasks and expired leases, ms */
  scanMs: number;
  /** how often a running task's progress may be written, ms */
  progressMs: number;
  /** run tasks in this process at all (false: submit and read only) */
  run: boolean;
  /** finished tasks are removed this long after they ended, ms (0 = kept for ever) */
  retentionMs: number;
  /** how long a cancel of a running task waits for its runner to stop it, ms */
  cancelWaitMs: number;
  /**
   * the pools whose task lists the scan reads and whose schedules this replica runs (names, `*` = any run of
   * characters; TASK_POOLS). A task submitted to this replica still starts here.
   */
  pools: readonly string[];
}

/** The defaults; the service sets them from TASK_* (src/config.ts). */
export const DEFAULT_TASK_OPTIONS: TaskEngineOptions = {
  leaseMs: 15_000,
  scanMs: 2000,
  progressMs: 500,
  run: true,
  retentionMs: 7 * 86_400_000,
  cancelWaitMs: 10_000,
  pools: ['*'],
};

/** What the engine needs from the client. */
export interface TaskSession extends CephSession {
  /** withIoctx without the per-operation deadline (long calls) */
  withIoctxLong?<T>(pool: string, fn: (io: Handle<'rados_ioctx_t'>) => Promise<T>): Promise<T>;
}

/** A task this instance may run: from a submit here or from the scan of a pool's active list. */
export interface Candidate { pool: string; id: string; spec: string }

/** A task running in this instance. */
export interface LocalRun {
  id: string;
  spec: string;
  abort: AbortController;
  /** why it is being stopped: cancel (end cancelled), lease (lost: write nothing), shutdown (hand over) */
  stopReason?: 'cancel' | 'lease' | 'shutdown';
  done: Promise<void>;
  /** set while the handler runs: ask it to stop (a cancel made on this instance) */
  requestCancel?: () => void;
}
