// Leftovers of interrupted creates, deletes, renames and restores (pool-guard.ts NameState 'dangling'): telling
// them from work in progress, naming them (ImageIncompleteError) and removing them; and the pool guard's check
// before a create is acknowledged.
import type { CephClient } from '../client.js';
import { CreateNotConfirmedError, ImageIncompleteError, ImageVanishedError, isCephError, isMissingInScope } from '../errors.js';
import type { ImageInfo } from '../image-info.js';
import { heldState, type DanglingName } from '../pool-guard.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * After EEXIST (or an open's ENOENT for a listed name): is the name a whole image, or a leftover (listed, but
 * the id object or header is missing) of an interrupted create or delete? A create in progress elsewhere passes
 * through such states for milliseconds, so a leftover must persist for a while to count.
 */
export async function leftover(ceph: CephClient, spec: string, name: string): Promise<DanglingName | undefined> {
  const held = await heldState(async () => {
    const state = await ceph.pools.guard.nameState(spec, name);
    return state.kind === 'dangling' ? state : undefined;
  }, () => true);
  return held === 'changed' ? undefined : held;
}

export const incomplete = (spec: string, name: string, { listedId, idObject }: DanglingName): ImageIncompleteError =>
  new ImageIncompleteError(spec, name, listedId, idObject);

/** Remove a leftover: rbd_remove (finds it through rbd_directory), then the stray id object. */
export async function removeLeftover(ceph: CephClient, spec: string, name: string): Promise<void> {
  // a name the directory does not list: rbd_remove would open the image its stray id object names — another
  // name's image, when a restore or rename was cut short — and delete it. Only the stray object goes (as DELETE)
  const unlisted = await ceph.pools.guard.nameState(spec, name);
  if (unlisted.kind === 'dangling' && unlisted.listedId === undefined) {
    await ceph.pools.guard.removeStrayId(spec, name, unlisted);
    return;
  }
  await ceph.images.remove(spec, name).catch((e: unknown) => {
    if (!isCephError(e, 'ENOENT', 'ESTALE')) throw e;
  });
  const state = await ceph.pools.guard.nameState(spec, name);
  if (state.kind === 'dangling') await ceph.pools.guard.removeStrayId(spec, name, state);
}

/** rbd_remove; ESTALE (the name was remade under us) is retried once; a leftover is cleaned up. */
export async function removeImage(ceph: CephClient, spec: string, name: string): Promise<void> {
  try {
    await ceph.images.remove(spec, name);
  } catch (e) {
    if (isCephError(e, 'ESTALE')) {
      await sleep(50);
      await ceph.images.remove(spec, name);
      return;
    }
    if (isMissingInScope(e)) {
      const state = await ceph.pools.guard.nameState(spec, name);
      if (state.kind === 'dangling') {
        await ceph.pools.guard.removeStrayId(spec, name, state);
        return;
      }
    }
    throw e;
  }
}

/** Stat an image that was just created, by us or by a concurrent creator still finishing. */
export async function statSettled(ceph: CephClient, spec: string, name: string): Promise<ImageInfo> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await ceph.images.stat(spec, name);
    } catch (e) {
      if (attempt >= 20 || !isCephError(e, 'ENOENT') || e.subject === 'pool') throw e;
      await sleep(50 + attempt * 25);
    }
  }
}

/**
 * Before acknowledging a create (201) or an existing image (PUT 200): a delete of the pool that began
 * meanwhile must see the image or refuse it (src/ceph/pool-guard.ts). Removes an image this request made
 * (`madeHere`) when the guard says no (CreateNotConfirmedError). Returns the image's id (read on the way)
 * when it could be read.
 */
export async function confirmCreated(ceph: CephClient, spec: string, name: string, madeHere: boolean): Promise<string | undefined> {
  const { verdict, id } = await ceph.pools.guard.afterCreate(spec, name);
  if (verdict === undefined) return id;
  if (madeHere) await ceph.images.remove(spec, name).catch(() => undefined);
  throw new CreateNotConfirmedError(spec, name, verdict, madeHere);
}

/** An image made or found a moment ago that is gone now (ENOENT inside its pool): ImageVanishedError; else `e`. */
export const vanished = (e: unknown, spec: string, name: string): unknown =>
  (isMissingInScope(e) ? new ImageVanishedError(spec, name, e) : e);
