// Applying rbd diff streams to an image, with `rbd import-diff`'s own checks: the from-snapshot must exist in
// the image, the to-snapshot must not; the image is resized to the diff's size before its data is written;
// the to-snapshot is created once the whole diff has been applied (flushed). `importDiff` applies an
// `rbd export-diff` stream (v1) to an existing image under its mutation lock; import-v2.ts applies the v2
// sections of an export-format 2 stream to a new image.
//
// As with `rbd import-diff`, a diff that fails in the middle of its data leaves the image between the two
// states (no to-snapshot is made): apply it again, or roll back to the from-snapshot.
import { E } from '../../native/errno.js';
import { noProgress } from '../../native/progress.js';
import { rbdImage } from '../../native/rbd-image.js';
import { rbdSnapshot } from '../../native/rbd-snapshot.js';
import type { Pointer } from '../../native/types.js';
import { native, nativeLong } from '../call.js';
import type { CephSession } from '../connection.js';
import { check } from '../errors.js';
import { imageKey, mutationLocks } from '../image-lock.js';
import { withOpenImage } from '../open-image.js';
import { readDiff, type DiffMeta } from './diff-records.js';
import { Chunker, ChunkPool, ImageWriter } from './image-writer.js';
import { flushImage, ImportError, pumpBody, type ImportLimits, type ImportResult, type ImportSource } from './import.js';
import { PullReader } from './pull-reader.js';

/** RBD_SNAP_CREATE_SKIP_QUIESCE (librbd.h): no quiesce notification (nobody maps a hidden temporary) */
export const SNAP_CREATE_SKIP_QUIESCE = 1;

/** Whether snapshot `name` exists in the open image (rbd_snap_is_protected answers ENOENT otherwise). */
async function snapshotExists(img: Pointer, target: string, name: string): Promise<boolean> {
  const out: [number] = [0];
  const rc = await native<number>('rbd_snap_is_protected', rbdSnapshot.isProtected, img, name, out);
  if (rc === -E.ENOENT) return false;
  check('snapshot', 'rbd_snap_is_protected', rc, `${target}@${name}`);
  return true;
}

async function imageSize(img: Pointer, target: string): Promise<number> {
  const out: [number | bigint] = [0];
  check('image', 'rbd_get_size', await native<number>('rbd_get_size', rbdImage.getSize, img, out), target);
  return Number(out[0]);
}

export interface ApplyOptions {
  /** snapshot creation flags (SKIP_QUIESCE for a hidden temporary) */
  snapFlags: number;
  /** protect the to-snapshot when the stream says so (export-format 2) */
  protect: boolean;
  /** create the to-snapshot at the diff's end (false: the caller does, once the body is verified) */
  snapshot: boolean;
}

/** Create snapshot `name` (and protect it when asked). */
export async function makeSnapshot(img: Pointer, target: string, name: string, flags: number, protect: boolean): Promise<void> {
  await nativeLong('snapshot', 'rbd_snap_create2', `${target}@${name}`, rbdSnapshot.create2, img, name, flags, noProgress, null);
  if (protect) check('snapshot', 'rbd_snap_protect', await native<number>('rbd_snap_protect', rbdSnapshot.protect, img, name), `${target}@${name}`);
}

/**
 * Read one diff from `r` and apply it to the open image `img` through `w` (zero runs zeroed). Returns its
 * metadata; the to-snapshot has been created (and protected when asked) when it returns.
 */
