// GET …/images/{image}/children (the clones of an image's snapshots) and POST …/images/{image}/flatten (a task).
// Making a clone (POST/PUT of an image with `source`) is routes/images/create.ts over src/ceph/provisioning/clone.ts.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { Clones, compareChildren } from '../../ceph/clones.js';
import { FLATTEN_ACTION } from '../../ceph/snapshot-tasks.js';
import { allows, visibleTo } from '../auth.js';
import { descendants } from '../../ceph/descendants.js';
import { ApiError } from '../errors.js';
import { specOf } from '../paths.js';
import { replyTask } from '../task-reply.js';
import { taskSchema } from '../schemas/tasks.js';
import { imageParams, problems } from '../schemas/common.js';
import { childrenListQuery, childrenListSchema, descendantListQuery, descendantListSchema } from '../schemas/snapshots.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import { fittingItems, PAGE_BYTES } from '../page-bytes.js';
import { listingLimiter } from '../scan-limit.js';
import { invalidField } from '../validation.js';

export const cloneRoutes: FastifyPluginAsyncZod = async (app) => {
  const clones = new Clones(app.ceph);

  app.get('/images/:image/children', {
    schema: {
      tags: ['clones'], summary: "The clones of an image's snapshots", operationId: 'listImageChildren',
      description: 'Every clone of every snapshot of the image, in any pool and namespace the service can read. Clones '
        + 'in the trash (`trash: true`) still depend on their snapshot until their removal has run. Clones in pools or '
        + 'namespaces the token may not use (another tenant\'s) are counted in `hidden`, not listed. A page holds at '
        + `most \`limit\` clones and ${PAGE_BYTES} bytes of JSON; \`nextCursor\` is given only when more follow. Listings are `
        + 'read a few at a time per replica; beyond the queue 503 CEPH_BUSY with Retry-After.',
      params: imageParams,
      querystring: childrenListQuery,
      response: { 200: childrenListSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req) => {
    const { limit, cursor } = req.query;
    let after: { snapshotId: number; pool: string; namespace: string; image: string } | undefined;
    if (cursor !== undefined) {
      try {
        const [snapshotId, pool, namespace, image] = JSON.parse(decodeCursor(cursor) ?? 'null') as unknown[];
        if (!Number.isSafeInteger(snapshotId) || typeof pool !== 'string' || typeof namespace !== 'string' || typeof image !== 'string') throw new Error();
        after = { snapshotId: snapshotId as number, pool, namespace, image };
      } catch {
        throw invalidField('querystring', 'cursor', 'is not valid: pass nextCursor from a previous page');
      }
    }
    const all = await listingLimiter(app.ceph).limit(() => clones.children(specOf(req.params), req.params.image));
    const { shown, hidden } = visibleTo(req.principal, all);
    const rest = after ? shown.filter((c) => compareChildren(c, after!) > 0) : shown;
    const items = rest.slice(0, limit).map(({ pool, namespace, image, snapshot, trash }) => ({ pool, namespace, image, snapshot, trash }));
    items.length = fittingItems(items); // at most a page's bytes
    const last = rest[items.length - 1];
    const more = rest.length > items.length && last;
    return { items, hidden, ...(more ? { nextCursor: encodeCursor(JSON.stringify([last.snapshotId, last.pool, last.namespace, last.image])) } : {}) };
  });

  app.get('/images/:image/descendants', {
    schema: {
      tags: ['clones'], summary: 'The whole tree of clones below an image', operationId: 'listImageDescendants',
      description: 'Every clone of the image\'s snapshots, their clones, and so on down, breadth first, with each one\'s '
        + '`depth` below the image and its `parent`; across pools and namespaces as librbd lists children (clones in the '
        + 'trash too). At most 1000 descendants are gathered (`truncated` when the tree is bigger); a page holds at most '
        + `\`limit\` of them and ${PAGE_BYTES} bytes of JSON. Descendants in pools or namespaces the token may not use are `
        + 'counted in `hidden`. Costs one read-only open per descendant; read a few at a time per replica (503 CEPH_BUSY beyond the queue).',
      params: imageParams,
      querystring: descendantListQuery,
      response: { 200: descendantListSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req) => {
    const { limit, cursor } = req.query;
    let from = 0;
    if (cursor !== undefined) {
      const n = Number(decodeCursor(cursor));
      if (!Number.isSafeInteger(n) || n < 0) throw invalidField('querystring', 'cursor', 'is not valid: pass nextCursor from a previous page');
      from = n;
    }
    const tree = await listingLimiter(app.ceph).limit(() => descendants(app.ceph, specOf(req.params), req.params.image));
    const { shown, hidden } = visibleTo(req.principal, tree.items);
    const items = shown.slice(from, from + limit).map((d) => ({
      ...d, parent: req.principal && !allows(req.principal, d.parent.pool, d.parent.namespace) ? { hidden: true as const } : d.parent,
    }));
    items.length = fittingItems(items);
    const next = from + items.length;
    return { items, hidden, truncated: tree.truncated, ...(next < shown.length ? { nextCursor: encodeCursor(String(next)) } : {}) };
  });

  app.post('/images/:image/flatten', {
    schema: {
      tags: ['clones'], summary: 'Flatten a clone (a task)', operationId: 'flattenImage',
      description: 'Copies every block the clone still reads from its parent snapshot, then detaches it: afterwards '
        + '`parent` is null and the snapshot can be deleted. Answers 202 with the task (`Location: /api/v1/tasks/{id}`); '
        + '400 NOT_A_CLONE when the image has no parent.',
      params: imageParams,
      response: { 202: taskSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
  }, async (req, reply) => {
    const spec = specOf(req.params);
    const { image } = req.params;
    const info = await app.ceph.images.stat(spec, image);
    if (!info.parent) throw new ApiError('NOT_A_CLONE', `Image ${spec}/${image} is not a clone: there is nothing to flatten.`);
    const task = await app.ceph.tasks.submit(FLATTEN_ACTION, { pool: req.params.pool, namespace: req.params.namespace ?? '', image, imageId: info.id });
    return replyTask(reply, task);
  });
};
