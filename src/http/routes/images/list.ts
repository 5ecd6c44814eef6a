// GET /api/v1/pools/{pool}[/namespaces/{namespace}]/images: a page of names, or of details.
//
// Pages come straight from the pool's image directory (src/ceph/image-directory.ts): one omap read of
// `limit` names after the cursor, so a page costs the same in a pool of 100 images as in one of 100,000.
// `prefix` is served by the same read; `search` (a substring) and `total=true` have to look at every name.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ImageDirectory } from '../../../ceph/image-directory.js';
import type { ImageInfo } from '../../../ceph/image-info.js';
import { ImageMirrorings } from '../../../ceph/mirroring/image.js';
import { decodeCursor, encodeCursor } from '../../cursor.js';
import { specOf } from '../../paths.js';
import { problems, scopeParams } from '../../schemas/common.js';
import { imageListSchema, listImagesQuery } from '../../schemas/images.js';
import { toImage } from '../../image-view.js';
import { fittingItems, PAGE_BYTES } from '../../page-bytes.js';
import { listingLimiter, ScanLimiter } from '../../scan-limit.js';
import { invalidField } from '../../validation.js';

export const imageListRoutes: FastifyPluginAsyncZod = async (app) => {
  const { ceph, settings } = app;
  const directory = new ImageDirectory(ceph);
  // search= and total=true read the whole directory: a few at a time, identical ones shared (scan-limit.ts)
  const scans = new ScanLimiter();
  // pages with details: a few at a time per process (their memory is bounded by that × a page's bytes)
  const pages = listingLimiter(ceph);
  const mirrorings = new ImageMirrorings(ceph);

  app.get('/images', {
    schema: {
      tags: ['images'], summary: 'List images, a page at a time', operationId: 'listImages',
      description: 'Sorted by name (byte order: uppercase before lowercase, UTF-8 by bytes). A page is read '
        + 'straight from the pool\'s image directory after the cursor, so it costs the same in a pool of 100 '
        + 'images as in one of 100,000; `prefix` narrows the same read. `search` (a case-insensitive substring) '
        + 'reads the directory from the cursor until the page is full: up to the whole pool when few names match. '
        + '`total` is given only with `total=true`, which counts the matching names of the whole pool (O(pool)). '
        + '`details=false` (default) never reads an image; `details=true` reads only the images of the returned '
        + 'page, a few at a time: each image\'s header in one OSD operation (an image with snapshots is opened '
        + 'read-only). Watchers are given by GET of one image. `nextCursor` neither loses nor repeats images '
        + `that exist throughout the listing while others are created or removed. A page holds at most \`limit\` images and `
        + `${PAGE_BYTES} bytes of JSON: a page cut by bytes has fewer items and a \`nextCursor\` right after its last one. `
        + 'Pages with details are read a few at a time per replica; beyond the queue 503 CEPH_BUSY with Retry-After.',
      params: scopeParams,
      querystring: listImagesQuery,
      response: { 200: imageListSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
    // the schema documents the answer; re-validating up to 1000 items with zod costs 2–4 ms a page, more
    // than reading the page in Ceph, so this route serializes directly (the handler is typed to the schema)
    serializerCompiler: () => (data) => JSON.stringify(data),
  }, async (req) => {
    const pool = specOf(req.params);
    const { limit, cursor, search, prefix, details, total, mirroring } = req.query;
    let after: string | undefined;
    if (cursor !== undefined) {
      after = decodeCursor(cursor);
      if (after === undefined || after.includes('\0')) {
        throw invalidField('querystring', 'cursor', 'is not valid: pass nextCursor from a previous page');
      }
    }
    const query = { after, prefix: prefix || undefined, limit };
    const [page, count] = await Promise.all([
      search
        ? scans.run(JSON.stringify(['search', pool, query, search.toLowerCase()]), () => directory.search(pool, { ...query, search }))
        : directory.page(pool, query),
      total
        ? scans.run(JSON.stringify(['count', pool, query.prefix, search?.toLowerCase()]),
          () => directory.count(pool, { prefix: query.prefix, search: search || undefined }))
        : undefined,
    ]);
    const counted = count === undefined ? {} : { total: count };
    /** the page's items, cut to a page's bytes; the cursor follows the last item kept */
    const bounded = <T extends { name: string }>(items: T[]) => {
      const n = fittingItems(items);
      const cut = n < items.length;
      const last = cut ? items[n - 1] : page.entries[page.entries.length - 1];
      return { items: cut ? items.slice(0, n) : items, ...counted, nextCursor: (page.more || cut) && last ? encodeCursor(last.name) : null };
    };
    if (mirroring !== undefined) {
      // the DR page's filter: each image of the page opened read-only for its mirroring (only when asked)
      return pages.limit(async () => {
        const states = await mirrorings.ofMany(pool, page.entries.map((e) => e.name), settings.detailsConcurrency);
        const kept = page.entries.filter((e) => states.has(e.name) && (states.get(e.name) !== null) === (mirroring === 'enabled'));
        if (!details) return bounded(kept.map(({ name }) => ({ name, mirroring: states.get(name) ?? null })));
        const infos = await ceph.images.statMany(pool, kept, settings.detailsConcurrency);
        return bounded(infos.filter((i): i is ImageInfo => i !== undefined)
          .map((i) => toImage({ ...i, mirroring: states.get(i.name) ?? null }, req.principal)));
      });
    }
    if (!details) return bounded(page.entries.map(({ name }) => ({ name })));
    // the directory gave each name's id: the header reads need nothing else
    return pages.limit(async () => {
      const infos = await ceph.images.statMany(pool, page.entries, settings.detailsConcurrency);
      return bounded(infos.filter((i): i is ImageInfo => i !== undefined).map((i) => toImage(i, req.principal)));
    });
  });
};
