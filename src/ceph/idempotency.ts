// Idempotency-Key (IETF httpapi draft "The Idempotency-Key HTTP Header Field"): a POST that starts work, retried
// with the same key, gets the first attempt's answer — the same task, the same status — instead of doing the
// work again (a retried flatten of a clone the first attempt flattened would otherwise be 400 NOT_A_CLONE, a
// retried copy 409 IMAGE_EXISTS). docs/concurrency.md, "Safe retries".
//
// One RADOS object per key, in the default namespace of the request's pool, beside the task store:
//   rbdapi_idem.<sha256(principal, key)>   JSON {v, fp, state: pending|done, at, answer?}; xattr "v" = its version
// - The first request creates it exclusively (state pending): of two requests with one key, on any replicas,
//   exactly one creates it and does the work; the other finds it pending (IdempotencyKeyInUseError, 409 as the
//   draft says) or done (the answer, replayed).
// - `fp` is the request's fingerprint (method, URL, body): the key with another request is
//   IdempotencyKeyReusedError (422).
// - The answer is written by compare-and-swap on "v" once the work has answered 2xx; any other answer removes
//   the record (a retry does the work afresh: nothing was started). A pending record older than PENDING_MS (its
//   process died between the claim and the answer) is taken over by compare-and-swap.
// - Lifetime: an answer that started a task lives as long as the task's record: the task record names the key's
//   object (`idempotency`), and the task store's retention removes both together (store.ts trimFinished); a task
//   gone by other means (its pool's tasks trimmed) makes the key unknown again. Other answers (201 of a snapshot
//   create) are entered in the store's finished list when answered and trimmed after the same retention.
// A task submitted while a claim is current (the request's async context: `claimContext`) is tied to it by the
// task engine (engine.ts store()).
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { E } from '../native/errno.js';
import { LIBRADOS_CMPXATTR_OP_EQ, radosObject as R } from '../native/rados-object.js';
import type { Pointer } from '../native/types.js';
import { native } from './call.js';
import type { CephSession } from './connection.js';
import { CephError, IdempotencyKeyInUseError, IdempotencyKeyReusedError } from './errors.js';
import { FINISHED_OBJECT, IDEMPOTENCY_PREFIX } from './tasks/store.js';
import { omapSet } from './tasks/omap.js';

export { IDEMPOTENCY_PREFIX };
/** a pending claim older than this belongs to a process that died before answering: taken over */
export const PENDING_MS = 60_000;
/** the most bytes of an answer's body kept (answers of POSTs that start work are small: a task, an image) */
const MAX_BODY = 64 * 1024;

/** What a request with a key is: where its record lives, who sent it, and its fingerprint. */
export interface KeyedRequest {
  /** the pool of the request's URL (its default namespace holds the record) */
  pool: string;
  /** the token's name ('' without authentication) */
  principal: string;
  key: string;
  /** method, URL (path and query) and the canonical body */
  fingerprint: string;
}

/** An answer as replayed. `task`: the task it started (the replay shows the task as it is now). */
export interface StoredAnswer { status: number; headers: Record<string, string>; body: string; task?: string | undefined }

interface KeyRecord { v: number; fp: string; state: 'pending' | 'done'; at: number; answer?: StoredAnswer }

/** The first request with a key: do the work, then `complete` with its answer, or `abandon` on failure. */
export class Claim {
  /** the task this request submitted (set by the task engine while the claim is current) */
  task: string | undefined;
  constructor(private readonly owner: Idempotency, readonly pool: string, readonly oid: string, private v: number, private readonly fp: string) {}

  complete(answer: StoredAnswer): Promise<void> {
    const stored: StoredAnswer = { ...answer, body: answer.body.length <= MAX_BODY ? answer.body : '', task: answer.task ?? this.task };
    return this.owner.write(this.pool, this.oid, { v: this.v + 1, fp: this.fp, state: 'done', at: Date.now(), answer: stored }, this.v);
  }

  abandon(): Promise<void> {
    return this.owner.remove(this.pool, this.oid, this.v);
  }
}

export type Begun = { kind: 'new'; claim: Claim } | { kind: 'replay'; answer: StoredAnswer };

/** The claim of the request being handled (the task engine ties a task it stores to it). */
export const claimContext = new AsyncLocalStorage<Claim>();

export interface IdempotencyOptions {
  /** how long an answer without a task is kept, ms (the task retention) */
  retentionMs: number;
  /** does the task still exist (its record, with the task retention) */
  taskExists(id: string): Promise<boolean>;
  /** a pending claim older than this is taken over, ms (default PENDING_MS) */
  pendingMs?: number;
}

export class Idempotency {
  constructor(private readonly session: CephSession, private readonly opts: IdempotencyOptions) {}

  /** The record's object of a key. */
  static oid(principal: string, key: string): string {
    return `${IDEMPOTENCY_PREFIX}${createHash('sha256').update(principal).update('\0').update(key).digest('hex').slice(0, 40)}`;
  }

