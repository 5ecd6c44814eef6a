// Problem bodies more than one route answers with, written once.
import type { CephError } from '../ceph/errors.js';
import type { Watcher } from '../ceph/images.js';
import { ApiError } from './errors.js';

/**
 * 409 IMAGE_IN_USE: the clients that have the image open (none known: "another"), and what to do about it.
 * This service's own handles never show up here: its changes of an image hold the image's mutation lock and
 * close their handles before it ends (docs/concurrency.md).
 */
export function imageInUse(spec: string, image: string, watchers: readonly Watcher[], before = 'first', cause?: CephError): ApiError {
  const who = watchers.length ? `${watchers.length} client(s): ${watchers.map((w) => w.address).join(', ')}` : 'another client';
  return new ApiError('IMAGE_IN_USE', `Image ${spec}/${image} is open by ${who}; unmap or close it ${before}.`, { watchers: [...watchers] }, cause);
}
