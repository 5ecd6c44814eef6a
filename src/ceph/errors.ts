// The one error type of the Ceph layer. Every negative return code from librados/librbd becomes a
// CephError carrying the operation, the errno number and name, and Ceph's meaning of it.
import { errnoInfo, E } from '../native/errno.js';
import type { ChainLink } from './clone-chain.js';
import type { ChildInfo, CloneSource } from './clones.js';
import type { Watcher } from './image-info.js';
import { METADATA_MAX_BYTES, METADATA_MAX_KEYS } from './metadata.js';
import type { TaskRecord } from './tasks/types.js';

/**
 * What kind of failure this is:
 * - `ceph`: librados/librbd returned a negative errno
 * - `closed`: the connection was closed (or never opened) before the call
 * - `busy`: the process-wide limit of Ceph calls in flight and queued was reached
 */
export type CephErrorKind = 'ceph' | 'closed' | 'busy';

/**
 * What failed, set where the error is raised (what the failing call works on):
 * - `cluster`: the connection, configuration, monitor and manager commands, the OSD map, pool listings by id
 * - `pool`: a pool itself (opening its I/O context, looking it up, creating or deleting it, its statistics)
 * - `namespace`: an RBD namespace itself (its existence check, create, remove, listing)
 * - `image`: an image, or something librbd does to one (open, stat, resize, remove, clone, trash move, listings)
 * - `newImage`: the image an rbd_create4 is making (a name that is too long is an invalid argument, not a miss)
 * - `snapshot`: a snapshot of an image (every rbd_snap_* call, and a snapshot looked up by name)
 * - `trashEntry`: an entry of a pool's trash (get, restore, remove, purge)
 * - `metadataKey`: one metadata key of an image (get, remove)
 * - `task`: a durable task's record or its run
 * - `object`: a RADOS object of the service's own or of librbd's read raw (ids, headers, intents, markers, locks)
 */
export type CephSubject = 'cluster' | 'pool' | 'namespace' | 'image' | 'newImage' | 'snapshot' | 'trashEntry' | 'metadataKey'
  | 'task' | 'object';

export class CephError extends Error {
  override readonly name = 'CephError';
  /** C function (or logical operation) that failed, e.g. "rbd_create4" */
  readonly op: string;
  /** positive errno number */
  readonly errno: number;
  /** symbolic errno name, e.g. "EEXIST"; stable, safe to branch on */
  readonly code: string;
  /** what Ceph means by this errno, when it gives it a meaning of its own */
  readonly cephMeaning: string | undefined;
  /** what the operation was about, e.g. "pool/image" */
  readonly target: string | undefined;
  readonly kind: CephErrorKind;
  /** what failed (see CephSubject); the mapping to HTTP answers branches on it, never on `op` */
  readonly subject: CephSubject;

  constructor(subject: CephSubject, op: string, rc: number, target?: string, kind: CephErrorKind = 'ceph') {
    const info = errnoInfo(rc);
    super(`${op}: ${info.message} (${info.name})${target ? ` [${target}]` : ''}`);
    this.op = op;
    this.errno = info.errno;
    this.code = info.name;
    this.cephMeaning = info.cephMeaning;
    this.target = target;
    this.kind = kind;
    this.subject = subject;
  }

  is(...codes: string[]): boolean { return codes.includes(this.code); }

  static closed(op: string): CephError { return new CephError('cluster', op, E.ENOTCONN, 'connection closed', 'closed'); }
  static busy(op: string): CephError { return new CephError('cluster', op, E.EAGAIN, 'too many Ceph operations in flight', 'busy'); }
}

export function isCephError(e: unknown, ...codes: string[]): e is CephError {
  return e instanceof CephError && (codes.length === 0 || codes.includes(e.code));
}

const isScope = (s: CephSubject): boolean => s === 'pool' || s === 'namespace';

/** ENOENT about the pool or namespace itself (opening its I/O context failed, see CephConnection.withIoctx). */
export function isMissingScope(e: unknown): e is CephError {
  return isCephError(e, 'ENOENT') && isScope(e.subject);
}

/** ENOENT about something inside a pool and namespace that exist (an image, a snapshot, an object). */
export function isMissingInScope(e: unknown): e is CephError {
  return isCephError(e, 'ENOENT') && !isScope(e.subject);
}

/** Throw a CephError about `subject` when a librados/librbd return code is negative; pass it through otherwise. */
export function check<T extends number | bigint>(subject: CephSubject, op: string, rc: T, target?: string): T {
  if (rc < 0) throw new CephError(subject, op, Number(rc), target);
  return rc;
}

