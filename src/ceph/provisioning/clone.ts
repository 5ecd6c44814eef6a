// Making a clone (POST/PUT of an image with a `source`), crash-safe.
//
// Making a clone is several steps inside librbd (create the child, link it to its parent, register it with the
// parent). A process killed between them leaves a half-made image that looks like an ordinary one. So before
// rbd_clone3 an intent record names the clone's source (rbdapi_clone_intent.<name>, next to the image, see
// clones.ts); it is removed once the clone is whole. A request that finds a record of an earlier attempt checks
// the image: a whole clone of that source is kept (PUT answers 200); anything less is removed and the clone made
// again (201).
import type { CephClient } from '../client.js';
import { Clones, type CloneSource } from '../clones.js';
import { poolSpec, splitPoolSpec } from '../spec.js';
import {
  CephError, CloneSourceMissingError, CloneTooDeepError, CloneTooSmallError, CloneUnfinishedError, isCephError, isMissingScope, PoolNotPermittedError,
  type CephSubject,
} from '../errors.js';
import { featureBits } from '../features.js';
import { imageKey } from '../image-lock.js';
import type { ImageInfo } from '../image-info.js';
import { Snapshots } from '../snapshots.js';
import { FLATTEN_ACTION } from '../snapshot-tasks.js';
import { chainOf, depthOf, linkOfName, newChainCache } from '../clone-chain.js';
import type { MayUse, ProvisionOptions, Provisioned } from './create.js';
import { cloneDifferences, parentSpelling, sourceText, type ImageRequest } from './differences.js';
import { confirmCreated } from './leftovers.js';
import { singleFlight, type NameWrites } from './writes.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** an intent record younger than this may belong to a clone still being made by another instance */
const INTENT_SETTLE_MS = 3000;
/** an image created this long before an intent record was written is not that attempt's */
const CLOCK_SKEW_MS = 5000;

/** A clone's source as asked: pool and namespace default to the new image's (see cloneSourceSchema). */
export interface SourceRequest { pool?: string | undefined; namespace?: string | undefined; image: string; snapshot: string }

export type CloneRequest = Partial<ImageRequest> & { source: SourceRequest };

/** The source of a clone as a pool spec, defaults applied. */
export function resolveSource(targetSpec: string, source: SourceRequest): CloneSource {
  const target = splitPoolSpec(targetSpec);
  const pool = source.pool ?? target.pool;
  const namespace = source.namespace ?? (source.pool === undefined ? target.namespace : '');
  return { spec: poolSpec(pool, namespace), image: source.image, snapshot: source.snapshot };
}

/** Subjects whose ENAMETOOLONG means "no such image" (a lookup by a name no image can have). */
const LOOKED_UP: ReadonlySet<CephSubject> = new Set<CephSubject>(['image', 'snapshot', 'trashEntry', 'metadataKey', 'namespace']);

/** Which part of a clone source `e` says is missing; undefined when `e` says something else. */
function missingPart(e: CephError): CloneSourceMissingError['missing'] | undefined {
  if (e.kind !== 'ceph') return undefined;
  if (e.code === 'ENAMETOOLONG') return LOOKED_UP.has(e.subject) ? 'image' : undefined;
  if (e.code !== 'ENOENT') return undefined;
  switch (e.subject) {
    case 'pool': case 'namespace': case 'snapshot': return e.subject;
    case 'image': case 'newImage': case 'metadataKey': return 'image';
    default: return undefined;
  }
}

export class CloneProvisioner {
  readonly #clones: Clones;
  readonly #snapshots: Snapshots;
  /** clones of one name in flight in this process: later requests wait for the first instead of queueing */
  readonly #inFlight = new Map<string, Promise<boolean>>();

  constructor(private readonly ceph: CephClient, private readonly writes: NameWrites) {
    this.#clones = new Clones(ceph);
    this.#snapshots = new Snapshots(ceph);
  }

