// The task engine: long operations (trash purge, image removal, shrink, flatten, copy, rollback…) run as
// durable tasks. State lives in RADOS (task-store.ts), so every replica answers the same for a task and a
// task outlives the process that started it. Tasks run in the service, not in the mgr's rbd_support queue
// (docs/tasks.md says why, with measurements).
//
// Running: a replica runs a task while it holds the task's lease (rados_lock_exclusive with a duration on the
// record, renewed while it runs). Every replica scans the pools' active lists every few seconds and takes any
// task that is queued, or running with an expired lease (its runner died): handler.interrupted === 'resume'
// runs it again; otherwise the cleanup runs and the task ends failed/INTERRUPTED. A task submitted here
// starts at once when a slot is free. At most LONG (longLimiter) tasks run per process, picked round-robin
// by pool spec, so one tenant's long purge does not hold another tenant's flatten.
//
// Runners' clients: a task runs on a librados client of its own (runner-clients.ts), never on the client
// that serves requests, so the fencing of a takeover (blocklisting the previous run's client) stops that run
// and nothing else of the replica.
//
// Cancel: a queued task becomes cancelled at once (compare-and-swap); a running one gets cancelRequested in
// its record, which its runner sees within a second: the signal aborts and librbd progress callbacks return
// -ECANCELED. Whether that stops the work is known only when the handler returns (librbd may finish a step
// anyway), so cancel() waits for the outcome: `cancelled` is the runner's word that the work stopped; a task
// that ended succeeded/failed meanwhile, or a runner that did not answer within cancelWaitMs, is "too late"
// (409). One final state, written once by compare-and-swap: an accepted cancel and a success exclude each other.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { longLimiter } from '../native/async-call.js';
import { E } from '../native/errno.js';
import { clientAddress, radosCluster } from '../native/rados-cluster.js';
import { radosPool } from '../native/rados-pool.js';
import { registerProgress, type ProgressCallback } from '../native/progress.js';
import type { Pointer } from '../native/types.js';
import { native } from './call.js';
import { poolSpec, splitPoolSpec, type CephSession } from './connection.js';
import { CephError, isCephError } from './errors.js';
import type { Handle } from './handle.js';
import { sharedRunner, type RunnerSession, type RunnerSource } from './runner-clients.js';
import {
  ACTIVE_OBJECT, casRecord, createRecord, FINISHED_OBJECT, idOfKey, INDEX_OBJECT, indexKey, isFinished, isIndexKey, lockLease, newTaskId,
  omapPage, omapRemove, omapSet, parseTaskId, publicView, readRecord, removeIfEmpty, removeRecord, unlockLease,
  type StoredTask, type TaskError, type TaskRecord, type TaskState, type TaskTarget,
} from './task-store.js';

export {
  isFinished, parseTaskId, TASK_STATES, type TaskError, type TaskRecord, type TaskState, type TaskTarget,
} from './task-store.js';

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

/** Throw from a handler to fail the task with a stable code of your own. */
export class TaskFailure extends Error {
  constructor(readonly code: string, readonly detail: string, readonly errno?: string) {
    super(detail);
    this.name = 'TaskFailure';
  }
}

export class TaskNotFoundError extends Error {
  constructor(readonly id: string) { super(`task ${id} does not exist`); this.name = 'TaskNotFoundError'; }
}
export class TaskFinishedError extends Error {
  /** `tooLate`: it ended (succeeded/failed) while this cancel waited for its runner */
  constructor(readonly task: TaskRecord, readonly tooLate = false) {
    super(`task ${task.id} ${tooLate ? 'ended' : 'already ended'} (${task.state})`);
    this.name = 'TaskFinishedError';
  }
}
/** A cancel its runner did not confirm within cancelWaitMs: not accepted (the request stays in the record). */
export class TaskNotCancellableError extends Error {
  constructor(readonly task: TaskRecord, readonly waitedMs: number) {
    super(`task ${task.id} did not stop within ${waitedMs} ms`);
    this.name = 'TaskNotCancellableError';
  }
}

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
}

/** The defaults; the service sets them from TASK_* (src/config.ts). */
export const DEFAULT_TASK_OPTIONS: TaskEngineOptions = {
  leaseMs: 15_000,
  scanMs: 2000,
  progressMs: 500,
  run: true,
  retentionMs: 7 * 86_400_000,
  cancelWaitMs: 10_000,
};

/** What the engine needs from the client. */
export interface TaskSession extends CephSession {
  /** withIoctx without the per-operation deadline (long calls) */
  withIoctxLong?<T>(pool: string, fn: (io: Handle<'rados_ioctx_t'>) => Promise<T>): Promise<T>;
}

interface Candidate { pool: string; id: string; spec: string }

