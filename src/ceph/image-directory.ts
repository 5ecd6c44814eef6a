// The image directory of a pool (or namespace): pages of images read straight from `rbd_directory`.
//
// rbd_list2 reads the whole directory (every name and id) on every call, so a listing that wants 100 names
// costs O(pool) in OSD work, transfer, memory and sorting. The directory object's omap already holds the
// names in byte order (keys `name_<image>` → the id, `id_<id>` → the name), and cls_rbd's `dir_list` —
// the method rbd_list2 itself calls, 1024 names at a time — reads them from any name on: one read op with
// start_after = the cursor and max_return = the page + 1 (to know whether more follow) reads exactly one
// page, in the OSD, in byte order. So pages hold the same entries in the same order as rbd_list2.
// A `prefix` starts the read just below the prefix and ends the page at the first name without it.
//
// dir_list answers in one buffer that is decoded here in JS: reading the same page through
// rados_read_op_omap_get_vals2 + rados_omap_get_next2 costs an FFI call and two copies per entry
// (5.3 ms for 1,000 names against 2.0 ms for rbd_list2 of the same pool).
//
// Trashed images and migration sources are not in the directory; neither does rbd_list2 list them.
// A pool in which no image was ever made has no directory object: that is an empty directory (ENOENT from
// the read), not an error.
// The service's own temporaries (a copy's `.rbdapi-copy-*` or an import's `.rbdapi-import-*` destination until it is complete) are neither
// listed nor counted: a page that holds one reads on past it, so pages stay full and cursors exact.
import { radosObject } from '../native/rados-object.js';
import { takeRadosBytes } from '../native/memory.js';
import { E } from '../native/errno.js';
import type { Pointer } from '../native/types.js';
import { native } from './call.js';
import { type CephSession } from './connection.js';
import { CephError, isCephError } from './errors.js';
import type { Handle } from './handle.js';
import type { ImageSpec } from './image-info.js';
import { rbdNamespace } from '../native/rbd-namespace.js';
import { splitPoolSpec } from './spec.js';

/** The name prefix of a copy's temporary destination (copy.ts); the API refuses names that start with '.'. */
export const COPY_TEMP_PREFIX = '.rbdapi-copy-';

/** The name prefix of an import's temporary image (content/import.ts): visible under its name only when complete. */
export const IMPORT_TEMP_PREFIX = '.rbdapi-import-';

/** A name the service gives its own temporary images: never listed (the API refuses such names). */
export const isServiceTemporary = (name: string): boolean => name.startsWith(COPY_TEMP_PREFIX) || name.startsWith(IMPORT_TEMP_PREFIX);

const DIRECTORY = 'rbd_directory';
/** the largest page read at once (dir_list is asked for one more, to know whether more follow) */
export const MAX_DIRECTORY_PAGE = 1000;

export interface DirectoryPage {
  /** in name (byte) order */
  entries: ImageSpec[];
  /** true when more names matching the prefix follow the last entry (exact: one entry more than the page was read) */
  more: boolean;
}

export interface PageQuery {
  /** resume after this name (exclusive); undefined = from the start */
  after?: string | undefined;
  /** only names that start with this (byte prefix); '' = all */
  prefix?: string | undefined;
  /** 1..MAX_DIRECTORY_PAGE */
  limit: number;
}

/** A Ceph-encoded string (le32 length + bytes) as UTF-8 text, or undefined when it is not one. */
function decodeEncodedString(value: Buffer): string | undefined {
  if (value.length < 4) return undefined;
  const n = value.readUInt32LE(0);
  if (n !== value.length - 4) return undefined;
  return value.toString('utf8', 4);
}

/** A string with a NUL cannot be passed to C without being cut short: refuse it. */
function checkCString(what: string, s: string, target: string): void {
  if (s.includes('\0')) throw new CephError('image', 'rbd_directory', -E.EINVAL, `${target}: ${what} contains NUL`);
}

/**
 * The exclusive start for cls_rbd dir_list: the cursor, or — when a prefix sorts after it — the greatest
 * byte string below the prefix that no UTF-8 name can reach: the prefix with its last byte lowered by one,
 * then 0xFF (a byte UTF-8 never uses). Every name below the prefix sorts before it, the prefix itself after.
 */
function startAfter(after: Buffer | undefined, prefix: Buffer): Buffer {
  if (prefix.length > 0 && (after === undefined || Buffer.compare(after, prefix) < 0)) {
    const b = Buffer.alloc(prefix.length + 1, 0xff);
    prefix.copy(b, 0, 0, prefix.length - 1);
    b[prefix.length - 1] = prefix[prefix.length - 1]! - 1; // never 0: names and prefixes hold no NUL
    return b;
  }
  return after ?? Buffer.alloc(0);
}

