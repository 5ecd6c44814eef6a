// The URLs of the API's resources, built from a pool spec: no imports from the rest of src/http, so that any
// module (errors.ts, replies.ts) can use them without an import cycle. paths.ts re-exports them.
import { splitPoolSpec } from '../ceph/spec.js';

export const API_PREFIX = '/api/v1';

export const poolPath = (pool: string): string => `${API_PREFIX}/pools/${encodeURIComponent(pool)}`;

/** The URL of a pool spec's scope: /api/v1/pools/p or /api/v1/pools/p/namespaces/ns. */
export function scopePath(spec: string): string {
  const { pool, namespace } = splitPoolSpec(spec);
  return namespace ? `${poolPath(pool)}/namespaces/${encodeURIComponent(namespace)}` : poolPath(pool);
}

/** `spec` is a pool spec ("pool" or "pool/namespace"). */
export const imagePath = (spec: string, image: string): string => `${scopePath(spec)}/images/${encodeURIComponent(image)}`;

/** The URL of trash entry `id` of a pool spec. */
export const trashPath = (spec: string, id: string): string => `${scopePath(spec)}/trash/${encodeURIComponent(id)}`;
