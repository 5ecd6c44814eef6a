// How an image is shown to a token: every answer that carries an image (GET, listings with details, the image
// after a create, clone, PUT or PATCH) is built here. A clone's parent in a pool or namespace the token may not
// use (another tenant's snapshot, cloned into this tenant by an operator) is not named — as the children
// listing counts that relation on the other side without naming it (auth.ts visibleTo).
import type { ImageInfo, ImageParent } from '../ceph/image-info.js';
import { allows, type Principal } from './auth.js';

/** A parent the token may not see: a clone, of something it may not name. `overlap` is about this image. */
export interface HiddenParent { hidden: true; overlap: number }
export type ShownParent = ImageParent | HiddenParent;

export type ImageView = Omit<ImageInfo, 'featureBits' | 'parent'> & { parent: ShownParent | null };

/** The parent as `principal` may see it; a token without pool limits (or no authentication) sees every parent. */
export function shownParent(parent: ImageParent | null, principal: Principal | undefined): ShownParent | null {
  if (!parent || !principal || allows(principal, parent.pool, parent.namespace)) return parent;
  return { hidden: true, overlap: parent.overlap };
}

export function toImage({ featureBits: _bits, parent, ...rest }: ImageInfo, principal: Principal | undefined): ImageView {
  return { ...rest, parent: shownParent(parent, principal) };
}

/** The parent in rbd CLI spelling (pool[/namespace]/image@snapshot) for a message to `principal`. */
export function parentText(parent: ImageParent, principal: Principal | undefined): string {
  if (principal && !allows(principal, parent.pool, parent.namespace)) return 'a snapshot in a pool or namespace this token may not use';
  return `${parent.namespace ? `${parent.pool}/${parent.namespace}` : parent.pool}/${parent.image}@${parent.snapshot}`;
}
