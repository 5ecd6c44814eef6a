// Creating a plain image (POST) and making sure one exists (PUT, idempotent): the create under the name's
// mutation lock, leftovers told apart from work in progress and named or repaired, the pool guard's check
// before any acknowledgement, and an existing image compared with what was asked.
import type { CephClient } from '../client.js';
import { CephError, DataPoolMissingError, ImageNameNotCreatableError, isCephError, PoolNotPermittedError } from '../errors.js';
import { featureBits } from '../features.js';
import type { CreateImageOptions, ImageInfo } from '../image-info.js';
import { specDifferences, type Difference, type ImageRequest } from './differences.js';
import { confirmCreated, incomplete, leftover, removeLeftover, statSettled, vanished } from './leftovers.js';
import type { NameWrites } from './writes.js';

/** The caller's policy: may this request use `pool` (`namespace` of it)? (an HTTP token's pools) */
export type MayUse = (pool: string, namespace?: string) => boolean;

export interface ProvisionOptions {
  mayUse: MayUse;
  /** `Prefer: return=minimal`: a new image is not described (`info` stays undefined) */
  minimal: boolean;
}

export type Provisioned =
  /** made by this request; `info` unless minimal; `flattenTask`: the id of the flatten queued for a clone beyond CLONE_DEPTH_SOFT */
  | { kind: 'created'; size: number; info?: ImageInfo | undefined; flattenTask?: string | undefined }
  /** it existed as asked (PUT: 200) */
  | { kind: 'exists'; info: ImageInfo }
  /** it exists otherwise (PUT: 409 IMAGE_SPEC_CONFLICT) */
  | { kind: 'conflict'; info: ImageInfo; differences: Difference[] }
  /** a clone's POST found the name taken (409 IMAGE_EXISTS) */
  | { kind: 'taken' };

/** librbd's create options for `want`; refuses a data pool the caller may not use or that does not exist. */
export async function createOptions(ceph: CephClient, want: ImageRequest, mayUse: MayUse): Promise<CreateImageOptions> {
  if (want.dataPool !== undefined && !mayUse(want.dataPool)) throw new PoolNotPermittedError(want.dataPool, 'dataPool');
  if (want.dataPool !== undefined && !(await ceph.pools.exists(want.dataPool))) throw new DataPoolMissingError(want.dataPool);
  return {
    features: want.features ? featureBits(want.features) : undefined,
    order: want.objectSize ? Math.log2(want.objectSize) : undefined,
    stripeUnit: want.stripeUnit,
    stripeCount: want.stripeCount,
    dataPool: want.dataPool,
  };
}

/** POST: create `name` (EEXIST when taken; ImageIncompleteError when a leftover holds the name). */
export async function createImage(ceph: CephClient, writes: NameWrites, spec: string, name: string, want: ImageRequest,
  opts: ProvisionOptions): Promise<Provisioned & { kind: 'created' }> {
  const options = await createOptions(ceph, want, opts.mayUse);
  return writes.run(spec, name, async () => {
    try {
      await ceph.images.create(spec, name, want.size, options);
    } catch (e) {
      const left = isCephError(e, 'EEXIST') ? await leftover(ceph, spec, name) : undefined;
      if (left) throw incomplete(spec, name, left);
      throw e;
    }
    const id = await confirmCreated(ceph, spec, name, true);
    if (opts.minimal) return { kind: 'created', size: want.size };
    const info = await ceph.images.describeNew(spec, name, id) // no open: one header read (the guard read the id)
      .catch((e: unknown) => { throw vanished(e, spec, name); });
    return { kind: 'created', size: want.size, info };
  });
}

/**
 * PUT: the image as asked, made unless it exists. `creatable`: the name is one this API creates (others
 * librbd would make are only looked up: ImageNameNotCreatableError when missing). A leftover at the name is
 * removed and the image made.
 */
export async function putImage(ceph: CephClient, writes: NameWrites, spec: string, name: string, want: ImageRequest,
  opts: ProvisionOptions & { creatable: boolean }): Promise<Provisioned> {
  const options = opts.creatable ? await createOptions(ceph, want, opts.mayUse) : undefined;
  if (!writes.stillRunning(spec, name)) {
    // a cluster that does not answer is the answer (one deadline, not two); anything else — missing,
    // half-made — is for the locked path to tell precisely
    const unanswered = (e: unknown): undefined => {
      if (e instanceof CephError && (e.code === 'ETIMEDOUT' || e.kind === 'busy' || e.kind === 'closed')) throw e;
      return undefined;
    };
    // one read of rbd_id.<name> first: a new name (the hook's usual case) costs no librbd open, which builds
    // an image context even to fail; only an image that has an id is opened and compared
    const id = await ceph.images.imageId(spec, name).catch(unanswered);
    const existing = id === undefined ? undefined : await ceph.images.stat(spec, name).catch(unanswered);
    if (existing && specDifferences(existing, want).length === 0) {
      await confirmCreated(ceph, spec, name, false);
      return { kind: 'exists', info: existing };
    }
  }
  return writes.run(spec, name, async () => {
    let created = false;
    let raced = false;
    if (options) {
      try {
        await ceph.images.create(spec, name, want.size, options);
        created = true;
      } catch (e) {
        if (!isCephError(e, 'EEXIST')) throw e;
        raced = true;
      }
      if (raced && await leftover(ceph, spec, name)) {
        // repair: remove the leftover, then create
        await removeLeftover(ceph, spec, name);
        await ceph.images.create(spec, name, want.size, options);
        created = true;
        raced = false;
      }
    }
    const id = created ? await confirmCreated(ceph, spec, name, true) : undefined;
    if (created && opts.minimal) return { kind: 'created', size: want.size };
    let info: ImageInfo;
    try {
      // after EEXIST another creator may still be writing the image's header: wait for it to settle
      info = created ? await ceph.images.describeNew(spec, name, id) // no open: one header read
        : raced ? await statSettled(ceph, spec, name) : await ceph.images.stat(spec, name);
    } catch (e) {
      if (!created && !raced && isCephError(e, 'ENOENT') && e.subject !== 'pool') throw new ImageNameNotCreatableError(spec, name);
      throw vanished(e, spec, name);
    }
    if (created) return { kind: 'created', size: want.size, info };
    const differences = specDifferences(info, want);
    if (differences.length > 0) return { kind: 'conflict', info, differences };
    await confirmCreated(ceph, spec, name, false);
    return { kind: 'exists', info };
  });
}