export async function applyDiff(r: PullReader, version: 1 | 2, img: Pointer, target: string, w: ImageWriter, o: ApplyOptions): Promise<DiffMeta> {
  let chunker: Chunker | undefined;
  const pool = new ChunkPool();
  let next = -1;
  const flushChunker = async (): Promise<void> => {
    const last = chunker?.end();
    if (last) await w.write(last.off, last.buf, last.release);
    chunker = undefined;
    next = -1;
  };
  return readDiff(r, version, {
    begin: async (meta) => {
      if (meta.from !== undefined && !(await snapshotExists(img, target, meta.from))) {
        throw new ImportError('SNAPSHOT_NOT_FOUND', `The diff starts from snapshot "${meta.from}", which ${target} does not have.`);
      }
      if (meta.to !== undefined && await snapshotExists(img, target, meta.to)) {
        throw new ImportError('SNAPSHOT_EXISTS', `The diff ends at snapshot "${meta.to}", which ${target} already has.`);
      }
      if (meta.size !== undefined && meta.size !== await imageSize(img, target)) {
        await w.drain();
        await nativeLong('image', 'rbd_resize2', target, rbdImage.resize2, img, meta.size, true, noProgress, null);
      }
    },
    data: async (off, piece) => {
      if (off !== next) {
        await flushChunker();
        chunker = new Chunker(off, pool);
      }
      for (const c of chunker!.push(piece)) await w.write(c.off, c.buf, c.release);
      next = off + piece.length;
    },
    zero: async (off, len) => {
      await flushChunker();
      await w.zero(off, len);
    },
    end: async (meta) => {
      await flushChunker();
      await w.drain();
      await flushImage(img, target);
      if (o.snapshot && meta.to !== undefined) await makeSnapshot(img, target, meta.to, o.snapFlags, o.protect && meta.protected === true);
    },
  });
}

/**
 * Feed `src` into a PullReader while `parse` reads it; both end together. A parse error stops the body; a body
 * error (cut short, wrong digest, too long) fails the parse.
 */
export async function parseBody<T>(src: ImportSource, signal: AbortSignal, parse: (r: PullReader) => Promise<T>): Promise<{ value: T; bytes: number; digest?: string }> {
  const r = new PullReader();
  const parsing = parse(r).then(async (value) => {
    if (!(await r.atEnd())) throw new ImportError('INVALID_STREAM', `Bytes follow the end of the stream (after ${r.offset} bytes).`);
    return value;
  });
  parsing.catch((e: unknown) => r.fail(e));
  let got: { bytes: number; digest?: string };
  try {
    got = await pumpBody(src, signal, (d) => r.push(d));
    r.end();
  } catch (e) {
    r.fail(e);
    await parsing.catch(() => undefined);
    throw e;
  }
  const value = await parsing;
  return { value, ...got };
}

/**
 * Apply an `rbd export-diff` stream (v1) to the existing image `name`, holding its mutation lock. The end
 * snapshot is created after the whole body arrived and its digest was verified.
 */
export async function importDiff(session: CephSession & { withIoctxLong?: CephSession['withIoctx'] }, spec: string, name: string,
  src: ImportSource, limits: ImportLimits, signal: AbortSignal): Promise<ImportResult & { size: number }> {
  const target = `${spec}/${name}`;
  const withIo = (session.withIoctxLong ?? session.withIoctx).bind(session);
  return mutationLocks(session).run([imageKey(spec, name)], () => withIo(spec, (io) => withOpenImage(io, spec, name, {}, async (img) => {
    const w = new ImageWriter(img, { maxInFlight: limits.writesInFlight, zeros: 'zeroes', target });
    try {
      const got = await parseBody(src, signal, (r) => applyDiff(r, 1, img, target, w, { snapFlags: 0, protect: false, snapshot: false }));
      // the body is whole and its digest verified: the end snapshot marks the diff applied
      if (got.value.to !== undefined) await makeSnapshot(img, target, got.value.to, 0, false);
      return {
        bytes: got.bytes, written: w.written, size: await imageSize(img, target),
        ...(got.digest ? { digest: got.digest } : {}),
        ...(got.value.from !== undefined ? { fromSnapshot: got.value.from } : {}),
        ...(got.value.to !== undefined ? { snapshots: [got.value.to] } : {}),
      };
    } finally {
      await w.settle();
    }
  })));
}
