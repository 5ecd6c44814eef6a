// GET …/images/{image}: the image as the token may see it; a leftover at the name is 409 IMAGE_INCOMPLETE
// (src/ceph/provisioning).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { provisioning } from '../../../ceph/provisioning/index.js';
import { toImage } from '../../image-view.js';
import { specOf } from '../../paths.js';
import { imageParams, problems } from '../../schemas/common.js';
import { imageSchema } from '../../schemas/images.js';

type App = Parameters<FastifyPluginAsyncZod>[0];

export function getRoute(app: App): void {
  const provision = provisioning(app.ceph);
  app.get('/images/:image', {
    schema: {
      tags: ['images'], summary: 'Get an image', operationId: 'getImage',
      params: imageParams,
      response: { 200: imageSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
  }, async (req) => toImage(await provision.get(specOf(req.params), req.params.image), req.principal));
}