/** Another delete of `pool` holds its deletion marker (pool-guard.ts): EBUSY. */
export class PoolBeingDeletedError extends CephError {
  constructor(readonly pool: string) {
    super('pool', 'pool_deletion_marker', -E.EBUSY, `${pool}: another delete of this pool is in progress`);
  }
}

/** The pool being created was deleted by another request before its creation finished (pools.ts): ENOENT. */
export class PoolDeletedWhileCreatingError extends CephError {
  constructor(pool: string) {
    super('pool', 'pool_deleted_while_creating', -E.ENOENT, pool);
  }
}

/** No user snapshot of that name among the image's snapshots (rbd_snap_list's answer lacks it): ENOENT. */
export class SnapshotNotFoundError extends CephError {
  constructor(target: string) {
    super('snapshot', 'rbd_snap_list', -E.ENOENT, target);
  }
}

// Domain errors: what an operation refused or could not do, typed, for the HTTP layer to map by class.

/** The base of the domain errors: named after their class. */
abstract class DomainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Throw from a handler to fail the task with a stable code of your own. */
export class TaskFailure extends DomainError {
  constructor(readonly code: string, readonly detail: string, readonly errno?: string) {
    super(detail);
  }
}

/** A schedule definition refused (src/ceph/schedules/policy.ts): `field` is the body field at fault (e.g. keep.daily). */
export class ScheduleInvalidError extends DomainError {
  constructor(readonly field: string, readonly detail: string) { super(`${field} ${detail}`); }
}

/** No schedule of that kind at that level (snapshot schedule of a pool, namespace or image; trash purge schedule). */
export class ScheduleNotFoundError extends DomainError {
  constructor(readonly target: string, readonly kind: 'snapshot' | 'trash-purge') { super(`no ${kind} schedule on ${target}`); }
}

export class TaskNotFoundError extends DomainError {
  constructor(readonly id: string) { super(`task ${id} does not exist`); }
}

export class TaskFinishedError extends DomainError {
  /** `tooLate`: it ended (succeeded/failed) while this cancel waited for its runner */
  constructor(readonly task: TaskRecord, readonly tooLate = false) {
    super(`task ${task.id} ${tooLate ? 'ended' : 'already ended'} (${task.state})`);
  }
}

/** A cancel its runner did not confirm within cancelWaitMs: not accepted (the request stays in the record). */
export class TaskNotCancellableError extends DomainError {
  constructor(readonly task: TaskRecord, readonly waitedMs: number) {
    super(`task ${task.id} did not stop within ${waitedMs} ms`);
  }
}

/** A feature change that cannot be made; `reason` says why (for a 400 answer). */
export class FeatureChangeError extends DomainError {
  constructor(readonly reason: string, readonly feature?: string) {
    super(reason);
  }
}

/** A key could not be had before the deadline. `task`: the id of the task holding it, when one does. */
export class ImageBusyError extends DomainError {
  constructor(readonly what: string, readonly waitedMs: number, readonly task?: string) {
    super(task ? `${what} is being changed by task ${task}` : `other changes of ${what} are running (waited ${Math.round(waitedMs)} ms)`);
  }
}

/** A PUT that would take an image past METADATA_MAX_KEYS or METADATA_MAX_BYTES; nothing was changed. */
export class MetadataLimitError extends DomainError {
  constructor(readonly target: string, readonly limit: 'keys' | 'bytes', readonly keys: number, readonly bytes: number) {
    super(limit === 'keys'
      ? `${target} would hold ${keys} metadata keys, more than ${METADATA_MAX_KEYS}`
      : `${target}'s metadata would take at least ${bytes} bytes, more than ${METADATA_MAX_BYTES}`);
  }
}

/**
 * An entry too large for a page (its value alone exceeds the page's byte bound): only metadata written
 * outside the API (the rbd CLI) can be that large. `after` is the key the page started after.
 */
export class MetadataEntryTooLargeError extends DomainError {
  constructor(readonly target: string, readonly after: string, readonly bytes: number, readonly key?: string) {
    super(`${target} holds a metadata ${key === undefined ? `entry after key "${after}"` : `value of key "${key}"`} of ${bytes} bytes, `
      + `more than the API serves (${METADATA_MAX_BYTES})`);
  }
}

export class LockBusyError extends DomainError {
  constructor(readonly key: string, readonly waitedMs: number, readonly queued: number) {
    super(`another operation on the same resource is running (${queued} waiting, waited ${Math.round(waitedMs)} ms)`);
  }
}

