// The size retry of librbd's list calls: a call given too small a buffer answers -ERANGE and says how many
// entries (or bytes) it needs. One loop for all of them, instead of one per call.
import { E } from '../native/errno.js';
import { CephError, type CephSubject } from './errors.js';

/** What one try with `capacity` gave: the value, or -ERANGE with the capacity needed. */
export type Sized<T> = { value: T } | { needed: number };

/**
 * Call `attempt` with a growing capacity (from `start`, at least doubling, at least what the call said it needs)
 * until it gives a value; ERANGE after `tries` tries (the list kept growing under us).
 */
export async function withGrowingCapacity<T>(subject: CephSubject, op: string, target: string, start: number, attempt: (capacity: number) => Promise<Sized<T>>,
  tries = 8): Promise<T> {
  let capacity = start;
  for (let i = 0; i < tries; i++) {
    const r = await attempt(capacity);
    if ('value' in r) return r.value;
    capacity = Math.max(r.needed, capacity * 2);
  }
  throw new CephError(subject, op, -E.ERANGE, `${target}: the list kept growing`);
}
