// /api/v1/pools/{pool}[/namespaces/{namespace}]/images/{image}: create, idempotent PUT, get, resize, delete
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { CreateImageOptions, ImageInfo } from '../../ceph/images.js';
import { toImage } from '../image-view.js';
import { CephError, isCephError, isMissingInScope } from '../../ceph/errors.js';
import { heldState, type DanglingName } from '../../ceph/pool-guard.js';
import { featureBits, CREATABLE_FEATURES } from '../../ceph/features.js';
import { allows, allowsPool, type Principal } from '../auth.js';
import { ApiError } from '../errors.js';
import { imageInUse } from '../replies.js';
import { cloneHandlers } from './clones.js';
import { deleteViaTrash, keepForQuery, parseKeepFor } from './trash.js';
import { imageKey, mutationLocks, type MutationKey } from '../../ceph/image-lock.js';
import type { StillRunning } from '../../ceph/client.js';
import { imagePath, specOf } from '../paths.js';
import { patchImage } from './image-patch.js';
import { patchImageBody, patchedImageSchema, patchTaskSchema } from '../schemas/image-patch.js';
import { IMAGE_NAME_PATTERN, IMAGE_NAME_RULE, imageParams, problems, scopeParams } from '../schemas/common.js';
import {
  imageSchema, type ImageSpecInput, createImageOrCloneBody, putImageOrCloneBody,
} from '../schemas/images.js';
import { invalidField } from '../validation.js';

const createdImageSchema = z.union([
  imageSchema,
  z.object({ name: z.string(), pool: z.string(), size: z.number().int() }).strict()
    .meta({ id: 'ImageCreated', description: 'the answer to `Prefer: return=minimal`' }),
]);
const preferHeaders = z.object({
  prefer: z.string().max(1024).optional().describe('`return=minimal`: answer a create with {name, pool, size} only (faster)'),
}).loose();
/** RFC 7240: Prefer: return=minimal (among other preferences, any case). */
const wantsMinimal = (prefer: string | undefined): boolean =>
  prefer !== undefined && prefer.split(/[,;]/).some((p) => p.trim().toLowerCase() === 'return=minimal');

