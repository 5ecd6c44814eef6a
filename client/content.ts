// Streaming helpers for image content (GET|PUT …/images/{image}/content): a download as a ReadableStream with
// its size, ETag and range, and an upload from bytes, a Blob (a browser's File) or a stream — what openapi-fetch
// cannot type (binary bodies). Plain fetch, so they work in browsers as in Node; nothing is buffered here.
//
//   const d = await rbd.download({ pool: 'rbd', image: 'vol1' }, { snapshot: 'daily' });
//   await d.body.pipeTo(Writable.toWeb(createWriteStream('vol1.img')));          // Node
//   await rbd.upload({ pool: 'rbd', image: 'vol2' }, file);                       // browser: a File
//   await rbd.upload({ pool: 'rbd', image: 'vol3' }, Readable.toWeb(createReadStream(path)), { size, digest });
import { problemOf, RbdApiError } from './errors.js';
import type { components } from './schema.js';

export type ImportResult = components['schemas']['ImportResult'];

/** An image: its pool, namespace (omitted: the default one) and name. */
export interface ImageRef { pool: string; namespace?: string; image: string }

export interface DownloadOptions {
  /** a snapshot of the image instead of the image itself */
  snapshot?: string;
  /** bytes `start` to `end` (inclusive; omitted: to the end) → 206 */
  range?: { start: number; end?: number };
  /** with `range`: the ETag of an earlier answer; the range is served only while the content is unchanged, else the whole (200) */
  ifRange?: string;
  /** 'rbd-export-v2': rbd's export-format 2 with every snapshot (for `rbd import --export-format 2`) */
  format?: 'raw' | 'rbd-export-v2';
  /** ask for the digest of the bytes as a trailer (RFC 9530); Node's fetch does not expose trailers, curl and node:http do */
  wantDigest?: 'sha-256' | 'sha-512';
  signal?: AbortSignal;
}

export interface Download {
  status: 200 | 206;
  /** the bytes, as they arrive (cancel it to stop the download: the service stops reading) */
  body: ReadableStream<Uint8Array>;
  /** bytes in `body` (Content-Length; undefined for export-format 2, which is chunked) */
  length: number | undefined;
  /** the whole content's size (from Content-Range on a 206, else `length`) */
  size: number | undefined;
  /** strong for a snapshot (pass it as `ifRange` to resume), weak and unique per answer for the image */
  etag: string | undefined;
  /** the range served (206) */
  range: { start: number; end: number } | undefined;
}

export interface UploadOptions {
  /** the body's media type: a raw image (default), an `rbd export-diff` stream, or an `rbd export --export-format 2` stream */
  type?: 'raw' | 'rbd-diff' | 'rbd-export-v2';
  /** bytes in a stream body (sent as Content-Length, which the service requires); Blob and byte bodies know theirs */
  size?: number;
  /** a part of an existing image (resumable uploads): the body is bytes `start`… of an image of `imageSize` bytes */
  part?: { start: number; imageSize: number };
  /** `Content-Digest`, verified before the image becomes visible: a header value (see contentDigest) */
  digest?: string;
  signal?: AbortSignal;
}

export interface ContentContext {
  baseUrl: string;
  headers: Headers;
  fetch: (input: Request) => Promise<Response>;
}

const TYPES = { raw: 'application/octet-stream', 'rbd-diff': 'application/vnd.ceph.rbd-diff', 'rbd-export-v2': 'application/vnd.ceph.rbd-export-v2' } as const;

function contentUrl(base: string, ref: ImageRef): string {
  const e = encodeURIComponent;
  return `${base}/api/v1/pools/${e(ref.pool)}${ref.namespace ? `/namespaces/${e(ref.namespace)}` : ''}/images/${e(ref.image)}/content`;
}

const numberOr = (v: string | null): number | undefined => (v !== null && /^\d+$/.test(v) ? Number(v) : undefined);

