// One run of a task as its handler sees it: the TaskContext (progress, librbd progress callbacks, I/O on the
// run's own client, the commit point), and the state the run shares with its lease keeper (lease-keeper.ts)
// and its end (runner.ts): the latest record it wrote and the progress it has made.
import { E } from '../../native/errno.js';
import { registerProgress, type ProgressCallback } from '../../native/progress.js';
import type { Pointer } from '../../native/types.js';
import { CephError } from '../errors.js';
import type { RunnerSession } from './runner-clients.js';
import { casRecord, publicView, readRecord } from './store.js';
import { isFinished, type Candidate, type LocalRun, type StoredTask, type TaskContext } from './types.js';

/** What one run shares between its context, its lease keeper and its end. */
export interface RunState {
  readonly c: Candidate;
  readonly run: LocalRun;
  readonly runner: RunnerSession;
  /** the latest version of the record this run wrote (the commit point and progress writes move it on) */
  rec: StoredTask;
  readonly progress: RunProgress;
  /** an I/O context of the task's pool (where its record lives), on the run's client */
  withIo<T>(fn: (p: Pointer) => Promise<T>): Promise<T>;
  /** stop the handler: a cancel was asked for (a no-op for a cleanup, which runs to its end) */
  cancelNow(): void;
}

/** The progress of one run: set by its handler, or read from the librbd progress callback it runs a call with. */
export class RunProgress {
  private explicit: number;
  private current: { prog: ProgressCallback; from: number; to: number } | undefined;
  private readonly progs = new Set<ProgressCallback>();

  constructor(start: number) { this.explicit = start; }

  /** 0..1, rounded to 4 digits */
  now(): number {
    const c = this.current;
    const p = c ? c.from + (c.to - c.from) * c.prog.fraction : this.explicit;
    return Math.min(1, Math.max(0, Math.round(p * 10000) / 10000));
  }

  set(f: number): void {
    if (Number.isFinite(f)) { this.explicit = Math.min(1, Math.max(0, f)); this.current = undefined; }
  }

  /** The abort listener of the run: every progress callback answers -ECANCELED from now on. */
  readonly stopAll = (): void => { for (const p of this.progs) p.cancel(); };

  async with<T>(signal: AbortSignal, fn: (cb: unknown) => Promise<T>, range?: { from: number; to: number }): Promise<T> {
    const prog = registerProgress();
    this.progs.add(prog);
    if (signal.aborted) prog.cancel();
    const from = range?.from ?? 0, to = range?.to ?? 1;
    this.current = { prog, from, to };
    try {
      return await fn(prog.pointer);
    } finally {
      if (this.current?.prog === prog) { this.explicit = from + (to - from) * prog.fraction; this.current = undefined; }
      this.progs.delete(prog);
      prog.unregister();
    }
  }
}

/** The handler's context for the run `s`. */
export function taskContext(s: RunState): TaskContext<never> {
  const { c, run, runner } = s;
  const longIo = <T>(fn: (p: Pointer) => Promise<T>) => runner.withIoctxLong
    ? runner.withIoctxLong(c.spec, (io) => io.use('task_io', fn)) : runner.withIoctx(c.spec, (io) => io.use('task_io', fn));
  return {
    task: publicView(s.rec),
    params: (s.rec.params ?? {}) as never,
    signal: run.abort.signal,
    attempt: s.rec.attempts ?? 1,
    progress: (f: number) => s.progress.set(f),
    withProgress: <T>(fn: (cb: unknown) => Promise<T>, range?: { from: number; to: number }) => s.progress.with(run.abort.signal, fn, range),
    io: longIo,
    session: runner,
    commit: () => commit(s),
  };
}

/** ctx.commit(): see TaskContext.commit. */
async function commit(s: RunState): Promise<void> {
  const { c, run } = s;
  if (s.rec.commit !== 'pending') return;
  const cancelled = () => {
    run.stopReason ??= 'cancel';
    run.abort.abort(new Error('cancelled'));
    return new CephError('task', 'task_commit', -E.ECANCELED, `task ${c.id} was cancelled before its commit point`);
  };
  if (run.stopReason === 'cancel') throw cancelled();
  await s.withIo(async (p) => {
    for (let attempt = 0; attempt < 20; attempt++) {
      const fresh = await readRecord(p, c.id);
      if (!fresh || fresh.runner !== s.rec.runner || fresh.attempts !== s.rec.attempts || isFinished(fresh.state)) {
        run.stopReason ??= 'lease';
        run.abort.abort(new Error('lease lost'));
        throw new CephError('task', 'task_commit', -E.EBUSY, `task ${c.id} is not this run's any more`);
      }
      if (fresh.cancelRequested) throw cancelled();
      const next: StoredTask = { ...fresh, v: fresh.v + 1, commit: 'passed' };
      if (await casRecord(p, next)) { s.rec = next; return; }
    }
    throw new CephError('task', 'task_commit', -E.EAGAIN, c.id);
  });
}
