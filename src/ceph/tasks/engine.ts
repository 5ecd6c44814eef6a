// The task engine: long operations (trash purge, image removal, shrink, flatten, copy, rollback…) run as
// durable tasks. State lives in RADOS (store.ts), so every replica answers the same for a task and a task
// outlives the process that started it. Tasks run in the service, not in the mgr's rbd_support queue
// (docs/tasks.md says why, with measurements).
//
// Which file does what (src/ceph/tasks/):
//   engine.ts        this: the public API (register, submit, get, list, cancel, transitions) and the wiring
//   types.ts         the record, TaskContext/TaskHandler, TaskFailure, the API's errors, the options
//   handlers.ts      the one list of handlers (every action), registered by CephClient
//   scheduler.ts     which task runs next here: the scan, the candidates, round robin by pool spec
//   runner.ts        one run: lease, fencing of the previous run, the handler, the final state
//   run-context.ts   what the handler gets (ctx: progress, I/O, session, commit point)
//   lease-keeper.ts  while it runs: lease renewal, progress writes, cancels and takeovers seen in the record
//   runner-clients.ts the runs' own librados clients (what a takeover fences)
//   store.ts         the RADOS objects: records (compare-and-swap), ids, lease, the indexes, retention
//   omap.ts          the omap primitives the store uses
//   cancel.ts        cancelling: queued at once, running by request and the runner's answer
//   listing.ts       a page of tasks across pools (GET /tasks)
//   pool-lookup.ts   the pool of a task id; the pools to scan (TASK_POOLS)
//
// Cancel: a queued task becomes cancelled at once (compare-and-swap); a running one gets cancelRequested in
// its record, which its runner sees within a second: the signal aborts and librbd progress callbacks return
// -ECANCELED. Whether that stops the work is known only when the handler returns (librbd may finish a step
// anyway), so cancel() waits for the outcome: `cancelled` is the runner's word that the work stopped; a task
// that ended succeeded/failed meanwhile, or a runner that did not answer within cancelWaitMs, is "too late"
// (409). One final state, written once by compare-and-swap: an accepted cancel and a success exclude each other.
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { radosPool } from '../../native/rados-pool.js';
import { poolSpec, splitPoolSpec } from '../spec.js';
import { CephError, TaskFailure, TaskNotFoundError } from '../errors.js';
import { claimContext } from '../idempotency.js';
import { cancelTask } from './cancel.js';
import { listTasks } from './listing.js';
import { poolOfTask } from './pool-lookup.js';
import { TaskRunner } from './runner.js';
import { sharedRunner, type RunnerSource } from './runner-clients.js';
import { Scheduler } from './scheduler.js';
import {
  addTask, newTaskId, nowIso, publicView, readRecord, trimFinished,
} from './store.js';
import { DEFAULT_TASK_OPTIONS, type LocalRun, type StoredTask, type TaskContext, type TaskEngineOptions, type TaskError, type TaskHandler, type TaskListOptions, type TaskRecord, type TaskSession, type TaskState, type TaskTarget, type TaskTransition, type TransitionListener } from './types.js';

export class TaskEngine {
  readonly instance = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  readonly opts: TaskEngineOptions;
  private readonly handlers = new Map<string, TaskHandler<never>>();
  /** tasks prepare() recorded whose work this process has not started yet: even this instance's scan skips them */
  private readonly held = new Set<string>();
  /** bodies of the tasks runHere runs in this process, by task id */
  private readonly local = new Map<string, (ctx: TaskContext<never>) => Promise<Record<string, unknown> | void>>();
  private readonly listeners = new Set<TransitionListener>();
  private describe: (e: unknown) => TaskError = defaultDescribe;
  private readonly runners: RunnerSource;
  private readonly scheduler: Scheduler;
  private readonly runner: TaskRunner;

