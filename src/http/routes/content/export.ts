// Downloads of an image's content:
//   GET|HEAD …/images/{image}/content[?snapshot=s][&format=rbd-export-v2]  the bytes (Range, If-Range, ETag)
//   GET      …/images/{image}/diff?fromSnapshot=a[&snapshot=b][&format=rbd-diff]  changed extents (JSON pages) or rbd's diff stream
// The bytes are streamed from librbd's asynchronous reads with back-pressure from the socket
// (src/ceph/content/); a client that goes away ends the reads at once.
import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { abortAllTransfers } from '../../../ceph/content/budget.js';
import { openContent, type ContentInfo } from '../../../ceph/content/export.js';
import { decodeCursor, encodeCursor } from '../../cursor.js';
import { digestTrailer, wantedDigest } from '../../digest.js';
import { ApiError, invalidField } from '../../errors.js';
import { specOf } from '../../paths.js';
import { imageParams, problems } from '../../schemas/common.js';
import {
  contentHeaders, contentQuery, diffPageSchema, diffQuery, RBD_DIFF_TYPE, RBD_EXPORT_V2_TYPE,
} from '../../schemas/content.js';

const binary = (description: string) => z.string().meta({ format: 'binary', description });
/** A response of one or more media types (OpenAPI `content`), e.g. bytes as application/octet-stream. */
const media = (description: string, types: Record<string, z.ZodType>) => ({
  description, content: Object.fromEntries(Object.entries(types).map(([t, schema]) => [t, { schema }])),
});

export type ByteRange = { start: number; end: number };
type RangeOutcome = { kind: 'whole' } | { kind: 'range'; range: ByteRange } | { kind: 'unsatisfiable'; detail: string };

/** Digits as a number; a value beyond 2^53 is Infinity (past any image's end). */
const bigNumber = (digits: string): number => (digits.length > 15 ? Infinity : Number(digits));

/**
 * The one byte range of a `Range` header (RFC 9110 §14.2) against a content of `size` bytes. A unit other than
 * bytes is ignored (the whole content is sent); several ranges or an invalid one are refused (416) rather than
 * answered with the whole image, which could be far more than the client meant to fetch.
 */
export function parseRange(header: string | undefined, size: number): RangeOutcome {
  if (header === undefined) return { kind: 'whole' };
  const m = /^\s*([A-Za-z]+)\s*=(.*)$/.exec(header);
  if (!m || m[1]!.toLowerCase() !== 'bytes') return { kind: 'whole' };
  const specs = m[2]!.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (specs.length !== 1) {
    return { kind: 'unsatisfiable', detail: specs.length === 0 ? 'Range names no byte range.' : 'Only one byte range per request is served (Range has several).' };
  }
  const r = /^(\d*)-(\d*)$/.exec(specs[0]!);
  if (!r || (r[1] === '' && r[2] === '')) return { kind: 'unsatisfiable', detail: `Range "${specs[0]!.slice(0, 64)}" is not first-last, first- or -suffixLength.` };
  if (r[1] === '') {
    const suffix = bigNumber(r[2]!);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable', detail: 'A zero-length suffix range (or an empty content) selects no byte.' };
    return { kind: 'range', range: { start: Math.max(0, size - suffix), end: size - 1 } };
  }
  const start = bigNumber(r[1]!);
  const last = r[2] === '' ? Infinity : bigNumber(r[2]!);
  if (last < start) return { kind: 'unsatisfiable', detail: `Range ends (${r[2]}) before it begins (${r[1]}).` };
  if (start >= size) return { kind: 'unsatisfiable', detail: `Range begins at ${r[1]}, at or past the end of the ${size}-byte content.` };
  return { kind: 'range', range: { start, end: Math.min(last, size - 1) } };
}

/** The ETag of the raw content: strong for a snapshot (immutable), weak and unique per request for the image. */
function rawEtag(info: ContentInfo): string {
  return info.snapshot ? `"${info.imageId}.${info.snapshot.id}.raw"` : `W/"${info.imageId}.head.${randomUUID()}"`;
}

/** Does `If-Range` allow the partial answer? Only a strong ETag equal to the current one does (dates never: no Last-Modified). */
function ifRangeHolds(ifRange: string | undefined, etag: string): boolean {
  if (ifRange === undefined) return true;
  return !etag.startsWith('W/') && ifRange.trim() === etag;
}

/** A file name for Content-Disposition: the image (and snapshot), safe ASCII. */
function fileName(image: string, snapshot: string | undefined, ext: string): string {
  const base = `${image}${snapshot !== undefined ? `@${snapshot}` : ''}`.replace(/[^A-Za-z0-9._@-]/g, '_').slice(0, 200);
  return `${base}.${ext}`;
}

const wantsType = (req: FastifyRequest, type: string): boolean => {
  const accept = req.headers.accept;
  return typeof accept === 'string' && accept.split(',').some((a) => a.split(';')[0]!.trim().toLowerCase() === type);
};

