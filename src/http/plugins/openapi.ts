// The OpenAPI 3.1 document (generated from the routes' zod schemas, tidied by openapi-document.ts), /openapi.json
// and Swagger UI at /docs.
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { tidyDocument } from '../openapi-document.js';

const transformObject: typeof jsonSchemaTransformObject = (input) =>
  tidyDocument(jsonSchemaTransformObject(input)) as ReturnType<typeof jsonSchemaTransformObject>;

async function openApi(app: FastifyInstance, { version }: { version: string }): Promise<void> {
  // Swagger UI's own routes (HTML, scripts) are public; the API behind its Authorize button is not.
  app.addHook('onRoute', (route) => {
    if (route.url === '/docs' || route.url.startsWith('/docs/')) route.config = { ...(route.config ?? {}), public: true };
  });
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'rbd-rest-api',
        description: 'Ceph RBD pools and images over REST. Errors are application/problem+json with a stable `code`.',
        version,
      },
      // relative to where the document is served, so Swagger UI's "Try it out" calls the service it came from
      servers: [{ url: '/' }],
      tags: [
        { name: 'pools', description: 'Ceph pools' },
        { name: 'images', description: 'RBD images' },
        { name: 'health', description: 'Probes' },
      ],
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'API token (when authentication is on)' } },
      },
      security: [{ bearerAuth: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject,
  });
  // tag groups folded: the page opens on its list of 24 groups (the namespaced twins apart), each opened by a click
  // — every operation expanded at once is more than Swagger UI renders (measured: only the first 4 of the groups
  // appeared, with no error, once the document passed ~250 operations)
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', uiConfig: { persistAuthorization: true, docExpansion: 'none' } });
  app.get('/openapi.json', { schema: { hide: true }, config: { public: true } }, async () => app.swagger());
}

export const openApiPlugin = fp(openApi, { name: 'rbd-openapi', fastify: '5.x' });
