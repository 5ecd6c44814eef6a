// The one place where errors become HTTP answers: application/problem+json (RFC 9457) with a stable
// `code`, and, when Ceph produced the error, its errno name. Unknown errors are logged, not leaked.
import { FeatureUnavailableError } from '../ceph/cluster-info.js';
import { splitPoolSpec } from '../ceph/spec.js';
import {
  CephError, CloneSourceMissingError, CloneTooDeepError, CloneTooSmallError, CloneUnfinishedError, CreateNotConfirmedError, DataPoolMissingError,
  IdempotencyKeyInUseError, IdempotencyKeyReusedError, ImageBusyError, ImageHasSnapshotsError, ImageIncompleteError, ImageInUseError, ImageVanishedError,
  LockHeldByServiceError, LockOwnerChangedError, MirroringDisabledError, MirrorModeConflictError, MirrorNoPeersError, MirrorPeerNotFoundError,
  MirrorRoleError, MirrorTokenInvalidError, NamespaceQosUnsupportedError, OperationStillRunningError, PoolBeingDeletedError,
  PoolDeletedWhileCreatingError, PoolNotPermittedError, PreconditionFailedError, PurgeRefusedError, ScheduleInvalidError, ScheduleNotFoundError,
  SnapshotLimitReachedError, StrayImageNameError,
  type CephSubject,
} from '../ceph/errors.js';
import { sourceText } from '../ceph/provisioning/differences.js';
import { linkText } from '../ceph/clone-chain.js';
import { AlreadyMigratingError, ImportSourceError, ImportSourceRefused, MigrationStateError, NotMigratingError } from '../ceph/errors.js';
import { redactUrl } from '../ceph/migration.js';
import { imageInUse } from './replies.js';


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
  SCHEDULE_NOT_FOUND: { status: 404, title: 'No schedule is set here' },
  TRASH_ENTRY_NOT_FOUND: { status: 404, title: 'No such trash entry' },
  MIGRATION_NOT_FOUND: { status: 404, title: 'The image is not migrating' },
  MIRROR_PEER_NOT_FOUND: { status: 404, title: 'No such mirror peer' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  NOT_ACCEPTABLE: { status: 406, title: 'Not acceptable' },
  REQUEST_TIMEOUT: { status: 408, title: 'The request did not arrive in time' },
  URI_TOO_LONG: { status: 414, title: 'The URL is too long' },
  HEADERS_TOO_LARGE: { status: 431, title: 'The request headers are too large' },
  MALFORMED_REQUEST: { status: 400, title: 'The request is not valid HTTP' },
  BODY_LENGTH_MISMATCH: { status: 400, title: 'The body is shorter or longer than Content-Length' },
  DIGEST_MISMATCH: { status: 400, title: 'The body does not match its Content-Digest' },
  INVALID_STREAM: { status: 400, title: 'The body is not a valid stream of its media type' },
  UPLOAD_ABORTED: { status: 400, title: 'The upload was cut short' },
  UPLOAD_STALLED: { status: 408, title: 'The upload sent nothing for too long' },
  LENGTH_REQUIRED: { status: 411, title: 'Content-Length is required' },
  POOL_EXISTS: { status: 409, title: 'A pool with this name exists' },
  POOL_NOT_EMPTY: { status: 409, title: 'The pool still holds images' },
  NAMESPACE_NOT_EMPTY: { status: 409, title: 'The namespace still holds images (or trashed images)' },
  NAMESPACE_HAS_FOREIGN_CLONES: { status: 409, title: 'Clones in other namespaces or pools depend on snapshots in this namespace' },
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
  MIGRATION_IN_PROGRESS: { status: 409, title: 'The image is already migrating' },
  MIGRATION_STATE_CONFLICT: { status: 409, title: 'The migration is not in the state this needs' },
  TASK_NOT_CANCELLABLE: { status: 409, title: 'The task could not be stopped: it goes on to its end' },
  TRASH_ENTRY_GONE: { status: 409, title: 'Another request restored or removed the trash entry meanwhile' },
  TRASH_DEFERRED: { status: 409, title: 'The trash entry is deferred; removing it needs force=true' },
  SNAPSHOT_EXISTS: { status: 409, title: 'A snapshot with this name exists' },
  SNAPSHOT_LIMIT_REACHED: { status: 409, title: 'The image has as many snapshots as its snapshot limit allows' },
  CLONE_TOO_DEEP: { status: 409, title: 'The clone would sit deeper than the service\'s hard clone-depth limit' },
  SNAPSHOT_PROTECTED: { status: 409, title: 'The snapshot is protected' },
  SNAPSHOT_HAS_CHILDREN: { status: 409, title: 'The snapshot has clones' },
  LOCK_HELD_BY_SERVICE: { status: 409, title: "The lock is held by this service's own client: it never fences itself" },
  LOCK_OWNER_CHANGED: { status: 409, title: 'Another client took the lock meanwhile' },
  MIRRORING_DISABLED: { status: 409, title: 'Mirroring is not enabled here (image, pool or namespace)' },
  MIRROR_IMAGE_PRIMARY: { status: 409, title: 'The image is already primary on this site' },
  MIRROR_IMAGE_NOT_PRIMARY: { status: 409, title: 'The image is not primary on this site' },
  MIRROR_PEER_PRIMARY: { status: 409, title: 'The peer site still has the primary image (demote it there, or force)' },
  MIRROR_MODE_CONFLICT: { status: 409, title: 'The mirroring mode does not allow this' },
  MIRROR_NO_PEERS: { status: 409, title: 'The pool has no mirror peer' },
  METADATA_LIMIT_EXCEEDED: { status: 409, title: "The image's metadata would exceed its limits (keys or bytes)" },
  METADATA_TOO_LARGE: { status: 409, title: 'A metadata value is larger than the API serves (written outside it)' },
  IDEMPOTENCY_KEY_IN_USE: { status: 409, title: 'A request with this Idempotency-Key is still being processed' },
  PRECONDITION_FAILED: { status: 412, title: 'The resource changed: its ETag no longer matches (If-Match / If-None-Match)' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, title: 'This Idempotency-Key was used with another request' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Request body too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  RANGE_NOT_SATISFIABLE: { status: 416, title: 'The requested range is not within the content' },
  RATE_LIMITED: { status: 429, title: 'Too many requests for this token' },
  INTERNAL_ERROR: { status: 500, title: 'Internal error' },
  INTERRUPTED: { status: 500, title: 'The task was interrupted: its runner stopped before it finished' },
  NAMESPACE_QOS_NOT_SUPPORTED: { status: 501, title: 'librbd has no per-namespace configuration: set QoS on the pool or on each image' },
  FEATURE_NOT_AVAILABLE: { status: 501, title: "This service's Ceph client libraries lack what this needs (GET /api/v1/cluster lists the features)" },
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

/** Subjects whose EEXIST, EBUSY, ENOTEMPTY and ENAMETOOLONG are about an image (what librbd works on). */
const ON_IMAGE: ReadonlySet<CephSubject> = new Set<CephSubject>(['image', 'newImage', 'snapshot', 'trashEntry', 'metadataKey', 'namespace']);

/** ENOENT: which code, and what the detail calls the missing thing. */
const MISSING: Partial<Record<CephSubject, [ErrorCode, string]>> = {
  trashEntry: ['TRASH_ENTRY_NOT_FOUND', 'Trash entry'],
  snapshot: ['SNAPSHOT_NOT_FOUND', 'Snapshot'],
  namespace: ['NAMESPACE_NOT_FOUND', 'Namespace'],
  pool: ['POOL_NOT_FOUND', 'Pool'],
  image: ['IMAGE_NOT_FOUND', 'Image'],
  newImage: ['IMAGE_NOT_FOUND', 'Image'],
  metadataKey: ['IMAGE_NOT_FOUND', 'Image'], // the metadata routes answer METADATA_KEY_NOT_FOUND themselves, naming the key
};

/** The mapping errno → API code, by what failed (`e.subject`) and by class; `op` only names the call in details. */
export function fromCephError(e: CephError): ApiError {
  const onImage = ON_IMAGE.has(e.subject);
  if (e.kind === 'busy') return new ApiError('CEPH_BUSY', 'Too many Ceph operations are in flight; retry shortly.', {}, e);
  if (e.kind === 'closed') return new ApiError('CEPH_UNAVAILABLE', 'The service is not connected to the Ceph cluster.', {}, e);
  if (e instanceof PoolBeingDeletedError) {
    return new ApiError('POOL_BEING_DELETED', `Another request is deleting pool ${e.pool}; retry once it has finished.`, {}, e);
  }
  if (e instanceof PoolDeletedWhileCreatingError) {
    return new ApiError('CONFLICT', `Pool ${e.target ?? ''} was deleted by another request while it was being created; retry.`, {}, e);
  }
  switch (e.code) {
    case 'ENOENT': {
      const missing = MISSING[e.subject];
      if (!missing) return new ApiError('NOT_FOUND', e.message, {}, e);
      const [code, what] = missing;
      const detail = `${what} ${e.target ?? ''} does not exist.`;
      return new ApiError(code, e.subject === 'pool' ? detail.replace('  ', ' ') : detail, {}, e);
    }
    case 'EEXIST':
      if (e.subject === 'snapshot') return new ApiError('SNAPSHOT_EXISTS', `Snapshot ${e.target ?? ''} already exists.`, {}, e);
      if (onImage) return new ApiError('IMAGE_EXISTS', `Image ${e.target ?? ''} already exists.`, {}, e);
      if (e.subject === 'pool') return new ApiError('POOL_EXISTS', `Pool ${e.target ?? ''} already exists.`, {}, e);
      return new ApiError('CONFLICT', e.message, {}, e);
    case 'ESTALE':
      // the image was removed and made again (or is being made) under this name meanwhile: retryable
      return new ApiError('CONFLICT', `${e.target ?? 'The image'} changed while this request ran (another operation on the same name); retry.`, {}, e);
    case 'EBUSY':
      return new ApiError(onImage ? 'IMAGE_IN_USE' : 'CONFLICT', `${e.target ?? 'The resource'} is in use.`, {}, e);
    case 'EMLINK':
      // librbd neither moves to the trash nor removes an image that is a member of a group
      return new ApiError('CONFLICT', `${e.target ?? 'The image'} is a member of an RBD group; remove it from the group first (rbd group image remove).`, {}, e);
    case 'ENOTEMPTY':
      return new ApiError(onImage ? 'IMAGE_HAS_SNAPSHOTS' : 'POOL_NOT_EMPTY', `${e.target ?? 'The resource'} is not empty.`, {}, e);
    case 'ENAMETOOLONG':
      // no image can have a name that long (lookups of names over ~2 KB): there is none
      if (onImage && e.subject !== 'newImage') return new ApiError('IMAGE_NOT_FOUND', `No image has a name that long (${e.op}).`, {}, e);
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

/** The domain errors of the Ceph layer's protocols (src/ceph/errors.ts), by class; undefined for any other error. */
export function fromDomainError(err: unknown): ApiError | undefined {
  if (err instanceof OperationStillRunningError) {
    return new ApiError('OPERATION_IN_PROGRESS', `An earlier request on ${err.spec}/${err.image} timed out (504) at ${err.since}, but its Ceph `
      + 'operation is still running; retry once it has ended.', { since: err.since });
  }
  if (err instanceof ImageIncompleteError) return imageIncomplete(err);
  if (err instanceof StrayImageNameError) {
    return new ApiError('IMAGE_NOT_FOUND', `Image ${err.spec}/${err.image} does not exist (a stray id object of an interrupted rename or restore names it).`);
  }
  if (err instanceof CreateNotConfirmedError) {
    const { spec, image } = err;
    if (err.verdict === 'deleting') {
      return new ApiError('POOL_BEING_DELETED', `Pool ${spec.split('/')[0]} is being deleted; ${spec}/${image} was `
        + `${err.madeHere ? 'not kept' : 'not confirmed'}. Retry once the delete has finished.`);
    }
    return new ApiError('CONFLICT', `${spec}/${image} (or its pool) was removed by another request while it was being created; retry.`);
  }
  if (err instanceof ImageVanishedError) {
    return new ApiError('CONFLICT', `${err.spec}/${err.image} was removed by another request right after this one made or found it; retry.`, {}, err.cause);
  }
  if (err instanceof PoolNotPermittedError) {
    const { pool, namespace } = err;
    const where = namespace ? `namespace "${namespace}" of pool "${pool}"` : `pool "${pool}"`;
    return new ApiError('FORBIDDEN', err.role === 'dataPool' ? `This token may not use pool "${pool}" (dataPool).`
      : err.role === 'migration' ? `This token may not use ${where}: the other end of the migration (a migration needs the scope of both ends).`
        : `This token may not use ${where} (the clone source).`);
  }
  if (err instanceof DataPoolMissingError) return invalidField('body', 'dataPool', `pool "${err.dataPool}" does not exist`);
  if (err instanceof CloneSourceMissingError) return cloneSourceMissing(err);
  if (err instanceof PurgeRefusedError) {
    if (err.foreign.length > 0) {
      return new ApiError('NAMESPACE_HAS_FOREIGN_CLONES', `Namespace ${err.spec} was not touched: ${err.message}.`,
        { clones: err.foreign.slice(0, 100), cloneCount: err.foreign.length });
    }
    return new ApiError('IMAGE_IN_USE', `Namespace ${err.spec} was not touched: ${err.message}. Unmap or close them first.`,
      { images: err.inUse.slice(0, 100) });
  }
  if (err instanceof CloneTooDeepError) {
    const chain = err.chain.map(linkText);
    return new ApiError('CLONE_TOO_DEEP', `A clone of ${chain[0] ?? 'this source'} would be ${err.depth} clones deep, more than the `
      + `service's hard limit (CLONE_DEPTH_HARD=${err.hard}); nothing was created. Flatten the source (POST …/flatten) or an image `
      + `of its chain first: ${chain.join(' ← ')}.`, { depth: err.depth, hardLimit: err.hard, chain });
  }
  if (err instanceof SnapshotLimitReachedError) {
    return new ApiError('SNAPSHOT_LIMIT_REACHED', `Image ${err.target} has reached its snapshot limit${err.limit !== null ? ` (${err.limit})` : ''}; `
      + 'delete a snapshot or raise the limit (PATCH the image with snapshotLimit).', { snapshotLimit: err.limit }, err.cause);
  }
  if (err instanceof CloneTooSmallError) {
    return invalidField('body', 'size', `${err.size} is smaller than the snapshot ${sourceText(err.source)} (${err.snapshotSize} bytes): a clone can only grow`);
  }
  if (err instanceof CloneUnfinishedError) {
    return new ApiError('OPERATION_IN_PROGRESS', `${err.spec}/${err.image} is the unfinished clone of an interrupted request, still `
      + 'held open by that request\'s process (or until the cluster notices that it died, ~30 s). Retry shortly.', { retryAfterSeconds: 30 }, err.cause);
  }
  if (err instanceof ImageInUseError) return imageInUse(err.spec, err.image, err.watchers, 'first', err.cause, err.lockOwners);
  if (err instanceof LockHeldByServiceError) {
    return new ApiError('LOCK_HELD_BY_SERVICE', `A lock of ${err.spec}/${err.image} is held by this service's own client `
      + `(${err.addresses.join(', ')}): one of its tasks or requests is using the image. Nothing was fenced or broken; `
      + 'wait for it (GET /api/v1/tasks) or cancel its task.', { addresses: err.addresses });
  }
  if (err instanceof LockOwnerChangedError) {
    return new ApiError('LOCK_OWNER_CHANGED', `The exclusive lock of ${err.spec}/${err.image} is no longer owned by ${err.listed}: `
      + 'another client took it after it was fenced. GET the locks again and decide.', { listed: err.listed }, err.cause);
  }
  const migration = migrationError(err);
  if (migration) return migration;
  if (err instanceof NamespaceQosUnsupportedError) {
    return new ApiError('NAMESPACE_QOS_NOT_SUPPORTED', `librbd has no per-namespace configuration: it reads configuration overrides from `
      + `the pool's default namespace only, so images of ${err.pool}/${err.namespace} take the QoS of pool ${err.pool} (PUT `
      + `/api/v1/pools/${encodeURIComponent(err.pool)}/qos) unless they have their own (PUT …/images/{image}/qos). Nothing was changed.`,
    { pool: err.pool, namespace: err.namespace });
  }
  if (err instanceof ScheduleInvalidError) return invalidField('body', err.field, err.detail);
  if (err instanceof ScheduleNotFoundError) {
    return new ApiError('SCHEDULE_NOT_FOUND', `No ${err.kind} schedule is set on ${err.target}.`);
  }
  if (err instanceof PreconditionFailedError) {
    // the safe-retries plugin answers with the current representation as the token may see it; this is the fallback
    return new ApiError('PRECONDITION_FAILED', err.etag === undefined ? `${err.what} does not exist (If-Match).`
      : `${err.what} has changed: its ETag is now ${err.etag}. GET it again and repeat the change if it still applies.`,
    { currentETag: err.etag ?? null });
  }
  if (err instanceof IdempotencyKeyReusedError) {
    return new ApiError('IDEMPOTENCY_KEY_REUSED', `Idempotency-Key ${JSON.stringify(err.key)} was used with another request (method, URL or body `
      + 'differ); use a new key for a new request.', { idempotencyKey: err.key });
  }
  if (err instanceof IdempotencyKeyInUseError) {
    return new ApiError('IDEMPOTENCY_KEY_IN_USE', `The first request with Idempotency-Key ${JSON.stringify(err.key)} is still being processed; `
      + 'retry shortly to get its answer.', { idempotencyKey: err.key, retryAfterSeconds: 1 });
  }
  const mirror = fromMirrorError(err);
  if (mirror) return mirror;
  if (err instanceof ImageHasSnapshotsError) {
    return new ApiError('IMAGE_HAS_SNAPSHOTS', `Image ${err.spec}/${err.image} has ${err.snapshotCount ?? 'some'} snapshot(s); delete them first.`,
      { snapshotCount: err.snapshotCount }, err.cause);
  }
  return undefined;
}

/** The refusals of live migrations (src/ceph/migration-start.ts). */
function migrationError(err: unknown): ApiError | undefined {
  if (err instanceof NotMigratingError) {
    return new ApiError('MIGRATION_NOT_FOUND', `Image ${err.spec}/${err.image} is not migrating (no migration was started, or it was committed or aborted).`);
  }
  if (err instanceof AlreadyMigratingError) {
    return new ApiError('MIGRATION_IN_PROGRESS', `Image ${err.spec}/${err.image} is already migrating: commit or abort that migration first.`);
  }
  if (err instanceof MigrationStateError) {
    return new ApiError('MIGRATION_STATE_CONFLICT', `The migration of ${err.spec}/${err.image} is ${err.state}; this needs ${err.wanted.join(' or ')}.`,
      { state: err.state });
  }
  if (err instanceof ImportSourceRefused) return invalidField('body', 'source.url', `${redactUrl(err.url)}: ${err.reason}`);
  if (err instanceof ImportSourceError) {
    return invalidField('body', 'source.url', `librbd could not open it as the format given (${err.cause.code}: ${err.cause.message})`);
  }
  return undefined;
}

/** The refusals of src/ceph/mirroring. */
function fromMirrorError(err: unknown): ApiError | undefined {
  if (err instanceof MirroringDisabledError) {
    return new ApiError('MIRRORING_DISABLED', err.scope === 'pool'
      ? `Mirroring is disabled in ${err.target}: PUT its …/mirroring {"mode": "image"} first.`
      : `Image ${err.target} is not mirrored: PUT …/mirroring {"enabled": true} first.`, { scope: err.scope });
  }
  if (err instanceof MirrorRoleError) {
    if (err.peerPrimary) {
      return new ApiError('MIRROR_PEER_PRIMARY', `${err.target} is still primary on the peer site, or its demotion has not been `
        + 'replayed here yet: demote it there and wait until this site reports it, or promote with force=true (unplanned failover).');
    }
    return err.primary
      ? new ApiError('MIRROR_IMAGE_PRIMARY', `${err.target} is already primary on this site (${err.action} needs a non-primary image).`)
      : new ApiError('MIRROR_IMAGE_NOT_PRIMARY', `${err.target} is not primary on this site (${err.action} needs the primary image`
        + `${err.action === 'disable' ? ', or force: true' : ''}).`);
  }
  if (err instanceof MirrorModeConflictError) return new ApiError('MIRROR_MODE_CONFLICT', `${err.reason}.`, { poolMode: err.poolMode });
  if (err instanceof MirrorTokenInvalidError) return invalidField('body', 'token', `${err.reason}; nothing was imported`);
  if (err instanceof MirrorNoPeersError) {
    return new ApiError('MIRROR_NO_PEERS', `Pool ${err.pool} has no mirror peer: a mirror snapshot would replicate to nobody. `
      + 'Import a peer\'s bootstrap token first (POST …/mirroring/peers).');
  }
  if (err instanceof MirrorPeerNotFoundError) {
    return new ApiError('MIRROR_PEER_NOT_FOUND', `Pool ${err.pool} has no mirror peer ${err.uuid}.`, { uuid: err.uuid });
  }
  return undefined;
}

/** 409 saying which of the name's objects the pool guard found, and which is missing or disagrees. */
function imageIncomplete({ spec, image, listedId, idObject }: ImageIncompleteError): ApiError {
  const what = listedId === undefined
    ? `is not listed in the pool's directory, but a stray id object rbd_id.${image} (naming image id ${idObject}) remains`
    : idObject === undefined ? `is listed in the pool's directory (image id ${listedId}), but its id object rbd_id.${image} is missing`
      : idObject !== listedId ? `is listed in the pool's directory as image id ${listedId}, but its id object rbd_id.${image} names image id ${idObject}`
        : `is listed in the pool's directory and has its id object (image id ${listedId}), but the image header rbd_header.${listedId} is missing`;
  return new ApiError('IMAGE_INCOMPLETE', `${spec}/${image} ${what}: the leftover of an interrupted create, delete, rename or restore. `
    + 'DELETE it, or PUT it to remove the leftover and create the image.',
  { image, ...(listedId !== undefined ? { listedId } : {}), ...(idObject !== undefined ? { idObject } : {}) });
}

/** 404 naming the missing part of a clone source. */
function cloneSourceMissing({ source, missing, cause }: CloneSourceMissingError): ApiError {
  const code = ({ pool: 'POOL_NOT_FOUND', namespace: 'NAMESPACE_NOT_FOUND', image: 'IMAGE_NOT_FOUND', snapshot: 'SNAPSHOT_NOT_FOUND' } as const)[missing];
  const what = missing === 'pool' ? `pool ${splitPoolSpec(source.spec).pool}` : missing === 'namespace' ? `namespace ${source.spec}`
    : missing === 'image' ? `image ${source.spec}/${source.image}` : `snapshot ${sourceText(source)}`;
  return new ApiError(code, `The clone source ${what} does not exist.`, { source: { spec: source.spec, image: source.image, snapshot: source.snapshot } }, cause);
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
  if (err instanceof FeatureUnavailableError) {
    return { api: new ApiError('FEATURE_NOT_AVAILABLE', err.message, { feature: err.feature }), unexpected: false };
  }
  const domain = fromDomainError(err);
  if (domain) return { api: domain, unexpected: false };
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

// A 400 that names its field: the shape of every VALIDATION_FAILED (src/http/validation.ts makes them from zod's issues).
export interface FieldError {
  /** the request part: body, querystring, params, headers */
  in: string;
  /** the field within it, dot-separated (`source.snapshot`, `features.0`; other keys quoted: `[""]`); '' = the part itself */
  path: string;
  message: string;
}

/** "body.size: unknown unit …; body.name: is required" */
export function validationDetail(errors: readonly FieldError[]): string {
  const where = (e: FieldError): string => (e.path === '' ? e.in : e.path.startsWith('[') ? `${e.in}${e.path}` : `${e.in}.${e.path}`);
  return errors.map((e) => `${where(e)}: ${e.message}`).join('; ').slice(0, 2000);
}

/**
 * A 400 found after the schemas passed (a cursor this API did not give out, a dataPool that does not exist):
 * the same shape as a schema's, `errors` naming the field. `path` '' = the part itself (a body that is not
 * JSON, a URL that is not valid).
 */
export function invalidField(part: 'body' | 'querystring' | 'params' | 'headers' | 'url', path: string, reason: string,
  extra: Record<string, unknown> = {}): ApiError {
  const errors: FieldError[] = [{ in: part, path, message: reason }];
  return new ApiError('VALIDATION_FAILED', validationDetail(errors), { ...extra, errors });
}
