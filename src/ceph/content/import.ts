// Importing image content from a byte stream (the body of an upload): a whole raw image, a part of an existing
// image (resumable uploads), and — in import-diff.ts / import-v2.ts — rbd's diff and export-format 2 streams.
//
// A new image is made the way a copy is (copy.ts): under a hidden temporary name (`.rbdapi-import-<random>`,
// a name the API refuses, never listed), written, checked (length, digest), and renamed to its name only when
// complete, under the destination name's mutation lock; a failure of any kind removes the temporary
// (removeTemporary, the copy's cleanup). The import runs as a task of this process (TaskEngine.runHere): its
// record is leased, so when the process is killed mid-import another replica (or this one restarted) takes the
// task over and runs the same cleanup. Nothing half-made is ever visible under the destination name.
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { E } from '../../native/errno.js';
import { aioFlush } from '../../native/rbd-io-write.js';
import { rbdImage } from '../../native/rbd-image.js';
import type { Pointer } from '../../native/types.js';
import { native } from '../call.js';
import type { CephSession } from '../connection.js';
import { splitPoolSpec } from '../spec.js';
import { removeTemporary, type TemporaryParams } from '../copy.js';
import { CephError, check, TaskFailure } from '../errors.js';
import { IMPORT_TEMP_PREFIX } from '../image-directory.js';
import { holdForTask, imageKey, mutationLocks } from '../image-lock.js';
import { Images } from '../images.js';
import { withOpenImage } from '../open-image.js';
import type { TaskEngine } from '../tasks/engine.js';
import type { TaskContext } from '../tasks/types.js';
import { Chunker, ImageWriter } from './image-writer.js';

export const IMPORT_ACTION = 'image.import';

/** Why an import was refused or failed, for the HTTP layer (and the task record's error code). */
export type ImportFailureCode =
  | 'BODY_LENGTH_MISMATCH' | 'DIGEST_MISMATCH' | 'UPLOAD_ABORTED' | 'UPLOAD_STALLED' | 'IMAGE_EXISTS' | 'INVALID_STREAM'
  | 'IMAGE_NOT_FOUND' | 'SNAPSHOT_NOT_FOUND' | 'SNAPSHOT_EXISTS' | 'SIZE_MISMATCH';

export class ImportError extends TaskFailure {
  constructor(override readonly code: ImportFailureCode, detail: string) {
    super(code, detail);
    this.name = 'ImportError';
  }
}

export type DigestAlgorithm = 'sha-256' | 'sha-512';
/** A Content-Digest algorithm (RFC 9530) as node:crypto names it: uploads verify with it, downloads' trailers use it. */
export const nodeHashName = (alg: DigestAlgorithm): string => (alg === 'sha-256' ? 'sha256' : 'sha512');
export interface ExpectedDigest { algorithm: DigestAlgorithm; value: Buffer }

/** A body to import: a stream of Buffers of `length` bytes (the declared Content-Length). */
export interface ImportSource {
  body: AsyncIterable<Buffer>;
  length: number;
  /** verified before the image becomes visible (or, for a part, before the answer) */
  digest?: ExpectedDigest | undefined;
  /** a body that sends nothing for this long is dropped, ms */
  idleMs: number;
  /** stop reading and fail (the client went away, the stream must be torn down) */
  abort(reason: Error): void;
}

export interface ImportLimits {
  /** librbd writes in flight per import */
  writesInFlight: number;
}

export interface ImportResult extends Record<string, unknown> {
  /** body bytes received */
  bytes: number;
  /** bytes written as data; the rest were zeros left out (or zeroed) */
  written: number;
  /** `sha-256=:…:` (RFC 9530) of the body when a digest was asked for */
  digest?: string | undefined;
  /** snapshots created (diff and export-format 2 imports) */
  snapshots?: string[] | undefined;
}

export interface ImportParams extends TemporaryParams {
  kind: 'raw' | 'rbd-export-v2';
  size?: number;
}

type LongSession = CephSession & { withIoctxLong?: CephSession['withIoctx'] };
/** I/O contexts without the per-request deadline: an upload lasts as long as its client takes. */
const unboundedIoctx = (c: LongSession): CephSession['withIoctx'] => (c.withIoctxLong ?? c.withIoctx).bind(c);

/** A new temporary name for an import. */
export function importTemporaryName(): string {
  return `${IMPORT_TEMP_PREFIX}${randomBytes(8).toString('hex')}`;
}

