// Optimistic concurrency (docs/concurrency.md, "Conditional requests"): the entity tag of each representation a
// console edits — an image, a snapshot, a metadata key, a namespace — and the evaluation of If-Match /
// If-None-Match (RFC 9110 §13.1.1–13.1.2, §13.2.2) against the resource as it is now, read UNDER the image's
// mutation lock and kept held while the change runs, so two requests carrying one ETag cannot both pass.
//
// A tag is a hash of the canonical JSON (keys sorted) of the fields of the representation that a change can
// touch, and only of those: an image's name, size, features, layout, data pool, snapshot count and its parent's
// overlap (a flatten, a shrink) — not its watchers (a client mapping the image is not an edit of it), nor the
// parent's names (a token of another tenant sees them hidden: everyone must see the same tag). The same function
// runs over the Ceph layer's ImageInfo (the check) and over the JSON answer (the ETag header of GET, PUT, PATCH),
// so GET and the PATCH's answer agree by construction.
import { createHash } from 'node:crypto';
import type { CephClient } from './client.js';
import { isCephError, isMissingInScope, PreconditionFailedError } from './errors.js';
import { imageKey, mutationLocks, type MutationKey } from './image-lock.js';
import type { ImageInfo } from './image-info.js';
import { ImageMetadata } from './metadata.js';
import { Namespaces } from './namespaces.js';
import { Snapshots, type SnapshotInfo } from './snapshots.js';

export type ResourceKind = 'image' | 'snapshot' | 'metadata' | 'namespace';

/** The resource a conditional request addresses. */
export type Resource =
  | { kind: 'image'; spec: string; image: string }
  | { kind: 'snapshot'; spec: string; image: string; snapshot: string }
  | { kind: 'metadata'; spec: string; image: string; key: string }
  | { kind: 'namespace'; pool: string; namespace: string };

/** The request's conditions: entity tags (opaque strings, quotes removed) or `*`; weak tags never match If-Match. */
export interface Preconditions {
  ifMatch?: { any: true } | { tags: readonly { tag: string; weak: boolean }[] } | undefined;
  ifNoneMatch?: { any: true } | { tags: readonly { tag: string; weak: boolean }[] } | undefined;
}

/** JSON with object keys sorted (and undefined members left out): equal values, equal text. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v ?? null);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

/** A strong entity tag (quoted) of `fields`. */
function tagOf(kind: ResourceKind, fields: Record<string, unknown>): string {
  return `"${createHash('sha256').update(kind).update('\0').update(canonicalJson(fields)).digest('base64url').slice(0, 27)}"`;
}

/** What an image's tag covers: the fields an image answer shows (ImageInfo and the API's view alike). */
interface ImageFields {
  id: string; name: string; pool: string; size: number; order: number; features: readonly string[];
  stripeUnit: number; stripeCount: number; dataPool: string | null; snapshotCount: number; parent: { overlap: number } | null;
}

export const imageETag = (i: ImageFields): string => tagOf('image', {
  id: i.id, name: i.name, pool: i.pool, size: i.size, order: i.order, features: [...i.features].sort(), stripeUnit: i.stripeUnit,
  stripeCount: i.stripeCount, dataPool: i.dataPool, snapshotCount: i.snapshotCount, parentOverlap: i.parent ? i.parent.overlap : null,
});

export const snapshotETag = (s: Pick<SnapshotInfo, 'id' | 'name' | 'size' | 'protected' | 'children'>): string =>
  tagOf('snapshot', { id: s.id, name: s.name, size: s.size, protected: s.protected, children: s.children });

export const metadataETag = (m: { key: string; value: string }): string => tagOf('metadata', { key: m.key, value: m.value });

export const namespaceETag = (n: { pool: string; name: string }): string => tagOf('namespace', { pool: n.pool, name: n.name });