/** 201 with `{name, pool, size}` only: the image is not opened again to answer. */
const sendMinimal = (reply: FastifyReply, pool: string, name: string, size: number) =>
  reply.code(201).header('location', imagePath(pool, name)).header('preference-applied', 'return=minimal')
    .send({ name, pool, size });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const imageRoutes: FastifyPluginAsyncZod = async (app) => {
  const { ceph } = app;
  const cloning = cloneHandlers(app, {
    toImage, exclusive: (p, n, fn, also) => exclusive(p, n, fn, also), confirm: async (p, n) => { await confirmCreated(p, n, true); }, sendMinimal,
  }); // `source` in a body: a clone (routes/clones.ts)
  // Every write to one (pool spec, name) — POST, PUT, PATCH, DELETE — holds the image's mutation lock
  // (src/ceph/image-lock.ts: this process and every replica), with a bounded wait (503 CEPH_BUSY beyond it):
  // librbd's create/open/remove of one name at once leave half-made images and stuck calls (docs/concurrency.md).
  const locks = mutationLocks(ceph);
  /** the first PUT of each name in flight: PUTs of that name arriving meanwhile wait for it (it never rejects) */
  const putsInFlight = new Map<string, Promise<void>>();

  // A token limited to some pools may not resize or delete an image whose data live in a pool (its data
  // pool) the token may not use: those writes change or destroy data there. Checked once the route is known.
  app.addHook('preHandler', async (req) => {
    const principal = req.principal;
    if (!principal || principal.pools === undefined || (req.method !== 'PATCH' && req.method !== 'DELETE')) return;
    if (!req.routeOptions.url?.endsWith('/images/:image')) return;
    const params = req.params as { pool: string; namespace?: string; image: string };
    const info = await ceph.images.stat(specOf(params), params.image).catch(() => undefined);
    if (info?.dataPool && !allows(principal, info.dataPool, params.namespace)) {
      throw new ApiError('FORBIDDEN', `This token may not use pool "${info.dataPool}", where the data of ${specOf(params)}/${params.image} live (its data pool).`);
    }
  });
  // Work on a name whose request got its deadline (504) while librbd went on: until it really ends, other
  // writes to that name get 409 OPERATION_IN_PROGRESS (not a contradiction such as IMAGE_IN_USE without watchers).
  const stillRunning = new Map<string, { since: string }>();
  const inProgress = (key: string, pool: string, image: string): ApiError | undefined => {
    const o = stillRunning.get(key);
    return o && new ApiError('OPERATION_IN_PROGRESS',
      `An earlier request on ${pool}/${image} timed out (504) at ${o.since}, but its Ceph operation is still running; retry once it has ended.`,
      { since: o.since });
  };
  const exclusive = <T>(pool: string, image: string, fn: () => Promise<T>, also: readonly MutationKey[] = []): Promise<T> => {
    const key = `${pool}\0${image}`;
    const busy = inProgress(key, pool, image);
    if (busy) return Promise.reject(busy);
    // a call past its deadline — in the work or in taking the lock itself (a RADOS lock on a stuck OSD) — marks
    // the name until that call really ends
    return locks.run([imageKey(pool, image), ...also], async () => {
      const late = inProgress(key, pool, image);
      if (late) throw late;
      return fn();
    }).catch((e: unknown) => {
      const pending = (e as StillRunning).pending;
      if (isCephError(e, 'ETIMEDOUT', 'EAGAIN') && pending && !stillRunning.has(key)) {
        stillRunning.set(key, { since: new Date().toISOString() });
        void pending.finally(() => stillRunning.delete(key));
      }
      throw e;
    });
  };

  /**
   * Before acknowledging a create (201) or an existing image (PUT 200): a delete of the pool that began
   * meanwhile must see the image or refuse it (src/ceph/pool-guard.ts). Removes an image this request made.
   * Returns the image's id (read on the way) when it could be read.
   */
  async function confirmCreated(pool: string, name: string, madeHere: boolean): Promise<string | undefined> {
    const { verdict, id } = await ceph.pools.guard.afterCreate(pool, name);
    if (verdict === undefined) return id;
    if (madeHere) await ceph.images.remove(pool, name).catch(() => undefined);
    if (verdict === 'deleting') {
      throw new ApiError('POOL_BEING_DELETED',
        `Pool ${pool.split('/')[0]} is being deleted; ${pool}/${name} was ${madeHere ? 'not kept' : 'not confirmed'}. Retry once the delete has finished.`);
    }
    throw new ApiError('CONFLICT', `${pool}/${name} (or its pool) was removed by another request while it was being created; retry.`);
  }

  /**
   * After EEXIST: is the name a whole image, or a leftover (listed, but the id object or header is missing)
   * of an interrupted create or delete? A create in progress elsewhere passes through such states for
   * milliseconds, so a leftover must persist for a while to count.
   */
  async function leftover(pool: string, name: string): Promise<DanglingName | undefined> {
    const held = await heldState(async () => {
      const state = await ceph.pools.guard.nameState(pool, name);
      return state.kind === 'dangling' ? state : undefined;
    }, () => true);
    return held === 'changed' ? undefined : held;
  }

  /** Remove a leftover: rbd_remove (finds it through rbd_directory), then the stray id object. */
  async function removeLeftover(pool: string, name: string): Promise<void> {
    // a name the directory does not list: rbd_remove would open the image its stray id object names — another
    // name's image, when a restore or rename was cut short — and delete it. Only the stray object goes (as DELETE)
    const unlisted = await ceph.pools.guard.nameState(pool, name);
    if (unlisted.kind === 'dangling' && unlisted.listedId === undefined) {
      await ceph.pools.guard.removeStrayId(pool, name, unlisted);
      return;
    }
    await ceph.images.remove(pool, name).catch((e: unknown) => {
      if (!isCephError(e, 'ENOENT', 'ESTALE')) throw e;
    });
    const state = await ceph.pools.guard.nameState(pool, name);
    if (state.kind === 'dangling') await ceph.pools.guard.removeStrayId(pool, name, state);
  }

  /** The image was made (or found) a moment ago and is gone now: another replica removed it. Retryable. */
  const vanished = (e: unknown, pool: string, name: string): unknown =>
    (isMissingInScope(e)
      ? new ApiError('CONFLICT', `${pool}/${name} was removed by another request right after this one made or found it; retry.`, {}, e)
      : e);

  /** 409 saying which of the name's objects the pool guard found, and which is missing or disagrees. */
  const incomplete = (pool: string, name: string, { listedId, idObject }: DanglingName): ApiError => {
    const what = listedId === undefined
      ? `is not listed in the pool's directory, but a stray id object rbd_id.${name} (naming image id ${idObject}) remains`
      : idObject === undefined ? `is listed in the pool's directory (image id ${listedId}), but its id object rbd_id.${name} is missing`
        : idObject !== listedId ? `is listed in the pool's directory as image id ${listedId}, but its id object rbd_id.${name} names image id ${idObject}`
          : `is listed in the pool's directory and has its id object (image id ${listedId}), but the image header rbd_header.${listedId} is missing`;
    return new ApiError('IMAGE_INCOMPLETE', `${pool}/${name} ${what}: the leftover of an interrupted create, delete, rename or restore. `
      + 'DELETE it, or PUT it to remove the leftover and create the image.',
    { image: name, ...(listedId !== undefined ? { listedId } : {}), ...(idObject !== undefined ? { idObject } : {}) });
  };

  async function createOptions(spec: ImageSpecInput, principal: Principal | undefined): Promise<CreateImageOptions> {
    if (spec.dataPool !== undefined && principal && !allowsPool(principal, spec.dataPool)) {
      throw new ApiError('FORBIDDEN', `This token may not use pool "${spec.dataPool}" (dataPool).`);
    }
    if (spec.dataPool !== undefined && !(await ceph.pools.exists(spec.dataPool))) {
      throw invalidField('body', 'dataPool', `pool "${spec.dataPool}" does not exist`);
    }
    return {
      features: spec.features ? featureBits(spec.features) : undefined,
      order: spec.objectSize ? Math.log2(spec.objectSize) : undefined,
      stripeUnit: spec.stripeUnit,
      stripeCount: spec.stripeCount,
      dataPool: spec.dataPool,
    };
  }

  /** Stat an image that was just created, by us or by a concurrent creator still finishing. */
  async function statSettled(pool: string, name: string): Promise<ImageInfo> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await ceph.images.stat(pool, name);
      } catch (e) {
        if (attempt >= 20 || !isCephError(e, 'ENOENT') || e.op === 'rados_ioctx_create') throw e;
        await sleep(50 + attempt * 25);
      }
    }
  }

  app.post('/images', {
    schema: {
      tags: ['images'], summary: 'Create an image', operationId: 'createImage',
      params: scopeParams,
      description: 'Answers 201 with the new image (or clone, with `source`). With `Prefer: return=minimal` (RFC 7240) the answer is only '
        + '`{name, pool, size}`: the image is not opened again, which makes bulk creation faster.',
      headers: preferHeaders,
      body: createImageOrCloneBody,
      response: { 201: createdImageSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
  }, async (req, reply) => {
    const pool = specOf(req.params);
    if ('source' in req.body) {
      return cloning.provision({ spec: pool, name: req.body.name, body: req.body, principal: req.principal, idempotent: false,
        minimal: wantsMinimal(typeof req.headers.prefer === 'string' ? req.headers.prefer : undefined) }, reply);
    }
    const { name, ...spec } = req.body;
    const options = await createOptions(spec, req.principal);
    return exclusive(pool, name, async () => {
      try {
        await ceph.images.create(pool, name, spec.size, options);
      } catch (e) {
        const left = isCephError(e, 'EEXIST') ? await leftover(pool, name) : undefined;
        if (left) throw incomplete(pool, name, left);
        throw e;
      }
      const id = await confirmCreated(pool, name, true);
      if (wantsMinimal(req.headers.prefer)) {
        return sendMinimal(reply, pool, name, spec.size);
      }
      const info = await ceph.images.describeNew(pool, name, id) // no open: one header read (the guard read the id)
        .catch((e: unknown) => { throw vanished(e, pool, name); });
      return reply.code(201).header('location', imagePath(pool, name)).send(toImage(info, req.principal));
    });
  });

  app.put('/images/:image', {
    schema: {
      tags: ['images'],
      summary: 'Create an image if it does not exist (idempotent)',
      description: '201 when created; 200 when it already exists with the same size and the options given; '
        + '409 IMAGE_SPEC_CONFLICT otherwise. Safe to retry; concurrent calls for one name make one image. '
        + 'With `Prefer: return=minimal` a 201 (a new image or clone) is only `{name, pool, size}`; a 200 is always the full image.',
      operationId: 'putImage',
      params: imageParams,
      headers: preferHeaders,
      body: putImageOrCloneBody,
      response: { 200: imageSchema, 201: createdImageSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
  }, async (req, reply) => {
    const pool = specOf(req.params);
    const { image } = req.params;
    const spec = req.body;
    if ('source' in spec) {
      return cloning.provision({ spec: pool, name: image, body: spec, principal: req.principal, idempotent: true,
        minimal: wantsMinimal(typeof req.headers.prefer === 'string' ? req.headers.prefer : undefined) }, reply);
    }
    // A burst of PUTs of one name (a provisioner and its retries) must not queue 200 writes deep behind the
    // name's lock: the first PUT in flight does the work; the others wait for it, then find the image whole
    // and as asked and confirm it without the lock. Anything else — missing, half-made, different, a write
    // still running — takes the locked path, which gives the precise answer.
    const key = `${pool}\0${image}`;
    const ahead = putsInFlight.get(key);
    let finished: () => void = () => undefined;
    if (ahead) await ahead;
    else putsInFlight.set(key, new Promise<void>((resolve) => { finished = resolve; }));
    try {
      return await putImage(req, reply, pool, image, spec, key);
    } finally {
      if (!ahead) {
        putsInFlight.delete(key);
        finished();
      }
    }
  });

  async function putImage(req: FastifyRequest, reply: FastifyReply, pool: string, image: string, spec: ImageSpecInput, key: string) {
    const options = IMAGE_NAME_PATTERN.test(image) ? await createOptions(spec, req.principal) : undefined;
    if (!inProgress(key, pool, image)) {
      // a cluster that does not answer is the answer (one deadline, not two); anything else — missing,
      // half-made — is for the locked path to tell precisely
      const unanswered = (e: unknown): undefined => {
        if (e instanceof CephError && (e.code === 'ETIMEDOUT' || e.kind === 'busy' || e.kind === 'closed')) throw e;
        return undefined;
      };
      // one read of rbd_id.<name> first: a new name (the hook's usual case) costs no librbd open, which builds
      // an image context even to fail; only an image that has an id is opened and compared
      const id = await ceph.images.imageId(pool, image).catch(unanswered);
      const existing = id === undefined ? undefined : await ceph.images.stat(pool, image).catch(unanswered);
      if (existing && specDifferences(existing, spec).length === 0) {
        await confirmCreated(pool, image, false);
        return reply.code(200).header('location', imagePath(pool, image)).send(toImage(existing, req.principal));
      }
    }
    return exclusive(pool, image, async () => {
      let created = false;
      let raced = false;
      if (options) {
        try {
          await ceph.images.create(pool, image, spec.size, options);
          created = true;
        } catch (e) {
          if (!isCephError(e, 'EEXIST')) throw e;
          raced = true;
        }
        if (raced && await leftover(pool, image)) {
          // repair: remove the leftover, then create
          await removeLeftover(pool, image);
          await ceph.images.create(pool, image, spec.size, options);
          created = true;
          raced = false;
        }
      }
      const id = created ? await confirmCreated(pool, image, true) : undefined;
      if (created && wantsMinimal(typeof req.headers.prefer === 'string' ? req.headers.prefer : undefined)) {
        return sendMinimal(reply, pool, image, spec.size);
      }
      let info: ImageInfo;
      try {
        // after EEXIST another creator may still be writing the image's header: wait for it to settle
        info = created ? await ceph.images.describeNew(pool, image, id) // no open: one header read
          : raced ? await statSettled(pool, image) : await ceph.images.stat(pool, image);
      } catch (e) {
        if (!created && !raced && isCephError(e, 'ENOENT') && e.op !== 'rados_ioctx_create') {
          throw invalidField('params', 'image', IMAGE_NAME_RULE);
        }
        throw vanished(e, pool, image);
      }
      if (!created) {
        const diff = specDifferences(info, spec);
        if (diff.length > 0) {
          throw new ApiError('IMAGE_SPEC_CONFLICT', `Image ${pool}/${image} exists with a different specification: ${diff.join('; ')}.`,
            { differences: diff });
        }
        await confirmCreated(pool, image, false);
      }
      return reply.code(created ? 201 : 200).header('location', imagePath(pool, image)).send(toImage(info, req.principal));
    });
  }

  app.get('/images/:image', {
    schema: {
      tags: ['images'], summary: 'Get an image', operationId: 'getImage',
      params: imageParams,
      response: { 200: imageSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
  }, async (req) => {
    const pool = specOf(req.params);
    try {
      const info = await ceph.images.stat(pool, req.params.image);
      // librbd opens by the id object alone; a rename killed between its steps leaves one for the name the
      // directory does not list (PATCH's retry finishes it): the image is not there under this name
      const listedId = await ceph.pools.guard.listedId(pool, req.params.image);
      if (listedId !== info.id) {
        // listed, but as another image than the id object names: a leftover, as POST says (once the state has held)
        const left = listedId !== undefined ? await leftover(pool, req.params.image) : undefined;
        if (left) throw incomplete(pool, req.params.image, left);
        throw new ApiError('IMAGE_NOT_FOUND', `Image ${pool}/${req.params.image} does not exist (a stray id object of an interrupted rename or restore names it).`);
      }
      return toImage(info, req.principal);
    } catch (e) {
      // listed but not openable: say so (409 IMAGE_INCOMPLETE, as POST does) instead of a 404 that contradicts listings
      const left = isCephError(e, 'ENOENT') && e.op.startsWith('rbd_open') ? await leftover(pool, req.params.image) : undefined;
      if (left) throw incomplete(pool, req.params.image, left);
      throw e;
    }
  });

  app.patch('/images/:image', {
    schema: {
      tags: ['images'], summary: 'Rename, resize or change the features of an image', operationId: 'resizeImage',
      description: 'Any of `name` (rename in the same pool and namespace; 409 IMAGE_EXISTS when taken; the answer\'s '
        + '`Location` is the new URL), `size` (growing is always allowed; shrinking discards data beyond the new size and '
        + 'needs `allowShrink: true`) and `features` (the complete set wanted; 400 FEATURE_NOT_CHANGEABLE for what librbd '
        + 'cannot change at runtime). Every change is validated before any is applied; `applied` says what was done. '
        + 'A shrink of an image without object-map (or one that cuts off more than 262144 objects) runs as the `image.shrink` task, and the rebuild of an object map switched '
        + 'on for an image of more than 8192 objects as `image.object-map-rebuild`: 202 with the task (the other changes done). '
        + 'A rename is not idempotent by name: retried after it succeeded (a lost answer), it is 404 IMAGE_NOT_FOUND for the '
        + 'old name — GET the new one. A rename whose process died between librbd\'s steps (the image reachable under both '
        + 'names) is finished by the next PATCH asking for it: 200 with the image under the new name.',
      params: imageParams,
      body: patchImageBody,
      response: { 200: patchedImageSchema, 202: patchTaskSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
  }, async (req, reply) => exclusive(specOf(req.params), req.params.image, async () => {
    const out = await patchImage(ceph, specOf(req.params), req.params.image, req.body, req.principal);
    if (out.status === 202) return reply.code(202).header('location', out.location).send(out.body);
    if (out.location) void reply.header('location', out.location);
    return reply.code(200).send(out.body);
  }, req.body.name !== undefined ? [imageKey(specOf(req.params), req.body.name)] : [])); // a rename holds the new name too

  app.delete('/images/:image', {
    schema: {
      tags: ['images'], summary: 'Delete an image', operationId: 'deleteImage',
      description: 'Refused (409) while the image is open by a client or has snapshots; snapshots are never deleted silently. '
        + 'The image moves to the trash (its name is free at once) and its removal runs as a task: the answer carries '
        + '`Link: </api/v1/tasks/{id}>; rel="monitor"`. With `keepFor` (e.g. `30m`, `12h`, `7d`, `1y`; 1m to 1y) it stays '
        + 'in the trash, restorable, for that long (`Link: <…/trash/{id}>; rel="related"`).',
      params: imageParams,
      querystring: keepForQuery,
      response: { 204: z.null().describe('deleted'), ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
  }, async (req, reply) => exclusive(specOf(req.params), req.params.image, async () => {
    const pool = specOf(req.params);
    const { image } = req.params;
    // a name rbd_directory does not list but an id object names (a rename killed between librbd's steps left
    // it: the image lives on under its other name): librbd would find the image through that object and
    // delete it. Only the stray object goes, once the state has held ~2 s (a live rename passes in ms)
    const stray = await ceph.pools.guard.listedId(pool, image) === undefined ? await leftover(pool, image) : undefined;
    if (stray && stray.listedId === undefined) {
      await ceph.pools.guard.removeStrayId(pool, image, stray);
      return reply.code(204).send(null);
    }
    // through the trash (routes/trash.ts); an image that is not there falls through to the leftover check below
    if (await deleteViaTrash(ceph, reply, pool, image, parseKeepFor(req.query.keepFor))) return reply;
    try {
      await removeImage(pool, image);
    } catch (e) {
      if (isCephError(e, 'EBUSY')) {
        const info = await ceph.images.stat(pool, image).catch(() => undefined);
        throw imageInUse(pool, image, info?.watchers ?? [], 'first', e);
      }
      if (isCephError(e, 'ENOTEMPTY')) {
        const info = await ceph.images.stat(pool, image).catch(() => undefined);
        throw new ApiError('IMAGE_HAS_SNAPSHOTS',
          `Image ${pool}/${image} has ${info?.snapshotCount ?? 'some'} snapshot(s); delete them first.`,
          { snapshotCount: info?.snapshotCount }, e);
      }
      throw e;
    }
    return reply.code(204).send(null);
  }));

  /** rbd_remove; ESTALE (the name was remade under us) is retried once; a leftover is cleaned up (204). */
  async function removeImage(pool: string, image: string): Promise<void> {
    try {
      await ceph.images.remove(pool, image);
    } catch (e) {
      if (isCephError(e, 'ESTALE')) {
        await sleep(50);
        await ceph.images.remove(pool, image);
        return;
      }
      if (isMissingInScope(e)) {
        const state = await ceph.pools.guard.nameState(pool, image);
        if (state.kind === 'dangling') {
          await ceph.pools.guard.removeStrayId(pool, image, state);
          return;
        }
      }
      throw e;
    }
  }
};

/** What differs between an existing image and a requested spec (only the options the caller gave). */
export function specDifferences(info: ImageInfo, spec: ImageSpecInput): string[] {
  const d: string[] = [];
  if (info.size !== spec.size) d.push(`size is ${info.size}, requested ${spec.size}`);
  if (spec.objectSize !== undefined && info.objectSize !== spec.objectSize) d.push(`objectSize is ${info.objectSize}, requested ${spec.objectSize}`);
  if (spec.stripeUnit !== undefined && info.stripeUnit !== spec.stripeUnit) d.push(`stripeUnit is ${info.stripeUnit}, requested ${spec.stripeUnit}`);
  if (spec.stripeCount !== undefined && info.stripeCount !== spec.stripeCount) d.push(`stripeCount is ${info.stripeCount}, requested ${spec.stripeCount}`);
  if (spec.dataPool !== undefined && info.dataPool !== spec.dataPool) d.push(`dataPool is ${info.dataPool ?? 'none'}, requested ${spec.dataPool}`);
  if (spec.features !== undefined) {
    const want = new Set<string>(spec.features);
    const have = new Set(info.features);
    // librbd adds "striping" by itself for non-default stripe settings; compare it only when asked for
    const mismatched = CREATABLE_FEATURES.filter((f) => (f === 'striping' ? want.has(f) && !have.has(f) : want.has(f) !== have.has(f)));
    if (mismatched.length > 0) d.push(`features are [${info.features.join(', ')}], requested [${spec.features.join(', ')}]`);
  }
  return d;
}
