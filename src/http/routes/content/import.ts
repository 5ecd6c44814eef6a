// PUT /api/v1/pools/{pool}[/namespaces/{namespace}]/images/{image}/content — import: the request body is the
// image's content, streamed into librbd as it arrives (never buffered whole; src/ceph/content/import.ts).
//   application/octet-stream             a new image of Content-Length bytes (201); with Content-Range, a part of
//                                        an existing image (200: resumable uploads)
//   application/vnd.ceph.rbd-diff        an `rbd export-diff` stream applied to the existing image (200)
//   application/vnd.ceph.rbd-export-v2   an `rbd export --export-format 2` stream: a new image with its snapshots (201)
// Checked before a byte is read: the media type (415), Content-Length (411, 413 beyond IMPORT_MAX_BYTES),
// Content-Digest (RFC 9530) and Content-Range syntax (400), the name (409 when a new image's name is taken).
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Readable } from 'node:stream';
import { isMissingInScope } from '../../../ceph/errors.js';
import { featureBits } from '../../../ceph/features.js';
import {
  ImportError, importPart, importRaw, type ImportFailureCode, type ImportResult, type ImportSource,
} from '../../../ceph/content/import.js';
import { importDiff } from '../../../ceph/content/import-diff.js';
import { importExportV2 } from '../../../ceph/content/import-v2.js';
import { ApiError, invalidField, validationDetail, type ErrorCode } from '../../errors.js';
import { parseContentDigest } from '../../digest.js';
import { validationErrors } from '../../validation.js';
import { imagePath, specOf } from '../../paths.js';
import { IMAGE_NAME_PATTERN, IMAGE_NAME_RULE, imageParams, problems } from '../../schemas/common.js';
import {
  binaryBody, DIFF_TYPE, IMPORT_TYPES, importHeaders, importQuery, importResultSchema, RAW_TYPE, type ImportType,
} from '../../schemas/content-import.js';
import { exemptFromRequestTimeout } from '../../plugins/request-deadline.js';

export interface ImportSettings {
  /** the largest body (and new image) an import accepts, bytes */
  maxBytes: number;
  /** a body that sends nothing for this long is dropped, ms */
  idleMs: number;
  /** librbd writes in flight per import */
  writesInFlight: number;
}

export const DEFAULT_IMPORT_SETTINGS: ImportSettings = { maxBytes: 2 ** 40, idleMs: 30_000, writesInFlight: 8 };

const FAILURES: Record<ImportFailureCode, ErrorCode> = {
  BODY_LENGTH_MISMATCH: 'BODY_LENGTH_MISMATCH',
  DIGEST_MISMATCH: 'DIGEST_MISMATCH',
  UPLOAD_ABORTED: 'UPLOAD_ABORTED',
  UPLOAD_STALLED: 'UPLOAD_STALLED',
  IMAGE_EXISTS: 'IMAGE_EXISTS',
  INVALID_STREAM: 'INVALID_STREAM',
  IMAGE_NOT_FOUND: 'IMAGE_NOT_FOUND',
  SNAPSHOT_NOT_FOUND: 'SNAPSHOT_NOT_FOUND',
  SNAPSHOT_EXISTS: 'SNAPSHOT_EXISTS',
  SIZE_MISMATCH: 'VALIDATION_FAILED',
};

const mediaType = (header: string | undefined): string => (header ?? '').split(';')[0]!.trim().toLowerCase();

/** `Content-Range: bytes a-b/size` (RFC 9110; b inclusive) of an upload of `length` bytes. */
export function parseContentRange(header: string, length: number): { start: number; end: number; size: number } {
  const m = /^\s*bytes\s+(\d{1,16})-(\d{1,16})\/(\d{1,16})\s*$/i.exec(header);
  if (!m) throw invalidField('headers', 'content-range', 'expected `bytes <first>-<last>/<size>`');
  const [start, end, size] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (end < start || end >= size) {
    throw invalidField('headers', 'content-range', `${start}-${end} is not a range inside ${size} bytes`);
  }
  if (end - start + 1 !== length) {
    throw invalidField('headers', 'content-range', `covers ${end - start + 1} bytes; Content-Length is ${length}`);
  }
  return { start, end, size };
}