  /**
   * `session` serves submit, reads, cancel and the scan; task runs get their clients from `runners` (default:
   * `session` itself, for tools and tests on one connection — then a takeover fences that whole client).
   */
  constructor(private readonly session: TaskSession, opts: Partial<TaskEngineOptions> = {}, runners?: RunnerSource) {
    this.opts = { ...DEFAULT_TASK_OPTIONS, ...opts };
    this.runners = runners ?? sharedRunner(session);
    this.scheduler = new Scheduler(session, this.opts, (c, run) => this.runner.runOne(c, run));
    this.runner = new TaskRunner({
      instance: this.instance, opts: this.opts, runners: this.runners, scheduler: this.scheduler,
      handler: (action, id) => {
        const h = this.handlers.get(action);
        const body = this.local.get(id);
        return h && body ? { ...h, run: body } : h;
      },
      held: (id) => this.held.has(id),
      emit: (rec, from, to, reason) => this.emit(rec, from, to, reason),
      describe: (e) => this.describe(e),
    });
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

  /** Whether this replica scans `pool` for tasks and runs its schedules (TASK_POOLS). */
  serves(pool: string): boolean { return this.scheduler.serves(pool); }

  /** Start scanning for work (idempotent). Called when the client connects. */
  start(): void {
    this.scheduler.start(() => this.runners.warm?.());
  }

  /**
   * Stop scanning; running tasks are stopped at their next step and handed over (the lease is released
   * while the record still says running, so another replica takes them over at once).
   */
  stop(waitMs = 5000): Promise<void> { return this.scheduler.stop(waitMs); }

  get runningCount(): number { return this.scheduler.running.size; }

  /** Remove the tasks of `pool` that ended more than `olderThanMs` ago (retention; also run by the scan). */
  trim(pool: string, olderThanMs: number): Promise<number> {
    return this.session.withIoctx(pool, (io) => io.use('task_trim', (p) => trimFinished(p, Date.now() - olderThanMs, 1000)));
  }

  /**
   * A new task record, queued, written to `pool`'s task index (its id carries the pool's id). `reserve`: for
   * this instance (runHere), which claims it at once; other replicas skip it for two leases.
   */
  private store(pool: string, action: string, target: TaskTarget, params: Record<string, unknown> | undefined,
    id: (poolId: number) => string = newTaskId, reserve = false): Promise<StoredTask> {
    return this.session.withIoctx(pool, (io) => io.use('task_submit', async (p) => {
      const poolId = Number(radosPool.ioctxGetId(p) as number | bigint);
      // a request with an Idempotency-Key: the task is its answer, and the key's record lives as long as the task's
      const claim = claimContext.getStore();
      const keyed = claim && claim.pool === pool && claim.task === undefined ? claim : undefined;
      const task: StoredTask = {
        id: id(poolId), action, target: { ...target, pool }, state: 'queued', progress: 0, createdAt: nowIso(),
        ...(params ? { params } : {}), v: 1, attempts: 0, ...(keyed ? { idempotency: keyed.oid } : {}),
        ...(reserve ? { reservedFor: this.instance, reservedUntil: Date.now() + 2 * this.opts.leaseMs } : {}),
      };
      await addTask(p, task);
      if (keyed) keyed.task = task.id;
      return task;
    }));
  }

  /** A new task of a known action, recorded queued (`reserve`: for this instance, see store) and announced. */
  private async record(action: string, target: TaskTarget, params: Record<string, unknown> | undefined, reserve = false): Promise<{ pool: string; rec: StoredTask }> {
    if (!this.handlers.has(action)) throw new RangeError(`no task handler for ${action}`);
    const { pool } = splitPoolSpec(target.pool);
    const rec = await this.store(pool, action, target, params, newTaskId, reserve);
    this.emit(rec, undefined, 'queued', 'submitted');
    return { pool, rec };
  }

  /** Queue a task; it starts at once when this instance has a free slot. */
  async submit(action: string, target: TaskTarget, params?: Record<string, unknown>): Promise<TaskRecord> {
    const { pool, rec } = await this.record(action, target, params);
    this.scheduler.offer({ pool, id: rec.id, spec: poolSpec(pool, target.namespace) });
    return publicView(rec);
  }

  /**
   * A task recorded BEFORE the step that makes it needed (an image DELETE: its removal is recorded, then the image
   * is moved to the trash), so that a process killed between the step and the task leaves the task behind: it is
   * queued and reserved for this process, which starts it with `start()` once the step is done, or cancels it with
   * `abandon()` when the step failed. If this process dies in between, the reservation runs out (two leases) and
   * another replica runs the handler — which must tell whether the step happened.
   */
  async prepare(action: string, target: TaskTarget, params: Record<string, unknown>): Promise<{ task: TaskRecord; start(): void; abandon(): Promise<void> }> {
    const { pool, rec } = await this.record(action, target, params, true);
    this.held.add(rec.id);
    const candidate = { pool, id: rec.id, spec: poolSpec(pool, target.namespace) };
    return {
      task: publicView(rec),
      start: () => {
        this.held.delete(rec.id);
        this.scheduler.offer(candidate);
      },
      abandon: async () => {
        this.held.delete(rec.id);
        await this.cancel(rec.id).catch(() => undefined);
      },
    };
  }

  /**
   * Queue the task of `action` named by `key` at time `atMs` (a schedule's slot), unless any replica did: its id
   * is derived from (pool, atMs, key), and the record's exclusive create is the claim — undefined when the record
   * exists (another replica, or this one, claimed it first). Runs like a submitted task (leases, takeover).
   */
  async claim(action: string, target: TaskTarget, params: Record<string, unknown>, key: string, atMs: number): Promise<TaskRecord | undefined> {
    if (!this.handlers.has(action)) throw new RangeError(`no task handler for ${action}`);
    const { pool } = splitPoolSpec(target.pool);
    const suffix = createHash('sha256').update(`${action}\0${key}\0${atMs}`).digest('hex').slice(0, 8);
    let rec: StoredTask;
    try {
      rec = await this.store(pool, action, target, params, (poolId) => `${newTaskId(poolId, atMs).slice(0, -8)}${suffix}`);
    } catch (e) {
      if (e instanceof CephError && e.code === 'EEXIST') return undefined;
      throw e;
    }
    this.emit(rec, undefined, 'queued', 'submitted');
    this.scheduler.offer({ pool, id: rec.id, spec: poolSpec(pool, target.namespace) });
    return publicView(rec);
  }

  /**
   * Run a task of `action` in this process, now, with `body` as its run: for work that belongs to a request
   * (an import streams the request's body into the image). The record is durable and leased like any task's
   * (progress, listed under /tasks); when this process dies, another replica (or this one restarted) takes it
   * over and runs the action's `interrupted` cleanup — the registered handler's `run` is used only by a replica
   * that picks the task up before this one does (a rare race: it must fail without doing anything). Not counted
   * against the scheduler's slots: the request's own limits bound such runs. Resolves with the body's result;
   * rejects with the body's error (the task ends failed), or with a busy CephError when the task could not be
   * run here.
   */
  async runHere<P, R extends Record<string, unknown> | void>(action: string, target: TaskTarget, params: P,
    body: (ctx: TaskContext<P>) => Promise<R>): Promise<R> {
    const { pool, rec } = await this.record(action, target, params as Record<string, unknown>, true);
    let outcome: { ok: true; value: R } | { ok: false; error: unknown } | undefined;
    let ran: Promise<void> | undefined;
    this.local.set(rec.id, (ctx) => {
      ran = (async () => {
        try {
          outcome = { ok: true, value: await body(ctx as unknown as TaskContext<P>) };
        } catch (e) {
          outcome = { ok: false, error: e };
        }
      })();
      return ran.then(() => {
        if (!outcome!.ok) throw outcome!.error;
        return outcome!.value;
      });
    });
    try {
      const run: LocalRun = { id: rec.id, spec: poolSpec(pool, target.namespace), abort: new AbortController(), done: Promise.resolve() };
      // another replica's scan may hold the lease for a moment (it reads the record, sees the reservation and
      // lets go): claim it again until the reservation runs out
      const until = rec.reservedUntil ?? 0;
      while (await this.runner.runOne({ pool, id: rec.id, spec: run.spec }, run) === 'busy' && !ran && !this.scheduler.running.has(rec.id) && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 25));
      }
      // this process's scheduler may have won the lease by a hair (its scan): the body runs there
      if (!ran && this.scheduler.running.has(rec.id)) await this.scheduler.running.get(rec.id)!.done;
      if (ran) await ran;
    } finally {
      this.local.delete(rec.id);
    }
    if (!outcome) throw CephError.busy(`task ${rec.id} (${action}) was started by another replica`);
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }

  /** One task, from RADOS. TaskNotFoundError for an unknown id or a pool that is gone. */
  async get(id: string): Promise<TaskRecord> {
    const pool = await poolOfTask(this.session, id);
    const rec = await this.session.withIoctx(pool, (io) => io.use('task_get', (p) => readRecord(p, id)));
    if (!rec || rec.id !== id) throw new TaskNotFoundError(id);
    return publicView(rec);
  }

  /** Newest first, across the pools asked for; the cursor is the last item's index key (listing.ts). */
  list(o: TaskListOptions): Promise<{ items: TaskRecord[]; nextCursor: string | undefined }> {
    return listTasks(this.session, o);
  }

  /** Cancel (cancel.ts cancelTask says what each answer means); this engine's scheduler and listeners hear of it. */
  cancel(id: string): Promise<{ task: TaskRecord; wasRunning: boolean }> {
    return cancelTask(this.session, id, this.opts.cancelWaitMs, {
      cancelled: (rec) => {
        this.scheduler.drop(id);
        this.emit(rec, 'queued', 'cancelled', 'cancelled');
      },
      requested: (rec) => {
        this.emit(rec, 'running', 'running', 'cancel-requested');
        this.scheduler.running.get(id)?.requestCancel?.();
      },
    });
  }

  private emit(rec: StoredTask, from: TaskState | undefined, to: TaskState, reason: string): void {
    const t: TaskTransition = { task: publicView(rec), from, to, reason, instance: this.instance };
    for (const l of this.listeners) {
      try { l(t); } catch { /* a listener never breaks the engine */ }
    }
  }
}

/** Without the HTTP layer's mapping: the errno name, or the handler's own code. */
export function defaultDescribe(e: unknown): TaskError {
  if (e instanceof TaskFailure) return { code: e.code, detail: e.detail, ...(e.errno ? { errno: e.errno } : {}) };
  if (e instanceof CephError) return { code: `CEPH_${e.code}`, detail: e.message, errno: e.code };
  return { code: 'INTERNAL_ERROR', detail: e instanceof Error ? e.message : String(e) };
}
