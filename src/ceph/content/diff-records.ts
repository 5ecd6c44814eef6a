// rbd's diff stream (ceph doc/dev/rbd-diff.rst), as `rbd export-diff` writes it and `rbd import-diff` reads it,
// and as each snapshot's section of an export-format 2 stream (doc/dev/rbd-export.rst) carries it:
//   v1: "rbd diff v1\n", then records: a tag byte and its fields (little-endian)
//   v2: "rbd diff v2\n", then records: a tag byte, le64 length of what follows, the fields
// metadata first — 'f' from snapshot (le32 length + name), 't' to snapshot (same), 's' size (le64), and in v2
// 'p' protection (a byte; rbd writes 8 as its length) — then data — 'w' offset, length, data; 'z' offset,
// length — and 'e' at the end. Unknown tags in v2 are skipped by their length (the format's rule); in v1 they
// are an error. Every field is checked against the image: nothing outside the size, nothing absurd.
import { ImportError } from './import.js';
import type { PullReader } from './pull-reader.js';

export const DIFF_V1_HEADER = 'rbd diff v1\n';
export const DIFF_V2_HEADER = 'rbd diff v2\n';
/** the longest snapshot name accepted in a stream */
const MAX_NAME = 4096;

export interface DiffSink {
  /** every metadata record has been read: the data records follow (checks and resizes happen here) */
  begin(meta: DiffMeta): Promise<void>;
  /** a piece of a 'w' record's data at image offset `off` */
  data(off: number, piece: Buffer): Promise<void>;
  /** a 'z' record */
  zero(off: number, len: number): Promise<void>;
  /** the 'e' record */
  end(meta: DiffMeta): Promise<void>;
}

export interface DiffMeta { from?: string | undefined; to?: string | undefined; size?: number | undefined; protected?: boolean | undefined }

const invalid = (detail: string): ImportError => new ImportError('INVALID_STREAM', detail);

function u64(b: Buffer, at: number, what: string): number {
  const v = b.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(`${what} ${v} is out of range.`);
  return Number(v);
}

/** Read one diff (its header included) from `r` into `sink`; `version` 1 or 2. */
export async function readDiff(r: PullReader, version: 1 | 2, sink: DiffSink): Promise<DiffMeta> {
  const header = version === 1 ? DIFF_V1_HEADER : DIFF_V2_HEADER;
  const got = (await r.exact(header.length, 'the diff header')).toString('latin1');
  if (got !== header) throw invalid(`Not an rbd diff v${version} stream (its header is ${JSON.stringify(got)}).`);
  const meta: DiffMeta = {};
  let inData = false;
  const lengthOf = async (tag: string): Promise<number | undefined> =>
    version === 2 ? u64(await r.exact(8, `the length of record '${tag}'`), 0, `the length of record '${tag}'`) : undefined;
  const name = async (tag: string): Promise<string> => {
    const n = (await r.exact(4, `record '${tag}'`)).readUInt32LE(0);
    if (n > MAX_NAME) throw invalid(`A snapshot name of ${n} bytes in record '${tag}'.`);
    return (await r.exact(n, `record '${tag}'`)).toString('utf8');
  };
  for (;;) {
    const tag = String.fromCharCode((await r.exact(1, 'a record tag'))[0]!);
    if (tag === 'e') {
      if (!inData) await sink.begin(meta);
      await sink.end(meta);
      return meta;
    }
    const len = await lengthOf(tag);
    switch (tag) {
      case 'f': case 't': {
        if (inData) throw invalid(`Record '${tag}' after the data records.`);
        const s = await name(tag);
        if (len !== undefined && len !== 4 + Buffer.byteLength(s)) throw invalid(`Record '${tag}' says ${len} bytes.`);
        if (tag === 'f') meta.from = s; else meta.to = s;
        break;
      }
      case 's': {
        if (inData) throw invalid("Record 's' after the data records.");
        if (len !== undefined && len !== 8) throw invalid(`Record 's' says ${len} bytes.`);
        meta.size = u64(await r.exact(8, "record 's'"), 0, 'the image size');
        break;
      }
      case 'p': {
        if (version !== 2) throw invalid("Record 'p' in a v1 diff.");
        if (inData) throw invalid("Record 'p' after the data records.");
        meta.protected = (await r.exact(1, "record 'p'"))[0] !== 0;
        break;
      }
      case 'w': case 'z': {
        const b = await r.exact(16, `record '${tag}'`);
        const off = u64(b, 0, 'an offset');
        const n = u64(b, 8, 'a length');
        if (len !== undefined && len !== 16 + (tag === 'w' ? n : 0)) throw invalid(`Record '${tag}' says ${len} bytes for ${n} of data.`);
        if (!inData) { inData = true; await sink.begin(meta); }
        if (meta.size !== undefined && off + n > meta.size) {
          throw invalid(`Record '${tag}' at ${off} (+${n}) lies beyond the image size ${meta.size}.`);
        }
        if (tag === 'z') { await sink.zero(off, n); break; }
        let at = off;
        for await (const piece of r.stream(n, "record 'w'")) {
          await sink.data(at, piece);
          at += piece.length;
        }
        break;
      }
      default:
        if (len === undefined) throw invalid(`Unknown record tag ${JSON.stringify(tag)} at byte ${r.offset - 1}.`);
        for await (const _ of r.stream(len, `record '${tag}'`)) { /* skipped: an unknown v2 record */ }
    }
  }
}
