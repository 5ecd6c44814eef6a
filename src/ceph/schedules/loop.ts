// The scheduler loop: every replica, every tick, looks at each pool's schedules (schedules/store.ts), finds the
// slot due for each governed image (or namespace, for trash purges) and claims it as a task (tasks/engine.ts
// claim: the record's exclusive create, so one replica wins the claim of a slot and the others find it taken).
// The task engine then runs it on whichever replica takes its lease (schedules/tasks.ts).
//
// Only the latest slot is ever due (dueSlot): after downtime a replica takes one slot per image, not every slot
// it missed (those count as misses). The tick follows the shortest interval seen (a fifth of it, 200 ms to 5 s).
import { isCephError } from '../errors.js';
import type { CephSession } from '../connection.js';
import { listImages } from '../image-names.js';
import { Namespaces } from '../namespaces.js';
import { poolSpec } from '../spec.js';
import type { TaskEngine } from '../tasks/engine.js';
import { poolNames } from '../tasks/pool-lookup.js';
import { dueSlot, gridOf, offsetOf, type PurgeScheduleDef, type SnapshotScheduleDef } from './policy.js';
import { imageStateKey, isDone, purgeDefKey, readDefs, readStates, snapDefKey, type PoolSchedules } from './store.js';
import { PURGE_ACTION, SNAPSHOT_ACTION, type Emit, type PurgeParams, type SnapshotParams } from './tasks.js';

export interface ScheduleOptions {
  /** the shortest `every` a schedule may have, ms (SCHEDULE_MIN_INTERVAL) */
  minIntervalMs: number;
  /** the scheduler's clock (tests move it) */
  now: () => number;
  /** claim slots in this process at all (false: schedules are read and written here, run elsewhere) */
  run: boolean;
}

export const DEFAULT_SCHEDULE_OPTIONS: ScheduleOptions = { minIntervalMs: 60_000, now: Date.now, run: true };

const MIN_TICK = 200;
const IDLE_TICK = 5000;

export class ScheduleLoop {
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private ticking: Promise<void> | undefined;
  private tickMs = IDLE_TICK;
  /** the slot this process claimed last per image / namespace: not claimed again every tick */
  private readonly claimed = new Map<string, number>();
  /** pools being looked at now; pools not to look at before a time (ms); each pool's shortest interval */
  private readonly busy = new Set<string>();
  private readonly skipUntil = new Map<string, number>();
  private readonly shortestOf = new Map<string, number>();
  /** ends the wait of the tick running now (stop) */
  private wake: (() => void) | undefined;

  constructor(private readonly session: CephSession, private readonly tasks: TaskEngine, private readonly opts: ScheduleOptions,
    private readonly emit: Emit) {}

  start(): void {
    if (this.started || !this.opts.run) return;
    this.started = true;
    this.poke();
  }

  /** Stop looking; a tick waiting for a slow pool ends at once (its reads go on alone and claim nothing more). */
  async stop(): Promise<void> {
    this.started = false;
    clearTimeout(this.timer);
    this.wake?.();
    await this.ticking?.catch(() => undefined);
  }

