// Problem bodies more than one route answers with, written once.
import type { CephError } from '../ceph/errors.js';
import type { Watcher } from '../ceph/image-info.js';
import { sourceText, type Difference } from '../ceph/provisioning/differences.js';
import type { Principal } from './auth.js';
import { parentText } from './image-view.js';
import { imagePath } from './urls.js';
import { ApiError } from './errors.js';

/**
 * 409 IMAGE_IN_USE: the clients that have the image open (none known: "another"), the exclusive lock's owner(s),
 * the locks resource (`locks`: GET it; an admin can break the lock and fence its owner with DELETE), and what to
 * do about it. This service's own handles never show up here: its changes of an image hold the image's mutation
 * lock and close their handles before it ends (docs/concurrency.md).
 */
export function imageInUse(spec: string, image: string, watchers: readonly Watcher[], before = 'first', cause?: CephError,
  lockOwners: readonly string[] = []): ApiError {
  const who = watchers.length ? `${watchers.length} client(s): ${watchers.map((w) => w.address).join(', ')}` : 'another client';
  const locks = `${imagePath(spec, image)}/locks`;
  const owner = lockOwners.length ? `; the exclusive lock is held by ${lockOwners.join(', ')}` : '';
  return new ApiError('IMAGE_IN_USE', `Image ${spec}/${image} is open by ${who}${owner}; unmap or close it ${before}. `
    + `See GET ${locks}; a client that died or hangs holding it can be fenced and its lock broken by an admin with `
    + `DELETE ${locks}?confirm=${encodeURIComponent(image)}.`, { watchers: [...watchers], lockOwners: [...lockOwners], locks }, cause);
}

/** 409 IMAGE_SPEC_CONFLICT listing what differs; a clone's parent in a pool the token may not use is not named. */
export function specConflict(spec: string, image: string, differences: readonly Difference[], principal: Principal | undefined): ApiError {
  const diff = differences.map((d) => {
    switch (d.field) {
      case 'source': return `source is ${d.have ? parentText(d.have, principal) : 'none (not a clone)'}, requested ${sourceText(d.requested)}`;
      case 'features': return `features are [${d.have.join(', ')}], requested [${d.requested.join(', ')}]`;
      case 'dataPool': return `dataPool is ${d.have ?? 'none'}, requested ${d.requested}`;
      default: return `${d.field} is ${d.have}, requested ${d.requested}`;
    }
  });
  return new ApiError('IMAGE_SPEC_CONFLICT', `Image ${spec}/${image} exists with a different specification: ${diff.join('; ')}.`,
    { differences: diff });
}