/** Register the `image.import` action: its cleanup after the importing process died. */
export function registerImageImport(tasks: TaskEngine): void {
  tasks.register<ImportParams>({
    action: IMPORT_ACTION,
    // an import runs in the process that receives the upload (runHere); another replica never runs it
    run: async () => {
      throw new TaskFailure('INTERRUPTED', 'An import runs in the service instance that receives its upload; it did not start.');
    },
    interrupted: async (ctx) => { await removeTemporary(ctx.session, ctx.params); },
  });
}

/**
 * Read `src` to its end, handing each piece to `onData` (awaited: the next piece is read only after it, so
 * a slow cluster slows the sender down). Checks the length and the digest; stops when `signal` aborts or the
 * body is idle for src.idleMs. Returns the bytes read and the digest computed.
 */
export async function pumpBody(src: ImportSource, signal: AbortSignal, onData: (data: Buffer) => Promise<void>): Promise<{ bytes: number; digest?: string }> {
  const hash: Hash | undefined = src.digest ? createHash(nodeHashName(src.digest.algorithm)) : undefined;
  let bytes = 0;
  let failure: ImportError | undefined;
  const fail = (e: ImportError): void => {
    failure ??= e;
    src.abort(e);
  };
  // idle = waiting for the client longer than idleMs; the time the cluster takes with a piece does not count.
  // One timer checks a timestamp (re-arming a timeout per 64 KiB socket piece cost ~50 ms of CPU per GiB)
  let waitingSince: number | undefined = performance.now();
  const idle = setInterval(() => {
    if (waitingSince !== undefined && performance.now() - waitingSince >= src.idleMs) {
      fail(new ImportError('UPLOAD_STALLED', `The upload sent nothing for ${src.idleMs} ms; it was dropped.`));
    }
  }, Math.max(10, Math.min(1000, src.idleMs / 4)));
  const onAbort = (): void => fail(new ImportError('UPLOAD_ABORTED', `The import was stopped: ${String((signal.reason as Error | undefined)?.message ?? 'aborted')}.`));
  signal.addEventListener('abort', onAbort);
  if (signal.aborted) onAbort();
  try {
    for await (const piece of src.body) {
      if (failure) throw failure;
      waitingSince = undefined;
      bytes += piece.length;
      if (bytes > src.length) throw new ImportError('BODY_LENGTH_MISMATCH', `The body is longer than Content-Length (${src.length} bytes).`);
      hash?.update(piece);
      await onData(piece);
      waitingSince = performance.now();
    }
  } catch (e) {
    if (failure) throw failure;
    if (e instanceof ImportError || e instanceof CephError) throw e;
    throw new ImportError('UPLOAD_ABORTED', `The upload was cut short after ${bytes} of ${src.length} bytes (${(e as Error).message}).`);
  } finally {
    clearInterval(idle);
    signal.removeEventListener('abort', onAbort);
  }
  if (failure) throw failure;
  if (bytes !== src.length) {
    throw new ImportError('BODY_LENGTH_MISMATCH', `The body ended after ${bytes} bytes; Content-Length said ${src.length}.`);
  }
  let digest: string | undefined;
  if (hash && src.digest) {
    const got = hash.digest();
    digest = `${src.digest.algorithm}=:${got.toString('base64')}:`;
    if (!got.equals(src.digest.value)) {
      throw new ImportError('DIGEST_MISMATCH', `Content-Digest ${src.digest.algorithm} does not match the body (the body's is ${digest}).`);
    }
  }
  return { bytes, ...(digest ? { digest } : {}) };
}

/** rbd_aio_flush: every write acknowledged before is durable. */
export async function flushImage(img: Pointer, target: string): Promise<void> {
  check('image', 'rbd_aio_flush', await aioFlush(img), target);
}

/**
 * Stream `src` into the open image `img` from offset `start` through an ImageWriter; zero runs are skipped
 * (`zeros: 'skip'`, a new image) or zeroed. Flushes before returning.
 */
export async function streamInto(img: Pointer, target: string, start: number, src: ImportSource, signal: AbortSignal,
  limits: ImportLimits, zeros: 'skip' | 'zeroes', progress?: (bytes: number) => void): Promise<ImportResult> {
  const w = new ImageWriter(img, { maxInFlight: limits.writesInFlight, zeros, target });
  const ch = new Chunker(start);
  let seen = 0;
  try {
    const got = await pumpBody(src, signal, async (data) => {
      for (const c of ch.push(data)) await w.write(c.off, c.buf, c.release);
      seen += data.length;
      progress?.(seen);
    });
    const last = ch.end();
    if (last) await w.write(last.off, last.buf, last.release);
    await w.drain();
    await flushImage(img, target);
    return { bytes: got.bytes, written: w.written, ...(got.digest ? { digest: got.digest } : {}) };
  } finally {
    // never close the image under writes in flight
    await w.settle();
  }
}

