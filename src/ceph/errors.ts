// The one error type of the Ceph layer. Every negative return code from librados/librbd becomes a
// CephError carrying the operation, the errno number and name, and Ceph's meaning of it.
import { errnoInfo, E } from '../native/errno.js';

/**
 * What kind of failure this is:
 * - `ceph`: librados/librbd returned a negative errno
 * - `closed`: the connection was closed (or never opened) before the call
 * - `busy`: the process-wide limit of Ceph calls in flight and queued was reached
 */
export type CephErrorKind = 'ceph' | 'closed' | 'busy';

export class CephError extends Error {
  override readonly name = 'CephError';
  /** C function (or logical operation) that failed, e.g. "rbd_create4" */
  readonly op: string;
  /** positive errno number */
  readonly errno: number;
  /** symbolic errno name, e.g. "EEXIST"; stable, safe to branch on */
  readonly code: string;
  /** what Ceph means by this errno, when it gives it a meaning of its own */
  readonly cephMeaning: string | undefined;
  /** what the operation was about, e.g. "pool/image" */
  readonly target: string | undefined;
  readonly kind: CephErrorKind;

  constructor(op: string, rc: number, target?: string, kind: CephErrorKind = 'ceph') {
    const info = errnoInfo(rc);
    super(`${op}: ${info.message} (${info.name})${target ? ` [${target}]` : ''}`);
    this.op = op;
    this.errno = info.errno;
    this.code = info.name;
    this.cephMeaning = info.cephMeaning;
    this.target = target;
    this.kind = kind;
  }

  is(...codes: string[]): boolean { return codes.includes(this.code); }

  static closed(op: string): CephError { return new CephError(op, E.ENOTCONN, 'connection closed', 'closed'); }
  static busy(op: string): CephError { return new CephError(op, E.EAGAIN, 'too many Ceph operations in flight', 'busy'); }
}

export function isCephError(e: unknown, ...codes: string[]): e is CephError {
  return e instanceof CephError && (codes.length === 0 || codes.includes(e.code));
}

/** Operations whose ENOENT means the pool or the namespace itself is missing (see CephConnection.withIoctx). */
const SCOPE_OPS = new Set(['rados_ioctx_create', 'rbd_namespace_exists']);

/** ENOENT about the pool or namespace itself: opening its I/O context failed. */
export function isMissingScope(e: unknown): e is CephError {
  return isCephError(e, 'ENOENT') && SCOPE_OPS.has(e.op);
}

/** ENOENT about something inside a pool and namespace that exist (an image, a snapshot, an object). */
export function isMissingInScope(e: unknown): e is CephError {
  return isCephError(e, 'ENOENT') && !SCOPE_OPS.has(e.op);
}

/** Throw a CephError when a librados/librbd return code is negative; pass it through otherwise. */
export function check<T extends number | bigint>(op: string, rc: T, target?: string): T {
  if (rc < 0) throw new CephError(op, Number(rc), target);
  return rc;
}