/** Thrown when the walk did not finish within its deadline. */
export class UsageTimeoutError extends DomainError {
  constructor(readonly timeoutMs: number, readonly method: 'fast-diff' | 'scan') {
    super(`disk usage not computed within ${timeoutMs} ms (${method})`);
  }
}

/** Why an image was not moved to the trash. */
export class TrashMoveRefused extends DomainError {
  constructor(readonly reason: 'in-use' | 'has-snapshots', readonly target: string,
    readonly watchers: { address: string; id: number; cookie: number }[], readonly snapshotCount: number,
    readonly lockOwners: string[] = []) {
    super(reason === 'in-use' ? `${target} is open by ${watchers.length} client(s)` : `${target} has ${snapshotCount} snapshot(s)`);
  }
}

/** A trash entry that was there when a restore began and was restored or removed by another request meanwhile. */
export class TrashEntryGone extends DomainError {
  /** `restoredAs`: the name the image is listed under now, when it was restored (not removed) */
  constructor(readonly spec: string, readonly id: string, readonly restoredAs?: string) {
    super(`trash entry ${id} of ${spec} was ${restoredAs !== undefined ? `restored as ${restoredAs}` : 'restored or removed'} by another request meanwhile`);
  }
}

/** A snapshot that clones depend on (EBUSY, op snapshot_has_children), with the clones seen. */
export class SnapshotHasChildrenError extends CephError {
  constructor(target: string, readonly snapshot: string, readonly children: ChildInfo[]) {
    super('snapshot', 'snapshot_has_children', -E.EBUSY, target);
  }
}

// Provisioning (src/ceph/provisioning): what a create, PUT, clone, GET or DELETE of an image name refused.

/** A write to the name while an earlier one passed its deadline and still runs in librbd (since `since`). */
export class OperationStillRunningError extends DomainError {
  constructor(readonly spec: string, readonly image: string, readonly since: string) {
    super(`an earlier request on ${spec}/${image} timed out at ${since}; its Ceph operation is still running`);
  }
}

/**
 * The name holds the leftover of an interrupted create, delete, rename or restore (pool-guard.ts NameState
 * 'dangling'): `listedId` what rbd_directory lists, `idObject` what rbd_id.<name> names (either may be missing).
 */
export class ImageIncompleteError extends DomainError {
  constructor(readonly spec: string, readonly image: string, readonly listedId: string | undefined, readonly idObject: string | undefined) {
    super(`${spec}/${image} is the leftover of an interrupted operation`);
  }
}

/** Only a stray id object of an interrupted rename or restore names this image: it is not there under this name. */
export class StrayImageNameError extends DomainError {
  constructor(readonly spec: string, readonly image: string) {
    super(`${spec}/${image}: only a stray id object names it`);
  }
}

/**
 * The pool guard (pool-guard.ts) did not let a create be acknowledged: the pool is being deleted
 * (`deleting`) or the image or its pool was removed meanwhile (`gone`). `madeHere`: the request had made the
 * image (and removed it again).
 */
export class CreateNotConfirmedError extends DomainError {
  constructor(readonly spec: string, readonly image: string, readonly verdict: 'deleting' | 'gone', readonly madeHere: boolean) {
    super(`${spec}/${image}: ${verdict === 'deleting' ? 'its pool is being deleted' : 'removed while it was being created'}`);
  }
}

/** The image was made (or found) a moment ago and is gone now: another request removed it. Retryable. */
export class ImageVanishedError extends DomainError {
  constructor(readonly spec: string, readonly image: string, override readonly cause: CephError) {
    super(`${spec}/${image} was removed right after it was made or found`);
  }
}

/** A PUT of a name this API does not create (librbd would), and no image has it. */
export class ImageNameNotCreatableError extends DomainError {
  constructor(readonly spec: string, readonly image: string) {
    super(`${spec}/${image}: not a name this API creates`);
  }
}

/** The caller's policy (a token's pools) does not allow `pool` (or `namespace` of it) in this `role`. */
export class PoolNotPermittedError extends DomainError {
  constructor(readonly pool: string, readonly role: 'dataPool' | 'cloneSource' | 'migration', readonly namespace = '') {
    super(`pool ${pool}${namespace ? `/${namespace}` : ''} may not be used as the ${role}`);
  }
}

/** A create's dataPool does not exist. */
export class DataPoolMissingError extends DomainError {
  constructor(readonly dataPool: string) {
    super(`data pool ${dataPool} does not exist`);
  }
}

