// /api/v1/pools/{pool}[/namespaces/{namespace}]/trash: images deleted but not yet removed. DELETE of an image
// moves it here (src/ceph/provisioning, routes/images/delete.ts) and queues its removal as a task.
import { previewPurge } from '../../ceph/dry-run.js';
import { dryRunQuery, dryRunSchema } from '../schemas/dry-run.js';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isCephError, TrashEntryGone } from '../../ceph/errors.js';
import { TRASH_ID_PATTERN, type TrashEntry } from '../../ceph/trash.js';
import { ApiError } from '../errors.js';
import { imagePath, specOf } from '../paths.js';
import { booleanQuery, IMAGE_NAME_PATTERN, IMAGE_NAME_RULE, problems, scopeParams } from '../schemas/common.js';
import { restoreBody, taskSchema, trashEntrySchema, trashListQuery, trashListSchema, trashParams } from '../schemas/tasks.js';
import { replyTask } from '../task-reply.js';
import { fittingItems, PAGE_BYTES } from '../page-bytes.js';
import { listingLimiter } from '../scan-limit.js';
import { invalidField } from '../validation.js';

const CURSOR = /^([0-9]{1,13})-([A-Za-z0-9]{1,64})$/;
const cursorOf = (e: TrashEntry) => `${Date.parse(e.deletedAt)}-${e.id}`;

