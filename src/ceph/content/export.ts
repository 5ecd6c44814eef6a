// Downloads of an image's content: the raw bytes (or a range of them), rbd's diff stream between two snapshots
// (`rbd export-diff` / `rbd import-diff`, doc/dev/rbd-diff.rst) and rbd's export-format 2 (`rbd export
// --export-format 2` / `rbd import --export-format 2`, doc/dev/rbd-export.rst) — all streamed by ImageReadStream.
//
// openContent opens the image read-only (at a snapshot when asked: rbd_open_read_only by name answers ENOENT
// for a missing one, and the snapshot's id is then read from the same handle's list, never used on another
// handle) and keeps the handle until the stream made from it has settled, or until release() when none is
// made (HEAD, 416). Extents nobody wrote are sent as zeros without being read (walkExtents, whole objects).
import { rbdImage } from '../../native/rbd-image.js';
import { rbdSnapshot } from '../../native/rbd-snapshot.js';
import { SIZES, type Pointer, type RbdImageInfoValue } from '../../native/types.js';
import { nativeChecked, nativeInline } from '../call.js';
import { CephError, SnapshotNotFoundError } from '../errors.js';
import type { CephSession } from '../connection.js';
import type { Handle } from '../handle.js';
import { allMetadata } from '../metadata.js';
import { closeImage, isOpenFailure, openImage, withOpenImage } from '../open-image.js';
import { readBasics } from '../image-info.js';
import { userSnapshots } from '../snapshots.js';
import { trackTransfer, transferSettings } from './budget.js';
import { walkExtents, windowFor } from './extents.js';
import { ImageReadStream, type Piece } from './reader.js';
import { toNumber } from '../../native/memory.js';

export interface ContentInfo {
  /** bytes (of the snapshot, when opened at one) */
  size: number;
  imageId: string;
  /** the snapshot opened, with its id (ids are never reused within an image) */
  snapshot: { name: string; id: number } | undefined;
  objectSize: number;
  order: number;
  features: bigint;
  stripeUnit: number;
  stripeCount: number;
}

export interface OpenedContent {
  readonly info: ContentInfo;
  /** bytes [start, end) of the image (or snapshot) */
  raw(start: number, end: number, sink?: Sink): ImageReadStream;
  /** rbd's diff stream (v1, what `rbd import-diff` reads) of the changes since `from` (null: since creation) */
  rbdDiff(from: string | null, wholeObject: boolean, sink?: Sink): ImageReadStream;
  /** rbd's export-format 2 stream: the image with every user snapshot (only when opened at the head) */
  exportV2(sink?: Sink): ImageReadStream;
  /** the changed extents since `from` in [start, start + maxBytes), at most `limit` of them (for JSON pages) */
  extents(from: string | null, start: number, limit: number, wholeObject: boolean): Promise<{ items: { offset: number; length: number; exists: boolean }[]; next: number | undefined }>;
  /** the id of user snapshot `name` of the image, undefined when it has none of that name */
  snapshotId(name: string): Promise<number | undefined>;
  /** no stream will be made: close the handle now */
  release(): void;
}

/** Where the stream goes: its bytes not yet handed to the kernel (lets read Buffers be reused: ReaderOptions.unsent). */
export interface Sink { unsent: () => number }

type LongSession = CephSession & { withIoctxLong?: CephSession['withIoctx'] };


/**
 * Open `image` (at `snapshot`) for a download. Resolves once it is open and described; the handle stays open
 * until the stream made from it settles, or release(). ENOENT (IMAGE_NOT_FOUND / SNAPSHOT_NOT_FOUND) when missing.
 */