/**
 * The response's bytes not yet handed to the kernel: its own and its socket's write buffer (which holds a
 * chunk until libuv has written it) — what ImageReadStream needs to reuse its read Buffers. Plain HTTP/1.1 and TLS write
 * a Buffer body straight to the socket (TLS copies it while encrypting), so once the socket's buffer has
 * drained past a chunk, nothing refers to it any more. Anything else (no socket yet): every byte counts as
 * unsent, so nothing is reused early.
 */
function sinkOf(reply: FastifyReply): { unsent: () => number } {
  return {
    unsent: () => {
      // ServerResponse.writableLength: what it holds itself plus its socket's write buffer
      return reply.raw.socket ? reply.raw.writableLength : Number.MAX_SAFE_INTEGER;
    },
  };
}

/**
 * Send `stream`; the client going away destroys it (and so ends its reads). A GET with `Want-Content-Digest`
 * gets the digest of the bytes sent as a trailer.
 */
function sendStream(req: FastifyRequest, reply: FastifyReply, stream: import('node:stream').Readable): FastifyReply {
  const alg = req.method === 'GET' ? wantedDigest(req.headers['want-content-digest']) : undefined;
  if (alg) digestTrailer(reply, stream, alg);
  const gone = (): void => { if (!stream.readableEnded) stream.destroy(); };
  // the stream failed after the headers went out (a Ceph error, a stalled client): the answer cannot be
  // completed, so the connection is closed (the client sees fewer bytes than Content-Length)
  stream.once('error', () => { if (!reply.raw.destroyed) reply.raw.destroy(); });
  req.raw.once('close', () => { if (req.raw.destroyed && !reply.raw.writableFinished) gone(); });
  reply.raw.once('close', () => { if (!reply.raw.writableFinished) gone(); });
  return reply.send(stream);
}

type ContentRequest = FastifyRequest<{
  Params: z.infer<typeof imageParams>;
  Querystring: z.infer<typeof contentQuery>;
  Headers: z.infer<typeof contentHeaders>;
}>;

