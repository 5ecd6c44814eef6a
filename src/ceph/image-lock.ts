// One image, one writer: the mutation lock every change of an image takes (docs/concurrency.md).
//
// A key names what a mutation changes: an image by its current name in a pool spec, or a trash entry by its
// id. Every operation that changes an image, its snapshots, its metadata or its trash entry runs holding the
// key(s) it touches, in this process AND across replicas:
//   1. in this process, a FIFO queue per key (KeyedLock) with a bounded wait and a bounded queue;
//   2. across processes, a RADOS exclusive lock (cls_lock) on one object per key, `rbdapi_mutation.<hash>` in
//      the pool's default namespace, with a lease (LEASE_MS, renewed every third of it while held, so a dead
//      holder blocks the key for at most one lease). Releasing unlocks AND removes the object in one atomic
//      write op: no object is left behind by a holder that ends normally.
// Operations that take two keys take them in one global order (sorted by lock object), so two of them never
// wait for each other in a cycle; a key the current async context already holds is not taken again (a route
// holding an image's key may call a Ceph-layer function that asks for it too).
// A waiter gives up at its deadline: ImageBusyError, which names the task holding the key when it is one.
// Reads never take a key.
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomBytes } from 'node:crypto';
import { E } from '../native/errno.js';
import { radosObject as R, timeval } from '../native/rados-object.js';
import type { Pointer } from '../native/types.js';
import { native } from './call.js';
import { type CephSession } from './connection.js';
import { CephError, ImageBusyError, LockBusyError } from './errors.js';
import { KeyedLock } from './keyed-lock.js';
import { poolSpec, splitPoolSpec } from './spec.js';

/** What a mutation changes: `image` (by its name) or `trash` (an entry, by id), in pool spec `spec`. */
export type MutationKey = { spec: string; image: string } | { spec: string; trash: string };

/** The key of an image name / of a trash entry. */
export const imageKey = (spec: string, image: string): MutationKey => ({ spec, image });
export const trashKey = (spec: string, trash: string): MutationKey => ({ spec, trash });

export interface LockOptions {
  /** longest wait for all the keys, ms */
  waitMs?: number;
  /** a task id: a waiter that gives up is told which task holds the key (long holds); a task's run takes its
   * keys afresh, whatever async context started it */
  task?: string;
}

export interface MutationLockSettings {
  /** how long a holder that stops renewing (killed, frozen) keeps a key, ms */
  leaseMs: number;
  /** how long a request waits for a key before 503 CEPH_BUSY / 409 OPERATION_IN_PROGRESS, ms */
  waitMs: number;
}

interface Resolved { id: string; pool: string; oid: string; what: string }

const LOCK_NAME = 'rbdapi.mutation';
/** the xattr a task's hold names the task in (removed with the object) */
const TASK_XATTR = 'rbdapi.task';
const LIBRADOS_LOCK_FLAG_MAY_RENEW = 1;

/** cls_lock_unlock_op { string name; string cookie; } with ENCODE_START(1, 1). */
function unlockOp(name: string, cookie: string): Buffer {
  const n = Buffer.from(name);
  const c = Buffer.from(cookie);
  const b = Buffer.alloc(6 + 4 + n.length + 4 + c.length);
  b.writeUInt8(1, 0);
  b.writeUInt8(1, 1);
  b.writeUInt32LE(b.length - 6, 2);
  b.writeUInt32LE(n.length, 6);
  n.copy(b, 10);
  b.writeUInt32LE(c.length, 10 + n.length);
  c.copy(b, 14 + n.length);
  return b;
}

/** The RADOS object whose lock guards `k` (for tools and tests). */
export const lockObjectOf = (k: MutationKey): string => resolve(k).oid;