export function openContent(session: CephSession, spec: string, image: string, snapshot: string | undefined): Promise<OpenedContent> {
  const s = session as LongSession;
  const withIoctx = (s.withIoctxLong ?? s.withIoctx).bind(s);
  const target = `${spec}/${image}${snapshot !== undefined ? `@${snapshot}` : ''}`;
  return new Promise<OpenedContent>((resolve, reject) => {
    let resolved = false;
    withIoctx(spec, (io) => withOpenImage(io, spec, image, { readOnly: true, snapshot }, async (img) => {
      const info = await describe(img, target, snapshot);
      let finish!: () => void;
      const finished = new Promise<void>((r) => { finish = r; });
      let made = false;
      const stream = (source: (cancelled: () => boolean) => AsyncIterable<Piece>, sink: Sink | undefined): ImageReadStream => {
        if (made) throw new Error('one stream per opened content');
        made = true;
        let cancelled = false;
        const st = new ImageReadStream(source(() => cancelled), {
          depth: transferSettings.readDepth, chunkBytes: transferSettings.chunkBytes, idleMs: transferSettings.idleMs, target,
          ...(sink ? { unsent: sink.unsent } : {}),
        });
        st.once('close', () => { cancelled = true; });
        const untrack = trackTransfer({
          abort: async (reason) => { st.destroy(reason); await st.settled; },
        });
        void st.settled.finally(() => { untrack(); finish(); });
        return st;
      };
      resolved = true;
      resolve({
        info,
        raw: (start, end, sink) => stream((c) => rawPieces(img, target, start, end, info, c), sink),
        rbdDiff: (from, wholeObject, sink) => stream((c) => diffPieces(img, target, {
          version: 1, from, to: snapshot ?? null, size: info.size, wholeObject, cancelled: c, protectedFlag: undefined,
        }), sink),
        exportV2: (sink) => stream((c) => exportV2Pieces(io, spec, image, img, target, info, c), sink),
        extents: async (from, start, limit, wholeObject) => {
          try {
            return await extentPage(img, target, info, from, start, limit, wholeObject);
          } finally {
            finish();
          }
        },
        snapshotId: async (name) => {
          const found = (await userSnapshots(img, target)).find((x) => x.name === name);
          return found ? Number(found.id) : undefined;
        },
        release: () => finish(),
      });
      await finished; // then withOpenImage closes it, once its completions are in (closeImage)
    })).catch(async (e: unknown) => {
      if (resolved) return;
      // rbd_open at a missing snapshot answers ENOENT as for a missing image: tell them apart
      if (snapshot !== undefined && e instanceof CephError && e.code === 'ENOENT' && isOpenFailure(e)) {
        const headExists = await withIoctx(spec, (io) => withOpenImage(io, spec, image, { readOnly: true }, async () => true))
          .catch(() => false);
        if (headExists) e = new SnapshotNotFoundError(target);
      }
      reject(e instanceof Error ? e : new Error(String(e)));
    });
  });
}

async function describe(img: Pointer, target: string, snapshot: string | undefined): Promise<ContentInfo> {
  const b = readBasics(img, target);
  let snap: ContentInfo['snapshot'];
  if (snapshot !== undefined) {
    const found = (await userSnapshots(img, target)).find((x) => x.name === snapshot);
    // opened at it a moment ago: only a concurrent rename or removal makes it missing from the list
    if (!found) throw new SnapshotNotFoundError(target);
    snap = { name: snapshot, id: Number(found.id) };
  }
  return {
    size: b.size, imageId: b.id, snapshot: snap, objectSize: b.objectSize, order: b.order,
    features: b.featureBits, stripeUnit: b.stripeUnit, stripeCount: b.stripeCount,
  };
}

async function* rawPieces(img: Pointer, target: string, start: number, end: number, info: ContentInfo,
  cancelled: () => boolean): AsyncGenerator<Piece> {
  let at = start;
  for await (const x of walkExtents(img, target, start, end, {
    from: null, includeParent: true, wholeObject: true, window: windowFor(info.objectSize), cancelled,
  })) {
    if (x.offset > at) yield { kind: 'zero', length: x.offset - at };
    yield x.exists ? { kind: 'read', img, offset: x.offset, length: x.length } : { kind: 'zero', length: x.length };
    at = x.offset + x.length;
  }
  if (at < end) yield { kind: 'zero', length: end - at };
}

// ---- rbd's diff records (doc/dev/rbd-diff.rst): v1 in `rbd export-diff`, v2 inside export-format 2 ----

const le64 = (n: number): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b; };
const le32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
/** a length-prefixed string as Ceph encodes std::string: le32 length, bytes */
const cephString = (s: string): Buffer => { const b = Buffer.from(s, 'utf8'); return Buffer.concat([le32(b.length), b]); };
/** a metadata or diff header record: tag, (v2: le64 length of what follows), payload */
const rec = (version: 1 | 2, tag: string, payload: Buffer): Buffer =>
  Buffer.concat([Buffer.from(tag, 'latin1'), ...(version === 2 ? [le64(payload.length)] : []), payload]);

interface DiffOptions {
  version: 1 | 2;
  from: string | null;
  to: string | null;
  size: number;
  wholeObject: boolean;
  cancelled: () => boolean;
  /** v2, for a snapshot: its protection, restored by `rbd import` */
  protectedFlag: boolean | undefined;
}

