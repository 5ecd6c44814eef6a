// /api/v1/pools/{pool}[/namespaces/{namespace}]/images/{image}/snapshots[/{snapshot}[/rollback]]
//
// Guards against librbd (docs/snapshots.md): names are validated before librbd sees them (it accepts '', '/',
// '@'); a delete looks at the snapshot's clones first (librbd would move a snapshot with clone-v2 children to
// its trash namespace and answer 0); a rollback looks at the image's watchers first (librbd only refuses a
// client that holds the exclusive lock, not one that merely has the image open).
import { previewRollback } from '../../ceph/dry-run.js';
import { dryRunSchema } from '../schemas/dry-run.js';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ChildInfo } from '../../ceph/clones.js';
import { isCephError, SnapshotHasChildrenError, SnapshotNotFoundError } from '../../ceph/errors.js';
import { ROLLBACK_ACTION } from '../../ceph/snapshot-tasks.js';
import { ImageLocks } from '../../ceph/image-locks.js';
import { Snapshots } from '../../ceph/snapshots.js';
import { visibleTo, type Principal } from '../auth.js';
import { ApiError } from '../errors.js';
import { imageInUse } from '../replies.js';
import { imagePath, specOf } from '../paths.js';
import { replyTask } from '../task-reply.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import { fittingItems, PAGE_BYTES } from '../page-bytes.js';
import { listingLimiter } from '../scan-limit.js';
import { imageParams, problems, SNAPSHOT_NAME_RULE } from '../schemas/common.js';
import {
  createSnapshotBody, patchSnapshotBody, rollbackQuery, SNAPSHOT_NAME_PATTERN, snapshotListQuery, snapshotListSchema, snapshotParams,
  snapshotSchema,
} from '../schemas/snapshots.js';
import { taskSchema } from '../schemas/tasks.js';
import { invalidField } from '../validation.js';

export const snapshotPath = (spec: string, image: string, snap: string): string =>
  `${imagePath(spec, image)}/snapshots/${encodeURIComponent(snap)}`;


/** "pool/ns/image, pool/image2" (at most 10, then "and N more"; `hidden` more the reader may not see). */
export function nameChildren(children: readonly ChildInfo[], hidden = 0): string {
  const names = children.map((c) => `${[c.pool, c.namespace, c.image].filter(Boolean).join('/')}${c.trash ? ' (in the trash)' : ''}`);
  const listed = names.length <= 10 ? names.join(', ') : `${names.slice(0, 10).join(', ')} and ${names.length - 10} more`;
  if (hidden === 0) return listed;
  const others = `${hidden} in pools or namespaces this token may not use`;
  return listed ? `${listed}, and ${others}` : others;
}