  /**
   * POST (`idempotent` false: an existing name is 'taken') and PUT (an existing clone of the same snapshot with
   * the same options is 'exists', otherwise 'conflict') of an image with a source.
   */
  async provision(spec: string, name: string, want: CloneRequest, opts: ProvisionOptions & { idempotent: boolean }): Promise<Provisioned> {
    const source = resolveSource(spec, want.source);
    const { pool, namespace } = splitPoolSpec(source.spec);
    if (!opts.mayUse(pool, namespace)) throw new PoolNotPermittedError(pool, 'cloneSource', namespace);
    // the snapshot's size is needed only to check and apply a size; otherwise a missing source shows up as
    // rbd_clone3's ENOENT, and is diagnosed then (one image open less on every clone)
    const snapSize = want.size !== undefined ? await this.sourceSize(source) : undefined;
    if (want.size !== undefined && snapSize !== undefined && want.size < snapSize) throw new CloneTooSmallError(source, want.size, snapSize);
    // the new name and the source image: a snapshot DELETE (which holds the source image's key) and this clone
    // never interleave — the clone finds no snapshot (404), or the DELETE finds the clone (409)
    let depth = 0; // of the new clone, when this request makes it
    const created = await singleFlight(this.#inFlight, `${spec}\0${name}`, () => this.writes.run(spec, name, async () => {
      const made = await this.make(spec, name, want, opts, source, snapSize, (d) => { depth = d; });
      if (made) await confirmCreated(this.ceph, spec, name, true);
      return made;
    }, [imageKey(source.spec, source.image)]).catch(async (e: unknown) => {
      // the source's pool is missing (its lock object could not be reached): say so as the clone source
      if (isMissingScope(e)) await this.sourceSize(source);
      throw e;
    }));
    if (!created && !opts.idempotent) return { kind: 'taken' };
    // deeper than the soft limit: the new clone is flattened in the background (as ceph-csi does)
    const flattenTask = created && depth > this.ceph.cloneDepth.soft ? await this.queueFlatten(spec, name) : undefined;
    if (created && opts.minimal) {
      // the size without opening the clone (an open of a clone opens its parent too): the one asked for, else
      // the snapshot's when it was read, else the clone header's (two reads)
      return { kind: 'created', size: want.size ?? snapSize ?? await this.ceph.images.sizeOfNew(spec, name), flattenTask };
    }
    // a clone made here a moment ago is described from its header (no open, which would open the parent too)
    if (created) {
      const info = await this.ceph.images.describeNew(spec, name, undefined, source);
      return { kind: 'created', size: info.size, info, flattenTask };
    }
    const info = await this.ceph.images.stat(spec, name);
    const differences = cloneDifferences(info, source, want);
    return differences.length > 0 ? { kind: 'conflict', info, differences } : { kind: 'exists', info };
  }

  /** Queue the image.flatten task of a clone just made; its task id. */
  private async queueFlatten(spec: string, name: string): Promise<string> {
    const { pool, namespace } = splitPoolSpec(spec);
    const imageId = await this.ceph.images.imageId(spec, name);
    return (await this.ceph.tasks.submit(FLATTEN_ACTION, { pool, namespace, image: name, ...(imageId ? { imageId } : {}) })).id;
  }

  /**
   * The depth a clone of `source` would have (the source's own depth + 1); CloneTooDeepError naming the chain
   * when that is beyond the hard limit. A source that cannot be found is left to rbd_clone3 (ENOENT, diagnosed then).
   * Links in pools or namespaces the caller may not use are not named.
   */
  private async depthOfCloneOf(source: CloneSource, mayUse: MayUse): Promise<number> {
    const link = await linkOfName(this.ceph, source.spec, source.image).catch(() => undefined);
    if (!link) return 1;
    const cache = newChainCache();
    const depth = 1 + await depthOf(this.ceph, link, cache);
    const { hard } = this.ceph.cloneDepth;
    if (depth > hard) {
      const chain = (await chainOf(this.ceph, link, cache))
        .map((l) => (mayUse(l.pool, l.namespace) ? l : { pool: '', namespace: '', imageId: '', hidden: true }));
      throw new CloneTooDeepError(depth, hard, chain);
    }
    return depth;
  }

  /** The source snapshot's size; CloneSourceMissingError naming what is missing (pool, namespace, image or snapshot). */
  private async sourceSize(source: CloneSource): Promise<number> {
    try {
      return (await this.#snapshots.find(source.spec, source.image, source.snapshot)).size;
    } catch (e) {
      const missing = e instanceof CephError ? missingPart(e) : undefined;
      if (missing) throw new CloneSourceMissingError(source, missing, e as CephError);
      throw e;
    }
  }

  /**
   * What an attempt recorded by `intent` left at `name`: nothing readable ('partial' too: rbd_remove cleans a
   * half-made image), a whole clone of its source, or an image made before the attempt started ('foreign':
   * never ours to remove).
   */
  private async leftBy(spec: string, name: string, intent: { source: CloneSource; startedAt: string }): Promise<'partial' | 'whole' | 'foreign'> {
    let info: ImageInfo;
    try {
      info = await this.ceph.images.stat(spec, name);
    } catch (e) {
      if (isCephError(e, 'ENOENT') && e.subject !== 'pool') return 'partial';
      throw e;
    }
    const started = Date.parse(intent.startedAt);
    if (Number.isFinite(started) && Date.parse(info.createdAt) < started - CLOCK_SKEW_MS) return 'foreign';
    if (!info.parent || parentSpelling(info.parent) !== sourceText(intent.source)) return 'partial';
    const { pool, namespace } = splitPoolSpec(spec);
    const children = await this.#snapshots.children(intent.source.spec, intent.source.image, intent.source.snapshot).catch(() => []);
    return children.some((c) => c.pool === pool && c.namespace === namespace && c.image === name) ? 'whole' : 'partial';
  }

  /**
   * An intent record of an earlier attempt at `name`: an image that attempt made but did not finish is removed
   * (the caller then makes the clone again). A fresh record may be another instance's clone still running: it
   * gets a moment to finish first.
   */
  private async repairInterrupted(spec: string, name: string): Promise<void> {
    let intent = await this.#clones.readIntent(spec, name);
    if (!intent) return;
    const age = Date.now() - Date.parse(intent.startedAt);
    if (Number.isFinite(age) && age < INTENT_SETTLE_MS) {
      await sleep(Math.min(INTENT_SETTLE_MS, INTENT_SETTLE_MS - age)); // a record from the future (clock skew): at most the settle time
      intent = await this.#clones.readIntent(spec, name);
      if (!intent) return;
    }
    if ((await this.leftBy(spec, name, intent)) === 'partial') {
      await this.ceph.images.remove(spec, name).catch((e: unknown) => {
        // the process that was making it still has it open, or died and the OSD has not dropped its watch yet
        // (osd_client_watch_timeout, 30 s): the record stays, and a later retry removes and remakes it
        if (isCephError(e, 'EBUSY')) throw new CloneUnfinishedError(spec, name, e);
        if (!isCephError(e, 'ENOENT')) throw e;
      });
    }
    await this.#clones.clearIntent(spec, name);
  }

  /** Make the clone unless the name exists; true when this call made it. */
  private async make(spec: string, name: string, want: CloneRequest, opts: ProvisionOptions, source: CloneSource,
    snapSize: number | undefined, depthIs: (d: number) => void): Promise<boolean> {
    await this.repairInterrupted(spec, name);
    // an existing name gets no intent record (a record is only ever written for a name that was free) and no
    // rbd_clone3 (which would open the parent only to answer EEXIST)
    if (await this.#clones.nameTaken(spec, name)) return false;
    // the depth policy, before anything is made (the source is held: its chain cannot change meanwhile)
    depthIs(await this.depthOfCloneOf(source, opts.mayUse));
    if (want.dataPool !== undefined && !opts.mayUse(want.dataPool)) throw new PoolNotPermittedError(want.dataPool, 'dataPool');
    await this.#clones.recordIntent(spec, name, source);
    try {
      await this.#clones.clone(source, spec, name, {
        features: want.features ? featureBits(want.features) : undefined,
        order: want.objectSize ? Math.log2(want.objectSize) : undefined,
        stripeUnit: want.stripeUnit,
        stripeCount: want.stripeCount,
        dataPool: want.dataPool,
      });
    } catch (e) {
      // nothing was made by this attempt (EEXIST: the name was taken before; other errors: librbd cleaned up)
      await this.#clones.clearIntent(spec, name).catch(() => undefined);
      if (isCephError(e, 'EEXIST')) return false;
      // librbd says ENOENT for a missing parent image and a missing snapshot alike (and the pool or namespace
      // may be the source's or the new image's): name what is missing when it is the source
      if (isCephError(e, 'ENOENT')) await this.sourceSize(source);
      throw e;
    }
    if (want.size !== undefined && snapSize !== undefined && want.size > snapSize) await this.ceph.images.resize(spec, name, want.size, false);
    await this.#clones.clearIntent(spec, name);
    return true;
  }
}