/** dir_list's input: encode(string start_after) + encode(uint64 max_return) */
function dirListInput(start: Buffer, maxReturn: number): Buffer {
  const b = Buffer.alloc(4 + start.length + 8);
  b.writeUInt32LE(start.length, 0);
  start.copy(b, 4);
  b.writeBigUInt64LE(BigInt(maxReturn), 4 + start.length);
  return b;
}

/**
 * One page of the directory on an I/O context already set to the pool's namespace: names after
 * `after`, starting with `prefix`, at most `limit`, with their ids — cls_rbd's `dir_list` (the method
 * rbd_list2 itself calls) in one read op, asked for one entry more than the page to know whether more
 * follow. ENOENT (no directory object) is thrown as a CephError of subject 'object' (op 'rbd_directory'), so the caller can
 * tell it from a missing pool.
 */
export async function readDirectoryPage(io: Handle<'rados_ioctx_t'>, q: PageQuery, target: string): Promise<DirectoryPage> {
  const prefix = q.prefix ?? '';
  checkCString('prefix', prefix, target);
  if (q.after !== undefined) checkCString('cursor', q.after, target);
  if (!Number.isInteger(q.limit) || q.limit < 1 || q.limit > MAX_DIRECTORY_PAGE) {
    throw new CephError('image', 'rbd_directory', -E.EINVAL, `${target}: page size must be 1..${MAX_DIRECTORY_PAGE}, got ${q.limit}`);
  }
  const prefixBytes = Buffer.from(prefix, 'utf8');
  const input = dirListInput(startAfter(q.after === undefined ? undefined : Buffer.from(q.after, 'utf8'), prefixBytes), q.limit + 1);
  const op = radosObject.createReadOp() as Pointer | null;
  if (!op) throw new CephError('object', 'rados_create_read_op', -E.ENOMEM, target);
  // written by librados during rados_read_op_operate (see rados-omap.ts): referenced until it returns
  const slab = Buffer.alloc(24);
  const outPtr = slab.subarray(0, 8), outLen = slab.subarray(8, 16), prval = slab.subarray(16, 20);
  let out: Buffer | undefined;
  try {
    radosObject.readOpExec(op, 'rbd', 'dir_list', input, input.length, outPtr, outLen, prval);
    const rc = await io.use('rados_read_op_operate', (p) =>
      native<number>('rados_read_op_operate', radosObject.readOpOperate, op, p, DIRECTORY, 0));
    out = takeRadosBytes(outPtr.readBigUInt64LE(0), Number(outLen.readBigUInt64LE(0)));
    if (rc < 0) throw new CephError('object', 'rbd_directory', rc, target);
    const prc = prval.readInt32LE(0);
    if (prc < 0) throw new CephError('object', 'rbd_directory', prc, target);
  } finally {
    radosObject.releaseReadOp(op);
    void slab;
    void input;
  }
  return decodeDirList(out, prefixBytes, q.limit, target);
}

/** dir_list's output, map<string,string> name → id: le32 count, then (le32 length + bytes) × 2 per entry. */
function decodeDirList(out: Buffer, prefix: Buffer, limit: number, target: string): DirectoryPage {
  const malformed = (): CephError => new CephError('image', 'rbd_directory', -E.EIO, `${target}: malformed dir_list answer`);
  if (out.length < 4) throw malformed();
  const count = out.readUInt32LE(0);
  const entries: ImageSpec[] = [];
  let at = 4;
  const field = (): [number, number] => {
    if (at + 4 > out.length) throw malformed();
    const n = out.readUInt32LE(at);
    const start = at + 4;
    at = start + n;
    if (at > out.length) throw malformed();
    return [start, at];
  };
  for (let i = 0; i < count; i++) {
    const [ns, ne] = field();
    const [is, ie] = field();
    // sorted by name: the first name without the prefix ends the matches
    if (prefix.length > 0 && (ne - ns < prefix.length || out.compare(prefix, 0, prefix.length, ns, ns + prefix.length) !== 0)) {
      return { entries, more: false };
    }
    if (entries.length === limit) return { entries, more: true };
    entries.push({ name: out.toString('utf8', ns, ne), id: out.toString('utf8', is, ie) });
  }
  return { entries, more: false };
}

/**
 * The id of image `name` from its `rbd_id.<name>` object (a Ceph-encoded string), in one read; undefined
 * when the object is missing or does not hold an id (a format 1 image, a half-made image).
 */
