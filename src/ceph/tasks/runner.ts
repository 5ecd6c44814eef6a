// The runner: one run of one task. It takes the task's lease (rados_lock_exclusive with a duration on the
// record), fences the previous run when it takes a task over, marks the record running, runs the handler (or
// its cleanup) with a lease keeper beside it (lease-keeper.ts), and writes the one final state.
//
// A task that is queued starts; one that is running with an expired lease (its runner died) is taken over:
// handler.interrupted === 'resume' runs it again; otherwise the cleanup runs and the task ends
// failed/INTERRUPTED; a takeover of a task whose cancel was asked for runs the cleanup and ends cancelled.
//
// Runners' clients: a run is on a librados client of its own (runner-clients.ts), never on the client that
// serves requests, so the fencing of a takeover (blocklisting the previous run's client) stops that run and
// nothing else of the replica.
import { randomBytes } from 'node:crypto';
import { E } from '../../native/errno.js';
import { clientAddress, radosCluster } from '../../native/rados-cluster.js';
import type { Pointer } from '../../native/types.js';
import { native } from '../call.js';
import { CephError } from '../errors.js';
import { LeaseKeeper } from './lease-keeper.js';
import { omapRemove } from './omap.js';
import { RunProgress, taskContext, type RunState } from './run-context.js';
import type { RunnerSession, RunnerSource } from './runner-clients.js';
import {
  ACTIVE_OBJECT, casRecord, finishRecord, lockLease, nowIso, readRecord, removeIfEmpty, removeIndexEntries, setIndexEntry,
  unlockLease,
} from './store.js';
import {
  isFinished, type Candidate, type LocalRun, type StoredTask, type TaskEngineOptions, type TaskError, type TaskHandler,
  type TaskState,
} from './types.js';

type RunMode = 'start' | 'resume' | 'cleanup' | 'cancelled';
/** How a run ended: ran to an end, lost its lease, had nothing to do, or found the lease held by another runner. */
export type RunOutcome = 'done' | 'lost' | 'skipped' | 'busy';

/** What a run needs of the engine (engine.ts) and the scheduler (scheduler.ts). */
export interface RunnerDeps {
  instance: string;
  opts: TaskEngineOptions;
  runners: RunnerSource;
  /** a task prepare() recorded whose work this process has not started yet (TaskEngine.prepare) */
  held(id: string): boolean;
  /** the handler of `action` (of task `id`: a task run here by runHere has a body of its own) */
  handler(action: string, id: string): TaskHandler<never> | undefined;
  emit(rec: StoredTask, from: TaskState | undefined, to: TaskState, reason: string): void;
  /** how a handler's error becomes the task's error */
  describe(e: unknown): TaskError;
  scheduler: { backOff(id: string, until: number): void; readonly isStopping: boolean };
}

export class TaskRunner {
  constructor(private readonly d: RunnerDeps) {}

  /**
   * One run, on a client of its own (see runners). A reused client that was fenced meanwhile fails the
   * first call (the lease): then once more on a new one. The client is reused only after a clean end.
   */
  async runOne(c: Candidate, run: LocalRun): Promise<RunOutcome> {
    const { runners } = this.d;
    let runner = await runners.acquire();
    let outcome: RunOutcome = 'skipped';
    try {
      try {
        outcome = await this.runOn(runner, c, run);
      } catch (e) {
        if (!runner.fenced || this.d.scheduler.isStopping) throw e;
        runners.release(runner, false);
        runner = await runners.acquire();
        outcome = await this.runOn(runner, c, run);
      }
    } finally {
      runners.release(runner, outcome !== 'lost' && !runner.fenced);
    }
    return outcome;
  }

