// Provisioning: the crash-safe protocols behind creating, reading and deleting an image by name — the HTTP
// routes parse, call one function here and map its typed outcome (a Provisioned union, RemoveOutcome, or a
// domain error of ../errors.ts).
//
// - Every write to a name holds its mutation lock (writes.ts, image-lock.ts), and a write still running past
//   its deadline marks the name (OperationStillRunningError).
// - A create is acknowledged only after the pool guard's check (pool-guard.ts: a pool delete that began
//   meanwhile sees the image or refuses it); an image made here is removed again when the guard says no.
// - A name holding the leftover of an interrupted create, delete, rename or restore (listed without its id
//   object or header, or an id object the directory does not list) is told from work in progress by letting
//   the state hold ~2 s (leftovers.ts); POST and GET name it (ImageIncompleteError), PUT and DELETE remove it.
// - A clone writes an intent record before rbd_clone3 and removes it once the clone is whole; a later request
//   for the name finds the record and finishes or redoes the clone (clone.ts).
import { imageKey, mutationLocks } from '../image-lock.js';
import type { CephClient } from '../client.js';
import { ImageHasSnapshotsError, ImageInUseError, isCephError, isMissingInScope, StrayImageNameError, TrashMoveRefused } from '../errors.js';
import type { ImageInfo } from '../image-info.js';
import { isOpenFailure } from '../open-image.js';
import type { MovedImage } from '../trash.js';
import type { TaskRecord } from '../tasks/types.js';
import { CloneProvisioner, type CloneRequest } from './clone.js';
import { createImage, putImage, type ProvisionOptions, type Provisioned } from './create.js';
import type { ImageRequest } from './differences.js';
import { incomplete, leftover, removeImage } from './leftovers.js';
import { NameWrites } from './writes.js';

export type { CloneRequest } from './clone.js';
export type { MayUse, Provisioned, ProvisionOptions } from './create.js';
export type { Difference, ImageRequest } from './differences.js';

export type RemoveOutcome =
  /** removed at once (a leftover, or a stray id object the directory does not list) */
  | { kind: 'removed' }
  /** moved to the trash: kept (`keepForSeconds` given), or its removal queued as `task` (`queueError` when queueing failed) */
  | { kind: 'trashed'; entry: MovedImage; task?: TaskRecord | undefined; queueError?: unknown };

export class Provisioning {
  /** the writes to names: PATCH holds a name through this too */
  readonly writes: NameWrites;
  readonly #clones: CloneProvisioner;
  /** the first PUT of each name in flight: PUTs of that name arriving meanwhile wait for it (it never rejects) */
  readonly #putsInFlight = new Map<string, Promise<void>>();

  constructor(private readonly ceph: CephClient) {
    this.writes = new NameWrites(ceph);
    this.#clones = new CloneProvisioner(ceph, this.writes);
  }

  /** POST of a plain image: always 'created' (or a domain error; EEXIST when the name is taken). */
  create(spec: string, name: string, want: ImageRequest, opts: ProvisionOptions): Promise<Provisioned & { kind: 'created' }> {
    return createImage(this.ceph, this.writes, spec, name, want, opts);
  }

  /** POST (`idempotent` false) or PUT of a clone. */
  clone(spec: string, name: string, want: CloneRequest, opts: ProvisionOptions & { idempotent: boolean }): Promise<Provisioned> {
    return this.#clones.provision(spec, name, want, opts);
  }

  /**
   * PUT of a plain image. A burst of PUTs of one name (a provisioner and its retries) must not queue 200 writes
   * deep behind the name's lock: the first PUT in flight does the work; the others wait for it, then find the
   * image whole and as asked and confirm it without the lock. Anything else — missing, half-made, different, a
   * write still running — takes the locked path, which gives the precise answer.
   */
  async put(spec: string, name: string, want: ImageRequest, opts: ProvisionOptions & { creatable: boolean }): Promise<Provisioned> {
    // a conditional PUT holds the name already (src/ceph/etag.ts): it must not wait for a PUT that waits for it
    if (mutationLocks(this.ceph).holds(imageKey(spec, name))) return putImage(this.ceph, this.writes, spec, name, want, opts);
    const key = `${spec}\0${name}`;
    const ahead = this.#putsInFlight.get(key);
    let finished: () => void = () => undefined;
    if (ahead) await ahead;
    else this.#putsInFlight.set(key, new Promise<void>((resolve) => { finished = resolve; }));
    try {
      return await putImage(this.ceph, this.writes, spec, name, want, opts);
    } finally {
      if (!ahead) {
        this.#putsInFlight.delete(key);
        finished();
      }
    }
  }

