// Runs a native call off the main thread and turns limiter overflow into a `busy` CephError.
import { callAsync, callLong, callProbe, callTransfer, NativeQueueFullError, type NativeFunction } from '../native/async-call.js';
import { CephError, check, type CephSubject } from './errors.js';
import { limiter } from '../native/async-call.js';

export { callTrace, watchOverdueCalls, type CallTrace, type OverdueObserver } from '../native/async-call.js';

/** Request-sized calls running past their deadline (stuck): how many now, of how many slots, and since start. */
export function overdueCalls(): { overdue: number; concurrency: number; total: number } {
  return { overdue: limiter.overdue, concurrency: limiter.concurrency, total: limiter.overdueTotal };
}

/** A limiter's call: a full queue becomes a `busy` CephError (503 CEPH_BUSY). */
async function onBudget<T>(op: string, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (e) {
    if (e instanceof NativeQueueFullError) throw CephError.busy(op);
    throw e;
  }
}

export function native<T = number>(op: string, fn: NativeFunction, ...args: unknown[]): Promise<T> {
  return onBudget(op, callAsync<T>(op, fn, ...args));
}

/** A readiness probe's call, on its own one-slot budget (never queued behind request-sized calls). */
export function nativeProbe<T = number>(op: string, fn: NativeFunction, ...args: unknown[]): Promise<T> {
  return onBudget(op, callProbe<T>(op, fn, ...args));
}

/** Run a native call and throw a CephError when it returns a negative errno. */
export async function nativeChecked(subject: CephSubject, op: string, target: string | undefined, fn: NativeFunction, ...args: unknown[]): Promise<number> {
  const rc = await native<number>(op, fn, ...args);
  if (rc < 0) throw new CephError(subject, op, rc, target);
  return rc;
}

/**
 * Call a C function on the main thread. Only for calls that read process memory and never wait: image
 * options, rados_conf_*, and the getters of an image opened read-only (such a handle registers no watch, so
 * librbd never has a header update to refresh and answers from the image context it loaded at open).
 * Saves a threadpool round trip per call; anything that can touch the network goes through native().
 */
export function nativeInline(subject: CephSubject, op: string, target: string | undefined, fn: NativeFunction, ...args: unknown[]): number {
  return check(subject, op, fn(...args) as number, target);
}

/**
 * A call that may run for minutes (flatten, copy, rollback, trash removal, shrink): on the small separate
 * budget for long calls, so request-sized calls keep their slots. Throws a CephError on a negative errno.
 */
export async function nativeLong(subject: CephSubject, op: string, target: string | undefined, fn: NativeFunction, ...args: unknown[]): Promise<number> {
  const rc = await onBudget(op, callLong<number>(op, fn, ...args));
  if (rc < 0) throw new CephError(subject, op, rc, target);
  return rc;
}

/** A transfer's blocking call (an extent walk), on the transfers' own budget; the C function's return value. */
export function nativeTransfer<T = number>(op: string, fn: NativeFunction, ...args: unknown[]): Promise<T> {
  return onBudget(op, callTransfer<T>(op, fn, ...args));
}
