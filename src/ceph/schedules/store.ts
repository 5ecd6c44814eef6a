// Where schedules live: one RADOS object per pool, `rbdapi_schedules` in the pool's default namespace, its omap
// holding every schedule of the pool and what they did (never only in memory; every replica reads the same):
//   def.snap.*                      the pool's snapshot schedule (every namespace, every image)
//   def.snap.ns/<namespace>         a namespace's (wins over the pool's)
//   def.snap.img/<namespace>/<image> an image's (wins over both; <namespace> is '' for the default namespace)
//   def.purge.*  def.purge.ns/<ns>  trash purge schedules (the pool's: every namespace; a namespace's wins)
//   st.snap.<namespace>/<image>     an image's state: the slots taken lately, the last run's outcome (written
//                                   by the snapshot task under the image's mutation lock: one writer at a time)
//   st.purge.<namespace>            the last purge slot claimed and its task
// A definition is one omap key written whole (a PUT replaces it: the last writer wins, as PUT means). Claims of
// slots are not kept here: they are task records with ids derived from the slot (tasks/engine.ts claim), whose
// exclusive create is the compare-and-swap between replicas.
import type { Pointer } from '../../native/types.js';
import { omapPage, omapRemove, omapSet } from '../tasks/omap.js';
import type { PurgeScheduleDef, SnapshotScheduleDef } from './policy.js';

export const SCHEDULES_OBJECT = 'rbdapi_schedules';

/** A level a snapshot schedule is set at: the pool, a namespace of it, or one image. */
export type SnapshotScope = { level: 'pool' } | { level: 'namespace'; namespace: string } | { level: 'image'; namespace: string; image: string };

export const snapDefKey = (s: SnapshotScope): string =>
  s.level === 'pool' ? 'def.snap.*' : s.level === 'namespace' ? `def.snap.ns/${s.namespace}` : `def.snap.img/${s.namespace}/${s.image}`;
export const purgeDefKey = (namespace: string | undefined): string => (namespace === undefined ? 'def.purge.*' : `def.purge.ns/${namespace}`);
export const imageStateKey = (namespace: string, image: string): string => `st.snap.${namespace}/${image}`;
export const purgeStateKey = (namespace: string): string => `st.purge.${namespace}`;

/** What one run of an image's schedule did. */
export interface LastRun {
  slot: string;
  at: string;
  outcome: 'taken' | 'existed' | 'skipped' | 'failed';
  snapshot?: string;
  taskId?: string;
  removed?: string[];
  /** the schedule's snapshots retention would remove but kept: they have clones (or are protected) */
  keptWithClones?: string[];
  error?: { code: string; detail: string };
}

/** An image's state: the newest slots taken (ms, newest first, at most DONE_KEPT), the last run. */
export interface ImageState { done: number[]; last?: LastRun }
export const DONE_KEPT = 32;

export interface PurgeState { slot: string; taskId: string; at: string; result?: { removed: number; skipped: { id: string; name: string; code: string; detail: string }[] } }

/** Every schedule of a pool and the images' states. */
export interface PoolSchedules {
  snap: Map<string, SnapshotScheduleDef>;
  purge: Map<string, PurgeScheduleDef>;
  imageStates: Map<string, ImageState>;
  purgeStates: Map<string, PurgeState>;
}

function parse<T>(v: string): T | undefined {
  try { return JSON.parse(v) as T; } catch { return undefined; }
}

/** Every key with `prefix` (at most 100,000). */
async function readPrefix(p: Pointer, prefix: string): Promise<{ key: string; value: string }[]> {
  const out: { key: string; value: string }[] = [];
  let after = '';
  for (let i = 0; i < 100; i++) {
    const { entries, more } = await omapPage(p, SCHEDULES_OBJECT, after, 1000, prefix);
    out.push(...entries);
    if (!more || entries.length === 0) break;
    after = entries[entries.length - 1]!.key;
  }
  return out;
}

/** The pool's schedules only (what the loop looks at first: most pools have none). */
export async function readDefs(p: Pointer): Promise<Pick<PoolSchedules, 'snap' | 'purge'>> {
  const snap = new Map<string, SnapshotScheduleDef>();
  const purge = new Map<string, PurgeScheduleDef>();
  for (const { key, value } of await readPrefix(p, 'def.')) {
    if (key.startsWith('def.snap.')) {
      const d = parse<SnapshotScheduleDef>(value);
      if (d) snap.set(key, d);
    } else if (key.startsWith('def.purge.')) {
      const d = parse<PurgeScheduleDef>(value);
      if (d) purge.set(key, d);
    }
  }
  return { snap, purge };
}

export async function readStates(p: Pointer): Promise<Pick<PoolSchedules, 'imageStates' | 'purgeStates'>> {
  const imageStates = new Map<string, ImageState>();
  const purgeStates = new Map<string, PurgeState>();
  for (const { key, value } of await readPrefix(p, 'st.')) {
    if (key.startsWith('st.snap.')) {
      const s = parse<ImageState>(value);
      if (s && Array.isArray(s.done)) imageStates.set(key, s);
    } else if (key.startsWith('st.purge.')) {
      const s = parse<PurgeState>(value);
      if (s) purgeStates.set(key, s);
    }
  }
  return { imageStates, purgeStates };
}

/** One key's value, or undefined. */
export async function readKey<T>(p: Pointer, key: string): Promise<T | undefined> {
  const { entries } = await omapPage(p, SCHEDULES_OBJECT, '', 1, key);
  const e = entries.find((x) => x.key === key);
  return e ? parse<T>(e.value) : undefined;
}

/** Keys starting with `prefix` (e.g. the states of a namespace's images), at most `max`. */
export async function readKeys<T>(p: Pointer, prefix: string, max: number): Promise<{ key: string; value: T }[]> {
  const { entries } = await omapPage(p, SCHEDULES_OBJECT, '', max, prefix);
  return entries.flatMap((e) => { const v = parse<T>(e.value); return v ? [{ key: e.key, value: v }] : []; });
}

export const writeKey = (p: Pointer, key: string, value: unknown): Promise<void> =>
  omapSet(p, SCHEDULES_OBJECT, [{ key, value: JSON.stringify(value) }]);

export const removeKeys = (p: Pointer, keys: string[]): Promise<void> => omapRemove(p, SCHEDULES_OBJECT, keys);

/** An image's state after slot `slot` was taken (or found taken): newest first, bounded. */
export function withDone(s: ImageState | undefined, slot: number, last: LastRun): ImageState {
  const done = [...new Set([slot, ...(s?.done ?? [])])].sort((a, b) => b - a).slice(0, DONE_KEPT);
  return { done, last };
}

/** Was `slot` taken already (or is it older than every slot the state remembers)? */
export function isDone(s: ImageState | undefined, slot: number): boolean {
  if (!s || s.done.length === 0) return false;
  return s.done.includes(slot) || (s.done.length >= DONE_KEPT && slot < s.done[s.done.length - 1]!);
}