/** The clone source's pool, namespace, image or snapshot (`missing`) does not exist; `cause` is Ceph's answer. */
export class CloneSourceMissingError extends DomainError {
  constructor(readonly source: CloneSource, readonly missing: 'pool' | 'namespace' | 'image' | 'snapshot', override readonly cause: CephError) {
    super(`the clone source's ${missing} does not exist`);
  }
}

/** A clone's size smaller than its source snapshot's (a clone can only grow). */
export class CloneTooSmallError extends DomainError {
  constructor(readonly source: CloneSource, readonly size: number, readonly snapshotSize: number) {
    super(`size ${size} is smaller than the snapshot (${snapshotSize} bytes)`);
  }
}

/** The half-made clone of an interrupted request is still open (EBUSY): its intent record stays; retry later. */
export class CloneUnfinishedError extends DomainError {
  constructor(readonly spec: string, readonly image: string, override readonly cause: CephError) {
    super(`${spec}/${image} is the unfinished clone of an interrupted request, still open`);
  }
}

/** The image is open by clients (`watchers`), so it cannot be deleted. `cause`: librbd's EBUSY, when it said so. */
export class ImageInUseError extends DomainError {
  /** `lockOwners`: the addresses of the exclusive lock's owners, when known */
  constructor(readonly spec: string, readonly image: string, readonly watchers: Watcher[], override readonly cause?: CephError,
    readonly lockOwners: string[] = []) {
    super(`${spec}/${image} is open by ${watchers.length} client(s)`);
  }
}

/** The image has snapshots (`snapshotCount` when known), so it cannot be deleted. `cause`: librbd's ENOTEMPTY. */
export class ImageHasSnapshotsError extends DomainError {
  constructor(readonly spec: string, readonly image: string, readonly snapshotCount: number | undefined, override readonly cause?: CephError) {
    super(`${spec}/${image} has snapshots`);
  }
}

/** A lock of the image is held by one of this process's own librados clients: the service never fences itself. */
export class LockHeldByServiceError extends DomainError {
  constructor(readonly spec: string, readonly image: string, readonly addresses: string[]) {
    super(`${spec}/${image} is locked by this service's own client(s) ${addresses.join(', ')}`);
  }
}

/** rbd_lock_break answered -EBUSY: another client than the one listed owns the exclusive lock now. */
export class LockOwnerChangedError extends DomainError {
  constructor(readonly spec: string, readonly image: string, readonly listed: string, override readonly cause?: CephError) {
    super(`${spec}/${image}: the exclusive lock is no longer owned by ${listed}`);
  }
}

/** The image is not the source or destination of a migration (rbd_migration_status: EINVAL). */
export class NotMigratingError extends DomainError {
  constructor(readonly spec: string, readonly image: string) {
    super(`${spec}/${image} is not migrating`);
  }
}

/** The migration is in `state`, and the operation needs one of `wanted` (commit before execute, …). */
export class MigrationStateError extends DomainError {
  constructor(readonly spec: string, readonly image: string, readonly state: string, readonly wanted: readonly string[]) {
    super(`the migration of ${spec}/${image} is ${state}; this needs ${wanted.join(' or ')}`);
  }
}

/** The image is already the source or destination of a migration. */
export class AlreadyMigratingError extends DomainError {
  constructor(readonly spec: string, readonly image: string) {
    super(`${spec}/${image} is already migrating`);
  }
}

/** librbd could not open an import's source (`url`): unreachable, not found, or not of the format given. */
export class ImportSourceError extends DomainError {
  constructor(readonly url: string, override readonly cause: CephError) {
    super(`the import source could not be opened (${cause.code})`);
  }
}

/** The service's own look at an import's source (`url`) found it unusable for librbd (`reason`). */
export class ImportSourceRefused extends DomainError {
  constructor(readonly url: string, readonly reason: string) {
    super(`the import source ${reason}`);
  }
}

/** A clone would sit deeper than the hard limit (CLONE_DEPTH_HARD): `chain` is the source first, its oldest ancestor last. */
export class CloneTooDeepError extends DomainError {
  constructor(readonly depth: number, readonly hard: number, readonly chain: ChainLink[]) {
    super(`a clone would be ${depth} deep, more than the hard limit ${hard}`);
  }
}

/** The image has as many snapshots as its snapshot limit allows (librbd's EDQUOT on a snapshot create). */
export class SnapshotLimitReachedError extends DomainError {
  constructor(readonly target: string, readonly limit: number | null, override readonly cause?: CephError) {
    super(`${target} has reached its snapshot limit${limit !== null ? ` (${limit})` : ''}`);
  }
}

