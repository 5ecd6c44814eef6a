// errno numbers → names and messages, including the meanings Ceph gives some of them.
// Node's tables are incomplete on Linux: os.constants.errno lacks ESHUTDOWN (108) and ERESTART (85),
// which Ceph returns as EBLOCKLISTED and EOLDSNAPC; libuv knows no EDOM. Messages come from libc.
import * as os from 'node:os';
import { koffi } from './library.js';

const names = new Map<number, string>();
for (const [name, num] of Object.entries(os.constants.errno)) {
  if (!names.has(num)) names.set(num, name); // first wins: EAGAIN over EWOULDBLOCK, ENOTSUP over EOPNOTSUPP
}
// Linux (generic ABI) numbers missing from Node's table.
const LINUX_EXTRA: Record<number, string> = {
  15: 'ENOTBLK', 85: 'ERESTART', 108: 'ESHUTDOWN', 117: 'EUCLEAN', 121: 'EREMOTEIO', 125: 'ECANCELED',
};
for (const [num, name] of Object.entries(LINUX_EXTRA)) if (!names.has(Number(num))) names.set(Number(num), name);

/** What Ceph means when librados/librbd return these numbers. */
export const CEPH_MEANINGS: Readonly<Record<string, string>> = {
  ESHUTDOWN: 'this client was blocklisted by the cluster (EBLOCKLISTED)',
  ERESTART: 'the snapshot context is out of date (EOLDSNAPC)',
  EDOM: 'argument out of range: object size order must be 12–25 (4 KiB–32 MiB), stripe settings must divide the object size',
  ETIMEDOUT: 'the cluster did not answer within the configured timeout',
  ENOTCONN: 'not connected to the cluster',
  EBUSY: 'the image is in use (open by another client) or has snapshots',
  ENOTEMPTY: 'the pool or image is not empty',
  EPERM: 'the cephx key lacks a capability this operation needs',
  EACCES: 'the cephx key lacks a capability this operation needs',
  ENOSPC: 'the cluster or pool is full',
  EDQUOT: 'the pool quota is exceeded',
  EROFS: 'the image was opened read-only',
  EXDEV: 'the operation spans pools that cannot be combined',
  EOPNOTSUPP: 'the cluster or image does not support this operation or feature',
  ENOTSUP: 'the cluster or image does not support this operation or feature',
  EAGAIN: 'the cluster is busy; try again',
};

let strerror: ((n: number) => string) | undefined;
function libcMessage(n: number): string | undefined {
  try {
    // char *strerror(int errnum);
    // Main thread only: strerror's buffer is not thread-safe, but this never runs on a worker.
    strerror ??= koffi.load('libc.so.6').func('const char *strerror(int errnum)') as (n: number) => string;
    const m = strerror(n);
    return m && !m.startsWith('Unknown error') ? m : undefined;
  } catch {
    return undefined;
  }
}

export interface ErrnoInfo {
  /** positive errno number */
  errno: number;
  /** symbolic name, e.g. "EEXIST" */
  name: string;
  /** libc's message, e.g. "File exists" */
  message: string;
  /** what Ceph means by it, when it gives it a meaning of its own */
  cephMeaning?: string;
}

const cache = new Map<number, ErrnoInfo>();

/** Accepts a negative return code (-17) or a positive errno (17). */
export function errnoInfo(code: number): ErrnoInfo {
  const errno = Math.abs(Math.trunc(code));
  let info = cache.get(errno);
  if (!info) {
    const name = names.get(errno) ?? `E${errno}`;
    info = { errno, name, message: libcMessage(errno) ?? `errno ${errno}` };
    const meaning = CEPH_MEANINGS[name];
    if (meaning) info.cephMeaning = meaning;
    cache.set(errno, info);
  }
  return info;
}

export function errnoName(code: number): string { return errnoInfo(code).name; }

/** errno number for a name, e.g. errnoNumber('ENOENT') === 2 */
export function errnoNumber(name: string): number {
  for (const [num, n] of names) if (n === name) return num;
  const alias = (os.constants.errno as Record<string, number | undefined>)[name]; // EOPNOTSUPP = ENOTSUP, EWOULDBLOCK = EAGAIN
  if (alias !== undefined) return alias;
  throw new RangeError(`unknown errno name ${name}`);
}

/** Frequently used numbers (Linux). */
export const E = {
  EPERM: 1, ENOENT: 2, EIO: 5, ENOEXEC: 8, EAGAIN: 11, ENOMEM: 12, EACCES: 13, EBUSY: 16, EEXIST: 17, EXDEV: 18, EINVAL: 22,
  EFBIG: 27, ENOSPC: 28, EROFS: 30, EMLINK: 31, EDOM: 33, ERANGE: 34, ENAMETOOLONG: 36, ENOTEMPTY: 39,
  EOPNOTSUPP: 95, ENOTCONN: 107, ESHUTDOWN: 108, ETIMEDOUT: 110, ESTALE: 116, EUCLEAN: 117, ECANCELED: 125,
} as const;
