// Clones over HTTP: the `source` branch of POST /images and PUT /images/{image} (called from images.ts),
// GET …/images/{image}/children and POST …/images/{image}/flatten.
//
// Making a clone is several steps inside librbd (create the child, link it to its parent, register it with the
// parent). A process killed between them leaves a half-made image that looks like an ordinary one. So before
// rbd_clone3 an intent record names the clone's source (rbdapi_clone_intent.<name>, next to the image); it is
// removed once the clone is whole. A PUT that finds a record of an earlier attempt checks the image: a whole
// clone of that source is answered 200; anything less is removed and the clone made again (201).
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { Clones, compareChildren, type CloneIntent, type CloneSource } from '../../ceph/clones.js';
import { CephError, isCephError, isMissingScope } from '../../ceph/errors.js';
import { featureBits } from '../../ceph/features.js';
import type { ImageInfo } from '../../ceph/images.js';
import { FLATTEN_ACTION } from '../../ceph/snapshot-tasks.js';
import { Snapshots } from '../../ceph/snapshots.js';
import { poolSpec, splitPoolSpec } from '../../ceph/connection.js';
import { allows, visibleTo, type Principal } from '../auth.js';
import { ApiError, fromCephError } from '../errors.js';
import { imageKey, mutationLocks, type MutationKey } from '../../ceph/image-lock.js';
import { parentText } from '../image-view.js';
import { imagePath, specOf } from '../paths.js';
import { replyTask } from '../task-reply.js';
import { taskSchema } from '../schemas/tasks.js';
import { imageParams, problems } from '../schemas/common.js';
import type { CloneSpecInput } from '../schemas/images.js';
import { childrenListQuery, childrenListSchema } from '../schemas/snapshots.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import { fittingItems, PAGE_BYTES } from '../page-bytes.js';
import { listingLimiter } from '../scan-limit.js';
import { invalidField } from '../validation.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** an intent record younger than this may belong to a clone still being made by another instance */
const INTENT_SETTLE_MS = 3000;
/** an image created this long before an intent record was written is not that attempt's */
const CLOCK_SKEW_MS = 5000;

export interface CloneRequest {
  /** pool spec of the new image */
  spec: string;
  name: string;
  body: CloneSpecInput;
  principal: Principal | undefined;
  /** PUT: an existing clone of the same snapshot with the same options answers 200; POST: 409 */
  idempotent: boolean;
  /** `Prefer: return=minimal`: a new clone is answered by hooks.sendMinimal */
  minimal?: boolean;
}

export interface CloneHooks {
  /** run `fn` holding the mutation lock of (pool spec, name) and of `also` (images.ts' wrapper; default: the locks alone) */
  exclusive?: <T>(spec: string, name: string, fn: () => Promise<T>, also?: readonly MutationKey[]) => Promise<T>;
  /** called after a clone was made and before it is acknowledged (images.ts' pool-delete guard) */
  confirm?: (spec: string, name: string) => Promise<void>;
  toImage: (info: ImageInfo, principal: Principal | undefined) => unknown;
  /** 201 with `{name, pool, size}` only (images.ts' answer to `Prefer: return=minimal`) */
  sendMinimal?: (reply: FastifyReply, spec: string, name: string, size: number) => FastifyReply;
}

/** The source of a clone as a pool spec, defaults applied (see cloneSourceSchema). */
export function resolveSource(targetSpec: string, source: CloneSpecInput['source']): CloneSource {
  const target = splitPoolSpec(targetSpec);
  const pool = source.pool ?? target.pool;
  const namespace = source.namespace ?? (source.pool === undefined ? target.namespace : '');
  return { spec: poolSpec(pool, namespace), image: source.image, snapshot: source.snapshot };
}

const sourceText = (s: CloneSource): string => `${s.spec}/${s.image}@${s.snapshot}`;

/** What differs between an existing image and a requested clone (only what the caller gave). */
export function cloneDifferences(info: ImageInfo, source: CloneSource, body: CloneSpecInput, principal?: Principal): string[] {
  const d: string[] = [];
  const p = info.parent;
  const have = p ? parentText(p, principal) : undefined; // another tenant's snapshot is not named
  if (have !== sourceText(source)) d.push(`source is ${have ?? 'none (not a clone)'}, requested ${sourceText(source)}`);
  if (body.size !== undefined && info.size !== body.size) d.push(`size is ${info.size}, requested ${body.size}`);
  if (body.objectSize !== undefined && info.objectSize !== body.objectSize) d.push(`objectSize is ${info.objectSize}, requested ${body.objectSize}`);
  if (body.stripeUnit !== undefined && info.stripeUnit !== body.stripeUnit) d.push(`stripeUnit is ${info.stripeUnit}, requested ${body.stripeUnit}`);
  if (body.stripeCount !== undefined && info.stripeCount !== body.stripeCount) d.push(`stripeCount is ${info.stripeCount}, requested ${body.stripeCount}`);
  if (body.dataPool !== undefined && info.dataPool !== body.dataPool) d.push(`dataPool is ${info.dataPool ?? 'none'}, requested ${body.dataPool}`);
  if (body.features !== undefined) {
    // clone format 2 adds "operations" by itself
    const have2 = info.features.filter((f) => f !== 'operations').sort();
    const want = [...body.features].sort();
    if (have2.join() !== want.join()) d.push(`features are [${info.features.join(', ')}], requested [${body.features.join(', ')}]`);
  }
  return d;
}

