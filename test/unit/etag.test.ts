// Entity tags and preconditions (src/ceph/etag.ts): one tag for everyone who sees an image (a hidden parent
// included), the PATCH answer's extra fields ignored, RFC 9110's evaluation order and comparisons.
import { describe, expect, it } from 'vitest';
import { etagOfAnswer, imageETag, preconditionsHold } from '../../src/ceph/etag.js';
import type { ImageInfo } from '../../src/ceph/image-info.js';
import { toImage } from '../../src/http/image-view.js';

const info: ImageInfo = {
  name: 'vol', id: '10ab', pool: 'rbd/t1', size: 1 << 30, objectSize: 1 << 22, order: 22, objects: 256, features: ['layering', 'exclusive-lock'],
  featureBits: 5n, stripeUnit: 1 << 22, stripeCount: 1, dataPool: null, blockNamePrefix: 'rbd_data.10ab', createdAt: '2026-12-07T00:00:00.000Z',
  snapshotCount: 1, parent: { pool: 'gold', namespace: '', image: 'base', snapshot: 's', overlap: 1 << 30 }, watchers: [], cloneDepth: 1,
};
const tenant = { name: 't1', scope: 'write' as const, pools: new Set(['rbd/t1']) };

describe('ETag', () => {
  it('is the same from ImageInfo, the full view, a view with the parent hidden, and a PATCH answer', () => {
    const tag = imageETag(info);
    expect(tag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    const view = JSON.parse(JSON.stringify(toImage(info, undefined)));
    const hidden = JSON.parse(JSON.stringify(toImage(info, tenant as never)));
    expect(hidden.parent).toEqual({ hidden: true, overlap: 1 << 30 });
    expect(etagOfAnswer('image', view)).toBe(tag);
    expect(etagOfAnswer('image', hidden)).toBe(tag);
    expect(etagOfAnswer('image', { ...view, applied: { featuresEnabled: [] }, watchers: [{ address: 'x', id: 1, cookie: 2 }] })).toBe(tag);
    expect(etagOfAnswer('image', { ...view, features: ['exclusive-lock', 'layering'] })).toBe(tag); // a set
    for (const change of [{ size: 2 << 30 }, { name: 'vol2' }, { snapshotCount: 2 }, { features: ['layering'] }, { parent: null }]) {
      expect(etagOfAnswer('image', { ...view, ...change })).not.toBe(tag);
    }
    expect(etagOfAnswer('image', { name: 'vol', pool: 'rbd', size: 1 })).toBeUndefined(); // Prefer: return=minimal
  });

  it('evaluates If-Match before If-None-Match; weak tags never match If-Match; a missing resource fails If-Match only for PUT', () => {
    const t = (tag: string, weak = false) => ({ tags: [{ tag: tag.slice(1, -1), weak }] });
    const tag = '"abc"';
    expect(preconditionsHold({ ifMatch: t(tag) }, tag, 'PATCH')).toBe(true);
    expect(preconditionsHold({ ifMatch: t(tag, true) }, tag, 'PATCH')).toBe(false);
    expect(preconditionsHold({ ifMatch: t('"old"') }, tag, 'DELETE')).toBe(false);
    expect(preconditionsHold({ ifMatch: { any: true } }, undefined, 'PUT')).toBe(false);
    expect(preconditionsHold({ ifMatch: { any: true } }, undefined, 'DELETE')).toBe(true); // the DELETE answers 404 itself
    expect(preconditionsHold({ ifNoneMatch: { any: true } }, tag, 'PUT')).toBe(false);
    expect(preconditionsHold({ ifNoneMatch: { any: true } }, undefined, 'PUT')).toBe(true);
    expect(preconditionsHold({ ifNoneMatch: t(tag, true) }, tag, 'PUT')).toBe(false); // weak comparison
    expect(preconditionsHold({ ifMatch: t(tag), ifNoneMatch: { any: true } }, tag, 'PUT')).toBe(true); // If-Match wins
  });
});