/** The tag of a JSON answer of `kind` (the ETag header), undefined when the body is not that representation. */
export function etagOfAnswer(kind: ResourceKind, body: unknown): string | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const b = body as Record<string, unknown>;
  switch (kind) {
    case 'image':
      return typeof b.id === 'string' && typeof b.size === 'number' && Array.isArray(b.features) && typeof b.snapshotCount === 'number'
        ? imageETag(b as unknown as ImageFields) : undefined;
    case 'snapshot':
      return typeof b.id === 'number' && typeof b.name === 'string' && typeof b.protected === 'boolean'
        ? snapshotETag(b as unknown as SnapshotInfo) : undefined;
    case 'metadata':
      return typeof b.key === 'string' && typeof b.value === 'string' ? metadataETag(b as { key: string; value: string }) : undefined;
    case 'namespace':
      return typeof b.name === 'string' && typeof b.pool === 'string' ? namespaceETag(b as { pool: string; name: string }) : undefined;
  }
}

/** The resource as it is now and its tag; undefined when it does not exist. */
export async function readCurrent(ceph: CephClient, r: Resource): Promise<{ etag: string; value: unknown } | undefined> {
  const missing = (e: unknown): undefined => {
    if (isMissingInScope(e) || isCephError(e, 'ENOENT')) return undefined;
    throw e;
  };
  switch (r.kind) {
    case 'image': {
      const info: ImageInfo | undefined = await ceph.images.stat(r.spec, r.image).catch(missing);
      return info && { etag: imageETag(info), value: info };
    }
    case 'snapshot': {
      const s = await new Snapshots(ceph).get(r.spec, r.image, r.snapshot).catch(missing);
      return s && { etag: snapshotETag(s), value: s };
    }
    case 'metadata': {
      const value = await new ImageMetadata(ceph).get(r.spec, r.image, r.key).catch(missing);
      return value === undefined ? undefined : { etag: metadataETag({ key: r.key, value }), value: { key: r.key, value } };
    }
    case 'namespace': {
      const exists = await new Namespaces(ceph).exists(r.pool, r.namespace).catch(missing);
      return exists ? { etag: namespaceETag({ pool: r.pool, name: r.namespace }), value: { name: r.namespace, pool: r.pool } } : undefined;
    }
  }
}

/**
 * RFC 9110 §13.2.2 for a state-changing method: If-Match first (`*`: the resource exists; tags: one strongly
 * equals the current tag), else If-None-Match (`*`: it does not exist; tags: none weakly equals it). A resource
 * that does not exist fails If-Match only for PUT: a PATCH or DELETE of it is answered 404 by the operation
 * itself (a precondition never hides a 404).
 */
export function preconditionsHold(p: Preconditions, etag: string | undefined, method: string): boolean {
  if (p.ifMatch) {
    if (etag === undefined) return method !== 'PUT';
    if ('any' in p.ifMatch) return true;
    return p.ifMatch.tags.some((t) => !t.weak && `"${t.tag}"` === etag);
  }
  if (p.ifNoneMatch) {
    if (etag === undefined) return true;
    if ('any' in p.ifNoneMatch) return false;
    return !p.ifNoneMatch.tags.some((t) => `"${t.tag}"` === etag);
  }
  return true;
}

/** The mutation keys a change of `r` holds (a namespace's change holds none: librbd's create/remove are atomic). */
export function keysOf(r: Resource): MutationKey[] {
  return r.kind === 'namespace' ? [] : [imageKey(r.spec, r.image)];
}

const describe = (r: Resource): string => {
  switch (r.kind) {
    case 'image': return `${r.spec}/${r.image}`;
    case 'snapshot': return `${r.spec}/${r.image}@${r.snapshot}`;
    case 'metadata': return `${r.spec}/${r.image} metadata key ${r.key}`;
    case 'namespace': return `namespace ${r.pool}/${r.namespace}`;
  }
};

/**
 * Run `fn` (the change) holding the resource's mutation keys (and `also`: a rename's new name), once the
 * preconditions hold for the resource as read under them: PreconditionFailedError otherwise, nothing run. The
 * change itself takes the same keys again — a no-op, they are held by this async context (image-lock.ts) — so
 * nobody can change the resource between the check and the change, on any replica.
 */
export function underPreconditions<T>(ceph: CephClient, r: Resource, p: Preconditions, method: string, also: readonly MutationKey[],
  fn: () => Promise<T>): Promise<T> {
  return mutationLocks(ceph).run([...keysOf(r), ...also], async () => {
    const current = await readCurrent(ceph, r);
    if (!preconditionsHold(p, current?.etag, method)) throw new PreconditionFailedError(describe(r), current?.etag, current?.value);
    return fn();
  });
}