async function* diffPieces(img: Pointer, target: string, o: DiffOptions): AsyncGenerator<Piece> {
  const head: Buffer[] = [Buffer.from(o.version === 1 ? 'rbd diff v1\n' : 'rbd diff v2\n', 'latin1')];
  if (o.from !== null) head.push(rec(o.version, 'f', cephString(o.from)));
  if (o.to !== null) head.push(rec(o.version, 't', cephString(o.to)));
  if (o.version === 2 && o.to !== null && o.protectedFlag !== undefined) head.push(rec(2, 'p', Buffer.from([o.protectedFlag ? 1 : 0])));
  head.push(rec(o.version, 's', le64(o.size)));
  yield { kind: 'bytes', data: Buffer.concat(head) };
  const chunk = transferSettings.chunkBytes;
  for await (const x of walkExtents(img, target, 0, o.size, {
    from: o.from, includeParent: true, wholeObject: o.wholeObject, window: windowFor(4 * 2 ** 20), cancelled: o.cancelled,
  })) {
    if (!x.exists) {
      yield { kind: 'bytes', data: rec(o.version, 'z', Buffer.concat([le64(x.offset), le64(x.length)])) };
      continue;
    }
    // one 'w' record per chunk: a record's data is never held whole
    for (let done = 0; done < x.length; done += chunk) {
      const len = Math.min(chunk, x.length - done);
      const hdr = Buffer.concat([Buffer.from('w', 'latin1'), ...(o.version === 2 ? [le64(16 + len)] : []), le64(x.offset + done), le64(len)]);
      yield { kind: 'bytes', data: hdr };
      yield { kind: 'read', img, offset: x.offset + done, length: len };
    }
  }
  yield { kind: 'bytes', data: Buffer.from('e', 'latin1') };
}

// ---- rbd's export-format 2 (doc/dev/rbd-export.rst) ----

async function* exportV2Pieces(io: Handle<'rados_ioctx_t'>, spec: string, image: string, headImg: Pointer, target: string,
  info: ContentInfo, cancelled: () => boolean): AsyncGenerator<Piece> {
  const meta: Buffer[] = [Buffer.from('rbd image v2\n', 'latin1'),
    rec(2, 'O', le64(info.order)), rec(2, 'T', le64(Number(info.features))),
    rec(2, 'U', le64(info.stripeUnit)), rec(2, 'C', le64(info.stripeCount))];
  for (const [k, v] of await allMetadata(headImg, target)) meta.push(rec(2, 'M', Buffer.concat([cephString(k), cephString(v)])));
  meta.push(Buffer.from('E', 'latin1'));
  const snaps = await userSnapshots(headImg, target);
  meta.push(Buffer.from('rbd image diffs v2\n', 'latin1'), le64(snaps.length + 1));
  yield { kind: 'bytes', data: Buffer.concat(meta) };
  let previous: string | null = null;
  for (const s of snaps) {
    if (cancelled()) return;
    const snapTarget = `${target}@${s.name}`;
    // a handle of its own at each snapshot, by image id (a concurrent rename does not redirect it)
    const img = await io.use('rbd_open', (p) => openImage(p, snapTarget, image, { readOnly: true, snapshot: s.name, byId: info.imageId }));
    try {
      const st = {} as RbdImageInfoValue;
      nativeInline('image', 'rbd_stat', snapTarget, rbdImage.stat, img, st, SIZES.rbd_image_info_t);
      const prot: [number] = [0];
      await nativeChecked('snapshot', 'rbd_snap_is_protected', snapTarget, rbdSnapshot.isProtected, img, s.name, prot);
      yield* diffPieces(img, snapTarget, {
        version: 2, from: previous, to: s.name, size: toNumber(st.size), wholeObject: false, cancelled, protectedFlag: prot[0] !== 0,
      });
      // every read of this handle has completed before it is closed
      yield { kind: 'drain' };
    } finally {
      await closeImage(img); // once its completions are in
    }
    previous = s.name;
  }
  yield* diffPieces(headImg, target, {
    version: 2, from: previous, to: null, size: info.size, wholeObject: false, cancelled, protectedFlag: undefined,
  });
}

// ---- JSON pages of changed extents ----

/** Extents are found window by window; a page stops after this many bytes of the image were examined. */
const PAGE_SCAN_BYTES = 64 * 2 ** 30;

async function extentPage(img: Pointer, target: string, info: ContentInfo, from: string | null, start: number, limit: number,
  wholeObject: boolean): Promise<{ items: { offset: number; length: number; exists: boolean }[]; next: number | undefined }> {
  const items: { offset: number; length: number; exists: boolean }[] = [];
  const end = Math.min(info.size, start + PAGE_SCAN_BYTES);
  let stop = false;
  const walk = walkExtents(img, target, start, end, {
    from, includeParent: true, wholeObject, window: windowFor(info.objectSize), cancelled: () => stop,
  });
  for await (const x of walk) {
    if (items.length >= limit) {
      stop = true;
      return { items, next: x.offset };
    }
    items.push(x);
  }
  return { items, next: end < info.size ? end : undefined };
}
