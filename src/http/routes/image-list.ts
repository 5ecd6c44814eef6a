// GET /api/v1/pools/{pool}[/namespaces/{namespace}]/images: a page of names, or of details.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { compareNames, type ImageInfo } from '../../ceph/images.js';
import { ApiError } from '../errors.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import { specOf } from '../paths.js';
import { problems, scopeParams } from '../schemas/common.js';
import { imageListSchema, listImagesQuery } from '../schemas/images.js';
import { toImage } from './images.js';

/** The page of `sorted` names after `after` that contain `search` (case-insensitive), at most `limit`. */
function onePage(sorted: readonly string[], search: string | undefined, after: string | undefined, limit: number) {
  let names = sorted;
  if (search) {
    const needle = search.toLowerCase();
    names = names.filter((n) => n.toLowerCase().includes(needle));
  }
  let start = 0;
  if (after !== undefined) {
    let lo = 0, hi = names.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareNames(names[mid]!, after) <= 0) lo = mid + 1; else hi = mid;
    }
    start = lo;
  }
  const page = names.slice(start, start + limit);
  const nextCursor = start + limit < names.length && page.length > 0 ? encodeCursor(page[page.length - 1]!) : null;
  return { page, total: names.length, nextCursor };
}

export const imageListRoutes: FastifyPluginAsyncZod = async (app) => {
  const { ceph, settings } = app;

  app.get('/images', {
    schema: {
      tags: ['images'], summary: 'List images, a page at a time', operationId: 'listImages',
      description: 'Sorted by name (byte order). `details=false` (default) lists names without opening any image; '
        + '`details=true` reads only the images of the returned page, a few at a time: each image\'s header in one '
        + 'OSD operation (an image with snapshots is opened read-only). Watchers are given by GET of one image.',
      params: scopeParams,
      querystring: listImagesQuery,
      response: { 200: imageListSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
    // the schema documents the answer; re-validating up to 1000 items with zod costs 2–4 ms a page, more
    // than listing the names in Ceph, so this route serializes directly (the handler is typed to the schema)
    serializerCompiler: () => (data) => JSON.stringify(data),
  }, async (req) => {
    const pool = specOf(req.params);
    const { limit, cursor, search, details } = req.query;
    let after: string | undefined;
    if (cursor !== undefined) {
      after = decodeCursor(cursor);
      if (after === undefined) throw new ApiError('VALIDATION_FAILED', 'cursor is not valid: pass nextCursor from a previous page.');
    }
    const pageOf = (sorted: readonly string[]) => onePage(sorted, search, after, limit);
    if (!details) {
      const { page, total, nextCursor } = pageOf(await ceph.images.listNames(pool));
      return { items: page.map((name) => ({ name })), total, nextCursor };
    }
    // with details, rbd_list2's ids of the page too (the header reads need them)
    const { chosen, picked } = await ceph.images.listPicking(pool, pageOf);
    const infos = await ceph.images.statMany(pool, picked, settings.detailsConcurrency);
    return { items: infos.filter((i): i is ImageInfo => i !== undefined).map(toImage), total: chosen!.total, nextCursor: chosen!.nextCursor };
  });

};
