// Importing rbd's export-format 2 stream (ceph doc/dev/rbd-export.rst), as `rbd export --export-format 2`
// writes it: "rbd image v2\n"; metadata records (a tag, le64 length, the value: 'O' order, 'F' format,
// 'T' features, 'U' stripe unit, 'C' stripe count; unknown tags skipped by their length) up to 'E'; then
// "rbd image diffs v2\n", le64 the number of diffs, and the diffs (v2, diff-records.ts): one per snapshot,
// oldest first, each ending at its snapshot (created, and protected when the stream says so), and the last
// one the image's HEAD. The image is made hidden (import.ts importNew) and visible only when all of it arrived.
import { ImportError, importNew, type ImportLimits, type ImportResult, type ImportSource } from './import.js';
import { applyDiff, parseBody, SNAP_CREATE_SKIP_QUIESCE } from './import-diff.js';
import { ImageWriter } from './image-writer.js';
import type { PullReader } from './pull-reader.js';
import type { TaskEngine } from '../tasks/engine.js';
import { rbdImage } from '../../native/rbd-image.js';
import { native } from '../call.js';
import { check } from '../errors.js';

export const IMAGE_V2_HEADER = 'rbd image v2\n';
export const DIFFS_V2_HEADER = 'rbd image diffs v2\n';
/** more snapshots than any image can have (rbd's own limit is far lower) */
const MAX_DIFFS = 100_000;

interface V2Header { order?: number; features?: bigint; stripeUnit?: number; stripeCount?: number }

const invalid = (detail: string): ImportError => new ImportError('INVALID_STREAM', detail);

async function readHeader(r: PullReader): Promise<V2Header> {
  const got = (await r.exact(IMAGE_V2_HEADER.length, 'the header')).toString('latin1');
  if (got !== IMAGE_V2_HEADER) throw invalid(`Not an rbd export-format 2 stream (its header is ${JSON.stringify(got)}).`);
  const h: V2Header = {};
  for (let records = 0; ; records++) {
    if (records > 1000) throw invalid('Too many metadata records.');
    const tag = String.fromCharCode((await r.exact(1, 'a metadata tag'))[0]!);
    if (tag === 'E') break;
    const len = (await r.exact(8, `the length of metadata '${tag}'`)).readBigUInt64LE(0);
    if ('OFTUC'.includes(tag)) {
      if (len !== 8n) throw invalid(`Metadata '${tag}' says ${len} bytes.`);
      const v = (await r.exact(8, `metadata '${tag}'`)).readBigUInt64LE(0);
      if (tag === 'O') {
        if (v < 12n || v > 25n) throw invalid(`Image order ${v} (object size 2^${v}) is out of range.`);
        h.order = Number(v);
      } else if (tag === 'F') {
        if (v !== 2n) throw invalid(`Image format ${v}: only format 2 images are imported.`);
      } else if (tag === 'T') {
        h.features = v;
      } else if (tag === 'U') {
        if (v > 1n << 32n) throw invalid(`Stripe unit ${v} is out of range.`);
        h.stripeUnit = Number(v);
      } else {
        if (v > 1n << 32n) throw invalid(`Stripe count ${v} is out of range.`);
        h.stripeCount = Number(v);
      }
    } else {
      if (len > 1n << 20n) throw invalid(`Metadata '${tag}' of ${len} bytes.`);
      for await (const _ of r.stream(Number(len), `metadata '${tag}'`)) { /* an unknown record: skipped */ }
    }
  }
  const diffs = (await r.exact(DIFFS_V2_HEADER.length, 'the diffs header')).toString('latin1');
  if (diffs !== DIFFS_V2_HEADER) throw invalid(`Expected ${JSON.stringify(DIFFS_V2_HEADER)}, found ${JSON.stringify(diffs)}.`);
  return h;
}

/** A new image with its snapshots from an export-format 2 stream: see importNew. */
export function importExportV2(tasks: TaskEngine, spec: string, name: string, src: ImportSource,
  limits: ImportLimits): Promise<ImportResult & { size: number }> {
  return importNew(tasks, spec, name, { kind: 'rbd-export-v2' }, async (ctx, tmp) => {
    const snapshots: string[] = [];
    let written = 0;
    const got = await parseBody(src, ctx.signal, async (r) => {
      const h = await readHeader(r);
      const count = (await r.exact(8, 'the number of diffs')).readBigUInt64LE(0);
      if (count < 1n || count > BigInt(MAX_DIFFS)) throw invalid(`${count} diffs: a stream has 1 (the image) to ${MAX_DIFFS}.`);
      const n = Number(count);
      await tmp.create({
        size: 0, features: h.features, order: h.order,
        ...(h.stripeUnit !== undefined && h.stripeCount !== undefined ? { stripeUnit: h.stripeUnit, stripeCount: h.stripeCount } : {}),
      });
      return tmp.open(async (img) => {
        for (let i = 0; i < n; i++) {
          // the first diff fills a new image (zero runs need not be written); later ones change what is there
          const w = new ImageWriter(img, { maxInFlight: limits.writesInFlight, zeros: i === 0 ? 'skip' : 'zeroes', target: tmp.target });
          try {
            const meta = await applyDiff(r, 2, img, tmp.target, w, { snapFlags: SNAP_CREATE_SKIP_QUIESCE, protect: true, snapshot: true });
            if (i < n - 1 && meta.to === undefined) throw invalid(`Diff ${i + 1} of ${n} ends at no snapshot; only the last one is the image's HEAD.`);
            if (meta.to !== undefined) snapshots.push(meta.to);
            written += w.written;
          } finally {
            await w.settle();
          }
          ctx.progress((i + 1) / n);
        }
        const out: [number | bigint] = [0];
        check('image', 'rbd_get_size', await native<number>('rbd_get_size', rbdImage.getSize, img, out), tmp.target);
        return Number(out[0]);
      });
    });
    return { bytes: got.bytes, written, size: got.value, snapshots, ...(got.digest ? { digest: got.digest } : {}) };
  });
}
