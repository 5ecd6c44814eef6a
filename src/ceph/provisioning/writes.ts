// Every write to one (pool spec, name) — create, PUT, PATCH, DELETE, clone — runs holding the name's mutation
// lock (image-lock.ts: this process and every replica), with a bounded wait (ImageBusyError beyond it):
// librbd's create/open/remove of one name at once leave half-made images and stuck calls (docs/concurrency.md).
// A write whose Ceph call passed its deadline (504) while librbd went on marks the name until that call really
// ends: other writes to it meanwhile get OperationStillRunningError, not a contradiction such as IMAGE_IN_USE
// without watchers.
import type { CephSession } from '../connection.js';
import { isCephError, OperationStillRunningError } from '../errors.js';
import { imageKey, mutationLocks, type MutationKey } from '../image-lock.js';
import type { StillRunning } from '../session.js';

export class NameWrites {
  readonly #stillRunning = new Map<string, { since: string }>();

  constructor(private readonly session: CephSession) {}

  /** The error a write to `name` gets now because an earlier one is still running in librbd; undefined when none is. */
  stillRunning(spec: string, name: string): OperationStillRunningError | undefined {
    const o = this.#stillRunning.get(`${spec}\0${name}`);
    return o && new OperationStillRunningError(spec, name, o.since);
  }

  /** `fn` holding the mutation locks of (spec, name) and of `also` (e.g. a rename's new name, a clone's source). */
  run<T>(spec: string, name: string, fn: () => Promise<T>, also: readonly MutationKey[] = []): Promise<T> {
    const key = `${spec}\0${name}`;
    const busy = this.stillRunning(spec, name);
    if (busy) return Promise.reject(busy);
    // a call past its deadline — in the work or in taking the lock itself (a RADOS lock on a stuck OSD) — marks
    // the name until that call really ends
    return mutationLocks(this.session).run([imageKey(spec, name), ...also], async () => {
      const late = this.stillRunning(spec, name);
      if (late) throw late;
      return fn();
    }).catch((e: unknown) => {
      const pending = (e as StillRunning).pending;
      if (isCephError(e, 'ETIMEDOUT', 'EAGAIN') && pending && !this.#stillRunning.has(key)) {
        this.#stillRunning.set(key, { since: new Date().toISOString() });
        void pending.finally(() => this.#stillRunning.delete(key));
      }
      throw e;
    });
  }
}

/**
 * Run `create` (true: made by this call; false: it existed) unless a call for the same key is in flight in
 * this process: then wait for that one, and answer false if it succeeded (the object exists now; the caller
 * reads it), or try again if it failed.
 */
export async function singleFlight(inFlight: Map<string, Promise<boolean>>, key: string, create: () => Promise<boolean>): Promise<boolean> {
  for (;;) {
    const running = inFlight.get(key);
    if (!running) break;
    if (await running.then(() => true, () => false)) return false;
  }
  const attempt = create();
  inFlight.set(key, attempt);
  try {
    return await attempt;
  } finally {
    if (inFlight.get(key) === attempt) inFlight.delete(key);
  }
}
