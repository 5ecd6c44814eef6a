// Cancelling a task (TaskEngine.cancel): a queued task ends cancelled at once (compare-and-swap); a running one
// gets cancelRequested in its record, and the answer waits for its runner's outcome (engine.ts explains why).
import { setTimeout as sleep } from 'node:timers/promises';
import { E } from '../../native/errno.js';
import { CephError, TaskFinishedError, TaskNotCancellableError, TaskNotFoundError } from '../errors.js';
import { poolOfTask } from './pool-lookup.js';
import { casRecord, nowIso, publicView, readRecord, removeIndexEntries } from './store.js';
import { isFinished, type StoredTask, type TaskRecord, type TaskSession } from './types.js';

/** What the engine does when a cancel took: the record is `cancelled` (it was queued), or `cancelRequested` (running). */
export interface CancelHooks {
  cancelled(rec: StoredTask): void;
  requested(rec: StoredTask): void;
}

/**
 * Cancel. A queued task ends cancelled at once (`wasRunning` false). A running one is asked to stop
 * (cancelRequested), then this waits for its runner's answer: the task ended `cancelled` (the work stopped:
 * the cancel took effect). TaskFinishedError when it had already ended, or ended succeeded/failed meanwhile
 * (`tooLate`: the work could not be stopped any more); TaskNotCancellableError when the runner did not stop
 * it within `cancelWaitMs` (a step that cannot be interrupted, or a stalled runner).
 */
export async function cancelTask(session: TaskSession, id: string, cancelWaitMs: number, on: CancelHooks): Promise<{ task: TaskRecord; wasRunning: boolean }> {
  const pool = await poolOfTask(session, id);
  const asked = await session.withIoctx(pool, (io) => io.use('task_cancel', async (p) => {
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
        on.cancelled(next);
      } else {
        on.requested(next);
      }
      return next;
    }
    throw new CephError('task', 'task_cancel', -E.EAGAIN, `task ${id} kept changing`);
  }));
  if (asked.state === 'cancelled') return { task: publicView(asked), wasRunning: false };
  // before its commit point: the runner's commit will find the request and stop (see ctx.commit)
  if (asked.commit === 'pending') return { task: publicView(asked), wasRunning: true };
  // the runner's answer: the final state (written once, by compare-and-swap)
  const started = Date.now();
  let last = asked;
  for (let i = 0; Date.now() - started < cancelWaitMs; i++) {
    await sleep(Math.min(100, 20 + i * 10));
    const rec = await session.withIoctx(pool, (io) => io.use('task_get', (p) => readRecord(p, id))).catch(() => undefined);
    if (!rec) continue;
    last = rec;
    if (rec.state === 'cancelled') return { task: publicView(rec), wasRunning: true };
    if (isFinished(rec.state)) throw new TaskFinishedError(publicView(rec), true);
  }
  throw new TaskNotCancellableError(publicView(last), cancelWaitMs);
}