/** The declared body length: 411 without one, 413 beyond the limit. */
function declaredLength(req: FastifyRequest, max: number): number {
  const header = req.headers['content-length'];
  if (header === undefined) {
    throw new ApiError('LENGTH_REQUIRED', 'An import needs Content-Length (the image size, or the length of the stream); chunked bodies are refused.');
  }
  const n = Number(header);
  if (!Number.isSafeInteger(n) || n < 0) throw invalidField('headers', 'content-length', 'is not a byte count');
  if (n > max) throw new ApiError('PAYLOAD_TOO_LARGE', `The body has ${n} bytes; imports are limited to ${max} bytes (IMPORT_MAX_BYTES).`);
  return n;
}

function asApiError(e: unknown): unknown {
  if (e instanceof ImportError) return new ApiError(FAILURES[e.code as ImportFailureCode] ?? 'VALIDATION_FAILED', e.detail);
  return e;
}

export function contentImportRoutes(settings: ImportSettings): FastifyPluginAsyncZod {
  return async (app) => {
    const { ceph } = app;
    // the body is handed on as the request stream: the route reads it itself (no buffering, no body limit here:
    // IMPORT_MAX_BYTES is checked against Content-Length before anything is read)
    app.addContentTypeParser([...IMPORT_TYPES], (_req, payload, done) => done(null, payload));

    app.put('/images/:image/content', {
      config: { transfer: true },
      schema: {
        tags: ['images'], summary: 'Import image content (raw, rbd diff or rbd export-format 2)', operationId: 'importImageContent',
        description: 'The body is streamed into the image as it arrives. **application/octet-stream**: a new image of '
          + '`Content-Length` bytes, made under a hidden name and visible only when complete and verified (201; 409 '
          + 'IMAGE_EXISTS when the name is taken); runs of zeros are not written. With `Content-Range: bytes a-b/size` the '
          + 'body is a part of the existing image instead (200; `size` must be the image\'s): resumable uploads. '
          + '**application/vnd.ceph.rbd-diff**: an `rbd export-diff` stream applied to the existing image, with rbd\'s '
          + 'checks (its from-snapshot must exist there; its end snapshot is created). **application/vnd.ceph.rbd-export-v2**: '
          + 'an `rbd export --export-format 2` stream, a new image with its snapshots. `Content-Digest: sha-256=:…:` '
          + '(RFC 9530) is verified before the image becomes visible (400 DIGEST_MISMATCH, nothing left). An upload '
          + 'cut short, longer or shorter than Content-Length, or idle for longer than the configured time leaves nothing.',
        params: imageParams,
        querystring: importQuery,
        headers: importHeaders,
        body: binaryBody,
        consumes: [...IMPORT_TYPES],
        response: { 200: importResultSchema, 201: importResultSchema, ...problems(400, 401, 403, 404, 408, 409, 411, 413, 415, 503, 504) },
      },
      // before the body is read: refuse what cannot be imported (415, 411, 413) without reading it
      onRequest: async (req) => {
        // a bad pool, namespace or image name is 400 whatever the body (as on every route)
        const params = (req.routeOptions.schema?.params ?? imageParams) as typeof imageParams;
        const parsed = params.safeParse(req.params);
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          throw invalidField('params', issue.path.join('.'), issue.message);
        }
        // and so is a query parameter this route does not take (the strict schema of plugins/strict-query.ts)
        const query = (req.routeOptions.schema?.querystring ?? importQuery) as typeof importQuery;
        const q = query.safeParse(req.query);
        if (!q.success) {
          const entries = q.error.issues.map((i) => ({ keyword: i.code, instancePath: `/${i.path.join('/')}`, message: i.message,
            params: i as unknown as Record<string, unknown> }));
          const errors = validationErrors('querystring', entries, Object.keys(importQuery.shape));
          throw new ApiError('VALIDATION_FAILED', validationDetail(errors), { errors });
        }
        const type = mediaType(req.headers['content-type']);
        if (!(IMPORT_TYPES as readonly string[]).includes(type)) {
          throw new ApiError('UNSUPPORTED_MEDIA_TYPE', `Send ${IMPORT_TYPES.join(', ')} (got ${type || 'no Content-Type'}).`);
        }
        declaredLength(req, settings.maxBytes);
        exemptFromRequestTimeout(req.raw);
      },
      // an answer given before the whole body arrived closes the connection (the rest is not read)
      onSend: async (req, reply, payload) => {
        if (!req.raw.complete) reply.header('connection', 'close');
        return payload;
      },
    }, async (req, reply) => {
      const spec = specOf(req.params);
      const { image } = req.params;
      const type = mediaType(req.headers['content-type']) as ImportType;
      const length = declaredLength(req, settings.maxBytes);
      const digestHeader = req.headers['content-digest'];
      const digest = typeof digestHeader === 'string' ? parseContentDigest(digestHeader) : undefined;
      const rangeHeader = req.headers['content-range'];
      if (rangeHeader !== undefined && type !== RAW_TYPE) {
        throw invalidField('headers', 'content-range', `only a raw (${RAW_TYPE}) upload can be a part`);
      }
      const range = typeof rangeHeader === 'string' ? parseContentRange(rangeHeader, length) : undefined;
      const raw = req.body as Readable;
      const src: ImportSource = {
        // destroyOnReturn false: a failure stops reading but keeps the socket, so the answer can still be sent
        body: raw.iterator({ destroyOnReturn: false }),
        length,
        digest,
        idleMs: settings.idleMs,
        abort: (reason) => raw.destroy(reason),
      };
      const limits = { writesInFlight: settings.writesInFlight };
      const gone = new AbortController();
      const onClose = (): void => { if (!req.raw.complete) gone.abort(new Error('the client went away')); };
      req.raw.once('close', onClose);
      req.auditContent = { declared: length, ...(digest ? { digest: `${digest.algorithm}=:${digest.value.toString('base64')}:` } : {}) };
      try {
        let result: ImportResult & { size: number };
        let status: 200 | 201 = 200;
        const newName = (): void => {
          if (!IMAGE_NAME_PATTERN.test(image)) throw invalidField('params', 'image', IMAGE_NAME_RULE);
        };
        if (type === RAW_TYPE && range) {
          const part = await importPart(ceph, spec, image, range.start, range.size, src, limits, gone.signal);
          result = { ...part, size: part.imageSize, range: { start: range.start, end: range.end } };
        } else if (type === RAW_TYPE) {
          newName();
          await refuseTaken(spec, image);
          const { features, objectSize } = req.query;
          result = {
            ...await importRaw(ceph.tasks, spec, image, src, limits, {
              features: features !== undefined ? featureBits(features.split(',').map((f) => f.trim())) : undefined,
              order: objectSize !== undefined ? Math.log2(objectSize) : undefined,
            }),
            size: length,
          };
          status = 201;
        } else if (type === DIFF_TYPE) {
          result = await importDiff(ceph, spec, image, src, limits, gone.signal);
        } else {
          newName();
          await refuseTaken(spec, image);
          result = await importExportV2(ceph.tasks, spec, image, src, limits);
          status = 201;
        }
        req.auditContent = { ...req.auditContent, bytes: result.bytes, written: result.written };
        const { pool, namespace } = req.params as { pool: string; namespace?: string };
        const body = { pool, ...(namespace ? { namespace } : {}), name: image, ...result };
        if (status === 201) reply.header('location', imagePath(spec, image));
        return reply.code(status).send(importResultSchema.parse(body));
      } catch (e) {
        throw asApiError(e);
      } finally {
        req.raw.off('close', onClose);
      }
    });

    /** 409 before reading a byte when the new image's name is taken (404 for a missing pool or namespace). */
    async function refuseTaken(spec: string, image: string): Promise<void> {
      const taken = await ceph.images.stat(spec, image).then(() => true, (e: unknown) => {
        if (isMissingInScope(e)) return false;
        throw e;
      });
      if (taken) throw new ApiError('IMAGE_EXISTS', `Image ${spec}/${image} already exists.`, { location: imagePath(spec, image) });
    }
  };
}

