// URL building, and the one mechanism that serves a resource in the default namespace of a pool and in
// any RBD namespace of it: a route plugin written with paths relative to a pool (`/images/:image`) is
// registered under both `/api/v1/pools/:pool` and `/api/v1/pools/:pool/namespaces/:namespace`.
import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { namespaceParam } from './schemas/common.js';

import { API_PREFIX } from './urls.js';

export { API_PREFIX, imagePath, poolPath, scopePath, trashPath } from './urls.js';
export const POOL_SCOPE_PREFIXES = ['/pools/:pool', '/pools/:pool/namespaces/:namespace'] as const;

/** The pool spec a scoped route works on: its `pool` parameter, and `namespace` when the URL has one. */
export function specOf(params: { pool: string; namespace?: string | undefined }): string {
  return params.namespace ? `${params.pool}/${params.namespace}` : params.pool;
}

/** The tag of a namespaced twin: `images` → `images (namespace)` (Swagger UI lists the twins apart). */
export const NAMESPACE_TAG_SUFFIX = ' (namespace)';
export const namespaceTag = (tag: string): string => `${tag}${NAMESPACE_TAG_SUFFIX}`;

/**
 * Register a pool-relative route plugin under both scopes. The namespaced copies get operationIds with an
 * `InNamespace` suffix (OpenAPI needs them unique), tags with a ` (namespace)` suffix (so the document groups
 * them apart instead of doubling every tag) and a `namespace` path parameter.
 */
export async function registerScoped(app: FastifyInstance, plugin: FastifyPluginAsyncZod): Promise<void> {
  for (const scope of POOL_SCOPE_PREFIXES) {
    await app.register(async (child) => {
      const namespaced = scope.includes(':namespace');
      child.addHook('onRoute', (route) => {
        const schema = route.schema as { operationId?: string; params?: unknown; tags?: unknown } | undefined;
        if (!schema) return;
        const next: Record<string, unknown> = { ...schema };
        if (namespaced && schema.operationId) next.operationId = `${schema.operationId}InNamespace`;
        if (namespaced && Array.isArray(schema.tags)) next.tags = schema.tags.map((t) => (typeof t === 'string' ? namespaceTag(t) : t));
        if (schema.params instanceof z.ZodObject && 'namespace' in schema.params.shape) {
          next.params = namespaced ? schema.params.extend({ namespace: namespaceParam }) : schema.params.omit({ namespace: true });
        }
        route.schema = next;
      });
      await child.register(plugin);
    }, { prefix: `${API_PREFIX}${scope}` });
  }
}
