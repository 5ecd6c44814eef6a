// RBD namespaces of a pool: list, create, remove. A namespace keeps its images, trash and tasks apart from
// the pool's other namespaces (its own rados namespace); `pool/ns` pool specs address it everywhere else.
import { E } from '../native/errno.js';
import { splitNulList } from '../native/memory.js';
import { rbdPool } from '../native/rbd-pool.js';
import { rbdTrash } from '../native/rbd-trash.js';
import { rbdNamespace } from '../native/rbd-namespace.js';
import { native, nativeChecked } from './call.js';
import type { CephSession } from './connection.js';
import { CephError, check } from './errors.js';

/** Names accepted for a new namespace: no '/', '@' or spaces (librbd itself accepts "bad/name"). */
export const NAMESPACE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export interface NamespaceUsage {
  name: string;
  /** images in the namespace (not counting its trash) */
  images: number;
  /** images in the namespace's trash */
  trashImages: number;
}

export class Namespaces {
  constructor(private readonly conn: CephSession) {}

  /** Namespace names of a pool (the default namespace is not listed), sorted. */
  list(pool: string): Promise<string[]> {
    return this.conn.withIoctx(pool, (io) => io.use('rbd_namespace_list', async (p) => {
      let size = 1024;
      for (let attempt = 0; attempt < 8; attempt++) {
        const buf = Buffer.alloc(size);
        const len: [number] = [size];
        const rc = await native<number>('rbd_namespace_list', rbdNamespace.list, p, buf, len);
        if (rc === -E.ERANGE) {
          size = Math.max(len[0], size * 2);
          continue;
        }
        check('namespace', 'rbd_namespace_list', rc, pool);
        return splitNulList(buf, Math.min(rc, buf.length)).sort();
      }
      throw new CephError('namespace', 'rbd_namespace_list', -E.ERANGE, `${pool}: namespace list kept growing`);
    }));
  }

  async exists(pool: string, namespace: string): Promise<boolean> {
    return this.conn.withIoctx(pool, (io) => io.use('rbd_namespace_exists', async (p) => {
      const out: [boolean] = [false];
      await nativeChecked('namespace', 'rbd_namespace_exists', `${pool}/${namespace}`, rbdNamespace.exists, p, namespace, out);
      return out[0];
    }));
  }

  /** Create a namespace; true when created, false when it already existed. */
  create(pool: string, namespace: string): Promise<boolean> {
    if (!NAMESPACE_NAME_PATTERN.test(namespace)) {
      return Promise.reject(new CephError('namespace', 'rbd_namespace_create', -E.EINVAL, `${pool}/${namespace}: not a valid namespace name`));
    }
    return this.conn.withIoctx(pool, (io) => io.use('rbd_namespace_create', async (p) => {
      const rc = await native<number>('rbd_namespace_create', rbdNamespace.create, p, namespace);
      if (rc === -E.EEXIST) return false;
      check('namespace', 'rbd_namespace_create', rc, `${pool}/${namespace}`);
      return true;
    }));
  }

  /**
   * Remove an empty namespace. EBUSY while it holds images (in its trash too), ENOENT when missing.
   * The cached I/O context of `pool/namespace` is dropped afterwards.
   */
  async remove(pool: string, namespace: string): Promise<void> {
    if (namespace === '') throw new CephError('namespace', 'rbd_namespace_remove', -E.EINVAL, `${pool}: the default namespace cannot be removed`);
    try {
      await this.conn.withIoctx(pool, (io) => io.use('rbd_namespace_remove', async (p) => {
        await nativeChecked('namespace', 'rbd_namespace_remove', `${pool}/${namespace}`, rbdNamespace.remove, p, namespace);
      }));
    } finally {
      this.conn.forgetPool(`${pool}/${namespace}`);
    }
  }

  /** How many images and trashed images a namespace holds (why it cannot be removed). */
  usage(pool: string, namespace: string): Promise<NamespaceUsage> {
    const spec = `${pool}/${namespace}`;
    return this.conn.withIoctx(spec, (io) => io.use('rbd_namespace_usage', async (p) => {
      const images = await countList(spec, 'rbd_list2', (buf, n) => native<number>('rbd_list2', rbdPool.list2, p, buf, n));
      const trashImages = await countList(spec, 'rbd_trash_list', (buf, n) => native<number>('rbd_trash_list', rbdTrash.list, p, buf, n));
      return { name: namespace, images, trashImages };
    }));
  }
}

/** Count the entries of a librbd list call by asking with a zero-capacity array (-ERANGE gives the count). */
async function countList(target: string, op: string, call: (buf: Buffer, n: [number]) => Promise<number>): Promise<number> {
  const n: [number] = [0];
  const rc = await call(Buffer.alloc(64), n);
  if (rc === -E.ERANGE) return n[0];
  if (rc < 0) throw new CephError('image', op, rc, target);
  return op === 'rbd_trash_list' ? rc : n[0];
}