export const contentExportRoutes: FastifyPluginAsyncZod = async (app) => {
  // a stopping service ends downloads at once (their reads complete, their images close)
  app.addHook('preClose', async () => abortAllTransfers(new Error('the service is stopping')));

  const contentSchema = (method: 'GET' | 'HEAD') => ({
    tags: ['images'], operationId: method === 'GET' ? 'getImageContent' : 'headImageContent',
    summary: method === 'GET' ? "Download an image's (or a snapshot's) content" : 'The headers of a download (size, ETag), no body',
    description: 'The raw bytes (`application/octet-stream`, `Content-Length` = the size), streamed from librbd as fast as '
      + 'the client takes them; extents never written are sent as zeros without reading them. One byte range per request '
      + '(`Range: bytes=a-b` → 206 with `Content-Range`; 416 when it lies past the end). A snapshot\'s ETag is strong and '
      + 'stable, so `If-Range` resumes an interrupted download safely; the image itself (which may be written while it is '
      + 'read) has a weak ETag unique to each answer, so a resume from it always restarts (200). `format=rbd-export-v2` '
      + `(or \`Accept: ${RBD_EXPORT_V2_TYPE}\`) sends rbd's export-format 2 instead: the image with every snapshot, for `
      + '`rbd import --export-format 2 - pool/image`. A client that takes no data for the idle time (TRANSFER_IDLE_MS, '
      + 'default 30 s) is disconnected. HEAD answers the headers only. `Want-Content-Digest: sha-256` (RFC 9530; or '
      + 'sha-512) asks for the digest of the bytes sent: it comes as a `Content-Digest` trailer after the last byte '
      + '(the answer is then chunked, without Content-Length).',
    params: imageParams,
    querystring: contentQuery,
    headers: contentHeaders,
    response: {
      200: media('the content: raw bytes, or the export-format 2 stream', {
        'application/octet-stream': binary('the image\'s bytes'),
        [RBD_EXPORT_V2_TYPE]: binary('rbd export --export-format 2'),
      }),
      206: media('the requested byte range (`Content-Range: bytes first-last/size`)', { 'application/octet-stream': binary('the bytes of the range') }),
      ...problems(400, 401, 403, 404, 416, 503, 504),
    },
  });

  const getContent = async (req: ContentRequest, reply: FastifyReply) => {
    const spec = specOf(req.params);
    const { image } = req.params;
    const { snapshot } = req.query;
    const v2 = req.query.format === 'rbd-export-v2' || (req.query.format === undefined && wantsType(req, RBD_EXPORT_V2_TYPE));
    if (v2 && snapshot !== undefined) {
      throw invalidField('querystring', 'snapshot', 'format=rbd-export-v2 exports the image with all its snapshots: leave out `snapshot`');
    }
    const content = await openContent(app.ceph.transfers, spec, image, snapshot);
    let streaming = false;
    try {
      const { info } = content;
      void reply.header('cache-control', 'no-cache');
      if (v2) {
        void reply.header('etag', `W/"${info.imageId}.v2.${randomUUID()}"`)
          .header('content-type', RBD_EXPORT_V2_TYPE)
          .header('content-disposition', `attachment; filename="${fileName(image, undefined, 'rbd2')}"`);
        if (req.method === 'HEAD') return reply.send('');
        streaming = true;
        return sendStream(req, reply, content.exportV2(sinkOf(reply)));
      }
      const etag = rawEtag(info);
      void reply.header('etag', etag).header('accept-ranges', 'bytes')
        .header('content-disposition', `attachment; filename="${fileName(image, snapshot, 'raw')}"`);
      let outcome = parseRange(req.headers.range, info.size);
      if (outcome.kind !== 'whole' && !ifRangeHolds(req.headers['if-range'], etag)) outcome = { kind: 'whole' };
      if (outcome.kind === 'unsatisfiable') {
        void reply.header('content-range', `bytes */${info.size}`);
        throw new ApiError('RANGE_NOT_SATISFIABLE', outcome.detail, { size: info.size });
      }
      const { start, end } = outcome.kind === 'range' ? outcome.range : { start: 0, end: info.size - 1 };
      void reply.header('content-type', 'application/octet-stream').header('content-length', String(end + 1 - start));
      if (outcome.kind === 'range') void reply.code(206).header('content-range', `bytes ${start}-${end}/${info.size}`);
      if (req.method === 'HEAD' || end < start) return reply.send('');
      streaming = true;
      return sendStream(req, reply, content.raw(start, end + 1, sinkOf(reply)));
    } finally {
      if (!streaming) content.release();
    }
  };
  // HEAD first: a GET route would otherwise get Fastify's own HEAD twin (same operationId in the document)
  app.head('/images/:image/content', { schema: contentSchema('HEAD'), config: { transfer: true } }, getContent);
  app.get('/images/:image/content', { schema: contentSchema('GET'), config: { transfer: true } }, getContent);

  app.get('/images/:image/diff', {
    config: { transfer: true },
    schema: {
      tags: ['images'], summary: 'What changed between two snapshots (or a snapshot and the image)', operationId: 'getImageDiff',
      description: 'The extents written (`exists: true`) or discarded (`exists: false`) after `fromSnapshot`, up to `snapshot` '
        + '(or the image as it is now), as pages of `{offset, length, exists}` in offset order — the blocks a backup must copy. '
        + '`format=rbd-diff` (or `Accept: ' + RBD_DIFF_TYPE + '`) streams what `rbd export-diff` writes instead, for '
        + '`rbd import-diff - pool/image` (the target must have `fromSnapshot`).',
      params: imageParams,
      querystring: diffQuery,
      response: {
        200: media('a page of changed extents, or rbd\'s diff stream', {
          'application/json': diffPageSchema,
          [RBD_DIFF_TYPE]: binary('rbd export-diff (diff v1)'),
        }),
        ...problems(400, 401, 403, 404, 503, 504),
      },
    },
  }, async (req, reply) => {
    const spec = specOf(req.params);
    const { image } = req.params;
    const { fromSnapshot, snapshot, wholeObject, limit } = req.query;
    const stream = req.query.format === 'rbd-diff' || wantsType(req, RBD_DIFF_TYPE);
    let start = 0;
    if (req.query.cursor !== undefined) {
      const c = decodeCursor(req.query.cursor);
      start = c !== undefined && /^\d{1,16}$/.test(c) ? Number(c) : -1;
      if (start < 0 || stream) {
        throw invalidField('querystring', 'cursor', stream ? 'pages the JSON answer; the rbd-diff stream is whole'
          : 'is not valid: pass nextCursor from a previous page');
      }
    }
    const content = await openContent(app.ceph.transfers, spec, image, snapshot);
    let streaming = false;
    try {
      const { info } = content;
      const fromId = fromSnapshot === undefined ? undefined : await content.snapshotId(fromSnapshot);
      if (fromSnapshot !== undefined && fromId === undefined) {
        throw new ApiError('SNAPSHOT_NOT_FOUND', `Snapshot ${spec}/${image}@${fromSnapshot} does not exist.`, { field: 'fromSnapshot' });
      }
      if (fromId !== undefined && info.snapshot && fromId >= info.snapshot.id) {
        throw invalidField('querystring', 'fromSnapshot', `(${fromSnapshot}) must be older than snapshot (${snapshot})`);
      }
      if (stream) {
        const etag = info.snapshot ? `"${info.imageId}.${fromId ?? 0}-${info.snapshot.id}.diff"` : `W/"${info.imageId}.diff.${randomUUID()}"`;
        void reply.header('etag', etag).header('cache-control', 'no-cache').header('content-type', RBD_DIFF_TYPE)
          .header('content-disposition', `attachment; filename="${fileName(image, snapshot, 'diff')}"`);
        streaming = true;
        return sendStream(req, reply, content.rbdDiff(fromSnapshot ?? null, wholeObject, sinkOf(reply)));
      }
      streaming = true; // extents() releases the handle itself
      const page = await content.extents(fromSnapshot ?? null, start, limit, wholeObject);
      return {
        fromSnapshot: fromSnapshot ?? null, snapshot: snapshot ?? null, size: info.size, items: page.items,
        ...(page.next !== undefined ? { nextCursor: encodeCursor(String(page.next)) } : {}),
      };
    } finally {
      if (!streaming) content.release();
    }
  });
};
