// Snapshot schedules with retention (pool, namespace and image level; the most specific wins) and trash purge
// schedules: what the routes call (put, get, delete of each), the loop's start and stop (CephClient starts it
// when connected, like the task engine), and the events the scheduler reports (audit lines and metrics
// subscribe with onEvent; this layer logs nothing). The slot algorithm and why it is exactly-once:
// docs/schedules.md. Files: policy.ts (definitions, slots, names, retention), store.ts (the RADOS object),
// loop.ts (claims), tasks.ts (the task actions that take, remove and purge).
import type { CephSession } from '../connection.js';
import { E } from '../../native/errno.js';
import type { Pointer } from '../../native/types.js';
import { CephError, ScheduleNotFoundError } from '../errors.js';
import { Namespaces } from '../namespaces.js';
import { withOpenImage } from '../open-image.js';
import { poolSpec } from '../spec.js';
import type { TaskEngine } from '../tasks/engine.js';
import { DEFAULT_SCHEDULE_OPTIONS, ScheduleLoop, type ScheduleOptions } from './loop.js';
import { dueSlot, gridOf, nextRun, offsetOf, purgeDef, snapshotDef, type Keep, type PurgeScheduleDef, type SnapshotScheduleDef } from './policy.js';
import {
  imageStateKey, purgeDefKey, purgeStateKey, readDefs, readKey, readStates, removeKeys, snapDefKey, writeKey,
  type LastRun, type PurgeState, type SnapshotScope,
} from './store.js';
import type { Emit, ScheduleEvent } from './tasks.js';

export type { ScheduleEvent } from './tasks.js';
export type { SnapshotScope, LastRun } from './store.js';
export type { ScheduleOptions } from './loop.js';

export interface SnapshotScheduleInput { every: string; at?: string | undefined; keep: Keep; prefix?: string | undefined; timezone?: string | undefined }

export interface SnapshotScheduleStatus {
  level: SnapshotScope['level'];
  schedule: SnapshotScheduleDef;
  /** the next slot's start (every image runs within `spreadSeconds` after it) */
  nextSlot: string;
  /** an image's schedule: the time its next snapshot is taken */
  nextRun?: string;
  spreadSeconds: number;
  /** the newest run of an image this schedule governs */
  lastRun?: LastRun & { image: string; namespace: string };
  /** snapshots retention kept because they have clones (newest runs first, at most 100) */
  retentionSkips: { namespace: string; image: string; snapshots: string[] }[];
}

export interface PurgeScheduleStatus {
  level: 'pool' | 'namespace';
  schedule: PurgeScheduleDef;
  nextRun: string;
  lastRun?: PurgeState;
}

const MAX_SKIPS = 100;

export class Schedules {
  readonly opts: ScheduleOptions;
  private readonly listeners = new Set<(e: ScheduleEvent) => void>();
  private readonly loop: ScheduleLoop;
  /** for the task handlers (tasks/handlers.ts): what they report */
  readonly emit: Emit = (e) => {
    for (const l of this.listeners) {
      try { l(e); } catch { /* a listener never breaks the scheduler */ }
    }
  };

  constructor(private readonly session: CephSession, tasks: TaskEngine, opts: Partial<ScheduleOptions> = {}) {
    this.opts = { ...DEFAULT_SCHEDULE_OPTIONS, ...opts };
    this.loop = new ScheduleLoop(session, tasks, this.opts, this.emit);
  }

  /** Hear every event of this process's scheduler and schedule tasks; returns the unsubscribe. */
  onEvent(listener: (e: ScheduleEvent) => void): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  start(): void { this.loop.start(); }
  stop(): Promise<void> { return this.loop.stop(); }

  private io<T>(pool: string, op: string, fn: (p: Pointer) => Promise<T>): Promise<T> {
    return this.session.withIoctx(pool, (io) => io.use(op, fn));
  }

  /** The namespace (and image) must exist: NAMESPACE/IMAGE errors otherwise (ENOENT with their subject). */
  private async checkScope(pool: string, scope: SnapshotScope | { level: 'namespace'; namespace: string } | { level: 'pool' }): Promise<void> {
    if (scope.level === 'pool') {
      await this.session.withIoctx(pool, async () => undefined);
      return;
    }
    if (scope.namespace !== '' && !(await new Namespaces(this.session).exists(pool, scope.namespace))) {
      throw new CephError('namespace', 'rbd_namespace_exists', -E.ENOENT, `${pool}/${scope.namespace}`);
    }
    if (scope.level === 'image') {
      const spec = poolSpec(pool, scope.namespace);
      await this.session.withIoctx(spec, (io) => withOpenImage(io, spec, scope.image, { readOnly: true }, async () => undefined));
    }
  }

  private targetOf(pool: string, scope: SnapshotScope): string {
    return scope.level === 'pool' ? pool : scope.level === 'namespace' ? `${pool}/${scope.namespace}` : `${poolSpec(pool, scope.namespace)}/${scope.image}`;
  }