/** The hidden image an import fills: made by `create`, written through `open`. */
export interface TemporaryImage {
  /** the destination's `spec/name` (for messages) */
  target: string;
  create(o: { size: number; features?: bigint | undefined; order?: number | undefined; stripeUnit?: number | undefined; stripeCount?: number | undefined }): Promise<void>;
  open<T>(fn: (img: Pointer) => Promise<T>): Promise<T>;
}

/**
 * Make an image under a hidden name with `build` (which creates it, then fills it), then rename it to `name`
 * (spec `spec`) once complete and checked. ImportError IMAGE_EXISTS when the name was taken meanwhile (the
 * import is discarded). `build` runs inside the import's task, on the task's own client (ctx.session).
 */
export async function importNew<R extends ImportResult>(tasks: TaskEngine, spec: string, name: string, params: Omit<ImportParams, 'destination' | 'temporary'>,
  build: (ctx: TaskContext<ImportParams>, tmp: TemporaryImage) => Promise<R>): Promise<R> {
  const { pool, namespace } = splitPoolSpec(spec);
  const full: ImportParams = { ...params, destination: { pool, namespace, name }, temporary: importTemporaryName() };
  return tasks.runHere<ImportParams, R>(IMPORT_ACTION, { pool, namespace, image: name }, full, async (ctx) => {
    const session = ctx.session;
    const withIo = unboundedIoctx(session);
    const temp = full.temporary;
    const target = `${spec}/${name}`;
    const tmp: TemporaryImage = {
      target,
      create: (o) => new Images(session).create(spec, temp, o.size, o),
      open: (fn) => withIo(spec, (io) => withOpenImage(io, spec, temp, {}, fn)),
    };
    try {
      const result = await build(ctx, tmp);
      if (ctx.signal.aborted) throw new ImportError('UPLOAD_ABORTED', 'The import was stopped.');
      // the destination name's mutation lock: a create, restore or rename into that name runs before or after
      await holdForTask(session, ctx.task.id, [imageKey(spec, name)], () => withIo(spec, (io) => io.use('rbd_rename', async (d) => {
        const rc = await native<number>('rbd_rename', rbdImage.rename, d, temp, name);
        if (rc === -E.EEXIST) throw new ImportError('IMAGE_EXISTS', `Image ${target} was created while the import ran; the import was discarded.`);
        check('image', 'rbd_rename', rc, target);
      })));
      return result;
    } catch (e) {
      await removeTemporary(session, full).catch(() => undefined);
      throw e;
    }
  });
}

/** A raw image from `src` (size = its length): see importNew. */
export function importRaw(tasks: TaskEngine, spec: string, name: string, src: ImportSource, limits: ImportLimits,
  opts: { features?: bigint | undefined; order?: number | undefined } = {}): Promise<ImportResult> {
  return importNew(tasks, spec, name, { kind: 'raw', size: src.length }, async (ctx, tmp) => {
    await tmp.create({ size: src.length, ...opts });
    return tmp.open((img) => streamInto(img, tmp.target, 0, src, ctx.signal, limits, 'skip', (n) => ctx.progress(src.length > 0 ? n / src.length : 1)));
  });
}

/**
 * Write `src` into the existing image `name` at `start` (a part of a resumable upload), holding the image's
 * mutation lock. `size` must be the image's size (ImportError SIZE_MISMATCH otherwise); zero runs are zeroed.
 * A part cut short or with a wrong digest has been written up to where it stopped: the client sends it again.
 */
export async function importPart(session: LongSession, spec: string, name: string, start: number, size: number,
  src: ImportSource, limits: ImportLimits, signal: AbortSignal): Promise<ImportResult & { imageSize: number }> {
  const target = `${spec}/${name}`;
  return mutationLocks(session).run([imageKey(spec, name)], () => unboundedIoctx(session)(spec, (io) =>
    withOpenImage(io, spec, name, {}, async (img) => {
      const out: [number | bigint] = [0];
      check('image', 'rbd_get_size', await native<number>('rbd_get_size', rbdImage.getSize, img, out), target);
      const imageSize = Number(out[0]);
      if (imageSize !== size) {
        throw new ImportError('SIZE_MISMATCH', `Content-Range says the image has ${size} bytes; ${target} has ${imageSize}.`);
      }
      return { ...await streamInto(img, target, start, src, signal, limits, 'zeroes'), imageSize };
    })));
}