interface LocalRun {
  id: string;
  spec: string;
  abort: AbortController;
  /** why it is being stopped: cancel (end cancelled), lease (lost: write nothing), shutdown (hand over) */
  stopReason?: 'cancel' | 'lease' | 'shutdown';
  done: Promise<void>;
  /** set while the handler runs: ask it to stop (a cancel made on this instance) */
  requestCancel?: () => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowIso = () => new Date().toISOString();

export class TaskEngine {
  readonly instance = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  readonly opts: TaskEngineOptions;
  private readonly handlers = new Map<string, TaskHandler<never>>();
  private readonly listeners = new Set<TransitionListener>();
  private describe: (e: unknown) => TaskError = defaultDescribe;
  private readonly candidates = new Map<string, Candidate>();
  private readonly running = new Map<string, LocalRun>();
  /** ids not to try again before this time (ms): locked by another runner, or a cleanup that failed */
  private readonly backoff = new Map<string, number>();
  private rrOrder: string[] = [];
  private scanTimer: NodeJS.Timeout | undefined;
  private scanning = false;
  private lastTrim = 0;
  private started = false;
  private stopping = false;

  private readonly runners: RunnerSource;

  /**
   * `session` serves submit, reads, cancel and the scan; task runs get their clients from `runners` (default:
   * `session` itself, for tools and tests on one connection — then a takeover fences that whole client).
   */
  constructor(private readonly session: TaskSession, opts: Partial<TaskEngineOptions> = {}, runners?: RunnerSource) {
    this.opts = { ...DEFAULT_TASK_OPTIONS, ...opts };
    this.runners = runners ?? sharedRunner(session);
  }

  register<P>(handler: TaskHandler<P>): void {
    this.handlers.set(handler.action, handler as unknown as TaskHandler<never>);
  }

  hasHandler(action: string): boolean { return this.handlers.has(action); }

  /** Subscribe to every transition this instance makes (submit, start, resume, cancel, end); returns an unsubscribe function. */
  onTransition(listener: TransitionListener): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  /** How errors thrown by handlers become a task's error (the HTTP layer installs its mapping). */
  describeErrors(fn: (e: unknown) => TaskError): void { this.describe = fn; }

  /** Start scanning for work (idempotent). Called when the client connects. */
  start(): void {
    if (this.started || !this.opts.run) return;
    this.started = true;
    this.stopping = false;
    this.runners.warm?.();
    const tick = () => {
      this.scanTimer = setTimeout(() => {
        void this.scan().finally(() => { if (this.started) tick(); });
      }, this.opts.scanMs * (0.75 + Math.random() * 0.5));
      this.scanTimer.unref();
    };
    tick();
    void this.scan();
  }

  /**
   * Stop scanning; running tasks are stopped at their next step and handed over (the lease is released
   * while the record still says running, so another replica takes them over at once).
   */
  async stop(waitMs = 5000): Promise<void> {
    this.started = false;
    this.stopping = true;
    clearTimeout(this.scanTimer);
    this.candidates.clear();
    const runs = [...this.running.values()];
    for (const r of runs) {
      r.stopReason ??= 'shutdown';
      r.abort.abort(new Error('the service is shutting down'));
    }
    await Promise.race([Promise.allSettled(runs.map((r) => r.done)), sleep(waitMs)]);
  }

  get runningCount(): number { return this.running.size; }

  /** Remove the tasks of `pool` that ended more than `olderThanMs` ago (retention; also run by the scan). */
  trim(pool: string, olderThanMs: number): Promise<number> {
    return this.session.withIoctx(pool, (io) => io.use('task_trim', (p) => trimFinished(p, Date.now() - olderThanMs, 1000)));
  }

  // ---------------------------------------------------------------------------------------------- submit/read

  /** Queue a task; it starts at once when this instance has a free slot. */
  async submit(action: string, target: TaskTarget, params?: Record<string, unknown>): Promise<TaskRecord> {
    if (!this.handlers.has(action)) throw new RangeError(`no task handler for ${action}`);
    const { pool } = splitPoolSpec(target.pool);
    const rec = await this.session.withIoctx(pool, (io) => io.use('task_submit', async (p) => {
      const poolId = Number(radosPool.ioctxGetId(p) as number | bigint);
      const task: StoredTask = {
        id: newTaskId(poolId), action, target: { ...target, pool }, state: 'queued', progress: 0, createdAt: nowIso(),
        ...(params ? { params } : {}), v: 1, attempts: 0,
      };
      await createRecord(p, task);
      try {
        await Promise.all([
          omapSet(p, INDEX_OBJECT, [{ key: indexKey(task.id), value: indexValue(task) }]),
          omapSet(p, ACTIVE_OBJECT, [{ key: task.id, value: JSON.stringify({ ns: target.namespace }) }]),
        ]);
      } catch (e) {
        await removeIndexEntries(p, task).catch(() => undefined);
        await removeRecord(p, task.id).catch(() => undefined);
        throw e;
      }
      return task;
    }));
    this.emit(rec, undefined, 'queued', 'submitted');
    if (this.started && !this.stopping) {
      this.addCandidate({ pool, id: rec.id, spec: poolSpec(pool, target.namespace) });
      this.pump();
    }
    return publicView(rec);
  }

