// The schedules' task actions (registered in tasks/handlers.ts), run by whichever replica's task engine takes
// the claimed task (tasks/engine.ts claim): leases, fencing of a dead or stalled runner, takeover.
//   schedule.snapshot     target {pool, namespace, image}, params {slot, prefix, keep, timezone}: take the slot's
//                         snapshot unless it was taken, then apply retention to the schedule's own snapshots.
//   schedule.trash-purge  target {pool, namespace}, params {slot}: remove the trash entries whose deferment ended
//                         (the trash.purge code, trash-tasks.ts), and note the slot.
// Exactly once (docs/schedules.md): the snapshot's name is the slot's; it is created under the image's mutation
// lock after reading the image's state (the slots taken) under the same hold, and the state records the slot
// before the hold ends. A resumed run (its runner died) finds the snapshot (EEXIST) or the slot in the state; a
// run of an older slot after a newer one still takes its own slot unless the state says it is done.
import { CephError, isCephError, SnapshotHasChildrenError } from '../errors.js';
import { holdTaskImage } from '../image-lock.js';
import { withOpenImage } from '../open-image.js';
import { Snapshots, userSnapshots } from '../snapshots.js';
import { poolSpec } from '../spec.js';
import type { TaskEngine } from '../tasks/engine.js';
import type { TaskContext } from '../tasks/types.js';
import { runTrashPurge } from '../trash-tasks.js';
import { retained, slotOfName, snapshotName, type Keep } from './policy.js';
import { imageStateKey, isDone, purgeStateKey, readKey, withDone, writeKey, type ImageState, type LastRun } from './store.js';

export const SNAPSHOT_ACTION = 'schedule.snapshot';
export const PURGE_ACTION = 'schedule.trash-purge';

export interface SnapshotParams { slot: number; prefix: string; keep: Keep; timezone: string }
export interface PurgeParams { slot: number }

/** What the scheduler reports (audit lines, metrics): see Schedules.onEvent. */
export type ScheduleEvent =
  | { kind: 'claimed'; schedule: 'snapshot' | 'trash-purge'; target: string; slot: string; taskId: string; missed: number }
  | { kind: 'snapshot-created' | 'snapshot-removed'; target: string; snapshot: string; slot: string; taskId: string }
  | { kind: 'retention-kept'; target: string; snapshot: string; reason: 'clones' | 'protected'; taskId: string }
  | { kind: 'run-ended'; schedule: 'snapshot' | 'trash-purge'; target: string; slot: string; taskId: string; outcome: string; removed?: number };

export type Emit = (e: ScheduleEvent) => void;

const iso = (ms: number) => new Date(ms).toISOString();

