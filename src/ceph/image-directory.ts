// The image directory of a pool (or namespace): pages of images read straight from `rbd_directory`.
//
// rbd_list2 reads the whole directory (every name and id) on every call, so a listing that wants 100 names
// costs O(pool) in OSD work, transfer, memory and sorting. The directory object's omap already holds the
// names in byte order: keys `name_<image>` → value = the image id as a Ceph-encoded string (le32 length,
// then the bytes), and `id_<id>` → name. One rados_read_op_omap_get_vals2 with start_after =
// "name_<cursor>", filter_prefix = "name_<prefix>" and max_return = limit reads exactly one page, in the
// OSD, in key (byte) order, and says whether more follow — the same order and the same entries rbd_list2
// gives, since librbd's own listing (cls_rbd dir_list) reads the same keys.
//
// Trashed images and migration sources are not in the directory; neither does rbd_list2 list them.
// A pool in which no image was ever made has no directory object: that is an empty directory (ENOENT from
// the read), not an error. A namespace directory carries one more key, `state`, outside the `name_` prefix.
import { rados } from '../native/rados.js';
import { drainOmapIter, radosOmap } from '../native/rados-omap.js';
import { E } from '../native/errno.js';
import type { Pointer } from '../native/types.js';
import { native } from './call.js';
import { splitPoolSpec, type CephSession } from './connection.js';
import { CephError, isCephError } from './errors.js';
import type { Handle } from './handle.js';
import type { ImageSpec } from './images.js';
import { rbd } from '../native/rbd.js';

const DIRECTORY = 'rbd_directory';
const NAME_KEY = 'name_';
/** OSDs cap one omap read at osd_max_omap_entries_per_request (1024 by default) */
export const MAX_DIRECTORY_PAGE = 1000;

export interface DirectoryPage {
  /** in name (byte) order */
  entries: ImageSpec[];
  /** true when more names matching the prefix follow the last entry (the OSD's own flag: exact) */
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
  if (s.includes('\0')) throw new CephError('rbd_directory', -E.EINVAL, `${target}: ${what} contains NUL`);
}

/**
 * One page of the directory on an I/O context already set to the pool's namespace: names after
 * `after`, starting with `prefix`, at most `limit`, with their ids. ENOENT (no directory object) is thrown
 * as a CephError of op 'rbd_directory' so the caller can tell it from a missing pool.
 */
export async function readDirectoryPage(io: Handle<'rados_ioctx_t'>, q: PageQuery, target: string): Promise<DirectoryPage> {
  const prefix = q.prefix ?? '';
  checkCString('prefix', prefix, target);
  if (q.after !== undefined) checkCString('cursor', q.after, target);
  if (!Number.isInteger(q.limit) || q.limit < 1 || q.limit > MAX_DIRECTORY_PAGE) {
    throw new CephError('rbd_directory', -E.EINVAL, `${target}: page size must be 1..${MAX_DIRECTORY_PAGE}, got ${q.limit}`);
  }
  // start_after is exclusive; "name_" itself is no image's key. When the prefix sorts after the cursor the
  // OSD jumps to the first key with the prefix by itself (lower_bound(filter_prefix)).
  const startAfter = NAME_KEY + (q.after ?? '');
  const filter = NAME_KEY + prefix;
  const op = rados.createReadOp() as Pointer | null;
  if (!op) throw new CephError('rados_create_read_op', -E.ENOMEM, target);
  // written by librados during rados_read_op_operate (see rados-omap.ts): referenced until it returns
  const slab = Buffer.alloc(16);
  const iterOut = slab.subarray(0, 8), prval = slab.subarray(8, 12), more = slab.subarray(12, 13);
  let iter: bigint | null = null;
  try {
    radosOmap.readOpOmapGetVals2(op, startAfter, filter, q.limit, iterOut, more, prval);
    const rc = await io.use('rados_read_op_operate', (p) =>
      native<number>('rados_read_op_operate', rados.readOpOperate, op, p, DIRECTORY, 0));
    iter = iterOut.readBigUInt64LE(0) || null;
    if (rc < 0) throw new CephError('rbd_directory', rc, target);
    const prc = prval.readInt32LE(0);
    if (prc < 0) throw new CephError('rbd_directory', prc, target);
    const raw = drainOmapIter(iter);
    iter = null; // drainOmapIter ended it
    const entries: ImageSpec[] = [];
    for (const { key, value } of raw) {
      if (!key.startsWith(NAME_KEY)) continue;
      const id = decodeEncodedString(value);
      if (id === undefined) throw new CephError('rbd_directory', -E.EIO, `${target}: directory entry ${key} has a malformed id`);
      entries.push({ name: key.slice(NAME_KEY.length), id });
    }
    return { entries, more: more.readUInt8(0) !== 0 };
  } finally {
    if (iter) radosOmap.omapGetEnd(iter);
    rados.releaseReadOp(op);
    void slab;
  }
}

