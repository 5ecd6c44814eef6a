// Renaming an image within its pool and namespace (rbd_rename works on the directory: clients that have
// the image open keep it, they refer to it by id).
import { E } from '../native/errno.js';
import { rbdManage } from '../native/rbd-manage.js';
import { nativeChecked } from './call.js';
import type { CephSession } from './connection.js';
import { CephError } from './errors.js';

/** librbd accepts almost any name (§0 of the facts); callers validate, this refuses the dangerous ones again. */
function badName(name: string): boolean {
  return name === '' || name.includes('/') || name.includes('@') || name.includes('\0') || Buffer.byteLength(name) > 255;
}

/** rbd_rename: EEXIST when `to` exists (also when to === from), ENOENT when `from` is missing. */
export function renameImage(conn: CephSession, spec: string, from: string, to: string): Promise<void> {
  if (badName(to)) return Promise.reject(new CephError('rbd_rename', -E.EINVAL, `${spec}/${to}: not a valid image name`));
  return conn.withIoctx(spec, (io) => io.use('rbd_rename', async (p) => {
    await nativeChecked('rbd_rename', `${spec}/${to}`, rbdManage.rename, p, from, to);
  }));
}