  private async runOn(runner: RunnerSession, c: Candidate, run: LocalRun): Promise<RunOutcome> {
    const { instance, opts, scheduler } = this.d;
    const cookie = randomBytes(8).toString('hex');
    const withIo = <T>(fn: (p: Pointer) => Promise<T>) => runner.withIoctx(c.pool, (io) => io.use('task_run', fn));
    const rc = await withIo((p) => lockLease(p, c.id, cookie, instance, opts.leaseMs, false));
    if (rc === -E.EBUSY || rc === -E.EEXIST) {
      // another runner holds it: look again after its lease could have expired
      scheduler.backOff(c.id, Date.now() + Math.min(opts.leaseMs, opts.scanMs * 2));
      return 'busy';
    }
    if (rc < 0) throw new CephError('object', 'rados_lock_exclusive', rc, c.id);
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
      if (rec.state === 'queued' && rec.reservedFor === instance && this.d.held(rec.id)
        && rec.reservedUntil !== undefined && Date.now() < rec.reservedUntil) {
        // prepared here, its step not done yet: start() offers it (no backoff, which would delay that offer)
        return 'skipped';
      }
      if (rec.state === 'queued' && rec.reservedFor !== undefined && rec.reservedFor !== instance
        && rec.reservedUntil !== undefined && Date.now() < rec.reservedUntil) {
        // its own process claims it (runHere: an upload streaming into that process); look again once the
        // reservation ran out, in case that process died first
        scheduler.backOff(c.id, rec.reservedUntil);
        return 'skipped';
      }
      const handler = this.d.handler(rec.action, rec.id);
      if (!handler) {
        // another version of the service (a rolling upgrade) knows this action: leave it to a replica that does
        scheduler.backOff(c.id, Date.now() + 60_000);
        return 'skipped';
      }
      const takenOver = rec.state === 'running';
      const mode: RunMode = !takenOver ? 'start'
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
        attempts: (rec.attempts ?? 0) + 1, runner: instance, ...(myAddr ? { runnerAddr: myAddr } : {}),
      };
      if (!myAddr) delete next.runnerAddr;
      delete next.reservedFor;
      delete next.reservedUntil;
      if (handler.commitPoint && (mode === 'start' || mode === 'resume')) next.commit = 'pending';
      else delete next.commit;
      if (!(await withIo((p) => casRecord(p, next)))) return 'skipped'; // cancelled or changed meanwhile: next scan decides
      rec = next;
      if (!takenOver) {
        await withIo((p) => setIndexEntry(p, rec!)).catch(() => undefined);
      }
      this.d.emit(rec, takenOver ? 'running' : 'queued', 'running', mode === 'start' ? 'started' : mode === 'resume' ? 'resumed' : 'taken-over');
      const outcome = await this.execute(runner, c, run, rec, handler, mode, cookie);
      if (outcome === 'lost') {
        // another runner took it over (its lease ran out: a stalled event loop, a slow cluster): write nothing
        this.d.emit(rec, 'running', 'running', 'lost');
        return 'lost';
      }
      if (outcome === 'handover') {
        // a clean handover: the next runner need not fence (blocklist) this still-running process
        await withIo(async (p) => {
          const fresh = await readRecord(p, c.id);
          if (fresh && fresh.state === 'running' && fresh.runner === instance && fresh.attempts === rec!.attempts) {
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
    mode: RunMode, cookie: string): Promise<'done' | 'handover' | 'lost'> {
    const progress = new RunProgress(start.progress);
    run.abort.signal.addEventListener('abort', progress.stopAll);
    // a cleanup runs to its end whatever is asked meanwhile
    const cancellable = mode === 'start' || mode === 'resume';
    const s: RunState = {
      c, run, runner, rec: start, progress,
      withIo: <T>(fn: (p: Pointer) => Promise<T>) => runner.withIoctx(c.pool, (io) => io.use('task_run', fn)),
      cancelNow: () => {
        if (!cancellable || run.abort.signal.aborted) return;
        run.stopReason ??= 'cancel';
        run.abort.abort(new Error('cancelled'));
      },
    };
    if (s.rec.cancelRequested) s.cancelNow();
    run.requestCancel = s.cancelNow;
    const ctx = taskContext(s);
    // keeper: lease renewal, progress writes (throttled), cancel requests from other replicas
    const keeper = new LeaseKeeper(s, cookie, this.d.instance, this.d.opts);

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
      run.abort.signal.removeEventListener('abort', progress.stopAll);
      await keeper.stop();
    }

    if (run.stopReason === 'lease' || runner.fenced) return 'lost';
    if (run.stopReason === 'shutdown' && !ok) return 'handover';
    const end = (state: TaskState, patch: Partial<StoredTask>, reason: string) =>
      runner.withIoctx(c.pool, (io) => io.use('task_finish', (p) =>
        finishRecord(p, s.rec, state, patch, (next, was) => this.d.emit(next, was, state, reason))))
        .then((r) => (r === 'lost' ? 'lost' as const : 'done' as const));
    if (mode === 'cancelled' || (run.stopReason === 'cancel' && (!ok || s.rec.commit === 'pending'))) {
      return end('cancelled', { progress: progress.now() }, 'cancelled');
    }
    if (mode === 'cleanup') {
      if (error !== undefined) throw error; // cleanup failed: try again later (lease released, backoff)
      return end('failed', {
        progress: progress.now(),
        error: { code: 'INTERRUPTED', detail: 'The service instance running this task stopped before it finished; what it had begun was undone.' },
      }, 'interrupted');
    }
    // the work was done (or failed) although a cancel was asked for: the cancel came too late (its caller was
    // told so: cancel() answers only with the final state), and the record says what happened
    if (ok) return end('succeeded', { progress: 1, ...(result ? { result } : {}) }, 'succeeded');
    return end('failed', { progress: progress.now(), error: this.d.describe(error) }, 'failed');
  }
}