function resolve(k: MutationKey): Resolved {
  const { pool, namespace } = splitPoolSpec(k.spec);
  const [kind, name] = 'image' in k ? ['image', k.image] : ['trash', k.trash];
  const id = `${pool}\0${namespace}\0${kind}\0${name}`;
  const oid = `rbdapi_mutation.${createHash('sha256').update(id).digest('hex').slice(0, 32)}`;
  return { id, pool, oid, what: kind === 'image' ? `${k.spec}/${name}` : `trash entry ${name} of ${k.spec}` };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class MutationLocks {
  private readonly local = new KeyedLock({ waitMs: 10_000, maxWaiters: 256 });
  private readonly held = new AsyncLocalStorage<ReadonlySet<string>>();
  /** keys this process holds for a task: key id → task id */
  private readonly tasks = new Map<string, string>();
  /** releases running after their answers were sent */
  private readonly releasing = new Set<Promise<void>>();

  private readonly opts: MutationLockSettings;

  constructor(private readonly session: CephSession, settings: Partial<MutationLockSettings> = {}) {
    this.opts = { leaseMs: settings.leaseMs ?? 15_000, waitMs: settings.waitMs ?? 10_000 };
  }

  /** Run `fn` holding every key of `keys` (and those the caller already holds). */
  run<T>(keys: readonly MutationKey[], fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
    // a task never inherits the holds of the request that queued it (a runner started from inside a request's
    // async context would otherwise believe it holds that request's keys)
    const held = opts.task ? new Set<string>() : this.held.getStore() ?? new Set<string>();
    const byId = new Map(keys.map(resolve).filter((k) => !held.has(k.id)).map((k) => [k.id, k]));
    const wanted = [...byId.values()].sort((a, b) => (a.oid < b.oid ? -1 : a.oid > b.oid ? 1 : 0));
    if (wanted.length === 0) return fn();
    const started = performance.now();
    const deadline = started + (opts.waitMs ?? this.opts.waitMs);
    const inside = new Set([...held, ...wanted.map((k) => k.id)]);
    // A request gets fn's outcome as soon as fn ends; each key is then released in the background (unlock +
    // remove, one round trip the answer need not wait for) while its local queue stays held until that is done,
    // so a waiter in this process never polls a lock this process is still letting go of. A task's run ends only
    // once its keys are released: a runner that stops (SIGTERM hands its task over) lets go of the image first.
    const early = !opts.task;
    const take = (i: number): Promise<T> => {
      if (i === wanted.length) return this.held.run(inside, fn);
      const k = wanted[i]!;
      return new Promise<T>((resolve, reject) => {
        this.local.run(k.id, async () => {
          const release = await this.acquire(k, deadline, started, opts.task);
          if (opts.task) this.tasks.set(k.id, opts.task);
          let settle: () => void = () => undefined;
          let stillRunning: Promise<unknown> | undefined;
          try {
            const value = await take(i + 1);
            settle = () => resolve(value);
          } catch (e) {
            settle = () => reject(e);
            // a Ceph call past its deadline goes on in librbd (StillRunning.pending): the image is still being
            // changed, so the key stays held (and renewed) until that call really ends
            stillRunning = (e as { pending?: Promise<unknown> } | undefined)?.pending;
          } finally {
            this.tasks.delete(k.id);
            if (early) settle();
            if (stillRunning) await stillRunning.catch(() => undefined);
            const releasing = release();
            this.releasing.add(releasing);
            await releasing;
            this.releasing.delete(releasing);
            if (!early) settle();
          }
        }, { waitMs: Math.max(0, deadline - performance.now()) }).catch((e: unknown) => {
          reject(e instanceof LockBusyError ? new ImageBusyError(k.what, performance.now() - started, this.tasks.get(k.id)) : e);
        });
      });
    };
    return take(0);
  }

  /** Does the calling async context hold `k` (a conditional request's hold, src/ceph/etag.ts)? */
  holds(k: MutationKey): boolean {
    return this.held.getStore()?.has(resolve(k).id) ?? false;
  }

  /** Resolves once every release in flight has ended (before the connection closes). */
  async drain(): Promise<void> {
    await Promise.all([...this.releasing]);
  }

  /** The RADOS lock of `k`, polled until `deadline`; returns its release. */
  private async acquire(k: Resolved, deadline: number, started: number, task: string | undefined): Promise<() => Promise<void>> {
    const cookie = randomBytes(8).toString('hex');
    // one call per attempt, each under the client's operation deadline, the pauses between them outside it. A call
    // that passes its deadline (a stuck OSD) and takes the lock later is let go at once: nobody waits for it
    for (let attempt = 0; ; attempt++) {
      let gaveUp = false;
      const call = this.withPool(k.pool, async (io) => {
        const got = await native<number>('rados_lock_exclusive', R.lockExclusive, io, k.oid, LOCK_NAME, cookie, k.what.slice(0, 200),
          timeval(this.opts.leaseMs), 0);
        if (got === 0 && gaveUp) void this.unlock(k, cookie);
        return got;
      });
      let rc: number;
      try {
        rc = await call;
      } catch (e) {
        gaveUp = true;
        throw e;
      }
      if (rc === 0) break;
      if (rc !== -E.EBUSY) throw new CephError('object', 'rados_lock_exclusive', rc, k.oid);
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new ImageBusyError(k.what, performance.now() - started, await this.withPool(k.pool, (io) => holderTask(io, k.oid)).catch(() => undefined));
      }
      await sleep(Math.min(left, 5 + attempt * 10, 100));
    }
    if (task) {
      const v = Buffer.from(task);
      await this.withPool(k.pool, (io) => native<number>('rados_setxattr', R.setxattr, io, k.oid, TASK_XATTR, v, v.length));
    }
    // renewed while held: a hold longer than the lease (a task, a slow OSD) keeps it; a process that stops
    // renewing (killed, stalled) loses it after one lease
    const renew = setInterval(() => {
      void this.withPool(k.pool, (io) => native<number>('rados_lock_exclusive', R.lockExclusive, io, k.oid, LOCK_NAME, cookie,
        k.what.slice(0, 200), timeval(this.opts.leaseMs), LIBRADOS_LOCK_FLAG_MAY_RENEW)).catch(() => undefined);
    }, Math.max(1000, Math.floor(this.opts.leaseMs / 3)));
    renew.unref();
    return async () => {
      clearInterval(renew);
      await this.unlock(k, cookie);
    };
  }

  /**
   * Unlock + remove the lock object in one op: when the lease ran out and another holder has the lock now, the
   * unlock fails (ENOENT) and nothing is removed. Errors are dropped: the lease ends by itself.
   */
  private unlock(k: Resolved, cookie: string): Promise<void> {
    return this.withPool(k.pool, async (io) => {
      const op = R.createWriteOp();
      try {
        const input = unlockOp(LOCK_NAME, cookie);
        R.writeOpExec(op, 'lock', 'unlock', input, input.length, null);
        R.writeOpRemove(op);
        await native<number>('rados_write_op_operate', R.writeOpOperate, op, io, k.oid, null, 0);
      } finally {
        R.releaseWriteOp(op);
      }
    }).catch(() => undefined);
  }

  private withPool<T>(pool: string, fn: (io: Pointer) => Promise<T>): Promise<T> {
    return this.session.withIoctx(pool, (io) => io.use('rados_lock_exclusive', fn));
  }
}

