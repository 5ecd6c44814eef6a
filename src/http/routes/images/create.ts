// POST …/images (create an image, or a clone with `source`) and PUT …/images/{image} (idempotent): parse,
// call the Ceph layer's provisioning (src/ceph/provisioning), answer its outcome.
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ImageNameNotCreatableError } from '../../../ceph/errors.js';
import { provisioning, type MayUse, type Provisioned } from '../../../ceph/provisioning/index.js';
import { allows, type Principal } from '../../auth.js';
import { ApiError, invalidField } from '../../errors.js';
import { toImage } from '../../image-view.js';
import { imagePath, specOf } from '../../paths.js';
import { specConflict } from '../../replies.js';
import { taskPath } from '../../task-reply.js';
import { IMAGE_NAME_PATTERN, IMAGE_NAME_RULE, imageParams, problems, scopeParams } from '../../schemas/common.js';
import { createImageOrCloneBody, imageSchema, putImageOrCloneBody } from '../../schemas/images.js';

type App = Parameters<FastifyPluginAsyncZod>[0];

const createdImageSchema = z.union([
  imageSchema,
  z.object({ name: z.string(), pool: z.string(), size: z.number().int() }).strict()
    .meta({ id: 'ImageCreated', description: 'the answer to `Prefer: return=minimal`' }),
]);
const preferHeaders = z.object({
  prefer: z.string().max(1024).optional().describe('`return=minimal`: answer a create with {name, pool, size} only (faster)'),
}).loose();
/** RFC 7240: Prefer: return=minimal (among other preferences, any case). */
const wantsMinimal = (prefer: unknown): boolean =>
  typeof prefer === 'string' && prefer.split(/[,;]/).some((p) => p.trim().toLowerCase() === 'return=minimal');

/** The token's pools as the Ceph layer's policy (no token, or one without pool limits: every pool). */
const mayUse = (principal: Principal | undefined): MayUse => (pool, namespace) => !principal || allows(principal, pool, namespace);

/** The answer to a provisioning outcome: 201 (`{name, pool, size}` only when minimal), 200, or 409. */
function answer(reply: FastifyReply, principal: Principal | undefined, spec: string, name: string, out: Provisioned): FastifyReply {
  switch (out.kind) {
    case 'taken': throw new ApiError('IMAGE_EXISTS', `Image ${spec}/${name} already exists.`);
    case 'conflict': throw specConflict(spec, name, out.differences, principal);
    case 'exists': return reply.code(200).header('location', imagePath(spec, name)).send(toImage(out.info, principal));
    case 'created': {
      // a clone beyond CLONE_DEPTH_SOFT: its flatten task, as a Link header (and a field of the full answer)
      const flattenTask = out.flattenTask !== undefined ? taskPath(out.flattenTask) : undefined;
      if (flattenTask) void reply.header('link', `<${flattenTask}>; rel="flatten-task"`);
      if (!out.info) {
        // the image is not opened again to answer
        return reply.code(201).header('location', imagePath(spec, name)).header('preference-applied', 'return=minimal')
          .send({ name, pool: spec, size: out.size });
      }
      return reply.code(201).header('location', imagePath(spec, name)).send({ ...toImage(out.info, principal), ...(flattenTask ? { flattenTask } : {}) });
    }
  }
}

export function createRoutes(app: App): void {
  const provision = provisioning(app.ceph);

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
    const spec = specOf(req.params);
    const opts = { mayUse: mayUse(req.principal), minimal: wantsMinimal(req.headers.prefer) };
    if ('source' in req.body) {
      const { name, ...want } = req.body;
      return answer(reply, req.principal, spec, name, await provision.clone(spec, name, want, { ...opts, idempotent: false }));
    }
    const { name, ...want } = req.body;
    return answer(reply, req.principal, spec, name, await provision.create(spec, name, want, opts));
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
    const spec = specOf(req.params);
    const { image } = req.params;
    const want = req.body;
    const opts = { mayUse: mayUse(req.principal), minimal: wantsMinimal(req.headers.prefer) };
    if ('source' in want) return answer(reply, req.principal, spec, image, await provision.clone(spec, image, want, { ...opts, idempotent: true }));
    try {
      // a name the API does not create (librbd would) is only looked up
      return answer(reply, req.principal, spec, image, await provision.put(spec, image, want, { ...opts, creatable: IMAGE_NAME_PATTERN.test(image) }));
    } catch (e) {
      if (e instanceof ImageNameNotCreatableError) throw invalidField('params', 'image', IMAGE_NAME_RULE);
      throw e;
    }
  });
}