  /** One task, from RADOS. TaskNotFoundError for an unknown id or a pool that is gone. */
  async get(id: string): Promise<TaskRecord> {
    return publicView(await this.getStored(id));
  }

  private async getStored(id: string): Promise<StoredTask> {
    const pool = await this.poolOfTask(id);
    const rec = await this.session.withIoctx(pool, (io) => io.use('task_get', (p) => readRecord(p, id)));
    if (!rec || rec.id !== id) throw new TaskNotFoundError(id);
    return rec;
  }

  /** Newest first, across the pools asked for; the cursor is the last item's index key. */
  async list(o: TaskListOptions): Promise<{ items: TaskRecord[]; nextCursor: string | undefined }> {
    if (o.cursor !== undefined && !isIndexKey(o.cursor)) throw new RangeError('bad cursor');
    const pools = o.pool !== undefined ? [o.pool] : (await this.poolNames()).filter((p) => o.visiblePool?.(p) ?? true);
    const perPool = await Promise.all(pools.map((pool) => this.listPool(pool, o).catch((e: unknown) => {
      // a pool named explicitly must exist; others may vanish or be unreadable for this key meanwhile
      if (o.pool !== undefined) throw e;
      return { keys: [] as { key: string; pool: string }[], more: false };
    })));
    const merged = perPool.flatMap((r) => r.keys).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const page = merged.slice(0, o.limit);
    const more = merged.length > o.limit || perPool.some((r) => r.more);
    const records = await Promise.all(page.map(({ key, pool }) =>
      this.session.withIoctx(pool, (io) => io.use('task_get', (p) => readRecord(p, idOfKey(key)))).catch(() => undefined)));
    const items = records.filter((r): r is StoredTask => r !== undefined && (o.state === undefined || r.state === o.state)).map(publicView);
    return { items, nextCursor: more && page.length > 0 ? page[page.length - 1]!.key : undefined };
  }

  private async listPool(pool: string, o: TaskListOptions): Promise<{ keys: { key: string; pool: string }[]; more: boolean }> {
    return this.session.withIoctx(pool, (io) => io.use('task_list', async (p) => {
      const keys: { key: string; pool: string }[] = [];
      let after = o.cursor ?? '';
      // scan at most 50,000 index entries per request (a state filter over a long history)
      for (let pages = 0; pages < 50; pages++) {
        const { entries, more } = await omapPage(p, INDEX_OBJECT, after, 1000);
        for (const e of entries) {
          after = e.key;
          if (!isIndexKey(e.key)) continue;
          let v: { s?: string; ns?: string } = {};
          try { v = JSON.parse(e.value) as typeof v; } catch { /* keep */ }
          if (o.state !== undefined && v.s !== o.state) continue;
          if (o.visible && !o.visible(pool, v.ns ?? '')) continue;
          keys.push({ key: e.key, pool });
          if (keys.length > o.limit) return { keys, more: true };
        }
        if (!more) return { keys, more: false };
      }
      return { keys, more: true };
    }));
  }

  /**
   * Cancel. A queued task ends cancelled at once (`wasRunning` false). A running one is asked to stop
   * (cancelRequested), then this waits for its runner's answer: the task ended `cancelled` (the work stopped:
   * the cancel took effect). TaskFinishedError when it had already ended, or ended succeeded/failed meanwhile
   * (`tooLate`: the work could not be stopped any more); TaskNotCancellableError when the runner did not stop
   * it within cancelWaitMs (a step that cannot be interrupted, or a stalled runner).
   */
  async cancel(id: string): Promise<{ task: TaskRecord; wasRunning: boolean }> {
    const pool = await this.poolOfTask(id);
    const asked = await this.session.withIoctx(pool, (io) => io.use('task_cancel', async (p) => {
      for (let attempt = 0; attempt < 20; attempt++) {
        const rec = await readRecord(p, id);
        if (!rec || rec.id !== id) throw new TaskNotFoundError(id);
        if (isFinished(rec.state)) throw new TaskFinishedError(publicView(rec));
        // past its commit point: the work can no longer be stopped
        if (rec.state === 'running' && rec.commit === 'passed') throw new TaskNotCancellableError(publicView(rec), 0);
        if (rec.state === 'running' && rec.cancelRequested) return rec;
        const next: StoredTask = rec.state === 'queued'
          ? { ...rec, v: rec.v + 1, state: 'cancelled', finishedAt: nowIso() }
          : { ...rec, v: rec.v + 1, cancelRequested: true };
        if (!(await casRecord(p, next))) continue;
        if (next.state === 'cancelled') {
          await removeIndexEntries(p, next, true).catch(() => undefined);
          this.candidates.delete(id);
          this.emit(next, 'queued', 'cancelled', 'cancelled');
        } else {
          this.emit(next, 'running', 'running', 'cancel-requested');
          this.running.get(id)?.requestCancel?.();
        }
        return next;
      }
      throw new CephError('task_cancel', -E.EAGAIN, `task ${id} kept changing`);
    }));
    if (asked.state === 'cancelled') return { task: publicView(asked), wasRunning: false };
    // before its commit point: the runner's commit will find the request and stop (see ctx.commit)
    if (asked.commit === 'pending') return { task: publicView(asked), wasRunning: true };
    // the runner's answer: the final state (written once, by compare-and-swap)
    const started = Date.now();
    let last = asked;
    for (let i = 0; Date.now() - started < this.opts.cancelWaitMs; i++) {
      await sleep(Math.min(100, 20 + i * 10));
      const rec = await this.session.withIoctx(pool, (io) => io.use('task_get', (p) => readRecord(p, id))).catch(() => undefined);
      if (!rec) continue;
      last = rec;
      if (rec.state === 'cancelled') return { task: publicView(rec), wasRunning: true };
      if (isFinished(rec.state)) throw new TaskFinishedError(publicView(rec), true);
    }
    throw new TaskNotCancellableError(publicView(last), this.opts.cancelWaitMs);
  }

