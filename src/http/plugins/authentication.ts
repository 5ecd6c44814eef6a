// Bearer tokens on every route but the public ones, then the token's scope and pools.
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { allows, allowsScope, seesPool, bearerToken, type Scope, type TokenStore } from '../auth.js';
import { ApiError } from '../errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** 'any': the route concerns a whole pool and filters what it shows; any grant in the pool lets it run */
    poolAccess?: 'any';
  }
}

async function authentication(app: FastifyInstance, { tokens }: { tokens: TokenStore }): Promise<void> {
  app.addHook('onRequest', async (req) => {
    const config = req.routeOptions.config;
    if (config?.public) return;
    const token = bearerToken(req.headers.authorization);
    if (token === undefined) throw new ApiError('UNAUTHORIZED', 'This API needs a token: send "Authorization: Bearer <token>".');
    const principal = tokens.authenticate(token);
    if (!principal) throw new ApiError('UNAUTHORIZED', 'The token is not valid.');
    req.principal = principal;
    req.log = req.log.child({ principal: principal.name });
    const needed: Scope = config?.scope ?? (req.method === 'GET' || req.method === 'HEAD' ? 'read' : 'write');
    if (!allowsScope(principal, needed)) {
      throw new ApiError('FORBIDDEN', `This token's scope is "${principal.scope}"; this operation needs "${needed}".`,
        { requiredScope: needed });
    }
    const params = req.params as { pool?: unknown; namespace?: unknown } | undefined;
    const pool = params?.pool;
    if (typeof pool === 'string') {
      // a route about the pool as a whole that filters its own answer (namespace lists, iostat) needs a grant
      // anywhere in the pool; every other route works in one namespace (the default one without :namespace)
      const namespace = typeof params?.namespace === 'string' ? params.namespace : '';
      const ok = config?.poolAccess === 'any' && namespace === '' ? seesPool(principal, pool) : allows(principal, pool, namespace);
      if (!ok) {
        throw new ApiError('FORBIDDEN', namespace
          ? `This token may not use namespace "${namespace}" of pool "${pool}".`
          : `This token may not use pool "${pool}"${seesPool(principal, pool) ? ' outside its namespaces' : ''}.`);
      }
    }
  });
}

export const authenticationPlugin = fp(authentication, { name: 'rbd-authentication', fastify: '5.x', dependencies: ['rbd-core'] });