export function cloneHandlers(app: FastifyInstance, hooks: CloneHooks) {
  const { ceph } = app;
  const clones = new Clones(ceph);
  const snapshots = new Snapshots(ceph);
  /** clones of one name in flight in this process: later requests wait for the first instead of queueing */
  const inFlight = new Map<string, Promise<boolean>>();
  const exclusive = hooks.exclusive ?? (<T>(spec: string, name: string, fn: () => Promise<T>, also: readonly MutationKey[] = []) =>
    mutationLocks(ceph).run([imageKey(spec, name), ...also], fn));

  /** 403 when the token may not read the source's pool (namespace). */
  function checkAccess(source: CloneSource, principal: Principal | undefined): void {
    const { pool, namespace } = splitPoolSpec(source.spec);
    if (principal && !allows(principal, pool, namespace)) {
      throw new ApiError('FORBIDDEN', `This token may not use ${namespace ? `namespace "${namespace}" of pool "${pool}"` : `pool "${pool}"`} (the clone source).`);
    }
  }

  /** The source snapshot's size; 404 naming what is missing (pool, namespace, image or snapshot). */
  async function sourceSize(source: CloneSource): Promise<number> {
    const { pool } = splitPoolSpec(source.spec);
    try {
      return (await snapshots.find(source.spec, source.image, source.snapshot)).size;
    } catch (e) {
      if (!(e instanceof CephError)) throw e;
      const api = fromCephError(e);
      const what = api.code === 'POOL_NOT_FOUND' ? `pool ${pool}` : api.code === 'NAMESPACE_NOT_FOUND' ? `namespace ${source.spec}`
        : api.code === 'IMAGE_NOT_FOUND' ? `image ${source.spec}/${source.image}` : api.code === 'SNAPSHOT_NOT_FOUND' ? `snapshot ${sourceText(source)}` : undefined;
      if (!what) throw e;
      throw new ApiError(api.code, `The clone source ${what} does not exist.`, { source: { spec: source.spec, image: source.image, snapshot: source.snapshot } }, e);
    }
  }

  /**
   * What an attempt recorded by `intent` left at `name`: nothing readable ('partial' too: rbd_remove cleans a
   * half-made image), a whole clone of its source, or an image made before the attempt started ('foreign':
   * never ours to remove).
   */
  async function leftBy(spec: string, name: string, intent: CloneIntent): Promise<'partial' | 'whole' | 'foreign'> {
    let info: ImageInfo;
    try {
      info = await ceph.images.stat(spec, name);
    } catch (e) {
      if (isCephError(e, 'ENOENT') && e.op !== 'rados_ioctx_create') return 'partial';
      throw e;
    }
    const started = Date.parse(intent.startedAt);
    if (Number.isFinite(started) && Date.parse(info.createdAt) < started - CLOCK_SKEW_MS) return 'foreign';
    const p = info.parent;
    if (!p || `${p.namespace ? `${p.pool}/${p.namespace}` : p.pool}/${p.image}@${p.snapshot}` !== sourceText(intent.source)) return 'partial';
    const { pool, namespace } = splitPoolSpec(spec);
    const children = await snapshots.children(intent.source.spec, intent.source.image, intent.source.snapshot).catch(() => []);
    return children.some((c) => c.pool === pool && c.namespace === namespace && c.image === name) ? 'whole' : 'partial';
  }

  /**
   * An intent record of an earlier attempt at `name`: an image that attempt made but did not finish is removed
   * (the caller then makes the clone again). A fresh record may be another instance's clone still running: it
   * gets a moment to finish first.
   */
  async function repairInterrupted(spec: string, name: string): Promise<void> {
    let intent = await clones.readIntent(spec, name);
    if (!intent) return;
    const age = Date.now() - Date.parse(intent.startedAt);
    if (Number.isFinite(age) && age < INTENT_SETTLE_MS) {
      await sleep(Math.min(INTENT_SETTLE_MS, INTENT_SETTLE_MS - age)); // a record from the future (clock skew): at most the settle time
      intent = await clones.readIntent(spec, name);
      if (!intent) return;
    }
    if ((await leftBy(spec, name, intent)) === 'partial') {
      await ceph.images.remove(spec, name).catch((e: unknown) => {
        if (isCephError(e, 'EBUSY')) {
          // the process that was making it still has it open, or died and the OSD has not dropped its watch yet
          // (osd_client_watch_timeout, 30 s): the record stays, and a later retry removes and remakes it
          throw new ApiError('OPERATION_IN_PROGRESS', `${spec}/${name} is the unfinished clone of an interrupted request, still `
            + 'held open by that request\'s process (or until the cluster notices that it died, ~30 s). Retry shortly.',
          { retryAfterSeconds: 30 }, e);
        }
        if (!isCephError(e, 'ENOENT')) throw e;
      });
    }
    await clones.clearIntent(spec, name);
  }

  /** Make the clone unless the name exists; true when this call made it. */
  async function make(req: CloneRequest, source: CloneSource, snapSize: number | undefined): Promise<boolean> {
    const { spec, name, body } = req;
    await repairInterrupted(spec, name);
    // an existing name gets no intent record (a record is only ever written for a name that was free) and no
    // rbd_clone3 (which would open the parent only to answer EEXIST)
    if (await clones.nameTaken(spec, name)) return false;
    if (body.dataPool !== undefined && req.principal && !allows(req.principal, body.dataPool)) {
      throw new ApiError('FORBIDDEN', `This token may not use pool "${body.dataPool}" (dataPool).`);
    }
    await clones.recordIntent(spec, name, source);
    try {
      await clones.clone(source, spec, name, {
        features: body.features ? featureBits(body.features) : undefined,
        order: body.objectSize ? Math.log2(body.objectSize) : undefined,
        stripeUnit: body.stripeUnit,
        stripeCount: body.stripeCount,
        dataPool: body.dataPool,
      });
    } catch (e) {
      // nothing was made by this attempt (EEXIST: the name was taken before; other errors: librbd cleaned up)
      await clones.clearIntent(spec, name).catch(() => undefined);
      if (isCephError(e, 'EEXIST')) return false;
      // librbd says ENOENT for a missing parent image and a missing snapshot alike (and the pool or namespace
      // may be the source's or the new image's): name what is missing when it is the source
      if (isCephError(e, 'ENOENT')) await sourceSize(source);
      throw e;
    }
    if (body.size !== undefined && snapSize !== undefined && body.size > snapSize) await ceph.images.resize(spec, name, body.size, false);
    await clones.clearIntent(spec, name);
    return true;
  }

  /** POST /images and PUT /images/{image} with `source`. */
  async function provision(req: CloneRequest, reply: FastifyReply): Promise<FastifyReply> {
    const { spec, name, body } = req;
    const source = resolveSource(spec, body.source);
    checkAccess(source, req.principal);
    // the snapshot's size is needed only to check and apply a size; otherwise a missing source shows up as
    // rbd_clone3's ENOENT, and is diagnosed then (one image open less on every clone)
    const snapSize = body.size !== undefined ? await sourceSize(source) : undefined;
    if (body.size !== undefined && snapSize !== undefined && body.size < snapSize) {
      throw invalidField('body', 'size', `${body.size} is smaller than the snapshot ${sourceText(source)} (${snapSize} bytes): a clone can only grow`);
    }
    // the new name and the source image: a snapshot DELETE (which holds the source image's key) and this clone
    // never interleave — the clone finds no snapshot (404), or the DELETE finds the clone (409)
    const created = await singleFlight(inFlight, `${spec}\0${name}`, () => exclusive(spec, name, async () => {
      const made = await make(req, source, snapSize);
      if (made && hooks.confirm) await hooks.confirm(spec, name);
      return made;
    }, [imageKey(source.spec, source.image)]).catch(async (e: unknown) => {
      // the source's pool is missing (its lock object could not be reached): say so as the clone source
      if (isMissingScope(e)) await sourceSize(source);
      throw e;
    }));
    if (!created && !req.idempotent) throw new ApiError('IMAGE_EXISTS', `Image ${spec}/${name} already exists.`);
    if (created && req.minimal && hooks.sendMinimal) {
      // the size without opening the clone (an open of a clone opens its parent too): the one asked for, else
      // the snapshot's when it was read, else the clone header's (two reads)
      const size = body.size ?? snapSize ?? await ceph.images.sizeOfNew(spec, name);
      return hooks.sendMinimal(reply, spec, name, size);
    }
    // a clone made here a moment ago is described from its header (no open, which would open the parent too)
    const info = created ? await ceph.images.describeNew(spec, name, undefined, source) : await ceph.images.stat(spec, name);
    if (!created) {
      const diff = cloneDifferences(info, source, body, req.principal);
      if (diff.length > 0) {
        throw new ApiError('IMAGE_SPEC_CONFLICT', `Image ${spec}/${name} exists with a different specification: ${diff.join('; ')}.`,
          { differences: diff });
      }
    }
    return reply.code(created ? 201 : 200).header('location', imagePath(spec, name)).send(hooks.toImage(info, req.principal));
  }

  return { provision, clones, snapshots };
}

/**
 * Run `create` (true: made by this call; false: it existed) unless a call for the same key is in flight in
 * this process: then wait for that one, and answer false if it succeeded (the object exists now; the caller
 * reads it), or try again if it failed.
 */
export async function singleFlight(inFlight: Map<string, Promise<boolean>>, key: string, create: () => Promise<boolean>): Promise<boolean> {
  for (;;) {
    const running = inFlight.get(key);
    if (!running) break;
    if (await running.then(() => true, () => false)) return false;
  }
  const attempt = create();
  inFlight.set(key, attempt);
  try {
    return await attempt;
  } finally {
    if (inFlight.get(key) === attempt) inFlight.delete(key);
  }
}

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
