// Renaming an image within its pool and namespace (rbd_rename works on the directory: clients that have
// the image open keep it, they refer to it by id), and finishing a rename whose process died mid-way.
import { E } from '../native/errno.js';
import { rbdImage } from '../native/rbd-image.js';
import { nativeChecked } from './call.js';
import type { CephSession } from './connection.js';
import { CephError } from './errors.js';
import { heldState, PoolGuard, type NameState } from './pool-guard.js';

/** librbd accepts almost any name (§0 of the facts); callers validate, this refuses the dangerous ones again. */
function badName(name: string): boolean {
  return name === '' || name.includes('/') || name.includes('@') || name.includes('\0') || Buffer.byteLength(name) > 255;
}

/** rbd_rename: EEXIST when `to` exists (also when to === from), ENOENT when `from` is missing. */
export function renameImage(conn: CephSession, spec: string, from: string, to: string): Promise<void> {
  if (badName(to)) return Promise.reject(new CephError('image', 'rbd_rename', -E.EINVAL, `${spec}/${to}: not a valid image name`));
  return conn.withIoctx(spec, (io) => io.use('rbd_rename', async (p) => {
    await nativeChecked('image', 'rbd_rename', `${spec}/${to}`, rbdImage.rename, p, from, to);
  }));
}

/**
 * What an interrupted rename left: `renamed` (the directory already says `to`; only the old id object was
 * left), `not-renamed` (the directory still says `from`; only the new id object was written), `in-progress`
 * (the objects changed while looked at: a rename is running elsewhere), or undefined (not a half-done rename).
 */
export type InterruptedRename = 'renamed' | 'not-renamed' | 'in-progress' | undefined;

/** only `id` under `whole`, and a stray id object for `stray` that no directory entry matches */
function halfDone(whole: NameState, stray: NameState, id: string): NameState | undefined {
  return whole.kind === 'whole' && whole.id === id && stray.kind === 'dangling' && stray.listedId === undefined
    && stray.idObject === id ? stray : undefined;
}

/**
 * rbd_rename (librbd's RenameRequest) writes `rbd_id.<to>`, moves the directory entry, then removes
 * `rbd_id.<from>`: a process killed between those steps leaves image `id` openable under both names (an
 * open by name reads only the id object). A running rename passes through these states in milliseconds,
 * so the state must hold for ~2 s to count as left behind; the stray id object is then removed, which
 * finishes the rename (`renamed`) or undoes its first step (`not-renamed`). Never touches a directory entry.
 */
export async function finishInterruptedRename(conn: CephSession, spec: string, from: string, to: string, id: string): Promise<InterruptedRename> {
  const guard = new PoolGuard(conn);
  const look = async (): Promise<{ kind: 'renamed' | 'not-renamed'; name: string; stray: NameState } | undefined> => {
    const [f, t] = [await guard.nameState(spec, from), await guard.nameState(spec, to)];
    const renamed = halfDone(t, f, id);
    if (renamed) return { kind: 'renamed', name: from, stray: renamed };
    const notRenamed = halfDone(f, t, id);
    return notRenamed ? { kind: 'not-renamed', name: to, stray: notRenamed } : undefined;
  };
  const last = await heldState(look, (a, b) => a.kind === b.kind);
  if (last === undefined) return undefined;
  if (last === 'changed') return 'in-progress';
  await guard.removeStrayId(spec, last.name, last.stray);
  return last.kind;
}