  // ---------------------------------------------------------------------------------------------- running

  private addCandidate(c: Candidate): void {
    if (this.running.has(c.id) || this.candidates.has(c.id)) return;
    const until = this.backoff.get(c.id);
    if (until !== undefined) {
      if (until > Date.now()) return;
      this.backoff.delete(c.id);
    }
    this.candidates.set(c.id, c);
    if (!this.rrOrder.includes(c.spec)) this.rrOrder.push(c.spec);
  }

  private slots(): number { return Math.max(1, longLimiter.concurrency); }

  /**
   * Round-robin by pool spec: first a spec with nothing running here, then one below its share (LONG - 1
   * slots); the oldest task of that spec.
   */
  private pick(): Candidate | undefined {
    if (this.candidates.size === 0) return undefined;
    const bySpec = new Map<string, Candidate>();
    const created = (id: string) => parseTaskId(id)?.createdMs ?? 0;
    for (const c of this.candidates.values()) {
      const cur = bySpec.get(c.spec);
      if (!cur || created(c.id) < created(cur.id)) bySpec.set(c.spec, c);
    }
    this.rrOrder = this.rrOrder.filter((s) => bySpec.has(s));
    const runningBySpec = new Map<string, number>();
    for (const r of this.running.values()) runningBySpec.set(r.spec, (runningBySpec.get(r.spec) ?? 0) + 1);
    // one slot always stays for a pool spec with nothing running here: a tenant with a backlog of long
    // removals holds at most LONG - 1 slots, so another tenant's task starts at once, not after the backlog
    const perSpec = Math.max(1, this.slots() - 1);
    const eligible = this.rrOrder.filter((s) => (runningBySpec.get(s) ?? 0) < perSpec);
    const spec = eligible.find((s) => !runningBySpec.has(s)) ?? eligible[0];
    if (spec === undefined) return undefined;
    // rotate: the chosen spec goes to the back
    this.rrOrder = [...this.rrOrder.filter((s) => s !== spec), spec];
    const c = bySpec.get(spec)!;
    this.candidates.delete(c.id);
    return c;
  }

  private pump(): void {
    while (!this.stopping && this.started && this.running.size < this.slots()) {
      const c = this.pick();
      if (!c) return;
      const run: LocalRun = { id: c.id, spec: c.spec, abort: new AbortController(), done: Promise.resolve() };
      this.running.set(c.id, run);
      run.done = this.runOne(c, run)
        .catch(() => { this.backoff.set(c.id, Date.now() + this.opts.scanMs * 2); })
        .finally(() => {
          this.running.delete(c.id);
          this.pump();
        });
    }
  }

  /** Look at every pool's active list; queue what is not ours yet. */
  private async scan(): Promise<void> {
    if (this.scanning || this.stopping) return;
    this.scanning = true;
    try {
      const pools = await this.poolNames();
      await Promise.all(pools.map(async (pool) => {
        try {
          const { entries } = await this.session.withIoctx(pool, (io) => io.use('task_scan', (p) => omapPage(p, ACTIVE_OBJECT, '', 1000)));
          for (const e of entries) {
            if (parseTaskId(e.key) === undefined) continue;
            let ns = '';
            try { ns = (JSON.parse(e.value) as { ns?: string }).ns ?? ''; } catch { /* default namespace */ }
            this.addCandidate({ pool, id: e.key, spec: poolSpec(pool, ns) });
          }
        } catch { /* a pool that vanished, or that this key may not read */ }
      }));
      const now = Date.now();
      for (const [id, until] of this.backoff) if (until <= now) this.backoff.delete(id);
      // retention: every 10 minutes, each replica trims what ended before the retention period (idempotent)
      if (this.opts.retentionMs > 0 && now - this.lastTrim > 600_000) {
        this.lastTrim = now;
        await Promise.all(pools.map((pool) => this.session.withIoctx(pool, (io) => io.use('task_trim',
          (p) => trimFinished(p, now - this.opts.retentionMs, 1000))).catch(() => 0)));
      }
    } catch { /* not connected: next scan */ } finally {
      this.scanning = false;
    }
    this.pump();
  }

