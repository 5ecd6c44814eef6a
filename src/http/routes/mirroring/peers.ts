// /api/v1/pools/{pool}/mirroring/bootstrap-token and …/peers: the peers of a pool, made by bootstrap token (create
// it on one site, import it on the other). Peers are per pool (a namespace mirrors to the same peers). Every
// route needs the admin scope: a token is a secret (a cephx key of client.rbd-mirror-peer), and a peer decides
// where the pool's data go. Neither a token nor a body is ever logged; the audit line names the pool only.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PoolMirrorings } from '../../../ceph/mirroring/pool.js';
import { poolPath } from '../../paths.js';
import { poolParams, problems } from '../../schemas/common.js';
import { bootstrapTokenSchema, importPeerBody, peerListSchema, peerParams, peerSchema } from '../../schemas/mirroring.js';

export const mirrorPeerRoutes: FastifyPluginAsyncZod = async (app) => {
  const pools = new PoolMirrorings(app.ceph);
  const admin = { scope: 'admin' as const };

  app.post('/pools/:pool/mirroring/bootstrap-token', {
    schema: {
      tags: ['mirroring'], summary: 'Create a peer bootstrap token for this pool', operationId: 'createMirrorBootstrapToken',
      description: 'A secret for the other site\'s POST …/mirroring/peers: it holds this cluster\'s monitor addresses and a '
        + 'cephx key of client.rbd-mirror-peer (made on first use, mon `profile rbd-mirror-peer`, osd `profile rbd`). '
        + 'The same token is answered each time. Never logged. The pool\'s mirroring must be enabled (409 MIRRORING_DISABLED).',
      params: poolParams,
      response: { 200: bootstrapTokenSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
    config: { ...admin, audit: 'mirroring.bootstrap-token' },
  }, async (req, reply) => {
    const token = await pools.bootstrapCreate(req.params.pool);
    reply.header('cache-control', 'no-store');
    return { token, siteName: await pools.siteName() };
  });

  app.post('/pools/:pool/mirroring/peers', {
    schema: {
      tags: ['mirroring'], summary: 'Add a peer site from its bootstrap token', operationId: 'importMirrorPeer',
      description: 'Imports the token the other site made for its pool of the same name. rx-tx (default) also registers this '
        + 'site as a peer over there, so both directions work (failover and failback). A token that does not decode is 400 '
        + 'naming body.token, and nothing is imported. Answers the peer(s) added.',
      params: poolParams,
      body: importPeerBody,
      response: { 201: peerListSchema, ...problems(400, 401, 403, 404, 409, 503, 504) },
    },
    config: { ...admin, audit: 'mirroring.peer.import' },
  }, async (req, reply) => {
    const added = await pools.bootstrapImport(req.params.pool, req.body.direction, req.body.token);
    if (added.length === 1) reply.header('location', `${poolPath(req.params.pool)}/mirroring/peers/${added[0]!.uuid}`);
    return reply.code(201).send({ items: added });
  });

  app.get('/pools/:pool/mirroring/peers', {
    schema: {
      tags: ['mirroring'], summary: 'Peer sites of a pool', operationId: 'listMirrorPeers',
      params: poolParams,
      response: { 200: peerListSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
    config: admin,
  }, async (req) => ({ items: await pools.peers(req.params.pool) }));

  app.get('/pools/:pool/mirroring/peers/:uuid', {
    schema: {
      tags: ['mirroring'], summary: 'One peer site of a pool', operationId: 'getMirrorPeer',
      params: peerParams,
      response: { 200: peerSchema, ...problems(400, 401, 403, 404, 503, 504) },
    },
    config: admin,
  }, async (req) => pools.peer(req.params.pool, req.params.uuid));

  app.delete('/pools/:pool/mirroring/peers/:uuid', {
    schema: {
      tags: ['mirroring'], summary: 'Remove a peer site', operationId: 'deleteMirrorPeer',
      description: 'This site stops replicating from (and to) that peer; the peer\'s key kept in the monitors\' config-key '
        + 'store goes too. The peer keeps its own entry for this site until it is removed there.',
      params: peerParams,
      response: { 204: z.null().describe('removed'), ...problems(400, 401, 403, 404, 503, 504) },
    },
    config: admin,
  }, async (req, reply) => {
    await pools.removePeer(req.params.pool, req.params.uuid);
    return reply.code(204).send(null);
  });
};