  /**
   * Claim the key for this request, or find the answer to replay. IdempotencyKeyReusedError: the key was used with
   * another request; IdempotencyKeyInUseError: the first request with it is still being processed.
   */
  async begin(r: KeyedRequest): Promise<Begun> {
    const oid = Idempotency.oid(r.principal, r.key);
    for (let attempt = 0; attempt < 8; attempt++) {
      const rec = await this.read(r.pool, oid);
      const fresh: KeyRecord = { v: 1, fp: r.fingerprint, state: 'pending', at: Date.now() };
      if (!rec) {
        if (await this.create(r.pool, oid, fresh)) return { kind: 'new', claim: new Claim(this, r.pool, oid, 1, r.fingerprint) };
        continue; // another request created it first: read it
      }
      let expired: boolean;
      if (rec.state === 'pending') expired = Date.now() - rec.at > (this.opts.pendingMs ?? PENDING_MS);
      else expired = rec.answer?.task !== undefined ? !(await this.opts.taskExists(rec.answer.task)) : Date.now() - rec.at > this.opts.retentionMs;
      if (!expired) {
        if (rec.fp !== r.fingerprint) throw new IdempotencyKeyReusedError(r.key);
        if (rec.state === 'pending') throw new IdempotencyKeyInUseError(r.key);
        return { kind: 'replay', answer: rec.answer! };
      }
      // the key's previous use has ended (its task is gone) or its process died: take it over
      const next = { ...fresh, v: rec.v + 1 };
      try {
        await this.write(r.pool, oid, next, rec.v);
        return { kind: 'new', claim: new Claim(this, r.pool, oid, next.v, r.fingerprint) };
      } catch (e) {
        if (!(e instanceof CephError && e.code === 'ECANCELED')) throw e;
      }
    }
    throw CephError.busy(`Idempotency-Key record ${oid} kept changing`);
  }

  private withPool<T>(pool: string, fn: (p: Pointer) => Promise<T>): Promise<T> {
    return this.session.withIoctx(pool, (io) => io.use('idempotency_key', fn));
  }

  private read(pool: string, oid: string): Promise<KeyRecord | undefined> {
    return this.withPool(pool, async (p) => {
      const buf = Buffer.alloc(MAX_BODY + 16 * 1024);
      const n = await native<number>('rados_read', R.read, p, oid, buf, buf.length, 0);
      if (n === -E.ENOENT || n === 0) return undefined;
      if (n < 0) throw new CephError('object', 'rados_read', n, oid);
      try {
        return JSON.parse(buf.toString('utf8', 0, n)) as KeyRecord;
      } catch {
        return undefined;
      }
    });
  }

  /** Exclusive create; false when the object exists. */
  private create(pool: string, oid: string, rec: KeyRecord): Promise<boolean> {
    return this.withPool(pool, async (p) => {
      const rc = await this.operate(p, oid, rec, undefined);
      if (rc === -E.EEXIST) return false;
      if (rc < 0) throw new CephError('object', 'rados_write_op_operate', rc, oid);
      return true;
    });
  }

  /** Replace the record if its version is still `was` (CephError ECANCELED otherwise); an answer with no task enters the trim list. */
  write(pool: string, oid: string, rec: KeyRecord, was: number): Promise<void> {
    return this.withPool(pool, async (p) => {
      const rc = await this.operate(p, oid, rec, was);
      if (rc === -E.ECANCELED || rc === -E.ENOENT) throw new CephError('object', 'rados_write_op_operate', -E.ECANCELED, oid);
      if (rc < 0) throw new CephError('object', 'rados_write_op_operate', rc, oid);
      if (rec.state === 'done' && rec.answer?.task === undefined) {
        await omapSet(p, FINISHED_OBJECT, [{ key: `${String(rec.at).padStart(13, '0')}.${oid}`, value: '' }]);
      }
    });
  }

  /** Remove the record if its version is still `was` (a claim abandoned); errors dropped (it expires). */
  remove(pool: string, oid: string, was: number): Promise<void> {
    return this.withPool(pool, async (p) => {
      const op = R.createWriteOp();
      try {
        const old = Buffer.from(String(was));
        R.writeOpCmpxattr(op, 'v', LIBRADOS_CMPXATTR_OP_EQ, old, old.length);
        R.writeOpRemove(op);
        await native<number>('rados_write_op_operate', R.writeOpOperate, op, p, oid, null, 0);
      } finally {
        R.releaseWriteOp(op);
      }
    }).catch(() => undefined);
  }

  /** One write op: exclusive create (`was` undefined) or compare-and-swap on "v"; the errno. */
  private async operate(p: Pointer, oid: string, rec: KeyRecord, was: number | undefined): Promise<number> {
    const body = Buffer.from(JSON.stringify(rec));
    const v = Buffer.from(String(rec.v));
    const op = R.createWriteOp();
    try {
      if (was === undefined) R.writeOpCreate(op, 1, null);
      else {
        const old = Buffer.from(String(was));
        R.writeOpAssertExists(op);
        R.writeOpCmpxattr(op, 'v', LIBRADOS_CMPXATTR_OP_EQ, old, old.length);
      }
      R.writeOpSetxattr(op, 'v', v, v.length);
      R.writeOpWriteFull(op, body, body.length);
      return await native<number>('rados_write_op_operate', R.writeOpOperate, op, p, oid, null, 0);
    } finally {
      R.releaseWriteOp(op);
    }
  }
}
