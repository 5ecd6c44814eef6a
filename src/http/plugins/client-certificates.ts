// With TLS_CA_FILE: every route but the public ones needs a client certificate the CA signed. The HTTPS server
// asks for one without refusing the handshake (src/http/tls.ts httpsOptions), so probes and /metrics stay
// reachable; an API request without a verified certificate is answered 401 here.
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError } from '../errors.js';

async function clientCertificates(app: FastifyInstance): Promise<void> {
  app.addHook('onRequest', async (req) => {
    if (req.routeOptions.config?.public) return;
    const socket = req.raw.socket as TLSSocket;
    if (socket.authorized === true) return;
    const why = socket.authorizationError ? ` (${String(socket.authorizationError)})` : '';
    throw new ApiError('UNAUTHORIZED', `This API needs a client certificate signed by the configured CA${why}.`);
  });
}

export const clientCertificatesPlugin = fp(clientCertificates, { name: 'rbd-client-certificates', fastify: '5.x', dependencies: ['rbd-core'] });
