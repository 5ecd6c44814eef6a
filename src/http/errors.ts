// The one place where errors become HTTP answers: application/problem+json (RFC 9457) with a stable
// `code`, and, when Ceph produced the error, its errno name. Unknown errors are logged, not leaked.
import { CephError } from '../ceph/errors.js';
import { ImageBusyError } from '../ceph/image-lock.js';

export const ERROR_CODES = {
  VALIDATION_FAILED: { status: 400, title: 'The request is not valid' },
  CONFIRMATION_REQUIRED: { status: 400, title: 'This operation destroys data and needs confirmation' },
  NOT_A_CLONE: { status: 400, title: 'The image is not a clone' },
  INVALID_ARGUMENT: { status: 400, title: 'Ceph rejected an argument' },
  FEATURE_NOT_CHANGEABLE: { status: 400, title: 'This feature change is not possible' },
  UNAUTHORIZED: { status: 401, title: 'Authentication required' },
  FORBIDDEN: { status: 403, title: 'The token does not allow this' },
  PERMISSION_DENIED: { status: 403, title: 'The Ceph key lacks a capability for this' },
  NOT_FOUND: { status: 404, title: 'No such resource' },
  POOL_NOT_FOUND: { status: 404, title: 'Pool not found' },
  IMAGE_NOT_FOUND: { status: 404, title: 'Image not found' },
  SNAPSHOT_NOT_FOUND: { status: 404, title: 'Snapshot not found' },
  NAMESPACE_NOT_FOUND: { status: 404, title: 'Namespace not found' },
  METADATA_KEY_NOT_FOUND: { status: 404, title: 'No such image metadata key' },
  TASK_NOT_FOUND: { status: 404, title: 'No such task' },
  TRASH_ENTRY_NOT_FOUND: { status: 404, title: 'No such trash entry' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  NOT_ACCEPTABLE: { status: 406, title: 'Not acceptable' },
  REQUEST_TIMEOUT: { status: 408, title: 'The request did not arrive in time' },
  URI_TOO_LONG: { status: 414, title: 'The URL is too long' },
  HEADERS_TOO_LARGE: { status: 431, title: 'The request headers are too large' },
  MALFORMED_REQUEST: { status: 400, title: 'The request is not valid HTTP' },
  POOL_EXISTS: { status: 409, title: 'A pool with this name exists' },
  POOL_NOT_EMPTY: { status: 409, title: 'The pool still holds images' },
  NAMESPACE_NOT_EMPTY: { status: 409, title: 'The namespace still holds images (or trashed images)' },
  IMAGE_EXISTS: { status: 409, title: 'An image with this name exists' },
  IMAGE_SPEC_CONFLICT: { status: 409, title: 'The image exists with a different specification' },
  IMAGE_IN_USE: { status: 409, title: 'The image is in use' },
  IMAGE_HAS_SNAPSHOTS: { status: 409, title: 'The image has snapshots' },
  SHRINK_NOT_ALLOWED: { status: 409, title: 'Shrinking discards data and needs allowShrink: true' },
  CONFLICT: { status: 409, title: 'Conflict with the current state' },
  POOL_BEING_DELETED: { status: 409, title: 'The pool is being deleted' },
  IMAGE_INCOMPLETE: { status: 409, title: 'A leftover of an interrupted create or delete occupies this name' },
  OPERATION_IN_PROGRESS: { status: 409, title: 'Another operation on this resource is still running' },
  TASK_FINISHED: { status: 409, title: 'The task has already ended' },
  TASK_NOT_CANCELLABLE: { status: 409, title: 'The task could not be stopped: it goes on to its end' },
  TRASH_ENTRY_GONE: { status: 409, title: 'Another request restored or removed the trash entry meanwhile' },
  TRASH_DEFERRED: { status: 409, title: 'The trash entry is deferred; removing it needs force=true' },
  SNAPSHOT_EXISTS: { status: 409, title: 'A snapshot with this name exists' },
  SNAPSHOT_PROTECTED: { status: 409, title: 'The snapshot is protected' },
  SNAPSHOT_HAS_CHILDREN: { status: 409, title: 'The snapshot has clones' },
  METADATA_LIMIT_EXCEEDED: { status: 409, title: "The image's metadata would exceed its limits (keys or bytes)" },
  METADATA_TOO_LARGE: { status: 409, title: 'A metadata value is larger than the API serves (written outside it)' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Request body too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  RANGE_NOT_SATISFIABLE: { status: 416, title: 'The requested range is not within the content' },
  RATE_LIMITED: { status: 429, title: 'Too many requests for this token' },
  INTERNAL_ERROR: { status: 500, title: 'Internal error' },
  INTERRUPTED: { status: 500, title: 'The task was interrupted: its runner stopped before it finished' },
  CEPH_UNAVAILABLE: { status: 503, title: 'The Ceph cluster is unavailable' },
  CEPH_BUSY: { status: 503, title: 'Too many Ceph operations in flight' },
  SHUTTING_DOWN: { status: 503, title: 'The service is shutting down' },
  CEPH_TIMEOUT: { status: 504, title: 'The Ceph cluster did not answer in time' },
  USAGE_TIMEOUT: { status: 504, title: 'Computing the disk usage took longer than allowed' },
  STORAGE_FULL: { status: 507, title: 'The cluster or pool is full' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class ApiError extends Error {
  readonly status: number;
  readonly title: string;
  constructor(readonly code: ErrorCode, readonly detail: string, readonly extra: Record<string, unknown> = {},
    readonly ceph?: CephError) {
    super(detail);
    this.name = 'ApiError';
    this.status = ERROR_CODES[code].status;
    this.title = ERROR_CODES[code].title;
  }
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  errno?: string;
  instance?: string;
  requestId?: string;
  [key: string]: unknown;
}

export function problemType(code: ErrorCode): string {
  return `urn:rbd-rest-api:problem:${code.toLowerCase().replace(/_/g, '-')}`;
}

export interface Mapped {
  problem: Problem;
  headers: Record<string, string>;
  /** true when the cause must be logged at error level (a 5xx we did not foresee) */
  unexpected: boolean;
}

/** The mapping errno → API code. `op` tells pool errors from image errors. */
export function fromCephError(e: CephError): ApiError {
  const onImage = e.op.startsWith('rbd_') && e.op !== 'rbd_pool_init';
  const onPool = e.op === 'rados_ioctx_create' || e.op === 'rados_pool_lookup' || e.op.startsWith('mon_command(osd pool')
    || e.op === 'osd pool create';
  if (e.kind === 'busy') return new ApiError('CEPH_BUSY', 'Too many Ceph operations are in flight; retry shortly.', {}, e);
  if (e.kind === 'closed') return new ApiError('CEPH_UNAVAILABLE', 'The service is not connected to the Ceph cluster.', {}, e);
  if (e.op === 'pool_deletion_marker' && e.code === 'EBUSY') {
    return new ApiError('POOL_BEING_DELETED', `Another request is deleting pool ${e.target?.split(':')[0] ?? ''}; retry once it has finished.`, {}, e);
  }
  if (e.op === 'pool_deleted_while_creating') {
    return new ApiError('CONFLICT', `Pool ${e.target ?? ''} was deleted by another request while it was being created; retry.`, {}, e);
  }
  switch (e.code) {
    case 'ENOENT':
      if (e.op === 'rbd_trash_get' || e.op === 'rbd_trash_restore' || e.op === 'rbd_trash_remove_with_progress') return new ApiError('TRASH_ENTRY_NOT_FOUND', `Trash entry ${e.target ?? ''} does not exist.`, {}, e);
      if (e.op.startsWith('rbd_snap_')) return new ApiError('SNAPSHOT_NOT_FOUND', `Snapshot ${e.target ?? ''} does not exist.`, {}, e);
      if (e.op === 'rbd_namespace_exists') return new ApiError('NAMESPACE_NOT_FOUND', `Namespace ${e.target ?? ''} does not exist.`, {}, e);
      if (onPool) return new ApiError('POOL_NOT_FOUND', `Pool ${e.target ?? ''} does not exist.`.replace('  ', ' '), {}, e);
      if (onImage) return new ApiError('IMAGE_NOT_FOUND', `Image ${e.target ?? ''} does not exist.`, {}, e);
      return new ApiError('NOT_FOUND', e.message, {}, e);
    case 'EEXIST':
      if (e.op.startsWith('rbd_snap_')) return new ApiError('SNAPSHOT_EXISTS', `Snapshot ${e.target ?? ''} already exists.`, {}, e);
      if (onImage) return new ApiError('IMAGE_EXISTS', `Image ${e.target ?? ''} already exists.`, {}, e);
      if (onPool) return new ApiError('POOL_EXISTS', `Pool ${e.target ?? ''} already exists.`, {}, e);
      return new ApiError('CONFLICT', e.message, {}, e);
    case 'ESTALE':
      // the image was removed and made again (or is being made) under this name meanwhile: retryable
      return new ApiError('CONFLICT', `${e.target ?? 'The image'} changed while this request ran (another operation on the same name); retry.`, {}, e);
    case 'EBUSY':
      return new ApiError(onImage ? 'IMAGE_IN_USE' : 'CONFLICT', `${e.target ?? 'The resource'} is in use.`, {}, e);
    case 'ENOTEMPTY':
      return new ApiError(onImage ? 'IMAGE_HAS_SNAPSHOTS' : 'POOL_NOT_EMPTY', `${e.target ?? 'The resource'} is not empty.`, {}, e);
    case 'ENAMETOOLONG':
      // no image can have a name that long (lookups of names over ~2 KB): there is none
      if (onImage && !e.op.startsWith('rbd_create')) return new ApiError('IMAGE_NOT_FOUND', `No image has a name that long (${e.op}).`, {}, e);
      return new ApiError('INVALID_ARGUMENT', `Ceph rejected the request: ${e.message}`, {}, e);
    case 'EINVAL':
    case 'EDOM':
    case 'ERANGE':
    case 'EFBIG':
      return new ApiError('INVALID_ARGUMENT', `Ceph rejected the request: ${e.message}${e.cephMeaning ? ` — ${e.cephMeaning}` : ''}`, {}, e);
    case 'EPERM':
    case 'EACCES':
      return new ApiError('PERMISSION_DENIED', `${e.message} — the service's cephx key lacks a capability this operation needs.`, {}, e);
    case 'ETIMEDOUT':
      return new ApiError('CEPH_TIMEOUT', `The Ceph cluster did not answer in time (${e.op}).`, {}, e);
    case 'ENOTCONN':
    case 'ESHUTDOWN':
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
      return new ApiError('CEPH_UNAVAILABLE', `The Ceph cluster is unavailable (${e.code}).`, {}, e);
    case 'ENOSPC':
    case 'EDQUOT':
      return new ApiError('STORAGE_FULL', `${e.message}${e.cephMeaning ? ` — ${e.cephMeaning}` : ''}`, {}, e);
    default:
      return new ApiError('INTERNAL_ERROR', 'Ceph returned an unexpected error; it has been logged.', {}, e);
  }
}

/** Fastify's own errors (validation, body size, content type, bad JSON). */
interface FastifyLikeError { statusCode?: number; code?: string; message: string; validation?: unknown }

export function toApiError(err: unknown): { api: ApiError; unexpected: boolean } {
  if (err instanceof ApiError) return { api: err, unexpected: err.status >= 500 && err.code === 'INTERNAL_ERROR' };
  if (err instanceof ImageBusyError) {
    // a task holds the image (a rollback, a flatten…): waiting longer will not help soon; say which
    if (err.task) {
      return { api: new ApiError('OPERATION_IN_PROGRESS', `${err.what} is being changed by task ${err.task}; retry once it has ended.`,
        { task: err.task }), unexpected: false };
    }
    return { api: new ApiError('CEPH_BUSY', `Other changes of ${err.what} are running or queued; retry shortly.`), unexpected: false };
  }
  if (err instanceof CephError) {
    const api = fromCephError(err);
    return { api, unexpected: api.code === 'INTERNAL_ERROR' };
  }
  const f = err as FastifyLikeError;
  if (f && typeof f === 'object' && typeof f.statusCode === 'number' && f.statusCode >= 400 && f.statusCode < 500) {
    switch (f.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE': return { api: new ApiError('PAYLOAD_TOO_LARGE', 'The request body is too large.'), unexpected: false };
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': return { api: new ApiError('UNSUPPORTED_MEDIA_TYPE', 'Send application/json.'), unexpected: false };
      default: return { api: new ApiError('VALIDATION_FAILED', safeMessage(f.message)), unexpected: false };
    }
  }
  return { api: new ApiError('INTERNAL_ERROR', 'An unexpected error occurred; it has been logged.'), unexpected: true };
}

function safeMessage(m: string): string {
  return m.length > 500 ? `${m.slice(0, 500)}…` : m;
}

export function toProblem(api: ApiError, instance?: string, requestId?: string): Problem {
  // extension members first: they never replace a standard member (RFC 9457) or the stable code
  const p: Problem = {
    ...api.extra,
    type: problemType(api.code),
    title: api.title,
    status: api.status,
    detail: api.detail,
    code: api.code,
  };
  if (api.ceph) p.errno = api.ceph.code;
  if (instance) p.instance = instance;
  if (requestId) p.requestId = requestId;
  return p;
}