  /** Set (replace) a snapshot schedule; ScheduleInvalidError names the field at fault. */
  async putSnapshot(pool: string, scope: SnapshotScope, input: SnapshotScheduleInput): Promise<{ created: boolean; status: SnapshotScheduleStatus }> {
    const def = snapshotDef(input, this.opts.minIntervalMs, this.opts.now());
    await this.checkScope(pool, scope);
    const key = snapDefKey(scope);
    const old = await this.io(pool, 'schedule_put', (p) => readKey<SnapshotScheduleDef>(p, key));
    // an unchanged timing keeps its start: a repeated PUT does not postpone the next slot
    if (old && old.every === def.every && old.at === def.at && old.timezone === def.timezone) def.since = old.since;
    await this.io(pool, 'schedule_put', (p) => writeKey(p, key, def));
    this.loop.poke();
    return { created: !old, status: await this.getSnapshot(pool, scope) };
  }

  async getSnapshot(pool: string, scope: SnapshotScope): Promise<SnapshotScheduleStatus> {
    const [defs, states] = await this.io(pool, 'schedule_get', async (p) => [await readDefs(p), await readStates(p)] as const);
    const def = defs.snap.get(snapDefKey(scope));
    if (!def) throw new ScheduleNotFoundError(this.targetOf(pool, scope), 'snapshot');
    const now = this.opts.now();
    const g = gridOf(def, now);
    const governs = (ns: string, image: string): boolean => {
      if (scope.level === 'image') return ns === scope.namespace && image === scope.image;
      if (defs.snap.has(snapDefKey({ level: 'image', namespace: ns, image }))) return false;
      if (scope.level === 'namespace') return ns === scope.namespace;
      return !defs.snap.has(snapDefKey({ level: 'namespace', namespace: ns }));
    };
    let lastRun: SnapshotScheduleStatus['lastRun'];
    const skips: SnapshotScheduleStatus['retentionSkips'] = [];
    for (const [key, st] of states.imageStates) {
      const rest = key.slice('st.snap.'.length);
      const cut = rest.indexOf('/');
      const ns = rest.slice(0, cut);
      const image = rest.slice(cut + 1);
      if (!st.last || !governs(ns, image)) continue;
      if (!lastRun || st.last.at > lastRun.at) lastRun = { ...st.last, namespace: ns, image };
      if (st.last.keptWithClones?.length && skips.length < MAX_SKIPS) skips.push({ namespace: ns, image, snapshots: st.last.keptWithClones });
    }
    const status: SnapshotScheduleStatus = {
      level: scope.level, schedule: def, nextSlot: new Date(dueSlot(g, 0, now) + g.everyMs).toISOString(),
      spreadSeconds: Math.floor(g.windowMs / 1000), retentionSkips: skips, ...(lastRun ? { lastRun } : {}),
    };
    if (scope.level === 'image') {
      status.nextRun = new Date(nextRun(g, offsetOf(`${poolSpec(pool, scope.namespace)}/${scope.image}`, g.windowMs), now)).toISOString();
    }
    return status;
  }

  /** Remove a snapshot schedule (its snapshots stay); ScheduleNotFoundError when there is none. */
  async deleteSnapshot(pool: string, scope: SnapshotScope): Promise<void> {
    const key = snapDefKey(scope);
    await this.io(pool, 'schedule_delete', async (p) => {
      if (!(await readKey(p, key))) throw new ScheduleNotFoundError(this.targetOf(pool, scope), 'snapshot');
      const extra = scope.level === 'image' ? [imageStateKey(scope.namespace, scope.image)] : [];
      await removeKeys(p, [key, ...extra]);
    });
  }

  /** Set (replace) the trash purge schedule of a pool (every namespace) or of one namespace. */
  async putPurge(pool: string, namespace: string | undefined, input: { every: string }): Promise<{ created: boolean; status: PurgeScheduleStatus }> {
    const def = purgeDef(input, this.opts.minIntervalMs, this.opts.now());
    await this.checkScope(pool, namespace === undefined ? { level: 'pool' } : { level: 'namespace', namespace });
    const key = purgeDefKey(namespace);
    const old = await this.io(pool, 'schedule_put', (p) => readKey<PurgeScheduleDef>(p, key));
    if (old && old.every === def.every) def.since = old.since;
    await this.io(pool, 'schedule_put', (p) => writeKey(p, key, def));
    this.loop.poke();
    return { created: !old, status: await this.getPurge(pool, namespace) };
  }

  async getPurge(pool: string, namespace: string | undefined): Promise<PurgeScheduleStatus> {
    const [def, last] = await this.io(pool, 'schedule_get', async (p) =>
      [await readKey<PurgeScheduleDef>(p, purgeDefKey(namespace)), await readKey<PurgeState>(p, purgeStateKey(namespace ?? ''))] as const);
    if (!def) throw new ScheduleNotFoundError(namespace === undefined ? pool : `${pool}/${namespace}`, 'trash-purge');
    const now = this.opts.now();
    const g = gridOf(def, now);
    return {
      level: namespace === undefined ? 'pool' : 'namespace', schedule: def,
      nextRun: new Date(nextRun(g, offsetOf(`${poolSpec(pool, namespace ?? '')}#trash`, g.windowMs), now)).toISOString(),
      ...(last ? { lastRun: last } : {}),
    };
  }

  async deletePurge(pool: string, namespace: string | undefined): Promise<void> {
    await this.io(pool, 'schedule_delete', async (p) => {
      if (!(await readKey(p, purgeDefKey(namespace)))) throw new ScheduleNotFoundError(namespace === undefined ? pool : `${pool}/${namespace}`, 'trash-purge');
      await removeKeys(p, [purgeDefKey(namespace)]);
    });
  }
}
