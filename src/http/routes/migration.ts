// Live migration (src/ceph/migration-start.ts, docs/migration.md):
//   POST …/images/{image}/migration           prepare (everything checked first) + the execute task → 202
//   GET  …/images/{image}/migration           the state (by the source's name or the destination's)
//   POST …/images/{image}/migration/execute   execute again (after a failed run)            → 202
//   POST …/images/{image}/migration/commit    remove the source (state executed)            → 202
//   POST …/images/{image}/migration/abort     remove the destination, restore the source    → 202
//   POST …/image-imports                      a new image from a raw/qcow2 file over http(s) → 202 (admin scope)
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { featureBits } from '../../ceph/features.js';
import type { MayUse } from '../../ceph/migration-start.js';
import type { MigrationStatus } from '../../ceph/migration.js';
import { poolSpec, splitPoolSpec } from '../../ceph/spec.js';
import { allows, type Principal } from '../auth.js';
import { imagePath, specOf } from '../paths.js';
import { imageParams, problems, scopeParams } from '../schemas/common.js';
import { importBody, migrationBody, migrationSchema } from '../schemas/migration.js';
import { taskSchema } from '../schemas/tasks.js';
import { replyTask } from '../task-reply.js';

const mayUse = (principal: Principal | undefined): MayUse => (pool, namespace) => !principal || allows(principal, pool, namespace);
const migrationPath = (pool: string, namespace: string, image: string): string => `${imagePath(poolSpec(pool, namespace), image)}/migration`;

function view(s: MigrationStatus): z.infer<typeof migrationSchema> {
  const at = migrationPath(s.destination.pool, s.destination.namespace, s.destination.image);
  return { ...s, links: { commit: `${at}/commit`, abort: `${at}/abort`, execute: `${at}/execute` } };
}

/** `Link` to the migration's own resource (under its destination's name). */
const related = (s: MigrationStatus): string => `<${migrationPath(s.destination.pool, s.destination.namespace, s.destination.image)}>; rel="related"`;

const layout = (b: { features?: string[] | undefined; objectSize?: number | undefined; dataPool?: string | undefined }) => ({
  ...(b.features !== undefined ? { features: featureBits(b.features) } : {}),
  ...(b.objectSize !== undefined ? { order: Math.log2(b.objectSize) } : {}),
  ...(b.dataPool !== undefined ? { dataPool: b.dataPool } : {}),
});

const STEP_TEXT = {
  execute: 'Copy the data again after a failed or interrupted run (state prepared or executing): 202 with the '
    + '`image.migration-execute` task. 409 MIGRATION_STATE_CONFLICT in another state.',
  commit: 'Finish the migration (state executed): the source is removed, the destination stands alone: 202 with the '
    + '`image.migration-commit` task. 409 MIGRATION_STATE_CONFLICT before the data are copied (execute first).',
  abort: 'Undo the migration in any state: the destination is removed and the source is back under its own name with '
    + 'its data (writes made to the destination meanwhile are lost): 202 with the `image.migration-abort` task.',
} as const;

export const migrationRoutes: FastifyPluginAsyncZod = async (app) => {
  const { ceph } = app;

  app.post('/images/:image/migration', {
    schema: {
      tags: ['migration'], summary: 'Start a live migration of an image (another pool, namespace, name, data pool or layout)',
      operationId: 'startImageMigration',
      description: 'Checks everything first (404 for the destination\'s pool or namespace, 409 IMAGE_EXISTS for its name, '
        + '400 for a dataPool that does not exist, 409 IMAGE_IN_USE while a client has the image open, 409 '
        + 'MIGRATION_IN_PROGRESS when it already migrates; a token must be allowed to write both ends), then prepares '
        + 'the migration: from here on the image is served under its destination name (clients open it there and read '
        + 'through to the source). 202 with the `image.migration-execute` task, which copies the data (and commits '
        + 'with `commitOnSuccess`); `Link` points at the migration. librbd cannot stop a running copy: a cancel is '
        + 'refused once the task runs (abort after it instead).',
      params: imageParams,
      body: migrationBody,
      response: { 202: taskSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
  }, async (req, reply) => {
    const source = { ...splitPoolSpec(specOf(req.params)), image: req.params.image };
    const { destination: d, commitOnSuccess } = req.body;
    const pool = d.pool ?? source.pool;
    const namespace = d.namespace ?? (pool === source.pool ? source.namespace : '');
    const started = await ceph.migrations.start({
      source, destination: { pool, namespace, image: d.name ?? source.image }, commitOnSuccess, ...layout(req.body),
    }, mayUse(req.principal));
    reply.header('link', related(started.migration));
    return replyTask(reply, started.task);
  });

  app.get('/images/:image/migration', {
    schema: {
      tags: ['migration'], summary: 'The migration of an image', operationId: 'getImageMigration',
      description: 'By the destination\'s name or the source\'s: both ends, the state and librbd\'s description of it. '
        + '404 MIGRATION_NOT_FOUND when the image is not migrating (any more). The other end is shown only when the '
        + 'token may use its pool and namespace (403 otherwise).',
      params: imageParams,
      response: { 200: migrationSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
  }, async (req) => view(await ceph.migrations.status(specOf(req.params), req.params.image, mayUse(req.principal))));

  for (const step of ['execute', 'commit', 'abort'] as const) {
    app.post(`/images/:image/migration/${step}`, {
      schema: {
        tags: ['migration'], summary: `${step[0]!.toUpperCase()}${step.slice(1)} an image's migration`,
        operationId: `${step}ImageMigration`, description: `${STEP_TEXT[step]} By the destination's name or the source's.`,
        params: imageParams,
        response: { 202: taskSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
      },
    }, async (req, reply) => {
      const started = await ceph.migrations[step](specOf(req.params), req.params.image, mayUse(req.principal));
      reply.header('link', related(started.migration));
      return replyTask(reply, started.task);
    });
  }

  app.post('/image-imports', {
    config: { scope: 'admin' },
    schema: {
      tags: ['migration'], summary: 'Make an image from a raw or qcow2 file served over http(s), without copying it first',
      operationId: 'importImageFromUrl',
      description: 'An import-only migration (librbd\'s `migration prepare --import-only`): the image exists at once '
        + 'and reads through to the URL; the `image.migration-execute` task copies the data, then commit (or '
        + '`commitOnSuccess`) detaches it from the URL. Admin scope: the service fetches the URL itself. The URL is '
        + 'checked first (400 naming `source.url` when it cannot be reached, answers an error or a redirect, lacks '
        + 'Content-Length or range reads); 409 IMAGE_EXISTS for a taken name.',
      params: scopeParams,
      body: importBody,
      response: { 202: taskSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
  }, async (req, reply) => {
    const { pool, namespace } = splitPoolSpec(specOf(req.params));
    const { name, source, commitOnSuccess } = req.body;
    const started = await ceph.migrations.startImport({
      source, destination: { pool, namespace, image: name }, commitOnSuccess, ...layout(req.body),
    }, mayUse(req.principal));
    reply.header('link', related(started.migration));
    return replyTask(reply, started.task);
  });
};