  /** Look now (a schedule was set here). */
  poke(): void {
    if (!this.started) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.ticking = this.tick().finally(() => {
        this.ticking = undefined;
        if (this.started) this.schedule();
      });
    }, 0);
    this.timer.unref();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.poke(), this.tickMs * (0.8 + Math.random() * 0.2));
    this.timer.unref();
  }

  /**
   * One look at every pool, four pools at a time. A pool whose look is still running (its PGs inactive: the
   * read waits for osd_op_timeout) is skipped, and one that timed out is left alone for a minute: such a pool
   * never holds up the schedules of the others. The tick ends after at most its own period; looks still
   * running then go on alone.
   */
  async tick(): Promise<void> {
    const pools = (await poolNames(this.session).catch(() => [] as string[])).filter((p) => this.tasks.serves(p));
    const now = Date.now();
    const queue = pools.filter((p) => !this.busy.has(p) && (this.skipUntil.get(p) ?? 0) <= now);
    for (const p of this.shortestOf.keys()) if (!pools.includes(p)) this.shortestOf.delete(p);
    const worker = async (): Promise<void> => {
      for (let pool = queue.shift(); pool !== undefined && this.started; pool = queue.shift()) {
        if (this.busy.has(pool)) continue;
        this.busy.add(pool);
        try {
          this.shortestOf.set(pool, await this.pool(pool));
        } catch (e) {
          if (isCephError(e, 'ETIMEDOUT')) this.skipUntil.set(pool, Date.now() + 60_000);
        } finally {
          this.busy.delete(pool);
        }
      }
    };
    const all = Promise.all(Array.from({ length: 4 }, worker));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise<void>((r) => {
      this.wake = r;
      timer = setTimeout(r, Math.max(1000, this.tickMs));
      timer.unref();
    })]);
    clearTimeout(timer);
    this.wake = undefined;
    const shortest = Math.min(...this.shortestOf.values());
    this.tickMs = Number.isFinite(shortest) ? Math.max(MIN_TICK, Math.min(IDLE_TICK, shortest / 5)) : IDLE_TICK;
    if (this.claimed.size > 100_000) this.claimed.clear();
  }

  /** Claim what is due in one pool; returns the shortest interval of its schedules (Infinity: none). */
  private async pool(pool: string): Promise<number> {
    const defs = await this.session.withIoctx(pool, (io) => io.use('schedule_scan', (p) => readDefs(p)));
    if (defs.snap.size === 0 && defs.purge.size === 0) return Infinity;
    const { imageStates, purgeStates } = await this.session.withIoctx(pool, (io) => io.use('schedule_scan', (p) => readStates(p)));
    const all: PoolSchedules = { ...defs, imageStates, purgeStates };
    const now = this.opts.now();
    let shortest = Infinity;
    for (const d of [...defs.snap.values(), ...defs.purge.values()]) shortest = Math.min(shortest, gridOf(d, now).everyMs);
    const everyNs = defs.snap.has(snapDefKey({ level: 'pool' })) || defs.purge.has(purgeDefKey(undefined));
    const namespaces = new Set<string>(['']);
    for (const k of [...defs.snap.keys(), ...defs.purge.keys()]) {
      const m = /^def\.(?:snap|purge)\.(?:ns|img)\/([^/]*)/.exec(k);
      if (m) namespaces.add(m[1]!);
    }
    if (everyNs) for (const ns of await new Namespaces(this.session).list(pool)) namespaces.add(ns);
    for (const ns of namespaces) {
      await this.snapshots(pool, ns, all, now).catch((e: unknown) => { if (!isCephError(e, 'ENOENT')) throw e; });
      const purge = defs.purge.get(purgeDefKey(ns)) ?? defs.purge.get(purgeDefKey(undefined));
      if (purge) await this.purge(pool, ns, purge, all, now);
    }
    return shortest;
  }

  private async snapshots(pool: string, ns: string, s: PoolSchedules, now: number): Promise<void> {
    const spec = poolSpec(pool, ns);
    const nsDef = s.snap.get(snapDefKey({ level: 'namespace', namespace: ns })) ?? s.snap.get(snapDefKey({ level: 'pool' }));
    const prefix = `def.snap.img/${ns}/`;
    const imageDefs = new Map([...s.snap].filter(([k]) => k.startsWith(prefix)).map(([k, d]) => [k.slice(prefix.length), d]));
    if (!nsDef && imageDefs.size === 0) return;
    // the images that exist (an image schedule of a deleted image claims nothing)
    const names = (await this.session.withIoctx(spec, (io) => io.use('rbd_list2', (p) => listImages(p, spec, undefined)))).names;
    const images = nsDef ? names : names.filter((n) => imageDefs.has(n));
    for (const image of images) {
      const def = imageDefs.get(image) ?? nsDef;
      if (def) await this.snapshotDue(pool, ns, image, def, s, now);
    }
  }

  private async snapshotDue(pool: string, ns: string, image: string, def: SnapshotScheduleDef, s: PoolSchedules, now: number): Promise<void> {
    const spec = poolSpec(pool, ns);
    const g = gridOf(def, now);
    const offset = offsetOf(`${spec}/${image}`, g.windowMs);
    const slot = dueSlot(g, offset, now);
    if (slot + offset < Date.parse(def.since)) return;
    const st = s.imageStates.get(imageStateKey(ns, image));
    const mine = `s:${spec}/${image}`;
    if (isDone(st, slot) || (this.claimed.get(mine) ?? -Infinity) >= slot) return;
    const before = Math.max(st?.done[0] ?? -Infinity, this.claimed.get(mine) ?? -Infinity);
    if (!this.started) return;
    const params: SnapshotParams = { slot, prefix: def.prefix, keep: def.keep, timezone: def.timezone };
    const rec = await this.tasks.claim(SNAPSHOT_ACTION, { pool, namespace: ns, image }, params as unknown as Record<string, unknown>,
      `${spec}/${image}`, slot);
    this.claimed.set(mine, slot);
    if (rec) {
      const missed = Number.isFinite(before) && slot > before ? Math.max(0, Math.round((slot - before) / g.everyMs) - 1) : 0;
      this.emit({ kind: 'claimed', schedule: 'snapshot', target: `${spec}/${image}`, slot: new Date(slot).toISOString(), taskId: rec.id, missed });
    }
  }

  private async purge(pool: string, ns: string, def: PurgeScheduleDef, s: PoolSchedules, now: number): Promise<void> {
    const spec = poolSpec(pool, ns);
    const g = gridOf(def, now);
    const offset = offsetOf(`${spec}#trash`, g.windowMs);
    const slot = dueSlot(g, offset, now);
    if (slot + offset < Date.parse(def.since)) return;
    const mine = `p:${spec}`;
    const last = s.purgeStates.get(`st.purge.${ns}`);
    const lastSlot = last ? Date.parse(last.slot) : -Infinity;
    if (lastSlot >= slot || (this.claimed.get(mine) ?? -Infinity) >= slot) return;
    if (!this.started) return;
    const params: PurgeParams = { slot };
    const rec = await this.tasks.claim(PURGE_ACTION, { pool, namespace: ns, image: '' }, params as unknown as Record<string, unknown>, `${spec}#trash`, slot);
    this.claimed.set(mine, slot);
    if (rec) {
      const before = Math.max(lastSlot, -Infinity);
      const missed = Number.isFinite(before) && slot > before ? Math.max(0, Math.round((slot - before) / g.everyMs) - 1) : 0;
      this.emit({ kind: 'claimed', schedule: 'trash-purge', target: spec, slot: new Date(slot).toISOString(), taskId: rec.id, missed });
    }
  }
}