/** Download an image's (or a snapshot's) content; an error answer is thrown as RbdApiError. */
export async function download(ctx: ContentContext, ref: ImageRef, o: DownloadOptions = {}): Promise<Download> {
  const query = new URLSearchParams();
  if (o.snapshot !== undefined) query.set('snapshot', o.snapshot);
  if (o.format === 'rbd-export-v2') query.set('format', 'rbd-export-v2');
  const headers = new Headers(ctx.headers);
  if (o.range) headers.set('range', `bytes=${o.range.start}-${o.range.end ?? ''}`);
  if (o.ifRange !== undefined) headers.set('if-range', o.ifRange);
  if (o.wantDigest) headers.set('want-content-digest', `${o.wantDigest}=1`);
  const q = query.toString();
  const res = await ctx.fetch(new Request(`${contentUrl(ctx.baseUrl, ref)}${q ? `?${q}` : ''}`, { headers, signal: o.signal ?? null }));
  if (res.status !== 200 && res.status !== 206) throw new RbdApiError(res.status, await problemOf(res), `GET ${ref.image} content`);
  if (!res.body) throw new RbdApiError(res.status, undefined, `GET ${ref.image} content: no body`);
  const length = numberOr(res.headers.get('content-length'));
  const cr = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers.get('content-range') ?? '');
  return {
    status: res.status,
    body: res.body,
    length,
    size: cr ? Number(cr[3]) : length,
    etag: res.headers.get('etag') ?? undefined,
    range: cr ? { start: Number(cr[1]), end: Number(cr[2]) } : undefined,
  };
}

type UploadBody = Blob | ArrayBuffer | ArrayBufferView | ReadableStream<Uint8Array>;

function lengthOf(body: UploadBody, size: number | undefined): number | undefined {
  if (typeof Blob !== 'undefined' && body instanceof Blob) return body.size;
  if (body instanceof ArrayBuffer) return body.byteLength;
  if (ArrayBuffer.isView(body)) return body.byteLength;
  return size;
}

/**
 * Upload content into an image: a new image (201) from a raw body or an export-format 2 stream, a part of an
 * existing one (`part`, 200), or a diff (`type: 'rbd-diff'`). An error answer is thrown as RbdApiError; the
 * service leaves nothing of a failed upload. Uploads are never retried here (a stream cannot be sent twice):
 * on a 503, send the body again.
 */
export async function upload(ctx: ContentContext, ref: ImageRef, body: UploadBody, o: UploadOptions = {}): Promise<ImportResult> {
  const length = lengthOf(body, o.size);
  if (length === undefined) throw new TypeError('upload: a stream body needs `size` (the service requires Content-Length)');
  const headers = new Headers(ctx.headers);
  headers.set('content-type', TYPES[o.type ?? 'raw']);
  headers.set('content-length', String(length));
  if (o.digest !== undefined) headers.set('content-digest', o.digest);
  if (o.part) headers.set('content-range', `bytes ${o.part.start}-${o.part.start + length - 1}/${o.part.imageSize}`);
  const stream = typeof ReadableStream !== 'undefined' && body instanceof ReadableStream;
  const init: RequestInit & { duplex?: 'half' } = { method: 'PUT', headers, body: body as BodyInit, signal: o.signal ?? null };
  if (stream) init.duplex = 'half'; // a streamed request body (fetch requires saying so)
  const res = await ctx.fetch(new Request(contentUrl(ctx.baseUrl, ref), init));
  if (res.status !== 200 && res.status !== 201) throw new RbdApiError(res.status, await problemOf(res), `PUT ${ref.image} content`);
  return (await res.json()) as ImportResult;
}

/**
 * The `Content-Digest` header value (RFC 9530) of bytes held in memory (Web Crypto: browsers and Node). For a
 * large file, hash it as a stream (node:crypto) and pass `sha-256=:<base64>:` yourself.
 */
export async function contentDigest(data: Blob | ArrayBuffer | ArrayBufferView, algorithm: 'sha-256' | 'sha-512' = 'sha-256'): Promise<string> {
  const bytes = (typeof Blob !== 'undefined' && data instanceof Blob ? await data.arrayBuffer()
    : data instanceof ArrayBuffer ? data : new Uint8Array((data as ArrayBufferView).buffer, (data as ArrayBufferView).byteOffset, (data as ArrayBufferView).byteLength)) as BufferSource;
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest(algorithm === 'sha-256' ? 'SHA-256' : 'SHA-512', bytes));
  let bin = '';
  for (const b of digest) bin += String.fromCharCode(b);
  return `${algorithm}=:${btoa(bin)}:`;
}
