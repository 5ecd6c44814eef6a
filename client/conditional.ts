// Safe retries and concurrent edits from the client (the service's docs/concurrency.md): the headers as
// `params.header` values of openapi-fetch's methods, typed by the routes that take them.
//
//   const got = await api.GET('/api/v1/pools/{pool}/images/{image}', { params: { path } });
//   const r = await api.PATCH('/api/v1/pools/{pool}/images/{image}', { params: { path, header: ifMatch(etagOf(got.response)!) }, body });
//   if (isPreconditionFailed(r.error)) { … r.error.current is the image as it is now … }
//   await api.POST('/api/v1/pools/{pool}/images/{image}/flatten', { params: { path, header: idempotencyKey() } });

/** `If-Match`: change only if the resource still has this ETag (else 412 PRECONDITION_FAILED with the current state). */
export const ifMatch = (etag: string): { 'if-match': string } => ({ 'if-match': etag });

/** `If-None-Match: *` on a PUT: create only (412 when it exists). */
export const ifNoneMatch = (etag = '*'): { 'if-none-match': string } => ({ 'if-none-match': etag });

/**
 * `Idempotency-Key`: a retry with the same key and body gets the first answer (the same task). Keep the key
 * of a request and send it again on each retry of that request; a new request needs a new key.
 */
export const idempotencyKey = (key: string = globalThis.crypto.randomUUID()): { 'idempotency-key': string } =>
  ({ 'idempotency-key': `"${key.replace(/["\\]/g, '')}"` });

/** The ETag of an answer (GET, PUT, PATCH of an image, a snapshot, a metadata key, a namespace). */
export const etagOf = (response: Response): string | undefined => response.headers.get('etag') ?? undefined;

/** A 412 answer's problem: `currentETag` and `current` (the resource as it is now) say what changed. */
export function isPreconditionFailed(error: unknown): error is { code: 'PRECONDITION_FAILED'; currentETag: string | null; current?: unknown } {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'PRECONDITION_FAILED';
}