/** The task named on a held lock object, if any. */
async function holderTask(io: Pointer, oid: string): Promise<string | undefined> {
  const buf = Buffer.alloc(128);
  const rc = await native<number>('rados_getxattr', R.getxattr, io, oid, TASK_XATTR, buf, buf.length).catch(() => -1);
  return rc > 0 ? buf.toString('utf8', 0, rc) : undefined;
}

/** How long a task waits for the keys it needs (changes already running finish first). */
const TASK_WAIT_MS = 60_000;

/** `fn` holding `keys` for task `taskId`: a waiter that gives up is told which task holds them (409, not 503). */
export function holdForTask<T>(session: CephSession, taskId: string, keys: readonly MutationKey[], fn: () => Promise<T>): Promise<T> {
  return mutationLocks(session).run(keys, fn, { task: taskId, waitMs: TASK_WAIT_MS });
}

/**
 * A task's hold of its target image for the whole run (rollback, flatten, shrink, object-map rebuild): changes
 * requested meanwhile wait, and past their deadline are told which task holds the image (409, not a watcher
 * address of this service).
 */
export function holdTaskImage<T>(session: CephSession, task: { id: string; target: { pool: string; namespace: string; image: string } },
  fn: () => Promise<T>): Promise<T> {
  const { pool, namespace, image } = task.target;
  return holdForTask(session, task.id, [imageKey(poolSpec(pool, namespace), image)], fn);
}

const registry = new WeakMap<CephSession, MutationLocks>();

/**
 * The one MutationLocks of a session (every Ceph-layer class of one client shares its queues). `settings` apply
 * when it is made (CephClient makes it first, with the service's configuration).
 */
export function mutationLocks(session: CephSession, settings?: Partial<MutationLockSettings>): MutationLocks {
  let locks = registry.get(session);
  if (!locks) {
    locks = new MutationLocks(session, settings);
    registry.set(session, locks);
  }
  return locks;
}