/** A clone outside a namespace being purged whose parent snapshot is inside it. */
export interface ForeignClone { pool: string; namespace: string; image: string; parent: string }

/**
 * A purge of a namespace refused before anything was removed: clones elsewhere depend on its snapshots
 * (`foreign`), or images of it are open by clients (`inUse`).
 */
export class PurgeRefusedError extends DomainError {
  constructor(readonly spec: string, readonly foreign: ForeignClone[], readonly inUse: { image: string; watchers: string[] }[]) {
    super(foreign.length > 0
      ? `${foreign.length} clone(s) outside ${spec} depend on its snapshots (${foreign.slice(0, 10).map((c) => `${c.namespace ? `${c.pool}/${c.namespace}` : c.pool}/${c.image} of ${c.parent}`).join(', ')}); `
        + 'flatten or delete them first; nothing was removed'
      : `${inUse.length} image(s) of ${spec} are open by clients (${inUse.slice(0, 10).map((i) => `${i.image}: ${i.watchers.join(' ')}`).join(', ')}); nothing was removed`);
  }
}

/** QoS (librbd configuration overrides) for an RBD namespace: librbd reads none per namespace (src/ceph/qos.ts). */
export class NamespaceQosUnsupportedError extends DomainError {
  constructor(readonly pool: string, readonly namespace: string) {
    super(`librbd has no per-namespace configuration: images of ${pool}/${namespace} take the pool's QoS`);
  }
}

/**
 * A conditional request's precondition (If-Match / If-None-Match) does not hold for the resource as it is now
 * (src/ceph/etag.ts, read under the image's mutation lock). `etag` is the current one (undefined: the resource
 * does not exist); `current` the resource as read (ImageInfo, SnapshotInfo, {key, value}, {pool, name}).
 */
export class PreconditionFailedError extends DomainError {
  constructor(readonly what: string, readonly etag: string | undefined, readonly current: unknown) {
    super(`${what}: precondition failed`);
  }
}

/** An Idempotency-Key was used before with another request (another body, URL or method): src/ceph/idempotency.ts. */
export class IdempotencyKeyReusedError extends DomainError {
  constructor(readonly key: string) {
    super(`Idempotency-Key ${key} was used with another request`);
  }
}

/** The first request with this Idempotency-Key is still being processed (the draft's 409). */
export class IdempotencyKeyInUseError extends DomainError {
  constructor(readonly key: string) {
    super(`the request with Idempotency-Key ${key} is still being processed`);
  }
}

// Mirroring (src/ceph/mirroring/): what a mirroring operation refused.

/** The image is not mirrored (or its pool / namespace has mirroring disabled, `scope` says which). */
export class MirroringDisabledError extends DomainError {
  constructor(readonly target: string, readonly scope: 'image' | 'pool') {
    super(scope === 'pool' ? `mirroring is disabled in ${target}` : `${target} is not mirrored`);
  }
}

/**
 * The image's mirroring role forbids this: `primary` true when it is already primary (promote, resync), false
 * when it is not primary (demote, mirror snapshot); `peerPrimary` when a promote without force found the image
 * still primary on the peer site (or its demotion not yet replayed here).
 */
export class MirrorRoleError extends DomainError {
  constructor(readonly target: string, readonly action: string, readonly primary: boolean, readonly peerPrimary = false) {
    super(peerPrimary ? `${target}: the peer site still has the primary image` : `${target} is ${primary ? 'already' : 'not'} primary`);
  }
}

/** The pool's mirror mode does not allow this image mode (pool mode mirrors journal images only). */
export class MirrorModeConflictError extends DomainError {
  constructor(readonly target: string, readonly poolMode: string, readonly reason: string) {
    super(reason);
  }
}

/** A bootstrap token that is not one (librbd could not decode it, or it names no reachable peer). */
export class MirrorTokenInvalidError extends DomainError {
  constructor(readonly reason: string, override readonly cause?: CephError) {
    super(reason);
  }
}

/** No mirror peer with this uuid in the pool. */
export class MirrorPeerNotFoundError extends DomainError {
  constructor(readonly pool: string, readonly uuid: string) {
    super(`pool ${pool} has no mirror peer ${uuid}`);
  }
}

/** The pool has no mirror peer: a mirror snapshot would go nowhere (librbd refuses it). */
export class MirrorNoPeersError extends DomainError {
  constructor(readonly pool: string) {
    super(`pool ${pool} has no mirror peer`);
  }
}