  /**
   * One run, on a client of its own (see runners). A reused client that was fenced meanwhile fails the
   * first call (the lease): then once more on a new one. The client is reused only after a clean end.
   */
  private async runOne(c: Candidate, run: LocalRun): Promise<void> {
    let runner = await this.runners.acquire();
    let outcome: 'done' | 'lost' | 'skipped' = 'skipped';
    try {
      try {
        outcome = await this.runOn(runner, c, run);
      } catch (e) {
        if (!runner.fenced || this.stopping) throw e;
        this.runners.release(runner, false);
        runner = await this.runners.acquire();
        outcome = await this.runOn(runner, c, run);
      }
    } finally {
      this.runners.release(runner, outcome !== 'lost' && !runner.fenced);
    }
  }

  private async runOn(runner: RunnerSession, c: Candidate, run: LocalRun): Promise<'done' | 'lost' | 'skipped'> {
    const cookie = randomBytes(8).toString('hex');
    const withIo = <T>(fn: (p: Pointer) => Promise<T>) => runner.withIoctx(c.pool, (io) => io.use('task_run', fn));
    const rc = await withIo((p) => lockLease(p, c.id, cookie, this.instance, this.opts.leaseMs, false));
    if (rc === -E.EBUSY || rc === -E.EEXIST) {
      // another runner holds it: look again after its lease could have expired
      this.backoff.set(c.id, Date.now() + Math.min(this.opts.leaseMs, this.opts.scanMs * 2));
      return 'skipped';
    }
    if (rc < 0) throw new CephError('rados_lock_exclusive', rc, c.id);
    try {
      let rec = await withIo((p) => readRecord(p, c.id));
      if (!rec || rec.id !== c.id) {
        await withIo(async (p) => {
          await removeIfEmpty(p, c.id);
          await omapRemove(p, ACTIVE_OBJECT, [c.id]);
        });
        return 'skipped';
      }
      if (isFinished(rec.state)) {
        await withIo((p) => removeIndexEntries(p, rec!, true));
        return 'skipped';
      }
      const handler = this.handlers.get(rec.action);
      if (!handler) {
        // another version of the service (a rolling upgrade) knows this action: leave it to a replica that does
        this.backoff.set(c.id, Date.now() + 60_000);
        return 'skipped';
      }
      const takenOver = rec.state === 'running';
      const mode: 'start' | 'resume' | 'cleanup' | 'cancelled' = !takenOver ? 'start'
        : rec.cancelRequested ? 'cancelled' : handler.interrupted === 'resume' ? 'resume' : 'cleanup';
      // this run's own client: the address a later takeover would fence
      const myAddr = await runner.withCluster('rados_getaddrs', async (cl) => clientAddress(cl)).catch(() => undefined);
      if (takenOver && rec.runnerAddr && rec.runnerAddr !== myAddr) {
        // fence the previous run: its client (a client of that run alone, never the replica's request client)
        // can no longer touch the image if it is only stalled; if it died, the OSDs drop its watches now
        // instead of after osd_client_watch_timeout (30 s)
        const fenced = await runner.monCommand({ prefix: 'osd blocklist', blocklistop: 'add', addr: rec.runnerAddr })
          .then(() => true, () => false);
        // our next operations carry the map that blocklists it: an OSD waits for that map before serving them,
        // so nothing the previous runner still had in flight lands after our cleanup or resume begins
        if (fenced) {
          await runner.withCluster('rados_wait_for_latest_osdmap', (cluster) =>
            native('rados_wait_for_latest_osdmap', radosCluster.waitForLatestOsdmap, cluster)).catch(() => undefined);
        }
      }
      const next: StoredTask = {
        ...rec, v: rec.v + 1, state: 'running', startedAt: rec.startedAt ?? nowIso(),
        attempts: (rec.attempts ?? 0) + 1, runner: this.instance, ...(myAddr ? { runnerAddr: myAddr } : {}),
      };
      if (!myAddr) delete next.runnerAddr;
      if (handler.commitPoint && (mode === 'start' || mode === 'resume')) next.commit = 'pending';
      else delete next.commit;
      if (!(await withIo((p) => casRecord(p, next)))) return 'skipped'; // cancelled or changed meanwhile: next scan decides
      rec = next;
      if (!takenOver) {
        await withIo((p) => omapSet(p, INDEX_OBJECT, [{ key: indexKey(rec!.id), value: indexValue(rec!) }])).catch(() => undefined);
      }
      this.emit(rec, takenOver ? 'running' : 'queued', 'running', mode === 'start' ? 'started' : mode === 'resume' ? 'resumed' : 'taken-over');
      const outcome = await this.execute(runner, c, run, rec, handler, mode, cookie);
      if (outcome === 'lost') {
        // another runner took it over (its lease ran out: a stalled event loop, a slow cluster): write nothing
        this.emit(rec, 'running', 'running', 'lost');
        return 'lost';
      }
      if (outcome === 'handover') {
        // a clean handover: the next runner need not fence (blocklist) this still-running process
        await withIo(async (p) => {
          const fresh = await readRecord(p, c.id);
          if (fresh && fresh.state === 'running' && fresh.runner === this.instance && fresh.attempts === rec!.attempts) {
            const { runnerAddr: _gone, ...rest } = fresh;
            await casRecord(p, { ...rest, v: fresh.v + 1 });
          }
        }).catch(() => undefined);
      }
      return 'done';
    } finally {
      // released on every path: after a handover (shutdown) the record still says running, so the next
      // replica's scan takes it over at once instead of waiting for the lease to expire
      await withIo((p) => unlockLease(p, c.id, cookie)).catch(() => undefined);
    }
  }