/**
 * The id of image `name` from its `rbd_id.<name>` object (a Ceph-encoded string), in one read; undefined
 * when the object is missing or does not hold an id (a format 1 image, a half-made image).
 */
export async function readImageId(io: Handle<'rados_ioctx_t'>, name: string, target: string): Promise<string | undefined> {
  if (name.includes('\0') || name === '') return undefined;
  const op = rados.createReadOp() as Pointer | null;
  if (!op) throw new CephError('rados_create_read_op', -E.ENOMEM, target);
  // an id is at most a few dozen bytes; 4 + 128 is plenty (a longer object is not an id)
  const slab = Buffer.alloc(8 + 4 + 4 + 132);
  const used = slab.subarray(0, 8), prval = slab.subarray(8, 12), data = slab.subarray(16);
  try {
    radosOmap.readOpRead(op, 0, data.length, data, used, prval);
    const rc = await io.use('rados_read_op_operate', (p) =>
      native<number>('rados_read_op_operate', rados.readOpOperate, op, p, `rbd_id.${name}`, 0));
    if (rc === -E.ETIMEDOUT) throw new CephError('rados_read_op_operate', rc, target);
    if (rc < 0 || prval.readInt32LE(0) < 0) return undefined;
    const id = decodeEncodedString(data.subarray(0, Number(used.readBigUInt64LE(0))));
    return id !== undefined && /^[0-9a-zA-Z]+$/.test(id) ? id : undefined;
  } finally {
    rados.releaseReadOp(op);
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
    try {
      return await this.conn.withIoctx(pool, (io) => readDirectoryPage(io, q, pool));
    } catch (e) {
      if (!isCephError(e, 'ENOENT') || e.op !== 'rbd_directory') throw e;
      // no directory object: an empty pool — or a namespace removed since its I/O context was opened
      await this.checkNamespace(pool);
      return { entries: [], more: false };
    }
  }

  /**
   * A page of the names that contain `search` (case-insensitive) and start with `prefix`, read from the
   * directory in chunks of MAX_DIRECTORY_PAGE from the cursor on, until the page is full and one more
   * match shows that others follow. Memory is one chunk; time grows with the distance to the `limit`th
   * match (O(pool) when few names match).
   */
  async search(pool: string, q: PageQuery & { search: string }): Promise<DirectoryPage> {
    const needle = q.search.toLowerCase();
    const found: ImageSpec[] = [];
    let after = q.after;
    for (;;) {
      const chunk = await this.page(pool, { after, prefix: q.prefix, limit: MAX_DIRECTORY_PAGE });
      for (const e of chunk.entries) {
        if (!e.name.toLowerCase().includes(needle)) continue;
        if (found.length === q.limit) return { entries: found, more: true };
        found.push(e);
      }
      const last = chunk.entries[chunk.entries.length - 1];
      if (!chunk.more || !last) return { entries: found, more: false };
      after = last.name;
    }
  }

  /**
   * How many names start with `prefix` (and contain `search`, case-insensitive): reads the whole directory
   * in chunks (O(pool) by nature; memory one chunk).
   */
  async count(pool: string, q: { prefix?: string | undefined; search?: string | undefined }): Promise<number> {
    const needle = q.search?.toLowerCase();
    let n = 0;
    let after: string | undefined;
    for (;;) {
      const chunk = await this.page(pool, { after, prefix: q.prefix, limit: MAX_DIRECTORY_PAGE });
      for (const e of chunk.entries) if (!needle || e.name.toLowerCase().includes(needle)) n++;
      const last = chunk.entries[chunk.entries.length - 1];
      if (!chunk.more || !last) return n;
      after = last.name;
    }
  }

  private async checkNamespace(pool: string): Promise<void> {
    const { namespace } = splitPoolSpec(pool);
    if (namespace === '') return;
    const exists: [boolean] = [false];
    await this.conn.withIoctx(splitPoolSpec(pool).pool, (io) => io.use('rbd_namespace_exists', async (p) => {
      const rc = await native<number>('rbd_namespace_exists', rbd.namespaceExists, p, namespace, exists);
      if (rc < 0) throw new CephError('rbd_namespace_exists', rc, pool);
    }));
    if (!exists[0]) throw new CephError('rbd_namespace_exists', -E.ENOENT, pool);
  }
}