  /** GET: the image, or ImageIncompleteError (a leftover holds the name), or StrayImageNameError. */
  async get(spec: string, name: string): Promise<ImageInfo> {
    try {
      const info = await this.ceph.images.stat(spec, name);
      // librbd opens by the id object alone; a rename killed between its steps leaves one for the name the
      // directory does not list (PATCH's retry finishes it): the image is not there under this name
      const listedId = await this.ceph.pools.guard.listedId(spec, name);
      if (listedId !== info.id) {
        // listed, but as another image than the id object names: a leftover, as POST says (once the state has held)
        const left = listedId !== undefined ? await leftover(this.ceph, spec, name) : undefined;
        if (left) throw incomplete(spec, name, left);
        throw new StrayImageNameError(spec, name);
      }
      return info;
    } catch (e) {
      // listed but not openable: say so (IMAGE_INCOMPLETE, as POST does) instead of a miss that contradicts listings
      const left = isMissingInScope(e) && isOpenFailure(e) ? await leftover(this.ceph, spec, name) : undefined;
      if (left) throw incomplete(spec, name, left);
      throw e;
    }
  }

  /**
   * DELETE, holding the name: refused (ImageInUseError, ImageHasSnapshotsError) while open or with snapshots;
   * moved to the trash and its removal queued (kept there instead for `keepForSeconds`); a leftover, or a stray
   * id object, is removed at once.
   */
  remove(spec: string, name: string, keepForSeconds: number | undefined): Promise<RemoveOutcome> {
    return this.writes.run(spec, name, async (): Promise<RemoveOutcome> => {
      // a name rbd_directory does not list but an id object names (a rename killed between librbd's steps left
      // it: the image lives on under its other name): librbd would find the image through that object and
      // delete it. Only the stray object goes, once the state has held ~2 s (a live rename passes in ms)
      const stray = await this.ceph.pools.guard.listedId(spec, name) === undefined ? await leftover(this.ceph, spec, name) : undefined;
      if (stray && stray.listedId === undefined) {
        await this.ceph.pools.guard.removeStrayId(spec, name, stray);
        return { kind: 'removed' };
      }
      const trashed = await this.toTrash(spec, name, keepForSeconds);
      if (trashed) return trashed;
      // not there as an image: a leftover is removed (rbd_remove), anything else answers why
      try {
        await removeImage(this.ceph, spec, name);
      } catch (e) {
        if (!isCephError(e, 'EBUSY', 'ENOTEMPTY')) throw e;
        const info = await this.ceph.images.stat(spec, name).catch(() => undefined);
        if (e.code === 'EBUSY') throw new ImageInUseError(spec, name, info?.watchers ?? [], e);
        throw new ImageHasSnapshotsError(spec, name, info?.snapshotCount, e);
      }
      return { kind: 'removed' };
    });
  }

  /** Move the image to the trash and, unless kept, queue its removal; undefined when it is not there. */
  private async toTrash(spec: string, name: string, keepForSeconds: number | undefined): Promise<RemoveOutcome | undefined> {
    let entry: MovedImage & { task?: TaskRecord };
    try {
      entry = await this.ceph.trash.moveImage(spec, name, keepForSeconds ?? 0, { remove: keepForSeconds === undefined });
    } catch (e) {
      if (e instanceof TrashMoveRefused) {
        if (e.reason === 'in-use') throw new ImageInUseError(spec, name, e.watchers, undefined, e.lockOwners);
        throw new ImageHasSnapshotsError(spec, name, e.snapshotCount);
      }
      if (isMissingInScope(e)) return undefined;
      throw e;
    }
    if (keepForSeconds !== undefined) return { kind: 'trashed', entry };
    // recorded before the move; otherwise (a record that failed, a finished interrupted move) queued now
    if (entry.task) return { kind: 'trashed', entry, task: entry.task };
    try {
      return { kind: 'trashed', entry, task: await this.ceph.trash.queueRemove(spec, entry, 'image.remove', true) };
    } catch (e) {
      // the image is deleted (in the trash, name free); its space comes back with the next trash purge
      return { kind: 'trashed', entry, queueError: e };
    }
  }
}

const instances = new WeakMap<CephClient, Provisioning>();

/** The provisioning of `client` (one per client: the writes in flight and the PUTs being coalesced are per process). */
export function provisioning(client: CephClient): Provisioning {
  let p = instances.get(client);
  if (!p) {
    p = new Provisioning(client);
    instances.set(client, p);
  }
  return p;
}