  /** Run the handler (or its cleanup) under the lease, with progress, cancel and lease renewal. */
  private async execute(runner: RunnerSession, c: Candidate, run: LocalRun, start: StoredTask, handler: TaskHandler<never>,
    mode: 'start' | 'resume' | 'cleanup' | 'cancelled', cookie: string): Promise<'done' | 'handover' | 'lost'> {
    let rec = start;
    const withIo = <T>(fn: (p: Pointer) => Promise<T>) => runner.withIoctx(c.pool, (io) => io.use('task_run', fn));
    const longIo = <T>(fn: (p: Pointer) => Promise<T>) => runner.withIoctxLong
      ? runner.withIoctxLong(c.spec, (io) => io.use('task_io', fn)) : runner.withIoctx(c.spec, (io) => io.use('task_io', fn));
    let explicit = rec.progress;
    let current: { prog: ProgressCallback; from: number; to: number } | undefined;
    const progs = new Set<ProgressCallback>();
    const progressNow = () => {
      const p = current ? current.from + (current.to - current.from) * current.prog.fraction : explicit;
      return Math.min(1, Math.max(0, Math.round(p * 10000) / 10000));
    };
    const stopAll = () => { for (const p of progs) p.cancel(); };
    run.abort.signal.addEventListener('abort', stopAll);
    // a cleanup runs to its end whatever is asked meanwhile
    const cancellable = mode === 'start' || mode === 'resume';
    const cancelNow = () => {
      if (!cancellable || run.abort.signal.aborted) return;
      run.stopReason ??= 'cancel';
      run.abort.abort(new Error('cancelled'));
    };
    if (rec.cancelRequested) cancelNow();
    run.requestCancel = cancelNow;

    const ctx: TaskContext<never> = {
      task: publicView(rec),
      params: (rec.params ?? {}) as never,
      signal: run.abort.signal,
      attempt: rec.attempts ?? 1,
      progress: (f: number) => { if (Number.isFinite(f)) { explicit = Math.min(1, Math.max(0, f)); current = undefined; } },
      withProgress: async <T>(fn: (cb: unknown) => Promise<T>, range?: { from: number; to: number }) => {
        const prog = registerProgress();
        progs.add(prog);
        if (run.abort.signal.aborted) prog.cancel();
        const from = range?.from ?? 0, to = range?.to ?? 1;
        current = { prog, from, to };
        try {
          return await fn(prog.pointer);
        } finally {
          if (current?.prog === prog) { explicit = from + (to - from) * prog.fraction; current = undefined; }
          progs.delete(prog);
          prog.unregister();
        }
      },
      io: longIo,
      session: runner,
      commit: async () => {
        if (rec.commit !== 'pending') return;
        const cancelled = () => {
          run.stopReason ??= 'cancel';
          run.abort.abort(new Error('cancelled'));
          return new CephError('task_commit', -E.ECANCELED, `task ${c.id} was cancelled before its commit point`);
        };
        if (run.stopReason === 'cancel') throw cancelled();
        await withIo(async (p) => {
          for (let attempt = 0; attempt < 20; attempt++) {
            const fresh = await readRecord(p, c.id);
            if (!fresh || fresh.runner !== rec.runner || fresh.attempts !== rec.attempts || isFinished(fresh.state)) {
              run.stopReason ??= 'lease';
              run.abort.abort(new Error('lease lost'));
              throw new CephError('task_commit', -E.EBUSY, `task ${c.id} is not this run's any more`);
            }
            if (fresh.cancelRequested) throw cancelled();
            const next: StoredTask = { ...fresh, v: fresh.v + 1, commit: 'passed' };
            if (await casRecord(p, next)) { rec = next; return; }
          }
          throw new CephError('task_commit', -E.EAGAIN, c.id);
        });
      },
    };

    // keeper: lease renewal, progress writes (throttled), cancel requests from other replicas
    let lastRenew = Date.now();
    let lastWrite = 0;
    let written = rec.progress;
    let keeperBusy = false;
    const keeper = setInterval(() => {
      if (keeperBusy) return;
      keeperBusy = true;
      void (async () => {
        const now = Date.now();
        if (runner.fenced) {
          // this run's client was blocklisted: a takeover fenced it
          run.stopReason ??= 'lease';
          run.abort.abort(new Error('fenced'));
          return;
        }
        if (now - lastRenew >= this.opts.leaseMs / 3) {
          const r = await withIo((p) => lockLease(p, c.id, cookie, this.instance, this.opts.leaseMs, true)).catch(() => undefined);
          if (r === 0) lastRenew = now;
          else if (r === -E.EBUSY || Date.now() - lastRenew > this.opts.leaseMs) {
            run.stopReason ??= 'lease';
            run.abort.abort(new Error('lease lost'));
            return;
          }
        }
        const p = progressNow();
        const due = now - lastWrite >= this.opts.progressMs;
        if (due && (p !== written || now - lastWrite >= 1000)) {
          lastWrite = now;
          const fresh = await withIo((io) => readRecord(io, c.id)).catch(() => undefined);
          if (!fresh) return;
          if (fresh.cancelRequested) cancelNow();
          if (fresh.runner !== this.instance || isFinished(fresh.state)) {
            run.stopReason ??= 'lease';
            run.abort.abort(new Error('lease lost'));
            return;
          }
          if (p !== fresh.progress) {
            const next = { ...fresh, v: fresh.v + 1, progress: p };
            if (await withIo((io) => casRecord(io, next)).catch(() => false)) { rec = next; written = p; }
          }
        }
      })().finally(() => { keeperBusy = false; });
    }, Math.min(250, this.opts.progressMs));
    keeper.unref();

    let result: Record<string, unknown> | void = undefined;
    let error: unknown;
    let ok = false;
    try {
      if (mode === 'start' || mode === 'resume') {
        result = await handler.run(ctx);
        ok = true;
      } else if (typeof handler.interrupted === 'function') {
        // cleanup (and a takeover of a task whose cancel was asked for): undo what the dead runner began
        await handler.interrupted(ctx);
      }
    } catch (e) {
      error = e;
    } finally {
      clearInterval(keeper);
      run.abort.signal.removeEventListener('abort', stopAll);
      while (keeperBusy) await sleep(10);
    }

    if (run.stopReason === 'lease' || runner.fenced) return 'lost';
    if (run.stopReason === 'shutdown' && !ok) return 'handover';
    const end = (state: TaskState, patch: Partial<StoredTask>, reason: string) =>
      this.finish(runner, c.pool, rec, state, patch, reason).then((r) => (r === 'lost' ? 'lost' as const : 'done' as const));
    if (mode === 'cancelled' || (run.stopReason === 'cancel' && (!ok || rec.commit === 'pending'))) {
      return end('cancelled', { progress: progressNow() }, 'cancelled');
    }
    if (mode === 'cleanup') {
      if (error !== undefined) throw error; // cleanup failed: try again later (lease released, backoff)
      return end('failed', {
        progress: progressNow(),
        error: { code: 'INTERRUPTED', detail: 'The service instance running this task stopped before it finished; what it had begun was undone.' },
      }, 'interrupted');
    }
    // the work was done (or failed) although a cancel was asked for: the cancel came too late (its caller was
    // told so: cancel() answers only with the final state), and the record says what happened
    if (ok) return end('succeeded', { progress: 1, ...(result ? { result } : {}) }, 'succeeded');
    return end('failed', { progress: progressNow(), error: this.describe(error) }, 'failed');
  }

