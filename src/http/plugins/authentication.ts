// Bearer tokens on every route but the public ones, then the token's scope and pools.
import type { FastifyInstance } from 'fastify';
import { allowsPool, allowsScope, bearerToken, type Scope, type TokenStore } from '../auth.js';
import { ApiError } from '../errors.js';

export function registerAuthentication(app: FastifyInstance, tokens: TokenStore): void {
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
    const pool = (req.params as { pool?: unknown } | undefined)?.pool;
    if (typeof pool === 'string' && !allowsPool(principal, pool)) {
      throw new ApiError('FORBIDDEN', `This token may not use pool "${pool}".`);
    }
  });
}
