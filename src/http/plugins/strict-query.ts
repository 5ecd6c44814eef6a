// Unknown query parameters are a 400 on every route, in one place rather than in each route's schema: a
// misspelt `?forse=true` on a DELETE must not be silently ignored. Every documented route's querystring
// schema is made strict, and a route without one gets an empty strict schema (it takes no parameters).
// The 400 names each unknown parameter and the ones the route takes (src/http/validation.ts).
// Register before any route (it hooks each route as it is added). Routes hidden from the OpenAPI document
// (Swagger UI's files, /metrics) and CORS preflights (OPTIONS, sent with the URL's query) are left alone.
import type { FastifyInstance, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { z } from 'zod';

const NO_PARAMETERS = z.strictObject({});

/** The route's querystring schema, strict; undefined when it is not a zod object (left as it is). */
export function strictQuery(schema: unknown): z.ZodObject | undefined {
  if (schema === undefined) return NO_PARAMETERS;
  if (schema instanceof z.ZodObject) return schema.def.catchall?._zod.def.type === 'never' ? schema : schema.strict();
  return undefined;
}

async function strictQueries(app: FastifyInstance): Promise<void> {
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const schema = route.schema as { hide?: boolean; querystring?: unknown } | undefined;
    if (!schema || schema.hide || methods.includes('OPTIONS')) return;
    const strict = strictQuery(schema.querystring);
    if (strict && strict !== schema.querystring) route.schema = { ...route.schema, querystring: strict };
  });
}

export const strictQueryPlugin = fp(strictQueries, { name: 'rbd-strict-query', fastify: '5.x' });