async function runSnapshot(ctx: TaskContext<SnapshotParams>, emit: Emit): Promise<Record<string, unknown>> {
  const { pool, namespace, image } = ctx.task.target;
  const spec = poolSpec(pool, namespace);
  const target = `${spec}/${image}`;
  const { slot, prefix, keep, timezone } = ctx.params;
  const name = snapshotName(prefix, slot);
  const snaps = new Snapshots(ctx.session);
  const key = imageStateKey(namespace, image);
  const state = <T>(fn: (p: Parameters<Parameters<TaskContext<unknown>['io']>[0]>[0]) => Promise<T>) =>
    ctx.session.withIoctx(pool, (io) => io.use('schedule_state', fn));
  const taskId = ctx.task.id;
  return holdTaskImage(ctx.session, ctx.task, async () => {
    const st = await state((p) => readKey<ImageState>(p, key));
    if (isDone(st, slot)) return { snapshot: name, outcome: 'done-before' };
    let outcome: LastRun['outcome'] = 'taken';
    try {
      await snaps.create(spec, image, name);
    } catch (e) {
      if (isCephError(e, 'EEXIST')) outcome = 'existed'; // taken by this task's previous run, which died before noting it
      else if (isCephError(e, 'ENOENT') && e.subject === 'image') {
        emit({ kind: 'run-ended', schedule: 'snapshot', target, slot: iso(slot), taskId, outcome: 'image-gone' });
        return { outcome: 'image-gone' };
      } else {
        await state((p) => writeKey(p, key, { ...(st ?? { done: [] }), last: failedRun(slot, taskId, e) })).catch(() => undefined);
        throw e;
      }
    }
    if (outcome === 'taken') emit({ kind: 'snapshot-created', target, snapshot: name, slot: iso(slot), taskId });
    const run: LastRun = { slot: iso(slot), at: new Date().toISOString(), outcome, snapshot: name, taskId };
    await state((p) => writeKey(p, key, withDone(st, slot, run)));
    // retention: the schedule's own snapshots (named by its prefix and a slot) beyond the policy, never one with clones
    // names only (one read-only open); clones and protection are checked by remove() on the few it removes
    const names = await ctx.session.withIoctx(spec, (io) => withOpenImage(io, spec, image, { readOnly: true }, (img) => userSnapshots(img, target)));
    const own = names.flatMap((s) => { const t = slotOfName(prefix, s.name); return t === undefined ? [] : [{ name: s.name, slot: t }]; });
    const keepSet = retained(own.map((o) => o.slot), keep, timezone);
    const removed: string[] = [];
    const kept: string[] = [];
    for (const s of own) {
      if (keepSet.has(s.slot)) continue;
      try {
        await snaps.remove(spec, image, s.name);
        removed.push(s.name);
        emit({ kind: 'snapshot-removed', target, snapshot: s.name, slot: iso(s.slot), taskId });
      } catch (e) {
        if (e instanceof SnapshotHasChildrenError || isCephError(e, 'EBUSY')) {
          kept.push(s.name);
          emit({ kind: 'retention-kept', target, snapshot: s.name, reason: e instanceof SnapshotHasChildrenError ? 'clones' : 'protected', taskId });
        } else if (!isCephError(e, 'ENOENT')) throw e;
      }
    }
    const final: LastRun = { ...run, removed: removed.slice(0, 100), keptWithClones: kept.slice(0, 100) };
    await state((p) => writeKey(p, key, withDone(st, slot, final)));
    emit({ kind: 'run-ended', schedule: 'snapshot', target, slot: iso(slot), taskId, outcome, removed: removed.length });
    return { snapshot: name, outcome, removed, keptWithClones: kept };
  });
}

function failedRun(slot: number, taskId: string, e: unknown): LastRun {
  const code = e instanceof CephError ? `CEPH_${e.code}` : 'INTERNAL_ERROR';
  return { slot: iso(slot), at: new Date().toISOString(), outcome: 'failed', taskId, error: { code, detail: e instanceof Error ? e.message : String(e) } };
}

/** Register schedule.snapshot and schedule.trash-purge; `emit` hears what they did. */
export function registerScheduleTasks(tasks: TaskEngine, emit: Emit): void {
  tasks.register<SnapshotParams>({ action: SNAPSHOT_ACTION, run: (ctx) => runSnapshot(ctx, emit), interrupted: 'resume' });
  tasks.register<PurgeParams>({
    action: PURGE_ACTION,
    interrupted: 'resume',
    run: async (ctx) => {
      const { pool, namespace } = ctx.task.target;
      const result = await runTrashPurge(ctx as unknown as TaskContext<Record<string, never>>);
      const at = new Date().toISOString();
      await ctx.session.withIoctx(pool, (io) => io.use('schedule_state', (p) =>
        writeKey(p, purgeStateKey(namespace), { slot: iso(ctx.params.slot), taskId: ctx.task.id, at, result: { removed: result.removed, skipped: result.skipped } })));
      emit({ kind: 'run-ended', schedule: 'trash-purge', target: poolSpec(pool, namespace), slot: iso(ctx.params.slot), taskId: ctx.task.id,
        outcome: 'purged', removed: Number(result.removed) });
      return result;
    },
  });
}