export async function readImageId(io: Handle<'rados_ioctx_t'>, name: string, target: string): Promise<string | undefined> {
  if (name.includes('\0') || name === '') return undefined;
  const op = radosObject.createReadOp() as Pointer | null;
  if (!op) throw new CephError('object', 'rados_create_read_op', -E.ENOMEM, target);
  // an id is at most a few dozen bytes; 4 + 128 is plenty (a longer object is not an id)
  const slab = Buffer.alloc(8 + 4 + 4 + 132);
  const used = slab.subarray(0, 8), prval = slab.subarray(8, 12), data = slab.subarray(16);
  try {
    radosObject.readOpRead(op, 0, data.length, data, used, prval);
    const rc = await io.use('rados_read_op_operate', (p) =>
      native<number>('rados_read_op_operate', radosObject.readOpOperate, op, p, `rbd_id.${name}`, 0));
    if (rc === -E.ETIMEDOUT) throw new CephError('object', 'rados_read_op_operate', rc, target);
    if (rc < 0 || prval.readInt32LE(0) < 0) return undefined;
    const id = decodeEncodedString(data.subarray(0, Number(used.readBigUInt64LE(0))));
    return id !== undefined && /^[0-9a-zA-Z]+$/.test(id) ? id : undefined;
  } finally {
    radosObject.releaseReadOp(op);
    void slab;
  }
}

/** Pages of a pool's image directory (see the top of this file). */
export class ImageDirectory {
  constructor(private readonly conn: CephSession) {}

  /**
   * One page of pool spec `pool` (`pool` or `pool/namespace`): O(page) whatever the pool's size. A pool
   * without a directory object gives an empty page; a missing pool or namespace throws ENOENT
   * (rados_ioctx_create / rbd_namespace_exists).
   */
  async page(pool: string, q: PageQuery): Promise<DirectoryPage> {
    const read = await this.rawPage(pool, q);
    if (!read.entries.some((e) => isServiceTemporary(e.name))) return read;
    // rare (a copy runs): read on past the temporaries until the page is full
    return this.collect(pool, q, () => true, Math.min(q.limit + 1, MAX_DIRECTORY_PAGE));
  }

  private async rawPage(pool: string, q: PageQuery): Promise<DirectoryPage> {
    try {
      return await this.conn.withIoctx(pool, (io) => readDirectoryPage(io, q, pool));
    } catch (e) {
      if (!isCephError(e, 'ENOENT') || e.subject !== 'object') throw e;
      // no directory object: an empty pool — or a namespace removed since its I/O context was opened
      await this.checkNamespace(pool);
      return { entries: [], more: false };
    }
  }

  /**
   * A page of the names that contain `search` (case-insensitive) and start with `prefix`, read from the
   * directory in chunks of MAX_DIRECTORY_PAGE from the cursor on, until the page is full and one more
   * match shows that others follow. Memory is one chunk; time grows with the distance to the `limit`th
   * match (O(pool) when few names match). `chunk`: names read at a time (tests make it small).
   */
  async search(pool: string, q: PageQuery & { search: string }, chunk = MAX_DIRECTORY_PAGE): Promise<DirectoryPage> {
    const needle = q.search.toLowerCase();
    return this.collect(pool, q, (name) => name.toLowerCase().includes(needle), chunk);
  }

  /** A page of the listed names (no temporaries) that `keep` accepts, read in chunks of `chunk` names. */
  private async collect(pool: string, q: PageQuery, keep: (name: string) => boolean, chunk: number): Promise<DirectoryPage> {
    const found: ImageSpec[] = [];
    let after = q.after;
    for (;;) {
      const read = await this.rawPage(pool, { after, prefix: q.prefix, limit: chunk });
      for (const e of read.entries) {
        if (isServiceTemporary(e.name) || !keep(e.name)) continue;
        if (found.length === q.limit) return { entries: found, more: true };
        found.push(e);
      }
      const last = read.entries[read.entries.length - 1];
      if (!read.more || !last) return { entries: found, more: false };
      after = last.name;
    }
  }

  /**
   * How many names start with `prefix` (and contain `search`, case-insensitive): reads the whole directory
   * in chunks of `chunk` names (O(pool) by nature; memory one chunk).
   */
  async count(pool: string, q: { prefix?: string | undefined; search?: string | undefined }, chunk = MAX_DIRECTORY_PAGE): Promise<number> {
    const needle = q.search?.toLowerCase();
    let n = 0;
    let after: string | undefined;
    for (;;) {
      const read = await this.rawPage(pool, { after, prefix: q.prefix, limit: chunk });
      for (const e of read.entries) if (!isServiceTemporary(e.name) && (!needle || e.name.toLowerCase().includes(needle))) n++;
      const last = read.entries[read.entries.length - 1];
      if (!read.more || !last) return n;
      after = last.name;
    }
  }

  private async checkNamespace(pool: string): Promise<void> {
    const { namespace } = splitPoolSpec(pool);
    if (namespace === '') return;
    const exists: [boolean] = [false];
    await this.conn.withIoctx(splitPoolSpec(pool).pool, (io) => io.use('rbd_namespace_exists', async (p) => {
      const rc = await native<number>('rbd_namespace_exists', rbdNamespace.exists, p, namespace, exists);
      if (rc < 0) throw new CephError('namespace', 'rbd_namespace_exists', rc, pool);
    }));
    if (!exists[0]) throw new CephError('namespace', 'rbd_namespace_exists', -E.ENOENT, pool);
  }
}
