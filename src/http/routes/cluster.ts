// /api/v1/cluster: versions (this service, its Ceph client libraries, the cluster's daemons) and the optional
// features this service's librbd has. Read scope; any token may read it (it names no pool).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { clientLibraries, clusterVersions, OPTIONAL_FEATURE_NAMES, OPTIONAL_FEATURES, optionalFeatures } from '../../ceph/cluster-info.js';
import { problems } from '../schemas/common.js';
import { clusterInfoSchema, clusterQuery } from '../schemas/cluster.js';

export const clusterRoutes: FastifyPluginAsyncZod<{ version: string }> = async (app, opts) => {
  const { ceph } = app;

  app.get('/cluster', {
    schema: {
      tags: ['cluster'], summary: 'Versions and optional features', operationId: 'getClusterInfo',
      description: 'The service version, the librados/librbd versions it loaded, what the cluster\'s daemons run, and '
        + 'which optional features (librbd newer than 1.16) are available. One build supports Ceph 16 (Pacific) to 20 (Tentacle).',
      querystring: clusterQuery,
      response: { 200: clusterInfoSchema, ...problems(400, 401, 503, 504) },
    },
  }, async () => {
    const cluster = await clusterVersions(ceph);
    const available = optionalFeatures();
    return {
      service: { version: opts.version, node: process.version },
      client: clientLibraries(),
      cluster,
      features: Object.fromEntries(OPTIONAL_FEATURE_NAMES.map((f) => [f, { available: available[f], description: OPTIONAL_FEATURES[f].description }])) as
        Record<keyof typeof OPTIONAL_FEATURES, { available: boolean; description: string }>,
    };
  });
};