  /**
   * End a task (compare-and-swap on the latest version), then update both indexes. Only this run may end it:
   * 'lost' (nothing written) when the record names another runner or attempt (a takeover).
   */
  private async finish(runner: RunnerSession, pool: string, from: StoredTask, state: TaskState, patch: Partial<StoredTask>,
    reason: string): Promise<StoredTask | 'lost'> {
    return runner.withIoctx(pool, (io) => io.use('task_finish', async (p) => {
      let rec = from;
      for (let attempt = 0; attempt < 20; attempt++) {
        const fresh = await readRecord(p, rec.id);
        if (!fresh) return rec;
        if (isFinished(fresh.state)) return fresh;
        if (fresh.runner !== from.runner || fresh.attempts !== from.attempts) return 'lost';
        const next: StoredTask = { ...fresh, ...patch, v: fresh.v + 1, state, finishedAt: nowIso() };
        if (state !== 'failed') delete next.error;
        // a cancel that did not take effect is not kept on a task that succeeded or failed
        if (state !== 'cancelled') delete next.cancelRequested;
        if (await casRecord(p, next)) {
          await removeIndexEntries(p, next, true).catch(() => undefined);
          this.emit(next, fresh.state, state, reason);
          return next;
        }
        rec = fresh;
      }
      throw new CephError('task_finish', -E.EAGAIN, rec.id);
    }));
  }