export const trashRoutes: FastifyPluginAsyncZod = async (app) => {
  const { ceph } = app;

  const validId = (id: string): string => {
    if (!TRASH_ID_PATTERN.test(id)) throw invalidField('params', 'id', 'a trash entry id is 1–64 letters and digits (the image id)');
    return id;
  };
  const notFound = (spec: string, id: string) => new ApiError('TRASH_ENTRY_NOT_FOUND', `Trash entry ${id} does not exist in ${spec}.`);
  const entry = async (spec: string, id: string): Promise<TrashEntry> => {
    try {
      return await ceph.trash.get(spec, validId(id));
    } catch (e) {
      if (isCephError(e, 'ENOENT') && e.subject === 'trashEntry') throw notFound(spec, id);
      throw e;
    }
  };

  app.get('/trash', {
    schema: {
      tags: ['trash'], summary: 'List the trash', operationId: 'listTrash',
      description: `Newest deletion first. Pass \`nextCursor\` as \`cursor\` for the next page. A page holds at most \`limit\` `
        + `entries and ${PAGE_BYTES} bytes of JSON. Listings are read a few at a time per replica; beyond the queue 503 CEPH_BUSY.`,
      params: scopeParams, querystring: trashListQuery,
      response: { 200: trashListSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req) => {
    const spec = specOf(req.params);
    const { limit, cursor } = req.query;
    let after: { ms: number; id: string } | undefined;
    if (cursor !== undefined) {
      const m = CURSOR.exec(cursor);
      if (!m) throw invalidField('querystring', 'cursor', 'is not a cursor this API gave out: pass nextCursor from a previous page');
      after = { ms: Number(m[1]), id: m[2]! };
    }
    return listingLimiter(ceph).limit(async () => {
      const all = await ceph.trash.list(spec);
      const rest = after ? all.filter((e) => {
        const ms = Date.parse(e.deletedAt);
        return ms < after!.ms || (ms === after!.ms && e.id > after!.id);
      }) : all;
      const items = rest.slice(0, limit);
      items.length = fittingItems(items); // at most a page's bytes
      return { items, ...(rest.length > items.length ? { nextCursor: cursorOf(items[items.length - 1]!) } : {}) };
    });
  });

  app.get('/trash/:id', {
    schema: {
      tags: ['trash'], summary: 'Get a trash entry', operationId: 'getTrashEntry',
      params: trashParams,
      response: { 200: trashEntrySchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req) => entry(specOf(req.params), req.params.id));

  app.post('/trash/:id/restore', {
    schema: {
      tags: ['trash'], summary: 'Restore an image from the trash', operationId: 'restoreTrashEntry',
      description: 'Brings the image back (same id, same data) under its old name or `name`. 201 with its Location; '
        + '409 IMAGE_EXISTS when the name is taken; 409 TRASH_ENTRY_GONE when the entry was restored already (`restoredAs` '
        + 'names the image: also the answer to a retry whose first attempt succeeded) or removed while this request waited '
        + '(concurrent restores of one entry: exactly one 201); 409 OPERATION_IN_PROGRESS while a removal task holds it.',
      params: trashParams, body: restoreBody.nullable().optional(),
      response: { 201: z.record(z.string(), z.unknown()), ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
  }, async (req, reply) => {
    const spec = specOf(req.params);
    const id = validId(req.params.id);
    const name = req.body?.name;
    if (name !== undefined && !IMAGE_NAME_PATTERN.test(name)) {
      throw invalidField('body', 'name', IMAGE_NAME_RULE);
    }
    let restored: string;
    try {
      restored = await ceph.trash.restore(spec, id, name);
    } catch (e) {
      if (e instanceof TrashEntryGone) {
        throw new ApiError('TRASH_ENTRY_GONE', e.restoredAs !== undefined
          ? `Trash entry ${id} was restored as ${spec}/${e.restoredAs} by another request.`
          : `Trash entry ${id} was restored or removed by another request while this one waited for it.`,
        e.restoredAs !== undefined ? { restoredAs: e.restoredAs, image: imagePath(spec, e.restoredAs) } : {});
      }
      if (isCephError(e, 'ENOENT') && e.subject === 'trashEntry') throw notFound(spec, id);
      if (isCephError(e, 'EEXIST')) throw new ApiError('IMAGE_EXISTS', `An image named ${name ?? 'like the trashed one'} exists in ${spec}; restore it under another name.`, {}, e);
      if (isCephError(e, 'EBUSY')) throw new ApiError('OPERATION_IN_PROGRESS', `Trash entry ${id} is being removed or restored.`, {}, e);
      if (isCephError(e, 'EINVAL')) throw new ApiError('CONFLICT', `Trash entry ${id} cannot be restored (it is not a user deletion, e.g. a migration source).`, {}, e);
      throw e;
    }
    reply.code(201).header('location', imagePath(spec, restored));
    try {
      const { featureBits: _bits, ...image } = await ceph.images.stat(spec, restored);
      return image as unknown as Record<string, unknown>;
    } catch {
      return { name: restored, pool: spec, id };
    }
  });

  app.delete('/trash/:id', {
    schema: {
      tags: ['trash'], summary: 'Remove a trash entry for good', operationId: 'removeTrashEntry',
      description: '202 with the removal task. 409 TRASH_DEFERRED while the entry is deferred, unless `force=true`.',
      params: trashParams, querystring: z.object({ force: booleanQuery.optional() }),
      response: { 202: taskSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
  }, async (req, reply) => {
    const spec = specOf(req.params);
    const e = await entry(spec, req.params.id);
    const force = req.query.force === true;
    if (!force && Date.parse(e.deferredUntil) > Date.now()) {
      throw new ApiError('TRASH_DEFERRED', `Trash entry ${e.id} (${e.name}) is kept until ${e.deferredUntil}; send force=true to remove it now.`,
        { deferredUntil: e.deferredUntil });
    }
    return replyTask(reply, await ceph.trash.queueRemove(spec, e, 'trash.remove', force));
  });

  app.post('/trash/purge', {
    schema: {
      tags: ['trash'], summary: 'Remove every trash entry whose deferment has ended', operationId: 'purgeTrash',
      description: '202 with the purge task. Entries that cannot be removed (snapshots, still open) are skipped and listed in the task result. '
        + '`dryRun=true`: 200 with the entries it would try to remove; nothing changed.',
      params: scopeParams,
      querystring: z.object({ dryRun: dryRunQuery }),
      response: { 202: taskSchema, 200: dryRunSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req, reply) => {
    const spec = specOf(req.params);
    if (req.query.dryRun) return reply.code(200).send(await previewPurge(ceph, spec));
    await ceph.trash.list(spec); // 404 for a missing pool or namespace now, not in the task
    return replyTask(reply, await ceph.trash.queuePurge(spec));
  });
};