export const snapshotRoutes: FastifyPluginAsyncZod = async (app) => {
  const snapshots = new Snapshots(app.ceph);
  const locks = new ImageLocks(app.ceph);
  /** 409 naming the clones the caller may see; another tenant's are counted (`hiddenChildren`), not named. */
  const hasChildren = (principal: Principal | undefined, spec: string, image: string, snap: string, children: ChildInfo[], cause?: unknown): ApiError => {
    const { shown, hidden } = visibleTo(principal, children);
    return new ApiError('SNAPSHOT_HAS_CHILDREN',
      `Snapshot ${spec}/${image}@${snap} has ${children.length} clone(s): ${nameChildren(shown, hidden)}. Flatten or delete them first.`,
      { children: shown.map(({ pool, namespace, image: i, trash }) => ({ pool, namespace, image: i, trash })), ...(hidden ? { hiddenChildren: hidden } : {}) },
      isCephError(cause) ? cause : undefined);
  };

  app.get('/images/:image/snapshots', {
    schema: {
      tags: ['snapshots'], summary: "An image's snapshots", operationId: 'listSnapshots',
      description: 'User snapshots, oldest first. Snapshots librbd keeps for its own purposes (the trash namespace of '
        + 'clone format 2, mirroring, groups) are not listed. A page holds at most `limit` snapshots and '
        + `${PAGE_BYTES} bytes of JSON; \`nextCursor\` is given only when more follow. Listings are read a few at a time `
        + 'per replica; beyond the queue 503 CEPH_BUSY with Retry-After.',
      params: imageParams,
      querystring: snapshotListQuery,
      response: { 200: snapshotListSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req) => {
    const { limit, cursor } = req.query;
    let afterId: number | undefined;
    if (cursor !== undefined) {
      const id = decodeCursor(cursor);
      if (id === undefined || !/^[0-9]{1,15}$/.test(id)) throw invalidField('querystring', 'cursor', 'is not valid: pass nextCursor from a previous page');
      afterId = Number(id);
    }
    const page = await listingLimiter(app.ceph).limit(() => snapshots.list(specOf(req.params), req.params.image, { afterId, limit }));
    const n = fittingItems(page.items); // at most a page's bytes
    const more = page.more || n < page.items.length;
    return { items: page.items.slice(0, n), ...(more && n > 0 ? { nextCursor: encodeCursor(String(page.items[n - 1]!.id)) } : {}) };
  });

  app.post('/images/:image/snapshots', {
    schema: {
      tags: ['snapshots'], summary: 'Take a snapshot', operationId: 'createSnapshot',
      description: '201 with the snapshot; 409 SNAPSHOT_EXISTS when the name is taken (PUT …/snapshots/{snapshot} is the idempotent form).',
      params: imageParams,
      body: createSnapshotBody,
      response: { 201: snapshotSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
  }, async (req, reply) => {
    const spec = specOf(req.params);
    const { image } = req.params;
    const { name } = req.body;
    const info = await snapshots.createDescribed(spec, image, name);
    return reply.code(201).header('location', snapshotPath(spec, image, name)).send(info);
  });

  app.put('/images/:image/snapshots/:snapshot', {
    schema: {
      tags: ['snapshots'], summary: 'Take a snapshot unless it exists (idempotent)', operationId: 'putSnapshot',
      description: '201 when taken, 200 when a snapshot of that name exists. Safe to retry; concurrent calls for one '
        + 'name make one snapshot. No body.',
      params: snapshotParams,
      response: { 200: snapshotSchema, 201: snapshotSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req, reply) => {
    const spec = specOf(req.params);
    const { image, snapshot } = req.params;
    if (!SNAPSHOT_NAME_PATTERN.test(snapshot)) {
      // a name the API does not create (librbd would): an existing one (made with the CLI) is shown, and for a
      // missing one saying why beats a 404
      try {
        const info = await snapshots.get(spec, image, snapshot);
        return reply.code(200).header('location', snapshotPath(spec, image, snapshot)).send(info);
      } catch (e) {
        if (e instanceof SnapshotNotFoundError) throw invalidField('params', 'snapshot', SNAPSHOT_NAME_RULE);
        throw e;
      }
    }
    const { created, info } = await snapshots.ensure(spec, image, snapshot);
    return reply.code(created ? 201 : 200).header('location', snapshotPath(spec, image, snapshot)).send(info);
  });

  app.get('/images/:image/snapshots/:snapshot', {
    schema: {
      tags: ['snapshots'], summary: 'One snapshot', operationId: 'getSnapshot',
      params: snapshotParams,
      response: { 200: snapshotSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req) => snapshots.get(specOf(req.params), req.params.image, req.params.snapshot));

  app.patch('/images/:image/snapshots/:snapshot', {
    schema: {
      tags: ['snapshots'], summary: 'Rename, protect or unprotect a snapshot', operationId: 'patchSnapshot',
      description: '`name` renames (409 SNAPSHOT_EXISTS when taken); `protected` protects or unprotects (no change '
        + 'when it already is as asked). Unprotecting a snapshot that has clones: 409 SNAPSHOT_HAS_CHILDREN naming '
        + 'them. Clones made by this API (clone format 2) never need a protected snapshot.',
      params: snapshotParams,
      body: patchSnapshotBody,
      response: { 200: snapshotSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
  }, async (req, reply) => {
    const spec = specOf(req.params);
    const { image, snapshot } = req.params;
    const { name, protected: protect } = req.body;
    try {
      const info = await snapshots.patch(spec, image, snapshot, { name, protected: protect });
      return reply.header('location', snapshotPath(spec, image, info.name)).send(info);
    } catch (e) {
      if (e instanceof SnapshotHasChildrenError) throw hasChildren(req.principal, spec, image, e.snapshot, e.children, e);
      throw e;
    }
  });

  app.delete('/images/:image/snapshots/:snapshot', {
    schema: {
      tags: ['snapshots'], summary: 'Delete a snapshot', operationId: 'deleteSnapshot',
      description: '409 SNAPSHOT_HAS_CHILDREN (naming the clones) while clones depend on it; 409 SNAPSHOT_PROTECTED '
        + 'while protected. Never flattens or unprotects anything on its own.',
      params: snapshotParams,
      response: { 204: z.null().describe('deleted'), ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
  }, async (req, reply) => {
    const spec = specOf(req.params);
    const { image, snapshot } = req.params;
    try {
      await snapshots.remove(spec, image, snapshot);
    } catch (e) {
      if (e instanceof SnapshotHasChildrenError) throw hasChildren(req.principal, spec, image, e.snapshot, e.children, e);
      if (isCephError(e, 'EBUSY') && e.subject === 'snapshot') {
        throw new ApiError('SNAPSHOT_PROTECTED',
          `Snapshot ${spec}/${image}@${snapshot} is protected; PATCH it with {"protected": false} first.`, {}, e);
      }
      throw e;
    }
    return reply.code(204).send(null);
  });

  app.post('/images/:image/snapshots/:snapshot/rollback', {
    schema: {
      tags: ['snapshots'], summary: 'Roll an image back to a snapshot (a task)', operationId: 'rollbackSnapshot',
      description: 'Overwrites every block written since the snapshot: needs `?confirm=<image name>` (400 '
        + 'CONFIRMATION_REQUIRED without it). Refused with 409 IMAGE_IN_USE while a client has the image open '
        + '(rolling back under a mounted filesystem corrupts it). Answers 202 with the task (`Location: /api/v1/tasks/{id}`): '
        + 'progress, cancel and the outcome are there; the snapshot is kept.',
      params: snapshotParams,
      querystring: rollbackQuery,
      response: { 202: taskSchema, 200: dryRunSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
  }, async (req, reply) => {
    const spec = specOf(req.params);
    const { image, snapshot } = req.params;
    if (req.query.dryRun) return reply.code(200).send(await previewRollback(app.ceph, spec, image, snapshot));
    if (req.query.confirm !== image) {
      throw new ApiError('CONFIRMATION_REQUIRED',
        `Rolling ${spec}/${image} back to ${snapshot} overwrites everything written since; repeat with ?confirm=${encodeURIComponent(image)}.`);
    }
    await snapshots.find(spec, image, snapshot); // 404 before a task is made
    const info = await app.ceph.images.stat(spec, image);
    const watchers = info.watchers ?? [];
    if (watchers.length > 0) {
      throw imageInUse(spec, image, watchers, 'before rolling back', undefined, await locks.owners(spec, image).catch(() => []));
    }
    const task = await app.ceph.tasks.submit(ROLLBACK_ACTION,
      { pool: req.params.pool, namespace: req.params.namespace ?? '', image, imageId: info.id, snapshot });
    return replyTask(reply, task);
  });
};