  // ---------------------------------------------------------------------------------------------- helpers

  private emit(rec: StoredTask, from: TaskState | undefined, to: TaskState, reason: string): void {
    const t: TaskTransition = { task: publicView(rec), from, to, reason, instance: this.instance };
    for (const l of this.listeners) {
      try { l(t); } catch { /* a listener never breaks the engine */ }
    }
  }

  /** The pool a task id belongs to (from the pool id in it). TaskNotFoundError if it is not an id or the pool is gone. */
  private async poolOfTask(id: string): Promise<string> {
    const parsed = parseTaskId(id);
    if (!parsed) throw new TaskNotFoundError(id);
    try {
      return await this.session.withCluster('rados_pool_reverse_lookup', async (cluster) => {
        const buf = Buffer.alloc(512);
        let rc = await native<number>('rados_pool_reverse_lookup', radosPool.poolReverseLookup, cluster, parsed.poolId, buf, buf.length);
        if (rc === -E.ENOENT) {
          await native('rados_wait_for_latest_osdmap', radosCluster.waitForLatestOsdmap, cluster);
          rc = await native<number>('rados_pool_reverse_lookup', radosPool.poolReverseLookup, cluster, parsed.poolId, buf, buf.length);
        }
        if (rc < 0) throw new CephError('rados_pool_reverse_lookup', rc, String(parsed.poolId));
        const end = buf.indexOf(0);
        return buf.toString('utf8', 0, end < 0 ? rc : end);
      });
    } catch (e) {
      if (isCephError(e, 'ENOENT')) throw new TaskNotFoundError(id);
      throw e;
    }
  }

  private poolNames(): Promise<string[]> {
    return this.session.withCluster('rados_pool_list', async (cluster) => {
      let size = 64 * 1024;
      for (let i = 0; i < 4; i++) {
        const buf = Buffer.alloc(size);
        const rc = await native<number>('rados_pool_list', radosPool.poolList, cluster, buf, buf.length);
        if (rc < 0) throw new CephError('rados_pool_list', rc);
        if (rc > buf.length) { size = rc; continue; }
        return buf.toString('utf8', 0, rc).split('\0').filter((s) => s.length > 0);
      }
      throw new CephError('rados_pool_list', -E.ERANGE);
    });
  }
}

function indexValue(t: StoredTask): string {
  return JSON.stringify({ s: t.state, a: t.action, ns: t.target.namespace });
}

/** Update the main index's state and (when finished) drop the task from the active list. */
async function removeIndexEntries(p: Pointer, t: StoredTask, keepInIndex = false): Promise<void> {
  const ended = t.finishedAt ? Date.parse(t.finishedAt) : NaN;
  await Promise.all([
    keepInIndex ? omapSet(p, INDEX_OBJECT, [{ key: indexKey(t.id), value: indexValue(t) }]) : omapRemove(p, INDEX_OBJECT, [indexKey(t.id)]),
    isFinished(t.state) || !keepInIndex ? omapRemove(p, ACTIVE_OBJECT, [t.id]) : Promise.resolve(),
    keepInIndex && isFinished(t.state) && Number.isFinite(ended)
      ? omapSet(p, FINISHED_OBJECT, [{ key: `${String(ended).padStart(13, '0')}.${t.id}`, value: '' }]) : Promise.resolve(),
  ]);
}

/** Remove the records and index entries of tasks that ended before `before` (ms); at most `max`. */
async function trimFinished(p: Pointer, before: number, max: number): Promise<number> {
  const { entries } = await omapPage(p, FINISHED_OBJECT, '', max);
  const old = entries.filter((e) => Number(e.key.slice(0, 13)) < before);
  if (old.length === 0) return 0;
  const ids = old.map((e) => e.key.slice(14)).filter((id) => parseTaskId(id) !== undefined);
  await Promise.all(ids.map((id) => removeRecord(p, id)));
  await omapRemove(p, INDEX_OBJECT, ids.map(indexKey));
  await omapRemove(p, FINISHED_OBJECT, old.map((e) => e.key));
  return old.length;
}

/** Without the HTTP layer's mapping: the errno name, or the handler's own code. */
export function defaultDescribe(e: unknown): TaskError {
  if (e instanceof TaskFailure) return { code: e.code, detail: e.detail, ...(e.errno ? { errno: e.errno } : {}) };
  if (e instanceof CephError) return { code: `CEPH_${e.code}`, detail: e.message, errno: e.code };
  return { code: 'INTERNAL_ERROR', detail: e instanceof Error ? e.message : String(e) };
}
